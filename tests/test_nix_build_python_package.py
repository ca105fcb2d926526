"""``mach-nix.buildPythonPackage`` / ``buildPythonApplication`` from source, and ``packagesExtra``'s
paths and tarball URLs (issue 12 item 3), built and imported through the double.

The projects are ``tests/data/local`` (its README): PEP 621 with setuptools, setup.cfg, and
setup.py only, whose metadata comes from its PEP 517 hook, run confined at evaluation time with
the package set's setuptools and wheel as build environment (no network there).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from hook_helpers import make_sdist
from nixhelpers import REPO, SNAPSHOT_DB, machnix

pytestmark = pytest.mark.nix

DB = SNAPSHOT_DB
LOCAL = REPO / "tests" / "data" / "local"


def run_python(env: str, code: str) -> str:
    return subprocess.run([f"{env}/bin/python", "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def test_packages_from_source_join_an_environment(nix, pkgs_expr, tmp_path: Path) -> None:
    archive = tmp_path / "archived-1.5.tar.gz"
    archive.write_bytes(
        make_sdist(
            {
                "setup.cfg": "[metadata]\nname = archived\nversion = 1.5\n[options]\npy_modules = archived\n"
                "install_requires = six\n",
                "setup.py": "from setuptools import setup\nsetup()\n",
                "archived.py": "X = 15\n",
            },
            top="archived-1.5",
        )
    )
    body = f"""let
        app = machNix.buildPythonPackage {{ src = {LOCAL}/pep621-app; doCheck = false; }};
        legacy = machNix.buildPythonPackage {{ src = {LOCAL}/setuppy-only; pname = "setuppy_only"; }};
      in machNix.mkPython {{
        requirements = "attrs";
        packagesExtra = [ app legacy {LOCAL}/setupcfg-lib "file://{archive}" ];
      }}"""
    env = nix.build(machnix(pkgs_expr, body))
    out = run_python(
        env,
        "import importlib.metadata as m, local_app, setuppy_only, setupcfg_lib, archived, attrs, six;"
        "print(m.version('local-app'), m.version('setuppy-only'), setupcfg_lib.VALUE, archived.X)",
    )
    assert out == "0.1.0 0.3.2 42 15", "0.3.2: the version setup.py computes, read through its hook"
    assert (Path(env) / "bin" / "local-app").exists()
    app = nix.eval_json(
        machnix(
            pkgs_expr, f"let p = machNix.buildPythonPackage {{ src = {LOCAL}/pep621-app; }}; in [ p.pname p.version ]"
        )
    )
    assert app == ["local-app", "0.1.0"]


def test_an_application_and_a_wrong_name(nix, pkgs_expr) -> None:
    app = machnix(pkgs_expr, f"machNix.buildPythonApplication {{ src = {LOCAL}/pep621-app; }}")
    out = nix.build(app)
    result = subprocess.run([f"{out}/bin/local-app"], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "hello from local-app six"
    assert (
        nix.eval_json(
            machnix(pkgs_expr, f"(machNix.buildPythonApplication {{ src = {LOCAL}/pep621-app; }}).pythonModule")
        )
        is False
    )
    wrong = machnix(pkgs_expr, f'(machNix.buildPythonPackage {{ src = {LOCAL}/pep621-app; version = "9"; }}).drvPath')
    proc = nix.eval_json(wrong, check=False)
    assert proc.returncode != 0
    assert '`version = "9"`, but the project\'s own metadata says 0.1.0' in proc.stderr
