"""Subcommands ``mach-nix db crawl|update|retry|info|slim|publish|pin``: build, refresh, inspect, publish a DB."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mach_nix.commands.inputs import add_requirement_files
from mach_nix.commands.values import integer, seconds
from mach_nix.db.retry import RETRYABLE_KINDS
from mach_nix.errors import ExitCode, NotFoundError, UsageError
from mach_nix.platforms import SYSTEMS, python_range
from mach_nix.progress import Progress

if TYPE_CHECKING:
    from packaging.requirements import Requirement

DB_DESCRIPTION = """\
The PyPI metadata database: per project, every release with its files
(filename, sha256, size, URL) and their dependencies. The resolver works
offline against it. Several databases can be layered: later ones win per
release, so a small DB of your own can add a package the pinned one lacks.
Format: docs/db-format.md.
"""

CRAWL_EPILOG = f"""\
examples:
  mach-nix db crawl --db ./my-db --closure requests
      add requests and everything it can depend on to ./my-db
  mach-nix db crawl --db ./my-db -r requirements.txt --closure
  mach-nix db crawl --db tests/data/pypi-db --closure -r tests/data/snapshot-requirements.txt
  mach-nix db crawl --db ./my-db --hooks all some-sdist-only-project
  mach-nix db crawl --db ./pypi-db --all --local-workers 2
      every project of the registry, on a local Dask cluster of 2 workers
  mach-nix db crawl --db /shared/pypi-db --all --scheduler tcp://10.0.0.1:8786

Existing projects of the DB that the crawl does not reach are kept. The write is
atomic; an interrupted crawl resumes from DIR/.partial/ when rerun.
Every release of a project reached is recorded, but metadata is fetched only for
the versions some requirement admits ('flask==1.0' one, 'flask' all; the others
are marked not-crawled until a crawl wants them). With --closure, dependencies
of those releases are followed for every supported target, for the extras named,
admitting the versions each dependency line allows. No sdist is downloaded for a
release whose wheels give its metadata (unless --hooks all).
Supported targets: CPython {python_range()} on
{", ".join(SYSTEMS)}.
"""

UPDATE_EPILOG = """\
examples:
  mach-nix db update --db ./my-db
  mach-nix db update --db tests/data/pypi-db --concurrency 8
  mach-nix db update --db /shared/pypi-db --scheduler tcp://10.0.0.1:8786    (a DB crawled with --all)

Only projects whose PyPI serial changed are refetched, and in those only new
files. A DB crawled with --all is updated from the root index's serials (one
request for the list, pages only of changed projects), in partitions as --all.
Roots crawled with --closure are followed again. Killing the update at
any moment leaves the previous DB intact; rerunning it resumes.
"""

RETRY_EPILOG = """\
examples:
  mach-nix db retry --db tests/data/pypi-db --kind hook-error
  mach-nix db retry --db ./my-db --kind hook-error --kind timeout --hook-timeout 300

'mach-nix db info --db DIR' lists the failures by kind. The retry is atomic and resumes
when interrupted, like a crawl.
"""

INFO_EPILOG = """\
examples:
  mach-nix db info                                          the default: the published pin's DB and the cache
  mach-nix db info --json                                   the same, as JSON (a manifest, or a list of them)
  mach-nix db info --db tests/data/pypi-db                  the manifest
  mach-nix db info --db tests/data/pypi-db requests         versions of requests
  mach-nix db info --db tests/data/pypi-db requests==2.31.0 files and dependencies
  mach-nix db info --db pinned-db --db ./my-db six --json   layered, as JSON
