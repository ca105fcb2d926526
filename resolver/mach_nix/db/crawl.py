"""The crawler behind ``mach-nix db crawl`` and ``mach-nix db update``.

One engine does both. It reads PyPI's PEP 691 JSON simple API per project,
keeps the files in scope (:mod:`mach_nix.db.scope`), and obtains each file's
dependency metadata (:mod:`mach_nix.db.extract`, :mod:`mach_nix.db.pep517`).

* **Only what is needed**: the metadata of the releases that some requirement
  admits (:class:`_CrawlRun`); no sdist download for a release whose wheels
  give its metadata.
* **Incremental**: a project whose ``_last-serial`` equals the stored one is
  kept as is (unless a file it needs failed to download); in a changed project
  only files whose sha256 is new are fetched.
* **Bounded memory**: finished projects are spooled to disk at once
  (:mod:`mach_nix.db.spool`), and the number of projects in flight is capped.
* **Resumable**: every per-file result is appended to ``DIR/.partial/journal.jsonl``
  as soon as it is known; a rerun after a kill reuses it.
* **Atomic**: the database is rewritten from the spool (new generation +
  ``os.replace`` of the manifest, as :func:`mach_nix.db.writer.write_database`);
  the journal is deleted only after that.
"""

from __future__ import annotations

import concurrent.futures as futures
import hashlib
import io
import os
import queue
import shutil
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import (
    canonicalize_name,
)
from packaging.version import InvalidVersion, Version

from mach_nix import progress
from mach_nix.db.extract import (
    ExtractError,
    build_system,
    parse_core_metadata,
    pkg_info_is_reliable,
    read_sdist,
    read_sdist_stream,
    wheel_metadata,
)
from mach_nix.db.fetch import file_version
from mach_nix.db.format import FILES_DIR, MANIFEST, decompress
from mach_nix.db.http import Client, NotFound, Registry
from mach_nix.db.journal import FileResult, Journal
from mach_nix.db.model import FILES_HOST, DistFile, Failure, Metadata, Project, Release
from mach_nix.db.pep517 import HookLimits, HookRunner
from mach_nix.db.reader import DatabaseLayer, SalvagedLayer
from mach_nix.db.scope import dependency_possible, file_in_scope, python_minors
from mach_nix.db.spool import LayerMembers, Spool
from mach_nix.errors import NetworkError, UsageError
from mach_nix.requirements import parse_dependency

