"""mkPython and its views, through real Nix and the nixpkgs double (issue: the Nix library).

Resolution reads the committed DB snapshot; builds fetch the real PyPI artifacts.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from nixhelpers import CLI, REPO, SNAPSHOT_DB, machnix

pytestmark = pytest.mark.nix

DB = SNAPSHOT_DB


def run_python(env: str, code: str) -> list[str]:
    return subprocess.run([f"{env}/bin/python", "-c", code], capture_output=True, text=True, check=True).stdout.split()


def lock_of(nix, pkgs_expr, args: str) -> dict:
    return nix.eval_json(machnix(pkgs_expr, f"(machNix.mkPython {{ {args} }}).lock"))


def test_requests_env_imports_from_env_and_replaces_inside_set(nix, pkgs_expr):
    lock = lock_of(nix, pkgs_expr, 'requirements = "requests";')
    version = lock["packages"]["requests"]["version"]
    base = nix.eval_json(machnix(pkgs_expr, "python.pkgs.requests.version"))
    assert version != base, "the double's requests must be older than the resolved one"
    env = nix.build(machnix(pkgs_expr, 'machNix.mkPython { requirements = "requests"; }'))
    got_version, path, idna_path = run_python(
        env, "import requests, idna; print(requests.__version__, requests.__file__, idna.__file__)"
    )
    assert got_version == version
    assert path.startswith(env + "/") and idna_path.startswith(env + "/")
    # Replaced inside the set: the overridden interpreter's set has the lock's version.
    inner = nix.eval_json(
        machnix(pkgs_expr, '(machNix.mkPython { requirements = "requests"; }).python.pkgs.requests.version')
    )
    assert inner == version


def test_wheel_sdist_and_nixpkgs_give_three_derivations_that_import(nix, pkgs_expr):
    """certifi from its wheel, from its sdist (built with the set's setuptools) and from nixpkgs."""
    cases = {
        "wheel": ("certifi==2025.1.31", "2025.01.31"),
        "sdist": ("certifi==2025.1.31", "2025.01.31"),
        "nixpkgs": ("certifi", None),  # the version the package set has
    }
    outs = {}
    for provider, (requirement, module_version) in cases.items():
        args = f'requirements = "{requirement}"; providers.certifi = "{provider}";'
        facts = nix.eval_json(
            machnix(
                pkgs_expr,
                f"""
          let r = machNix.mkPython {{ {args} }}; in {{
            provider = r.lock.packages.certifi.provider;
            out = r.python.pkgs.certifi.outPath;
            setOut = python.pkgs.certifi.outPath;
          }}""",
            )
        )
        assert facts["provider"] == provider
        env = nix.build(machnix(pkgs_expr, f"machNix.mkPython {{ {args} }}"))
        if module_version is None:
            module_version = nix.eval_json(machnix(pkgs_expr, "python.pkgs.certifi.version"))
        assert run_python(env, "import certifi; print(certifi.__version__)") == [module_version]
        outs[provider] = facts["out"]
        if provider == "nixpkgs":
            # Dependencies already match: the set's own derivation, untouched (cache hits).
            assert facts["out"] == facts["setOut"]
    assert len(set(outs.values())) == 3, outs


def test_underscore_add_mod_replace(nix, pkgs_expr):
    facts = nix.eval_json(
        machnix(
            pkgs_expr,
            """
      let p = (machNix.mkPython {
        requirements = "requests";
        _.requests.postInstall = "echo replaced";
        _.requests.pythonImportsCheck.add = [ "requests.adapters" ];
        _.Requests.pname.mod = old: old + "-renamed";
      }).python.pkgs.requests;
      in { post = p.postInstall; checks = p.pythonImportsCheck; pname = p.pname; }""",
        )
    )
    assert facts == {"post": "echo replaced", "checks": ["requests", "requests.adapters"], "pname": "requests-renamed"}


def test_overrides_post_wins_and_pre_is_seen(nix, pkgs_expr):
    facts = nix.eval_json(
        machnix(
            pkgs_expr,
            """
      let r = machNix.mkPython {
        requirements = "requests";
        overridesPre = [ (self: super: { fromPre = "pre"; }) ];
        overridesPost = [ (self: super: {
          requests = super.requests.overridePythonAttrs (old: { postInstall = "echo post"; });
        }) ];
      };
      in { post = r.python.pkgs.requests.postInstall; pre = r.python.pkgs.fromPre;
           version = r.python.pkgs.requests.version; locked = r.lock.packages.requests.version; }""",
        )
    )
    assert facts["post"] == "echo post" and facts["pre"] == "pre"
    assert facts["version"] == facts["locked"]


def test_tests_off_by_default_and_check_inputs_dropped(nix, pkgs_expr):
    facts = nix.eval_json(
        machnix(
            pkgs_expr,
            """
      let
        off = (machNix.mkPython { requirements = "six"; providers.six = "sdist"; }).python.pkgs.six;
        on = (machNix.mkPython { requirements = "six"; providers.six = "sdist"; tests = true; }).python.pkgs.six;
      in { off = off.doInstallCheck; offInputs = off.nativeInstallCheckInputs; on = on.doInstallCheck; }""",
        )
    )
    assert facts == {"off": False, "offInputs": [], "on": True}


def test_resolver_error_is_a_short_nix_error(nix, pkgs_expr):
    proc = nix.eval_json(
        machnix(pkgs_expr, '(machNix.mkPython { requirements = "requests==0.0.1\\nurllib3<0"; }).drvPath'), check=False
    )
    assert proc.returncode != 0
    assert "mach-nix could not resolve the requirements" in proc.stderr
    assert "builder for" not in proc.stderr
    unknown = nix.eval_json(
        machnix(pkgs_expr, '(machNix.mkPython { requirements = "reqeusts"; }).drvPath'), check=False
    )
    assert unknown.returncode != 0 and "requests" in unknown.stderr  # did-you-mean


def test_lock_mode_needs_no_ifd_and_gives_the_same_drv(nix, pkgs_expr, tmp_path):
    version = nix.eval_json(f"({pkgs_expr}).python3.version")
    lock_file = tmp_path / "mach-nix.lock.json"
    req = tmp_path / "requirements.txt"
    req.write_text("requests\n")
    subprocess.run(
        [
            *CLI,
            "lock",
            "-r",
            str(req),
            "--python",
            version,
            "--system",
            "x86_64-linux",
            "--db",
            str(DB),
            "-o",
            str(lock_file),
        ],
        check=True,
        capture_output=True,
    )
    lock_drv = nix.instantiate(
        machnix(pkgs_expr, f"machNix.mkPython {{ lock = {lock_file}; }}"),
        extra=["--option", "allow-import-from-derivation", "false"],
    )
    ifd_drv = nix.instantiate(machnix(pkgs_expr, 'machNix.mkPython { requirements = "requests"; }'))
    assert lock_drv == ifd_drv
    stale = tmp_path / "bad.lock.json"
    stale.write_text(json.dumps({"version": 99, "packages": {}}))
    proc = nix.eval_json(machnix(pkgs_expr, f"(machNix.mkPython {{ lock = {stale}; }}).drvPath"), check=False)
    assert proc.returncode != 0 and "format version 2" in proc.stderr


def test_dependency_cycle_builds(nix, pkgs_expr, tmp_path):
    """A lock whose packages form a cycle (idna <-> requests here) still builds and imports."""
    version = nix.eval_json(f"({pkgs_expr}).python3.version")
    req = tmp_path / "requirements.txt"
    req.write_text("requests\n")
    lock_file = tmp_path / "lock.json"
    subprocess.run(
        [*CLI, "lock", "-r", str(req), "--python", version, "--db", str(DB), "-o", str(lock_file)],
        check=True,
        capture_output=True,
    )
    lock = json.loads(lock_file.read_text())
    lock["packages"]["idna"]["dependencies"] = ["requests"]
    lock_file.write_text(json.dumps(lock))
    env = nix.build(machnix(pkgs_expr, f"machNix.mkPython {{ lock = {lock_file}; }}"))
    assert len(run_python(env, "import requests, idna; print(requests.__version__, idna.__version__)")) == 2


def test_views_shell_overlay_nixpkgs_docker(nix, pkgs_expr, tmp_path):
    facts = nix.eval_json(
        machnix(
            pkgs_expr,
            """
      let
        args = { requirements = "six"; };
        r = machNix.mkPython args;
      in {
        nixpkgsView = (machNix.mkNixpkgs args).python3.pkgs.six.version;
        overlayView = ((pkgs.appendOverlays [ (machNix.mkOverlay args) ]).python3.pkgs.six.version);
        overridesView =
          ((pkgs.python3.override { packageOverrides = machNix.mkPythonOverrides args; }).pkgs.six.version);
        locked = r.lock.packages.six.version;
        passthru = builtins.attrNames r.passthru;
      }""",
        )
    )
    assert facts["nixpkgsView"] == facts["overlayView"] == facts["overridesView"] == facts["locked"]
    assert {"lock", "pythonOverrides", "python", "overlay", "nixpkgs", "dockerImage"} <= set(facts["passthru"])

    shell = tmp_path / "shell.nix"
    shell.write_text(machnix(pkgs_expr, 'machNix.mkPythonShell { requirements = "six"; }'))
    proc = nix.run(["nix-shell", str(shell), "--run", 'python -c "import six; print(six.__version__)"'])
    assert proc.stdout.split() == [facts["locked"]]

    image = nix.build(machnix(pkgs_expr, 'machNix.mkDockerImage { requirements = "six"; }'))
    env = nix.build(machnix(pkgs_expr, 'machNix.mkPython { requirements = "six"; }'))
    _manifest, config, names = nix.read_docker_image(image)
    assert config["config"]["Cmd"] == [f"{env}/bin/python3.11"]
    assert env.lstrip("/") in names


def test_bad_arguments_are_explained(nix, pkgs_expr):
    proc = nix.eval_json(machnix(pkgs_expr, '(machNix.mkPython { requirement = "six"; }).drvPath'), check=False)
    assert proc.returncode != 0 and "unknown argument `requirement`" in proc.stderr
    proc = nix.eval_json(
        machnix(pkgs_expr, '(machNix.mkPython { requirements = "six"; providers._default = "conda"; }).drvPath'),
        check=False,
    )
    assert proc.returncode != 0 and "unknown provider 'conda'" in proc.stderr


def test_native_wheels_and_dotted_names_build(nix, pkgs_expr):
    """Packages the double's set lacks, with C extensions (autoPatchelf against the set's
    libraries or the wheel's own *.libs) and names that need PEP 503 normalisation."""
    env = nix.build(
        machnix(pkgs_expr, 'machNix.mkPython { requirements = "ruamel.yaml[oldlibyaml]\\nzope.interface\\nPillow"; }')
    )
    out = run_python(
        env,
        "import ruamel.yaml, _ruamel_yaml, zope.interface, PIL.Image; "
        "PIL.Image.new('RGB', (2, 2)).tobytes(); print(_ruamel_yaml.__file__.startswith('" + env + "'))",
    )
    assert out == ["True"]


def test_packages_extra_modules_and_programs(nix, pkgs_expr):
    env = nix.build(
        machnix(
            pkgs_expr,
            """
      let hello = pkgs.writeTextFile { name = "hello"; destination = "/bin/hello-extra"; executable = true;
                                       text = "#!/bin/sh\\necho hello from packagesExtra"; };
      in machNix.mkPython { requirements = "six"; packagesExtra = [ python.pkgs.greenlet hello ]; }""",
        )
    )
    assert run_python(env, "import greenlet, six; print(greenlet.__version__)") == ["3.0.3"]
    out = subprocess.run([f"{env}/bin/hello-extra"], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "hello from packagesExtra"


def test_overrides_pre_injects_a_package_only_nixpkgs_has(nix, pkgs_expr):
    """A package the DB lacks, added by overridesPre, resolves through the nixpkgs provider
    (the second, full-inventory resolution) and is in the environment."""
    facts = nix.eval_json(
        machnix(
            pkgs_expr,
            """
      let r = machNix.mkPython {
        requirements = "six\\nmy-local-tool";
        overridesPre = [ (self: super: {
          my-local-tool = super.buildPythonPackage {
            pname = "my-local-tool"; version = "1.0"; format = "other"; dontUnpack = true;
            installPhase = ''
              mkdir -p $out/${python.sitePackages}
              echo 'X = 1' > $out/${python.sitePackages}/my_local_tool.py
            '';
          };
        }) ];
      }; in { provider = r.lock.packages.my-local-tool.provider; six = r.lock.packages.six.provider; }""",
        )
    )
    assert facts == {"provider": "nixpkgs", "six": "wheel"}


def test_lock_for_another_target_is_refused(nix, pkgs_expr, tmp_path):
    for python, system, fragment in (
        ("3.12", "x86_64-linux", "the lock was made for Python 3.12"),
        ("3.11", "aarch64-darwin", "the lock was made for aarch64-darwin"),
    ):
        lock_file = tmp_path / f"{python}-{system}.json"
        subprocess.run(
            [*CLI, "lock", "six", "--python", python, "--system", system, "--db", str(DB), "-o", str(lock_file)],
            check=True,
            capture_output=True,
        )
        proc = nix.eval_json(machnix(pkgs_expr, f"(machNix.mkPython {{ lock = {lock_file}; }}).drvPath"), check=False)
        assert proc.returncode != 0 and fragment in proc.stderr and "re-run `mach-nix lock --python" in proc.stderr


def test_large_real_world_env_jupyterlab(nix, pkgs_expr):
    """The original's jupyterlab reference case: ~90 packages, native wheels (pyzmq, tornado,
    rpds-py, argon2-cffi-bindings, psutil), console scripts."""
    lock = lock_of(nix, pkgs_expr, 'requirements = "jupyterlab";')
    assert len(lock["packages"]) > 80
    env = nix.build(machnix(pkgs_expr, 'machNix.mkPython { requirements = "jupyterlab"; }'))
    version = subprocess.run([f"{env}/bin/jupyter-lab", "--version"], capture_output=True, text=True, check=True).stdout
    assert version.strip() == lock["packages"]["jupyterlab"]["version"]
    assert run_python(env, "import zmq, tornado, rpds, argon2, psutil; print('ok')") == ["ok"]


def test_pyproject_with_extras(nix, pkgs_expr):
    project = REPO / "tests" / "data" / "projects" / "app-with-extras" / "pyproject.toml"
    facts = nix.eval_json(
        machnix(
            pkgs_expr,
            f"""
      let
        plain = (machNix.mkPython {{ pyproject = {project}; }}).lock;
        socks = (machNix.mkPython {{ pyproject = {project}; extras = [ "socks" ]; }}).lock;
      in {{ plain = builtins.attrNames plain.packages; socks = builtins.attrNames socks.packages;
            roots = socks.roots; }}""",
        )
    )
    assert "pysocks" not in facts["plain"] and {"requests", "six"} <= set(facts["plain"])
    assert "pysocks" in facts["socks"] and {"pysocks", "requests", "six"} <= set(facts["roots"])
