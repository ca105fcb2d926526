"""The inputs shared by ``lock``, ``resolve`` and ``env``: options, requirements, database.

:func:`add_inputs` adds the options, :func:`lock_from_args` reads them and runs
the resolution. Heavy modules are imported inside the functions: every command
line registers these options, most never use them.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mach_nix.errors import MachNixError, UsageError, describe_exit_codes
from mach_nix.platforms import SYSTEMS, python_range

if TYPE_CHECKING:
    from mach_nix.lock import Lock
    from mach_nix.requirements import RequirementSet
    from mach_nix.resolution.agreement import Agreement
    from mach_nix.resolution.versions import VersionLists
    from mach_nix.target import Target

COMMON_EPILOG = """\
inputs:
  Requirements come from -r FILE (requirements.txt syntax: PEP 508 lines,
  comments, '\\' continuations, -r/-c includes, 'name @ URL#sha256=…'), from
  --pyproject FILE (PEP 621 dependencies, --extra NAME, --group NAME) and from
  REQUIREMENT arguments, in that order; with none of them ./requirements.txt,
  else ./pyproject.toml. Local sources ('.', '-e ./lib', 'name @ file:///…'),
  archive URLs and 'git+https://…@REV' are read from their own files and pinned
  (paths relative to the lock); '--hash=sha256:…' is checked against the lock;
  --only-binary/--no-binary become provider orders; other pip options are
  honoured, ignored with a warning or refused, line by line.

providers:
  wheel (PyPI wheels for the target), sdist (PyPI source, built by Nix) and
  nixpkgs (recipes from the --nixpkgs-inventory). A package's candidates are
  tried provider by provider, newest version first. --provider _default=ORDER
  sets the order for every package you do not name; --provider NAME=ORDER
  overrides it for one package. Default: _default=wheel,sdist,nixpkgs.

target:
  Markers, Requires-Python and wheel tags are evaluated for --python and
  --system, never for the machine running mach-nix. --python 3.11 assumes a
  recent patch release; pass the exact 3.11.7 when python_full_version matters.
  Linux wheels up to manylinux_2_40 (--glibc) are accepted; macOS wheels up to
  the deployment target (--macos-target, default 11.0 on aarch64-darwin,
  10.12 on x86_64-darwin).

database:
  Given nothing, the database is the published one a pin file names, plus the
  cache of fetched metadata. The pin is $MACH_NIX_PIN (MACH_NIX_PIN=none: no pin),
  else ./pypi-data.json, else the one shipped with mach-nix (written by
  'mach-nix db pin --url URL'); its release is downloaded once, checked against
  the pin's sha256 and kept in ~/.cache/mach-nix/published. With no pin at all
  the cache alone is the database. Which one is used is said on stderr.
  --db DIR (repeatable: later layers win per release) replaces the published
  database; '--db default' names it, so '--db default --db ./mine' adds ./mine
  above it. $MACH_NIX_DB (directories separated by ':', 'default' allowed) is
  used when no --db is given. A project none of them holds is fetched from
  the registry (PyPI, or $MACH_NIX_INDEX_URL): its PEP 691 page, then the
  metadata of exactly the files the resolution tries, in parallel. What was
  fetched is kept in the cache of fetched metadata ($MACH_NIX_CACHE/db, else
  $XDG_CACHE_HOME/mach-nix/db), so that the same lock again needs no request.
  A --db
  stays the source of truth for the projects it holds (--refresh and
  --refresh-package NAME fetch them, or anything cached, again). Files
  uploaded after --exclude-newer DATE are not seen (default: the newest --db's
  crawl time, so that a --db and the cache resolve as the --db would have,
  plus what it lacks); the lock records it. --offline fetches nothing;
  --no-cache neither reads nor writes the cache. Resolution reads only the
  dependency graph; the lock needs the file index (hash, URL) of the chosen
  artifacts. A graph-only database fetches those shards from its files_url,
  checked by sha256, into ~/.cache/mach-nix/files ($MACH_NIX_CACHE/files).

