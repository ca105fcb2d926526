"""On-disk format of the PyPI metadata database: writer and lazy reader.

The format is specified in ``docs/db-format.md``. In short, a database is a
directory::

    DIR/manifest.json              format version, crawl time, counts, shard hashes
    DIR/<generation>/<p>.idx       per shard: "name<TAB>offset<TAB>length" lines, sorted
    DIR/<generation>/<p>.dat       per shard: one gzip member per project, same order

``<p>`` is the first ``shard_prefix_length`` hex digits of
``sha256(normalised name)``. A lookup reads one small ``.idx`` file, seeks into
the ``.dat`` file and decompresses one project: its cost does not depend on the
number of projects in the database.

Writes are atomic: a new generation directory (named after its content hash) is
written and fsync'ed next to the current one, then ``manifest.json`` is
replaced with ``os.replace``; only then is the old generation removed.

The public entry point for readers is :func:`open_database`.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import time
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from mach_nix.db.model import DistFile, Failure, Metadata, Project, ProjectSource, Release
from mach_nix.errors import DatabaseError

#: Identifies a mach-nix database manifest.
FORMAT_NAME = "mach-nix-pypi-db"
#: Version of the on-disk format written by this module (readers accept only this).
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
#: A shard holds at most this many projects on average (chooses the prefix length).
TARGET_PROJECTS_PER_SHARD = 256
#: The shard prefix never gets longer than this (16**4 = 65536 shards).
MAX_PREFIX_LENGTH = 4


# --------------------------------------------------------------------------- helpers


def normalize(name: str) -> str:
    """Return the PEP 503 normalised form of a project name."""
    return str(canonicalize_name(name))


def name_hash(name: str) -> str:
    """Return the hex sha256 of a (normalised) project name: the sharding key."""
    return hashlib.sha256(normalize(name).encode()).hexdigest()


def shard_of(name: str, prefix_length: int) -> str:
    """Return the shard key (hex prefix) that holds ``name``."""
    return name_hash(name)[:prefix_length]


def prefix_length_for(project_count: int) -> int:
    """Choose the shard prefix length for a database of ``project_count`` projects.

    The smallest length (at least 1) such that the average shard holds at most
    :data:`TARGET_PROJECTS_PER_SHARD` projects: 1 (16 shards) up to 4096
    projects, 2 up to 65536, 3 (4096 shards, ~170 projects each) at full-PyPI
    size.
    """
    length = 1
    while length < MAX_PREFIX_LENGTH and project_count > TARGET_PROJECTS_PER_SHARD * 16**length:
        length += 1
    return length


def version_sort_key(version: str) -> tuple[int, Any, str]:
    """Sort key for version strings: PEP 440 order, unparseable ones first by text."""
    try:
        return (1, Version(version), version)
    except InvalidVersion:
        return (0, None, version)


def dumps(value: Any) -> str:
    """Canonical JSON: sorted keys, no whitespace, UTF-8 (the only encoder used)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def gzip_bytes(data: bytes) -> bytes:
    """Deterministic gzip (mtime 0, no file name, level 9)."""
    return gzip.compress(data, compresslevel=9, mtime=0)


# --------------------------------------------------------------------------- encoding


def metadata_to_json(meta: Metadata, requires_index: int) -> dict[str, Any]:
    """Encode one :class:`Metadata` whose ``requires_dist`` is entry ``requires_index``."""
    out: dict[str, Any] = {"r": requires_index, "s": meta.source}
    if meta.requires_python is not None:
        out["p"] = meta.requires_python
    if meta.provides_extras:
        out["e"] = list(meta.provides_extras)
    if meta.build_requires is not None:
        out["b"] = list(meta.build_requires)
    return out


