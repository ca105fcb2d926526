"""Subcommand ``env``: write a ready-to-use Nix environment directory.

``mach-nix env DIR -r requirements.txt`` resolves now, writes the lock into DIR and the Nix
files that build it (no import-from-derivation needed), all or nothing:

    DIR/mach-nix.lock.json   the lock (docs/lock-format.md)
    DIR/sources.nix          where nixpkgs and mach-nix come from (pins; commands/nixsource.py)
    DIR/python.nix           the environment: mkPython { lock = ./mach-nix.lock.json; }
    DIR/shell.nix            mkPythonShell with it (and --editable projects);  DIR/default.nix = shell.nix
    DIR/.mach-nix-library    a garbage-collector root of the pinned mach-nix library

With ``--editable PROJECT`` (repeatable, ``PROJECT[extra,…]`` for extras), the projects'
pyproject.toml dependencies join the requirements and the shell imports the projects from
their source trees, with pip and uv installing into a venv over the Nix environment. A
``-e PATH`` line of the requirements is locked as an editable local source (its path
relative to DIR) and is editable in the shell the same way (lib/editable.nix ``fromLock``).

The files hold no absolute path of the machine: DIR works wherever it is moved with its
projects, and from any directory (``nix-shell path/to/DIR``).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from mach_nix import __version__
from mach_nix.commands import nixsource
from mach_nix.commands.inputs import COMMON_EPILOG, add_inputs, lock_from_args
from mach_nix.errors import UsageError

EXAMPLES = """\
examples:
  mach-nix env ./env -r requirements.txt --python 3.11
  nix-shell ./env                       # a shell with the environment
  nix-build ./env/python.nix            # the environment itself (result/bin/python)
  mach-nix env ./env --editable .       # a dev shell: the project imported from ./, pip install works
  mach-nix env ./env -r requirements.txt   # its `-e .` lines: editable in the shell too
  mach-nix env ./env -r requirements.txt --pkgs https://example.org/nixpkgs.tar.gz   # pinned nixpkgs
  mach-nix env ./env -r requirements.txt --mach-nix ~/src/mach-nix                  # a local checkout

sources:
  The files import mach-nix pinned by hash: by default this mach-nix's own Nix library,
  as fetchTarball of its release URL with the library's hash; the command adds the
  library to the Nix store, so it builds here at once (offline too), elsewhere from the
  URL. nixpkgs is <nixpkgs> unless --pkgs pins one.
