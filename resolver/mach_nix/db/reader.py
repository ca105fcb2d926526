"""Reading a database: its manifest, one layer lazily, and layers stacked (``docs/db-format.md`` §1, §6, §8).

A lookup reads one small ``.idx`` file, seeks into the ``.dat`` file and
decompresses one project: its cost does not depend on the number of projects
in the database. Resolution reads only the dependency graph; the file index is
read for the artifacts that end up in the lock, and may live elsewhere (a
graph-only database: :mod:`mach_nix.db.files_cache`).

What is read is what was written (``docs/db-format.md`` §2.2). A layer holds
the generation it opened until it is closed (:mod:`mach_nix.db.generations`),
so a writer switching generations meanwhile changes nothing it reads. The
manifest is checked field by field; every shard file is checked against its
sha256 in ``shards.json`` when the layer first uses it (a file is hashed once
per layer, the entry is found in ``shards.json`` without reading it all); the
dictionary against the manifest; and a file's record against what a lock may
point at (:func:`mach_nix.db.codec.file_record_problem`) before
:meth:`Database.file_details` returns it. Anything else is a
:class:`DatabaseError` (exit code 6) that names the file and says how to
replace the database: never a traceback, never a wrong answer.

The entry point is :func:`open_layers` (:func:`mach_nix.db.store.open_database` for most callers).
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import shlex
import time
import weakref
import zlib
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from mach_nix.db import generations
from mach_nix.db.codec import decode_files, decode_project, file_record_problem
from mach_nix.db.files_cache import FilesCache, MissingFilesError
from mach_nix.db.format import (
    FILES_DIR,
    FORMAT_NAME,
    FORMAT_VERSION,
    MANIFEST,
    SHARDS_TABLE,
    ZDICT_FILE,
    decompress,
    find_table_entry,
    manifest_problem,
    shard_of,
    table_entry_problem,
    table_sections,
    version_sort_key,
)
from mach_nix.db.model import DistFile, Project, ProjectSource, Release
from mach_nix.errors import DatabaseError

#: What to do about a damaged database (every such error says it).
REPLACE = (
    "replace the database: download it again, or crawl it again into an empty directory "
    "('mach-nix db crawl --db NEW_DIR …')"
)


def repair_command(root: Path | str) -> str:
    """The command that crawls again the projects a damaged database cannot read (:class:`SalvagedLayer`)."""
    return f"mach-nix db update --force --db {shlex.quote(str(root))}"


def damaged(root: Path, file: Path | str, problem: str, repairable: bool = False) -> DatabaseError:
    """The error for a damaged file of the database at ``root``: what, where, and the fix
    (``repairable``: a shard of projects of a full database, which :func:`repair_command` crawls again)."""
    fix = REPLACE
    if repairable:
        fix = f"repair it: '{repair_command(root)}' crawls the projects it cannot read again; or {REPLACE}"
    error = DatabaseError(f"database {str(root)!r} is damaged: {str(file)!r} {problem}; {fix}")
    error.file = str(file)
    return error


def _digest(data: bytes) -> str:
    """The hex sha256 of ``data`` (every shard check goes through here)."""
    return hashlib.sha256(data).hexdigest()


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
        raise damaged(root, file, f"cannot be read ({error})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise damaged(root, file, "is not a mach-nix database manifest")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION or not isinstance(version, int) or isinstance(version, bool):
        raise DatabaseError(
            f"database {str(root)!r} has format version {version!r} ({str(file)!r}), this mach-nix reads only "
            f"version {FORMAT_VERSION}; use a matching mach-nix or crawl the database again"
        )
    problem = manifest_problem(manifest)
    if problem is not None:
        raise damaged(root, file, problem)
    return manifest


def _missing_generation(root: Path, manifest: dict[str, Any]) -> DatabaseError:
    return damaged(root, root / manifest["shards_dir"], f"is missing (the generation {MANIFEST} names)")


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
        try:
            return manifest, generations.lock_shared(root / name)
        except generations.Busy:
            time.sleep(0.001 * min(attempt + 1, 10))
        except FileNotFoundError:
            if missing == name:  # the manifest still names it: not a switch, a loss
                raise _missing_generation(root, manifest) from None
            missing = name
        except OSError as error:
            raise damaged(root, root / name, f"cannot be opened ({error})") from None
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
        """Open the database at ``path`` (reads its manifest; holds its generation)."""
        self.path = Path(path)
        self.manifest, fd = _open_generation(self.path)
        self._closer = weakref.finalize(self, generations.release, self.path, self.manifest["shards_dir"], fd)
        _LAYERS.add(self)
        self.files_cache = files_cache if files_cache is not None else FilesCache()
        self._prefix: int = self.manifest["shard_prefix_length"]
        self._files_prefix: int = self.manifest["files_prefix_length"]
        self._dir = self.path / self.manifest["shards_dir"]
        self._index: dict[str, dict[str, tuple[int, int]]] = {}
        self._files_index: dict[str, tuple[Path, str, dict[str, tuple[int, int]]]] = {}
        self._entries: dict[tuple[str, str], dict[str, Any] | None] = {}
        self._verified: set[Path] = set()
        self._table_bytes: bytes | mmap.mmap | None = None
        self._sections: dict[str, tuple[int, int]] = {}
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
        if isinstance(self._table_bytes, mmap.mmap):
            self._table_bytes.close()

    def superseded(self) -> bool:
        """Whether the database's manifest names another generation than the one this layer reads."""
        return generations.current_generation(self.path) != self.manifest["shards_dir"]

    def _check_open(self) -> None:
        if self.closed:
            raise DatabaseError(
                f"database {str(self.path)!r} was closed after a newer generation replaced the one read; run again"
            )

    def _damaged(self, file: Path | str, problem: str) -> DatabaseError:
        """The error for ``file``: repairable when it is a shard of projects (``.idx``, ``.dat``) of
        a full database (one that holds its file index, as ``db update`` needs)."""
        shard = Path(file).suffix in (".idx", ".dat") and self._dir in Path(file).parents
        repairable = shard and (self._dir / FILES_DIR).is_dir()
        return damaged(self.path, file, problem, repairable)

    # -- checked reading ------------------------------------------------------

    def _read(self, file: Path) -> bytes:
        self._check_open()
        try:
            return file.read_bytes()
        except FileNotFoundError:
            raise self._damaged(file, "is missing") from None
        except OSError as error:
            raise self._damaged(file, f"cannot be read ({error})") from None

    def _read_verified(self, file: Path, sha256: str, cached: bool = False) -> bytes:
        """The bytes of ``file``, which must have this sha256 (hashed once per layer).

        Args:
            cached: ``file`` is a file-index shard from a cache (named by its sha256).
        """
        data = self._read(file)
        if file not in self._verified:
            if _digest(data) != sha256:
                if cached:
                    raise DatabaseError(
                        f"the cached file-index shard {str(file)!r} of database {str(self.path)!r} is damaged (it "
                        "does not match the sha256 it is named after); delete it: it is fetched again"
                    )
                if not self._table_intact():
                    raise self._damaged(self._dir / SHARDS_TABLE, "does not match the manifest's shards_sha256")
                raise self._damaged(file, f"does not match its sha256 in {SHARDS_TABLE} (truncated or altered)")
            self._verified.add(file)
        return data

    def _pinned_file(self, name: str, manifest_field: str) -> bytes:
        """A file of the generation whose sha256 the manifest records in ``manifest_field``."""
        file = self._dir / name
        data = self._read(file)
        if _digest(data) != self.manifest[manifest_field]:
            raise self._damaged(file, f"does not match the manifest's {manifest_field}")
        return data

    @property
    def zdict(self) -> bytes:
        """The graph members' preset dictionary (read once, checked against the manifest)."""
        if self._zdict is None:
            self._zdict = self._pinned_file(ZDICT_FILE, "graph_zdict_sha256")
        return self._zdict

    # -- shards.json ----------------------------------------------------------

    def _table_text(self) -> bytes | mmap.mmap:
        """``shards.json`` as it is on disk, mapped (not parsed, not hashed: see :meth:`_entry`)."""
        self._check_open()
        if self._table_bytes is None:
            file = self._dir / SHARDS_TABLE
            try:
                with open(file, "rb") as handle:
                    self._table_bytes = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
            except FileNotFoundError:
                raise self._damaged(file, "is missing") from None
            except (OSError, ValueError) as error:  # ValueError: an empty file cannot be mapped
                raise self._damaged(file, f"cannot be read ({error})") from None
            self._sections = table_sections(self._table_bytes)
        return self._table_bytes

    def _table_intact(self) -> bool:
        """Whether ``shards.json`` has the sha256 the manifest pins."""
        return _digest(bytes(self._table_text())) == self.manifest["shards_sha256"]

    @property
    def shard_table(self) -> dict[str, dict[str, dict[str, Any]]]:
        """The generation's ``shards.json``: per shard key, its project count, bytes and the
        sha256 of its ``.idx`` and ``.dat``, for the ``graph`` and the ``files`` index.

        Read whole, checked against the manifest's ``shards_sha256`` and parsed on
        first use (listing every name; deciding that a shard is empty). A lookup
        needs only its shard's entry (:meth:`_entry`).
        """
        if self._table is None:
            file = self._dir / SHARDS_TABLE
            if not self._table_intact():
                raise self._damaged(file, "does not match the manifest's shards_sha256")
            try:
                table = json.loads(bytes(self._table_text()))
            except ValueError as error:
                raise self._damaged(file, f"is not JSON ({error})") from None
            lengths = {"graph": self._prefix, "files": self._files_prefix}
            if not isinstance(table, dict) or set(table) != set(lengths):
                raise self._damaged(file, "is not a table of the graph and files shards")
            for part, length in lengths.items():
                if not isinstance(table[part], dict):
                    raise self._damaged(file, f"has no table of the {part} shards")
                for key, entry in table[part].items():
                    if len(key) != length or table_entry_problem(entry) is not None:
                        raise self._damaged(
                            file, f"has a bad entry {key!r} for the {part} (its shards are named by {length} digits)"
                        )
            self._table = table
        return self._table

    def _entry(self, part: str, key: str) -> dict[str, Any] | None:
        """Shard ``key``'s entry in ``shards.json`` (``part``: ``"graph"`` or ``"files"``), or ``None``
        when that shard is empty.

        Found by bisection in the mapped table, without hashing it: an entry found
        there can only make a shard check fail that should pass (and then the table
        is hashed, to blame the right file), never the other way round. Deciding
        that a shard is *not* in the table takes the whole table, checked.
        """
        cache_key = (part, key)
        if cache_key not in self._entries:
            text = self._table_text()
            entry = find_table_entry(text, self._sections, part, key)
            if entry is None:
                entry = self.shard_table[part].get(key)
            self._entries[cache_key] = entry
        return self._entries[cache_key]

    # -- the dependency graph -------------------------------------------------

    def _parse_index(self, file: Path, sha256: str, cached: bool = False) -> dict[str, tuple[int, int]]:
        data = self._read_verified(file, sha256, cached)
        index = {}
        try:
            for line in data.decode("utf-8").splitlines():
                name, offset, length = line.split("\t")
                index[name] = (int(offset), int(length))
        except ValueError as error:  # a verified file that the writer did not write
            raise self._damaged(file, f"is not a shard index ({error})") from None
        return index

    def _shard_index(self, key: str) -> dict[str, tuple[int, int]]:
        index = self._index.get(key)
        if index is None:
            entry = self._entry("graph", key)
            index = {} if entry is None else self._parse_index(self._dir / f"{key}.idx", entry["idx_sha256"])
            self._index[key] = index
        return index

    def _raw_member(self, file: Path, sha256: str, entry: tuple[int, int], cached: bool = False) -> bytes:
        """Read one (compressed) member of a ``.dat`` file (the whole file, checked, on first use)."""
        offset, length = entry
        if file not in self._verified:
            member = self._read_verified(file, sha256, cached)[offset : offset + length]
        else:
            self._check_open()
            try:
                with open(file, "rb") as handle:
                    handle.seek(offset)
                    member = handle.read(length)
            except OSError as error:
                raise self._damaged(file, f"cannot be read ({error})") from None
        if len(member) != length:
            raise self._damaged(file, f"ends before the member its index places at {offset} (+{length})")
        return member

    def raw(self, name: str) -> dict[str, Any] | None:
        """Return the stored dependency-graph object of project ``name`` (any spelling), or ``None``."""
        norm = canonicalize_name(name)
        key = shard_of(norm, self._prefix)
        entry = self._shard_index(key).get(norm)
        if entry is None:
            return None
        file = self._dir / f"{key}.dat"
        shard = self._entry("graph", key)
        assert shard is not None  # the shard has an index, hence an entry
        member = self._raw_member(file, shard["dat_sha256"], entry)
        try:
            data = json.loads(decompress(member, self.zdict))
        except (ValueError, zlib.error) as error:
            raise self._damaged(file, f"holds a corrupt record of {norm!r} ({error})") from None
        if not isinstance(data, dict):
            raise self._damaged(file, f"holds a corrupt record of {norm!r}")
        return data

    # -- file index ---------------------------------------------------------

    def files_shard(self, name: str) -> str | None:
        """The file-index shard key holding project ``name``, or ``None`` if it has none."""
        key = shard_of(name, self._files_prefix)
        return key if self._entry("files", key) is not None else None

    def files_shard_sources(self, key: str) -> list[dict[str, str]]:
        """The two files of file-index shard ``key``: ``{"file", "sha256", "url"}`` each.

        ``url`` is empty when the manifest names no ``files_url``.
        """
        entry = self._entry("files", key)
        assert entry is not None, f"no file-index shard {key}"
        base = self.manifest.get("files_url", "")
        out = []
        for suffix, digest in (("idx", entry["idx_sha256"]), ("dat", entry["dat_sha256"])):
            file = f"{self.manifest['shards_dir']}/{FILES_DIR}/{key}.{suffix}"
            out.append({"file": file, "sha256": digest, "url": f"{base.rstrip('/')}/{file}" if base else ""})
        return out

    def _locate_files_shard(self, key: str) -> tuple[Path, Path, bool]:
        """Paths of the ``.idx`` and ``.dat`` of file-index shard ``key`` (fetching if allowed), and
        whether they come from a cache.

        A database with a ``files/`` directory is a full one: its shards are there, or it
        is damaged. Without one, it is graph-only and its shards come from the cache.

        Raises:
            MissingFilesError: not in the database, the caches, nor fetchable.
        """
        local = self._dir / FILES_DIR
        if local.is_dir():
            return local / f"{key}.idx", local / f"{key}.dat", False
        if not self.manifest.get("files_url"):
            raise self._damaged(local, "is missing (the database's file index)")
        found = self.files_cache.locate(self.files_shard_sources(key), str(self.path), self.manifest.get("files_url"))
        return found[0], found[1], True

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
        shard = self._entry("files", key)
        assert shard is not None
        cached = self._files_index.get(key)
        if cached is None:
            idx, dat, from_cache = self._locate_files_shard(key)
            index = self._parse_index(idx, shard["idx_sha256"], from_cache)
            cached = self._files_index[key] = (dat, "cache" if from_cache else "", index)
        dat, origin, index = cached
        entry = index.get(norm)
        if entry is None:
            return None
        member = self._raw_member(dat, shard["dat_sha256"], entry, cached=origin == "cache")
        try:
            return decode_files(member, only)
        except (zlib.error, UnicodeDecodeError, ValueError, IndexError) as error:
            raise self._damaged(dat, f"holds a corrupt file index of {norm!r} ({error})") from None

    def files_source(self, name: str) -> str:
        """Where project ``name``'s file index was read from (for messages)."""
        key = shard_of(name, self._files_prefix)
        cached = self._files_index.get(key)
        return str(cached[0]) if cached is not None else str(self._dir / FILES_DIR / f"{key}.dat")

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
            norm = canonicalize_name(name)
            raise self._damaged(
                self._dir / f"{shard_of(norm, self._prefix)}.dat", f"holds a malformed record of {norm!r} ({error!r})"
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


class SalvagedLayer(DatabaseLayer):
    """A layer whose projects that cannot be read read as absent: what ``db update --force``
    crawls, so that those projects are fetched again and the damage is not copied.

    Only shards of projects are salvaged (a ``.idx`` or ``.dat`` file of the dependency
    graph or the file index); the manifest, ``shards.json`` and the dictionary are checked
    on opening, and their damage is an error as for any layer (nothing can be trusted
    then). A project of an unreadable ``.idx`` is not even listed: it is crawled again
    only when a root of the crawl reaches it. :attr:`unreadable` records what was skipped.
    """

    def __init__(self, path: str | os.PathLike[str], files_cache: FilesCache | None = None) -> None:
        """Open the database at ``path`` and check its shard table and dictionary.

        Raises:
            DatabaseError: the manifest, ``shards.json`` or the dictionary is damaged.
        """
        super().__init__(path, files_cache)
        #: Per file that could not be read, the first error it gave.
        self.unreadable: dict[str, str] = {}
        #: The projects that could not be read (normalised names).
        self.unreadable_projects: set[str] = set()
        _checked = (self.shard_table, self.zdict)  # their damage is not salvaged: raised here

    def _salvaged(self, error: DatabaseError, name: str | None = None) -> None:
        if self.closed:  # not damage: the layer was closed under the crawl
            raise error
        self.unreadable.setdefault(error.file or str(self.path), str(error))
        if name is not None:
            self.unreadable_projects.add(canonicalize_name(name))

    def raw(self, name: str) -> dict[str, Any] | None:
        """As :meth:`DatabaseLayer.raw`; ``None`` when its shard cannot be read."""
        try:
            return super().raw(name)
        except DatabaseError as error:
            self._salvaged(error, name)
            return None

    def project(self, name: str, details: bool = False) -> Project | None:
        """As :meth:`DatabaseLayer.project`; ``None`` when one of its shards cannot be read."""
        try:
            return super().project(name, details)
        except DatabaseError as error:
            self._salvaged(error, name)
            return None

    def names(self) -> list[str]:
        """The project names of every shard index that can be read."""
        out: list[str] = []
        for key in sorted(self.shard_table["graph"]):
            try:
                out.extend(self._shard_index(key))
            except DatabaseError as error:
                self._salvaged(error)
        return sorted(out)


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
        first layer whose index has it. Unknown files are left out. Each record
        is checked for what a lock may point at
        (:func:`~mach_nix.db.codec.file_record_problem`).

        Raises:
            DatabaseError: a record is not fit for a lock (a URL elsewhere than
                PyPI's files, a file name of another project, ...).
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
                    dist = wanted[filename]._replace(
                        sha256=sha256, size=size, upload_time=upload_time, url_path=url_path
                    )
                    problem = file_record_problem(norm, dist)
                    if problem is not None:
                        raise damaged(layer.path, layer.files_source(norm), f"has a bad record of {norm}: {problem}")
                    found[filename] = dist
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
