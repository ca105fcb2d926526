"""The suite tests the work tree, never an installed copy of mach_nix."""

from __future__ import annotations

import subprocess
import sys

import mach_nix
from nixhelpers import CLI, REPO


def test_imports_come_from_the_work_tree() -> None:
    assert mach_nix.__file__ == str(REPO / "resolver" / "mach_nix" / "__init__.py")


def test_subprocesses_run_the_work_tree() -> None:
    code = "import mach_nix; print(mach_nix.__file__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == str(REPO / "resolver" / "mach_nix" / "__init__.py")
    assert CLI[:3] == [sys.executable, "-m", "mach_nix"]
