"""Reading a database: its manifest, one layer lazily, and layers stacked (``docs/db-format.md`` §1, §6, §8).

A lookup reads one small ``.idx`` file, seeks into the ``.dat`` file and
decompresses one project: its cost does not depend on the number of projects
in the database. Resolution reads only the dependency graph; the file index is
read for the artifacts that end up in the lock, and may live elsewhere (a
graph-only database: :mod:`mach_nix.db.files_cache`).

The entry point is :func:`open_layers` (:func:`mach_nix.db.store.open_database` for most callers).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import weakref
import zlib
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from mach_nix.db import generations
from mach_nix.db.codec import decode_files, decode_project
from mach_nix.db.files_cache import FilesCache, MissingFilesError
from mach_nix.db.format import (
    FILES_DIR,
    FORMAT_NAME,
    FORMAT_VERSION,
    MANIFEST,
    SHARDS_TABLE,
    ZDICT_FILE,
    decompress,
    shard_of,
    version_sort_key,
)
from mach_nix.db.model import DistFile, Project, ProjectSource, Release
from mach_nix.errors import DatabaseError


def _load_manifest(root: Path) -> dict[str, Any]:
    """Read and validate ``root/manifest.json`` (not whether its generation is there)."""
    file = root / MANIFEST
    if not root.is_dir():
        raise DatabaseError(
            f"database directory {str(root)!r} does not exist; create one with 'mach-nix db crawl --db {root} NAME'"
        )
    try:
        manifest = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatabaseError(
            f"{str(root)!r} is not a mach-nix database (no {MANIFEST}); "
            f"create one with 'mach-nix db crawl --db {root} NAME'"
        ) from None
    except (OSError, ValueError) as error:
        raise DatabaseError(f"cannot read {str(file)!r}: {error}; the database is corrupt, re-crawl it") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise DatabaseError(f"{str(file)!r} is not a mach-nix database manifest")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise DatabaseError(
            f"database {str(root)!r} has format version {version}, this mach-nix reads only "
            f"version {FORMAT_VERSION}; use a matching mach-nix or re-crawl the database"
        )
    for key in (
        "shard_prefix_length",
        "files_prefix_length",
        "shards_dir",
        "shards_sha256",
        "graph_zdict_sha256",
        "counts",
    ):
        if key not in manifest:
            raise DatabaseError(f"{str(file)!r} lacks the field {key!r}; the database is corrupt")
    return manifest


def _missing_generation(root: Path, manifest: dict[str, Any]) -> DatabaseError:
    return DatabaseError(f"database {str(root)!r} is incomplete: {manifest['shards_dir']}/ is missing; re-crawl it")


def read_manifest(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and validate ``manifest.json`` of the database at ``path``.

    Raises:
        DatabaseError: the directory or manifest is missing, unreadable, or of
            another format or format version, or the generation it names is missing.
    """
    root = Path(path)
    manifest = _load_manifest(root)
    if not (root / manifest["shards_dir"]).is_dir():
        again = _load_manifest(root)  # a writer may have switched generations meanwhile
        if again["shards_dir"] == manifest["shards_dir"] or not (root / again["shards_dir"]).is_dir():
            raise _missing_generation(root, again)
        manifest = again
    return manifest


#: How often opening a database may find the generation switched under it before giving up.
OPEN_ATTEMPTS = 200


def _open_generation(root: Path) -> tuple[dict[str, Any], int | None]:
    """The manifest of the database at ``root`` and a descriptor holding the generation it names
    (:mod:`mach_nix.db.generations`), read again as long as a writer switches generations under it."""
    missing = None
    for attempt in range(OPEN_ATTEMPTS):
        manifest = _load_manifest(root)
        name = manifest["shards_dir"]
        if not isinstance(name, str) or not name.startswith("shards-") or "/" in name:
            raise DatabaseError(f"{str(root / MANIFEST)!r} names no generation directory ({name!r}); it is corrupt")
        try:
            return manifest, generations.lock_shared(root / name)
        except generations.Busy:
            time.sleep(0.001 * min(attempt + 1, 10))
        except FileNotFoundError:
            if missing == name:  # the manifest still names it: not a switch, a loss
                raise _missing_generation(root, manifest) from None
            missing = name
        except OSError as error:
            raise DatabaseError(f"cannot open {str(root / name)!r}: {error}; the database is damaged") from None
    raise DatabaseError(
        f"database {str(root)!r} switched generations {OPEN_ATTEMPTS} times while being opened; try again"
    )


