"""Writing a database, atomically (``docs/db-format.md`` §1).

A new generation directory (named after the hash of its ``shards.json``) is
built and fsync'ed next to the current one, then ``manifest.json`` is replaced
with ``os.replace``: until then readers, and a killed writer, see the old
database. Only then are older generations removed, those that no reader holds
(:mod:`mach_nix.db.generations`). :func:`write_database`
writes a complete database, :func:`write_graph_only` a copy without its file
index (for publishing).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from mach_nix.db import generations
from mach_nix.db.codec import encode_files, encode_project, train_dictionary
from mach_nix.db.format import (
    FILES_DIR,
    FILES_PREFIX_EXTRA,
    FORMAT_NAME,
    FORMAT_VERSION,
    MANIFEST,
    SHARDS_TABLE,
    ZDICT_FILE,
    compress,
    dumps,
    name_hash,
    prefix_length_for,
)
from mach_nix.db.model import Project
from mach_nix.db.reader import DatabaseLayer, read_manifest


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
    all_projects = sorted(projects, key=lambda p: canonicalize_name(p.name))
    if prefix_length is None:
        prefix_length = prefix_length_for(len(all_projects))
    files_prefix = prefix_length + FILES_PREFIX_EXTRA
    counts = {"projects": 0, "releases": 0, "files": 0, "failures": 0}
    kinds: dict[str, int] = {}
    seen: set[str] = set()
    graphs: dict[str, bytes] = {}
    for project in all_projects:
        name = str(canonicalize_name(project.name))
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
        manifest = seal_generation(
            root,
            tmp,
            zdict=zdict,
            graph=shards,
            files=file_shards,
            prefix_length=prefix_length,
            files_prefix=files_prefix,
            counts=counts,
            kinds=kinds,
            crawl_time=crawl_time,
            crawl=crawl,
            files_url=files_url,
        )
    _remove_old_generations(root, manifest["shards_dir"])
    return manifest


def seal_generation(
    root: Path,
    tmp: Path,
    *,
    zdict: bytes,
    graph: Mapping[str, Mapping[str, Any]],
    files: Mapping[str, Mapping[str, Any]],
    prefix_length: int,
    files_prefix: int,
    counts: Mapping[str, int],
    kinds: Mapping[str, int],
    crawl_time: str | None,
    crawl: Mapping[str, Any] | None,
    files_url: str | None = None,
    repair: bool = False,
) -> dict[str, Any]:
    """Finish the generation whose shards are written in ``tmp``: write its shard table,
    name it by the table's hash, fsync, and switch the manifest to it (atomically).
    ``repair``: an existing generation of that name gets ``tmp``'s files where its differ
    (:func:`_install_generation`).

    ``graph`` and ``files`` are the shard tables (:func:`_write_shards`' results). Returns
    the new manifest. Every writer (one-shot and spooled crawl) ends through here, so the
    manifest's keys are defined once.
    """
    graph_bytes = sum(entry["bytes"] for entry in graph.values())
    files_bytes = sum(entry["bytes"] for entry in files.values())
    table = (json.dumps({"graph": graph, "files": files}, sort_keys=True, indent=0) + "\n").encode()
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
        "counts": dict(counts),
        "failures_by_kind": dict(sorted(kinds.items())),
        "bytes": {"graph": graph_bytes, "files": files_bytes, "total": graph_bytes + files_bytes},
        "crawl": dict(crawl or {}),
        "shard_counts": {"graph": len(graph), "files": len(files)},
        "shards_sha256": table_hash,
    }
    if files_url:
        manifest["files_url"] = files_url
    _install_generation(root, tmp, manifest, repair)
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


def _install_generation(root: Path, tmp: Path, manifest: Mapping[str, Any], repair: bool = False) -> None:
    """Put the generation built in ``tmp`` in place and switch the manifest to it.

    The manifest's ``os.replace`` is the single atomic step; until then readers
    see the previous generation. If the generation already exists (same
    content, e.g. a no-op update, or an old one still held by a reader), ``tmp``
    is dropped and the existing one is held across the switch, so that no
    remover deletes it in between (:mod:`mach_nix.db.generations`). With ``repair``
    (``db update --force``) every file of the existing one is first compared with
    ``tmp``'s and replaced (atomically, one by one) where it is missing or differs: a
    damaged generation rewritten with its own content is then whole again.
    """
    import shutil

    target = root / manifest["shards_dir"]
    held = generations.hold_existing(target)
    try:
        if held is not None:
            if repair:
                _repair_generation(target, tmp)
            shutil.rmtree(tmp)
        else:
            os.replace(tmp, target)
        _fsync_dir(root)
        _write_manifest(root, manifest)
    finally:
        if held is not None:
            os.close(held)


def _repair_generation(target: Path, tmp: Path) -> None:
    """Give the existing generation ``target`` every file of ``tmp`` (the same generation, just
    written) that it lacks or holds with other bytes."""
    import filecmp

    for source in sorted(tmp.rglob("*")):
        if source.is_dir():
            continue
        final = target / source.relative_to(tmp)
        if final.is_file() and filecmp.cmp(source, final, shallow=False):
            continue
        final.parent.mkdir(exist_ok=True)
        os.replace(source, final)
        _fsync_dir(final.parent)


def _remove_old_generations(root: Path, generation: str) -> None:
    """Once ``generation`` is live: delete the older generations that no reader holds (a held one
    is deleted by its last reader, or by the next write), and stray temporary directories."""
    import shutil

    for entry in root.iterdir():
        if not entry.is_dir() or entry.name == generation:
            continue
        if entry.name.startswith("shards-"):
            generations.remove_if_superseded(root, entry.name)
        elif entry.name.startswith((".gen-tmp-", generations.DOOMED_PREFIX)):
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
