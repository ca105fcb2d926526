"""The user layer: a database of what resolutions fetched from the registry.

``mach-nix lock`` and ``resolve`` write what they fetch (:mod:`mach_nix.db.ondemand`)
into one database directory per registry, in the normal format (``docs/db-format.md``),
so that the next run with the same inputs needs no request at all. Its place:
``$MACH_NIX_CACHE/db``, else ``$XDG_CACHE_HOME/mach-nix/db``, else
``~/.cache/mach-nix/db``; for another registry than PyPI (``MACH_NIX_INDEX_URL``)
``db-<12 hex of the URL's sha256>`` beside it. It is a cache: deleting it loses nothing
but time.

A project in it is whole: every in-scope file of the registry's page when it was
fetched, with its file-index fields. A file whose metadata no resolution needed yet has
no metadata and the failure kind :data:`NOT_FETCHED`; an sdist whose PKG-INFO is not
reliable and whose hook did not run has kind ``skipped``. Both are fetched when a
resolution needs them. The manifest's ``crawl`` records ``kind: "cache"``, the
registry (``index``), where its files are downloaded from (``files``) and when each
project's page was fetched (``fetched``: name -> ISO 8601 UTC time).

Writes (:meth:`CacheLayer.save`) hold an exclusive ``flock`` on ``DIR/.lock``, re-read
the layer and merge into it, and go through :func:`mach_nix.db.writer.write_database`
(a new generation, then an atomic switch of ``manifest.json``): readers and a killed
writer see the old layer or the new one, never a part, and two concurrent writers keep
each other's projects.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from mach_nix.db.format import MANIFEST
from mach_nix.db.http import SIMPLE_URL
from mach_nix.db.model import DistFile, Failure, Metadata, Project, Release
from mach_nix.db.reader import DatabaseLayer
from mach_nix.db.writer import write_database
from mach_nix.errors import DatabaseError

#: Failure kind of a file whose metadata was not fetched yet.
NOT_FETCHED = "not-fetched"
NOT_FETCHED_REASON = "metadata not fetched yet; fetched from the registry when a resolution needs it"
#: Failure kinds of the user layer that a later fetch may replace by metadata.
REFETCHABLE = frozenset({NOT_FETCHED, "skipped", "download"})
#: The ``crawl.kind`` of a user layer's manifest.
KIND = "cache"
#: PyPI's simple API, whose user layer is ``db`` (others get ``db-<hash>``).
PYPI_INDEX = "https://pypi.org/simple/"


def index_url() -> str:
    """The simple API base URL (``MACH_NIX_INDEX_URL``, else PyPI's), ending in ``/``."""
    url = os.environ.get("MACH_NIX_INDEX_URL") or SIMPLE_URL
    return url if url.endswith("/") else url + "/"


def cache_root() -> Path:
    """``$MACH_NIX_CACHE``, else ``$XDG_CACHE_HOME/mach-nix``, else ``~/.cache/mach-nix``."""
    base = os.environ.get("MACH_NIX_CACHE")
    if base:
        return Path(base)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "mach-nix"


def default_cache_dir(index: str = SIMPLE_URL) -> Path:
    """The user layer's directory for the registry at ``index`` (see the module docstring)."""
    if index.rstrip("/") == PYPI_INDEX.rstrip("/"):
        return cache_root() / "db"
    return cache_root() / f"db-{hashlib.sha256(index.encode()).hexdigest()[:12]}"


def release_results(release: Release) -> dict[tuple[str, str | None], tuple[Metadata | None, Failure | None]]:
    """Per ``(filename, sha256)`` of a release (details read): its metadata or failure."""
    failures = {f.filename: f for f in release.failures}
    return {(d.filename, d.sha256): (release.metadata_of(d), failures.get(d.filename)) for d in release.files}


def build_release(
    version: str, files: list[DistFile], results: Mapping[str, tuple[Metadata | None, Failure | None]]
) -> Release:
    """A release of ``files`` (sorted by name) whose metadata or failures are ``results``
    by file name; a file without a result is :data:`NOT_FETCHED`."""
    metas: list[Metadata] = []
    out: list[DistFile] = []
    failures: list[Failure] = []
    for dist in files:
        meta, failure = results.get(dist.filename, _NO_RESULT)
        index = None
        if meta is not None:
            if meta not in metas:
                metas.append(meta)
            index = metas.index(meta)
        elif failure is None:
            failure = Failure(dist.filename, NOT_FETCHED, NOT_FETCHED_REASON)
        if failure is not None and meta is None:
            failures.append(
                failure if failure.filename == dist.filename else Failure(dist.filename, failure.kind, failure.reason)
            )
        out.append(dist if dist.metadata == index else dist._replace(metadata=index))
    return Release(version, tuple(out), tuple(metas), tuple(failures))


_NO_RESULT: tuple[None, None] = (None, None)


def merge_known(new: Project, old: Project | None) -> Project:
    """``new`` with the metadata ``old`` knew for the same files (same name and sha256)
    where ``new`` has none yet: two writers of one project keep each other's results."""
    if old is None:
        return new
    releases: dict[str, Release] = {}
    for version, release in new.releases.items():
        previous = old.releases.get(version)
        if previous is None:
            releases[version] = release
            continue
        known = release_results(previous)
        results: dict[str, tuple[Metadata | None, Failure | None]] = {}
        changed = False
        for (filename, sha256), result in release_results(release).items():
            theirs = known.get((filename, sha256))
            refetchable = result[0] is None and (result[1] is None or result[1].kind in REFETCHABLE)
            if refetchable and theirs is not None and theirs[0] is not None:
                results[filename] = theirs
                changed = True
            else:
                results[filename] = result
        releases[version] = build_release(version, list(release.files), results) if changed else release
    return Project(new.name, releases, new.last_serial)


class CacheLayer:
    """The user layer at ``path`` for the registry at ``index``.

    Attributes:
        path: the database directory (created by the first :meth:`save`).
        index: the simple API base URL its data comes from.
    """

    def __init__(self, path: str | os.PathLike[str], index: str = SIMPLE_URL) -> None:
        self.path = Path(path)
        self.index = index
        self._layer: DatabaseLayer | None = None
        self._opened = False
        #: The ``.lock`` this process holds exclusively, if it does (it then waits for nobody).
        self.held: Any = None

    def _damaged(self, error: Exception) -> DatabaseError:
        return DatabaseError(
            f"the cache of fetched metadata at {str(self.path)!r} is unreadable ({error}); it holds only what was"
            f" fetched from the registry: delete it (rm -r {self.path}) and rerun"
        )

    def layer(self) -> DatabaseLayer | None:
        """The layer as a database, or ``None`` when nothing was saved yet (opened once, after
        any write in progress)."""
        if not self._opened:
            self._opened = True
            self.wait()
            if (self.path / MANIFEST).is_file():
                try:
                    self._layer = DatabaseLayer(self.path)
                except DatabaseError as error:
                    raise self._damaged(error) from None
                crawl = self._layer.manifest.get("crawl")
                if not isinstance(crawl, dict) or crawl.get("kind") != KIND or crawl.get("index") != self.index:
                    raise DatabaseError(
                        f"{str(self.path)!r} is not the cache of fetched metadata of {self.index}; set"
                        " MACH_NIX_CACHE to another directory, or delete it"
                    )
        return self._layer

    @property
    def manifest(self) -> dict[str, Any] | None:
        """The layer's manifest (``None`` before the first save)."""
        layer = self.layer()
        return None if layer is None else layer.manifest

    @property
    def fetched(self) -> dict[str, str]:
        """When each project's page was fetched: normalised name -> ISO 8601 UTC time."""
        manifest = self.manifest
        if manifest is None:
            return {}
        times = manifest["crawl"].get("fetched")
        return dict(times) if isinstance(times, dict) else {}

    @property
    def files_base(self) -> str:
        """Where the layer's files are downloaded from (``""`` before the first save)."""
        manifest = self.manifest
        return "" if manifest is None else str(manifest["crawl"].get("files") or "")

    def project(self, name: str) -> Project | None:
        """A project of the layer with its file index (releases decoded on first access), or ``None``."""
        layer = self.layer()
        if layer is None:
            return None
        try:
            return layer.project(name, details=True)
        except DatabaseError as error:  # another process switched generations meanwhile: look again once
            try:
                fresh = DatabaseLayer(self.path)
                project = fresh.project(name, details=True)
            except DatabaseError:
                raise self._damaged(error) from None
            self._layer = fresh
            return project

    def split(self, name: str, cutoff: str | None) -> tuple[list[str], list[str]]:
        """The versions of project ``name`` (ascending) with a file not newer than ``cutoff``,
        and the others; read from the stored members without building the releases."""
        layer = self.layer()
        raw = layer.raw(name) if layer is not None else None
        if raw is None:
            return [], []
        versions = [rel["v"] for rel in raw["releases"]]
        if cutoff is None:
            return versions, []
        assert layer is not None
        times = {filename: details[2] for filename, details in (layer.files_raw(name) or {}).items()}
        stem = raw.get("stem")
        visible: list[str] = []
        hidden: list[str] = []
        for rel in raw["releases"]:
            names = [f"{stem}-{rel['v']}{f[0]}" if f[0][:1] in ("-", ".") else f[0] for f in rel["f"]]
            seen = any(not times.get(n) or times[n] <= cutoff for n in names)
            (visible if seen else hidden).append(rel["v"])
        return visible, hidden

    def names(self) -> list[str]:
        """The layer's project names."""
        layer = self.layer()
        return [] if layer is None else layer.names()

    def lock_file(self) -> Any:
        """The layer's ``.lock`` file, open (created with the directory if need be), unlocked."""
        self.path.mkdir(parents=True, exist_ok=True)
        return open(self.path / ".lock", "a+b")

    @contextlib.contextmanager
    def _locked(self, held: Any = None) -> Iterator[None]:
        if held is not None:
            yield
            return
        with self.lock_file() as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def wait(self) -> None:
        """Wait until no process writes the layer (a save handed to
        :mod:`mach_nix.db.cache_writer` may still run after its ``mach-nix lock`` ended)."""
        if self.held is not None or not (self.path / ".lock").is_file():
            return
        try:
            with open(self.path / ".lock", "rb") as handle:
                fcntl.flock(handle, fcntl.LOCK_SH)
                fcntl.flock(handle, fcntl.LOCK_UN)
        except OSError:
            return

    def save(
        self, projects: Mapping[str, Project], fetched: Mapping[str, str], files_base: str, lock: Any = None
    ) -> dict[str, Any]:
        """Merge ``projects`` (whole, with details) into the layer and write it atomically.

        Args:
            projects: normalised name -> the project as fetched (and resolved) now.
            fetched: when the pages of ``projects`` were fetched.
            files_base: where their files are downloaded from.
            lock: the layer's ``.lock``, already held exclusively by the caller (``None``:
                it is taken here, waiting for any other writer).

        Returns:
            The manifest written.
        """
        with self._locked(lock):
            current: DatabaseLayer | None = None
            if (self.path / MANIFEST).is_file():
                try:
                    current = DatabaseLayer(self.path)
                except DatabaseError as error:
                    raise self._damaged(error) from None
            everything: dict[str, Project] = {}
            times: dict[str, str] = {}
            if current is not None:
                crawl = current.manifest.get("crawl") or {}
                times.update(crawl.get("fetched") or {})
                for name in current.names():
                    if name not in projects:
                        old = current.project(name, details=True)
                        if old is not None:
                            everything[name] = old
            for name, project in projects.items():
                norm = str(canonicalize_name(name))
                old = current.project(norm, details=True) if current is not None else None
                everything[norm] = merge_known(project, old)
                times[norm] = fetched[name]
            base = files_base or (str((current.manifest.get("crawl") or {}).get("files") or "") if current else "")
            crawl = {"kind": KIND, "index": self.index, "files": base, "fetched": dict(sorted(times.items()))}
            manifest = write_database(self.path, everything.values(), crawl=crawl)
        self._layer = None
        self._opened = False
        return manifest