def encode_project(project: Project) -> dict[str, Any]:
    """Encode a :class:`Project` as the JSON object stored for it (see docs/db-format.md).

    Identical ``requires_dist`` lists and identical :class:`Metadata` records are
    stored once per project and referenced by index. Releases are sorted by
    version, files by file name, so equal projects give equal bytes.
    """
    requires: list[tuple[str, ...]] = []
    requires_ix: dict[tuple[str, ...], int] = {}
    metas: list[dict[str, Any]] = []
    metas_ix: dict[str, int] = {}
    releases = []
    for version in sorted(project.releases, key=version_sort_key):
        release = project.releases[version]
        local: list[int] = []
        for meta in release.metadata:
            rix = requires_ix.get(meta.requires_dist)
            if rix is None:
                rix = requires_ix[meta.requires_dist] = len(requires)
                requires.append(meta.requires_dist)
            encoded = metadata_to_json(meta, rix)
            key = dumps(encoded)
            mix = metas_ix.get(key)
            if mix is None:
                mix = metas_ix[key] = len(metas)
                metas.append(encoded)
            local.append(mix)
        files = [
            [
                f.filename,
                f.sha256,
                f.size,
                f.upload_time,
                f.url_path,
                f.requires_python,
                f.yanked,
                f.metadata,
            ]
            for f in sorted(release.files, key=lambda f: f.filename)
        ]
        rel: dict[str, Any] = {"v": release.version, "f": files}
        if local:
            rel["m"] = local
        if release.failures:
            rel["x"] = [
                [x.filename, x.kind, x.reason]
                for x in sorted(release.failures, key=lambda x: (x.filename, x.kind, x.reason))
            ]
        releases.append(rel)
    return {
        "name": normalize(project.name),
        "serial": project.last_serial,
        "requires": [list(r) for r in requires],
        "metadata": metas,
        "releases": releases,
    }


def decode_project(data: Mapping[str, Any]) -> Project:
    """Decode the JSON object of one project back into a :class:`Project`."""
    requires = [tuple(r) for r in data["requires"]]
    metas = [
        Metadata(
            requires_dist=requires[m["r"]],
            requires_python=m.get("p"),
            provides_extras=tuple(m.get("e", ())),
            build_requires=tuple(m["b"]) if "b" in m else None,
            source=m["s"],
        )
        for m in data["metadata"]
    ]
    releases: dict[str, Release] = {}
    for rel in data["releases"]:
        files = tuple(
            DistFile(
                filename=f[0],
                sha256=f[1],
                size=f[2],
                upload_time=f[3],
                url_path=f[4],
                requires_python=f[5],
                yanked=f[6],
                metadata=f[7],
            )
            for f in rel["f"]
        )
        releases[rel["v"]] = Release(
            version=rel["v"],
            files=files,
            metadata=tuple(metas[i] for i in rel.get("m", ())),
            failures=tuple(Failure(*x) for x in rel.get("x", ())),
        )
    return Project(name=data["name"], releases=releases, last_serial=data["serial"])


def project_bytes(project: Project) -> bytes:
    """The compressed member stored for ``project`` in its shard's ``.dat`` file."""
    return gzip_bytes(dumps(encode_project(project)).encode())


# --------------------------------------------------------------------------- writer


def crawl_time_now() -> str:
    """The crawl time to record: ``SOURCE_DATE_EPOCH`` if set, else now (UTC, seconds)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    seconds = int(epoch) if epoch else int(time.time())
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def count_project(project: Project, counts: dict[str, int], kinds: dict[str, int]) -> None:
    """Add ``project``'s releases, files, metadata and failures to the tallies."""
    counts["projects"] += 1
    for release in project.releases.values():
        counts["releases"] += 1
        counts["files"] += len(release.files)
        for failure in release.failures:
            counts["failures"] += 1
            kinds[failure.kind] = kinds.get(failure.kind, 0) + 1


