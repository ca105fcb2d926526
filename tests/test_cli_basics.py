"""The command line's own behaviour: --help, --version, exit codes, one version everywhere."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys

import mach_nix
from mach_nix import cli
from mach_nix.errors import EXIT_CODES, ExitCode, describe_exit_codes
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
    for command in ([], ["lock"], ["resolve"], ["env"]):
        assert describe_exit_codes() in run(*command, "--help").stdout, command


def test_exit_codes_have_one_text_everywhere():
    codes = {v: k for k, v in vars(ExitCode).items() if not k.startswith("_")}
    assert set(EXIT_CODES) == set(codes), "every ExitCode needs its meaning in EXIT_CODES"
    readme = (REPO / "README.md").read_text()
    table = dict(re.findall(r"^\| (\d+) \| (.+?) \|$", readme, re.M))
    assert {int(code): meaning for code, meaning in table.items()} == EXIT_CODES


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """Every parser below ``parser``, by its command line (``"db crawl"``)."""
    found = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found[name] = sub
                found.update({f"{name} {deeper}": p for deeper, p in subcommands(sub).items()})
    return found


def test_a_command_parses_as_with_every_command_registered():
    """The CLI builds only the parser of the command it runs: same help, same results."""
    full = cli.build_parser()
    every = subcommands(full)
    for command in cli.COMMAND_MODULES:
        alone = subcommands(cli.build_parser(command))
        assert command in alone and set(alone) < set(every)
        for name, sub in alone.items():
            assert sub.format_help() == every[name].format_help(), name
    for argv in (
        ["lock", "-r", "reqs.txt", "six", "--python", "3.12", "--provider", "six=sdist"],
        ["resolve", "--format", "json", "black"],
        ["env", "DIR", "six", "--interpreter", "python312"],
        ["db", "crawl", "--db", "DIR", "--closure", "six"],
        ["server", "start", "--idle", "60"],
    ):
        assert vars(cli.build_parser(argv[0]).parse_args(argv)) == vars(full.parse_args(argv)), argv


def test_no_command_is_a_usage_error():
    proc = run()
    assert proc.returncode == 2 and "usage:" in proc.stderr


def test_every_subcommand_has_help():
    for command in (["lock"], ["resolve"], ["env"], ["db", "crawl"], ["db", "update"], ["db", "info"]):
        proc = run(*command, "--help")
        assert proc.returncode == 0, command
        assert "example" in proc.stdout.lower(), command
