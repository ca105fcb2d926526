"""Subcommands ``lock`` (write a lock file) and ``resolve`` (show a resolution).

Both take the same inputs (:mod:`mach_nix.commands.inputs`); see ``mach-nix lock --help``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mach_nix.commands.inputs import COMMON_EPILOG, add_inputs, lock_from_args, refuse_several_targets, targets_of
from mach_nix.errors import UsageError

if TYPE_CHECKING:
    from mach_nix.lock import Lock

LOCK_EXAMPLES = """\
examples:
  mach-nix lock -r requirements.txt --python 3.11.7 --system x86_64-linux
      (no database needed: what is missing is fetched from PyPI into the cache;
       the same command again makes no request and writes the same bytes)
  mach-nix lock -r requirements.txt --db tests/data/pypi-db -o my.lock.json
      (the pinned database, plus what it lacks, as of its crawl time)
  mach-nix lock -r requirements.txt --offline           (only what is pinned or cached)
  mach-nix lock -r requirements.txt --refresh-package boto3 --exclude-newer 2024-06-01
  mach-nix lock --pyproject pyproject.toml --extra test --group dev
  mach-nix lock                       (reads ./requirements.txt, else ./pyproject.toml)
  mach-nix lock . 'git+https://github.com/org/lib@v1.2' -o mach-nix.lock.json
      (the project itself and a git source: read from their own files, pinned by path
       relative to the lock and by commit)
  mach-nix lock --pyproject pyproject.toml --install-project --extra test
  mach-nix lock 'requests[socks]' 'flask==1.0' --provider _default=wheel,sdist \\
      --provider numba=wheel --python 3.8
  mach-nix lock -r requirements.txt --format pylock     (PEP 751: writes pylock.toml)
  mach-nix lock --script script.py                      (PEP 723: writes script.py.lock.json)
  mach-nix lock -r requirements.txt --system x86_64-linux --system aarch64-darwin \\
      --python 3.11 --python 3.12
      (one lock for the four targets: mkPython picks its own; versions agree across
       them where the requirements allow, and where they differ stderr says why)
  mach-nix lock -r requirements.txt --system x86_64-linux --system aarch64-darwin --format pylock
      (one pylock.toml with an environment per target, entries marked where they differ)
  mach-nix lock -r requirements.txt --json | jq .providers   (a summary on stdout, for scripts)
"""

RESOLVE_EXAMPLES = """\
examples:
  mach-nix resolve -r requirements.txt
  mach-nix resolve 'boto3' 'botocore<1.30' --python 3.12     (fetches what it lacks)
  mach-nix resolve 'dask[complete]==2.22.0' --python 3.8 --db tests/data/pypi-db --offline
  mach-nix resolve -r requirements.txt --format json     (the lock, on stdout)
  mach-nix resolve -r requirements.txt --json | jq -r '.packages[] | "\\(.name)==\\(.version)"'
      (the resolved set as JSON, keys below)