#: Failure kinds that are not cached: they depend on policy, on the network or on what was wanted.
TRANSIENT_KINDS = frozenset({"skipped", "download", "not-crawled"})
#: Failure kinds tried again whenever their file is wanted (``skipped`` only under another policy).
RETRIED_KINDS = frozenset({"download", "not-crawled"})
#: The failure kind of a file of a release no requirement of the crawl admitted.
NOT_CRAWLED = "not-crawled"
NOT_CRAWLED_REASON = "no crawled requirement admits this version; crawl NAME==VERSION to add it"
#: Why an sdist was not downloaded although its release was wanted.
SDIST_NOT_NEEDED = "not downloaded: a wheel of this release gives its metadata (--hooks all reads every sdist)"
#: Where a crawl spools finished projects, relative to the database directory.
SPOOL = Path(".partial") / "spool"
#: Where downloaded sdists wait for a free hook slot.
HOOK_QUEUE = Path(".partial") / "hook-queue"
HOOK_POLICIES = ("all", "no-wheel", "never")
#: Fetches of a whole file whose size or sha256 mismatches before it is a ``download`` failure.
VERIFY_ATTEMPTS = 3


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
        force: refetch projects even when their serial did not change, and read a
            damaged old database as a :class:`~mach_nix.db.reader.SalvagedLayer` (the
            projects it cannot read are crawled again).
        crawl_time: the crawl time to record (default: ``SOURCE_DATE_EPOCH`` or now).
    """

    concurrency: int = 16
    hooks: str = "no-wheel"
    hook_timeout: float = 120.0
    hook_memory_mb: int = 2048
    max_sdist_mb: int = 100
    progress: bool = True
    force: bool = False
    crawl_time: str | None = None


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
    files_not_crawled: int = 0
    files_same_metadata: int = 0
    sdists_not_downloaded: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    not_found: list[str] = field(default_factory=list)
    invalid_requirements: int = 0
    requests: int = 0
    seconds: float = 0.0
    #: the old database's files that could not be read (``force``: their projects were crawled again)
    unreadable: list[str] = field(default_factory=list)
    #: projects of those files that this crawl did not reach (nor the registry list): left out
    unreadable_dropped: list[str] = field(default_factory=list)

    def text(self) -> str:
        """A human-readable multi-line summary."""
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(self.failures.items())) or "none"
        lines = [
            f"projects: {self.projects_total} in the database ({self.projects_fetched} fetched, "
            f"{self.projects_unchanged} unchanged)",
            f"releases: {self.releases}   files: {self.files} "
            f"({self.files_extracted} extracted now, {self.files_reused} reused, "
            f"{self.files_same_metadata} wheels with the METADATA of another, "
            f"{self.files_not_crawled} of unwanted versions not crawled, "
            f"{self.sdists_not_downloaded} sdists not needed)",
            f"failures by kind: {kinds}",
            f"HTTP requests: {self.requests}   time: {self.seconds:.1f}s",
        ]
        if self.not_found:
            lines.append(f"not on PyPI: {', '.join(sorted(self.not_found))}")
        if self.invalid_requirements:
            lines.append(f"unparseable Requires-Dist lines skipped while following: {self.invalid_requirements}")
        if self.unreadable:
            lines.append(
                f"repaired: the projects the old database could not read were crawled again ({len(self.unreadable)}"
                f" damaged files: {', '.join(self.unreadable)}; a project of a damaged .idx only if a root reaches it)"
            )
        if self.unreadable_dropped:
            lines.append(
                "left out, unreadable in the old database and not reached by this crawl (not on the registry, or"
                f" not a root of it: crawl them by name): {', '.join(self.unreadable_dropped)}"
            )
        return "\n".join(lines)


# --------------------------------------------------------------------------- crawl state


def _sha256(dist: DistFile) -> str:
    """The sha256 of a file the registry listed (always given by the simple API)."""
    if dist.sha256 is None:
        raise ValueError(f"{dist.filename}: no sha256 in the registry's listing")
    return dist.sha256


def _size(dist: DistFile) -> int:
    if dist.size is None:
        raise ValueError(f"{dist.filename}: no size in the registry's listing")
    return dist.size


def _download_url(dist: DistFile, info: dict[str, Any]) -> str:
    """Where to download a file: the URL the registry listed (a mirror's own), else the canonical one."""
    url = info.get("url") or dist.url
    if not url:
        raise ValueError(f"{dist.filename}: no URL in the registry's listing")
    return str(url)


def _upload_time(value: str | None) -> str:
    if not value:
        return ""
    return value[:19] + "Z" if len(value) >= 19 else value


class Progress:
    """The crawl's progress line (:class:`mach_nix.progress.Progress`: a terminal only)."""

    def __init__(self, enabled: bool, stream: TextIO | None = None, label: str = "crawling") -> None:
        """Create the line; nothing is drawn when ``enabled`` is false."""
        self.line = progress.Progress(label, enabled, stream, interval=0.2)

    def update(
        self,
        done_projects: int,
        total_projects: int,
        done_files: int,
        total_files: int,
        failures: int,
        force: bool = False,
    ) -> None:
        """Redraw (at most 5 times a second)."""
        bar = progress.bar(done_files + done_projects, total_files + total_projects, 30)
        text = f"{bar} projects {done_projects}/{total_projects}  files {done_files}/{total_files}  failures {failures}"
        self.line.update(text, force)

    def done(self) -> None:
        """Erase the line."""
        self.line.done()


class NeedsHook(Exception):
    """Raised by :meth:`Crawler.extract` when an sdist needs its PEP 517 hook run.

    The main loop then queues :meth:`Crawler.run_hook` on the (CPU-sized) hook
    pool, so slow hooks never hold the HTTP workers.
    """

    def __init__(self, data: bytes) -> None:
        super().__init__("needs the PEP 517 hook")
        self.data = data


def assemble_release(
    version: str, results: list[tuple[DistFile, Metadata | None, Any]], extra_failures: tuple[Failure, ...] = ()
) -> Release:
    """The :class:`Release` of ``version`` from its files in order, each with its extraction
    result (metadata or a failure with ``kind`` and ``reason``): equal metadata stored once,
    files pointing at it by index; ``extra_failures`` (of unlisted files) kept at the end."""
    metas: list[Metadata] = []
    files: list[DistFile] = []
    failures: list[Failure] = []
    for dist, meta, fail in results:
        index = None
        if meta is not None:
            if meta not in metas:
                metas.append(meta)
            index = metas.index(meta)
        if fail is not None:
            failures.append(Failure(dist.filename, fail.kind, fail.reason))
        files.append(dist._replace(metadata=index))
    return Release(version, tuple(files), tuple(metas), (*failures, *extra_failures))


class Crawler:
    """Crawl projects (optionally their dependency closure) into a database directory."""

    def __init__(
        self,
        db_dir: str | os.PathLike[str],
        options: CrawlOptions | None = None,
        client: Registry | None = None,
        *,
        base: DatabaseLayer | None = None,
        scope: set[str] | None = None,
        serials: Mapping[str, int] | None = None,
    ) -> None:
        """Prepare a crawl of the database at ``db_dir`` (it need not exist yet).

        Args:
            base: the database whose results are reused and whose unreached projects
                are kept (default: the one at ``db_dir``); a partition of a distributed
                crawl writes a partial database of its own from the whole old one.
            scope: the only projects of ``base`` that may be kept or copied (a partition's).
            serials: ``_last-serial`` per project as the root index gives it: a project
                whose stored serial is the same is kept without reading its page.
        """
        self.root = Path(db_dir)
        self.options = options or CrawlOptions()
        if self.options.hooks not in HOOK_POLICIES:
            raise UsageError(f"--hooks must be one of {', '.join(HOOK_POLICIES)}, not {self.options.hooks!r}")
        self.client = client or Client()
        self.scope = scope
        self.serials = dict(serials or {})
        #: fsync the database written (a partition's partial one need not: its journal is the checkpoint)
        self.durable = True
        self.old: DatabaseLayer | None = base
        if self.options.force and base is not None and not isinstance(base, SalvagedLayer):
            self.old = SalvagedLayer(base.path, base.files_cache)
        if base is None and (self.root / MANIFEST).exists():
            # --force crawls again what a damaged database cannot read (SalvagedLayer)
            self.old = (SalvagedLayer if self.options.force else DatabaseLayer)(self.root)
            if (
                self.old.manifest["shard_counts"]["files"]
                and not (self.old.path / self.old.manifest["shards_dir"] / FILES_DIR).is_dir()
            ):
                raise UsageError(
                    f"{self.root} is a graph-only database (its file index is published at "
                    f"{self.old.manifest.get('files_url')}); crawl into a database of your own and layer it "
                    "over this one (--db BASE --db MINE), or update the full database"
                )
        self.crawl_time = self.options.crawl_time
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
                announced = info.get("core-metadata") or info.get("data-dist-info-metadata")
                if announced:
                    digest = announced.get("sha256") if isinstance(announced, dict) else None
                    try:
                        body = self.fetch_checked(_download_url(dist, info) + ".metadata", dist, None, digest)
                        return parse_core_metadata(body, "pep658")[0], None
                    except NotFound:
                        pass
                    except ExtractError as error:  # damaged every time: read it from the wheel instead
                        if error.kind != "download":
                            raise
                return self._range_read(_download_url(dist, info), _size(dist)), None
            return self._extract_sdist(dist, info, release_has_wheels), None
        except ExtractError as error:
            return None, error.failure(dist.filename)
        except NotFound:
            return None, Failure(dist.filename, "download", "the file answered 404")
        except NetworkError as error:
            return None, Failure(dist.filename, "download", error.message)

    def _range_read(self, url: str, size: int) -> Metadata:
        """A wheel's METADATA by range reads (each answer's length checked against ``size``).

        A damaged answer cannot be told from a damaged file by one read: a METADATA that
        fails its CRC is read again (then a ``download`` failure), and any other failure
        (not a zip, no METADATA) is recorded only when a second read ends the same way.
        """
        last: ExtractError | None = None
        for _ in range(VERIFY_ATTEMPTS):
            try:
                return wheel_metadata(lambda a, b: self.client.range(url, a, b, size=size), size)
            except ExtractError as error:
                if (
                    error.kind != "download"
                    and last is not None
                    and (last.kind, last.reason)
                    == (
                        error.kind,
                        error.reason,
                    )
                ):
                    raise
                last = error
        assert last is not None
        raise last

    def fetch_checked(
        self, url: str, dist: DistFile, size: int | None, sha256: str | None, max_bytes: int | None = None
    ) -> bytes:
        """GET a whole file and check it against the ``size`` and ``sha256`` the registry lists
        (``None``: not listed), before anything reads it; a mismatch is fetched again.

        Raises:
            ExtractError: kind ``download`` when every attempt mismatched (retried by the next crawl).
        """
        problem = ""
        for _ in range(VERIFY_ATTEMPTS):
            body = self.client.request(url, max_bytes=max_bytes).body
            if size is not None and len(body) != size:
                problem = f"{len(body)} bytes received, the registry lists {size}"
            elif sha256 and hashlib.sha256(body).hexdigest() != sha256.lower():
                problem = "its sha256 is not the one the registry lists"
            else:
                return body
        what = url.rsplit("/", 1)[-1]
        raise ExtractError("download", f"{what}: {problem} ({VERIFY_ATTEMPTS} attempts); the next crawl retries it")

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

    def _extract_sdist(self, dist: DistFile, info: dict[str, Any], release_has_wheels: bool) -> Metadata:
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
            data = self.fetch_checked(_download_url(dist, info), dist, _size(dist), _sha256(dist), limit)
            contents = read_sdist(dist.filename, data)
        else:
            # stream: stop reading as soon as an unreliable PKG-INFO shows the hook is not wanted
            # (downloaded whole: cheaper than a new connection per file; only the read stops early)
            body = self.fetch_checked(_download_url(dist, info), dist, _size(dist), _sha256(dist), limit)
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

    def retried(self, failure: Failure, policy_same: bool) -> bool:
        """True if a recorded failure is not reused: it is tried again when its file is wanted.

        ``download`` and ``not-crawled`` always are; ``skipped`` when the policy that
        decided it (``policy_same`` tells) differs from this crawl's.
        """
        return failure.kind in RETRIED_KINDS or (failure.kind == "skipped" and not policy_same)

    def project_results(self, project: Project, policy_same: bool) -> dict[str, FileResult]:
        """The reusable per-file results of a stored project (with details), by sha256."""
        out: dict[str, FileResult] = {}
        for release in project.releases.values():
            fails = {f.filename: f for f in release.failures}
            for dist in release.files:
                fail = fails.get(dist.filename)
                if fail is not None and self.retried(fail, policy_same):
                    continue
                if dist.sha256:
                    out[dist.sha256] = (release.metadata_of(dist), fail)
        return out

    def old_results(self, name: str) -> dict[str, FileResult]:
        """The results an existing database already holds for ``name``'s files, by sha256."""
        if self.old is None:
            return {}
        project = self.old.project(name, details=True)
        if project is None:
            return {}
        return self.project_results(project, self._same_policy_as_old())

    def group_files(self, page: dict[str, Any]) -> dict[str, list[tuple[DistFile, dict[str, Any]]]]:
        """The in-scope files of a simple page, by release version (as published).

        A file must be served from the registry's files host (``files.pythonhosted.org``,
        or the client's ``files_url`` for a mirror): its path there is recorded.
        """
        files_host = getattr(self.client, "files_url", FILES_HOST)
        published: dict[Version, str] = {}
        for text in page.get("versions", []):
            try:
                published.setdefault(Version(text), text)
            except InvalidVersion:
                continue
        releases: dict[str, list[tuple[DistFile, dict[str, Any]]]] = {}
        for info in page.get("files", []):
            filename = info.get("filename")
            if not isinstance(filename, str) or not file_in_scope(filename):
                continue
            version = file_version(filename)
            if version is None:
                continue
            text = published.get(version, str(version))
            url = str(info.get("url", "")).split("#", 1)[0]
            if not url.startswith(files_host):
                continue
            url_path = url[len(files_host) :].rsplit("/", 1)[0]
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
            releases.setdefault(text, []).append((dist, {**info, "url": url}))
        return releases

    @staticmethod
    def assemble(
        name: str, serial: int, releases: dict[str, list[DistFile]], results: dict[str, FileResult]
    ) -> Project:
        """A project from its files (by release) and their results (by sha256 + filename), files sorted by name."""
        out: dict[str, Release] = {}
        for version, dists in releases.items():
            ordered = sorted(dists, key=lambda item: item.filename)
            out[version] = assemble_release(
                version, [(dist, *results[_sha256(dist) + dist.filename]) for dist in ordered]
            )
        return Project(name=name, releases=out, last_serial=serial)

    # -- the main loop -------------------------------------------------------

    def run(
        self,
        roots: Sequence[Requirement],
        *,
        closure: bool,
        refresh: Iterable[str] = (),
        plain: Sequence[Requirement] = (),
        record: Mapping[str, Any] | None = None,
    ) -> Summary:
        """Crawl ``roots`` (and their closure if asked), ``plain`` roots (never followed) and
        ``refresh`` names (their known releases only); write the DB.

        Projects of an existing database that are not reached are kept unchanged.
        ``record`` replaces what the manifest's ``crawl`` records about the roots
        (a distributed crawl records its own).
        """
        start = time.monotonic()
        run = _CrawlRun(self, closure)  # takes the database's crawl lock first
        spool = run.spool
        try:
            run.execute(roots, plain, refresh)
            if self.old is not None:
                kept = set(self.old.names()) if self.scope is None else self.scope
                spool.add_layer(self.old, only={n for n in kept if n not in spool})
                if isinstance(self.old, SalvagedLayer):
                    self.summary.unreadable = sorted(self.old.unreadable)
                    self.summary.unreadable_dropped = sorted(n for n in self.old.unreadable_projects if n not in spool)
            crawl: dict[str, Any] = {"hooks": self.options.hooks, "policy": self.policy}
            if record is not None:
                crawl.update(record)
            else:
                crawl["roots"] = self._merged_roots(roots, closure, plain)
            manifest = spool.write(
                self.root, crawl=crawl, crawl_time=self.crawl_time, durable=self.durable, repair=self.options.force
            )
        finally:
            spool.close()
            shutil.rmtree(run.hook_queue, ignore_errors=True)
        run.journal.close(delete=True)
        counts = manifest["counts"]
        self.summary.projects_total = counts["projects"]
        self.summary.releases = counts["releases"]
        self.summary.files = counts["files"]
        self.summary.failures = dict(manifest["failures_by_kind"])
        self.summary.files_not_crawled = self.summary.failures.get(NOT_CRAWLED, 0)
        self.summary.requests = self.client.requests
        self.summary.seconds = time.monotonic() - start
        return self.summary

    def close_hooks(self) -> None:
        """Stop the PEP 517 hook runner, if one was started."""
        if self._hooks is not None:
            self._hooks.close()

    def _merged_roots(
        self, roots: Sequence[Requirement], closure: bool, plain: Sequence[Requirement] = ()
    ) -> list[dict[str, Any]]:
        merged: dict[str, bool] = {}
        if self.old is not None:
            for item in self.old.manifest.get("crawl", {}).get("roots", []):
                merged[item["requirement"]] = bool(item.get("closure"))
        for req in roots:
            merged[str(req)] = merged.get(str(req), False) or closure
        for req in plain:
            merged[str(req)] = merged.get(str(req), False)
        return [{"requirement": r, "closure": c} for r, c in sorted(merged.items())]


#: What a project was required with: (specifier text, extras, whether its dependencies are followed).
Demand = tuple[str, frozenset[str], bool]


@dataclass
class _Pending:
    """A project whose files are being extracted.

    Attributes:
        releases: the in-scope files of its simple page, by version as published.
        versions: each of those versions parsed (``None``: not PEP 440).
        reuse: results known before this run (the old database, an earlier record of
            this run), by sha256.
        scheduled: versions whose files were admitted (by a demand) and started.
        waiting: keys (sha256 + filename) of files being extracted.
        deferred: per version, the sdists waiting for the release's wheels.
        followers: per key of a wheel being read, the wheels of its release announced
            with the same METADATA sha256 (PEP 658), which take its result.
        results: per key, the result of every started file.
    """

    name: str
    serial: int
    releases: dict[str, list[tuple[DistFile, dict[str, Any]]]]
    versions: dict[str, Version | None]
    reuse: dict[str, FileResult]
    scheduled: set[str] = field(default_factory=set)
    waiting: set[str] = field(default_factory=set)
    deferred: dict[str, list[tuple[DistFile, dict[str, Any]]]] = field(default_factory=dict)
    followers: dict[str, list[tuple[DistFile, dict[str, Any]]]] = field(default_factory=dict)
    results: dict[str, FileResult] = field(default_factory=dict)


def _metadata_digest(info: dict[str, Any]) -> str | None:
    """The sha256 of a wheel's METADATA file as its page announces it (PEP 658/714), or ``None``."""
    announced = info.get("core-metadata") or info.get("data-dist-info-metadata")
    if isinstance(announced, dict) and isinstance(announced.get("sha256"), str):
        return str(announced["sha256"]).lower()
    return None


def _parse_version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


class _CrawlRun:
    """One run of :meth:`Crawler.run`: the work queued, running and done, and its counters.

    **What is extracted.** A project is wanted with *demands* (a specifier, extras,
    and whether its dependencies are followed): a root by its own requirement, a
    dependency by every ``Requires-Dist`` line that reaches it. Only the releases
    some demand admits have their files' metadata extracted; the others are
    recorded with their files and a ``not-crawled`` failure (a later crawl that
    wants them extracts them). With ``--closure``, the dependencies of an admitted
    release are followed when their marker can hold on some supported target on
    which the release's ``Requires-Python`` holds, with the extras of the demands
    that admit it. This is a least fixpoint: the result does not depend on the
    order in which pages arrive. A project finished before a new demand admits
    more of its releases is *reopened* (its page is read again; what it already
    has is reused).

    **Which files.** Wheels first, one per distinct METADATA sha256 when the page
    announces them (per-platform wheels usually share one); an sdist of a release that has wheels waits for
    them, and is not downloaded at all when one of them gave the metadata (unless
    ``--hooks all``): ``skipped``. Otherwise the sdist is read (and its hook run
    when ``--hooks`` allows).

    **Memory.** Finished projects go to the :class:`~mach_nix.db.spool.Spool` on disk
    at once; at most :attr:`max_in_flight` projects (pages read, files being
    extracted) are held in memory, so a crawl of any size runs in bounded memory.

    Two thread pools do the work: HTTP requests (simple pages, file metadata) on
    one sized by ``--concurrency``, PEP 517 hooks on one sized by the CPUs. The
    calling thread owns every attribute; workers only return results, which
    arrive through :attr:`completed` and are handled one at a time.
    """

    def __init__(self, crawler: Crawler, closure: bool) -> None:
        self.crawler = crawler
        self.closure = closure
        self.summary = crawler.summary
        self.journal = Journal(crawler.root, crawler.policy)
        self.spool = Spool(crawler.root / SPOOL)
        self.hook_queue = crawler.root / HOOK_QUEUE
        shutil.rmtree(self.hook_queue, ignore_errors=True)  # a killed run's leftovers
        self.hook_queue.mkdir(parents=True)
        self.old_members = LayerMembers(crawler.old) if crawler.old is not None else None
        self.progress = Progress(crawler.options.progress)
        self.policy_same = crawler._same_policy_as_old()
        self.demands: dict[str, set[Demand]] = {}
        self.state: dict[str, str] = {}  # "queued" | "page" | "pending" | "done"
        self.backlog: deque[str] = deque()
        self.pending: dict[str, _Pending] = {}
        self.uncrawled: dict[str, list[Version | None]] = {}
        self.expanded: dict[str, dict[str, frozenset[str]]] = {}
        self.invalid_lines: set[str] = set()
        self.max_in_flight = max(8, 4 * crawler.options.concurrency)
        self.in_flight = 0
        self.pool = futures.ThreadPoolExecutor(max_workers=crawler.options.concurrency)
        self.hook_pool = futures.ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1))
        self.running: dict[futures.Future[Any], tuple[str, Any]] = {}
        self.completed: queue.SimpleQueue[futures.Future[Any]] = queue.SimpleQueue()
        self.total_files = 0
        self.done_files = 0
        self.failures = 0
        self._specs: dict[str, SpecifierSet] = {}

    # -- driving ------------------------------------------------------------

    def execute(self, roots: Sequence[Requirement], plain: Sequence[Requirement], refresh: Iterable[str]) -> None:
        """Crawl until nothing is left to do (finished projects are in the spool).

        On any error (or an interrupt) the pools are stopped and the journal is
        closed, keeping what it holds for the next run.
        """
        try:
            for req in roots:
                self.want_requirement(req, self.closure)
            for req in plain:
                self.want_requirement(req, False)
            for name in refresh:
                self.touch(str(canonicalize_name(name)))
            while self.running or self.backlog:
                self.pump()
                self.show_progress()
                if not self.running:
                    continue  # the backlog was all kept as it was: nothing to wait for
                try:
                    future = self.completed.get(timeout=0.5)
                except queue.Empty:
                    continue
                kind, payload = self.running.pop(future)
                if kind == "simple":
                    self.handle_page(payload, future.result())
                else:
                    self.handle_file(payload, future)
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
        self.summary.invalid_requirements = len(self.invalid_lines)

    def show_progress(self, force: bool = False) -> None:
        """Redraw the progress line."""
        self.progress.update(
            len(self.spool), len(self.state), self.done_files, self.total_files, self.failures, force=force
        )

    def submit(self, fn: Any, *args: Any, tag: tuple[str, Any], hooks: bool = False) -> None:
        """Run ``fn(*args)`` on the HTTP pool (or the hook pool); its result comes back with ``tag``."""
        future = (self.hook_pool if hooks else self.pool).submit(fn, *args)
        self.running[future] = tag
        future.add_done_callback(self.completed.put)

    def pump(self) -> None:
        """Ask for the pages of queued projects while fewer than :attr:`max_in_flight` are in flight."""
        while self.backlog and self.in_flight < self.max_in_flight:
            name = self.backlog.popleft()
            self.state[name] = "page"
            self.in_flight += 1
            if not self.unchanged_by_serial(name):
                self.submit(self.crawler.client.simple_project, name, tag=("simple", name))

    def unchanged_by_serial(self, name: str) -> bool:
        """Keep ``name`` without reading its page when the root index's serial is the stored one."""
        crawler = self.crawler
        serial = crawler.serials.get(name)
        if serial is None or crawler.old is None or crawler.options.force or name in self.spool:
            return False
        graph = crawler.old.raw(name)
        if graph is None or graph.get("serial") != serial or self.old_members is None:
            return False
        files = self.old_members.member(name)
        text = decompress(files).decode() if files else ""
        kinds = {fields[5] for fields in (line.split("\t") for line in text.splitlines()) if len(fields) > 5}
        if not (kinds & RETRIED_KINDS or ("skipped" in kinds and not self.policy_same)):
            self.summary.projects_unchanged += 1  # nothing to retry: copied as stored, not decoded
            self.spool.add_members(name, graph, files)
            self.finished(name, Project(name), [])
            return True
        old_project = crawler.old.project(name, details=True)
        if old_project is None or old_project.last_serial != serial or self.needs_work(old_project):
            return False
        self.summary.projects_unchanged += 1
        self.spool.add(old_project)
        self.finished(name, old_project)
        return True

    def queue(self, name: str) -> None:
        """Queue ``name``'s page (a new project, or a finished one reopened)."""
        self.state[name] = "queued"
        self.backlog.append(name)

    # -- demands --------------------------------------------------------------

    def spec(self, text: str) -> SpecifierSet:
        """A parsed specifier (cached)."""
        parsed = self._specs.get(text)
        if parsed is None:
            parsed = self._specs[text] = SpecifierSet(text)
        return parsed

    def admits(self, name: str, version: Version | None, follow_only: bool = False) -> frozenset[str] | None:
        """The extras of the demands on ``name`` that admit ``version`` (``None``: none does).

        A version that is not PEP 440 is admitted only by a demand without specifier.
        """
        found: frozenset[str] | None = None
        for text, extras, follow in self.demands.get(name, ()):
            if follow_only and not follow:
                continue
            if (not text) if version is None else self.spec(text).contains(version, prereleases=True):
                found = extras if found is None else found | extras
        return found

    def want_requirement(self, req: Requirement, follow: bool) -> None:
        """Require a root project."""
        extras = frozenset(str(canonicalize_name(e)) for e in req.extras)
        self.want(str(canonicalize_name(req.name)), str(req.specifier), extras, follow)

    def touch(self, name: str) -> None:
        """Refresh ``name`` with no demand of its own (``db update``): its page is read, known
        results are kept, new releases are recorded but not extracted unless some demand admits them."""
        if name not in self.state:
            self.queue(name)

    def want(self, name: str, spec_text: str, extras: frozenset[str], follow: bool) -> None:
        """Add a demand on ``name``; fetch its page once; extract or follow what the demand adds."""
        demands = self.demands.setdefault(name, set())
        demand = (spec_text, extras, follow)
        if demand in demands:
            return
        demands.add(demand)
        state = self.state.get(name)
        if state is None:
            self.queue(name)
        elif state == "pending":
            self.admit(self.pending[name])
        elif state == "done":
            if any(self.admits(name, v) is not None for v in self.uncrawled.get(name, ())):
                self.uncrawled.pop(name, None)
                self.queue(name)  # reopen: read the page again, extract what is now admitted
            elif follow:
                self.expand(name)

    def expand(self, name: str) -> None:
        """With ``--closure``: want the dependencies of ``name``'s admitted releases (finished project)."""
        if not self.closure:
            return
        if not any(follow for _, _, follow in self.demands.get(name, ())):
            return
        project = self.spool.project(name)
        if project is None:
            return
        seen = self.expanded.setdefault(name, {})
        for version_text in project.releases:
            extras = self.admits(name, _parse_version(version_text), follow_only=True)
            if extras is None:
                continue
            before = seen.get(version_text)
            if before is not None and extras <= before:
                continue
            seen[version_text] = extras if before is None else before | extras
            release = project.releases[version_text]
            for meta in release.metadata:
                minors = python_minors(meta.requires_python or release.requires_python)
                if not minors:
                    continue
                for line in meta.requires_dist:
                    req = parse_dependency(line)
                    if req is None:
                        self.invalid_lines.add(line)
                        continue
                    if dependency_possible(req, extras, minors):
                        dep_extras = frozenset(str(canonicalize_name(e)) for e in req.extras)
                        self.want(str(canonicalize_name(req.name)), str(req.specifier), dep_extras, True)

    # -- pages and files ------------------------------------------------------

    def needs_work(self, project: Project) -> bool:
        """True if a stored project has files to extract now: an admitted release with a
        file whose failure is retried (``download``, ``not-crawled``, ``skipped`` under
        another policy)."""
        for version_text, release in project.releases.items():
            if not release.failures:
                continue
            if self.admits(project.name, _parse_version(version_text)) is None:
                if any(f.kind == "download" for f in release.failures):
                    return True  # a download failure is always retried (docs/db-format.md §3.4)
                continue
            if any(self.crawler.retried(f, self.policy_same) for f in release.failures):
                return True
        return False

    def handle_page(self, name: str, page: dict[str, Any] | None) -> None:
        """A simple page arrived: keep an unchanged project, else start its admitted files."""
        crawler = self.crawler
        if page is None:
            self.summary.not_found.append(name)
            self.state[name] = "done"
            self.in_flight -= 1
            return
        meta = page.get("meta", {})
        serial = int(meta.get("_last-serial") or page.get("_last-serial") or 0)
        reopened = name in self.spool
        old_project = crawler.old.project(name, details=True) if crawler.old is not None else None
        if (
            not reopened
            and old_project is not None
            and not crawler.options.force
            and serial
            and old_project.last_serial == serial
            and not self.needs_work(old_project)
        ):
            self.summary.projects_unchanged += 1
            self.spool.add(old_project)
            self.finished(name, old_project)
            return
        if not reopened:
            self.summary.projects_fetched += 1
        reuse: dict[str, FileResult] = {}
        if old_project is not None:
            reuse.update(crawler.project_results(old_project, self.policy_same))
        if reopened:
            earlier = self.spool.project(name)
            if earlier is not None:
                reuse.update(crawler.project_results(earlier, True))
        releases = crawler.group_files(page)
        item = _Pending(name, serial, releases, {v: _parse_version(v) for v in releases}, reuse)
        self.pending[name] = item
        self.state[name] = "pending"
        self.admit(item)
        self.maybe_finish(item)

    def admit(self, item: _Pending) -> None:
        """Start the files of the releases that some demand now admits and were not started yet."""
        hooks_all = self.crawler.options.hooks == "all"
        for version_text, files in item.releases.items():
            if version_text in item.scheduled or self.admits(item.name, item.versions[version_text]) is None:
                continue
            item.scheduled.add(version_text)
            wheels = [(d, i) for d, i in files if d.is_wheel]
            sdists = [(d, i) for d, i in files if not d.is_wheel]
            by_digest: dict[str, list[tuple[DistFile, dict[str, Any]]]] = {}
            for dist, info in wheels:
                digest = _metadata_digest(info)
                if digest is None:
                    self.start_file(item, version_text, dist, info, True)
                else:
                    by_digest.setdefault(digest, []).append((dist, info))
            for same in by_digest.values():  # wheels whose METADATA files have one sha256: read one
                leader = same[0][0]
                item.followers[_sha256(leader) + leader.filename] = same[1:]
                self.start_file(item, version_text, leader, same[0][1], True)
            if not sdists:
                continue
            if hooks_all or not wheels:
                for dist, info in sdists:
                    self.start_file(item, version_text, dist, info, bool(wheels))
            else:
                item.deferred[version_text] = sdists
                self.release_sdists(item, version_text)

    def start_file(
        self, item: _Pending, version_text: str, dist: DistFile, info: dict[str, Any], release_has_wheels: bool
    ) -> None:
        """Take a file's known result, or queue its extraction."""
        key = _sha256(dist) + dist.filename
        if key in item.results or key in item.waiting:
            return
        self.total_files += 1
        cached = self.journal.results.get(_sha256(dist)) or item.reuse.get(_sha256(dist))
        if cached is not None:
            meta, fail = cached
            item.results[key] = (meta, Failure(dist.filename, fail.kind, fail.reason) if fail else None)
            self.summary.files_reused += 1
            self.done_files += 1
            self.resolve_followers(item, key)
            return
        item.waiting.add(key)
        tag = ("file", (item.name, version_text, dist, info))
        self.submit(self.crawler.extract, dist, info, release_has_wheels, tag=tag)

    def resolve_followers(self, item: _Pending, key: str) -> None:
        """The wheels announced with the same METADATA sha256 as the one of ``key`` take its result
        (or their own known one)."""
        meta, fail = item.results[key]
        for dist, _ in item.followers.pop(key, ()):
            follower = _sha256(dist) + dist.filename
            if follower in item.results:
                continue
            self.total_files += 1
            self.done_files += 1
            cached = self.journal.results.get(_sha256(dist)) or item.reuse.get(_sha256(dist))
            if cached is not None:
                meta_, fail_ = cached
                item.results[follower] = (meta_, Failure(dist.filename, fail_.kind, fail_.reason) if fail_ else None)
                continue
            result = (meta, Failure(dist.filename, fail.kind, fail.reason) if fail else None)
            item.results[follower] = result
            self.journal.add(_sha256(dist), result)
            self.summary.files_same_metadata += 1

    def release_sdists(self, item: _Pending, version_text: str) -> None:
        """Once a release's wheels are known: skip its sdists if a wheel gave the metadata, else read them."""
        wheels = [d for d, _ in item.releases[version_text] if d.is_wheel]
        keys = [_sha256(d) + d.filename for d in wheels]
        if not all(key in item.results for key in keys):
            return
        sdists = item.deferred.pop(version_text)
        if any(item.results[key][0] is not None for key in keys):
            for dist, _ in sdists:
                key = _sha256(dist) + dist.filename
                cached = self.journal.results.get(_sha256(dist)) or item.reuse.get(_sha256(dist))
                self.total_files += 1
                self.done_files += 1
                if cached is not None:
                    meta, fail = cached
                    item.results[key] = (meta, Failure(dist.filename, fail.kind, fail.reason) if fail else None)
                    self.summary.files_reused += 1
                else:
                    item.results[key] = (None, Failure(dist.filename, "skipped", SDIST_NOT_NEEDED))
                    self.summary.sdists_not_downloaded += 1
            return
        for dist, info in sdists:
            self.start_file(item, version_text, dist, info, False)

    def run_queued_hook(self, dist: DistFile, queued: Path) -> FileResult:
        """:meth:`Crawler.run_hook` on an sdist waiting in :attr:`hook_queue` (removed then)."""
        try:
            data = queued.read_bytes()
        finally:
            queued.unlink(missing_ok=True)
        return self.crawler.run_hook(dist, data)

    def handle_file(self, payload: tuple[str, str, DistFile, dict[str, Any]], future: futures.Future[Any]) -> None:
        """A file's extraction ended: record it, or move it to the hook pool if it needs its hook."""
        name, version, dist, _ = payload
        try:
            result = future.result()
        except NeedsHook as needs:
            # the sdist waits for a hook slot on disk, not in memory (hooks are slower than downloads)
            queued = self.hook_queue / f"{_sha256(dist)}-{len(self.running)}"
            queued.write_bytes(needs.data)
            del needs
            self.submit(self.run_queued_hook, dist, queued, tag=("file", payload), hooks=True)
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
        self.resolve_followers(item, key)
        if dist.is_wheel and version in item.deferred:
            self.release_sdists(item, version)
        self.maybe_finish(item)

    def maybe_finish(self, item: _Pending) -> None:
        """Assemble and spool a project whose started files are all known."""
        if item.waiting or item.deferred:
            return
        results = item.results
        uncrawled: list[Version | None] = []
        for version_text, files in item.releases.items():
            if version_text in item.scheduled:
                continue
            missing = False
            for dist, _ in files:
                key = _sha256(dist) + dist.filename
                cached = self.journal.results.get(_sha256(dist)) or item.reuse.get(_sha256(dist))
                if cached is not None:
                    meta, fail = cached
                    results[key] = (meta, Failure(dist.filename, fail.kind, fail.reason) if fail else None)
                else:
                    results[key] = (None, Failure(dist.filename, NOT_CRAWLED, NOT_CRAWLED_REASON))
                    missing = True
            if missing:
                uncrawled.append(item.versions[version_text])
        releases = {v: [d for d, _ in files] for v, files in item.releases.items()}
        project = self.crawler.assemble(item.name, item.serial, releases, results)
        del self.pending[item.name]
        self.spool.add(project)
        self.finished(item.name, project, uncrawled)

    def finished(self, name: str, project: Project, uncrawled: list[Version | None] | None = None) -> None:
        """``name`` is in the spool: free its slot, remember what it lacks, follow its dependencies.

        Args:
            uncrawled: the versions whose files were not extracted (default: those of
                ``project``, a stored one, with a failure that is retried).
        """
        self.state[name] = "done"
        self.in_flight -= 1
        if uncrawled is None:
            uncrawled = [
                _parse_version(v)
                for v, release in project.releases.items()
                if any(self.crawler.retried(f, self.policy_same) for f in release.failures)
            ]
        if uncrawled:
            self.uncrawled[name] = uncrawled
        if any(self.admits(name, v) is not None for v in self.uncrawled.get(name, ())):
            self.uncrawled.pop(name, None)  # a demand arrived while it was being read
            self.queue(name)
            return
        self.expand(name)