exit codes:
""" + describe_exit_codes()


def add_requirement_files(parser: argparse.ArgumentParser, help: str) -> None:
    """Add ``-r/--requirement/--requirements FILE`` (pip's spelling first; both work)."""
    parser.add_argument(
        "-r",
        "--requirement",
        "--requirements",
        dest="requirements",
        action="append",
        default=[],
        metavar="FILE",
        help=help,
    )


def add_inputs(parser: argparse.ArgumentParser, positional: bool = True) -> None:
    """Add the options shared by ``lock`` and ``resolve`` (``positional=False``: without the
    REQUIREMENT arguments, for ``run``, whose positional arguments are the script's)."""
    if positional:
        parser.add_argument(
            "requirement", nargs="*", metavar="REQUIREMENT", help="a PEP 508 requirement, e.g. 'requests[socks]>=2.28'"
        )
    else:
        parser.set_defaults(requirement=[])
    add_requirement_files(parser, "a requirements.txt file (repeatable)")
    parser.add_argument(
        "-c",
        "--constraints",
        action="append",
        default=[],
        metavar="FILE",
        help="a constraints file: limits versions, adds no packages (repeatable)",
    )
    parser.add_argument("--pyproject", metavar="FILE", help="read PEP 621/735 requirements from a pyproject.toml")
    parser.add_argument(
        "--extra",
        action="append",
        default=[],
        metavar="NAME",
        help="with --pyproject: include this optional-dependencies extra (repeatable)",
    )
    parser.add_argument(
        "--group",
        action="append",
        default=[],
        metavar="NAME",
        help="with --pyproject: include this PEP 735 dependency group (repeatable)",
    )
    parser.add_argument(
        "--install-project",
        action="store_true",
        help="with --pyproject: lock the project itself too (a local source, as '.' in a requirements file)",
    )
    parser.add_argument("--pre", action="store_true", help="allow pre-releases everywhere")
    parser.add_argument(
        "--python",
        default="3.11",
        action=Repeatable,
        metavar="VERSION",
        help=f"target CPython: {python_range()}, as 3.11 or exactly 3.11.7 (default: 3.11; lock: repeatable)",
    )
    parser.add_argument(
        "--system",
        default="x86_64-linux",
        action=Repeatable,
        metavar="SYSTEM",
        help=f"target Nix system: {', '.join(SYSTEMS)} (default: x86_64-linux; lock: repeatable)",
    )
    parser.add_argument("--glibc", metavar="2.X", help="newest glibc for manylinux wheels (default: 2.40)")
    parser.add_argument("--macos-target", metavar="X.Y", help="macOS deployment target for darwin wheels")
    parser.add_argument(
        "--provider",
        action="append",
        default=[],
        metavar="NAME=ORDER",
        help="provider order, e.g. _default=wheel,sdist,nixpkgs or numba=wheel (repeatable)",
    )
    parser.add_argument(
        "--db",
        action="append",
        default=[],
        metavar="DIR",
        help="a PyPI database directory (repeatable; later layers win); replaces the published default,"
        " which 'default' names: --db default --db ./mine adds ./mine",
    )
    parser.add_argument(
        "--offline",
        action="store_true",
        help="never fetch: use only the databases and the cache of fetched metadata (an sdist whose build"
        " requirements the database does not know is then built with the package set's tools)",
    )
    parser.add_argument(
        "--refresh",
        action="store_true",
        help="fetch every project the resolution meets again, pinned or cached",
    )
    parser.add_argument(
        "--refresh-package",
        action="append",
        default=[],
        metavar="NAME",
        help="fetch this project again, pinned or cached (repeatable)",
    )
    parser.add_argument(
        "--exclude-newer",
        metavar="DATE",
        help="ignore fetched files uploaded after DATE (2024-05-01 or 2024-05-01T12:00:00Z; default: the newest"
        " --db's crawl time)",
    )
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="neither read nor write the cache of fetched metadata (what is fetched serves this run only)",
    )
    parser.add_argument(
        "--files-cache",
        action="append",
        default=[],
        metavar="DIR",
        help="more directories of file-index shards named by their sha256 (read-only)",
    )
    parser.add_argument(
        "--nixpkgs-inventory",
        metavar="FILE",
        help="JSON list of {attr, pname, version}: the Python packages of your nixpkgs",
    )


