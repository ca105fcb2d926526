"""The database format's constants and primitives (``docs/db-format.md`` §1–§2).

Format name and version, file names, shard naming (:func:`shard_of`), the
shard prefix length (:func:`prefix_length_for`), the version order releases
are stored in, canonical JSON (:func:`dumps`) and the raw-DEFLATE members
(:func:`compress`); what a manifest must hold (:func:`manifest_problem`) and
how one entry of ``shards.json`` is found without parsing it all
(:func:`find_table_entry`). A format version 3 changes this module and
:mod:`mach_nix.db.codec`; the reader and writer only move bytes.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import re
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
#: Prefix of a generation directory's name; the rest is the first 16 hex digits of ``shards_sha256``.
GENERATION_PREFIX = "shards-"


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


# -- integrity -----------------------------------------------------------------

_HEX64 = re.compile(r"[0-9a-f]{64}")


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _counts(value: Any, keys: tuple[str, ...] = ()) -> bool:
    """A mapping of names to counts, with at least ``keys``."""
    return (
        isinstance(value, dict)
        and all(isinstance(k, str) and _count(v) for k, v in value.items())
        and all(k in value for k in keys)
    )


def _roots(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(r, dict) and isinstance(r.get("requirement"), str) and isinstance(r.get("closure", False), bool)
        for r in value
    )


#: The manifest's fields, each with the test its value must pass and what that means (docs/db-format.md §2).
MANIFEST_FIELDS: dict[str, tuple[Any, str]] = {
    "crawl_time": (lambda v: isinstance(v, str), "a time stamp"),
    "shard_prefix_length": (lambda v: _count(v) and 1 <= v <= MAX_PREFIX_LENGTH, f"1 to {MAX_PREFIX_LENGTH}"),
    "files_prefix_length": (lambda v: _count(v) and 1 <= v <= MAX_PREFIX_LENGTH + FILES_PREFIX_EXTRA, "a length"),
    "shards_dir": (lambda v: isinstance(v, str) and re.fullmatch(r"shards-[0-9a-f]{16}", v), "shards-<16 hex>"),
    "shards_sha256": (lambda v: isinstance(v, str) and _HEX64.fullmatch(v), "64 hex digits"),
    "graph_zdict_sha256": (lambda v: isinstance(v, str) and _HEX64.fullmatch(v), "64 hex digits"),
    "counts": (lambda v: _counts(v, ("projects", "releases", "files", "failures")), "counts of projects, ..."),
    "failures_by_kind": (_counts, "counts by failure kind"),
    "bytes": (lambda v: _counts(v, ("graph", "files", "total")), "byte counts of graph, files, total"),
    "shard_counts": (lambda v: _counts(v, ("graph", "files")), "shard counts of graph and files"),
    "crawl": (
        lambda v: (
            isinstance(v, dict)
            and _roots(v.get("roots", []))
            and all(isinstance(v.get(k, ""), str) for k in ("hooks", "policy"))
        ),
        "the crawl's roots and policy",
    ),
}
#: Fields a manifest may lack.
OPTIONAL_FIELDS: dict[str, tuple[Any, str]] = {"files_url": (lambda v: isinstance(v, str) and v != "", "a URL")}


def manifest_problem(manifest: dict[str, Any]) -> str | None:
    """What is wrong with a manifest of this format version, or ``None`` (``format`` and
    ``format_version`` are checked before: another version has other fields).

    Every field is of its type, and the fields that name files agree with each other: the
    generation directory is named after ``shards_sha256``, and the file index is sharded
    :data:`FILES_PREFIX_EXTRA` digits finer than the graph. A manifest is the one file that
    nothing else pins, so this is how a damaged one is told from a good one.
    """
    for fields, required in ((MANIFEST_FIELDS, True), (OPTIONAL_FIELDS, False)):
        for field, (valid, meaning) in fields.items():
            if field not in manifest:
                if required:
                    return f"lacks the field {field!r}"
                continue
            if not valid(manifest[field]):
                return f"has {field!r} = {manifest[field]!r}, which is not {meaning}"
    if manifest["shards_dir"] != GENERATION_PREFIX + manifest["shards_sha256"][:16]:
        return f"has 'shards_dir' = {manifest['shards_dir']!r}, which is not named after 'shards_sha256'"
    if manifest["files_prefix_length"] != manifest["shard_prefix_length"] + FILES_PREFIX_EXTRA:
        return (
            f"has 'files_prefix_length' = {manifest['files_prefix_length']!r} and 'shard_prefix_length' = "
            f"{manifest['shard_prefix_length']!r}, which differ by {FILES_PREFIX_EXTRA} in every database"
        )
    return None


def table_entry_problem(entry: Any) -> str | None:
    """What is wrong with one shard's entry of ``shards.json``, or ``None``."""
    if not isinstance(entry, dict):
        return "is not an object"
    for field in ("idx_sha256", "dat_sha256"):
        if not isinstance(entry.get(field), str) or not _HEX64.fullmatch(entry[field]):
            return f"has no valid {field!r}"
    return None


def table_sections(table: bytes | mmap.mmap) -> dict[str, tuple[int, int]]:
    """Where the ``"files"`` and ``"graph"`` entries of a ``shards.json`` in the writer's layout
    are (byte ranges, for :func:`find_table_entry`); empty if it is not in that layout."""
    marker = b'\n"graph": {\n'
    graph_at = table.rfind(marker)
    files_marker = b'{\n"files": {\n'
    if graph_at < 0 or table[: len(files_marker)] != files_marker:
        return {}
    return {"files": (len(files_marker), graph_at), "graph": (graph_at + len(marker), len(table))}


def find_table_entry(
    table: bytes | mmap.mmap,
    sections: dict[str, tuple[int, int]],
    part: str,
    key: str,
) -> dict[str, Any] | None:
    """Shard ``key``'s entry in the ``part`` (``"graph"`` or ``"files"``) of a ``shards.json``
    in the writer's layout, found by bisection without parsing the rest; ``None`` if not found.

    The writer's layout (``json.dumps(table, sort_keys=True, indent=0)``) puts ``"files"``
    first, then ``"graph"`` (``sections``: :func:`table_sections`), each with its shard keys
    in order, one ``"<key>": {`` line per entry; a lookup reads a few hundred bytes of a
    table of any size. ``None`` means only "not found this way": the caller parses the
    whole table to decide.
    """
    if part not in sections:
        return None
    lo, hi = sections[part]
    section_end = hi
    want = key.encode()
    header = b'": {\n'
    while lo < hi:
        mid = (lo + hi) // 2
        end = table.find(header, mid, hi + len(header) - 1)  # the first key line's end at or after mid
        if end < 0:
            hi = mid
            continue
        begin = table.rfind(b'\n"', max(lo - 1, 0), end)
        if begin < 0:
            return None
        found = table[begin + 2 : end]
        if found == want:
            close = table.find(b"}", end, section_end)
            if close < 0:
                return None
            try:
                entry = json.loads(table[end + 3 : close + 1])
            except ValueError:
                return None
            return entry if table_entry_problem(entry) is None else None
        if found < want:
            lo = end + len(header)
        else:
            hi = mid
    return None