#: Every open layer of this process (for :func:`release_superseded`).
_LAYERS: weakref.WeakSet[DatabaseLayer] = weakref.WeakSet()


def release_superseded() -> int:
    """Close every open layer of this process whose generation is no longer the current one.

    For a long-running process (the resolver server) between two requests: it lets go of
    old generations (removed then, if no other reader holds them). A closed layer refuses
    to read; the server reopens a database whose manifest changed before its next use.

    Returns:
        How many layers were closed.
    """
    closed = 0
    for layer in list(_LAYERS):
        if not layer.closed and layer.superseded():
            layer.close()
            closed += 1
    return closed


class DatabaseLayer:
    """One database directory, read lazily (one shard index and one member per lookup).

    The file index may be absent from the directory (a *graph-only* database,
    see :func:`mach_nix.db.writer.write_graph_only`): its shards are then taken
    from a :class:`~mach_nix.db.files_cache.FilesCache` (looked up by their
    sha256, and fetched from the manifest's ``files_url`` if it may).
    """

    def __init__(self, path: str | os.PathLike[str], files_cache: FilesCache | None = None) -> None:
        """Open the database at ``path`` (reads only its manifest)."""
        self.path = Path(path)
        self.manifest, fd = _open_generation(self.path)
        self._closer = weakref.finalize(self, generations.release, self.path, self.manifest["shards_dir"], fd)
        _LAYERS.add(self)
        self.files_cache = files_cache if files_cache is not None else FilesCache()
        self._prefix = int(self.manifest["shard_prefix_length"])
        self._files_prefix = int(self.manifest["files_prefix_length"])
        self._dir = self.path / self.manifest["shards_dir"]
        self._index: dict[str, dict[str, tuple[int, int]]] = {}
        self._files_index: dict[str, tuple[Path, dict[str, tuple[int, int]]]] = {}
        self._table: dict[str, dict[str, dict[str, Any]]] | None = None
        self._zdict: bytes | None = None

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (the layer then refuses to read)."""
        return not self._closer.alive

    def close(self) -> None:
        """Let go of the generation (see :mod:`mach_nix.db.generations`); reading afterwards is an error.

        Also done when the layer is garbage-collected, and at exit.
        """
        self._closer()

    def superseded(self) -> bool:
        """Whether the database's manifest names another generation than the one this layer reads."""
        return generations.current_generation(self.path) != self.manifest["shards_dir"]

    def _check_open(self) -> None:
        if self.closed:
            raise DatabaseError(
                f"database {str(self.path)!r} was closed after a newer generation replaced the one read; run again"
            )

    def _pinned_file(self, name: str, manifest_field: str) -> bytes:
        """A file of the generation whose sha256 the manifest records in ``manifest_field``."""
        self._check_open()
        file = self._dir / name
        try:
            data = file.read_bytes()
        except OSError as error:
            raise DatabaseError(
                f"cannot read {str(file)!r}: {error}; the database is incomplete, re-crawl it"
            ) from None
        if hashlib.sha256(data).hexdigest() != self.manifest[manifest_field]:
            raise DatabaseError(f"{str(file)!r} does not match the manifest's {manifest_field}; re-crawl the database")
        return data

    @property
    def zdict(self) -> bytes:
        """The graph members' preset dictionary (read once, checked against the manifest)."""
        if self._zdict is None:
            self._zdict = self._pinned_file(ZDICT_FILE, "graph_zdict_sha256")
        return self._zdict

    @property
    def shard_table(self) -> dict[str, dict[str, dict[str, Any]]]:
        """The generation's ``shards.json``: per shard key, its project count, bytes and the
        sha256 of its ``.idx`` and ``.dat``, for the ``graph`` and the ``files`` index.

        Read on first use (lookups do not need it) and checked against the
        manifest's ``shards_sha256``.
        """
        if self._table is None:
            self._table = json.loads(self._pinned_file(SHARDS_TABLE, "shards_sha256"))
        return self._table

    def _read_index(self, file: Path, what: str) -> dict[str, tuple[int, int]]:
        self._check_open()
        index = {}
        try:
            with open(file, encoding="utf-8") as handle:
                text = handle.read()
            for line in text.splitlines():
                name, offset, length = line.split("\t")
                index[name] = (int(offset), int(length))
        except (OSError, ValueError) as error:
            raise DatabaseError(f"{what} of database {str(self.path)!r} is unreadable ({error}); re-crawl it") from None
        return index

    def _shard_index(self, key: str) -> dict[str, tuple[int, int]]:
        index = self._index.get(key)
        if index is None:
            index = {}
            file = self._dir / f"{key}.idx"
            if file.exists():  # no file: an empty shard
                index = self._read_index(file, f"shard index {key}.idx")
            self._index[key] = index
        return index

    def _raw_member(self, file: Path, entry: tuple[int, int], what: str) -> bytes:
        """Read one (compressed) member of a ``.dat`` file."""
        self._check_open()
        offset, length = entry
        try:
            with open(file, "rb") as handle:
                handle.seek(offset)
                return handle.read(length)
        except OSError as error:
            raise DatabaseError(f"{what} in database {str(self.path)!r} is unreadable ({error}); re-crawl it") from None

    def raw(self, name: str) -> dict[str, Any] | None:
        """Return the stored dependency-graph object of project ``name`` (any spelling), or ``None``."""
        norm = canonicalize_name(name)
        key = shard_of(norm, self._prefix)
        entry = self._shard_index(key).get(norm)
        if entry is None:
            return None
        what = f"record of {norm!r} in shard {key}.dat"
        member = self._raw_member(self._dir / f"{key}.dat", entry, what)
        try:
            return json.loads(decompress(member, self.zdict))
        except (ValueError, zlib.error) as error:
            raise DatabaseError(f"{what} in database {str(self.path)!r} is corrupt ({error}); re-crawl it") from None

    # -- file index ---------------------------------------------------------

    def files_shard(self, name: str) -> str | None:
        """The file-index shard key holding project ``name``, or ``None`` if it has none.

        A complete database answers from its files (``shards.json`` is read only
        for a shard that is not here, i.e. in a graph-only database).
        """
        key = shard_of(name, self._files_prefix)
        if (self._dir / FILES_DIR / f"{key}.idx").is_file():
            return key
        return key if key in self.shard_table["files"] else None

    def files_shard_sources(self, key: str) -> list[dict[str, str]]:
        """The two files of file-index shard ``key``: ``{"file", "sha256", "url"}`` each.

        ``url`` is empty when the manifest names no ``files_url``.
        """
        entry = self.shard_table["files"][key]
        base = self.manifest.get("files_url", "")
        out = []
        for suffix, digest in (("idx", entry["idx_sha256"]), ("dat", entry["dat_sha256"])):
            file = f"{self.manifest['shards_dir']}/{FILES_DIR}/{key}.{suffix}"
            out.append({"file": file, "sha256": digest, "url": f"{base.rstrip('/')}/{file}" if base else ""})
        return out

    def _locate_files_shard(self, key: str) -> tuple[Path, Path]:
        """Paths of the ``.idx`` and ``.dat`` of file-index shard ``key`` (fetching if allowed).

        Raises:
            MissingFilesError: not in the database, the caches, nor fetchable.
        """
        local = self._dir / FILES_DIR
        if (local / f"{key}.idx").is_file() and (local / f"{key}.dat").is_file():
            return local / f"{key}.idx", local / f"{key}.dat"
        found = self.files_cache.locate(self.files_shard_sources(key), str(self.path), self.manifest.get("files_url"))
        return found[0], found[1]

    def files_raw(self, name: str, only: Iterable[str] | None = None) -> dict[str, tuple[str, int, str, str]] | None:
        """Return project ``name``'s file index: filename -> ``(sha256, size, upload_time, url_path)``.

        Args:
            only: just these file names (the others are not decoded).

        Raises:
            MissingFilesError: the shard is neither present nor fetchable.
        """
        norm = canonicalize_name(name)
        key = self.files_shard(norm)
        if key is None:
            return None
        cached = self._files_index.get(key)
        if cached is None:
            idx, dat = self._locate_files_shard(key)
            cached = self._files_index[key] = (dat, self._read_index(idx, f"file index {key}.idx"))
        dat, index = cached
        entry = index.get(norm)
        if entry is None:
            return None
        what = f"file index of {norm!r} in {FILES_DIR}/{key}.dat"
        try:
            return decode_files(self._raw_member(dat, entry, what), only)
        except (zlib.error, UnicodeDecodeError, ValueError, IndexError) as error:
            raise DatabaseError(f"{what} in database {str(self.path)!r} is corrupt ({error}); re-crawl it") from None

    # -- whole projects -----------------------------------------------------

    def project(self, name: str, details: bool = False) -> Project | None:
        """Return project ``name`` (any spelling) from this layer, or ``None``.

        Args:
            details: also read the file index, so that every file has its
                sha256, size, upload time and URL (the resolver does not need
                them; ``db info``, ``db update`` and the lock do).
        """
        data = self.raw(name)
        if data is None:
            return None
        try:
            return decode_project(data, (self.files_raw(name) or {}) if details else None)
        except (KeyError, IndexError, TypeError) as error:
            raise DatabaseError(
                f"record of {canonicalize_name(name)!r} in database {str(self.path)!r} is malformed ({error!r})"
            ) from None

    def names(self) -> list[str]:
        """Every project name in this layer (reads all shard indexes)."""
        out: list[str] = []
        for key in sorted(self.shard_table["graph"]):
            out.extend(self._shard_index(key))
        return sorted(out)

    def projects(self, details: bool = True) -> Iterator[Project]:
        """Every project of this layer, in name order (reads the whole database)."""
        for name in self.names():
            project = self.project(name, details=details)
            if project is not None:
                yield project


