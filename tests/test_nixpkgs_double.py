"""The nixpkgs test double behaves like nixpkgs' Python API (contract doc §7).

Every test runs real Nix: evaluations, and builds from real PyPI artifacts.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

# These tests check the double itself; against a real nixpkgs (MACH_NIX_TEST_NIXPKGS) they
# do not apply. CI always runs them (it has no other nixpkgs).
pytestmark = [
    pytest.mark.nix,
    pytest.mark.skipif(
        bool(__import__("os").environ.get("MACH_NIX_TEST_NIXPKGS")),
        reason="tests of the nixpkgs double, not of a real nixpkgs",
    ),
]

PROJECTS = Path(__file__).parent / "data" / "projects"

IDNA_37 = """(pkgs.fetchurl {
  url = "https://files.pythonhosted.org/packages/e5/3e/741d8c82801c347547f8a2a06aa57dbb1992be9e948df2ea0eda2c8b79e8/idna-3.7-py3-none-any.whl";
  sha256 = "82fee1fc78add43492d3a1898bfa6d8a904cc97d8427f683ed8e798d07761aa0";
})"""


def with_pkgs(pkgs_expr: str, body: str) -> str:
    return f"let pkgs = {pkgs_expr}; python = pkgs.python3; in {body}"


def test_override_propagates_through_fixpoint(nix, pkgs_expr):
    """A replaced idna is what requests (a dependant) gets, and the env imports it."""
    expr = with_pkgs(
        pkgs_expr,
        f"""
      let
        py = python.override {{
          packageOverrides = self: super: {{
            idna = super.idna.overridePythonAttrs (old: {{ version = "3.7"; src = {IDNA_37}; }});
          }};
          self = py;
        }};
      in {{
        idnaVersion = py.pkgs.idna.version;
        requestsSeesNewIdna =
          builtins.elem py.pkgs.idna.outPath (map (d: d.outPath) py.pkgs.requests.propagatedBuildInputs);
        requestsChanged = py.pkgs.requests.outPath != python.pkgs.requests.outPath;
        originalIdna = python.pkgs.idna.version;
      }}""",
    )
    facts = nix.eval_json(expr)
    assert facts == {"idnaVersion": "3.7", "requestsSeesNewIdna": True, "requestsChanged": True, "originalIdna": "3.6"}

    env = nix.build(
        with_pkgs(
            pkgs_expr,
            f"""
      let py = python.override {{
        packageOverrides = self: super: {{
          idna = super.idna.overridePythonAttrs (old: {{ version = "3.7"; src = {IDNA_37}; }});
        }};
        self = py;
      }}; in py.withPackages (ps: [ ps.requests ])""",
        )
    )
    out = subprocess.run(
        [f"{env}/bin/python", "-c", "import idna, requests; print(idna.__version__, idna.__file__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out[0] == "3.7"
    assert out[1].startswith(env + "/")


def test_callpackage_override_swaps_an_input(nix, pkgs_expr):
    facts = nix.eval_json(
        with_pkgs(
            pkgs_expr,
            """
      let r = python.pkgs.requests.override { urllib3 = python.pkgs.urllib3_1; }; in {
        hasOverride = python.pkgs.requests ? override;
        urllib3 = map (d: d.version or null)
          (builtins.filter (d: (d.pname or "") == "urllib3") r.propagatedBuildInputs);
        keepsPythonAttrs = r ? overridePythonAttrs;
      }""",
        )
    )
    assert facts == {"hasOverride": True, "urllib3": ["1.26.18"], "keepsPythonAttrs": True}


def test_second_override_replaces_first(nix, pkgs_expr):
    expr = with_pkgs(
        pkgs_expr,
        """
      let
        first = python.override { packageOverrides = self: super: { fromFirst = 1; }; };
        second = first.override { packageOverrides = self: super: { fromSecond = 2; }; };
        composed = python.override (old: {
          packageOverrides = pkgs.lib.composeExtensions
            (self: super: { fromFirst = 1; }) (self: super: { fromSecond = 2; });
        });
      in {
        secondHasFirst = second.pkgs ? fromFirst;
        secondHasSecond = second.pkgs ? fromSecond;
        composedHasBoth = composed.pkgs ? fromFirst && composed.pkgs ? fromSecond;
      }""",
    )
    assert nix.eval_json(expr) == {"secondHasFirst": False, "secondHasSecond": True, "composedHasBoth": True}


def test_duplicated_distribution_fails_with_conflict_named(nix, pkgs_expr):
    """six (sdist) and six-bin (wheel) in one closure: two store paths provide `six`."""
    proc = nix.build(
        with_pkgs(
            pkgs_expr,
            """
      python.pkgs.buildPythonPackage {
        pname = "uses-both-sixes"; version = "1.0"; format = "other";
        dontUnpack = true;
        installPhase = "mkdir -p $out/${python.sitePackages}";
        dependencies = [ python.pkgs.six python.pkgs.six-bin ];
      }""",
        ),
        check=False,
    )
    assert proc.returncode != 0
    assert "Found duplicated packages in closure for dependency 'six'" in proc.stderr


def test_env_imports_from_env_not_host_and_runs_console_script(nix, pkgs_expr):
    env = nix.build(with_pkgs(pkgs_expr, "python.withPackages (ps: [ ps.requests ps.six ])"))
    code = (
        "import requests, six, sys; print(requests.__version__); print(requests.__file__); "
        "print(six.__file__); print(sys.prefix)"
    )
    lines = subprocess.run(
        [f"{env}/bin/python", "-c", code], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert lines[0] == "2.31.0"  # the set's version, not the host's
    assert all(line.startswith(env + "/") for line in lines[1:3]), lines
    assert lines[3] == env
    script = subprocess.run([f"{env}/bin/normalizer", "--version"], capture_output=True, text=True, check=True)
    assert "Charset-Normalizer 3.3.2" in script.stdout
    # six was built from its sdist: its wheel is in the `dist` output.
    six_dist = nix.build(with_pkgs(pkgs_expr, "python.pkgs.six.dist"))
    assert sorted(p.name for p in Path(six_dist).iterdir()) == ["six-1.16.0-py2.py3-none-any.whl"]


def test_legacy_setuptools_format_builds(nix, pkgs_expr):
    out = nix.build(
        with_pkgs(
            pkgs_expr,
            """
      python.pkgs.six.overridePythonAttrs (old: { pyproject = null; format = "setuptools"; version = "1.16.0"; })""",
        )
    )
    assert (Path(out) / "lib/python3.11/site-packages/six.py").exists() or list(
        Path(out).glob("lib/python3*/site-packages/six.py")
    )


def test_native_wheel_needs_its_library(nix, pkgs_expr):
    env = nix.build(with_pkgs(pkgs_expr, "python.withPackages (ps: [ ps.greenlet ])"))
    subprocess.run([f"{env}/bin/python", "-c", "import greenlet; greenlet.greenlet(lambda: 1).switch()"], check=True)
    proc = nix.build(
        with_pkgs(pkgs_expr, "python.pkgs.greenlet.overridePythonAttrs (old: { buildInputs = [ ]; })"), check=False
    )
    assert proc.returncode != 0
    assert "could not satisfy dependency libstdc++.so.6" in proc.stderr


def test_format_arguments_are_checked(nix, pkgs_expr):
    both = nix.eval_json(
        with_pkgs(
            pkgs_expr,
            """
      (python.pkgs.buildPythonPackage {
        pname = "x"; version = "1"; format = "setuptools"; pyproject = true; src = ./.;
      }).drvPath""",
        ),
        check=False,
    )
    assert both.returncode != 0 and "cannot both be set" in both.stderr
    neither = nix.eval_json(
        with_pkgs(
            pkgs_expr,
            """
      (python.pkgs.buildPythonPackage { pname = "x"; version = "1"; src = ./.; }).drvPath""",
        ),
        check=False,
    )
    assert neither.returncode != 0 and "does not configure a `format`" in neither.stderr
    bad_wheel = nix.eval_json(
        with_pkgs(
            pkgs_expr,
            """
      (python.pkgs.buildPythonPackage { pname = "x"; version = "1"; format = "wheel";
         src = pkgs.writeText "x-1.tar.gz" ""; }).drvPath""",
        ),
        check=False,
    )
    assert bad_wheel.returncode != 0 and "valid wheel file name" in bad_wheel.stderr


def _local_project(pkgs_expr: str, name: str, extra: str) -> str:
    return with_pkgs(
        pkgs_expr,
        f"""
      python.pkgs.buildPythonPackage {{
        pname = "{name}"; version = "0.1.0"; pyproject = true;
        src = {PROJECTS / name};
        build-system = [ python.pkgs.setuptools ];
        dependencies = [ python.pkgs.idna ];
        {extra}
      }}""",
    )


def test_runtime_deps_check_of_pyproject_builds(nix, pkgs_expr):
    proc = nix.build(_local_project(pkgs_expr, "needs-new-idna", ""), check=False)
    assert proc.returncode != 0
    assert "idna>=99 not satisfied by version 3.6" in proc.stderr
    nix.build(_local_project(pkgs_expr, "needs-new-idna", "dontCheckRuntimeDeps = true;"))
    nix.build(_local_project(pkgs_expr, "needs-new-idna", 'pythonRelaxDeps = [ "idna" ];'))


def test_build_requirements_are_checked(nix, pkgs_expr):
    proc = nix.build(_local_project(pkgs_expr, "pins-build-tools", ""), check=False)
    assert proc.returncode != 0
    assert "setuptools>=999" in proc.stderr
    nix.build(_local_project(pkgs_expr, "pins-build-tools", 'pypaBuildFlags = [ "--skip-dependency-check" ];'))


def test_enumeration_like_nixpkgs(nix, pkgs_expr):
    """tryEval + pname/version reading works over the whole set, as mach-nix's inventory does."""
    expr = with_pkgs(
        pkgs_expr,
        """
      let
        ps = python.pkgs;
        probe = name: let r = builtins.tryEval (let v = ps.${name}; in
            builtins.deepSeq [ (pkgs.lib.isDerivation v) (v.pname or null) (v.version or null) ]
              { drv = pkgs.lib.isDerivation v; pname = v.pname or null; version = v.version or null; });
          in if r.success then r.value else "error";
      in {
        broken = probe "brokenpkg";
        throwAlias = probe "pyopenssl-legacy";
        stringAlias = probe "cryptography_vectors";
        redirect = probe "charset_normalizer";
        bin = probe "six-bin";
        versioned = probe "urllib3_1";
        disabled = probe "futures";
        disabledDrvPath = (builtins.tryEval ps.futures.drvPath).success;
        hook = (probe "pypaBuildHook").drv;
      }""",
    )
    facts = nix.eval_json(expr)
    assert facts["broken"] == "error" and facts["throwAlias"] == "error"
    assert facts["stringAlias"] == {"drv": False, "pname": None, "version": None}
    assert facts["redirect"]["pname"] == "charset-normalizer"
    assert facts["bin"] == {"drv": True, "pname": "six", "version": "1.16.0"}
    assert facts["versioned"] == {"drv": True, "pname": "urllib3", "version": "1.26.18"}
    assert facts["disabled"] == {"drv": True, "pname": "futures", "version": "3.4.0"}
    assert facts["disabledDrvPath"] is False
    assert facts["hook"] is True
    no_aliases = nix.eval_json(
        f"let pkgs = {pkgs_expr.replace('{}', '{ config.allowAliases = false; }')}; "
        "in pkgs.python3.pkgs ? charset_normalizer"
    )
    assert no_aliases is False