resolve --json prints one object: {"target": {"python", "system", ...: the lock's
target}, "packages": [{"name", "version", "provider", "extras", "root",
"required_by", "nixpkgs_attr" (nixpkgs only)}, ...] (sorted by name),
"warnings": [...]}.
"""

LOCK_JSON = """lock --json prints one object on stdout when the lock is written: {"path": FILE,
"format": "json"|"pylock", "targets": [{"python", "system", "packages": N,
"providers": {"wheel": N, "sdist": N, "nixpkgs": N, ...}}], "packages": N (all
targets), "providers": {...} (all targets), "warnings": [...]}; with several targets also
"differences" (as in the lock: docs/lock-format.md "Several targets").
"""


def register(subparsers) -> None:
    """Add ``lock`` and ``resolve`` to the CLI."""
    lock = subparsers.add_parser(
        "lock",
        help="resolve requirements and write a lock file",
        description="Resolve requirements for a target interpreter and system against the PyPI "
        "databases (fetching what they lack, unless --offline), and write the lock file "
        "(docs/lock-format.md) that mkPython { lock = ./mach-nix.lock.json; } builds without "
        "import-from-derivation. Every sdist's build system is locked too, as its own closure of "
        "wheels (build_packages); one that cannot be is named in a warning.",
        epilog=LOCK_EXAMPLES + "\n" + LOCK_JSON + "\n" + COMMON_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_inputs(lock)
    lock.add_argument(
        "-o",
        "--output",
        default=None,
        metavar="FILE",
        help="where to write the lock ('-' for stdout; default: mach-nix.lock.json, pylock.toml with --format "
        "pylock, SCRIPT.lock.json beside a --script)",
    )
    lock.add_argument(
        "--format",
        choices=("json", "pylock"),
        default="json",
        help="json: the mach-nix lock (docs/lock-format.md, default); pylock: PEP 751 pylock.toml (docs/pylock.md)",
    )
    lock.add_argument(
        "--script",
        metavar="SCRIPT",
        help="lock the dependencies of a PEP 723 script's `# /// script` block (see `mach-nix run --help`)",
    )
    lock.add_argument(
        "--native-needs",
        choices=NATIVE_NEEDS_MODES,
        default=None,
        help="record the shared libraries each Linux native wheel needs (artifact.needed): fetch (read the "
        "ELF files of wheels not in the cache, by HTTP range requests), cache (only what "
        "~/.cache/mach-nix/native holds), off. Default: $MACH_NIX_NATIVE_NEEDS, else fetch (cache with --offline)",
    )
    lock.add_argument(
        "--needs-cache",
        action="append",
        default=[],
        metavar="DIR",
        help="more directories of recorded wheel facts, laid out like ~/.cache/mach-nix/native (read-only)",
    )
    lock.add_argument(
        "--json", action="store_true", help="print a summary of the written lock as JSON on stdout (keys: see below)"
    )
    lock.set_defaults(func=run_lock)

    resolve = subparsers.add_parser(
        "resolve",
        help="resolve requirements and show the result",
        description="Resolve requirements like 'lock' does and print what would be installed: "
        "name, version, provider and who requires it.",
        epilog=RESOLVE_EXAMPLES + "\n" + COMMON_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_inputs(resolve)
    resolve.add_argument(
        "--format", choices=("table", "json"), default="table", help="table (default) or json (the lock document)"
    )
    resolve.add_argument(
        "--json", action="store_true", help="print the resolved set as JSON (keys: see below; no hashes or URLs)"
    )
    resolve.set_defaults(func=run_resolve)


#: ``--native-needs`` modes (:data:`mach_nix.native_needs.MODES`, repeated: the parser must not import it).
NATIVE_NEEDS_MODES = ("fetch", "cache", "off")


def native_needs_mode(args: argparse.Namespace) -> str:
    """The ``--native-needs`` mode: the option, else ``$MACH_NIX_NATIVE_NEEDS``, else fetch;
    ``--offline`` turns fetch into cache."""
    mode = args.native_needs or os.environ.get("MACH_NIX_NATIVE_NEEDS") or "fetch"
    if mode not in NATIVE_NEEDS_MODES:
        raise UsageError(f"MACH_NIX_NATIVE_NEEDS={mode!r}: use one of {', '.join(NATIVE_NEEDS_MODES)}")
    if mode == "fetch" and getattr(args, "offline", False):
        mode = "cache"
    return mode


def record_native_needs(lock, args: argparse.Namespace, shown: set[str] | None = None) -> list[str]:
    """The lock's post-pass: ``artifact.needed`` of its native wheels (:mod:`mach_nix.native_needs`);
    returns its warnings. Warnings in ``shown`` are not printed again (see
    :func:`~mach_nix.commands.inputs.lock_from_args`)."""
    from mach_nix.errors import NetworkError
    from mach_nix.native_needs import NativeNeedsError, NeedsCache, default_cache_dir, record_needs

    cache = NeedsCache(default_cache_dir(), [Path(d) for d in args.needs_cache])
    try:
        warnings = record_needs(lock.data, native_needs_mode(args), cache, progress=True)
    except NativeNeedsError as error:
        raise NetworkError(
            f"cannot read the shared libraries a wheel needs: {error}. Lock with --native-needs cache "
            "(or off) to leave them to the Nix side's defaults"
        ) from None
    for warning in warnings:
        if shown is None or warning not in shown:
            print(f"mach-nix: warning: {warning}", file=sys.stderr)
    if shown is not None:
        shown.update(warnings)
    return warnings


def run_lock(args: argparse.Namespace) -> int:
    """``mach-nix lock``: write the lock file (``--format pylock``: as pylock.toml, :mod:`mach_nix.pylock`)."""
    from mach_nix.commands import run

    pylock = args.format == "pylock"
    if args.json and args.output == "-":
        raise UsageError("--json prints a summary on stdout, where -o - would print the lock: give -o FILE")
    if len(targets_of(args)) > 1:
        return run_lock_targets(args)
    if args.script:
        lock = run.script_lock(args, Path(args.script))
        default = str(run.script_lock_path(Path(args.script), pylock))
    else:
        lock = lock_from_args(args)
        default = "pylock.toml" if pylock else "mach-nix.lock.json"
    needs_warnings = record_native_needs(lock, args)
    output = args.output or default
    if pylock:
        write_pylock(lock, output)
    elif output == "-":
        sys.stdout.write(lock.dumps())
    else:
        lock.write(Path(output))
    if output != "-":
        print(f"mach-nix: wrote {output} ({len(lock.packages)} packages)", file=sys.stderr)
    if args.json:
        print(json.dumps(lock_summary([lock], output, args.format, needs_warnings), indent=1, sort_keys=True))
    return 0


def run_lock_targets(args: argparse.Namespace) -> int:
    """``mach-nix lock`` with several ``--python``/``--system``: one container of a lock per target,
    versions agreeing where they can (:mod:`mach_nix.targets`); the differences on stderr."""
    from mach_nix.errors import MachNixError
    from mach_nix.resolution.agreement import Agreement
    from mach_nix.target import Target
    from mach_nix.targets import lock_targets

    if args.script:
        refuse_several_targets(args, "--script")
    pairs = targets_of(args)
    linux = [system.endswith("-linux") for _python, system in pairs]
    if args.glibc is not None and not any(linux):
        raise UsageError("--glibc only applies to *-linux systems")
    if args.macos_target is not None and all(linux):
        raise UsageError("--macos-target only applies to *-darwin systems")
    targets = [  # --glibc for the Linux targets, --macos-target for the Darwin ones
        Target.create(
            python, system, glibc=args.glibc if is_linux else None, macos=None if is_linux else args.macos_target
        )
        for (python, system), is_linux in zip(pairs, linux, strict=True)
    ]

    shown: set[str] = set()  # each warning once, not once per target
    needs_warnings: list[str] = []

    def resolve_one(target: Target, agreement: Agreement) -> Lock:
        try:
            lock = lock_from_args(args, target=target, agreement=agreement, shown=shown)
        except MachNixError:
            print(f"mach-nix: the target CPython {target.python} on {target.system} failed:", file=sys.stderr)
            raise
        needs_warnings.extend(record_native_needs(lock, args, shown))
        return lock

    result = lock_targets(resolve_one, targets)
    if args.format == "pylock":
        # One pylock.toml: an `environments` entry per target, entries marked where targets differ.
        output = args.output or "pylock.toml"
        write_pylock(list(result.locks.values()), output)
    else:
        output = args.output or "mach-nix.lock.json"
        if output == "-":
            sys.stdout.write(result.dumps())
        else:
            result.write(Path(output))
    report = result.report()
    agree = "versions agree" if not report else f"versions agree but for {len(report)} name{'s' * (len(report) != 1)}"
    print(f"mach-nix: {len(targets)} targets ({', '.join(result.locks)}): {agree}", file=sys.stderr)
    for line in report:
        print(f"  {line}", file=sys.stderr)
    if output != "-":
        counts = ", ".join(str(len(lock.packages)) for lock in result.locks.values())
        print(f"mach-nix: wrote {output} ({counts} packages)", file=sys.stderr)
    if args.json:
        summary = lock_summary(list(result.locks.values()), output, args.format, needs_warnings)
        summary["differences"] = result.differences
        print(json.dumps(summary, indent=1, sort_keys=True))
    return 0


def lock_summary(locks: Sequence[Lock], path: str, fmt: str, warnings: Sequence[str] = ()) -> dict[str, Any]:
    """The ``lock --json`` summary of the written lock(s) ``locks`` (one per target) at ``path``
    (keys: :data:`LOCK_JSON`); ``warnings``: more than the locks' own (e.g. native needs)."""
    targets = []
    names: set[str] = set()
    providers: Counter[str] = Counter()
    for lock in locks:
        counts = Counter(entry["provider"] for entry in lock.packages.values())
        target = lock.data["target"]
        targets.append(
            {
                "python": target["python"],
                "system": target["system"],
                "packages": len(lock.packages),
                "providers": dict(sorted(counts.items())),
            }
        )
        names.update(lock.packages)
        providers.update(counts)
    return {
        "path": path,
        "format": fmt,
        "targets": targets,
        "packages": len(names),
        "providers": dict(sorted(providers.items())),
        "warnings": sorted({*(w for lock in locks for w in lock.warnings), *warnings}),
    }


