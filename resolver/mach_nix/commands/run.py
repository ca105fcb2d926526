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
``result``, a garbage-collector root of the environment. ``nix-collect-garbage`` keeps it;
deleting the directory lets the collector free it.

**Resolving once.** Before resolving, :func:`inputs_key` hashes what the resolution reads:
the script's ``dependencies`` and ``requires-python``, the target (``--python``,
``--system``, ``--glibc``, ``--macos-target``), ``--provider``, ``--pre``, ``--offline``,
``--exclude-newer``, the ``--nixpkgs-inventory`` file's content, the registry
(``$MACH_NIX_INDEX_URL``), the identity of every pinned database layer (its path and the
manifest's ``shards_sha256``: a published pin's release, a ``--db``), the resolver's code
(:func:`mach_nix.server.client.code_key`) and what the environment key holds besides the
lock. ``<cache>/scripts/inputs/<key>`` names the environment those inputs locked to; when
that environment is built, a second run starts the script without resolving (no database
is opened) and without calling Nix. Any changed input resolves again. The cache of fetched
metadata is not part of the key: it only grows (a project is fetched again only with
``--refresh``), so resolving again would read the same. Inputs that can change unseen are
never keyed: ``-r``, ``-c``, ``--pyproject``, a dependency given by URL (a local path, an
archive, a VCS branch), ``--refresh``, ``--refresh-package`` and ``--no-cache`` always
resolve.

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
from mach_nix.commands.inputs import (
    COMMON_EPILOG,
    add_inputs,
    database_paths,
    lock_from_args,
    refuse_several_targets,
)
from mach_nix.errors import UsageError

if TYPE_CHECKING:
    from mach_nix.lock import Lock
    from mach_nix.scripts import ScriptMetadata

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
  builds nothing, and with unchanged inputs (the block, the target and provider options,
  the pinned databases) it does not resolve either; -r, -c, --pyproject, URL
  dependencies, --refresh and --no-cache always resolve.
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


def script_lock(args: argparse.Namespace, script: Path, metadata: ScriptMetadata | None = None) -> Lock:
    """The lock of a script's dependencies (plus any requirements ``args`` give), for the
    target of ``args``; ``metadata``: the script's block, already read and checked.

    Raises:
        UsageError: a malformed block, or a target Python the script's ``requires-python``
            excludes (naming the line and the ``--python`` that fits).
    """
    if metadata is None:
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


def environment_directory(lock: Lock, args: argparse.Namespace) -> Path:
    """Where the environment of ``lock`` is kept: ``<cache>/scripts/<cache_key>``."""
    return scripts_cache() / cache_key(lock, args, nixsource.interpreter_attr(args))


def built_environment(lock: Lock, args: argparse.Namespace, script: Path) -> Path:
    """The environment of ``lock`` (its store path), built by Nix unless the cache has it."""
    interpreter = nixsource.interpreter_attr(args)
    directory = environment_directory(lock, args)
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


def _layer_identity(path: str) -> dict[str, str] | None:
    """A pinned layer as the inputs key holds it: its absolute path and its manifest's
    ``shards_sha256`` (which changes with every generation written); ``None`` when the
    manifest cannot be read (the resolution then reports it)."""
    try:
        with open(os.path.join(path, "manifest.json"), "rb") as handle:
            shards = json.load(handle).get("shards_sha256")
    except (OSError, ValueError, AttributeError):
        return None
    return {"path": os.path.abspath(path), "shards_sha256": shards} if isinstance(shards, str) else None


def inputs_key(args: argparse.Namespace, metadata: ScriptMetadata) -> str | None:
    """The key of what resolving the script of ``metadata`` with ``args`` reads (see the module
    docstring), or ``None`` when the inputs cannot be keyed (they must be resolved each time)."""
    from mach_nix.db.cache_layer import index_url
    from mach_nix.server.client import code_key

    unkeyed = args.requirements or args.constraints or args.pyproject or args.refresh or args.refresh_package
    if unkeyed or args.no_cache or any(d.requirement.url for d in metadata.dependencies):
        return None
    layers = [_layer_identity(path) for path in database_paths(args)]
    if None in layers:
        return None
    inventory = None
    if args.nixpkgs_inventory:
        try:
            inventory = hashlib.sha256(Path(args.nixpkgs_inventory).read_bytes()).hexdigest()
        except OSError:
            return None
    pkgs = args.pkgs or ""
    document = {
        "dependencies": [str(d.requirement) for d in metadata.dependencies],
        "requires_python": None if metadata.requires_python is None else str(metadata.requires_python),
        "target": [args.python, args.system, args.glibc, args.macos_target],
        "provider": list(args.provider),
        "pre": args.pre,
        "offline": args.offline,
        "exclude_newer": args.exclude_newer,
        "inventory": inventory,
        "index": index_url(),
        "databases": layers,
        "resolver": code_key(),
        "interpreter": nixsource.interpreter_attr(args),
        "pkgs": os.path.abspath(pkgs) if pkgs and os.path.isdir(pkgs) else pkgs,
        "mach_nix": _library_digest(args),
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()[:32]


def remembered_environment(key: str) -> Path | None:
    """The built environment (its store path) the inputs of ``key`` locked to last time, if
    its directory still holds it."""
    try:
        name = (scripts_cache() / "inputs" / key).read_text().strip()
    except OSError:
        return None
    result = scripts_cache() / name / "result"
    if not name or "/" in name or not (result / "bin" / "python").exists():
        return None
    return result.resolve()


def remember_environment(key: str, directory: Path) -> None:
    """Record that the inputs of ``key`` lock to the environment kept in ``directory``. A record
    that cannot be written (a full disk, a concurrent run writing the same one) is left out:
    the next run then resolves, as without it."""
    try:
        nixsource.write_files({scripts_cache() / "inputs" / key: directory.name + "\n"})
    except OSError:
        pass


def run_run(args: argparse.Namespace) -> int:
    """``mach-nix run``: lock (unless the inputs are unchanged), build (unless cached), then
    become the script's interpreter."""
    from mach_nix.scripts import check_python, read_script
    from mach_nix.target import parse_python_version

    script = Path(args.script)
    if not script.is_file():
        raise UsageError(f"no script {args.script}: pass the path of a Python file")
    refuse_several_targets(args, "`mach-nix run`")
    metadata = read_script(script)
    check_python(metadata, parse_python_version(args.python))
    key = inputs_key(args, metadata) if metadata.dependencies else None
    environment = None if key is None else remembered_environment(key)
    if environment is None:
        lock = script_lock(args, script, metadata)
        environment = built_environment(lock, args, script)
        if key is not None:
            remember_environment(key, environment_directory(lock, args))
    python = environment / "bin" / "python"
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(python, [str(python), str(script), *args.args])
    return 0  # pragma: no cover (execv does not return)