def test_non_module_in_set_throws_on_outpath(nix, pkgs_expr):
    proc = nix.eval_json(
        with_pkgs(
            pkgs_expr,
            """
      (python.override { packageOverrides = self: super: {
        notamodule = pkgs.writeText "x" "y";
      }; }).pkgs.notamodule.outPath""",
        ),
        check=False,
    )
    assert proc.returncode != 0 and "should use `buildPythonPackage` or `toPythonModule`" in proc.stderr


def test_overrideattrs_keeps_overridepythonattrs(nix, pkgs_expr):
    facts = nix.eval_json(
        with_pkgs(
            pkgs_expr,
            """
      let
        a = python.pkgs.idna.overrideAttrs (old: { postInstall = "echo hi"; });
        b = a.overridePythonAttrs (old: { version = "3.6-b"; });
      in { hasOPA = a ? overridePythonAttrs; post = b.postInstall or null; name = b.name;
           pyModule = b ? pythonModule; }""",
        )
    )
    assert facts == {"hasOPA": True, "post": "echo hi", "name": "python3.11-idna-3.6-b", "pyModule": True}


def test_docker_image_manifest_lists_env(nix, pkgs_expr):
    image = nix.build(
        with_pkgs(
            pkgs_expr,
            """
      let env = python.withPackages (ps: [ ps.six ]); in
      pkgs.dockerTools.buildLayeredImage { name = "six-image"; tag = "latest"; contents = [ env ];
        config.Cmd = [ "${env}/bin/python" ]; }""",
        )
    )
    env = nix.build(with_pkgs(pkgs_expr, "python.withPackages (ps: [ ps.six ])"))
    manifest, config, layer_files = nix.read_docker_image(image)
    assert manifest["RepoTags"] == ["six-image:latest"]
    assert config["config"]["Cmd"] == [f"{env}/bin/python"]
    assert env.lstrip("/") in layer_files
    bad = nix.eval_json(
        with_pkgs(pkgs_expr, 'pkgs.dockerTools.buildLayeredImage { name = "x"; bogus = 1; }'), check=False
    )
    assert bad.returncode != 0


