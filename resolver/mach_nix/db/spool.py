"""Write a database as projects arrive, in bounded memory (``docs/db-format.md`` §1, §4.4).

:func:`mach_nix.db.writer.write_database` takes every project at once: it holds
them all, their encoded members and every shard in memory until it writes. A
crawl of all of PyPI cannot do that. A :class:`Spool` takes projects one at a
time and appends their encoded members to 256 bucket files on disk (by the
first two hex digits of the sha256 of the name); only an index of names stays
in memory. :meth:`Spool.write` then builds the generation one bucket at a time
(16 buckets at a time for databases small enough for one-digit shards), so its
memory is that of the largest bucket, not of the database.

The bytes written are those :func:`~mach_nix.db.writer.write_database` writes
for the same projects, whatever order they were added in: shards are cut by
name hash, members sorted by name, and the graph dictionary is trained on the
same projects (the smallest name hashes; :func:`~mach_nix.db.codec.train_dictionary`).
``tests/test_db_spool.py`` checks this. Adding a name again replaces the earlier
record (the crawler reopens a project when its closure grows).

Partial databases (one per partition of a distributed crawl) are merged the
same way: :meth:`Spool.add_layer` copies every member of a database into the
spool without decoding its releases.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from mach_nix.db.codec import decode_files, decode_project, encode_files, encode_project
from mach_nix.db.format import (
    FILES_DIR,
    FILES_PREFIX_EXTRA,
    ZDICT_FILE,
    ZDICT_SAMPLE_MAX,
    ZDICT_SIZE,
    compress,
    decompress,
    dumps,
    name_hash,
    prefix_length_for,
)
from mach_nix.db.model import Project
from mach_nix.db.reader import DatabaseLayer, SalvagedLayer
from mach_nix.db.writer import (
    _fsync_write,
    _generation_dir,
    _remove_old_generations,
    _write_shards,
    count_project,
    seal_generation,
)

#: Hex digits of the name hash that choose a project's bucket file (256 buckets).
BUCKET_DIGITS = 2

#: One project's tallies as the manifest counts them: releases, files, failures, by kind.
Counts = dict[str, Any]


def _counts_of(project: Project) -> Counts:
    counts = {"projects": 0, "releases": 0, "files": 0, "failures": 0}
    kinds: dict[str, int] = {}
    count_project(project, counts, kinds)
    return {"r": counts["releases"], "f": counts["files"], "k": kinds}


def _counts_of_members(graph: dict[str, Any], files_text: str) -> Counts:
    """The tallies of a project from its two stored members (as :func:`_counts_of` of the decoded project)."""
    kinds: dict[str, int] = {}
    files = 0
    for release in graph["releases"]:
        files += len(release["f"])
        for orphan in release.get("x", ()):
            kinds[orphan[1]] = kinds.get(orphan[1], 0) + 1
    for line in files_text.splitlines():
        fields = line.split("\t")
        if len(fields) > 5:
            kinds[fields[5]] = kinds.get(fields[5], 0) + 1
    return {"r": len(graph["releases"]), "f": files, "k": kinds}


class Spool:
    """Projects on their way to a database generation, kept on disk.

    Args:
        directory: where the bucket files go (created; emptied first). Remove it
            with :meth:`close` once the database is written.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        if self.directory.exists():
            shutil.rmtree(self.directory)
        self.directory.mkdir(parents=True)
        #: name -> (bucket, offset of the record's header, header length, graph length, files length)
        self._index: dict[str, tuple[str, int, int, int, int]] = {}
        self._handles: dict[str, Any] = {}
        self._sizes: dict[str, int] = {}
        #: tallies of projects copied by :meth:`add_partial` (their records carry none)
        self._extra: Counts = {"r": 0, "f": 0, "k": {}}
        self._copied: set[str] = set()

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._index

    def __len__(self) -> int:
        return len(self._index)

    def names(self) -> list[str]:
        """Every (normalised) name spooled, sorted."""
        return sorted(self._index)

    # -- adding -------------------------------------------------------------

    def add(self, project: Project) -> None:
        """Spool ``project`` (with its file details); a project of the same name is replaced."""
        name = str(canonicalize_name(project.name))
        graph = dumps(encode_project(project)).encode()
        files = compress(encode_files(project).encode())
        self._append(name, graph, files, _counts_of(project))

    def add_members(self, name: str, graph: dict[str, Any], files_member: bytes) -> None:
        """Spool a project given as its stored members: the graph object and the compressed file index."""
        text = decompress(files_member).decode() if files_member else ""
        self._append(str(canonicalize_name(name)), dumps(graph).encode(), files_member, _counts_of_members(graph, text))

    def add_layer(self, layer: DatabaseLayer, only: set[str] | None = None) -> int:
        """Copy the projects of a complete database layer (those in ``only``, default all); return how many.

        Members are copied as stored (graph objects re-serialised canonically, file
        index members byte for byte), one file-index shard at a time. A
        :class:`~mach_nix.db.reader.SalvagedLayer` is copied project by project, each read
        and checked: those it cannot read are left out, not copied damaged.
        """
        if isinstance(layer, SalvagedLayer):
            return self._add_salvaged(layer, only)
        added = 0
        directory = layer.path / layer.manifest["shards_dir"] / FILES_DIR
        seen: set[str] = set()
        for key in sorted(layer.shard_table["files"]):
            index = (directory / f"{key}.idx").read_text(encoding="utf-8")
            dat = (directory / f"{key}.dat").read_bytes()
            for line in index.splitlines():
                name, offset, length = line.split("\t")
                if only is not None and name not in only:
                    continue
                graph = layer.raw(name)
                if graph is None:
                    continue
                seen.add(name)
                self.add_members(name, graph, dat[int(offset) : int(offset) + int(length)])
                added += 1
        for name in layer.names():
            if name not in seen and (only is None or name in only):
                graph = layer.raw(name)
                if graph is not None:
                    self.add_members(name, graph, compress(b""))
                    added += 1
        return added

    def _add_salvaged(self, layer: SalvagedLayer, only: set[str] | None) -> int:
        added = 0
        for name in layer.names():
            if only is None or name in only:
                project = layer.project(name, details=True)
                if project is not None:
                    self.add(project)
                    added += 1
        return added

    def add_partial(self, layer: DatabaseLayer) -> int:
        """Copy every project of a partial database, none of which is spooled yet; return how many.

        The fast path of a merge: graph members are inflated and file-index members
        copied as stored (no JSON is parsed); the tallies come from the partial's
        manifest. Its projects cannot be replaced afterwards.
        """
        graph_dir = layer.path / layer.manifest["shards_dir"]
        files = LayerMembers(layer)
        zdict = layer.zdict
        added = 0
        for key in sorted(layer.shard_table["graph"]):
            dat = (graph_dir / f"{key}.dat").read_bytes()
            for line in (graph_dir / f"{key}.idx").read_text(encoding="utf-8").splitlines():
                name, offset, length = line.split("\t")
                if name in self._index:
                    raise ValueError(f"{name!r} of partial database {layer.path} is spooled already")
                graph = decompress(dat[int(offset) : int(offset) + int(length)], zdict)
                self._append(name, graph, files.member(name), {"r": 0, "f": 0, "k": {}})
                self._copied.add(name)
                added += 1
        counts = layer.manifest["counts"]
        self._extra["r"] += counts["releases"]
        self._extra["f"] += counts["files"]
        for kind, number in layer.manifest.get("failures_by_kind", {}).items():
            self._extra["k"][kind] = self._extra["k"].get(kind, 0) + number
        return added

    def _append(self, name: str, graph: bytes, files: bytes, counts: Counts) -> None:
        if name in self._copied:
            raise ValueError(f"{name!r} was copied from a partial database and cannot be replaced")
        bucket = name_hash(name)[:BUCKET_DIGITS]
        handle = self._handles.get(bucket)
        if handle is None:
            handle = self._handles[bucket] = open(self.directory / f"{bucket}.spool", "ab")  # noqa: SIM115
            self._sizes[bucket] = handle.tell()
        header = (dumps([name, len(graph), len(files), counts]) + "\n").encode()
        offset = self._sizes[bucket]
        handle.write(header)
        handle.write(graph)
        handle.write(files)
        self._sizes[bucket] = offset + len(header) + len(graph) + len(files)
        self._index[name] = (bucket, offset, len(header), len(graph), len(files))

    # -- reading back -------------------------------------------------------

    def members(self, name: str) -> tuple[bytes, bytes, Counts] | None:
        """The spooled graph bytes, compressed file index and tallies of ``name``, or ``None``."""
        entry = self._index.get(name)
        if entry is None:
            return None
        bucket, offset, hlen, glen, flen = entry
        handle = self._handles.get(bucket)
        if handle is not None:
            handle.flush()
        with open(self.directory / f"{bucket}.spool", "rb") as reader:
            reader.seek(offset)
            header = json.loads(reader.read(hlen))
            return reader.read(glen), reader.read(flen), header[3]

    def project(self, name: str) -> Project | None:
        """The spooled project ``name`` with its file details, or ``None``."""
        found = self.members(name)
        if found is None:
            return None
        graph, files, _ = found
        return decode_project(json.loads(graph), decode_files(files) if files else {})

    def _bucket(self, bucket: str) -> dict[str, tuple[bytes, bytes, Counts]]:
        """The live records of one bucket: name -> (graph, files member, tallies)."""
        path = self.directory / f"{bucket}.spool"
        if not path.exists():
            return {}
        handle = self._handles.get(bucket)
        if handle is not None:
            handle.flush()
        data = path.read_bytes()
        out: dict[str, tuple[bytes, bytes, Counts]] = {}
        at = 0
        while at < len(data):
            end = data.index(b"\n", at)
            name, glen, flen, counts = json.loads(data[at:end])
            start = end + 1
            entry = self._index.get(name)
            if entry is not None and entry[0] == bucket and entry[1] == at:  # the latest record of the name
                out[name] = (data[start : start + glen], data[start + glen : start + glen + flen], counts)
            at = start + glen + flen
        return out

    # -- writing ------------------------------------------------------------

    def _zdict(self) -> bytes:
        """The graph dictionary :func:`~mach_nix.db.codec.train_dictionary` would train on these projects."""
        chosen: list[bytes] = []
        size = 0
        for bucket in (f"{i:0{BUCKET_DIGITS}x}" for i in range(16**BUCKET_DIGITS)):
            records = self._bucket(bucket)
            for name in sorted(records, key=name_hash):
                graph = records[name][0]
                if len(graph) > ZDICT_SAMPLE_MAX:
                    continue
                chosen.append(graph)
                size += len(graph)
                if size >= ZDICT_SIZE:
                    return b"".join(reversed(chosen))[-ZDICT_SIZE:]
        return b"".join(reversed(chosen))[-ZDICT_SIZE:]

    def write(
        self,
        path: str | os.PathLike[str],
        *,
        crawl: dict[str, Any] | None = None,
        crawl_time: str | None = None,
        prefix_length: int | None = None,
        durable: bool = True,
        repair: bool = False,
    ) -> dict[str, Any]:
        """Write the spooled projects as a complete database at ``path``, atomically.

        The same contract and bytes as :func:`~mach_nix.db.writer.write_database`
        given the same projects (an existing database at ``path`` is replaced as a whole).
        ``durable=False`` skips the fsyncs of the shard files (a partial database of a
        distributed crawl: the manifest is still replaced atomically). ``repair``: when
        the generation written exists already, its files are compared and damaged ones
        replaced (:func:`~mach_nix.db.writer.seal_generation`).

        Returns:
            The manifest written.
        """
        for handle in self._handles.values():
            handle.flush()
        root = Path(path)
        root.mkdir(parents=True, exist_ok=True)
        if prefix_length is None:
            prefix_length = prefix_length_for(len(self._index))
        files_prefix = prefix_length + FILES_PREFIX_EXTRA
        zdict = self._zdict()
        counts = {"projects": 0, "releases": self._extra["r"], "files": self._extra["f"], "failures": 0}
        kinds: dict[str, int] = dict(self._extra["k"])
        counts["failures"] = sum(kinds.values())
        graph_table: dict[str, dict[str, Any]] = {}
        files_table: dict[str, dict[str, Any]] = {}
        group_digits = min(prefix_length, BUCKET_DIGITS)
        with _generation_dir(root) as tmp:
            (tmp / FILES_DIR).mkdir()
            _fsync_write(tmp / ZDICT_FILE, zdict)
            for group in range(16**group_digits):
                records: dict[str, tuple[bytes, bytes, Counts]] = {}
                first = f"{group:0{group_digits}x}"
                for rest in range(16 ** (BUCKET_DIGITS - group_digits)):
                    suffix = f"{rest:0{BUCKET_DIGITS - group_digits}x}" if group_digits < BUCKET_DIGITS else ""
                    records.update(self._bucket(first + suffix))
                graph_shards: dict[str, list[tuple[str, bytes]]] = {}
                files_shards: dict[str, list[tuple[str, bytes]]] = {}
                for name in sorted(records):
                    graph, files, tally = records[name]
                    counts["projects"] += 1
                    counts["releases"] += tally["r"]
                    counts["files"] += tally["f"]
                    for kind, number in tally["k"].items():
                        counts["failures"] += number
                        kinds[kind] = kinds.get(kind, 0) + number
                    digest = name_hash(name)
                    graph_shards.setdefault(digest[:prefix_length], []).append((name, compress(graph, zdict)))
                    files_shards.setdefault(digest[:files_prefix], []).append((name, files))
                del records
                graph_table.update(_shards(tmp, graph_shards, durable))
                files_table.update(_shards(tmp / FILES_DIR, files_shards, durable))
            manifest = seal_generation(
                root,
                tmp,
                zdict=zdict,
                graph=graph_table,
                files=files_table,
                prefix_length=prefix_length,
                files_prefix=files_prefix,
                counts=counts,
                kinds=kinds,
                crawl_time=crawl_time,
                crawl=crawl,
                repair=repair,
            )
        _remove_old_generations(root, manifest["shards_dir"])
        return manifest

    def close(self) -> None:
        """Close the bucket files and delete the spool directory."""
        for handle in self._handles.values():
            handle.close()
        self._handles.clear()
        shutil.rmtree(self.directory, ignore_errors=True)