class Repeatable(argparse.Action):
    """An option whose last value is ``args.<dest>`` (as a plain option's) and whose values, in
    the order given, are ``args.<dest>_all`` (``--python``, ``--system``: :func:`targets_of`)."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        setattr(namespace, self.dest, values)
        setattr(namespace, self.dest + "_all", [*(getattr(namespace, self.dest + "_all", None) or []), values])


def targets_of(args: argparse.Namespace) -> list[tuple[str, str]]:
    """The ``(python, system)`` pairs the command line asks for: every ``--python`` with every
    ``--system`` (Python first, each in the order given, repeats dropped); one pair without
    repeated options."""
    pythons = getattr(args, "python_all", None) or [args.python]
    systems = getattr(args, "system_all", None) or [args.system]
    pairs = [(python, system) for python in pythons for system in systems]
    return list(dict.fromkeys(pairs))


def refuse_several_targets(args: argparse.Namespace, what: str) -> None:
    """Raise :class:`UsageError` when the command line asks for several targets, which ``what``
    (a command or option) cannot serve."""
    pairs = targets_of(args)
    if len(pairs) > 1:
        listed = ", ".join(f"{python} on {system}" for python, system in pairs)
        raise UsageError(
            f"{what} serves one target, but the command line asks for {len(pairs)} ({listed}): give one --python"
            " and one --system (only `mach-nix lock` writes one lock for several targets, as JSON)"
        )


def database_paths(args: argparse.Namespace) -> list[str]:
    """The pinned database layers, lowest priority first: ``--db``, else ``$MACH_NIX_DB``,
    else the default (:mod:`mach_nix.commands.defaults`: the published database the pin
    names, or none); ``default`` among ``--db``/``$MACH_NIX_DB`` stands for the default."""
    from mach_nix.commands import defaults

    fetch = not getattr(args, "offline", False)
    if args.db:
        return defaults.expand(list(args.db), fetch)
    env = os.environ.get("MACH_NIX_DB", "")
    paths = [p for p in env.split(os.pathsep) if p]
    return defaults.expand(paths, fetch) if paths else defaults.default_layers(fetch)


def uses_default(args: argparse.Namespace) -> bool:
    """Whether the database is the default one (no ``--db``, no ``$MACH_NIX_DB``)."""
    return not args.db and not [p for p in os.environ.get("MACH_NIX_DB", "").split(os.pathsep) if p]


def cache_layer(args: argparse.Namespace) -> Any:
    """The cache of fetched metadata (:class:`~mach_nix.db.cache_layer.CacheLayer`), or
    ``None`` with ``--no-cache``; one object per directory and process (the resolver
    server keeps the projects it decoded while the layer is unchanged)."""
    from mach_nix.db.cache_layer import CacheLayer, default_cache_dir, index_url

    if getattr(args, "no_cache", False):
        return None
    index = index_url()
    path = default_cache_dir(index)
    CacheLayer(path, index).wait()  # a save handed to a writer process may still run
    signature = _manifest_signature(str(path))
    cached = _CACHES.get((str(path), index))
    if cached is not None and cached[0] == signature:
        return cached[1]
    layer = CacheLayer(path, index)
    _CACHES[(str(path), index)] = (signature, layer)
    return layer


def cutoff_of(args: argparse.Namespace, pinned: Any) -> str | None:
    """The cut-off: ``--exclude-newer``, else the newest pinned layer's crawl time, else none."""
    from mach_nix.db.ondemand import parse_cutoff

    text = getattr(args, "exclude_newer", None)
    if text:
        try:
            return parse_cutoff(text)
        except ValueError:
            raise UsageError(
                f"--exclude-newer {text!r}: expected a date (2024-05-01) or a time (2024-05-01T12:00:00Z)"
            ) from None
    if pinned is None:
        return None
    times = [m.get("crawl_time") for m in pinned.manifests if isinstance(m.get("crawl_time"), str)]
    return max(times) if times else None


def open_db(args: argparse.Namespace) -> tuple[Any, VersionLists]:
    """The database of a resolution and its version lists (see the ``database:`` help).

    The pinned layers (:func:`database_paths`) and the cache of fetched metadata
    (:func:`cache_layer`) as one :class:`~mach_nix.db.ondemand.OnDemandSource`, which
    fetches what they lack unless ``--offline``; call its ``stop()`` afterwards, then
    :func:`save_in_background` (what was fetched goes into the cache). File-index shards
    of a graph-only database are cached in :func:`~mach_nix.db.files_cache.default_files_cache`
    and fetched (verified by sha256) unless ``--offline``.

    Raises:
        UsageError: no pinned database, ``--no-cache`` and ``--offline``.
    """
    from mach_nix.db.cache_layer import index_url
    from mach_nix.db.ondemand import OnDemandSource

    paths = [os.path.abspath(p) for p in database_paths(args)]
    offline = getattr(args, "offline", False)
    cache = cache_layer(args)
    if not paths and cache is None and offline:
        raise UsageError(
            "no PyPI database: --no-cache --offline leaves none (neither the cache nor the registry);"
            " pass --db DIR (e.g. --db tests/data/pypi-db), set MACH_NIX_DB, or pin a published database"
            " (mach-nix db pin --url URL)"
        )
    pinned, version_lists = _open_pinned(args, paths, not offline) if paths else (None, {})
    source = OnDemandSource(
        pinned,
        cache,
        None if offline else _connector(keep_build_requires=cache is not None),
        cutoff=cutoff_of(args, pinned),
        cutoff_given=bool(getattr(args, "exclude_newer", None)),
        refresh=True if getattr(args, "refresh", False) else getattr(args, "refresh_package", []),
        index=index_url(),
    )
    return source, version_lists


