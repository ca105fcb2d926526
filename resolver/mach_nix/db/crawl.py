"""The crawler behind ``mach-nix db crawl`` and ``mach-nix db update``.

One engine does both. It reads PyPI's PEP 691 JSON simple API per project,
keeps the files in scope (:mod:`mach_nix.db.scope`), and obtains each file's
dependency metadata (:mod:`mach_nix.db.extract`, :mod:`mach_nix.db.pep517`).

* **Incremental**: a project whose ``_last-serial`` equals the stored one is
  kept as is; in a changed project only files whose sha256 is new are fetched.
* **Resumable**: every per-file result is appended to ``DIR/.partial/journal.jsonl``
  as soon as it is known; a rerun after a kill reuses it.
* **Atomic**: the database is rewritten with :func:`mach_nix.db.writer.write_database`
  (new generation + ``os.replace`` of the manifest); the journal is deleted
  only after that.
"""

from __future__ import annotations

import concurrent.futures as futures
import io
import os
import queue
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from mach_nix.db.extract import (
    ExtractError,
    build_system,
    parse_core_metadata,
    pkg_info_is_reliable,
    read_sdist,
    read_sdist_stream,
    wheel_metadata,
)
from mach_nix.db.format import FILES_DIR, MANIFEST
from mach_nix.db.http import Client, NotFound, Registry
from mach_nix.db.journal import FileResult, Journal
from mach_nix.db.model import FILES_HOST, SDIST_SUFFIXES, DistFile, Failure, Metadata, Project, Release
from mach_nix.db.pep517 import HookLimits, HookRunner
from mach_nix.db.reader import DatabaseLayer
from mach_nix.db.scope import dependency_possible, file_in_scope
from mach_nix.db.writer import write_database
from mach_nix.errors import NetworkError, UsageError
from mach_nix.requirements import parse_dependency

#: Failure kinds that are not cached: they depend on policy or on the network.
TRANSIENT_KINDS = frozenset({"skipped", "download"})
HOOK_POLICIES = ("all", "no-wheel", "never")


@dataclass
class CrawlOptions:
    """Knobs of a crawl.

    Attributes:
        concurrency: parallel HTTP requests.
        hooks: when to run the PEP 517 hook for an sdist whose PKG-INFO is not
            reliable: ``all``, ``no-wheel`` (only for releases without an
            in-scope wheel) or ``never``.
        hook_timeout: wall-clock/CPU seconds per hook run.
        hook_memory_mb: address-space limit of a hook run.
        max_sdist_mb: sdists larger than this are not downloaded (recorded).
        progress: draw a progress line on stderr.
        force: refetch projects even when their serial did not change.
    """

    concurrency: int = 16
    hooks: str = "no-wheel"
    hook_timeout: float = 120.0
    hook_memory_mb: int = 2048
    max_sdist_mb: int = 100
    progress: bool = True
    force: bool = False


@dataclass
class Summary:
    """What a crawl did (printed at the end, returned to callers)."""

    projects_fetched: int = 0
    projects_unchanged: int = 0
    projects_total: int = 0
    releases: int = 0
    files: int = 0
    files_extracted: int = 0
    files_reused: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    not_found: list[str] = field(default_factory=list)
    invalid_requirements: int = 0
    requests: int = 0
    seconds: float = 0.0

    def text(self) -> str:
        """A human-readable multi-line summary."""
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(self.failures.items())) or "none"
        lines = [
            f"projects: {self.projects_total} in the database ({self.projects_fetched} fetched, "
            f"{self.projects_unchanged} unchanged)",
            f"releases: {self.releases}   files: {self.files} "
            f"({self.files_extracted} extracted now, {self.files_reused} reused)",
            f"failures by kind: {kinds}",
            f"HTTP requests: {self.requests}   time: {self.seconds:.1f}s",
        ]
        if self.not_found:
            lines.append(f"not on PyPI: {', '.join(sorted(self.not_found))}")
        if self.invalid_requirements:
            lines.append(f"unparseable Requires-Dist lines skipped while following: {self.invalid_requirements}")
        return "\n".join(lines)


# --------------------------------------------------------------------------- crawl state


def file_version(filename: str) -> Version | None:
    """The version encoded in a wheel or sdist file name, or ``None``."""
    try:
        if filename.endswith(".whl"):
            return parse_wheel_filename(filename)[1]
        for suffix in SDIST_SUFFIXES:
            if filename.endswith(suffix):
                stem = filename[: -len(suffix)]
                try:
                    return parse_sdist_filename(stem + ".tar.gz")[1]
                except InvalidSdistFilename:
                    return Version(stem.rpartition("-")[2])
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        return None
    return None