"""


def _crawl_options(args: argparse.Namespace) -> Any:
    from mach_nix.db.crawl import CrawlOptions

    return CrawlOptions(
        concurrency=args.concurrency,
        hooks=args.hooks,
        hook_timeout=args.hook_timeout,
        hook_memory_mb=args.hook_memory_mb,
        max_sdist_mb=args.max_sdist_mb,
        progress=not args.no_progress,
        force=getattr(args, "force", False),
    )


def _add_crawl_knobs(parser: argparse.ArgumentParser, force: bool = True) -> None:
    parser.add_argument(
        "--concurrency", type=integer(1, 256), default=16, metavar="N", help="parallel HTTP requests (default 16)"
    )
    parser.add_argument(
        "--hooks",
        choices=("all", "no-wheel", "never"),
        default="no-wheel",
        help="run the confined PEP 517 hook for sdists whose PKG-INFO is not reliable: always, "
        "only for releases without wheels (default), or never",
    )
    parser.add_argument(
        "--hook-timeout",
        type=seconds(0, 86400),
        default=120.0,
        metavar="SECONDS",
        help="time limit of one hook run (default 120)",
    )
    parser.add_argument(
        "--hook-memory-mb",
        type=integer(64, 1 << 20),
        default=2048,
        metavar="MB",
        help="address-space limit of one hook run (default 2048)",
    )
    parser.add_argument(
        "--max-sdist-mb",
        type=integer(0, 1 << 20),
        default=100,
        metavar="MB",
        help="do not download larger sdists; recorded as failures (default 100)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    if force:
        parser.add_argument(
            "--force",
            action="store_true",
            help="refetch projects even if their serial is unchanged, and crawl again those a damaged DB cannot read",
        )


def _add_cluster_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("distributed (with --all, or an update of a DB crawled with --all)")
    group.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="a running Dask scheduler, e.g. tcp://10.0.0.1:8786 (see docs/publishing.md)",
    )
    group.add_argument(
        "--local-workers", type=int, metavar="N", help="start a local Dask cluster of N worker processes"
    )
    group.add_argument(
        "--work-dir",
        metavar="DIR",
        help="where partitions write their partial DBs, on storage every worker reaches (default DB/.partial)",
    )


def _subcommand(
    sub: Any, name: str, *, help: str, description: str, epilog: str, db: str | None
) -> argparse.ArgumentParser:
    """A ``db`` subcommand's parser (description and epilog printed as written) and, unless
    ``db`` is ``None``, its required ``--db DIR`` option with ``db`` as the help."""
    parser = sub.add_parser(
        name, help=help, description=description, epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    if db is not None:
        parser.add_argument("--db", required=True, metavar="DIR", help=db)
    return parser


def register(subparsers: Any) -> None:
    """Add ``db`` with its ``crawl``, ``update``, ``retry``, ``info``, ``slim``, ``publish`` and ``pin`` subcommands."""
    db = subparsers.add_parser(
        "db",
        help="build, update and inspect the PyPI metadata database",
        description=DB_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run 'mach-nix db SUBCOMMAND --help' for details.",
    )
    db.set_defaults(func=lambda args: (db.print_help(sys.stderr), ExitCode.USAGE)[1])
    sub = db.add_subparsers(dest="db_command", metavar="SUBCOMMAND")

    crawl = _subcommand(
        sub,
        "crawl",
        help="add projects (and with --closure their dependencies) to a DB",
        description="Crawl projects from PyPI's simple API into a database directory.",
        epilog=CRAWL_EPILOG,
        db="database directory (created if missing)",
    )
    crawl.add_argument(
        "names", nargs="*", metavar="NAME", help="requirements (PEP 508), e.g. requests, 'flask==1.0', 'dask[complete]'"
    )
    add_requirement_files(crawl, "read requirements from FILE, in the syntax 'lock -r' reads (repeatable)")
    crawl.add_argument(
        "--closure", action="store_true", help="follow dependencies transitively, for every supported target"
    )
    crawl.add_argument(
        "--all", action="store_true", help="every project of the registry's root index (see 'distributed' below)"
    )
    _add_crawl_knobs(crawl)
    _add_cluster_options(crawl)
    crawl.set_defaults(func=run_crawl)

    update = _subcommand(
        sub,
        "update",
        help="refresh a DB: only what changed on PyPI since the last crawl",
        description="Refresh a database from PyPI, incrementally, atomically and resumably.",
        epilog=UPDATE_EPILOG,
        db="database directory",
    )
    _add_crawl_knobs(update)
    _add_cluster_options(update)
    update.set_defaults(func=run_update)

    retry = _subcommand(
        sub,
        "retry",
        help="extract again the files whose recorded failure is of given kinds",
        description="Extract again, from their recorded URLs, the files whose failure is of the given kinds "
        "(after an improvement of the extraction, e.g. of the PEP 517 hook). No page is read: "
        "nothing else of the database changes, and its crawl time stays.",
        epilog=RETRY_EPILOG,
        db="database directory",
    )
    retry.add_argument(
        "--kind",
        action="append",
        default=[],
        metavar="KIND",
        help="a failure kind to retry (repeatable): " + ", ".join(RETRYABLE_KINDS),
    )
    _add_crawl_knobs(retry, force=False)
    retry.set_defaults(func=run_retry)

    info = _subcommand(
        sub,
        "info",
        help="show a DB's manifest, or a project's versions, files and dependencies",
        description="Inspect a database (or several layered ones).",
        epilog=INFO_EPILOG,
        db=None,  # repeatable, and optional
    )
    info.add_argument(
        "--db",
        action="append",
        default=[],
        metavar="DIR",
        help="database directory; repeat to layer databases (later ones win); 'default' names the published"
        " database; default: the one 'lock' uses (the published pin's database and the cache of fetched metadata)",
    )
    info.add_argument(
        "name", nargs="?", metavar="NAME[==VERSION]", help="a project (any spelling), optionally one version"
    )
    info.add_argument("--json", action="store_true", help="machine-readable output")
    info.add_argument(
        "--offline",
        action="store_true",
        help="never fetch file-index shards of a graph-only DB (hashes then show as '-')",
    )
    info.set_defaults(func=run_info)

    slim = _subcommand(
        sub,
        "slim",
        help="copy a DB without its file index, for publishing",
        description=SLIM_DESCRIPTION,
        epilog=SLIM_EPILOG,
        db="the full database",
    )
    slim.add_argument("--out", required=True, metavar="DIR", help="where to write the graph-only copy")
    slim.add_argument(
        "--files-url",
        required=True,
        metavar="URL",
        help="base URL where DIR itself is published (https://…, or file:// for a local mirror)",
    )
    slim.set_defaults(func=run_slim)

    publish = _subcommand(
        sub,
        "publish",
        help="write a release of a DB for Nix users: a graph tarball, file-index shards and a pin",
        description=PUBLISH_DESCRIPTION,
        epilog=PUBLISH_EPILOG,
        db="the full database",
    )
    publish.add_argument("--out", required=True, metavar="DIR", help="the directory a static host serves")
    publish.add_argument("--base-url", required=True, metavar="URL", help="the URL at which DIR is served")
    publish.set_defaults(func=run_publish)

    pin = _subcommand(
        sub,
        "pin",
        help="point a project's pin file at a published release (checks it first)",
        description=PIN_DESCRIPTION,
        epilog=PIN_EPILOG,
        db=None,
    )
    pin.add_argument("--url", required=True, metavar="URL", help="a release's pypi-data.json (or its directory)")
    pin.add_argument(
        "--file", default="pypi-data.json", metavar="FILE", help="the pin file to write (default ./pypi-data.json)"
    )
    pin.set_defaults(func=run_pin)


SLIM_DESCRIPTION = """\
Write a graph-only copy of a database: its manifest and dependency graph, which
is all that resolution reads (about a tenth of the bytes), plus FILES_URL, the
place where the full database is published. The file index (sha256, size,
upload time and URL of every file) stays there; mach-nix fetches only the
shards holding the artifacts it locks, each checked against the sha256 that the
manifest records, and keeps them in ~/.cache/mach-nix/files. The Nix library
does the same with fixed-output fetches, so evaluation stays pure.
"""

SLIM_EPILOG = """\
example:
  mach-nix db slim --db ./pypi-db --out ./pypi-db-graph \\
      --files-url https://example.org/pypi-db
  # publish ./pypi-db at that URL, ship ./pypi-db-graph to users