def _open_pinned(args: argparse.Namespace, paths: list[str], fetch: bool) -> tuple[Any, VersionLists]:
    """The pinned layers as one :class:`~mach_nix.db.reader.Database`, with their version lists
    (kept per process while their manifests are unchanged)."""
    from mach_nix.db.files_cache import FilesCache, default_files_cache
    from mach_nix.db.reader import open_layers

    caches = [default_files_cache(), *getattr(args, "files_cache", [])]
    key = (tuple(paths), tuple(str(c) for c in caches), fetch)
    signature = tuple(_manifest_signature(p) for p in paths)
    cached = _OPENED.get(key)
    if cached is not None and cached[0] == signature:
        return cached[1], cached[2]
    db = open_layers(paths, FilesCache(caches, connect=_shard_downloader if fetch else None))
    version_lists: VersionLists = {}
    _OPENED[key] = (signature, db, version_lists)
    return db, version_lists


#: Databases opened by this process, with the manifest signatures they were opened at and
#: the resolver's version lists of their projects. Only a long-lived process (the resolver
#: server) opens the same databases twice; it then reuses the projects already decoded and
#: their parsed versions, unless a manifest changed meanwhile.
_OPENED: dict[tuple, tuple[tuple, Any, VersionLists]] = {}
#: The caches of fetched metadata opened by this process, with their manifest signatures.
_CACHES: dict[tuple[str, str], tuple[tuple, Any]] = {}


def save_now(db: Any) -> None:
    """Write what ``db`` fetched into the cache, in this process."""
    from mach_nix.db.cache_writer import save_payload

    payload = db.to_save()
    if payload is not None:
        save_payload(db.cache, payload)


def save_in_background(db: Any) -> None:
    """Hand what ``db`` fetched to :mod:`mach_nix.db.cache_writer`, a process of its own, so
    that the lock is not delayed by writing the cache (seconds for a large stack); in this
    process when that one cannot start. The cache's ``.lock`` is taken here and held by the
    writer until it is done; readers wait for it."""
    import fcntl
    import pickle
    import subprocess
    import tempfile

    payload = db.to_save()
    if payload is None:
        return
    cache = db.cache
    handle = cache.lock_file()
    fcntl.flock(handle, fcntl.LOCK_EX)  # after any other writer
    try:
        with tempfile.NamedTemporaryFile(dir=cache.path, prefix=".payload-", delete=False) as spool:
            pickle.dump(payload, spool, protocol=pickle.HIGHEST_PROTOCOL)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        argv = [sys.executable, "-m", "mach_nix.db.cache_writer", str(handle.fileno()), str(cache.path), cache.index]
        with open(spool.name, "rb") as stdin:
            subprocess.Popen(
                argv,
                stdin=stdin,
                stdout=subprocess.DEVNULL,
                env=env,
                pass_fds=(handle.fileno(),),
                start_new_session=True,
            )
        os.unlink(spool.name)  # the writer has it open
    except OSError:
        from mach_nix.db.cache_writer import save_payload

        save_payload(cache, payload, lock=handle)
    finally:
        handle.close()  # the writer's copy keeps the lock until it is done


