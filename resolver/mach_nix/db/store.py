"""On-disk format of the PyPI metadata database: writer and lazy reader.

The format is specified in ``docs/db-format.md``. In short, a database is a
directory::

    DIR/manifest.json                  format version, crawl time, counts, shard hashes
    DIR/<generation>/<p>.idx           dependency graph, per shard: "name<TAB>offset<TAB>length" lines
    DIR/<generation>/<p>.dat           per shard: one raw-DEFLATE member per project, same order
    DIR/<generation>/files/<q>.idx     file index (sha256, size, time, URL), sharded finer
    DIR/<generation>/files/<q>.dat

``<p>`` is the first ``shard_prefix_length`` hex digits of
``sha256(normalised name)``, ``<q>`` the first ``files_prefix_length``. A
lookup reads one small ``.idx`` file, seeks into the ``.dat`` file and
decompresses one project: its cost does not depend on the number of projects
in the database. Resolution reads only the graph; the file index is read for
the artifacts that end up in the lock, and may live elsewhere (a graph-only
database fetches its shards by hash: :func:`write_graph_only`).

Writes are atomic: a new generation directory (named after its content hash) is
written and fsync'ed next to the current one, then ``manifest.json`` is
replaced with ``os.replace``; only then is the old generation removed.

The public entry point for readers is :func:`open_database`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
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
FORMAT_VERSION = 2
MANIFEST = "manifest.json"
#: A shard holds at most this many projects on average (chooses the prefix length).
TARGET_PROJECTS_PER_SHARD = 256
#: The shard prefix never gets longer than this (16**4 = 65536 shards).
MAX_PREFIX_LENGTH = 4
#: The file index is sharded this many hex digits finer than the graph, so
#: that fetching the hashes of one chosen artifact downloads little.
FILES_PREFIX_EXTRA = 1
#: Subdirectory of a generation that holds the file-index shards.
FILES_DIR = "files"
#: File of a generation listing every shard with its sha256 (pinned by the manifest).
SHARDS_TABLE = "shards.json"
#: File of a generation holding the graph members' preset DEFLATE dictionary.
ZDICT_FILE = "graph.zdict"


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
    stem = _common_stem(project)
    for version in sorted(project.releases, key=version_sort_key):
        release = project.releases[version]
        local: list[int] = []
        for meta in release.metadata:
            rix = requires_ix.get(meta.requires_dist)
            if rix is None:
                rix = requires_ix[meta.requires_dist] = len(requires)
                requires.append(meta.requires_dist)
            meta_json = metadata_to_json(meta, rix)
            key = dumps(meta_json)
            mix = metas_ix.get(key)
            if mix is None:
                mix = metas_ix[key] = len(metas)
                metas.append(meta_json)
            local.append(mix)
        files = [
            [_short_name(f.filename, release.version, stem), f.requires_python, f.yanked, f.metadata]
            for f in sorted(release.files, key=lambda f: f.filename)
        ]
        rel: dict[str, Any] = {"v": release.version, "f": files}
        if local:
            rel["m"] = local
        names = {f.filename for f in release.files}
        orphans = [x for x in release.failures if x.filename not in names]
        if orphans:  # failures of files not in the release (kept here; the others go with the file index)
            rel["x"] = [
                [x.filename, x.kind, x.reason] for x in sorted(orphans, key=lambda x: (x.filename, x.kind, x.reason))
            ]
        releases.append(rel)
    encoded: dict[str, Any] = {
        "name": normalize(project.name),
        "serial": project.last_serial,
        "requires": [list(r) for r in requires],
        "metadata": metas,
        "releases": releases,
    }
    if stem is not None:
        encoded["stem"] = stem
    return encoded


def _split_name(filename: str, version: str) -> tuple[str, str] | None:
    """``(stem, rest)`` with ``filename == stem + "-" + version + rest`` and ``rest``
    starting with ``-`` or ``.``, or ``None``."""
    at = filename.find("-" + version)
    if at <= 0:
        return None
    rest = filename[at + 1 + len(version) :]
    if not rest or rest[0] not in "-.":
        return None
    return filename[:at], rest


def _common_stem(project: Project) -> str | None:
    """The most frequent file-name stem of a project (ties: the smallest), or ``None``."""
    counts: dict[str, int] = {}
    for release in project.releases.values():
        for f in release.files:
            split = _split_name(f.filename, release.version)
            if split is not None:
                counts[split[0]] = counts.get(split[0], 0) + 1
    if not counts:
        return None
    return min(counts, key=lambda stem: (-counts[stem], stem))


def _short_name(filename: str, version: str, stem: str | None) -> str:
    """A file name as stored in the graph: ``rest`` when it is ``stem-version+rest``."""
    if stem is not None:
        split = _split_name(filename, version)
        if split is not None and split[0] == stem:
            return split[1]
    return filename


def encode_files(project: Project) -> str:
    """Encode the file-index part of a :class:`Project` (see docs/db-format.md §3.5).

    One line per file:
    ``filename<TAB>sha256<TAB>size<TAB>upload_time<TAB>url_path``, followed by
    ``<TAB>kind<TAB>reason`` when the file's metadata could not be obtained.
    Releases newest first (descending PEP 440 order), each release's files by
    name. Lines rather than JSON, so that a reader finds one file without
    parsing the others, and newest first, so that it usually stops
    decompressing early: locks mostly name recent releases (PyPI file names
    contain neither tabs nor newlines; in reasons they are replaced by spaces).

    Raises:
        ValueError: a file lacks its sha256, size, upload time or URL path, or
            its name contains a tab or newline.
    """
    lines = []
    for version in sorted(project.releases, key=version_sort_key, reverse=True):
        release = project.releases[version]
        failures = {x.filename: x for x in release.failures}
        for f in sorted(release.files, key=lambda f: f.filename):
            if not f.has_details or f.size is None or f.upload_time is None or f.url_path is None:
                raise ValueError(f"file {f.filename} of {project.name} lacks its file-index fields")
            if "\t" in f.filename or "\n" in f.filename:
                raise ValueError(f"file name {f.filename!r} of {project.name} contains a tab or newline")
            line = f"{f.filename}\t{f.sha256}\t{f.size}\t{f.upload_time}\t{f.url_path}"
            failure = failures.get(f.filename)
            if failure is not None:
                reason = " ".join(failure.reason.split())
                line += f"\t{failure.kind}\t{reason}"
            lines.append(line + "\n")
    return "".join(lines)


class _LazyReleases(Mapping[str, Release]):
    """A project's releases, in stored (ascending version) order, decoded on first access.

    Resolution looks at a few releases of projects that have hundreds, so a
    :class:`Release` (and its :class:`DistFile` tuples) is only built when asked for.
    """

    __slots__ = ("_raw", "_done", "_metas", "_files", "_stem")

    def __init__(
        self,
        raw: list[dict[str, Any]],
        metas: list[Metadata],
        files: Mapping[str, Sequence[Any]] | None,
        stem: str | None = None,
    ) -> None:
        self._raw = {rel["v"]: rel for rel in raw}
        self._done: dict[str, Release] = {}
        self._metas = metas
        self._files = files
        self._stem = stem

    def __getitem__(self, version: str) -> Release:
        release = self._done.get(version)
        if release is None:
            rel = self._raw[version]
            files = self._files
            failures = [Failure(*x) for x in rel.get("x", ())]
            prefix = f"{self._stem}-{version}"
            for f in rel["f"]:  # names stored short (``-py3-none-any.whl``) get their stem back
                if f[0][0] in "-.":
                    f[0] = prefix + f[0]
            if files is None:
                dists = tuple(DistFile(f[0], None, None, None, None, f[1], f[2], f[3]) for f in rel["f"])
            else:
                none = (None, None, None, None)
                dists = tuple(DistFile(f[0], *files.get(f[0], none)[:4], f[1], f[2], f[3]) for f in rel["f"])  # type: ignore[call-arg]
                for f in rel["f"]:
                    details = files.get(f[0], none)
                    if len(details) == 6:
                        failures.append(Failure(f[0], details[4], details[5]))
                failures.sort(key=lambda x: (x.filename, x.kind, x.reason))
            metas = self._metas
            release = self._done[version] = Release(
                version=version,
                files=dists,
                metadata=tuple(metas[i] for i in rel.get("m", ())),
                failures=tuple(failures),
            )
        return release

    def __contains__(self, version: object) -> bool:
        return version in self._raw

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mapping) and dict(self.items()) == dict(other.items())

    def __repr__(self) -> str:
        return f"<releases {', '.join(self._raw)}>"


def decode_project(data: Mapping[str, Any], files: Mapping[str, Sequence[Any]] | None = None) -> Project:
    """Decode the stored graph object of one project back into a :class:`Project`.

    Releases are decoded lazily (on first access to each); a malformed record
    may therefore raise ``KeyError``/``IndexError``/``TypeError`` later.

    Args:
        data: the project's dependency-graph object.
        files: the project's file index (filename -> ``[sha256, size,
            upload_time, url_path]``); without it the files' four file-index
            fields are ``None``.
    """
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
    releases = _LazyReleases(data["releases"], metas, files, data.get("stem"))
    return Project(name=data["name"], releases=releases, last_serial=data["serial"])  # type: ignore[arg-type]


def decode_files(member: bytes, only: Iterable[str] | None = None) -> dict[str, tuple[Any, ...]]:
    """Decode a project's file index: filename -> ``(sha256, size, upload_time, url_path[, kind, reason])``.

    Args:
        member: the compressed member (:func:`encode_files`, :func:`compress`).
        only: decode just these file names: the member is decompressed only as
            far as the last of them, and the other lines are not split.
            Default: all.

    Raises:
        zlib.error, UnicodeDecodeError, ValueError: a corrupt member.
    """
    if only is None:
        lines = decompress(member).decode().splitlines()
    else:
        wanted = {filename.encode() for filename in only}
        lines = []
        inflater = zlib.decompressobj(-15)
        text = b"\n"  # so that every line, the first too, follows a newline
        step = 16384
        for start in range(0, len(member) + 1, step):
            text += inflater.decompress(member[start : start + step])
            if start + step >= len(member):
                text += inflater.flush()
            for filename in list(wanted):
                found = text.find(b"\n" + filename + b"\t")
                if found < 0:
                    continue
                end = text.find(b"\n", found + 1)
                if end < 0:
                    continue  # the line is not complete yet
                lines.append(text[found + 1 : end].decode())
                wanted.discard(filename)
            if not wanted:
                break
    out: dict[str, tuple[Any, ...]] = {}
    for line in lines:
        fields: list[Any] = line.split("\t")
        fields[2] = int(fields[2])
        out[fields[0]] = tuple(fields[1:])
    return out


def compress(data: bytes, zdict: bytes = b"") -> bytes:
    """Deterministic raw DEFLATE (level 9, no header: shard hashes guard integrity),
    with a preset dictionary if given."""
    if zdict:
        packer = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, zdict)
    else:
        packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    return packer.compress(data) + packer.flush()


def decompress(data: bytes, zdict: bytes = b"") -> bytes:
    """Inverse of :func:`compress`."""
    if zdict:
        inflater = zlib.decompressobj(-15, zdict)
        return inflater.decompress(data) + inflater.flush()
    return zlib.decompress(data, -15)


#: Size of the graph's preset dictionary (DEFLATE uses at most 32 KiB).
ZDICT_SIZE = 32768
#: Projects whose encoded graph is at most this long feed the dictionary.
ZDICT_SAMPLE_MAX = 4096


def train_dictionary(graphs: Mapping[str, bytes]) -> bytes:
    """The preset DEFLATE dictionary of a database's graph members.

    Most projects are small, and a small member compresses badly on its own:
    its JSON keys, file-name tails (``-py3-none-any.whl``) and common
    dependency strings are new to it. A dictionary holding such text lets
    every member refer to it. It is taken from the data itself,
    deterministically: the encoded graphs of small projects (at most
    :data:`ZDICT_SAMPLE_MAX` bytes), in the order of the sha256 of their
    names, concatenated up to :data:`ZDICT_SIZE` bytes (the end of a DEFLATE
    dictionary is the cheapest to refer to, so the list is reversed to put the
    first-hashed projects last).

    Args:
        graphs: normalised name -> encoded (uncompressed) graph JSON.
    """
    chosen: list[bytes] = []
    size = 0
    for name in sorted(graphs, key=name_hash):
        data = graphs[name]
        if len(data) > ZDICT_SAMPLE_MAX:
            continue
        chosen.append(data)
        size += len(data)
        if size >= ZDICT_SIZE:
            break
    return b"".join(reversed(chosen))[-ZDICT_SIZE:]


def project_bytes(project: Project, zdict: bytes = b"") -> tuple[bytes, bytes]:
    """The compressed members stored for ``project``: (dependency graph, file index)."""
    return (compress(dumps(encode_project(project)).encode(), zdict), compress(encode_files(project).encode()))


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
    files_url: str | None = None,
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
        prefix_length: shard prefix length of the dependency graph; default
            :func:`prefix_length_for`. The file index uses
            :data:`FILES_PREFIX_EXTRA` more digits (16 times more, smaller shards).
        files_url: where the file-index shards of this database are published
            (recorded in the manifest; see :func:`write_graph_only`).

    Returns:
        The manifest written.
    """
    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    graph_shards: dict[str, list[tuple[str, bytes]]] = {}
    files_shards: dict[str, list[tuple[str, bytes]]] = {}
    all_projects = sorted(projects, key=lambda p: normalize(p.name))
    if prefix_length is None:
        prefix_length = prefix_length_for(len(all_projects))
    files_prefix = prefix_length + FILES_PREFIX_EXTRA
    counts = {"projects": 0, "releases": 0, "files": 0, "failures": 0}
    kinds: dict[str, int] = {}
    seen: set[str] = set()
    graphs: dict[str, bytes] = {}
    for project in all_projects:
        name = normalize(project.name)
        if name in seen:
            raise ValueError(f"duplicate project {name!r} given to write_database")
        seen.add(name)
        count_project(project, counts, kinds)
        graphs[name] = dumps(encode_project(project)).encode()
        files_shards.setdefault(name_hash(name)[:files_prefix], []).append(
            (name, compress(encode_files(project).encode()))
        )
    zdict = train_dictionary(graphs)
    for name, graph in graphs.items():
        graph_shards.setdefault(name_hash(name)[:prefix_length], []).append((name, compress(graph, zdict)))
    del graphs

    with _generation_dir(root) as tmp:
        (tmp / FILES_DIR).mkdir()
        _fsync_write(tmp / ZDICT_FILE, zdict)
        shards = _write_shards(tmp, graph_shards)
        file_shards = _write_shards(tmp / FILES_DIR, files_shards)
        graph_bytes = sum(entry["bytes"] for entry in shards.values())
        files_bytes = sum(entry["bytes"] for entry in file_shards.values())
        table = (json.dumps({"graph": shards, "files": file_shards}, sort_keys=True, indent=0) + "\n").encode()
        _fsync_write(tmp / SHARDS_TABLE, table)
        table_hash = hashlib.sha256(table).hexdigest()
        generation = f"shards-{table_hash[:16]}"
        _fsync_dir(tmp / FILES_DIR)
        _fsync_dir(tmp)
        manifest: dict[str, Any] = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "crawl_time": crawl_time or crawl_time_now(),
            "shard_prefix_length": prefix_length,
            "files_prefix_length": files_prefix,
            "shards_dir": generation,
            "graph_zdict_sha256": hashlib.sha256(zdict).hexdigest(),
            "counts": counts,
            "failures_by_kind": dict(sorted(kinds.items())),
            "bytes": {"graph": graph_bytes, "files": files_bytes, "total": graph_bytes + files_bytes},
            "crawl": dict(crawl or {}),
            "shard_counts": {"graph": len(shards), "files": len(file_shards)},
            "shards_sha256": table_hash,
        }
        if files_url:
            manifest["files_url"] = files_url
        _install_generation(root, tmp, manifest)
    _remove_old_generations(root, generation)
    return manifest


