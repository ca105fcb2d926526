"""Subcommand ``run``: run a PEP 723 script in a Nix-built environment of its dependencies.

``mach-nix run script.py [ARGS…]`` reads the script's ``# /// script`` block
(:mod:`mach_nix.scripts`), resolves its ``dependencies`` for the target (the options of
``mach-nix lock``: ``--db``, ``--offline``, ``--python``, …), builds the environment with
Nix (``mkPython { lock = …; }``, as the files of ``mach-nix env`` do) and executes the
script with that environment's ``python``: the arguments after the script are the
script's, its exit code is ``run``'s (the process *becomes* the script's interpreter).

**The cache.** The built environment is kept under ``<cache>/scripts/<key>/``
(``$MACH_NIX_CACHE``, else ``$XDG_CACHE_HOME/mach-nix``, else ``~/.cache/mach-nix``), where
``key`` hashes the lock's bytes, the interpreter attribute, the nixpkgs and the mach-nix
library (the content of its files). The directory holds the lock, ``default.nix`` and
``result``, a garbage-collector root of the environment: a second run of the same script
with the same inputs resolves (from the cache of fetched metadata, no request), finds
``result`` and starts the script without calling Nix at all. ``nix-collect-garbage`` keeps
it; deleting the directory lets the collector free it.

``mach-nix lock --script script.py`` writes the script's lock instead
(:func:`script_lock`, default ``script.py.lock.json`` beside it, as uv writes
``script.py.lock``; with ``--format pylock``, ``pylock.script.toml``).

A script with no block (or no ``dependencies``) runs with no dependencies: its lock has
no packages, and the environment is the bare interpreter.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from mach_nix import progress
from mach_nix.commands import nixsource
from mach_nix.commands.inputs import COMMON_EPILOG, add_inputs, lock_from_args
from mach_nix.errors import UsageError

if TYPE_CHECKING:
    from mach_nix.lock import Lock

EXAMPLES = """\
examples:
  mach-nix run script.py                       # resolve, build (once), run
  mach-nix run script.py --verbose input.csv   # everything after the script is the script's
  mach-nix run --python 3.12 --offline script.py
  mach-nix run --db tests/data/pypi-db --pkgs ~/src/nixpkgs script.py
  mach-nix lock --script script.py             # writes script.py.lock.json beside it

a script with inline metadata (PEP 723):
  # /// script
  # requires-python = ">=3.11"
  # dependencies = ["requests<3", "rich"]
  # ///
  import requests, rich

  Only `dependencies` and `requires-python` are read; [tool] tables are other tools'.
  A script without the block runs with no dependencies. The environment is cached by
  its lock under ~/.cache/mach-nix/scripts ($MACH_NIX_CACHE/scripts): the second run
  builds nothing.