def _connector(keep_build_requires: bool = True) -> Callable[[], Any]:
    """What the source calls on its first fetch: the registry client and the thread pool
    (imported then: a resolution that fetches nothing does not pay for them).
    ``keep_build_requires``: an sdist downloaded for its metadata leaves its build
    requirements in the facts cache (:mod:`mach_nix.sdist_build`), so that the lock does
    not download it again when its wheel's metadata serves instead."""

    def connect() -> Any:
        from concurrent.futures import ThreadPoolExecutor

        from mach_nix.db.fetch import Fetcher
        from mach_nix.db.ondemand import CONCURRENCY, Connection
        from mach_nix.db.pep517 import HookRunner

        keep = None
        if keep_build_requires:
            from functools import partial

            from mach_nix.sdist_build import remember, user_cache

            keep = partial(remember, user_cache())

        executor = ThreadPoolExecutor(max_workers=CONCURRENCY, thread_name_prefix="mach-nix-fetch")
        return Connection(Fetcher(hooks=HookRunner, on_build_requires=keep), executor)

    return connect


def _shard_downloader() -> Callable[[str], bytes]:
    """The file-index shard downloader, made on the first fetch (most locks fetch nothing,
    and the HTTP client costs every lock a few ms to import)."""
    from mach_nix.db.http import shard_downloader

    return shard_downloader()


def _manifest_signature(path: str) -> tuple:
    """What changes when a database is rewritten (its manifest is replaced atomically)."""
    try:
        info = os.stat(os.path.join(path, "manifest.json"))
    except OSError:
        return ()
    return (info.st_ino, info.st_mtime_ns, info.st_size)