def _sha256(dist: DistFile) -> str:
    """The sha256 of a file the registry listed (always given by the simple API)."""
    if dist.sha256 is None:
        raise ValueError(f"{dist.filename}: no sha256 in the registry's listing")
    return dist.sha256


def _size(dist: DistFile) -> int:
    if dist.size is None:
        raise ValueError(f"{dist.filename}: no size in the registry's listing")
    return dist.size


def _url(dist: DistFile) -> str:
    if dist.url is None:
        raise ValueError(f"{dist.filename}: no URL in the registry's listing")
    return dist.url


def _upload_time(value: str | None) -> str:
    if not value:
        return ""
    return value[:19] + "Z" if len(value) >= 19 else value


class Progress:
    """A one-line progress bar on stderr (plain periodic lines when not a terminal)."""

    def __init__(self, enabled: bool, stream: TextIO = sys.stderr) -> None:
        """Create the bar; nothing is drawn when ``enabled`` is false."""
        self.enabled = enabled
        self.stream = stream
        self.tty = stream.isatty()
        self.last = 0.0

    def update(
        self,
        done_projects: int,
        total_projects: int,
        done_files: int,
        total_files: int,
        failures: int,
        force: bool = False,
    ) -> None:
        """Redraw (at most 5 times a second on a terminal, every 10 s otherwise)."""
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self.last < (0.2 if self.tty else 10.0):
            return
        self.last = now
        fraction = (done_files + done_projects) / max(1, total_files + total_projects)
        bar = "#" * int(fraction * 30)
        text = (
            f"[{bar:<30}] projects {done_projects}/{total_projects}  files {done_files}/{total_files}"
            f"  failures {failures}"
        )
        if self.tty:
            self.stream.write("\r" + text + "\x1b[K")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def done(self) -> None:
        """End the bar's line."""
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()


@dataclass
class _Pending:
    """A project whose files are being extracted."""

    name: str
    serial: int
    releases: dict[str, list[tuple[DistFile, dict[str, Any]]]]
    waiting: set[str] = field(default_factory=set)
    results: dict[str, FileResult] = field(default_factory=dict)


class NeedsHook(Exception):
    """Raised by :meth:`Crawler.extract` when an sdist needs its PEP 517 hook run.

    The main loop then queues :meth:`Crawler.run_hook` on the (CPU-sized) hook
    pool, so slow hooks never hold the HTTP workers.
    """

    def __init__(self, data: bytes) -> None:
        super().__init__("needs the PEP 517 hook")
        self.data = data