"""


PUBLISH_DESCRIPTION = """\
Write a release of a database into DIR, for any static host: the graph-only
database as one content-addressed tarball (what Nix users download, about a
tenth of the bytes), the file-index shards below DIR/db (fetched one by one for
the artifacts a lock needs, each checked by the sha256 the manifest pins), and
DIR/pypi-data.json, the pin (url, sha256, date, counts) that 'db pin' and the
Nix library read. Earlier releases in DIR are kept.
"""

PUBLISH_EPILOG = """\
example:
  mach-nix db publish --db ./pypi-db --out ./site --base-url https://example.org/pypi
  # serve ./site at that URL; users: mach-nix db pin --url https://example.org/pypi/pypi-data.json
"""

PIN_DESCRIPTION = """\
Point a pin file at a published release, like 'nix flake update' does for an
input: read the release's pypi-data.json, download the tarball it names, check
its sha256 and manifest, then replace FILE. mach-nix's Nix library uses the
release the checkout's pypi-data.json pins (the bundled snapshot when there is
none); your own project can read its pin with mach-nix.fetchPypiData.
"""

PIN_EPILOG = """\
examples:
  mach-nix db pin --url https://example.org/pypi/pypi-data.json
  mach-nix db pin --url https://example.org/pypi/ --file nix/pypi-data.json
