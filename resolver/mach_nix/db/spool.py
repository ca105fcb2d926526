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
    FORMAT_NAME,
    FORMAT_VERSION,
    SHARDS_TABLE,
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
from mach_nix.db.reader import DatabaseLayer
from mach_nix.db.writer import (
    _fsync_dir,
    _fsync_write,
    _generation_dir,
    _install_generation,
    _remove_old_generations,
    _write_shards,
    count_project,
    crawl_time_now,
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
        index members byte for byte), one file-index shard at a time.
        """
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

    def _append(self, name: str, graph: bytes, files: bytes, counts: Counts) -> None:
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
    ) -> dict[str, Any]:
        """Write the spooled projects as a complete database at ``path``, atomically.

        The same contract and bytes as :func:`~mach_nix.db.writer.write_database`
        given the same projects (an existing database at ``path`` is replaced as a whole).

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
        counts = {"projects": 0, "releases": 0, "files": 0, "failures": 0}
        kinds: dict[str, int] = {}
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
                graph_table.update(_write_shards(tmp, graph_shards))
                files_table.update(_write_shards(tmp / FILES_DIR, files_shards))
            graph_bytes = sum(entry["bytes"] for entry in graph_table.values())
            files_bytes = sum(entry["bytes"] for entry in files_table.values())
            table = (json.dumps({"graph": graph_table, "files": files_table}, sort_keys=True, indent=0) + "\n").encode()
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
                "shard_counts": {"graph": len(graph_table), "files": len(files_table)},
                "shards_sha256": table_hash,
            }
            _install_generation(root, tmp, manifest)
        _remove_old_generations(root, generation)
        return manifest

    def close(self) -> None:
        """Close the bucket files and delete the spool directory."""
        for handle in self._handles.values():
            handle.close()
        self._handles.clear()
        shutil.rmtree(self.directory, ignore_errors=True)