@contextlib.contextmanager
def _generation_dir(root: Path) -> Iterator[Path]:
    """A temporary directory beside the live generation, to build a new one in;
    removed if the build fails."""
    import shutil
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix=".gen-tmp-", dir=root))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _install_generation(root: Path, tmp: Path, manifest: Mapping[str, Any]) -> None:
    """Put the generation built in ``tmp`` in place and switch the manifest to it.

    The manifest's ``os.replace`` is the single atomic step; until then readers
    see the previous generation. If the generation already exists (same
    content, e.g. a no-op update), ``tmp`` is dropped.
    """
    import shutil

    target = root / manifest["shards_dir"]
    if target.exists():
        shutil.rmtree(tmp)
    else:
        os.replace(tmp, target)
    _fsync_dir(root)
    _write_manifest(root, manifest)


def _remove_old_generations(root: Path, generation: str) -> None:
    """Once ``generation`` is live: delete older generations and stray temp dirs."""
    import shutil

    for entry in root.iterdir():
        if (
            entry.is_dir()
            and entry.name != generation
            and (entry.name.startswith("shards-") or entry.name.startswith(".gen-tmp-"))
        ):
            shutil.rmtree(entry, ignore_errors=True)


def _write_shards(directory: Path, by_shard: Mapping[str, list[tuple[str, bytes]]]) -> dict[str, dict[str, Any]]:
    """Write one ``.idx``/``.dat`` pair per shard into ``directory``; return their manifest entries."""
    shards: dict[str, dict[str, Any]] = {}
    for key in sorted(by_shard):
        idx_lines = []
        dat = bytearray()
        for name, member in by_shard[key]:
            idx_lines.append(f"{name}\t{len(dat)}\t{len(member)}\n")
            dat += member
        idx = "".join(idx_lines).encode()
        _fsync_write(directory / f"{key}.idx", idx)
        _fsync_write(directory / f"{key}.dat", bytes(dat))
        shards[key] = {
            "projects": len(by_shard[key]),
            "idx_sha256": hashlib.sha256(idx).hexdigest(),
            "dat_sha256": hashlib.sha256(dat).hexdigest(),
            "bytes": len(idx) + len(dat),
        }
    return shards