"""


def register(subparsers) -> None:
    """Add ``env`` to the CLI."""
    parser = subparsers.add_parser(
        "env",
        help="write a directory with a lock and the Nix files that build it",
        description="Resolve requirements now and write DIR/mach-nix.lock.json plus sources.nix, python.nix, "
        "shell.nix and default.nix, so that `nix-shell DIR` gives the environment. "
        "Re-run the same command to update it.",
        epilog=EXAMPLES + "\n" + COMMON_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("directory", metavar="DIR", help="the directory to write (created if missing)")
    add_inputs(parser)
    parser.add_argument(
        "--editable",
        "-e",
        action="append",
        default=[],
        metavar="PROJECT",
        help="a project directory (with pyproject.toml; PROJECT[extra,…] for extras) that the shell imports "
        "from its source tree; its dependencies are resolved too (repeatable)",
    )
    nixsource.add_source_options(parser)
    parser.set_defaults(func=run_env)


def _editable(spec: str) -> tuple[Path, list[str]]:
    """``PROJECT`` or ``PROJECT[extra,…]``: the directory and the extras."""
    match = re.fullmatch(r"(.*?)\[([^\]]*)\]", spec)
    path, extras = (spec, [])
    if match:
        path, extras = match.group(1), [e.strip() for e in match.group(2).split(",") if e.strip()]
    directory = Path(path or ".")
    if not (directory / "pyproject.toml").is_file():
        raise UsageError(f"--editable {spec}: {directory} has no pyproject.toml (an editable project needs one)")
    return directory, extras


def _editable_entry(directory: Path, extras: list[str], base: Path) -> str:
    path = nixsource.nix_path(directory, base)
    if not extras:
        return path
    return f"{{ path = {path}; extras = [ {' '.join(nixsource.nix_string(e) for e in extras)} ]; }}"


def run_env(args: argparse.Namespace) -> int:
    """Resolve, then write the lock and the Nix files; all or nothing."""
    from mach_nix.requirements import parse_pyproject

    target = Path(args.directory)
    editable = [_editable(spec) for spec in args.editable]
    for directory, extras in editable:
        pyproject = directory / "pyproject.toml"
        args.requirement.extend(str(r) for r in parse_pyproject(pyproject, extras).requirements)
    if editable and not (args.requirement or args.requirements or args.pyproject):
        raise UsageError("the --editable projects have no dependencies and no requirements are given: nothing to lock")
    args.lock_dir = target  # the lock goes into DIR: local paths are relative to it
    lock = lock_from_args(args)  # raises before anything is written
    mach_nix = nixsource.mach_nix_source(args.mach_nix, target)
    nixpkgs = nixsource.nixpkgs_expr(args.pkgs, target)

    interpreter = nixsource.interpreter_attr(args)
    command = nixsource.regenerate_command(sys.argv[1:]) if sys.argv[1:2] == ["env"] else "mach-nix env …"
    header = f"# Generated by mach-nix {__version__}. Regenerate with:\n#   {command}\n"
    # `-e PATH` lines of the requirements are editable in the shell too (lib/editable.nix fromLock).
    editable_in_lock = any(
        entry.get("provider") == "local" and entry.get("source", {}).get("editable") for entry in lock.packages.values()
    )
    editable_line = ""
    if editable:
        entries = " ".join(_editable_entry(d, e, target) for d, e in editable)
        editable_line = f"  editable = [ {entries} ];\n"
    files = {
        target / "mach-nix.lock.json": lock.dumps(),
        target / "sources.nix": header
        + "# Where nixpkgs and mach-nix come from: edit (or regenerate with --pkgs / --mach-nix) to repin.\n"
        + "{\n"
        + f"  pkgs = {nixpkgs};\n"
        + f"  mach-nix = pkgs: import ({mach_nix.expr}) {{ inherit pkgs; }};\n"
        + "}\n",
        target / "python.nix": header
        + "# `nix-build` gives the environment (result/bin/python).\n"
        + "{ pkgs ? (import ./sources.nix).pkgs\n"
        + ", mach-nix ? (import ./sources.nix).mach-nix pkgs\n"
        + "}:\n"
        + "mach-nix.mkPython {\n"
        + "  lock = ./mach-nix.lock.json;\n"
        + f"  python = {nixsource.nix_string(interpreter)};\n"
        + "}\n",
        target / "shell.nix": header
        + "# `nix-shell` gives a shell with the environment"
        + (" (editable projects, pip installs into a venv over it)" if editable or editable_in_lock else "")
        + ".\n"
        + "{ pkgs ? (import ./sources.nix).pkgs\n"
        + ", mach-nix ? (import ./sources.nix).mach-nix pkgs\n"
        + "}:\n"
        + "mach-nix.mkPythonShell {\n"
        + "  lock = ./mach-nix.lock.json;\n"
        + f"  python = {nixsource.nix_string(interpreter)};\n"
        + editable_line
        + "}\n",
        target / "default.nix": "# Generated by mach-nix: `nix-shell DIR` uses shell.nix.\nimport ./shell.nix\n",
    }
    nixsource.write_files(files)
    nixsource.keep_in_store(mach_nix.store_path, target / ".mach-nix-library")
    print(f"mach-nix: wrote {target}/ ({len(lock.packages)} packages): nix-shell {target}", file=sys.stderr)
    return 0