class Crawler:
    """Crawl projects (optionally their dependency closure) into a database directory."""

    def __init__(
        self,
        db_dir: str | os.PathLike[str],
        options: CrawlOptions | None = None,
        client: Registry | None = None,
    ) -> None:
        """Prepare a crawl of the database at ``db_dir`` (it need not exist yet)."""
        self.root = Path(db_dir)
        self.options = options or CrawlOptions()
        if self.options.hooks not in HOOK_POLICIES:
            raise UsageError(f"--hooks must be one of {', '.join(HOOK_POLICIES)}, not {self.options.hooks!r}")
        self.client = client or Client()
        self.old: DatabaseLayer | None = None
        if (self.root / MANIFEST).exists():
            self.old = DatabaseLayer(self.root)
            if (
                self.old.manifest["shard_counts"]["files"]
                and not (self.old.path / self.old.manifest["shards_dir"] / FILES_DIR).is_dir()
            ):
                raise UsageError(
                    f"{self.root} is a graph-only database (its file index is published at "
                    f"{self.old.manifest.get('files_url')}); crawl into a database of your own and layer it "
                    "over this one (--db BASE --db MINE), or update the full database"
                )
        self.summary = Summary()
        self._hooks: HookRunner | None = None
        self._hook_lock = threading.Lock()

    # -- per-file extraction (worker threads) --------------------------------

    def _hook_runner(self) -> HookRunner:
        with self._hook_lock:
            if self._hooks is None:
                self._hooks = HookRunner(
                    HookLimits(timeout=self.options.hook_timeout, memory_bytes=self.options.hook_memory_mb * 1024**2)
                )
            return self._hooks

    def extract(self, dist: DistFile, info: dict[str, Any], release_has_wheels: bool) -> FileResult:
        """Obtain the metadata of one file (runs in a worker thread)."""
        try:
            if dist.is_wheel:
                if info.get("core-metadata") or info.get("data-dist-info-metadata"):
                    try:
                        body = self.client.request(_url(dist) + ".metadata").body
                        return parse_core_metadata(body, "pep658")[0], None
                    except NotFound:
                        pass
                meta = wheel_metadata(lambda a, b: self.client.range(_url(dist), a, b), _size(dist))
                return meta, None
            return self._extract_sdist(dist, release_has_wheels), None
        except ExtractError as error:
            return None, error.failure(dist.filename)
        except NotFound:
            return None, Failure(dist.filename, "download", "the file answered 404")
        except NetworkError as error:
            return None, Failure(dist.filename, "download", error.message)

    def extract_now(self, dist: DistFile, info: dict[str, Any], release_has_wheels: bool) -> FileResult:
        """:meth:`extract`, running the PEP 517 hook in this thread if one is needed."""
        try:
            return self.extract(dist, info, release_has_wheels)
        except NeedsHook as needs:
            return self.run_hook(dist, needs.data)

    def run_hook(self, dist: DistFile, data: bytes) -> FileResult:
        """Run the confined PEP 517 hook of sdist ``dist`` (runs in a hook-pool thread)."""
        try:
            return self._hook_runner().metadata(dist.filename, data), None
        except ExtractError as error:
            return None, error.failure(dist.filename)

    def _extract_sdist(self, dist: DistFile, release_has_wheels: bool) -> Metadata:
        limit = self.options.max_sdist_mb * 1024**2
        if _size(dist) > limit:
            raise ExtractError(
                "skipped", f"sdist is {dist.size} bytes, above --max-sdist-mb {self.options.max_sdist_mb}"
            )
        policy = self.options.hooks
        hook_allowed = policy == "all" or (policy == "no-wheel" and not release_has_wheels)

        def unreliable(pkg_info: bytes) -> bool:
            _, version, dynamic = parse_core_metadata(pkg_info, "pkg-info")
            return not pkg_info_is_reliable(version, dynamic)

        data: bytes | None = None
        if dist.filename.endswith(".zip") or hook_allowed:
            data = self.client.request(_url(dist), max_bytes=limit).body
            contents = read_sdist(dist.filename, data)
        else:
            # stream: stop reading as soon as an unreliable PKG-INFO shows the hook is not wanted
            # (downloaded whole: cheaper than a new connection per file; only the read stops early)
            body = self.client.request(_url(dist), max_bytes=limit).body
            found = read_sdist_stream(io.BytesIO(body), unreliable)
            if found is None:
                raise self._skipped(dist)
            contents = found
        requires = build_system(contents)[0]
        if contents.pkg_info is not None:
            meta, version, dynamic = parse_core_metadata(contents.pkg_info, "pkg-info", requires)
            if pkg_info_is_reliable(version, dynamic):
                return meta
        if hook_allowed and data is not None:
            raise NeedsHook(data)
        raise self._skipped(dist)

    def _skipped(self, dist: DistFile) -> ExtractError:
        policy = self.options.hooks
        return ExtractError(
            "skipped",
            "PKG-INFO is older than Metadata-Version 2.2 or declares Requires-Dist Dynamic, and the PEP 517 "
            f"hook was not run (--hooks {policy}" + (", the release has wheels)" if policy == "no-wheel" else ")"),
        )

    # -- project assembly ----------------------------------------------------

    @property
    def policy(self) -> str:
        """What decides ``skipped`` results: the hook policy and the sdist size limit."""
        return f"hooks={self.options.hooks},max-sdist-mb={self.options.max_sdist_mb}"

    def _same_policy_as_old(self) -> bool:
        return self.old is not None and self.old.manifest.get("crawl", {}).get("policy") == self.policy

    def old_results(self, name: str) -> dict[str, FileResult]:
        """The results an existing database already holds for ``name``'s files, by sha256."""
        if self.old is None:
            return {}
        project = self.old.project(name, details=True)
        out: dict[str, FileResult] = {}
        if project is None:
            return out
        for release in project.releases.values():
            fails = {f.filename: f for f in release.failures}
            for dist in release.files:
                fail = fails.get(dist.filename)
                if (
                    fail is not None
                    and fail.kind in TRANSIENT_KINDS
                    and not (fail.kind == "skipped" and self._same_policy_as_old())
                ):
                    continue
                out[_sha256(dist)] = (release.metadata_of(dist), fail)
        return out

    @staticmethod
    def group_files(page: dict[str, Any]) -> dict[str, list[tuple[DistFile, dict[str, Any]]]]:
        """The in-scope files of a simple page, by release version (as published)."""
        published: dict[Version, str] = {}
        for text in page.get("versions", []):
            try:
                published.setdefault(Version(text), text)
            except InvalidVersion:
                continue
        releases: dict[str, list[tuple[DistFile, dict[str, Any]]]] = {}
        for info in page.get("files", []):
            filename = info["filename"]
            if not file_in_scope(filename):
                continue
            version = file_version(filename)
            if version is None:
                continue
            text = published.get(version, str(version))
            url = info["url"]
            if not url.startswith(FILES_HOST):
                continue
            url_path = url[len(FILES_HOST) :].rsplit("/", 1)[0]
            yanked = info.get("yanked", False)
            dist = DistFile(
                filename=filename,
                sha256=info.get("hashes", {}).get("sha256", ""),
                size=int(info.get("size") or 0),
                upload_time=_upload_time(info.get("upload-time")),
                url_path=url_path,
                requires_python=info.get("requires-python") or None,
                yanked=None if yanked is False else (yanked if isinstance(yanked, str) else ""),
            )
            releases.setdefault(text, []).append((dist, info))
        return releases

    @staticmethod
    def assemble(pending: _Pending) -> Project:
        """The project of a finished :class:`_Pending`, files sorted by name."""
        releases: dict[str, Release] = {}
        for version, items in pending.releases.items():
            metas: list[Metadata] = []
            files: list[DistFile] = []
            failures: list[Failure] = []
            for dist, _ in sorted(items, key=lambda item: item[0].filename):
                meta, fail = pending.results[_sha256(dist) + dist.filename]
                index = None
                if meta is not None:
                    if meta not in metas:
                        metas.append(meta)
                    index = metas.index(meta)
                if fail is not None:
                    failures.append(Failure(dist.filename, fail.kind, fail.reason))
                files.append(
                    DistFile(
                        dist.filename,
                        dist.sha256,
                        dist.size,
                        dist.upload_time,
                        dist.url_path,
                        dist.requires_python,
                        dist.yanked,
                        index,
                    )
                )
            releases[version] = Release(version, tuple(files), tuple(metas), tuple(failures))
        return Project(name=pending.name, releases=releases, last_serial=pending.serial)

    # -- the main loop -------------------------------------------------------

    def run(self, roots: Sequence[Requirement], *, closure: bool, refresh: Iterable[str] = ()) -> Summary:
        """Crawl ``roots`` (and their closure if asked) plus ``refresh`` names; write the DB.

        Projects of an existing database that are not reached are kept unchanged.
        """
        start = time.monotonic()
        run = _CrawlRun(self, closure)
        done = run.execute(roots, refresh)

        projects: dict[str, Project] = {}
        if self.old is not None:
            for name in self.old.names():
                if name not in done:
                    project = self.old.project(name, details=True)
                    if project is not None:
                        projects[name] = project
        projects.update(done)
        crawl_roots = self._merged_roots(roots, closure)
        manifest = write_database(
            self.root,
            projects.values(),
            crawl={"roots": crawl_roots, "hooks": self.options.hooks, "policy": self.policy},
        )
        run.journal.close(delete=True)
        counts = manifest["counts"]
        self.summary.projects_total = counts["projects"]
        self.summary.releases = counts["releases"]
        self.summary.files = counts["files"]
        self.summary.failures = dict(manifest["failures_by_kind"])
        self.summary.requests = self.client.requests
        self.summary.seconds = time.monotonic() - start
        return self.summary

    def close_hooks(self) -> None:
        """Stop the PEP 517 hook runner, if one was started."""
        if self._hooks is not None:
            self._hooks.close()

    def _merged_roots(self, roots: Sequence[Requirement], closure: bool) -> list[dict[str, Any]]:
        merged: dict[str, bool] = {}
        if self.old is not None:
            for item in self.old.manifest.get("crawl", {}).get("roots", []):
                merged[item["requirement"]] = bool(item.get("closure"))
        for req in roots:
            merged[str(req)] = merged.get(str(req), False) or closure
        return [{"requirement": r, "closure": c} for r, c in sorted(merged.items())]