def _write_manifest(root: Path, manifest: Mapping[str, Any]) -> None:
    """Replace ``root/manifest.json`` atomically (write, fsync, rename, fsync the directory)."""
    manifest_tmp = root / f".{MANIFEST}.tmp"
    _fsync_write(manifest_tmp, (json.dumps(manifest, sort_keys=True, indent=1) + "\n").encode())
    os.replace(manifest_tmp, root / MANIFEST)
    _fsync_dir(root)


def write_graph_only(source: str | os.PathLike[str], out: str | os.PathLike[str], files_url: str) -> dict[str, Any]:
    """Copy the database at ``source`` to ``out`` without its file index.

    The copy holds the manifest and the dependency-graph shards (all that
    resolution reads) and records ``files_url``: the base URL under which the
    full database's generation directory is published, so that
    ``<files_url>/<shards_dir>/files/<key>.idx|.dat`` are its file-index
    shards. Readers fetch only the shards of the artifacts they lock, and
    check each against the sha256 in the manifest. ``out`` is replaced
    atomically (same procedure as :func:`write_database`).

    Returns:
        The manifest written.
    """
    manifest = dict(read_manifest(source))
    manifest["files_url"] = files_url.rstrip("/")
    generation = manifest["shards_dir"]
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    with _generation_dir(root) as tmp:
        layer = DatabaseLayer(source)
        for key in sorted(layer.shard_table["graph"]):
            for suffix in ("idx", "dat"):
                _fsync_write(tmp / f"{key}.{suffix}", (Path(source) / generation / f"{key}.{suffix}").read_bytes())
        for name in (SHARDS_TABLE, ZDICT_FILE):
            _fsync_write(tmp / name, (Path(source) / generation / name).read_bytes())
        _fsync_dir(tmp)
        _install_generation(root, tmp, manifest)
    _remove_old_generations(root, generation)
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
    if not (root / manifest["shards_dir"]).is_dir():
        raise DatabaseError(f"database {str(root)!r} is incomplete: {manifest['shards_dir']}/ is missing; re-crawl it")
    return manifest