def crawl(
    db_dir: str | os.PathLike[str], roots: Sequence[Requirement], *, closure: bool, options: CrawlOptions | None = None
) -> Summary:
    """Crawl ``roots`` (and with ``closure`` their dependencies) into ``db_dir``."""
    return Crawler(db_dir, options).run(roots, closure=closure)


def update(
    db_dir: str | os.PathLike[str], options: CrawlOptions | None = None, client: Registry | None = None
) -> Summary:
    """Refresh every project of the database at ``db_dir`` whose serial changed.

    Roots recorded with ``closure`` are followed again, so new dependencies of
    new releases are added; plain roots get their new releases; every other
    project keeps the releases it has and records new ones as ``not-crawled``.
    """
    crawler = Crawler(db_dir, options, client)
    if crawler.old is None:
        raise UsageError(f"{os.fspath(db_dir)!r} holds no database to update; create it with 'mach-nix db crawl'")
    recorded = crawler.old.manifest.get("crawl", {}).get("roots", [])
    closure_roots = [Requirement(r["requirement"]) for r in recorded if r.get("closure")]
    plain_roots = [Requirement(r["requirement"]) for r in recorded if not r.get("closure")]
    return crawler.run(closure_roots, closure=True, plain=plain_roots, refresh=crawler.old.names())
