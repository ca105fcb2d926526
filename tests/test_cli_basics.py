"""The command line's own behaviour: --help, --version, exit codes, one version everywhere."""

from __future__ import annotations

import subprocess
import sys

import mach_nix
from nixhelpers import REPO


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mach_nix", *args], capture_output=True, text=True)


def test_version_is_the_same_everywhere():
    assert (REPO / "VERSION").read_text().strip() == mach_nix.__version__
    assert run("--version").stdout.strip() == f"mach-nix {mach_nix.__version__}"


def test_help_lists_commands_and_exit_codes():
    out = run("--help").stdout
    for word in ("lock", "resolve", "env", "db", "exit codes"):
        assert word in out


def test_no_command_is_a_usage_error():
    proc = run()
    assert proc.returncode == 2 and "usage:" in proc.stderr


def test_every_subcommand_has_help():
    for command in (["lock"], ["resolve"], ["env"], ["db", "crawl"], ["db", "update"], ["db", "info"]):
        proc = run(*command, "--help")
        assert proc.returncode == 0, command
        assert "example" in proc.stdout.lower(), command