def _fsync_write(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_database(
    path: str | os.PathLike[str],
    projects: Iterable[Project],
    *,
    crawl: Mapping[str, Any] | None = None,
    crawl_time: str | None = None,
    prefix_length: int | None = None,
) -> dict[str, Any]:
    """Write ``projects`` as a complete database at ``path``, atomically.

    Args:
        path: the database directory (created if missing). An existing database
            there is replaced as a whole; until the final ``os.replace`` of
            ``manifest.json`` readers (and a killed writer) see the old one.
        projects: every project of the new database (names are normalised;
            two projects with the same normalised name are an error).
        crawl: free-form crawl parameters stored in the manifest (roots,
            closure flag...), used by ``mach-nix db update``.
        crawl_time: ISO 8601 UTC time to record; default :func:`crawl_time_now`.
        prefix_length: shard prefix length; default :func:`prefix_length_for`.

    Returns:
        The manifest written.
    """
    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    by_shard: dict[str, list[tuple[str, bytes]]] = {}
    all_projects = sorted(projects, key=lambda p: normalize(p.name))
    if prefix_length is None:
        prefix_length = prefix_length_for(len(all_projects))
    counts = {"projects": 0, "releases": 0, "files": 0, "failures": 0}
    kinds: dict[str, int] = {}
    seen: set[str] = set()
    for project in all_projects:
        name = normalize(project.name)
        if name in seen:
            raise ValueError(f"duplicate project {name!r} given to write_database")
        seen.add(name)
        count_project(project, counts, kinds)
        by_shard.setdefault(shard_of(name, prefix_length), []).append((name, project_bytes(project)))

    import shutil  # writer-only modules: kept out of the reader's start-up time
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix=".gen-tmp-", dir=root))
    try:
        shards: dict[str, dict[str, Any]] = {}
        unpacked = 0
        for key in sorted(by_shard):
            idx_lines = []
            dat = bytearray()
            for name, member in by_shard[key]:
                idx_lines.append(f"{name}\t{len(dat)}\t{len(member)}\n")
                dat += member
            idx = "".join(idx_lines).encode()
            _fsync_write(tmp / f"{key}.idx", idx)
            _fsync_write(tmp / f"{key}.dat", bytes(dat))
            unpacked += len(idx) + len(dat)
            shards[key] = {
                "projects": len(by_shard[key]),
                "idx_sha256": hashlib.sha256(idx).hexdigest(),
                "dat_sha256": hashlib.sha256(dat).hexdigest(),
                "bytes": len(idx) + len(dat),
            }
        content_hash = hashlib.sha256(dumps(shards).encode()).hexdigest()
        generation = f"shards-{content_hash[:16]}"
        _fsync_dir(tmp)
        manifest: dict[str, Any] = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "crawl_time": crawl_time or crawl_time_now(),
            "shard_prefix_length": prefix_length,
            "shards_dir": generation,
            "counts": counts,
            "failures_by_kind": dict(sorted(kinds.items())),
            "bytes": unpacked,
            "crawl": dict(crawl or {}),
            "shards": shards,
        }
        target = root / generation
        if target.exists():  # identical content already present (e.g. a no-op update)
            shutil.rmtree(tmp)
        else:
            os.replace(tmp, target)
        _fsync_dir(root)
        manifest_tmp = root / f".{MANIFEST}.tmp"
        _fsync_write(manifest_tmp, (json.dumps(manifest, sort_keys=True, indent=1) + "\n").encode())
        os.replace(manifest_tmp, root / MANIFEST)
        _fsync_dir(root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    # The new generation is live: remove old generations and stray temp dirs.
    for entry in root.iterdir():
        if entry.is_dir() and entry.name != generation and (
            entry.name.startswith("shards-") or entry.name.startswith(".gen-tmp-")
        ):
            shutil.rmtree(entry, ignore_errors=True)
    return manifest


# --------------------------------------------------------------------------- reader


def read_manifest(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and validate ``manifest.json`` of the database at ``path``.

    Raises:
        DatabaseError: the directory or manifest is missing, unreadable, or of
            another format or format version.
    """
    root = Path(path)
    file = root / MANIFEST
    if not root.is_dir():
        raise DatabaseError(
            f"database directory {str(root)!r} does not exist; "
            f"create one with 'mach-nix db crawl --db {root} NAME'"
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
    for key in ("shard_prefix_length", "shards_dir", "shards", "counts"):
        if key not in manifest:
            raise DatabaseError(f"{str(file)!r} lacks the field {key!r}; the database is corrupt")
    if not (root / manifest["shards_dir"]).is_dir():
        raise DatabaseError(
            f"database {str(root)!r} is incomplete: {manifest['shards_dir']}/ is missing; re-crawl it"
        )
    return manifest


class DatabaseLayer:
    """One database directory, read lazily (one shard index and one member per lookup)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        """Open the database at ``path`` (reads only its manifest)."""
        self.path = Path(path)
        self.manifest = read_manifest(self.path)
        self._prefix = int(self.manifest["shard_prefix_length"])
        self._dir = self.path / self.manifest["shards_dir"]
        self._index: dict[str, dict[str, tuple[int, int]]] = {}

    def _shard_index(self, key: str) -> dict[str, tuple[int, int]]:
        index = self._index.get(key)
        if index is not None:
            return index
        index = {}
        if key in self.manifest["shards"]:
            try:
                with open(self._dir / f"{key}.idx", encoding="utf-8") as handle:
                    text = handle.read()
                for line in text.splitlines():
                    name, offset, length = line.split("\t")
                    index[name] = (int(offset), int(length))
            except (OSError, ValueError) as error:
                raise DatabaseError(
                    f"shard index {key}.idx of database {str(self.path)!r} is unreadable ({error}); re-crawl it"
                ) from None
        self._index[key] = index
        return index

    def raw(self, name: str) -> dict[str, Any] | None:
        """Return the stored JSON object of project ``name`` (any spelling), or ``None``."""
        norm = normalize(name)
        key = shard_of(norm, self._prefix)
        entry = self._shard_index(key).get(norm)
        if entry is None:
            return None
        offset, length = entry
        try:
            with open(self._dir / f"{key}.dat", "rb") as handle:
                handle.seek(offset)
                member = handle.read(length)
            return json.loads(gzip.decompress(member))
        except (OSError, EOFError, ValueError, zlib.error) as error:
            raise DatabaseError(
                f"record of {norm!r} in shard {key}.dat of database {str(self.path)!r} is corrupt "
                f"({error}); re-crawl it"
            ) from None

    def project(self, name: str) -> Project | None:
        """Return project ``name`` (any spelling) from this layer, or ``None``."""
        data = self.raw(name)
        if data is None:
            return None
        try:
            return decode_project(data)
        except (KeyError, IndexError, TypeError) as error:
            raise DatabaseError(
                f"record of {normalize(name)!r} in database {str(self.path)!r} is malformed ({error!r})"
            ) from None

    def names(self) -> list[str]:
        """Every project name in this layer (reads all shard indexes)."""
        out: list[str] = []
        for key in sorted(self.manifest["shards"]):
            out.extend(self._shard_index(key))
        return sorted(out)

    def projects(self) -> Iterator[Project]:
        """Every project of this layer, in name order (reads the whole database)."""
        for name in self.names():
            project = self.project(name)
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

    def project(self, name: str) -> Project | None:
        """Return the project ``name`` (any spelling) merged over all layers, or ``None``."""
        norm = normalize(name)
        if norm in self._cache:
            return self._cache[norm]
        found = [p for p in (layer.project(norm) for layer in self.layers) if p is not None]
        result = None if not found else found[0] if len(found) == 1 else merge_projects(found)
        self._cache[norm] = result
        return result

    def names(self) -> list[str]:
        """Every normalised project name present in any layer, sorted."""
        return sorted({n for layer in self.layers for n in layer.names()})


def open_database(paths: Sequence[str | os.PathLike[str]] | str | os.PathLike[str]) -> Database:
    """Open one or several database directories as a single :class:`Database`.

    Args:
        paths: database directories, lowest priority first; for each project,
            a later layer's release of a version replaces an earlier layer's.
            A single path is accepted too.

    Raises:
        DatabaseError: a directory is missing, not a database, or of an
            unsupported format version.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    return Database([DatabaseLayer(p) for p in paths])