class _CrawlRun:
    """One run of :meth:`Crawler.run`: the work queued, running and done, and its counters.

    Two thread pools do the work: HTTP requests (simple pages, file metadata) on
    one sized by ``--concurrency``, PEP 517 hooks on one sized by the CPUs.
    The calling thread owns every attribute below; workers only return results,
    which arrive through :attr:`completed` and are handled one at a time by
    :meth:`execute`'s loop.

    Attributes:
        done: finished projects by normalised name.
        pending: projects whose files are still being extracted.
        queued: every name whose simple page was asked for.
        specs, extras, follow: per name, the specifiers and extras it was
            required with, and whether its dependencies are followed
            (``--closure``).
        expanded: per name, the ``(Requires-Dist line, extras)`` pairs already followed.
        running: the futures not handled yet, with what they are for.
        total_files, done_files, failures: the progress counters.
    """

    def __init__(self, crawler: Crawler, closure: bool) -> None:
        self.crawler = crawler
        self.closure = closure
        self.summary = crawler.summary
        self.journal = Journal(crawler.root, crawler.policy)
        self.progress = Progress(crawler.options.progress)
        self.done: dict[str, Project] = {}
        self.pending: dict[str, _Pending] = {}
        self.queued: set[str] = set()
        self.specs: dict[str, set[str]] = {}
        self.extras: dict[str, set[str]] = {}
        self.follow: dict[str, bool] = {}
        self.expanded: dict[str, set[tuple[str, str]]] = {}
        self.pool = futures.ThreadPoolExecutor(max_workers=crawler.options.concurrency)
        self.hook_pool = futures.ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1))
        self.running: dict[futures.Future[Any], tuple[str, Any]] = {}
        self.completed: queue.SimpleQueue[futures.Future[Any]] = queue.SimpleQueue()
        self.total_files = 0
        self.done_files = 0
        self.failures = 0

    def execute(self, roots: Sequence[Requirement], refresh: Iterable[str]) -> dict[str, Project]:
        """Crawl until nothing is left to do; return the projects done.

        On any error (or an interrupt) the pools are stopped and the journal is
        closed, keeping what it holds for the next run.
        """
        try:
            for req in roots:
                self.want(req, self.closure)
            for name in refresh:
                if str(canonicalize_name(name)) not in self.queued:
                    self.want(Requirement(str(canonicalize_name(name))), False, refresh_only=True)
            while self.running:
                self.show_progress()
                try:
                    future = self.completed.get(timeout=0.5)
                except queue.Empty:
                    continue
                kind, payload = self.running.pop(future)
                if kind == "simple":
                    self.handle_page(payload, future.result())
                else:
                    name, dist = payload
                    self.handle_file(name, dist, future)
            self.show_progress(force=True)
            self.progress.done()
        except BaseException:
            for future in self.running:
                future.cancel()
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.hook_pool.shutdown(wait=False, cancel_futures=True)
            self.journal.close()
            self.crawler.close_hooks()
            raise
        self.pool.shutdown()
        self.hook_pool.shutdown()
        self.crawler.close_hooks()
        return self.done

    def show_progress(self, force: bool = False) -> None:
        """Redraw the progress line."""
        self.progress.update(
            len(self.done), len(self.queued), self.done_files, self.total_files, self.failures, force=force
        )

    def submit(self, fn: Any, *args: Any, tag: tuple[str, Any], hooks: bool = False) -> None:
        """Run ``fn(*args)`` on the HTTP pool (or the hook pool); its result comes back with ``tag``."""
        future = (self.hook_pool if hooks else self.pool).submit(fn, *args)
        self.running[future] = tag
        future.add_done_callback(self.completed.put)

    def want(self, req: Requirement, follow_deps: bool, refresh_only: bool = False) -> None:
        """Require a project: fetch its page once; follow its dependencies if asked."""
        name = str(canonicalize_name(req.name))
        spec_set = self.specs.setdefault(name, set())
        if not refresh_only:  # a refresh must not widen which releases --closure follows
            spec_set.add(str(req.specifier))
        self.extras.setdefault(name, set()).update(str(canonicalize_name(e)) for e in req.extras)
        self.follow[name] = self.follow.get(name, False) or follow_deps
        if name not in self.queued:
            self.queued.add(name)
            self.submit(self.crawler.client.simple_project, name, tag=("simple", name))
        elif name in self.done and follow_deps:
            self.expand(name)

    def expand(self, name: str) -> None:
        """With ``--closure``: require the dependencies of a finished project's matching releases
        that apply to some supported target."""
        if not (self.closure and self.follow.get(name)):
            return
        project = self.done[name]
        sets = [SpecifierSet(s) for s in self.specs.get(name) or {""}]
        seen = self.expanded.setdefault(name, set())
        extras = self.extras.get(name, set())
        for version, release in project.releases.items():
            try:
                parsed = Version(version)
            except InvalidVersion:
                continue
            if not any(s.contains(parsed, prereleases=True) for s in sets):
                continue
            for meta in release.metadata:
                for line in meta.requires_dist:
                    key = (line, ",".join(sorted(extras)))
                    if key in seen:
                        continue
                    seen.add(key)
                    req = parse_dependency(line)
                    if req is None:
                        self.summary.invalid_requirements += 1
                        continue
                    if dependency_possible(req, extras):
                        self.want(Requirement(str(req).split(";", 1)[0]), True)

    def finish(self, name: str) -> None:
        """A project's files are all known: assemble it and follow its dependencies."""
        self.done[name] = self.crawler.assemble(self.pending.pop(name))
        self.expand(name)

    def handle_page(self, name: str, page: dict[str, Any] | None) -> None:
        """A simple page arrived: keep an unchanged project, else queue its files."""
        crawler = self.crawler
        if page is None:
            self.summary.not_found.append(name)
            return
        meta = page.get("meta", {})
        serial = int(meta.get("_last-serial") or page.get("_last-serial") or 0)
        old_project = crawler.old.project(name, details=True) if crawler.old is not None else None
        if old_project is not None and not crawler.options.force and serial and old_project.last_serial == serial:
            self.summary.projects_unchanged += 1
            self.done[name] = old_project
            self.expand(name)
            return
        self.summary.projects_fetched += 1
        reuse = crawler.old_results(name)
        item = _Pending(name, serial, crawler.group_files(page))
        self.pending[name] = item
        for files in item.releases.values():
            has_wheels = any(d.is_wheel for d, _ in files)
            for dist, info in files:
                key = _sha256(dist) + dist.filename
                self.total_files += 1
                cached = self.journal.results.get(_sha256(dist)) or reuse.get(_sha256(dist))
                if cached is not None:
                    meta_, fail = cached
                    item.results[key] = (meta_, Failure(dist.filename, fail.kind, fail.reason) if fail else None)
                    self.summary.files_reused += 1
                    self.done_files += 1
                    continue
                item.waiting.add(key)
                self.submit(crawler.extract, dist, info, has_wheels, tag=("file", (name, dist)))
        if not item.waiting:
            self.finish(name)

    def handle_file(self, name: str, dist: DistFile, future: futures.Future[Any]) -> None:
        """A file's extraction ended: record it, or move it to the hook pool if it needs its hook."""
        try:
            result = future.result()
        except NeedsHook as needs:
            self.submit(self.crawler.run_hook, dist, needs.data, tag=("file", (name, dist)), hooks=True)
            return
        self.journal.add(_sha256(dist), result)
        self.done_files += 1
        self.summary.files_extracted += 1
        if result[1] is not None:
            self.failures += 1
        item = self.pending[name]
        key = _sha256(dist) + dist.filename
        item.results[key] = result
        item.waiting.discard(key)
        if not item.waiting:
            self.finish(name)


def crawl(
    db_dir: str | os.PathLike[str], roots: Sequence[Requirement], *, closure: bool, options: CrawlOptions | None = None
) -> Summary:
    """Crawl ``roots`` (and with ``closure`` their dependencies) into ``db_dir``."""
    return Crawler(db_dir, options).run(roots, closure=closure)


def update(db_dir: str | os.PathLike[str], options: CrawlOptions | None = None) -> Summary:
    """Refresh every project of the database at ``db_dir`` whose serial changed.

    Roots recorded with ``closure`` are followed again, so new dependencies of
    new releases are added.
    """
    crawler = Crawler(db_dir, options)
    if crawler.old is None:
        raise UsageError(f"{os.fspath(db_dir)!r} holds no database to update; create it with 'mach-nix db crawl'")
    recorded = crawler.old.manifest.get("crawl", {}).get("roots", [])
    closure_roots = [Requirement(r["requirement"]) for r in recorded if r.get("closure")]
    plain_roots = [Requirement(r["requirement"]) for r in recorded if not r.get("closure")]
    crawler_roots = closure_roots
    summary = crawler.run(crawler_roots, closure=True, refresh=[str(r.name) for r in plain_roots] + crawler.old.names())
    return summary
