"""What a native wheel's ELF files need: the sonames of their ``DT_NEEDED`` entries.

``mach-nix lock`` records, for every Linux native wheel of a lock, the shared
libraries its ELF files ask for and that the wheel does not ship itself
(``artifact.needed``), and the packages of the same lock whose wheels ship some
of them (``artifact.needed_from``: ``nvidia-cublas-cu12`` for torch's
``libcublas.so.12``). The Nix side (``lib/native.nix``) maps the remaining sonames
to nixpkgs libraries and adds the other wheels' directories to autoPatchelf's
search path. The format is ``docs/lock-format.md``.

How a wheel is read (:func:`read_wheel`), without downloading it whole:

1. the zip's end records and central directory, by one or two HTTP range reads
   of its tail (zip64 included);
2. for each member that can be an ELF file (a ``*.so``/``*.so.*`` name, or a
   name without a dot under a ``bin``/``scripts`` directory), its local header
   and as much of its data as the ELF header, the program headers, the dynamic
   section (``PT_DYNAMIC``) and the needed strings of the dynamic string table
   require, inflating the deflate stream as it arrives, in range reads of
   growing size. The dynamic section usually follows the code in the file, so
   most of a member is still inflated; the non-ELF members (Python code,
   headers, data) are never fetched.

The facts of a wheel depend only on its bytes: they are cached as JSON under the
wheel's sha256 (:class:`NeedsCache`, ``~/.cache/mach-nix/native``), so every
wheel is read once per user. The facts of one wheel are :class:`WheelLibraries`;
combining the wheels of a lock is :func:`annotate_lock`.
"""

from __future__ import annotations

import os
import re
import struct
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mach_nix.db.http import Client, NotFound
from mach_nix.facts_cache import FactsCache, cache_dir
from mach_nix.progress import Progress

#: ``(start, end_inclusive) -> bytes`` of one remote (or local) file.
FetchRange = Callable[[int, int], bytes]

#: Version of the cached facts' JSON (a cache entry of another version is read again).
CACHE_VERSION = 1

#: Wheels up to this size are fetched whole, in one request.
WHOLE_BELOW = 1024 * 1024

#: First range read of a member's data; later reads double, up to :data:`MAX_CHUNK`.
FIRST_CHUNK = 256 * 1024
MAX_CHUNK = 16 * 1024 * 1024

#: How much of a member's beginning is kept while inflating towards its dynamic
#: section: the dynamic string table lies there (in the first segment). A table
#: beyond it is read in a second pass.
KEEP_PREFIX = 64 * 1024 * 1024

#: The largest dynamic section or string-table span read (real ones are kilobytes; a
#: malformed or hostile wheel must not make the reader keep gigabytes).
MAX_TABLE = 64 * 1024 * 1024

#: Platform tags of the wheels whose ELF files autoPatchelf patches (lib/wheels.nix isLinuxNative).
_LINUX_TAG = re.compile(r"^(many|musl)?linux")
_SHARED_OBJECT = re.compile(r"\.so(\.[0-9A-Za-z_]+)*$")

# ELF constants.
_PT_LOAD, _PT_DYNAMIC = 1, 2
_DT_NULL, _DT_NEEDED, _DT_STRTAB, _DT_STRSZ, _DT_SONAME = 0, 1, 5, 10, 14


class NativeNeedsError(Exception):
    """A wheel could not be read (not a zip, a compression method we do not inflate, …)."""


