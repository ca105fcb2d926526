"""The library against nixpkgs' real behaviour (issue 9; docs/nixpkgs-contract.md).

Each test is the reproduction of one finding of the fidelity audit, run against the
double after the double was made to behave like nixpkgs in that respect. Resolution
reads the committed DB snapshot; builds fetch the real PyPI artifacts.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from nixhelpers import REPO, SNAPSHOT_DB, machnix

# The reproductions use the double's recipes (shaped like nixpkgs' troublemakers, at
# versions the DB snapshot knows); against a real nixpkgs (MACH_NIX_TEST_NIXPKGS) they do
# not apply. CI always runs them.
pytestmark = [
    pytest.mark.nix,
    pytest.mark.skipif(
        bool(os.environ.get("MACH_NIX_TEST_NIXPKGS")), reason="reproductions on the nixpkgs double's recipes"
    ),
]

DB = SNAPSHOT_DB


def run_python(env: str, code: str) -> list[str]:
    return subprocess.run([f"{env}/bin/python", "-c", code], capture_output=True, text=True, check=True).stdout.split()


def test_nixpkgs_provider_keeps_nixpkgs_derivations(nix, pkgs_expr):
    """F1: a closure taken from nixpkgs whose dependencies are nixpkgs' own is nixpkgs'
    derivations, untouched (a binary-cache hit), although every package propagates the
    interpreter as a Python module."""
    facts = nix.eval_json(
        machnix(
            pkgs_expr,
            """
      let r = machNix.mkPython { requirements = "requests"; providers._default = "nixpkgs"; }; in {
        providers = map (n: r.lock.packages.${n}.provider) (builtins.attrNames r.lock.packages);
        known = map (n: r.lock.packages.${n}.dependencies_known) (builtins.attrNames r.lock.packages);
        same = map (n: r.python.pkgs.${n}.outPath == python.pkgs.${n}.outPath) (builtins.attrNames r.lock.packages);
        interpreterPropagated = builtins.any (d: d ? pythonModule && d ? interpreter)
          python.pkgs.requests.propagatedBuildInputs;
      }""",
        )
    )
    assert set(facts["providers"]) == {"nixpkgs"} and all(facts["known"])
    assert facts["interpreterPropagated"], "the double must propagate the interpreter as a module, like nixpkgs"
    assert all(facts["same"]), facts


def test_nixpkgs_provider_rewires_when_a_dependency_changes(nix, pkgs_expr):
    """F1, the other side: a changed dependency (idna from its wheel) rebuilds its nixpkgs
    dependants against it, and only them."""
    facts = nix.eval_json(
        machnix(
            pkgs_expr,
            """
      let r = machNix.mkPython {
        requirements = "requests==2.31.0\\nidna==3.7";
        providers = { _default = "nixpkgs"; idna = "wheel"; };
      }; in {
        requestsSame = r.python.pkgs.requests.outPath == python.pkgs.requests.outPath;
        certifiSame = r.python.pkgs.certifi.outPath == python.pkgs.certifi.outPath;
        requestsIdna = map (d: d.version) (builtins.filter (d: (d.pname or "") == "idna")
          r.python.pkgs.requests.propagatedBuildInputs);
      }""",
        )
    )
    assert facts == {"requestsSame": False, "certifiSame": True, "requestsIdna": ["3.7"]}


def nixpkgs_requests_lock(nix, pkgs_expr) -> dict:
    return nix.eval_json(
        machnix(pkgs_expr, '(machNix.mkPython { requirements = "requests"; providers._default = "nixpkgs"; }).lock')
    )


def test_cycle_among_nixpkgs_packages_builds(nix, pkgs_expr, tmp_path):
    """F3: a lock cycle between nixpkgs-provided packages (idna <-> requests here; nixpkgs'
    own recipes have requests -> idna) evaluates and builds. The cycle is cut at the edge
    nixpkgs' recipes do not have, so both keep nixpkgs' derivations."""
    lock = nixpkgs_requests_lock(nix, pkgs_expr)
    assert {entry["provider"] for entry in lock["packages"].values()} == {"nixpkgs"}
    lock["packages"]["idna"]["dependencies"] = ["requests"]
    lock_file = tmp_path / "cycle.lock.json"
    lock_file.write_text(json.dumps(lock))
    facts = nix.eval_json(
        machnix(
            pkgs_expr,
            f"""
      let r = machNix.mkPython {{ lock = {lock_file}; }}; in {{
        requestsSame = r.python.pkgs.requests.outPath == python.pkgs.requests.outPath;
        idnaSame = r.python.pkgs.idna.outPath == python.pkgs.idna.outPath;
      }}""",
        )
    )
    assert facts == {"requestsSame": True, "idnaSame": True}
    env = nix.build(machnix(pkgs_expr, f"machNix.mkPython {{ lock = {lock_file}; }}"))
    assert run_python(env, "import requests, idna; print(requests.__version__)") == ["2.31.0"]


def test_wheel_override_of_a_recipe_with_extra_outputs_builds(nix, pkgs_expr):
    """F2: nixpkgs' attrs declares a `testout` output that its postInstall fills from the
    source tree; a wheel has no such tree, and nixpkgs' fixupPhase never creates a missing
    output. The wheel override declares `out` only (buildPythonPackage adds `dist`)."""
    facts = nix.eval_json(
        machnix(
            pkgs_expr,
            """
      let r = machNix.mkPython { requirements = "attrs"; }; in {
        provider = r.lock.packages.attrs.provider;
        recipeOutputs = python.pkgs.attrs.outputs;
        outputs = r.python.pkgs.attrs.outputs;
      }""",
        )
    )
    assert facts["provider"] == "wheel"
    assert facts["recipeOutputs"] == ["out", "testout", "dist"]
    assert facts["outputs"] == ["out", "dist"]
    env = nix.build(machnix(pkgs_expr, 'machNix.mkPython { requirements = "attrs"; }'))
    assert run_python(env, "import attr; print(attr.__version__ > '21.4.0')") == ["True"]


def test_wheels_of_broken_and_disabled_recipes_build(nix, pkgs_expr):
    """F9: nixpkgs marks locket broken and first disabled for this interpreter (newest:
    meta.problems.unsupportedPython); check-meta refuses both. The wheels the lock takes
    are not what nixpkgs judged, so the overrides drop those verdicts."""
    refused = nix.eval_json(
        f"let ps = ({pkgs_expr}).python3.pkgs; in map (p: (builtins.tryEval p.drvPath).success) [ ps.locket ps.first ]"
    )
    assert refused == [False, False]
    env = nix.build(machnix(pkgs_expr, 'machNix.mkPython { requirements = "locket\\nfirst"; }'))
    assert run_python(env, "import locket, first; print(first.__version__)") == ["2.0.2"]


def test_inventory_offers_no_refused_package(nix, pkgs_expr):
    """F9: with the newest `disabled` semantics passthru.disabled is always false; the
    inventory must still not offer packages check-meta refuses (they could not be built)."""
    for requirement in ("first", "locket"):
        proc = nix.eval_json(
            machnix(
                pkgs_expr,
                f'(machNix.mkPython {{ requirements = "{requirement}"; providers._default = "nixpkgs"; }}).drvPath',
            ),
            check=False,
        )
        assert proc.returncode != 0
        assert "mach-nix could not resolve the requirements" in proc.stderr, proc.stderr[-2000:]


def test_legacy_manylinux_wheel_is_patched(nix, pkgs_expr):
    """F4: cryptography 3.4.7's only Linux wheel is tagged manylinux2014 (no PEP 600 alias);
    its Rust extension needs libgcc_s.so.1, which nixpkgs' loader finds only through the
    RUNPATH autoPatchelf writes."""
    lock = nix.eval_json(machnix(pkgs_expr, '(machNix.mkPython { requirements = "cryptography==3.4.7"; }).lock'))
    assert lock["packages"]["cryptography"]["artifact"]["filename"].endswith("-abi3-manylinux2014_x86_64.whl")
    env = nix.build(machnix(pkgs_expr, 'machNix.mkPython { requirements = "cryptography==3.4.7"; }'))
    code = "import cryptography.hazmat.bindings._rust as r, cryptography; print(cryptography.__version__)"
    assert run_python(env, code) == ["3.4.7"]


def test_missing_soname_names_soname_package_and_fix(nix, pkgs_expr):
    """F5: a native wheel whose needed library no input provides fails before autoPatchelf,
    with a message naming the soname, the package and how to add the library."""
    proc = nix.build(
        machnix(pkgs_expr, 'machNix.mkPython { requirements = "greenlet"; _.greenlet.buildInputs = [ ]; }'),
        check=False,
    )
    assert proc.returncode != 0
    assert "mach-nix: greenlet " in proc.stderr and "libstdc++.so.6" in proc.stderr
    assert "_.greenlet.buildInputs.add = [" in proc.stderr


def test_wheel_of_a_to_python_module_recipe_is_built_fresh(nix, pkgs_expr):
    """F6: termcolor is nixpkgs-style `toPythonModule` around a CMake derivation: no
    overridePythonAttrs, no wheel hooks. Its wheel is a fresh buildPythonPackage."""
    env = nix.build(machnix(pkgs_expr, 'machNix.mkPython { requirements = "termcolor"; }'))
    assert run_python(env, "import termcolor, importlib.metadata as m; print(m.version('termcolor') > '1.1.0')") == [
        "True"
    ]


def test_wheel_keeps_path_patches_and_native_inputs(nix, pkgs_expr):
    """F7: nixpkgs' toolz recipe injects a library's store path with a patch and propagates
    the library. A wheel cannot take source patches, but this one patches a file the wheel
    installs: it is applied to the installed tree, and the library stays propagated."""
    facts = nix.eval_json(
        machnix(
            pkgs_expr,
            """
      let t = (machNix.mkPython { requirements = "toolz"; }).python.pkgs.toolz; in {
        version = t.version;
        zlibPropagated = builtins.elem pkgs.zlib.outPath (map (d: d.outPath) t.propagatedBuildInputs);
      }""",
        )
    )
    assert facts["version"] != "0.12.0" and facts["zlibPropagated"]
    env = nix.build(machnix(pkgs_expr, 'machNix.mkPython { requirements = "toolz"; }'))
    assert run_python(env, "import toolz._nixpkgs_paths as p; print(p.LIBZ.startswith('/nix/store/'))") == ["True"]


def test_wheel_drops_recipe_leftovers(nix, pkgs_expr):
    """F8: rpds-py's recipe (finalAttrs style) vendors crates for its own version
    (cargoDeps, a fixed-output derivation computed from the final src); pickleshare's
    relaxes a dependency, and nixpkgs' relax hook rejects its 0.7.5 wheel's
    Metadata-Version 2.0. The wheels need neither."""
    env = nix.build(machnix(pkgs_expr, 'machNix.mkPython { requirements = "rpds-py\\npickleshare"; }'))
    assert run_python(env, "import rpds, pickleshare; print(rpds.HashTrieMap({1: 2})[1])") == ["2"]


def test_sdist_of_a_rust_recipe_explains(nix, pkgs_expr):
    """F8: an sdist of another version than the recipe's cannot use its vendored crates."""
    proc = nix.eval_json(
        machnix(pkgs_expr, '(machNix.mkPython { requirements = "rpds-py"; providers.rpds-py = "sdist"; }).drvPath'),
        check=False,
    )
    assert proc.returncode != 0
    assert "cargoDeps" in proc.stderr and 'providers.rpds-py = "wheel"' in proc.stderr


