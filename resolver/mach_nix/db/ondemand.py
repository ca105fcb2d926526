"""The resolver's view of every source of metadata: pinned databases, the user layer, the registry.

:class:`OnDemandSource` is the :class:`~mach_nix.db.model.ProjectSource` that ``mach-nix
lock`` and ``resolve`` resolve against. A project comes from the first of these that applies:

1. with ``--refresh`` (every project) or ``--refresh-package NAME``: the registry, again;
2. a pinned database (``--db``, layered as :class:`~mach_nix.db.reader.Database` does): it
   is the source of truth for what it holds, nothing of it is fetched again;
3. the user layer (:mod:`mach_nix.db.cache_layer`), unless fetching is allowed and the
   cut-off is later than when its page was fetched (then the page is fetched again: it
   may lack files the cut-off admits);
4. the registry (:mod:`mach_nix.db.fetch`), unless fetching is forbidden (``--offline``):
   then the project is missing.

The cut-off (``--exclude-newer``) hides the files of 3 and 4 uploaded after it, and the
releases left without a file. The metadata of a file of 3 or 4 that no run fetched yet is
fetched when the resolver asks for it (:meth:`OnDemandSource.fetch_metadata`); pages and
metadata the resolution is likely to ask for next are fetched ahead in the background
(:meth:`~OnDemandSource.want_project`, :meth:`~OnDemandSource.want_metadata`; the policy
is :mod:`mach_nix.resolution.prefetch`), on a bounded pool of threads. Nothing speculative
can change a result: the resolver only reads what it waited for, and a file's metadata
is a function of the file. :meth:`~OnDemandSource.close` writes every project fetched or
completed into the user layer, whole (its page and the metadata known), atomically.

Threads: the resolver calls from one thread; pool threads only fetch and record results
under the source's lock. The HTTP client, the executor and the fetcher come from the
``connect`` callable, called on the first fetch (a resolution that fetches nothing does
not import them).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from packaging.utils import canonicalize_name

from mach_nix import progress
from mach_nix.db.cache_layer import NOT_FETCHED, CacheLayer, build_release
from mach_nix.db.format import version_sort_key
from mach_nix.db.model import DistFile, Failure, Metadata, Project, ProjectSource, Release
from mach_nix.db.reader import Database
from mach_nix.db.writer import crawl_time_now

if TYPE_CHECKING:
    from mach_nix.db.fetch import Fetcher, Page

#: :meth:`OnDemandSource.state` of a file: its metadata is known.
KNOWN = "known"
#: Its metadata could not be obtained (a recorded failure).
FAILED = "failed"
#: Its metadata is not known yet and may be fetched now.
FETCHABLE = "fetchable"
#: An sdist whose PKG-INFO is not reliable: its PEP 517 hook may run now.
BUILDABLE = "buildable"
#: Its metadata is not known yet, and fetching is forbidden.
UNFETCHED = "unfetched"

#: Why a project is missing (:meth:`OnDemandSource.missing_reason`).
MISSING_OFFLINE = "offline"
MISSING_REGISTRY = "registry"

#: Metadata fetches in flight at once, by default.
CONCURRENCY = 16


@dataclass
class Connection:
    """What fetching needs, made by ``connect`` on the first fetch.

    Attributes:
        fetcher: reads the registry (:class:`mach_nix.db.fetch.Fetcher`).
        executor: a ``concurrent.futures`` executor of bounded size.
    """

    fetcher: Fetcher
    executor: Any


class _Promise:
    """A lookup or fetch being done by some thread (stands in for a future): waitable, never cancelled."""

    def __init__(self, done: bool = False) -> None:
        self._event = threading.Event()
        self._error: BaseException | None = None
        if done:
            self._event.set()

    def set(self, error: BaseException | None = None) -> None:
        self._error = error
        self._event.set()

    def done(self) -> bool:
        return self._event.is_set()

    def cancelled(self) -> bool:
        return False

    def cancel(self) -> bool:
        return False

    def exception(self) -> BaseException | None:
        self._event.wait()
        return self._error

    def result(self) -> None:
        self._event.wait()
        if self._error is not None:
            raise self._error


class _Progress:
    """The fetching line (:class:`mach_nix.progress.Progress`): pages and metadata done of requested."""

    def __init__(self, enabled: bool) -> None:
        self.line = progress.Progress("fetching metadata", enabled)

    def update(self, pages: int, pages_wanted: int, files: int, files_wanted: int, requests: int) -> None:
        self.line.update(f"projects {pages}/{pages_wanted}, files {files}/{files_wanted}, {requests} requests")

    def done(self) -> None:
        self.line.done()


Result = tuple[Metadata | None, Failure | None]


class _Remote:
    """A project from the user layer or the registry: what was known of it, what this run fetched, the view.

    Attributes:
        name: normalised name.
        serial: the registry's serial.
        stored: version -> release as known before this run, with the file-index fields
            (decoded lazily for the user layer's projects).
        visible: the versions with a file not newer than the cut-off, ascending.
        hidden: the versions hidden by the cut-off.
        results: file name -> (metadata, failure) fetched in this run.
        pep658: files whose ``.metadata`` the page advertises.
        base: where the files are downloaded from.
        fetched: when the page was fetched.
        raw: the page as sent, when it was fetched in this run (``b""``: the user layer's copy).
        known: for a fetched page, the results the user layer had for its files.
        view: the project as the resolver sees it.
        dirty: something new to save.
    """

    def __init__(
        self,
        name: str,
        serial: int,
        stored: Mapping[str, Release],
        visible: list[str],
        hidden: list[str],
        base: str,
        fetched: str,
        cutoff: str | None,
        pep658: set[str] | None = None,
        raw: bytes = b"",
        known: dict[str, Result] | None = None,
    ) -> None:
        self.name = name
        self.serial = serial
        self.stored = stored
        self.visible = visible
        self.hidden = hidden
        self.base = base
        self.fetched = fetched
        self.cutoff = cutoff
        self.pep658 = pep658 or set()
        self.raw = raw
        self.known = known or {}
        self.results: dict[str, Result] = {}
        self.dirty = bool(raw)
        self.tried: set[str] = set()
        self.built: set[str] = set()
        self._failures: dict[str, dict[str, Failure]] = {}
        self.lock = threading.Lock()
        self.view = Project(name, _View(self), serial)  # type: ignore[arg-type]

    def stored_result(self, version: str, dist: DistFile) -> Result | None:
        """What was known of a file before this run (``None``: not fetched)."""
        release = self._stored(version)
        failures = self._failures.get(version)
        if failures is None:
            failures = self._failures[version] = {f.filename: f for f in release.failures}
        stored = next((d for d in release.files if d.filename == dist.filename), None)
        meta = None if stored is None else release.metadata_of(stored)
        failure = failures.get(dist.filename)
        if meta is None and (failure is None or failure.kind == NOT_FETCHED):
            return None
        return meta, failure

    def result(self, version: str, dist: DistFile) -> Result | None:
        """What is known of a file now (``None``: not fetched)."""
        found = self.results.get(dist.filename)
        return found if found is not None else self.stored_result(version, dist)

    def full_file(self, version: str, filename: str) -> DistFile:
        """A file's record with its file-index fields."""
        return next(d for d in self._stored(version).files if d.filename == filename)

    def _stored(self, version: str) -> Release:
        with self.lock:  # the user layer's releases are decoded on first access: one thread at a time
            return self.stored[version]

    def build_view(self, version: str) -> Release:
        """The release as the resolver sees it: files not newer than the cut-off, every result known."""
        release = self._stored(version)
        cutoff = self.cutoff
        files = [d for d in release.files if cutoff is None or not d.upload_time or d.upload_time <= cutoff]
        overrides = [d for d in files if d.filename in self.results]
        if len(files) == len(release.files) and not overrides:
            return release
        results = {}
        for dist in files:
            found = self.result(version, dist)
            if found is not None:
                results[dist.filename] = found
        return build_release(version, files, results)

    def record(self, version: str, filename: str, result: Result) -> None:
        """Store one file's result (the view's release is built again)."""
        self.results[filename] = result
        self.tried.add(filename)
        self.dirty = True
        self.view.releases.forget(version)  # type: ignore[attr-defined]


class _View(Mapping[str, Release]):
    """The visible releases of a :class:`_Remote`, ascending, each built on first access."""

    def __init__(self, remote: _Remote) -> None:
        self.remote = remote
        self._visible = set(remote.visible)
        self._built: dict[str, Release] = {}

    def __getitem__(self, version: str) -> Release:
        release = self._built.get(version)
        if release is None:
            if version not in self._visible:
                raise KeyError(version)
            release = self._built[version] = self.remote.build_view(version)
        return release

    def forget(self, version: str) -> None:
        self._built.pop(version, None)

    def __contains__(self, version: object) -> bool:
        return version in self._visible

    def __iter__(self) -> Iterator[str]:
        return iter(self.remote.visible)

    def __len__(self) -> int:
        return len(self.remote.visible)


class _PageReleases(Mapping[str, Release]):
    """A fetched page's releases with the results known for its files, each built on first access."""

    def __init__(self, files: Mapping[str, list[DistFile]], results: Mapping[str, Result]) -> None:
        self.files = files
        self.results = results
        self._built: dict[str, Release] = {}

    def __getitem__(self, version: str) -> Release:
        release = self._built.get(version)
        if release is None:
            release = self._built[version] = build_release(version, self.files[version], self.results)
        return release

    def __iter__(self) -> Iterator[str]:
        return iter(self.files)

    def __len__(self) -> int:
        return len(self.files)


def _split(releases: Mapping[str, Sequence[DistFile]], cutoff: str | None) -> tuple[list[str], list[str]]:
    """The versions of ``releases`` (ascending) with a file not newer than ``cutoff``, and the others."""
    versions = sorted(releases, key=version_sort_key)
    if cutoff is None:
        return versions, []
    visible: list[str] = []
    hidden: list[str] = []
    for version in versions:
        files = releases[version]
        (visible if any(not d.upload_time or d.upload_time <= cutoff for d in files) else hidden).append(version)
    return visible, hidden


class OnDemandSource(ProjectSource):
    """Pinned databases, the user layer and the registry, as one :class:`ProjectSource`.

    Args:
        pinned: the pinned databases (``None``: none).
        cache: the user layer (``None``: none is read or written, e.g. ``--no-cache``).
        connect: makes the :class:`Connection` on the first fetch; ``None``: never fetch.
        cutoff: files uploaded after this ISO 8601 UTC time are invisible (3 and 4 above).
        cutoff_given: the cut-off was asked for explicitly (the lock records it anyway).
        refresh: fetch every project again (``True``), or these normalised names.
        build: an sdist that must be used and whose metadata only its PEP 517 hook can
            give may have its hook run (the fetcher's ``hooks``).
        progress: draw a progress line on stderr while fetching (when it is a terminal).
        index: the registry's simple API URL (recorded in the lock; default: the user layer's).
    """

    releases_sorted = True

    def __init__(
        self,
        pinned: Database | None,
        cache: CacheLayer | None,
        connect: Callable[[], Connection] | None,
        *,
        cutoff: str | None = None,
        cutoff_given: bool = False,
        refresh: bool | Iterable[str] = False,
        build: bool = True,
        progress: bool = True,
        index: str = "",
    ) -> None:
        self.pinned = pinned
        self.cache = cache
        self.connect = connect
        self.cutoff = cutoff
        self.cutoff_given = cutoff_given
        self.build = build
        self.index = index or (cache.index if cache is not None else "")
        self.refresh_all = refresh is True
        self.refresh_names = set() if isinstance(refresh, bool) else {str(canonicalize_name(n)) for n in refresh}
        self._lock = threading.RLock()
        self._db_lock = threading.Lock()
        self._connection: Connection | None = None
        self._origin: dict[str, str] = {}
        self._pinned_projects: dict[str, Project] = {}
        self._remote: dict[str, _Remote] = {}
        self._missing: dict[str, str] = {}
        self._projects: dict[str, Any] = {}  # name -> its lookup (a future or a _Promise)
        self._merge_base: dict[str, Project | None] = {}  # name -> the user layer's copy, while its page is fetched
        self._metadata: dict[tuple[str, str, str], tuple[Any, bool]] = {}  # (name, version, file) -> (future, hook)
        self._progress = _Progress(progress)
        self._pages_done = 0
        self._files_done = 0
        self._closed = False
        #: Called (in a pool thread) with the name and view of each project that arrives from
        #: the user layer or the registry; set by the prefetch policy.
        self.on_project: Callable[[str, Project], None] | None = None
        #: Called (in a pool thread) with name, version and metadata of each file fetched.
        self.on_metadata: Callable[[str, str, Metadata], None] | None = None

    # -- fetching machinery --------------------------------------------------

    @property
    def may_fetch(self) -> bool:
        """Whether the registry may be asked (not after :meth:`close`)."""
        return self.connect is not None and not self._closed

    def _conn(self) -> Connection:
        with self._lock:
            if self._connection is None:
                assert self.connect is not None
                self._connection = self.connect()
            return self._connection

    @property
    def requests(self) -> int:
        """HTTP requests made so far."""
        return 0 if self._connection is None else self._connection.fetcher.requests

    def _show(self) -> None:
        with self._lock:
            self._progress.update(
                self._pages_done, len(self._projects), self._files_done, len(self._metadata), self.requests
            )

    # -- projects ------------------------------------------------------------

    def _fresh_in_cache(self, name: str) -> bool:
        """May the user layer's copy of ``name`` stand for the registry's?"""
        if self.connect is None or self.cutoff is None or self.cache is None:
            return True
        fetched = self.cache.fetched.get(name)
        return fetched is not None and fetched >= self.cutoff

    def _lookup_local(self, name: str) -> bool:
        """Find ``name`` in a pinned database or the user layer (any thread); ``False``: its
        page must be fetched (the user layer's copy, if any, is kept to merge with it)."""
        refresh = (self.refresh_all or name in self.refresh_names) and self.may_fetch
        pinned: Project | None = None
        cached: Project | None = None
        with self._db_lock:
            if not refresh and self.pinned is not None:
                pinned = self.pinned.project(name)
            if pinned is None and self.cache is not None:
                cached = self.cache.project(name)
        if pinned is not None:
            with self._lock:
                self._pinned_projects[name] = pinned
                self._origin[name] = "pinned"
            return True
        if cached is not None and (not self.may_fetch or (not refresh and self._fresh_in_cache(name))):
            assert self.cache is not None
            with self._db_lock:
                visible, hidden = self.cache.split(name, self.cutoff)
            remote = _Remote(
                name,
                cached.last_serial,
                cached.releases,
                visible,
                hidden,
                self.cache.files_base,
                self.cache.fetched.get(name, ""),
                self.cutoff,
            )
            self._install(name, remote, "cache")
            return True
        if not self.may_fetch:
            with self._lock:
                self._missing[name] = MISSING_OFFLINE
            return True
        with self._lock:
            self._merge_base[name] = cached
        return False

    def _lookup_remote(self, name: str) -> None:
        """Fetch the page of ``name`` (pool thread, or the resolver's when it waits for it)."""
        page = self._conn().fetcher.page(name)
        with self._lock:
            self._pages_done += 1
            cached = self._merge_base.pop(name, None)
            if page is None:
                self._missing[name] = MISSING_REGISTRY
                return
        self._install(name, self._from_page(page, cached), "fetched")

    def _from_page(self, page: Page, cached: Project | None) -> _Remote:
        """A fetched page as a :class:`_Remote`, keeping the user layer's results for the same files."""
        known: dict[str, Result] = {}
        if cached is not None:
            for release in cached.releases.values():
                failures = {f.filename: f for f in release.failures}
                for dist in release.files:
                    meta, failure = release.metadata_of(dist), failures.get(dist.filename)
                    if meta is not None or (failure is not None and failure.kind != NOT_FETCHED):
                        known[f"{dist.filename}\t{dist.sha256}"] = (meta, failure)
        results = {
            d.filename: known[f"{d.filename}\t{d.sha256}"]
            for files in page.releases.values()
            for d in files
            if f"{d.filename}\t{d.sha256}" in known
        }
        stored = _PageReleases(page.releases, results)
        visible, hidden = _split(page.releases, self.cutoff)
        return _Remote(
            page.name,
            page.serial,
            stored,
            visible,
            hidden,
            page.files_base,
            crawl_time_now(),
            self.cutoff,
            pep658=page.pep658,
            raw=page.raw,
            known=results,
        )

    def _install(self, name: str, remote: _Remote, origin: str) -> None:
        with self._lock:
            self._remote[name] = remote
            self._origin[name] = origin
        hook = self.on_project
        if hook is not None:
            hook(name, remote.view)

    def want_project(self, name: str) -> None:
        """Look ``name`` up: in the pinned databases and the user layer now, its page from the
        registry in the background (a prefetch; cheap when already asked)."""
        norm = str(canonicalize_name(name))
        with self._lock:
            if norm in self._projects:
                return
            promise = self._projects[norm] = _Promise()
        try:
            if not self._lookup_local(norm):
                with self._lock:
                    future = self._conn().executor.submit(self._lookup_remote, norm)
                    future.add_done_callback(lambda _f: self._show())
                    self._projects[norm] = future
        except BaseException as error:
            promise.set(error)
            raise
        promise.set()

    def project(self, name: str) -> Project | None:
        """The project ``name`` (any spelling) from its source, or ``None`` (see :meth:`missing_reason`).

        Raises:
            NetworkError: its page had to be fetched and the registry kept failing.
        """
        norm = str(canonicalize_name(name))
        while True:
            with self._lock:
                origin = self._origin.get(norm)
                if origin is not None:
                    return self._pinned_projects[norm] if origin == "pinned" else self._remote[norm].view
                if norm in self._missing:
                    return None
                future = self._projects.get(norm)
            if future is None:
                self.want_project(norm)
            elif future.cancel():  # its page is queued behind prefetches: the resolver waits for it, fetch it now
                with self._lock:
                    self._projects[norm] = _Promise(done=True)
                self._lookup_remote(norm)
            else:
                future.result()

    def missing_reason(self, name: str) -> str | None:
        """Why ``name`` is missing: :data:`MISSING_OFFLINE` (not in any layer, fetching
        forbidden), :data:`MISSING_REGISTRY` (the registry does not know it), or ``None``."""
        return self._missing.get(str(canonicalize_name(name)))

    def origin(self, name: str) -> str | None:
        """Where ``name`` came from: ``"pinned"``, ``"cache"``, ``"fetched"`` (``None``: not looked up)."""
        return self._origin.get(str(canonicalize_name(name)))

    def hidden_versions(self, name: str) -> list[str]:
        """Versions of ``name`` hidden because all their files are newer than the cut-off."""
        remote = self._remote.get(str(canonicalize_name(name)))
        return [] if remote is None else list(remote.hidden)

    def fetched_at(self, name: str) -> str | None:
        """When the page of ``name`` (user layer or registry) was fetched."""
        remote = self._remote.get(str(canonicalize_name(name)))
        return None if remote is None else remote.fetched

    # -- file metadata -------------------------------------------------------

    def state(self, name: str, version: str, dist: DistFile) -> str:
        """What is known of the metadata of ``dist`` (a file of release ``version`` of ``name``):
        ``KNOWN``, ``FAILED``, ``FETCHABLE``, ``BUILDABLE`` or ``UNFETCHED``."""
        if dist.metadata is not None:
            return KNOWN
        remote = self._remote.get(name)
        if remote is None:
            return FAILED  # a pinned database's recorded failure
        result = remote.result(version, dist)
        failure = None if result is None else result[1]
        if result is None:
            return FETCHABLE if self.may_fetch else UNFETCHED
        if (
            failure is not None
            and failure.kind == "skipped"
            and not dist.is_wheel
            and self.may_fetch
            and self.build
            and dist.filename not in remote.built
        ):
            return BUILDABLE
        return FAILED

    def _submit(self, name: str, version: str, dists: Sequence[DistFile], build: bool) -> list[tuple[Any, Any]]:
        """Queue the fetches of ``dists`` not known or queued yet: ``(key, future)`` of each file to wait for.

        One fetch per file at a time: a fetch in flight is waited for (a later call sees
        its result), unless it failed or, when ``build`` is asked, it was done without."""
        remote = self._remote.get(name)
        if remote is None or not self.may_fetch:
            return []
        out = []
        for dist in dists:
            state = self.state(name, version, dist)
            builds = build and self.build and not dist.is_wheel
            if state != FETCHABLE and not (builds and state == BUILDABLE):
                continue
            key = (name, version, dist.filename, builds)
            with self._lock:
                future, built = self._metadata.get(key[:3], (None, False))
                stale = future is not None and future.done() and (future.cancelled() or future.exception() is not None)
                if future is None or stale or (builds and not built and future.done()):
                    future = self._conn().executor.submit(self._fetch_one, key)
                    future.add_done_callback(lambda _f: self._show())
                    self._metadata[key[:3]] = (future, builds)
            out.append((key, future))
        return out

    def want_metadata(self, name: str, version: str, dists: Sequence[DistFile], build: bool = False) -> None:
        """Fetch the metadata of ``dists`` (files of release ``version`` of ``name``) in the
        background: a guess of what the resolver asks for next, so only for a project whose
        page came from the registry in this run (a second run of the same inputs, from the
        user layer, then makes no request it does not need).

        Args:
            build: for an sdist whose PKG-INFO is not reliable, run its PEP 517 hook.
        """
        if self._origin.get(name) == "fetched":
            self._submit(name, version, dists, build)

    def _fetch_one(self, key: tuple[str, str, str, bool]) -> None:
        name, version, filename, build = key
        remote = self._remote[name]
        full = remote.full_file(version, filename)
        result = self._conn().fetcher.metadata(full, remote.base, pep658=filename in remote.pep658, hook=build)
        with self._lock:
            if build:
                remote.built.add(filename)
            remote.record(version, filename, result)
            self._files_done += 1
        hook = self.on_metadata
        if hook is not None and result[0] is not None:
            hook(name, version, result[0])

    def fetch_metadata(self, name: str, version: str, dists: Sequence[DistFile], build: bool = False) -> Release:
        """Fetch the metadata of ``dists`` (files of release ``version`` of ``name``) and wait for it.

        Every file asked for has a result afterwards (metadata, or a failure that is not
        fetched again in this run), or this raises.

        Args:
            build: for an sdist whose PKG-INFO is not reliable, run its PEP 517 hook.

        Returns:
            The release as the resolver now sees it.

        Raises:
            NetworkError: the registry kept failing.
        """
        for key, future in self._submit(name, version, dists, build):
            if future.cancel():  # still queued behind prefetches: the resolver waits for it, fetch it now
                with self._lock:
                    self._metadata[key[:3]] = (_Promise(done=True), key[3])
                try:
                    self._fetch_one(key)
                except BaseException:
                    with self._lock:
                        del self._metadata[key[:3]]
                    raise
            else:
                future.result()
        return self._remote[name].view.releases[version]

    # -- the rest of ProjectSource -------------------------------------------

    def file_details(self, name: str, dists: Iterable[DistFile]) -> dict[str, DistFile]:
        """Complete records of some files of ``name`` (its pinned database's file index, or the page)."""
        norm = str(canonicalize_name(name))
        if self.project(norm) is None:
            return {}
        if self._origin.get(norm) == "pinned":
            assert self.pinned is not None
            return self.pinned.file_details(norm, dists)
        remote = self._remote[norm]
        wanted = {d.filename: d for d in dists}
        found: dict[str, DistFile] = {}
        for version in remote.visible:
            for full in remote.view.releases[version].files:
                dist = wanted.get(full.filename)
                if dist is not None:
                    found[full.filename] = full._replace(metadata=dist.metadata)
            if len(found) == len(wanted):
                break
        return found

    def download_url(self, name: str, dist: DistFile) -> str | None:
        """Where a file of a project from the registry or the user layer is downloaded from (its
        page's files base: a mirror's own); ``None`` for a pinned project (the lock's URL serves)."""
        remote = self._remote.get(str(canonicalize_name(name)))
        if remote is None or dist.url_path is None:
            return None
        return f"{remote.base}{dist.url_path}/{dist.filename}"

    def names(self) -> list[str]:
        """Every name known here: pinned databases, user layer, fetched (for suggestions)."""
        names: set[str] = set(self._remote)
        with self._db_lock:
            if self.pinned is not None:
                names.update(self.pinned.names())
            if self.cache is not None:
                names.update(self.cache.names())
        return sorted(names)

    # -- the lock's record -----------------------------------------------------

    def contributed(self) -> bool:
        """Did a project of this resolution come from the user layer or the registry?"""
        return any(origin != "pinned" for origin in self._origin.values())

    def lock_sources(self) -> dict[str, Any] | None:
        """What the lock records of the data it was resolved against, or ``None``.

        ``databases``: every pinned layer (``crawl_time``, ``shards_sha256``) and the user
        layer (``index``); ``exclude_newer``: the cut-off. Given only when the user layer
        or the registry gave a project, or the cut-off was asked for explicitly, so that
        a lock from pinned databases alone stays as it was.
        """
        if not self.contributed() and not self.cutoff_given:
            return None
        databases: list[dict[str, Any]] = []
        if self.pinned is not None:
            for manifest in self.pinned.manifests:
                databases.append(
                    {
                        "kind": "pinned",
                        "crawl_time": manifest.get("crawl_time"),
                        "shards_sha256": manifest.get("shards_sha256"),
                    }
                )
        if self.cache is not None:
            databases.append({"kind": "cache", "index": self.index})
        elif self.connect is not None:  # --no-cache: fetched for this run only
            databases.append({"kind": "registry", "index": self.index})
        out: dict[str, Any] = {"databases": databases}
        if self.cutoff is not None:
            out["exclude_newer"] = self.cutoff
        return out

    def summary(self) -> str | None:
        """One line on what was fetched (``None`` when nothing was)."""
        if self.requests == 0:
            return None
        where = f" into {self.cache.path}" if self.cache is not None else ""
        return (
            f"fetched {self._pages_done} project pages and the metadata of {self._files_done} files"
            f" ({self.requests} requests){where}"
        )

    # -- the end -----------------------------------------------------------------

    def stop(self, wait: bool = True) -> None:
        """Stop fetching (``wait``: let the fetches in flight finish, so that their results
        are saved too; queued prefetches are dropped either way). Nothing is written: what
        was fetched is :meth:`to_save`, which :mod:`mach_nix.db.cache_writer` writes."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            connection = self._connection
        if connection is not None:
            connection.executor.shutdown(wait=wait, cancel_futures=True)
            connection.fetcher.close()
        self._progress.done()

    def to_save(self) -> list[dict[str, Any]] | None:
        """What goes into the user layer: per project fetched or completed, ``name``,
        ``serial``, ``base``, ``fetched`` and ``results`` (file name -> metadata or failure
        fetched), and for a page fetched in this run the ``page`` as sent (the user layer's
        copy is updated otherwise). ``None`` when there is nothing new (or no user layer).
        Plain data, cheap to hand to another process."""
        if self.cache is None:
            return None
        with self._lock:
            dirty = [remote for remote in self._remote.values() if remote.dirty]
        if not dirty:
            return None
        out = []
        for remote in dirty:
            item: dict[str, Any] = {
                "name": remote.name,
                "serial": remote.serial,
                "base": remote.base,
                "fetched": remote.fetched,
                "results": {**remote.known, **remote.results},
            }
            if remote.raw:
                item["page"] = remote.raw
            out.append(item)
        return out


def parse_cutoff(text: str) -> str:
    """``--exclude-newer``: a date (``2024-05-01``, midnight UTC) or an RFC 3339 time, as
    ``YYYY-MM-DDTHH:MM:SSZ`` (UTC).

    Raises:
        ValueError: neither.
    """
    value = text.strip()
    try:
        if len(value) == 10:
            moment = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
        else:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
    except ValueError:
        raise ValueError(text) from None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
