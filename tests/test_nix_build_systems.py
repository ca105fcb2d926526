"""Locked build systems through the double (issue 12 items 1 and 6): an sdist builds with the
build closure its lock resolved (lib/build-systems.nix), not the package set's tools, and the
environment carries the lock's versions of the set's own hook tools.

Resolution reads the committed snapshot; builds fetch the real PyPI artifacts."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from nixhelpers import SNAPSHOT_DB, machnix

pytestmark = [
    pytest.mark.nix,
    pytest.mark.skipif(
        bool(os.environ.get("MACH_NIX_TEST_NIXPKGS")),
        reason="compares with the double's own (old) build tools: flit-core 3.9.0, packaging 23.2",
    ),
]

DB = SNAPSHOT_DB


def run_python(env: str, code: str) -> str:
    return subprocess.run([f"{env}/bin/python", "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def test_idna_sdist_builds_with_its_locked_flit_core_where_the_sets_fails(nix, pkgs_expr, tmp_path):
    """idna 3.20 needs flit-core>=3.11 (PEP 639 license string); the set has 3.9.0."""
    args = 'requirements = "idna==3.20"; providers.idna = "sdist";'
    facts = nix.eval_json(
        machnix(
            pkgs_expr,
            f"""let r = machNix.mkPython {{ {args} }}; in {{
        lock = r.lock;
        setFlit = python.pkgs.flit-core.version;
        tools = map (d: d.name) r.python.pkgs.idna.build-system;
      }}""",
        )
    )
    lock = facts["lock"]
    (key,) = lock["packages"]["idna"]["build_system"]
    flit = lock["build_packages"][key]["version"]
    assert facts["setFlit"] == "3.9.0" and flit != facts["setFlit"]
    assert facts["tools"] == [f"python3.11-flit-core-{flit}"]
    env = nix.build(machnix(pkgs_expr, f"machNix.mkPython {{ {args} }}"))
    assert run_python(env, "import idna; print(idna.__version__, idna.encode('bücher.example').decode())") == (
        "3.20 xn--bcher-kva.example"
    )
    # The same lock with the set's tools (as a version-1 lock built): the build fails.
    entry = lock["packages"]["idna"]
    del entry["build_system"]
    entry["build_system_unlocked"] = True
    lock["build_packages"] = {}
    unlocked = tmp_path / "unlocked.lock.json"
    unlocked.write_text(json.dumps(lock))
    proc = nix.build(machnix(pkgs_expr, f"machNix.mkPython {{ lock = {unlocked}; }}"), check=False)
    assert proc.returncode != 0
    assert "flit-core-3.9.0" in proc.stderr and "license field should be" in proc.stderr


def test_hatchling_and_setuptools_scm_sdists_build_with_their_closures(nix, pkgs_expr):
    """python-dateutil 4 (hatchling, hatch-vcs, its packaging.licenses) and pluggy (setuptools,
    setuptools-scm) from sdists; their closures' packaging is not the environment's 24.2."""
    args = (
        'requirements = "python-dateutil\\npluggy\\npackaging==24.2"; '
        'providers.python-dateutil = "sdist"; providers.pluggy = "sdist";'
    )
    lock = nix.eval_json(machnix(pkgs_expr, f"(machNix.mkPython {{ {args} }}).lock"))
    names = {
        name: {lock["build_packages"][k]["name"] for k in lock["packages"][name]["build_system"]}
        for name in ("python-dateutil", "pluggy")
    }
    assert {"hatchling", "hatch-vcs", "packaging"} <= names["python-dateutil"]
    assert {"setuptools", "setuptools-scm", "packaging"} <= names["pluggy"]
    env = nix.build(machnix(pkgs_expr, f"machNix.mkPython {{ {args} }}"))
    out = run_python(env, "import dateutil, pluggy, packaging; print(dateutil.__version__, packaging.__version__)")
    assert out == f"{lock['packages']['python-dateutil']['version']} 24.2"


def test_pinned_packaging_is_what_the_environment_imports(nix, pkgs_expr):
    """Item 6: the set's packaging (23.2) builds every package and stays in the scope; the
    environment, and the packages depending on it, get the lock's 24.2."""
    args = 'requirements = "packaging==24.2\\nrequests";'
    facts = nix.eval_json(
        machnix(
            pkgs_expr,
            f"""let r = machNix.mkPython {{ {args} }}; in {{
        setVersion = python.pkgs.packaging.version;
        locked = r.lock.packages.packaging.version;
      }}""",
        )
    )
    assert facts == {"setVersion": "23.2", "locked": "24.2"}
    env = nix.build(machnix(pkgs_expr, f"machNix.mkPython {{ {args} }}"))
    assert run_python(env, "import packaging, requests; print(packaging.__version__)") == "24.2"


