"""The database format's constants and primitives (``docs/db-format.md`` §1–§2).

Format name and version, file names, shard naming (:func:`shard_of`), the
shard prefix length (:func:`prefix_length_for`), the version order releases
are stored in, canonical JSON (:func:`dumps`) and the raw-DEFLATE members
(:func:`compress`). A format version 3 changes this module and
:mod:`mach_nix.db.codec`; the reader and writer only move bytes.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

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
#: Size of the graph's preset dictionary (DEFLATE uses at most 32 KiB).
ZDICT_SIZE = 32768
#: Projects whose encoded graph is at most this long feed the dictionary.
ZDICT_SAMPLE_MAX = 4096


def name_hash(name: str) -> str:
    """Return the hex sha256 of a (normalised) project name: the sharding key."""
    return hashlib.sha256(canonicalize_name(name).encode()).hexdigest()


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