class SdistBuildFactsOf:
    """How a lock learns the build requirements of an sdist that borrowed a wheel's metadata
    (:class:`mach_nix.sdist_build.SdistBuildFacts`): downloaded unless ``--offline``, cached
    unless ``--no-cache``; the module is imported only when such an sdist is met."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.fetch = not getattr(args, "offline", False)
        self.no_cache = bool(getattr(args, "no_cache", False))
        self._facts: Any = None

    def _get(self) -> Any:
        if self._facts is None:
            from mach_nix.sdist_build import SdistBuildFacts, user_cache

            self._facts = SdistBuildFacts(fetch=self.fetch, cache=None if self.no_cache else user_cache())
        return self._facts

    def __call__(self, dist: Any, url: str | None) -> tuple[str, ...] | None:
        return self._get()(dist, url)

    def why_unknown(self, dist: Any) -> str:
        return self._get().why_unknown(dist)


def lock_from_args(
    args: argparse.Namespace,
    artifacts: bool = True,
    target: Target | None = None,
    agreement: Agreement | None = None,
    shown: set[str] | None = None,
) -> Lock:
    """Parse the shared inputs and run the resolution; return the Lock.

    ``artifacts=False`` skips the file index (hashes and URLs are left out). ``target``
    replaces the command line's (one of :func:`targets_of`; without it the command line must
    name one target); ``agreement`` carries versions to prefer
    (:mod:`mach_nix.resolution.agreement`). Warnings in ``shown`` are not printed again (the
    others are added): several targets warn once.
    """
    from mach_nix.inventory import Inventory, load_inventory
    from mach_nix.providers import ProviderConfig
    from mach_nix.resolution.resolve import resolve
    from mach_nix.target import Target

    if target is None:
        refuse_several_targets(args, f"`mach-nix {getattr(args, 'command', None) or 'lock'}`")
        target = Target.create(args.python, args.system, glibc=args.glibc, macos=args.macos_target)
    requirements = read_requirements(args)
    providers = ProviderConfig.from_options(_file_providers(requirements, args.provider) + list(args.provider))
    local = materializer = None
    if requirements.local or any(r.requirement.url for r in requirements.requirements):
        from mach_nix.local_projects import materialize

        local, materializer = materialize(requirements, lock_directory(args), offline=getattr(args, "offline", False))
    inventory = load_inventory(args.nixpkgs_inventory) if args.nixpkgs_inventory else Inventory()
    db, version_lists = open_db(args)
    try:
        lock = resolve(
            requirements,
            target,
            providers,
            db,
            inventory,
            artifacts=artifacts,
            version_lists=version_lists,
            local=local,
            agreement=agreement,
            build_facts=SdistBuildFactsOf(args),
        )
    except MachNixError:
        db.stop(wait=False)
        save_now(db)  # what was fetched is kept: whole projects only
        raise
    except BaseException:
        db.stop(wait=False)
        raise
    finally:
        if materializer is not None:
            materializer.close()
    db.stop()
    save_in_background(db)
    if uses_default(args):  # said once the resolution succeeded: an error stays the first line
        from mach_nix.commands.defaults import describe

        print(f"mach-nix: {describe(None if db.cache is None else str(db.cache.path))}", file=sys.stderr)
    summary = db.summary()
    if summary:
        print(f"mach-nix: {summary}", file=sys.stderr)
    for warning in lock.warnings:
        if shown is None or warning not in shown:
            print(f"mach-nix: warning: {warning}", file=sys.stderr)
    if shown is not None:
        shown.update(lock.warnings)
    if requirements.require_hashes and artifacts:
        from mach_nix.local_projects import check_hashes

        check_hashes(requirements, lock.packages)
    return lock


#: The inputs ``lock`` and ``resolve`` read when none is given, in this order.
DEFAULT_INPUTS = ("requirements.txt", "pyproject.toml")


def read_requirements(args: argparse.Namespace) -> RequirementSet:
    """The requirements of the command line: ``-r``, ``-c``, ``--pyproject`` (with
    ``--install-project``: the project itself, as ``.`` would), REQUIREMENT arguments; with
    none of them ``./requirements.txt``, else ``./pyproject.toml`` (said on stderr). Ignored
    options are warned about; ``--index-url`` lines are checked against the registry.

    Raises:
        UsageError: bad input, or nothing to resolve.
    """
    from mach_nix.requirements import LocalSpec, RequirementSet, add_line, parse_pyproject, parse_requirements_file

    requirements = RequirementSet(pre=args.pre)
    pyproject = args.pyproject
    files = list(args.requirements)
    if not files and not pyproject and not args.requirement:
        for name in DEFAULT_INPUTS:
            if os.path.isfile(name):
                print(f"mach-nix: reading ./{name} (no -r, --pyproject or REQUIREMENT given)", file=sys.stderr)
                if name == "requirements.txt":
                    files = [name]
                else:
                    pyproject = name
                break
    for path in files:
        requirements.extend(parse_requirements_file(path))
    for path in args.constraints:
        requirements.extend(parse_requirements_file(path, as_constraints=True))
    install_project = getattr(args, "install_project", False)
    if pyproject:
        if install_project:  # the project's groups; its dependencies come with the project
            dependencies = len(parse_pyproject(pyproject).requirements)
            grouped = parse_pyproject(pyproject, (), args.group)
            grouped.requirements = grouped.requirements[dependencies:]
            requirements.extend(grouped)
            directory = os.path.dirname(pyproject) or "."
            extras = frozenset(args.extra)
            requirements.local.append(LocalSpec("local", directory, f"{pyproject} (--install-project)", extras=extras))
        else:
            requirements.extend(parse_pyproject(pyproject, args.extra, args.group))
    elif args.extra or args.group or install_project:
        raise UsageError("--extra, --group and --install-project need --pyproject FILE")
    for index, text in enumerate(args.requirement):
        add_line(requirements, text, f"argument {index + 1}")
    if not requirements.requirements and not requirements.local:
        raise UsageError(
            "no requirements given: use -r FILE, --pyproject FILE or REQUIREMENT arguments"
            " (or run it where a requirements.txt or pyproject.toml is)"
        )
    for note in requirements.notes:
        print(f"mach-nix: warning: {note}", file=sys.stderr)
    if requirements.index_urls:
        from mach_nix.db.cache_layer import index_url
        from mach_nix.local_projects import check_index_urls

        check_index_urls(requirements, index_url())
    return requirements


def lock_directory(args: argparse.Namespace) -> Path:
    """The directory local paths are written relative to: where the command puts its lock
    (``args.lock_dir``, set by ``env`` and ``gen``), else the lock's (``-o FILE``), else the
    current one."""
    explicit = getattr(args, "lock_dir", None)
    if explicit is not None:
        return Path(os.path.abspath(explicit))
    output = getattr(args, "output", None)
    if output and output != "-":
        return Path(os.path.dirname(os.path.abspath(output)))
    return Path.cwd()


def _file_providers(requirements: RequirementSet, options: list[str]) -> list[str]:
    """The provider orders of ``--only-binary`` / ``--no-binary`` lines, for names the command
    line's ``--provider`` does not set (the command line wins)."""
    if not requirements.only_binary and not requirements.no_binary:
        return []
    from packaging.utils import canonicalize_name

    from mach_nix.local_projects import provider_options

    given = set()
    for option in options:
        key = option.partition("=")[0].strip()
        given.add(key if key == "_default" else canonicalize_name(key))
    return [option for option in provider_options(requirements) if option.partition("=")[0] not in given]