"""


def register(subparsers) -> None:
    """Add ``run`` to the CLI."""
    parser = subparsers.add_parser(
        "run",
        help="run a PEP 723 script in a Nix-built environment of its inline dependencies",
        description="Read the script's `# /// script` block, resolve its dependencies like `mach-nix lock`, "
        "build the environment with Nix (cached by its lock) and run the script with its python, "
        "passing the arguments after the script and its exit code through.",
        epilog=EXAMPLES + "\n" + COMMON_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_inputs(parser, positional=False)
    nixsource.add_source_options(parser)
    parser.add_argument("script", metavar="SCRIPT", help="the Python script (with PEP 723 inline metadata)")
    parser.add_argument("args", nargs=argparse.REMAINDER, metavar="ARGS", help="the script's arguments")
    parser.set_defaults(func=run_run)


def script_lock_path(script: Path, pylock: bool = False) -> Path:
    """Where ``lock --script`` writes by default: ``script.py.lock.json`` beside the script, or
    ``pylock.script.toml`` (PEP 751's ``pylock.NAME.toml``, NAME without dots)."""
    if pylock:
        stem = script.name.removesuffix(".py").replace(".", "-") or "script"
        return script.with_name(f"pylock.{stem}.toml")
    return script.with_name(script.name + ".lock.json")


def empty_lock(args: argparse.Namespace) -> Lock:
    """The lock of no requirements for the target of ``args``: no resolution, no database."""
    from mach_nix.inventory import Inventory, load_inventory
    from mach_nix.lock import build_lock
    from mach_nix.providers import ProviderConfig
    from mach_nix.requirements import RequirementSet
    from mach_nix.target import Target

    target = Target.create(args.python, args.system, glibc=args.glibc, macos=args.macos_target)
    providers = ProviderConfig.from_options(args.provider)
    inventory = load_inventory(args.nixpkgs_inventory) if args.nixpkgs_inventory else Inventory()
    return build_lock({}, RequirementSet(pre=args.pre), target, providers, inventory)


def script_lock(args: argparse.Namespace, script: Path) -> Lock:
    """The lock of a script's dependencies (plus any requirements ``args`` give), for the
    target of ``args``.

    Raises:
        UsageError: a malformed block, or a target Python the script's ``requires-python``
            excludes (naming the line and the ``--python`` that fits).
    """
    from mach_nix.scripts import check_python, read_script
    from mach_nix.target import parse_python_version

    metadata = read_script(script)
    check_python(metadata, parse_python_version(args.python))
    args.requirement = [*args.requirement, *(str(d.requirement) for d in metadata.dependencies)]
    if args.requirement or args.requirements or args.pyproject:
        return lock_from_args(args)
    return empty_lock(args)


def _library_digest(args: argparse.Namespace) -> str:
    """What identifies the mach-nix library the environment is built with: ``--mach-nix`` as
    given (a URL) or resolved (a directory), else the content of this CLI's own library."""
    if args.mach_nix:
        value = str(args.mach_nix)
        return os.path.abspath(value) if os.path.isdir(value) else value
    digest = hashlib.sha256()
    for relative, path in nixsource.library_files():
        digest.update(relative.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def cache_key(lock: Lock, args: argparse.Namespace, interpreter: str) -> str:
    """The environment's key: the lock's bytes, the interpreter, nixpkgs and mach-nix."""
    pkgs = args.pkgs or ""
    if pkgs and os.path.isdir(pkgs):
        pkgs = os.path.abspath(pkgs)
    document = {"lock": lock.dumps(), "interpreter": interpreter, "pkgs": pkgs, "mach_nix": _library_digest(args)}
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()[:32]


def scripts_cache() -> Path:
    """``$MACH_NIX_CACHE/scripts``, else ``$XDG_CACHE_HOME/mach-nix/scripts``, else ``~/.cache/mach-nix/scripts``."""
    from mach_nix.db.cache_layer import cache_root

    return cache_root() / "scripts"


def built_environment(lock: Lock, args: argparse.Namespace, script: Path) -> Path:
    """The environment of ``lock`` (its store path), built by Nix unless the cache has it."""
    interpreter = nixsource.interpreter_attr(args)
    directory = scripts_cache() / cache_key(lock, args, interpreter)
    result = directory / "result"
    if (result / "bin" / "python").exists():
        return result.resolve()
    mach_nix = nixsource.mach_nix_source(args.mach_nix, directory)
    nixpkgs = nixsource.nixpkgs_expr(args.pkgs, directory)
    expression = (
        f"# Generated by mach-nix run for {script.name}: the environment of its lock.\n"
        "let\n"
        f"  pkgs = {nixpkgs};\n"
        f"  mach-nix = import ({mach_nix.expr}) {{ inherit pkgs; }};\n"
        "in\n"
        "mach-nix.mkPython {\n"
        "  lock = ./mach-nix.lock.json;\n"
        f"  python = {nixsource.nix_string(interpreter)};\n"
        "}\n"
    )
    nixsource.write_files({directory / "mach-nix.lock.json": lock.dumps(), directory / "default.nix": expression})
    nixsource.keep_in_store(mach_nix.store_path, directory / ".mach-nix-library")
    print(
        f"mach-nix: building the environment of {script.name} ({len(lock.packages)} packages) in {directory}",
        file=sys.stderr,
    )
    command = ["nix-build", str(directory / "default.nix"), "--out-link", str(result)]
    try:
        proc = subprocess.run(command, stdout=subprocess.PIPE, stderr=None if progress.wanted() else subprocess.PIPE)
    except FileNotFoundError:
        raise UsageError("mach-nix run needs Nix's `nix-build` on PATH: install Nix") from None
    if proc.returncode != 0:
        detail = (proc.stderr or b"").decode(errors="replace").strip()[-3000:]
        raise UsageError(
            f"building the environment of {script} failed ({' '.join(command)})" + (f":\n{detail}" if detail else "")
        )
    return result.resolve()


def run_run(args: argparse.Namespace) -> int:
    """``mach-nix run``: lock, build (unless cached), then become the script's interpreter."""
    script = Path(args.script)
    if not script.is_file():
        raise UsageError(f"no script {args.script}: pass the path of a Python file")
    lock = script_lock(args, script)
    environment = built_environment(lock, args, script)
    python = environment / "bin" / "python"
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(python, [str(python), str(script), *args.args])
    return 0  # pragma: no cover (execv does not return)
