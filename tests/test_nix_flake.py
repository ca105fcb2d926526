"""The flake: lib.<system>.mkPython, the CLI package, with nixpkgs overridden by the double."""

from __future__ import annotations

import json
import subprocess

import pytest

from nixhelpers import DOUBLE, REPO

pytestmark = pytest.mark.nix


def flake_args(nix) -> list[str]:
    if not nix.uses_double():
        pytest.skip("flake tests override nixpkgs with the double")
    return ["--override-input", "nixpkgs", f"path:{DOUBLE}"]


def test_flake_cli_package_runs(nix):
    proc = nix.run(["nix", "build", "--json", "--no-link", f"path:{REPO}#mach-nix"] + flake_args(nix))
    out = json.loads(proc.stdout)[0]["outputs"]["out"]
    version = subprocess.run([f"{out}/bin/mach-nix", "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("mach-nix ")


def test_flake_lib_equals_legacy_import(nix, pkgs_expr):
    """flake lib.<system>.mkPython and `import ./. { … }` give the same derivation."""
    system = nix.eval_json(f"({pkgs_expr}).system")
    proc = nix.run(
        [
            "nix",
            "eval",
            "--raw",
            f"path:{REPO}#lib.{system}.mkPython",
            "--apply",
            'mk: (mk { requirements = "six"; }).drvPath',
        ]
        + flake_args(nix)
    )
    legacy = nix.eval_json(
        f"((import {REPO} {{ pkgs = {pkgs_expr}; pypiData = {REPO}/tests/data/pypi-db; }})"
        '.mkPython { requirements = "six"; }).drvPath'
    )
    assert proc.stdout == legacy


def test_flake_gen_python_runs(nix):
    proc = nix.run(
        ["nix", "run", f"path:{REPO}#gen.python.six"]
        + flake_args(nix)
        + ["--", "-c", "import six, sys; print(six.__file__.startswith(sys.prefix))"]
    )
    assert proc.stdout.split() == ["True"]