def test_mkshell_with_nix_shell(nix, pkgs_expr, tmp_path):
    shell = tmp_path / "shell.nix"
    shell.write_text(
        with_pkgs(
            pkgs_expr,
            """
      pkgs.mkShell { packages = [ (python.withPackages (ps: [ ps.six ])) ]; shellHook = "export FROM_HOOK=yes"; }""",
        )
    )
    proc = nix.run(
        ["nix-shell", str(shell), "--run", 'python -c "import six; print(six.__version__)"; echo $FROM_HOOK'],
        check=True,
    )
    assert proc.stdout.split() == ["1.16.0", "yes"]


def test_fetchurl_checks_name_and_hash(nix, pkgs_expr):
    plus = nix.eval_json(
        with_pkgs(
            pkgs_expr,
            """
      (pkgs.fetchurl {
        url = "https://example.invalid/torch-2.1.0%2Bcpu-cp311-cp311-linux_x86_64.whl";
        sha256 = "0000000000000000000000000000000000000000000000000000000000000000";
      }).drvPath""",
        ),
        check=False,
    )
    assert plus.returncode != 0 and "not allowed in a store path" in plus.stderr
    nohash = nix.eval_json(
        with_pkgs(pkgs_expr, '(pkgs.fetchurl { url = "https://example.invalid/a.whl"; }).drvPath'), check=False
    )
    assert nohash.returncode != 0 and "requires a hash" in nohash.stderr