def resolution_json(lock: Lock) -> dict[str, Any]:
    """The ``resolve --json`` object of a resolution (keys: :data:`RESOLVE_EXAMPLES`)."""
    required_by = lock.required_by()
    packages = []
    for name in sorted(lock.packages):
        entry = lock.packages[name]
        item = {
            "name": name,
            "version": entry["version"],
            "provider": entry["provider"],
            "extras": list(entry["extras"]),
            "root": bool(entry["root"]),
            "required_by": [parent for parent in required_by[name] if parent != "<root>"],
        }
        if entry.get("nixpkgs_attr"):
            item["nixpkgs_attr"] = entry["nixpkgs_attr"]
        packages.append(item)
    return {"target": lock.data["target"], "packages": packages, "warnings": list(lock.warnings)}


def write_pylock(lock, output: str) -> None:
    """Write the lock (or the locks of several targets, a list) as pylock.toml to ``output``
    ('-': stdout); whole or not at all (the text is made first), and a warning when the name is
    not one PEP 751 allows."""
    import re

    from mach_nix.lock import write_whole
    from mach_nix.pylock import to_pylock_targets

    text = to_pylock_targets([one.data for one in lock] if isinstance(lock, list) else [lock.data])
    if output == "-":
        sys.stdout.write(text)
        return
    if not re.fullmatch(r"pylock\.([^.]+\.)?toml", Path(output).name):
        print(
            f"mach-nix: warning: {output}: PEP 751 names lock files pylock.toml or pylock.NAME.toml",
            file=sys.stderr,
        )
    write_whole(Path(output), text)


