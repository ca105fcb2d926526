"""Pure-evaluation unit tests of the Nix library's helpers: ``tests/nix/*.nix``.

Each file evaluates to ``{ <case> = { expr; expected; }; … }``. All files are evaluated
in one ``nix-instantiate --eval --strict --json`` (no store, no builds, no nixpkgs); each
case is one test here, failing with both values.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nixhelpers import REPO

pytestmark = pytest.mark.nix

UNIT_DIR = REPO / "tests" / "nix"
FILES = sorted(UNIT_DIR.glob("*.nix"))


def _cases() -> list[tuple[str, str]]:
    """(file stem, case name) of every case, for the test ids (case names only: no value is
    evaluated). Without Nix there are none, and the tests are skipped (conftest.py)."""
    import subprocess

    import nixhelpers

    if not nixhelpers.have_nix():
        return []
    expr = "{ " + " ".join(f'"{p.stem}" = builtins.attrNames (import {p});' for p in FILES) + " }"
    proc = subprocess.run(
        ["nix-instantiate", "--eval", "--strict", "--json", "-E", expr],
        env=nixhelpers.nix_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    return [(stem, name) for stem, names in sorted(json.loads(proc.stdout).items()) for name in names]


@pytest.fixture(scope="module")
def results(nix) -> dict:
    expr = (
        "{ "
        + " ".join(
            f'"{p.stem}" = builtins.mapAttrs (n: c: {{ inherit (c) expr expected; ok = c.expr == c.expected; }}) '
            f"(import {p});"
            for p in FILES
        )
        + " }"
    )
    return nix.eval_json(expr)


@pytest.mark.parametrize(("stem", "case"), _cases(), ids=[f"{s}.{c}" for s, c in _cases()])
def test_case(results, stem: str, case: str) -> None:
    result = results[stem][case]
    assert result["ok"], (
        f"tests/nix/{stem}.nix {case}:\n  expr     = {json.dumps(result['expr'])}\n"
        f"  expected = {json.dumps(result['expected'])}"
    )


def test_files_are_found() -> None:
    assert {Path(p).stem for p in FILES} >= {"util", "wheels", "graph", "compose", "inventory", "providers", "native"}