"""


def _distributed(args: argparse.Namespace, update: bool) -> int:
    from mach_nix.db.distributed import crawl_all

    with Progress("update" if update else "crawl --all", not args.no_progress) as line:
        summary = crawl_all(
            args.db,
            _crawl_options(args),
            scheduler=args.scheduler,
            local_workers=args.local_workers,
            work_dir=args.work_dir,
            update=update,
            progress=lambda text: line.update(text, force=True),
        )
    print(summary.text())
    return ExitCode.OK


def run_publish(args: argparse.Namespace) -> int:
    """``mach-nix db publish``."""
    from mach_nix.db.publish import publish

    with Progress("publishing") as line:
        line.update(f"writing a release of {args.db} into {args.out} …", force=True)
        pinned = publish(args.db, args.out, args.base_url)
    print(
        f"wrote a release of {pinned['counts']['projects']} projects into {args.out}: {pinned['url']} "
        f"({pinned['bytes']} bytes, sha256 {pinned['sha256']}), pin {args.out}/pypi-data.json"
    )
    return ExitCode.OK


def run_pin(args: argparse.Namespace) -> int:
    """``mach-nix db pin``."""
    from mach_nix.db.publish import pin

    with Progress("pinning") as line:
        line.update(f"downloading and checking the release {args.url} names …", force=True)
        pinned = pin(args.url, args.file)
    counts = pinned["counts"]
    print(f"{args.file}: {pinned['url']} (sha256 {pinned['sha256']}, {counts['projects']} projects, {pinned['date']})")
    return ExitCode.OK


def run_slim(args: argparse.Namespace) -> int:
    """``mach-nix db slim``."""
    from mach_nix.db.writer import write_graph_only

    if not args.files_url.startswith(("https://", "http://", "file://")):
        raise UsageError(f"--files-url must be an https://, http:// or file:// URL, not {args.files_url!r}")
    manifest = write_graph_only(args.db, args.out, args.files_url)
    print(
        f"wrote {args.out}: dependency graph of {manifest['counts']['projects']} projects "
        f"({manifest['bytes']['graph']} bytes; file index left at {manifest['files_url']}, "
        f"{manifest['bytes']['files']} bytes)"
    )
    return ExitCode.OK


def crawl_roots(names: Sequence[str], files: Sequence[str]) -> list[Requirement]:
    """The requirements to crawl, read exactly as ``lock`` reads its inputs: ``-r FILE``
    in requirements.txt syntax (:mod:`mach_nix.requirements`), then NAME arguments.

    Constraints (``-c``) add no projects and ``--pre`` changes nothing (every
    release is crawled), so both are accepted and have no effect here.

    Raises:
        UsageError: an unreadable file or a bad line, as for ``lock``.
    """
    from mach_nix.requirements import RequirementSet, parse_requirement, parse_requirements_file

    requirements = RequirementSet()
    for path in files:
        requirements.extend(parse_requirements_file(path))
    for index, text in enumerate(names):
        requirements.requirements.append(parse_requirement(text, f"argument {index + 1}"))
    if requirements.local:
        spec = requirements.local[0]
        raise UsageError(
            f"{spec.origin}: {spec.location} is a local or VCS source: db crawl reads PyPI projects only"
            " (mach-nix lock reads local sources from their own files)"
        )
    return [root.requirement for root in requirements.requirements]


def run_crawl(args: argparse.Namespace) -> int:
    """``mach-nix db crawl``."""
    from packaging.utils import canonicalize_name

    from mach_nix.db.crawl import Crawler

    if args.all:
        if args.names or args.requirements or args.closure:
            raise UsageError("--all crawls every project: give no NAME, -r FILE or --closure with it")
        return _distributed(args, update=False)
    if args.scheduler or args.local_workers or args.work_dir:
        raise UsageError("--scheduler, --local-workers and --work-dir go with --all (a crawl of every project)")
    roots = crawl_roots(args.names, args.requirements)
    if not roots:
        raise UsageError("nothing to crawl: give NAMEs or -r FILE (see 'mach-nix db crawl --help')")
    summary = Crawler(args.db, _crawl_options(args)).run(roots, closure=args.closure)
    print(summary.text())
    root_names = {str(canonicalize_name(r.name)) for r in roots}
    missing = [n for n in summary.not_found if n in root_names]
    if missing:
        raise NotFoundError(f"not on PyPI: {', '.join(missing)} (check the spelling)")
    return ExitCode.OK


def run_update(args: argparse.Namespace) -> int:
    """``mach-nix db update``."""
    from mach_nix.db.crawl import update
    from mach_nix.db.reader import read_manifest

    manifest = read_manifest(args.db) if (Path(args.db) / "manifest.json").exists() else {}
    if manifest.get("crawl", {}).get("all"):
        return _distributed(args, update=True)
    if args.scheduler or args.local_workers or args.work_dir:
        raise UsageError(
            f"--scheduler, --local-workers and --work-dir update a DB crawled with --all; {args.db!r} was not"
        )
    summary = update(args.db, _crawl_options(args))
    print(summary.text())
    return ExitCode.OK


def run_retry(args: argparse.Namespace) -> int:
    """``mach-nix db retry``."""
    from mach_nix.db.retry import retry_failures

    summary = retry_failures(args.db, args.kind, _crawl_options(args))
    print(summary.text())
    return ExitCode.OK


def _release_json(release: Any) -> dict[str, Any]:
    metas = [meta.to_json() for meta in release.metadata]
    return {
        "version": release.version,
        "requires_python": release.requires_python,
        "yanked": release.yanked_reason if release.yanked else None,
        "files": [
            {
                "filename": f.filename,
                "sha256": f.sha256,
                "size": f.size,
                "url": f.url,
                "upload_time": f.upload_time,
                "yanked": f.yanked,
                "metadata": f.metadata,
            }
            for f in release.files
        ],
        "metadata": metas,
        "failures": [{"filename": x.filename, "kind": x.kind, "reason": x.reason} for x in release.failures],
    }


def _info_layers(args: argparse.Namespace) -> list[str]:
    """The layers ``db info`` shows: ``--db`` (``default`` expanded), else the default of ``lock``:
    the published pin's database and the cache of fetched metadata (when it exists), said on stderr."""
    from mach_nix.commands import defaults

    if args.db:
        return defaults.expand(list(args.db), fetch=not args.offline)
    from mach_nix.db.cache_layer import default_cache_dir, index_url

    cache = default_cache_dir(index_url())
    print(f"mach-nix: {defaults.describe(str(cache))}", file=sys.stderr)
    layers = defaults.default_layers(fetch=not args.offline)
    return layers + ([str(cache)] if (cache / "manifest.json").is_file() else [])