def format_table(lock) -> str:
    """The resolution as an aligned text table."""
    required_by = lock.required_by()
    rows = [("name", "version", "provider", "required by")]
    for name, entry in lock.packages.items():
        extras = f"[{','.join(entry['extras'])}]" if entry["extras"] else ""
        provider = entry["provider"]
        if provider == "nixpkgs":
            provider = f"nixpkgs ({entry['nixpkgs_attr']})"
        rows.append((name + extras, entry["version"], provider, ", ".join(required_by[name])))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = []
    for row in rows:
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:3])) + "  " + row[3])
    lines.insert(1, "  ".join("-" * w for w in widths) + "  " + "-" * len(rows[0][3]))
    target = lock.data["target"]
    extra = f"glibc {target['glibc']}" if target.get("glibc") else f"macOS {target.get('macos')}"
    lines.append(f"\n{len(lock.packages)} packages for CPython {target['python']} on {target['system']} ({extra})")
    return "\n".join(line.rstrip() for line in lines) + "\n"


def run_resolve(args: argparse.Namespace) -> int:
    """``mach-nix resolve``: print the resolution."""
    if args.json and args.format == "json":
        raise UsageError("--json and --format json are two outputs: --json the resolved set, --format json the lock")
    lock = lock_from_args(args, artifacts=args.format == "json")
    if args.json:
        print(json.dumps(resolution_json(lock), indent=1, sort_keys=True))
    elif args.format == "json":
        sys.stdout.write(lock.dumps())
    else:
        sys.stdout.write(format_table(lock))
    return 0