@dataclass(frozen=True)
class WheelLibraries:
    """The native facts of one wheel.

    Attributes:
        needed: sorted sonames some ELF file of the wheel needs that no shared object of
            the wheel provides (glibc's included: the Nix side knows those).
        provides: sorted file names of the wheel's shared objects (what autoPatchelf
            finds a needed soname by, in the wheel itself or in a dependant's search path).
        elf_files: how many ELF files the wheel has.
        fetched: bytes read to learn this (0 when it came from the cache).
    """

    needed: tuple[str, ...] = ()
    provides: tuple[str, ...] = ()
    elf_files: int = 0
    fetched: int = field(default=0, compare=False)

    def to_json(self) -> dict[str, Any]:
        """The cached form."""
        return {
            "version": CACHE_VERSION,
            "needed": list(self.needed),
            "provides": list(self.provides),
            "elf_files": self.elf_files,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WheelLibraries | None:
        """Read a cached form; ``None`` when it is of another version or malformed."""
        try:
            if data.get("version") != CACHE_VERSION:
                return None
            return cls(
                needed=tuple(str(s) for s in data["needed"]),
                provides=tuple(str(s) for s in data["provides"]),
                elf_files=int(data["elf_files"]),
            )
        except (KeyError, TypeError, ValueError):
            return None


def is_linux_native(filename: str) -> bool:
    """True for a wheel with a Linux platform tag (manylinux, musllinux, ``linux_*``)."""
    if not filename.endswith(".whl"):
        return False
    platforms = filename[: -len(".whl")].rsplit("-", 1)[-1]
    return any(_LINUX_TAG.match(tag) for tag in platforms.split("."))


# --------------------------------------------------------------------------- zip


@dataclass(frozen=True)
class _Member:
    name: str
    method: int
    compressed: int
    size: int
    offset: int  # of the local header


class _Counter:
    """A fetch function that counts the bytes and requests it made."""

    def __init__(self, fetch: FetchRange) -> None:
        self._fetch = fetch
        self.bytes = 0
        self.requests = 0

    def __call__(self, start: int, end: int) -> bytes:
        data = self._fetch(start, end)
        self.bytes += len(data)
        self.requests += 1
        return data


def _central_directory(fetch: FetchRange, size: int) -> list[_Member]:
    """The members of a zip of ``size`` bytes, from its end records."""
    tail_start = max(0, size - 65536 - 22)
    tail = fetch(tail_start, size - 1)
    eocd = tail.rfind(b"PK\x05\x06")
    if eocd < 0 or len(tail) - eocd < 22:
        raise NativeNeedsError("not a zip file (no end-of-central-directory record)")
    entries, cd_size, cd_offset = struct.unpack("<HII", tail[eocd + 10 : eocd + 20])
    locator = eocd - 20
    if locator >= 0 and tail[locator : locator + 4] == b"PK\x06\x07":
        (eocd64_offset,) = struct.unpack("<Q", tail[locator + 8 : locator + 16])
        if eocd64_offset >= tail_start:
            record = tail[eocd64_offset - tail_start : eocd64_offset - tail_start + 56]
        else:
            record = fetch(eocd64_offset, eocd64_offset + 55)
        if record[:4] != b"PK\x06\x06":
            raise NativeNeedsError("bad zip64 end-of-central-directory record")
        entries, cd_size, cd_offset = struct.unpack("<QQQ", record[32:56])
    if cd_offset >= tail_start:
        cd = tail[cd_offset - tail_start : cd_offset - tail_start + cd_size]
    else:
        cd = fetch(cd_offset, cd_offset + cd_size - 1)
    members = []
    i = 0
    while i + 46 <= len(cd) and cd[i : i + 4] == b"PK\x01\x02":
        (method,) = struct.unpack("<H", cd[i + 10 : i + 12])
        compressed, usize = struct.unpack("<II", cd[i + 20 : i + 28])
        nlen, elen, clen = struct.unpack("<HHH", cd[i + 28 : i + 34])
        (offset,) = struct.unpack("<I", cd[i + 42 : i + 46])
        name = cd[i + 46 : i + 46 + nlen].decode("utf-8", errors="replace")
        extra = cd[i + 46 + nlen : i + 46 + nlen + elen]
        if 0xFFFFFFFF in (compressed, usize, offset):
            usize, compressed, offset = _zip64_sizes(extra, usize, compressed, offset)
        members.append(_Member(name, method, compressed, usize, offset))
        i += 46 + nlen + elen + clen
    if len(members) != entries:
        raise NativeNeedsError(f"the central directory lists {len(members)} of {entries} members")
    return members


def _zip64_sizes(extra: bytes, usize: int, compressed: int, offset: int) -> tuple[int, int, int]:
    """Sizes and offset from a zip64 extended information extra field (id 1)."""
    i = 0
    while i + 4 <= len(extra):
        tag, length = struct.unpack("<HH", extra[i : i + 4])
        body = extra[i + 4 : i + 4 + length]
        if tag == 1:
            values = [usize, compressed, offset]
            pos = 0
            for index, value in enumerate(values):
                if value == 0xFFFFFFFF and pos + 8 <= len(body):
                    (values[index],) = struct.unpack("<Q", body[pos : pos + 8])
                    pos += 8
            return values[0], values[1], values[2]
        i += 4 + length
    return usize, compressed, offset


def _may_be_elf(member: _Member) -> bool:
    """Members worth reading: shared objects, and executables (no dot) in a bin/scripts directory."""
    if member.name.endswith("/") or member.size < 64:
        return False
    parts = member.name.split("/")
    base = parts[-1]
    if _SHARED_OBJECT.search(base):
        return True
    return "." not in base and any(p in ("bin", "scripts") for p in parts[:-1])


# --------------------------------------------------------------------------- inflating


class _Stream:
    """The uncompressed bytes of one member, produced on demand, keeping only some windows."""

    def __init__(self, fetch: FetchRange, member: _Member, data_start: int, windows: list[tuple[int, int]]) -> None:
        self._fetch = fetch
        self._member = member
        self._next = data_start  # next compressed byte to fetch
        self._end = data_start + member.compressed
        self._chunk = FIRST_CHUNK
        self._inflater = zlib.decompressobj(-15) if member.method == 8 else None
        self.produced = 0  # uncompressed bytes produced so far
        self.windows: dict[tuple[int, int], bytearray] = {w: bytearray() for w in windows}
        self._recent: tuple[int, bytes] = (0, b"")  # the last chunk produced, and where it starts
        self.eof = False
        if member.method not in (0, 8):
            raise NativeNeedsError(f"{member.name}: zip compression method {member.method} is not supported")

    def keep(self, start: int, end: int) -> bool:
        """Also keep ``[start, end)``; False when part of it was produced and dropped already
        (the bytes of the most recent chunk are still at hand)."""
        if (start, end) in self.windows:
            return True
        recent_start, recent = self._recent
        if start < recent_start:
            return False
        self.windows[(start, end)] = bytearray(recent[start - recent_start : end - recent_start])
        return True

    def advance(self, target: int) -> None:
        """Produce bytes until ``target`` uncompressed bytes exist (or the member ends)."""
        while self.produced < target and not self.eof:
            if self._inflater is None:  # stored: exactly the bytes asked for
                start = self._next
                end = min(self._end, self._next + max(target - self.produced, 1)) - 1
                data = self._fetch(start, end) if end >= start else b""
                self._next = end + 1
            else:
                end = min(self._end, self._next + self._chunk) - 1
                compressed = self._fetch(self._next, end) if end >= self._next else b""
                self._next = end + 1
                self._chunk = min(self._chunk * 2, MAX_CHUNK)
                try:
                    data = self._inflater.decompress(compressed)
                except zlib.error as error:
                    raise NativeNeedsError(f"{self._member.name} does not inflate: {error}") from None
                if self._inflater.eof:
                    self.eof = True
            if self._next >= self._end:
                self.eof = True
            self._take(data)

    def _take(self, data: bytes) -> None:
        begin, finish = self.produced, self.produced + len(data)
        self._recent = (begin, data)
        for (start, end), kept in self.windows.items():
            lo, hi = max(start, begin), min(end, finish)
            if lo < hi:
                kept += data[lo - begin : hi - begin]
        self.produced = finish

    def read(self, start: int, end: int) -> bytes:
        """Bytes ``[start, end)``, produced if need be; they must lie in one kept window."""
        self.advance(end)
        for (w_start, w_end), kept in self.windows.items():
            if w_start <= start and end <= w_end:
                return bytes(kept[start - w_start : end - w_start])
        raise NativeNeedsError(f"internal: bytes {start}-{end} of {self._member.name} were not kept")

    def has(self, start: int, end: int) -> bool:
        """Whether ``[start, end)`` lies in a kept window that is still to be, or has been, filled."""
        return any(w_start <= start and end <= w_end for w_start, w_end in self.windows)


@dataclass(frozen=True)
class ElfDynamic:
    """What the dynamic section of one ELF file says."""

    needed: tuple[str, ...]
    soname: str | None


def _local_data_start(fetch: FetchRange, member: _Member) -> int:
    header = fetch(member.offset, member.offset + 29)
    if header[:4] != b"PK\x03\x04":
        raise NativeNeedsError(f"{member.name}: bad local file header")
    nlen, elen = struct.unpack("<HH", header[26:30])
    return member.offset + 30 + nlen + elen


def read_elf_member(fetch: FetchRange, member: _Member) -> ElfDynamic | None:
    """The dynamic section's needed sonames and soname of one zip member; ``None`` when the
    member is not an ELF file (or is one without a dynamic section, e.g. static)."""
    start = _local_data_start(fetch, member)
    limit = min(KEEP_PREFIX, member.size)
    stream = _Stream(fetch, member, start, [(0, limit)])
    head = stream.read(0, min(64, member.size))
    if head[:4] != b"\x7fELF" or len(head) < 52:
        return None
    wide, little = head[4] == 2, head[5] == 1
    end = "<" if little else ">"
    if wide:
        (phoff,) = struct.unpack(end + "Q", head[32:40])
        phentsize, phnum = struct.unpack(end + "HH", head[54:58])
    else:
        (phoff,) = struct.unpack(end + "I", head[28:32])
        phentsize, phnum = struct.unpack(end + "HH", head[42:46])
    if phoff + phentsize * phnum > limit:
        return None
    table = stream.read(phoff, phoff + phentsize * phnum)
    loads: list[tuple[int, int, int]] = []  # (vaddr, offset, filesz)
    dynamic: tuple[int, int] | None = None
    for index in range(phnum):
        entry = table[index * phentsize : (index + 1) * phentsize]
        if wide:
            p_type, _flags, p_offset, p_vaddr, _paddr, p_filesz = struct.unpack(end + "IIQQQQ", entry[:40])
        else:
            p_type, p_offset, p_vaddr, _paddr, p_filesz = struct.unpack(end + "IIIII", entry[:20])
        if p_type == _PT_LOAD:
            loads.append((p_vaddr, p_offset, p_filesz))
        elif p_type == _PT_DYNAMIC:
            dynamic = (p_offset, p_filesz)
    if dynamic is None:
        return None
    dyn_offset, dyn_size = dynamic
    if dyn_offset + dyn_size > member.size or dyn_size > MAX_TABLE:
        raise NativeNeedsError(f"{member.name}: implausible dynamic section ({dyn_size} bytes at {dyn_offset})")

    def grab(lo: int, hi: int) -> bytes:
        """Bytes ``[lo, hi)`` of the member: kept, still to come, or inflated again from the start."""
        if stream.has(lo, hi) or stream.keep(lo, hi):
            return stream.read(lo, hi)
        return _Stream(fetch, member, start, [(lo, hi)]).read(lo, hi)

    raw = grab(dyn_offset, dyn_offset + dyn_size)
    step = 16 if wide else 8
    fmt = end + ("qQ" if wide else "iI")
    needed_offsets: list[int] = []
    soname_offset = strtab = strsz = None
    for pos in range(0, len(raw) - step + 1, step):
        tag, value = struct.unpack(fmt, raw[pos : pos + step])
        if tag == _DT_NULL:
            break
        if tag == _DT_NEEDED:
            needed_offsets.append(value)
        elif tag == _DT_SONAME:
            soname_offset = value
        elif tag == _DT_STRTAB:
            strtab = value
        elif tag == _DT_STRSZ:
            strsz = value
    if strtab is None or strsz is None:
        return ElfDynamic((), None)
    str_offset = next((off + strtab - vaddr for vaddr, off, size in loads if vaddr <= strtab < vaddr + size), strtab)
    wanted = [*needed_offsets, *([soname_offset] if soname_offset is not None else [])]
    if not wanted:
        return ElfDynamic((), None)
    lo, hi = str_offset + min(wanted), min(str_offset + strsz, member.size)
    if hi - lo > MAX_TABLE or lo >= hi:
        raise NativeNeedsError(f"{member.name}: implausible dynamic string table ({strsz} bytes)")
    strings = grab(lo, hi)

    def string(offset: int) -> str:
        at = offset - min(wanted)
        return strings[at : strings.index(b"\0", at) if b"\0" in strings[at:] else len(strings)].decode(
            "utf-8", errors="replace"
        )

    return ElfDynamic(
        needed=tuple(string(o) for o in needed_offsets),
        soname=string(soname_offset) if soname_offset is not None else None,
    )


def read_wheel(fetch: FetchRange, size: int) -> WheelLibraries:
    """Read the native facts of a wheel of ``size`` bytes through ``fetch`` (range reads).

    Raises:
        NativeNeedsError: the file is not a zip we can read, or a member is malformed.
    """
    try:
        return _read_wheel(fetch, size)
    except (struct.error, IndexError, ValueError, OverflowError, MemoryError) as error:
        raise NativeNeedsError(f"malformed wheel: {type(error).__name__}: {error}") from None


def _read_wheel(fetch: FetchRange, size: int) -> WheelLibraries:
    counter = _Counter(fetch)
    if size <= WHOLE_BELOW:  # one request: cheaper than a few small ones
        whole = counter(0, size - 1)

        def fetch_whole(start: int, end: int) -> bytes:
            return whole[start : end + 1]

        members = _central_directory(fetch_whole, size)
        facts = _read_members(fetch_whole, members)
    else:
        members = _central_directory(counter, size)
        facts = _read_members(counter, members)
    return WheelLibraries(facts.needed, facts.provides, facts.elf_files, fetched=counter.bytes)


def _read_members(fetch: FetchRange, members: list[_Member]) -> WheelLibraries:
    counter = fetch
    provides: set[str] = set()
    needed: set[str] = set()
    elf_files = 0
    for member in members:
        if not _may_be_elf(member):
            continue
        dynamic = read_elf_member(counter, member)
        if dynamic is None:
            continue
        elf_files += 1
        needed.update(dynamic.needed)
        base = member.name.rsplit("/", 1)[-1]
        if _SHARED_OBJECT.search(base):
            provides.add(base)
    return WheelLibraries(
        needed=tuple(sorted(needed - provides)), provides=tuple(sorted(provides)), elf_files=elf_files
    )


def read_local_wheel(path: str | os.PathLike[str]) -> WheelLibraries:
    """:func:`read_wheel` of a wheel on disk."""
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size

        def fetch(start: int, end: int) -> bytes:
            handle.seek(start)
            return handle.read(end - start + 1)

        return read_wheel(fetch, size)


# --------------------------------------------------------------------------- cache


def default_cache_dir() -> Path:
    """``$MACH_NIX_CACHE/native``, else ``$XDG_CACHE_HOME/mach-nix/native``, else ``~/.cache/mach-nix/native``."""
    return cache_dir("native")


class NeedsCache(FactsCache):
    """Facts of wheels by sha256 (:class:`~mach_nix.facts_cache.FactsCache`; an entry of
    another :data:`CACHE_VERSION` counts as absent)."""

    def get(self, sha256: str) -> WheelLibraries | None:
        """The cached facts of the wheel with this sha256, if any."""
        for base in (self.directory, *self.extra):
            data = FactsCache(base).get_json(sha256)
            facts = None if data is None else WheelLibraries.from_json(data)
            if facts is not None:
                return facts
        return None

    def put(self, sha256: str, facts: WheelLibraries) -> None:
        """Store facts (best effort: a read-only cache only costs a re-read next time)."""
        self.put_json(sha256, facts.to_json())


# --------------------------------------------------------------------------- the lock


#: Reads one wheel: ``(url, size or None) -> facts``. ``None`` size: the reader finds it out.
WheelReader = Callable[[str], WheelLibraries]


def http_reader() -> WheelReader:
    """A reader of remote wheels through the project's HTTP client (range reads)."""
    client = Client(hint="check the network, or lock with --native-needs cache (the defaults apply then)")

    def read(url: str) -> WheelLibraries:
        try:
            return _read(url)
        except NotFound:
            raise NativeNeedsError(f"{url} is not there (HTTP 404)") from None

    def _read(url: str) -> WheelLibraries:
        head = client.request(url, {"Range": "bytes=0-0"})
        size = None
        content_range = head.headers.get("content-range", "")
        if "/" in content_range:
            size = int(content_range.rsplit("/", 1)[1])
        elif head.status == 200:
            size = len(head.body)
        if size is None:
            raise NativeNeedsError(f"{url}: the server does not say the file's size")
        return read_wheel(lambda start, end: client.range(url, start, end), size)

    return read


def _closure(packages: Mapping[str, Mapping[str, Any]], name: str) -> list[str]:
    """The lock's packages ``name`` depends on, transitively (not itself), in sorted order."""
    seen: set[str] = set()
    todo = list(packages[name].get("dependencies", []))
    while todo:
        dep = todo.pop()
        if dep in seen or dep == name or dep not in packages:
            continue
        seen.add(dep)
        todo.extend(packages[dep].get("dependencies", []))
    return sorted(seen)


def annotate_lock(
    data: dict[str, Any],
    facts_of: Callable[[Mapping[str, Any]], WheelLibraries | None],
) -> list[str]:
    """Add ``needed`` (and ``needed_from``) to every Linux native wheel artifact of a lock document.

    ``facts_of(artifact)`` gives the facts of a wheel, or ``None`` when they are not
    available (that artifact then gets no ``needed``: the Nix side's defaults apply).
    A soname that a wheel of the package's dependency closure ships is needed from
    that package (the first in name order when several do), not from nixpkgs.

    Returns:
        The names of the native wheels left without ``needed``.
    """
    packages: dict[str, dict[str, Any]] = data["packages"]
    facts: dict[str, WheelLibraries] = {}
    missing = []
    for name, entry in sorted(packages.items()):
        artifact = entry.get("artifact")
        if entry.get("provider") != "wheel" or not artifact or not is_linux_native(artifact["filename"]):
            continue
        found = facts_of(artifact)
        if found is None:
            missing.append(name)
        else:
            facts[name] = found
    for name, own in facts.items():
        providers = [dep for dep in _closure(packages, name) if dep in facts]
        needed, wheels = [], set()
        for soname in own.needed:
            provider = next((dep for dep in providers if soname in facts[dep].provides), None)
            if provider is None:
                needed.append(soname)
            else:
                wheels.add(provider)
        artifact = packages[name]["artifact"]
        artifact["needed"] = needed
        if wheels:
            artifact["needed_from"] = sorted(wheels)
    return missing


#: How ``mach-nix lock`` learns the facts: read wheels the cache lacks, use the cache only, or not at all.
MODES = ("fetch", "cache", "off")


def record_needs(
    data: dict[str, Any],
    mode: str,
    cache: NeedsCache | None = None,
    reader: WheelReader | None = None,
    progress: bool = False,
) -> list[str]:
    """The lock writer's post-pass: :func:`annotate_lock` with facts from the cache and,
    in ``fetch`` mode, from the wheels themselves (stored in the cache).

    Returns:
        Warnings for the user (wheels left without ``needed``), empty when all are known.

    Raises:
        NativeNeedsError: a wheel could not be read.
    """
    if mode == "off":
        return []
    cache = cache or NeedsCache(default_cache_dir())
    fetching = [0]

    def facts_of(artifact: Mapping[str, Any]) -> WheelLibraries | None:
        found = cache.get(artifact["sha256"])
        if found is not None or mode != "fetch":
            return found
        nonlocal reader
        if reader is None:
            reader = http_reader()
        fetching[0] += 1
        line.update(f"reading the ELF files of {artifact['filename']}", force=True)
        try:
            found = reader(artifact["url"])
        except NativeNeedsError as error:
            raise NativeNeedsError(f"{artifact['filename']}: {error}") from None
        cache.put(artifact["sha256"], found)
        return found

    line = Progress("native needs", progress)
    with line:
        missing = annotate_lock(data, facts_of)
    if not missing:
        return []
    return [
        f"{len(missing)} native wheel(s) without recorded library needs ({', '.join(missing)}): their "
        "cached facts are missing and this lock did not read them (--native-needs fetch, without --offline, "
        "records them); the Nix side gives them the C++ runtime and zlib and names any other missing library"
    ]