def merge_projects(projects: Sequence[Project]) -> Project:
    """Merge the same project from several layers: later ones win per release."""
    releases: dict[str, Release] = {}
    for project in projects:
        releases.update(project.releases)
    ordered = {v: releases[v] for v in sorted(releases, key=version_sort_key)}
    return Project(name=projects[-1].name, releases=ordered, last_serial=projects[-1].last_serial)


class Database(ProjectSource):
    """A stack of database layers; later layers win per release.

    Releases are in ascending PEP 440 order (``releases_sorted``).

    Attributes:
        layers: the opened layers, in the order given.
        manifests: each layer's manifest, same order.
        manifest: the manifest of the last (highest-priority) layer.
    """

    def __init__(self, layers: Sequence[DatabaseLayer]) -> None:
        """Combine already opened layers (use :func:`open_database`)."""
        if not layers:
            raise DatabaseError("no database given: pass at least one database directory")
        self.layers = list(layers)
        self.manifests = [layer.manifest for layer in self.layers]
        self.manifest = self.manifests[-1]
        self._cache: dict[str, Project | None] = {}

    releases_sorted = True

    def close(self) -> None:
        """Close every layer (:meth:`DatabaseLayer.close`)."""
        for layer in self.layers:
            layer.close()

    def project(self, name: str, details: bool = False) -> Project | None:
        """Return the project ``name`` (any spelling) merged over all layers, or ``None``.

        Args:
            details: read the file index too (see :meth:`DatabaseLayer.project`).
        """
        norm = canonicalize_name(name)
        if not details and norm in self._cache:
            return self._cache[norm]
        found = [p for p in (layer.project(norm, details) for layer in self.layers) if p is not None]
        result = None if not found else found[0] if len(found) == 1 else merge_projects(found)
        if not details:
            self._cache[norm] = result
        return result

    def file_details(self, name: str, dists: Iterable[DistFile]) -> dict[str, DistFile]:
        """Complete records of some files of ``name``, from the file index of the layers.

        The layers are asked last to first; a file's record comes from the
        first layer whose index has it. Unknown files are left out.

        Raises:
            MissingFilesError: a needed file-index shard is neither present nor
                fetchable (it lists every missing shard file).
        """
        norm = canonicalize_name(name)
        wanted = {d.filename: d for d in dists}
        found: dict[str, DistFile] = {}
        missing: MissingFilesError | None = None
        for layer in reversed(self.layers):
            if len(found) == len(wanted):
                break
            try:
                index = layer.files_raw(norm, [f for f in wanted if f not in found]) or {}
            except MissingFilesError as error:
                missing = error.joined(missing)
                continue
            for filename, details in index.items():
                if filename in wanted and filename not in found:
                    sha256, size, upload_time, url_path = details[:4]
                    found[filename] = wanted[filename]._replace(
                        sha256=sha256, size=size, upload_time=upload_time, url_path=url_path
                    )
        if missing is not None and len(found) < len(wanted):
            raise missing
        return found

    def names(self) -> list[str]:
        """Every normalised project name present in any layer, sorted."""
        return sorted({n for layer in self.layers for n in layer.names()})


def open_layers(
    paths: Sequence[str | os.PathLike[str]] | str | os.PathLike[str], files_cache: FilesCache | None = None
) -> Database:
    """Open one or several database directories as a single :class:`Database`.

    (:func:`mach_nix.db.store.open_database` is the same with the cache given by
    its directories and whether it may fetch.)

    Args:
        paths: database directories, lowest priority first; for each project,
            a later layer's release of a version replaces an earlier layer's.
            A single path is accepted too.
        files_cache: where graph-only layers find their file-index shards
            (default: nowhere).

    Raises:
        DatabaseError: a directory is missing, not a database, or of an
            unsupported format version.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    cache = files_cache if files_cache is not None else FilesCache()
    return Database([DatabaseLayer(p, cache) for p in paths])