def _shards(directory: Path, by_shard: dict[str, list[tuple[str, bytes]]], durable: bool) -> dict[str, dict[str, Any]]:
    """The writer's shard files and table entries (as :func:`mach_nix.db.writer._write_shards`);
    fsync'ed only if ``durable``."""
    if durable:
        return _write_shards(directory, by_shard)
    shards: dict[str, dict[str, Any]] = {}
    for key in sorted(by_shard):
        idx_lines = []
        dat = bytearray()
        for name, member in by_shard[key]:
            idx_lines.append(f"{name}\t{len(dat)}\t{len(member)}\n")
            dat += member
        idx = "".join(idx_lines).encode()
        (directory / f"{key}.idx").write_bytes(idx)
        (directory / f"{key}.dat").write_bytes(bytes(dat))
        shards[key] = {
            "projects": len(by_shard[key]),
            "idx_sha256": hashlib.sha256(idx).hexdigest(),
            "dat_sha256": hashlib.sha256(dat).hexdigest(),
            "bytes": len(idx) + len(dat),
        }
    return shards


class LayerMembers:
    """The compressed file-index members of a complete database layer, one shard read at a time."""

    def __init__(self, layer: DatabaseLayer) -> None:
        self.layer = layer
        self.directory = layer.path / layer.manifest["shards_dir"] / FILES_DIR
        self._key: str | None = None
        self._index: dict[str, tuple[int, int]] = {}
        self._dat = b""

    def member(self, name: str) -> bytes:
        """The compressed file-index member of ``name`` (``compress(b"")`` if it has none)."""
        key = self.layer.files_shard(name)
        if key is None:
            return compress(b"")
        if key != self._key:
            self._index = {}
            try:
                for line in (self.directory / f"{key}.idx").read_text(encoding="utf-8").splitlines():
                    entry, offset, length = line.split("\t")
                    self._index[entry] = (int(offset), int(length))
                self._dat = (self.directory / f"{key}.dat").read_bytes()
            except OSError:
                self._dat = b""
            self._key = key
        found = self._index.get(name)
        if found is None:
            return compress(b"")
        return self._dat[found[0] : found[0] + found[1]]
