"""The library against nixpkgs' real behaviour (issue 9; docs/nixpkgs-contract.md).

Each test is the reproduction of one finding of the fidelity audit, run against the
double after the double was made to behave like nixpkgs in that respect. Resolution
reads the committed DB snapshot; builds fetch the real PyPI artifacts.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from nixhelpers import REPO

pytestmark = pytest.mark.nix

DB = Path(os.environ.get("MACH_NIX_TEST_DB", REPO / "tests" / "data" / "pypi-db"))


def machnix(pkgs_expr: str, body: str) -> str:
    return f"""let
      pkgs = {pkgs_expr};
      machNix = import {REPO} {{ inherit pkgs; pypiData = {DB}; }};
      python = pkgs.python3;
    in {body}"""


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
