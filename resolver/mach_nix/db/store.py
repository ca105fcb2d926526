"""The PyPI metadata database's public entry points, in one import.

The format is specified in ``docs/db-format.md``; its implementation is split
by role:

    format.py       format name and version, file names, shard naming, canonical JSON, DEFLATE
    codec.py        one project's graph member and file-index member: encode, decode (lazily)
    writer.py       atomic generations: write_database, write_graph_only
    reader.py       read_manifest, DatabaseLayer, Database (layers), open_database
    files_cache.py  file-index shards by sha256: caches, fetching, MissingFilesError

This module re-exports what callers outside the package use (``docs/db-format.md``
§8), so that they need not know the split::

    from mach_nix.db.store import open_database, write_database, MissingFilesError
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from mach_nix.db.files_cache import FilesCache, MissingFilesError, default_files_cache
from mach_nix.db.http import shard_downloader
from mach_nix.db.reader import Database, DatabaseLayer, open_layers, read_manifest
from mach_nix.db.writer import crawl_time_now, write_database, write_graph_only

__all__ = [
    "Database",
    "DatabaseLayer",
    "FilesCache",
    "MissingFilesError",
    "crawl_time_now",
    "default_files_cache",
    "open_database",
    "open_layers",
    "read_manifest",
    "write_database",
    "write_graph_only",
]


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
            for graph-only databases (:class:`~mach_nix.db.files_cache.FilesCache`).
        fetch: fetch missing file-index shards from the manifest's
            ``files_url`` into ``files_cache[0]``.

    Raises:
        DatabaseError: a directory is missing, not a database, or of an
            unsupported format version.
    """
    return open_layers(paths, FilesCache(files_cache, connect=shard_downloader if fetch else None))