def test_a_version_1_lock_is_refused_with_the_command(nix, pkgs_expr, tmp_path):
    lock = nix.eval_json(machnix(pkgs_expr, '(machNix.mkPython { requirements = "idna"; }).lock'))
    lock["version"] = 1
    del lock["build_packages"]
    old = tmp_path / "mach-nix.lock.json"
    old.write_text(json.dumps(lock))
    proc = nix.eval_json(machnix(pkgs_expr, f"(machNix.mkPython {{ lock = {old}; }}).drvPath"), check=False)
    assert proc.returncode != 0
    assert "format version 1" in proc.stderr and "does not lock the build systems" in proc.stderr
    assert "mach-nix lock -r requirements.txt --python 3.11." in proc.stderr and "-o mach-nix.lock.json" in proc.stderr


def test_nix_refuses_a_build_system_naming_no_build_package(nix, pkgs_expr, tmp_path):
    lock = nix.eval_json(
        machnix(pkgs_expr, '(machNix.mkPython { requirements = "idna==3.20"; providers.idna = "sdist"; }).lock')
    )
    lock["packages"]["idna"]["build_system"] = ["flit-core==0.0"]
    bad = tmp_path / "bad.lock.json"
    bad.write_text(json.dumps(lock))
    proc = nix.eval_json(machnix(pkgs_expr, f"(machNix.mkPython {{ lock = {bad}; }}).drvPath"), check=False)
    assert proc.returncode != 0
    assert 'packages.idna.build_system[0] is "flit-core==0.0", which is not a key of build_packages' in proc.stderr


def test_a_native_build_wheel_is_patched_and_runs(nix, pkgs_expr):
    """pyyaml's sdist builds with cython, whose locked wheel is native (compiled modules):
    its build package is autoPatchelf'ed with native.nix's default libraries and imports."""
    args = 'requirements = "pyyaml"; providers.pyyaml = "sdist";'
    facts = nix.eval_json(
        machnix(
            pkgs_expr,
            f"""let r = machNix.mkPython {{ {args} }}; in {{
        lock = r.lock;
        interpreter = python.interpreter;
        site = python.sitePackages;
      }}""",
        )
    )
    build = facts["lock"]["build_packages"]
    (key,) = [k for k in facts["lock"]["packages"]["pyyaml"]["build_system"] if k.startswith("cython==")]
    assert "manylinux" in build[key]["artifact"]["filename"]
    out = nix.build(
        machnix(
            pkgs_expr,
            f"""builtins.head (builtins.filter (d: d.pname == "cython")
              (machNix.mkPython {{ {args} }}).python.pkgs.pyyaml.build-system)""",
        )
    )
    code = "import Cython, Cython.Compiler.Parsing as p; print(Cython.__version__, p.__file__.endswith('.so'))"
    env = dict(os.environ, PYTHONPATH=f"{out}/{facts['site']}")
    shown = subprocess.run([facts["interpreter"], "-c", code], capture_output=True, text=True, check=True, env=env)
    assert shown.stdout.split() == [build[key]["version"], "True"]