def test_tests_run_for_sdists_not_wheels(nix, pkgs_expr):
    """F13: `tests = true` runs nixpkgs' check phase of packages built from source; a wheel
    has no test tree (toolz's pytestCheckHook would find nothing to run)."""
    facts = nix.eval_json(
        machnix(
            pkgs_expr,
            """
      let
        wheel = (machNix.mkPython { requirements = "toolz"; tests = true; }).python.pkgs.toolz;
        sdist = (machNix.mkPython { requirements = "six"; providers.six = "sdist"; tests = true; }).python.pkgs.six;
      in { wheel = wheel.doInstallCheck; sdist = sdist.doInstallCheck; }""",
        )
    )
    assert facts == {"wheel": False, "sdist": True}
    nix.build(machnix(pkgs_expr, 'machNix.mkPython { requirements = "toolz"; tests = true; }'))


def test_nixpkgs_attribute_other_than_the_name_is_replaced_too(nix, pkgs_expr):
    """F12: decorator is `decorator5` in the set (like pygobject3). Recipes reach it by that
    attribute, so the lock's package replaces both names."""
    facts = nix.eval_json(
        machnix(
            pkgs_expr,
            """
      let ps = (machNix.mkPython { requirements = "decorator==5.1.1"; providers.decorator = "nixpkgs";
                                    tests = true; }).python.pkgs; in {
        attr = ps.decorator.outPath == ps.decorator5.outPath;
        rewired = ps.decorator.outPath != python.pkgs.decorator5.outPath;
      }""",
        )
    )
    assert facts == {"attr": True, "rewired": True}