def test_check_meta_refuses_at_evaluation(nix, pkgs_expr):
    """Like nixpkgs' check-meta: broken, unsupported-platform and meta.problems packages keep
    their attributes but throw on drvPath; config can allow them."""
    expr = with_pkgs(
        pkgs_expr,
        """
      let
        ok = p: (builtins.tryEval p.drvPath).success;
        mk = meta: pkgs.stdenv.mkDerivation { pname = "m"; version = "1"; buildCommand = "touch $out"; inherit meta; };
        allowing = import pkgs.path { config = { allowBroken = true; problems.handlers.m.removal = "warn"; }; };
      in {
        broken = ok python.pkgs.locket;
        brokenVersion = python.pkgs.locket.version;
        brokenAvailable = python.pkgs.locket.meta.available;
        platform = ok (mk { platforms = [ "riscv64-linux" ]; });
        problem = ok (mk { problems.removal = { }; });
        allowedBroken = ok allowing.python3.pkgs.locket;
        warnedProblem = ok (allowing.stdenv.mkDerivation {
          pname = "m"; version = "1"; buildCommand = "touch $out"; meta.problems.removal = { };
        });
        plain = ok (mk { });
      }""",
    )
    assert nix.eval_json(expr) == {
        "broken": False,
        "brokenVersion": "0.2.0",
        "brokenAvailable": False,
        "platform": False,
        "problem": False,
        "allowedBroken": True,
        "warnedProblem": True,
        "plain": True,
    }
    proc = nix.eval_json(with_pkgs(pkgs_expr, "python.pkgs.locket.drvPath"), check=False)
    assert "python3.11-locket-0.2.0’ is marked as broken, refusing to evaluate" in proc.stderr


def test_disabled_becomes_a_meta_problem(nix, pkgs_expr):
    """Newest nixpkgs: `disabled = true` turns into meta.problems.unsupportedPython (no
    passthru.disabled), which overridePythonAttrs lifts by removing the problem."""
    expr = with_pkgs(
        pkgs_expr,
        """
      let
        first = python.pkgs.first;
        lifted = first.overridePythonAttrs (old: { meta = builtins.removeAttrs old.meta [ "problems" ]; });
        again = lifted.overridePythonAttrs { disabled = true; };
      in {
        disabled = first.passthru.disabled;
        problems = builtins.attrNames first.meta.problems;
        refused = !(builtins.tryEval first.drvPath).success;
        lifted = (builtins.tryEval lifted.drvPath).success;
        againRefused = !(builtins.tryEval again.drvPath).success;
      }""",
    )
    assert nix.eval_json(expr) == {
        "disabled": False,
        "problems": ["unsupportedPython"],
        "refused": True,
        "lifted": True,
        "againRefused": True,
    }