def run_info(args: argparse.Namespace) -> int:
    """``mach-nix db info``."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.specifiers import InvalidSpecifier
    from packaging.version import InvalidVersion, Version

    from mach_nix.db.store import MissingFilesError, default_files_cache, open_database
    from mach_nix.requirements import quote

    paths = _info_layers(args)
    if not paths:
        if args.json:
            print("[]")
            return ExitCode.OK
        if args.name is None:
            print("no database yet: no published pin, and the cache of fetched metadata is empty")
            return ExitCode.OK
        raise NotFoundError(
            f"{args.name!r}: there is no database yet (no published pin, an empty cache of fetched metadata);"
            " pass --db DIR, or pin one with 'mach-nix db pin --url URL'"
        )
    db = open_database(paths, files_cache=[default_files_cache()], fetch=not args.offline)
    if args.name is None:
        if args.json:
            print(json.dumps(db.manifests if len(db.manifests) > 1 else db.manifest, indent=1, sort_keys=True))
        else:
            for path, manifest in zip(paths, db.manifests, strict=True):
                counts = manifest["counts"]
                print(f"database {path}")
                print(f"  format:      {manifest['format']} v{manifest['format_version']}")
                print(f"  crawl time:  {manifest['crawl_time']}")
                print(
                    f"  projects:    {counts['projects']}   releases: {counts['releases']}   "
                    f"files: {counts['files']}   failures: {counts['failures']}"
                )
                kinds = ", ".join(f"{k} {v}" for k, v in manifest.get("failures_by_kind", {}).items()) or "none"
                print(f"  failures by kind: {kinds}")
                sizes = manifest["bytes"]
                local = (
                    ""
                    if (Path(path) / manifest["shards_dir"] / "files").is_dir()
                    else f" (not here: graph-only, fetched from {manifest.get('files_url')})"
                )
                print(
                    f"  graph:       {manifest['shard_counts']['graph']} shards (prefix length "
                    f"{manifest['shard_prefix_length']}), {sizes['graph']} bytes"
                )
                print(
                    f"  file index:  {manifest['shard_counts']['files']} shards (prefix length "
                    f"{manifest['files_prefix_length']}), {sizes['files']} bytes{local}"
                )
                roots = manifest.get("crawl", {}).get("roots", [])
                if roots:
                    print(f"  crawl roots: {len(roots)} ({sum(1 for r in roots if r.get('closure'))} with --closure)")
        return ExitCode.OK
    try:
        req = Requirement(args.name)
    except (InvalidRequirement, InvalidSpecifier, RecursionError) as error:
        reason = (str(error).splitlines() or ["nested too deeply"])[0][:200]
        raise UsageError(f"invalid NAME {quote(args.name)}: {reason} (expected NAME or NAME==VERSION)") from None
    try:
        project = db.project(req.name, details=True)
    except MissingFilesError as error:
        print(f"mach-nix: {error}", file=sys.stderr)
        project = db.project(req.name)
    if project is None:
        hint = ""
        import difflib

        close = difflib.get_close_matches(str(req.name).lower(), db.names(), n=3)
        if close:
            hint = f"; did you mean {', '.join(close)}?"
        raise NotFoundError(
            f"{req.name!r} is not in the database{hint} "
            f"(add it with 'mach-nix db crawl --db ./my-db --closure {req.name}')"
        )
    releases = []
    for version, release in project.releases.items():
        try:
            if req.specifier and not req.specifier.contains(Version(version), prereleases=True):
                continue
        except InvalidVersion:
            continue
        releases.append(release)
    if args.json:
        print(
            json.dumps(
                {
                    "name": project.name,
                    "last_serial": project.last_serial,
                    "releases": [_release_json(r) for r in releases],
                },
                indent=1,
                sort_keys=True,
            )
        )
        return ExitCode.OK
    print(f"{project.name} (serial {project.last_serial}): {len(releases)} of {len(project.releases)} versions")
    for release in releases:
        flags = f"  [yanked: {release.yanked_reason or 'no reason'}]" if release.yanked else ""
        print(f"{release.version}  requires-python: {release.requires_python or '-'}{flags}")
        for index, meta in enumerate(release.metadata):
            label = (
                f"  dependencies ({meta.source}" + (f", metadata #{index}" if len(release.metadata) > 1 else "") + "):"
            )
            print(label + ("" if meta.requires_dist else " none"))
            for line in meta.requires_dist:
                print(f"    {line}")
            if meta.build_requires is not None:
                print(f"    build: {', '.join(meta.build_requires)}")
        for dist in release.files:
            tag = "" if dist.metadata is None else f"  (metadata #{dist.metadata})" if len(release.metadata) > 1 else ""
            print(f"  file {dist.filename}  sha256:{dist.sha256 or '-'}{tag}")
        for fail in release.failures:
            print(f"  no metadata for {fail.filename}: {fail.kind}: {fail.reason}")
    return ExitCode.OK