def test_alias_to_another_project_is_not_its_recipe(nix, pkgs_expr):
    """F17: nixpkgs' alias path-py = path points at another PyPI project; path.py is built
    as itself, not with path's recipe."""
    facts = nix.eval_json(
        machnix(
            pkgs_expr,
            """
      let ps = (machNix.mkPython { requirements = "path.py"; }).python.pkgs; in {
        pname = ps.path-py.pname; version = ps.path-py.version;
      }""",
        )
    )
    assert facts == {"pname": "path-py", "version": "12.5.0"}


def test_overridden_package_keeps_override(nix, pkgs_expr):
    """F17: after overridePythonAttrs nixpkgs' packages lose `.override` (callPackage's), so
    a user's overridesPost calling it failed. mach-nix's packages keep it; the lock's
    version and Python dependencies are applied again after it."""
    facts = nix.eval_json(
        machnix(
            pkgs_expr,
            """
      let
        r = (machNix.mkPython { requirements = "requests"; }).python.pkgs.requests;
        again = r.override { };
        swapped = r.override { urllib3 = python.pkgs.urllib3_1; };
      in {
        same = again.outPath == r.outPath;
        version = swapped.version == r.version;
        urllib3 = map (d: d.version) (builtins.filter (d: (d.pname or "") == "urllib3") swapped.propagatedBuildInputs);
        lockUrllib3 = (machNix.mkPython { requirements = "requests"; }).lock.packages.urllib3.version;
      }""",
        )
    )
    assert facts["same"] is True and facts["version"] is True
    assert facts["urllib3"] == [facts["lockUrllib3"]]