def test_loader_searches_runpath_only(nix, pkgs_expr):
    """nixpkgs' glibc does not search the host's library directories: an extension whose
    libstdc++ is not on its RUNPATH fails its imports check, or the env that has it."""
    unpatched = "python.pkgs.greenlet.overridePythonAttrs { dontAutoPatchelf = true; }"
    proc = nix.build(with_pkgs(pkgs_expr, unpatched), check=False)
    assert proc.returncode != 0
    assert "nixpkgs' loader would not find libstdc++.so.6" in proc.stderr
    proc = nix.build(
        with_pkgs(
            pkgs_expr,
            "python.withPackages (ps: [ (ps.greenlet.overridePythonAttrs { dontAutoPatchelf = true; "
            "pythonImportsCheck = [ ]; }) ])",
        ),
        check=False,
    )
    assert proc.returncode != 0
    assert "nixpkgs' loader would not find libstdc++.so.6" in proc.stderr


PICKLESHARE_075 = """(pkgs.fetchurl {
  url = "https://files.pythonhosted.org/packages/9a/41/220f49aaea88bc6fa6cba8d05ecf24676326156c23b991e80b3f2fc24c77/pickleshare-0.7.5-py2.py3-none-any.whl";
  sha256 = "9649af414d74d4df115d5d718f82acb59c9d418196b7b4290ed47a12ce62df56";
})"""


def test_relax_deps_validates_metadata_like_nixpkgs(nix, pkgs_expr):
    """Newest nixpkgs parses METADATA with packaging.metadata (validating): pickleshare
    0.7.5's wheel says Metadata-Version 2.0, which is not a valid version."""
    wheel = f"""python.pkgs.buildPythonPackage {{
      pname = "pickleshare"; version = "0.7.5"; format = "wheel"; src = {PICKLESHARE_075};
      pythonRelaxDeps = [ "pathlib2" ]; }}"""
    proc = nix.build(with_pkgs(pkgs_expr, wheel), check=False)
    assert proc.returncode != 0 and "'2.0' is not a valid metadata version" in proc.stderr
    nix.build(with_pkgs(pkgs_expr, wheel.replace('pythonRelaxDeps = [ "pathlib2" ];', "")))


def test_stdenv_does_not_unpack_wheels(nix, pkgs_expr):
    """Only wheelUnpackHook unpacks a .whl; stdenv's unpackPhase does not know the format."""
    proc = nix.build(
        with_pkgs(pkgs_expr, f'pkgs.stdenv.mkDerivation {{ name = "x"; src = {PICKLESHARE_075}; }}'),
        check=False,
    )
    assert proc.returncode != 0 and "do not know how to unpack source archive" in proc.stderr


def test_system_argument_like_nixpkgs(nix):
    """``import nixpkgs { system = …; }`` / ``{ localSystem = …; }`` (a string or ``{ system; }``) give
    that hostPlatform and derivations of that system, which this machine refuses to build."""
    double = Path(__file__).parent / "nixpkgs"
    arguments = [
        'system = "aarch64-darwin";',
        'localSystem = "aarch64-darwin";',
        'localSystem.system = "aarch64-darwin";',
    ]
    for argument in arguments:
        expr = f"""let pkgs = import {double} {{ {argument} }}; in [
          pkgs.stdenv.hostPlatform.system pkgs.stdenv.hostPlatform.isDarwin pkgs.stdenv.isLinux pkgs.system
          (pkgs.python3.pkgs.six.drvAttrs.system or pkgs.python3.pkgs.six.system)
          (pkgs.appendOverlays [ ]).stdenv.hostPlatform.system ]"""
        assert nix.eval_json(expr) == [
            "aarch64-darwin",
            True,
            False,
            "aarch64-darwin",
            "aarch64-darwin",
            "aarch64-darwin",
        ]
    host = nix.eval_json(f"(import {double} {{ }}).stdenv.hostPlatform.system")
    assert host in ("x86_64-linux", "aarch64-linux")
    other = "aarch64-darwin"
    proc = nix.build(f'(import {double} {{ system = "{other}"; }}).python3.pkgs.six', check=False)
    assert proc.returncode != 0 and other in proc.stderr