def default_files_cache() -> Path:
    """Where fetched file-index shards are kept: ``$MACH_NIX_CACHE/files``,
    else ``$XDG_CACHE_HOME/mach-nix/files``, else ``~/.cache/mach-nix/files``."""
    base = os.environ.get("MACH_NIX_CACHE")
    if base:
        return Path(base) / "files"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "mach-nix" / "files"


class DatabaseLayer:
    """One database directory, read lazily (one shard index and one member per lookup).

    The file index may be absent from the directory (a *graph-only* database,
    see :func:`write_graph_only`): its shards are then looked up by their
    sha256 in ``files_cache`` directories and, when ``fetch`` is true, fetched
    from the manifest's ``files_url`` into the first of them.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        files_cache: Sequence[str | os.PathLike[str]] = (),
        fetch: bool = False,
    ) -> None:
        """Open the database at ``path`` (reads only its manifest)."""
        self.path = Path(path)
        self.manifest = read_manifest(self.path)
        self.files_cache = [Path(p) for p in files_cache]
        self.fetch = fetch
        self._prefix = int(self.manifest["shard_prefix_length"])
        self._files_prefix = int(self.manifest["files_prefix_length"])
        self._dir = self.path / self.manifest["shards_dir"]
        self._index: dict[str, dict[str, tuple[int, int]]] = {}
        self._files_index: dict[str, tuple[Path, dict[str, tuple[int, int]]]] = {}
        self._table: dict[str, dict[str, dict[str, Any]]] | None = None
        self._zdict: bytes | None = None

    def _pinned_file(self, name: str, manifest_field: str) -> bytes:
        """A file of the generation whose sha256 the manifest records in ``manifest_field``."""
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
        offset, length = entry
        try:
            with open(file, "rb") as handle:
                handle.seek(offset)
                return handle.read(length)
        except OSError as error:
            raise DatabaseError(f"{what} in database {str(self.path)!r} is unreadable ({error}); re-crawl it") from None

    def raw(self, name: str) -> dict[str, Any] | None:
        """Return the stored dependency-graph object of project ``name`` (any spelling), or ``None``."""
        norm = normalize(name)
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
        sources = self.files_shard_sources(key)
        found: list[Path] = []
        for source in sources:
            hit = next((d / source["sha256"] for d in self.files_cache if (d / source["sha256"]).is_file()), None)
            if hit is None and self.fetch and source["url"] and self.files_cache:
                hit = fetch_verified(source["url"], source["sha256"], self.files_cache[0])
            if hit is None:
                raise MissingFilesError(self, sources)
            found.append(hit)
        return found[0], found[1]

    def files_raw(self, name: str, only: Iterable[str] | None = None) -> dict[str, tuple[str, int, str, str]] | None:
        """Return project ``name``'s file index: filename -> ``(sha256, size, upload_time, url_path)``.

        Args:
            only: just these file names (the others are not decoded).

        Raises:
            MissingFilesError: the shard is neither present nor fetchable.
        """
        norm = normalize(name)
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
                f"record of {normalize(name)!r} in database {str(self.path)!r} is malformed ({error!r})"
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


class MissingFilesError(DatabaseError):
    """A file-index shard is needed but neither in the database nor in a cache.

    Attributes:
        sources: what to fetch: ``{"file", "sha256", "url"}`` per missing file.
    """

    def __init__(self, layer: DatabaseLayer, sources: list[dict[str, str]]) -> None:
        self.sources = sources
        where = layer.manifest.get("files_url")
        how = (
            f"it is fetched from {where} when mach-nix may use the network (drop --offline)"
            if where
            else "this database names no files_url to fetch it from; use the full database"
        )
        super().__init__(
            f"database {str(layer.path)!r} holds only the dependency graph and the file index shard "
            f"{sources[0]['file']} is not cached; {how}"
        )

    def joined(self, earlier: MissingFilesError | None) -> MissingFilesError:
        """One error listing the sources of ``earlier`` (if any) and of this one,
        one entry per sha256 (to report every missing shard at once)."""
        if earlier is None:
            return self
        known = {s["sha256"] for s in earlier.sources}
        earlier.sources.extend(s for s in self.sources if s["sha256"] not in known)
        return earlier


def fetch_verified(url: str, sha256: str, cache: Path) -> Path:
    """Download ``url`` into ``cache/<sha256>`` if its content has that sha256; return the path.

    Raises:
        DatabaseError: the download failed or its hash differs.
    """
    import urllib.request

    cache.mkdir(parents=True, exist_ok=True)
    target = cache / sha256
    print(f"mach-nix: fetching {url}", file=sys.stderr)
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            data = response.read()
    except OSError as error:
        raise DatabaseError(f"cannot fetch {url}: {error}; check the network or use the full database") from None
    got = hashlib.sha256(data).hexdigest()
    if got != sha256:
        raise DatabaseError(f"{url} has sha256 {got}, the database manifest expects {sha256}; refusing it")
    tmp = cache / f".{sha256}.tmp{os.getpid()}"
    tmp.write_bytes(data)
    os.replace(tmp, target)
    return target


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

    def project(self, name: str, details: bool = False) -> Project | None:
        """Return the project ``name`` (any spelling) merged over all layers, or ``None``.

        Args:
            details: read the file index too (see :meth:`DatabaseLayer.project`).
        """
        norm = normalize(name)
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
        norm = normalize(name)
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


def open_database(
    paths: Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
    files_cache: Sequence[str | os.PathLike[str]] = (),
    fetch: bool = False,
) -> Database:
    """Open one or several database directories as a single :class:`Database`.

    Args:
        paths: database directories, lowest priority first; for each project,
            a later layer's release of a version replaces an earlier layer's.
            A single path is accepted too.
        files_cache: directories of file-index shards named by their sha256,
            for graph-only databases (:class:`DatabaseLayer`).
        fetch: fetch missing file-index shards from the manifest's
            ``files_url`` into ``files_cache[0]``.

    Raises:
        DatabaseError: a directory is missing, not a database, or of an
            unsupported format version.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    return Database([DatabaseLayer(p, files_cache, fetch) for p in paths])