USER_OVERLAY = """(final: prev: {
  python3 = prev.python3.override {
    packageOverrides = self: super: {
      fromUser = "user";
      six = super.six.overridePythonAttrs { postInstall = "echo user"; };
    };
  };
})"""


def test_existing_package_overrides_are_composed(nix, pkgs_expr):
    """F10: a nixpkgs whose overlays already set python3's packageOverrides keeps them:
    mkPython, mkOverlay and mkNixpkgs compose with them instead of replacing them."""
    facts = nix.eval_json(
        f"""let
          pkgs = ({pkgs_expr}).appendOverlays [ {USER_OVERLAY} ];
          machNix = import {REPO} {{ inherit pkgs; pypiData = {DB}; }};
          args = {{ requirements = "idna"; }};
        in {{
          mkPython = (machNix.mkPython args).python.pkgs.fromUser;
          seen = (machNix.mkPython {{ requirements = "six"; providers.six = "nixpkgs"; }}).python.pkgs.six.postInstall;
          overlay = (pkgs.appendOverlays [ (machNix.mkOverlay args) ]).python3.pkgs.fromUser;
          nixpkgs = (machNix.mkNixpkgs args).python3.pkgs.fromUser;
        }}"""
    )
    assert facts == {"mkPython": "user", "seen": "echo user", "overlay": "user", "nixpkgs": "user"}


def test_lock_with_another_nixpkgs_version_is_refused(nix, pkgs_expr, tmp_path):
    """F11: a lock whose nixpkgs entry has another version than this nixpkgs' (the lock was
    made against an older or newer nixpkgs) is refused with the way to re-lock."""
    lock = nix.eval_json(
        machnix(pkgs_expr, '(machNix.mkPython { requirements = "certifi"; providers.certifi = "nixpkgs"; }).lock')
    )
    assert lock["packages"]["certifi"]["provider"] == "nixpkgs"
    lock["packages"]["certifi"]["version"] = "2022.12.7"
    lock_file = tmp_path / "old-nixpkgs.lock.json"
    lock_file.write_text(json.dumps(lock))
    proc = nix.eval_json(machnix(pkgs_expr, f"(machNix.mkPython {{ lock = {lock_file}; }}).drvPath"), check=False)
    assert proc.returncode != 0
    assert "certifi 2022.12.7" in proc.stderr and "2023.11.17" in proc.stderr
    assert "nixpkgsInventory" in proc.stderr


def test_sdist_build_tools_come_from_its_locked_build_system(nix, pkgs_expr):
    """F15, with build systems locked (lock format 2): pluggy's sdist builds with the lock's
    setuptools-scm wheel, neither nixpkgs' recipe nor its rebuild against the lock's
    typing-extensions."""
    facts = nix.eval_json(
        machnix(
            pkgs_expr,
            """
      let r = machNix.mkPython { requirements = "pluggy\\ntyping-extensions"; providers.pluggy = "sdist"; }; in {
        locked = r.lock.packages.typing-extensions.version;
        setTool = builtins.elem python.pkgs.setuptools-scm.outPath
          (map (d: d.outPath) r.python.pkgs.pluggy.nativeBuildInputs);
        scopeTool = builtins.elem r.python.pkgs.setuptools-scm.outPath
          (map (d: d.outPath) r.python.pkgs.pluggy.nativeBuildInputs);
        tools = map (d: d.pname) r.python.pkgs.pluggy.build-system;
      }""",
        )
    )
    assert facts["locked"] != "4.9.0" and facts["setTool"] is False and facts["scopeTool"] is False
    assert "setuptools-scm" in facts["tools"]
    env = nix.build(
        machnix(
            pkgs_expr, 'machNix.mkPython { requirements = "pluggy\\ntyping-extensions"; providers.pluggy = "sdist"; }'
        )
    )
    assert run_python(env, "import pluggy; print(pluggy.__version__ > '1.0')") == ["True"]


def test_resolution_targets_the_package_sets_glibc(nix, pkgs_expr, tmp_path):
    """F17: evaluation-time resolution passes the glibc of the package set (the double's is
    the host's), and a lock whose wheel needs a newer glibc than this nixpkgs has is refused
    with the command to re-lock."""
    glibc = nix.eval_json(f"({pkgs_expr}).stdenv.cc.libc.version")
    lock = nix.eval_json(machnix(pkgs_expr, '(machNix.mkPython { requirements = "greenlet"; }).lock'))
    assert lock["target"]["glibc"] == ".".join(glibc.split(".")[:2])
    artifact = lock["packages"]["greenlet"]["artifact"]
    artifact["filename"] = artifact["filename"].replace("manylinux_2_24_x86_64.manylinux_2_28", "manylinux_2_99")
    lock_file = tmp_path / "newer-glibc.lock.json"
    lock_file.write_text(json.dumps(lock))
    proc = nix.eval_json(machnix(pkgs_expr, f"(machNix.mkPython {{ lock = {lock_file}; }}).drvPath"), check=False)
    assert proc.returncode != 0
    assert "needs glibc 2.99" in proc.stderr and f"--glibc {lock['target']['glibc']}" in proc.stderr


def test_no_evaluation_enumerates_the_package_set(nix, pkgs_expr, tmp_path):
    """F14: a package set of nixpkgs' size (9,000 attributes) whose every value aborts when
    forced: mkPython with nixpkgs leading `_default`, with it last, after a typo and in lock
    mode probes only attributes named like the projects it can reach."""
    scale = f"(import {REPO}/tests/nixpkgs/scale.nix {{ tripwire = true; }})"
    scaled = f"(import {REPO}/tests/nixpkgs {{ overlays = [ {scale} ]; }})"
    assert nix.eval_json(f"builtins.length (builtins.attrNames {scaled}.python3.pkgs)") > 9000
    lock_file = tmp_path / "lock.json"
    lock_file.write_text(
        json.dumps(nix.eval_json(machnix(pkgs_expr, '(machNix.mkPython { requirements = "requests"; }).lock')))
    )
    for args in (
        'requirements = "requests"; providers._default = "nixpkgs,wheel,sdist";',
        'requirements = "requests";',
        f"lock = {lock_file};",
    ):
        nix.eval_json(machnix(scaled, f"(machNix.mkPython {{ {args} }}).drvPath"))
    typo = nix.eval_json(
        machnix(scaled, '(machNix.mkPython { requirements = "reqeusts\\nsix"; }).drvPath'), check=False
    )
    assert typo.returncode != 0 and "mach-nix could not resolve the requirements" in typo.stderr
    # The tripwire works: the one function that does enumerate the set aborts.
    full = nix.eval_json(machnix(scaled, "builtins.length (machNix.nixpkgsInventory { })"), check=False)
    assert full.returncode != 0 and "the whole package set was enumerated" in full.stderr


def test_wheel_of_a_renamed_attribute_uses_its_recipe(nix, pkgs_expr):
    """F12: the set has decorator only as `decorator5`; the lock's decorator wheel overrides
    that recipe (keeping what nixpkgs gives it) and replaces both names, so recipes using
    `decorator5` and the environment agree."""
    facts = nix.eval_json(
        machnix(
            pkgs_expr,
            """
      let r = machNix.mkPython { requirements = "decorator"; }; ps = r.python.pkgs; in {
        same = ps.decorator.outPath == ps.decorator5.outPath;
        version = ps.decorator5.version == r.lock.packages.decorator.version;
        recipe = ps.decorator.pythonImportsCheck or null;
      }""",
        )
    )
    assert facts == {"same": True, "version": True, "recipe": ["decorator"]}
