"""Dependency metadata of one artifact: wheels (range reads), sdists (PKG-INFO, PEP 517).

Each function here is a pure function of one file (identified by its sha256):
the crawler caches results by hash, so an interrupted crawl resumes and an
update never re-extracts a file it has seen.
"""

from __future__ import annotations

import ast
import configparser
import email.parser
import io
import struct
import tarfile
import tomllib
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from mach_nix.db.model import DEFAULT_BUILD_REQUIRES, Failure, Metadata

#: How much of a wheel's end is fetched first (usually holds the whole central directory).
TAIL_BYTES = 65536


class ExtractError(Exception):
    """Metadata could not be extracted; ``kind`` is a :class:`Failure` kind."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason

    def failure(self, filename: str) -> Failure:
        """This error as a :class:`Failure` record of ``filename``."""
        return Failure(filename, self.kind, self.reason)


def parse_core_metadata(
    text: bytes | str, source: str, build_requires: tuple[str, ...] | None = None
) -> tuple[Metadata, str, set[str]]:
    """Parse a METADATA / PKG-INFO document.

    Returns:
        The :class:`Metadata`, the declared Metadata-Version and the set of
        fields declared ``Dynamic`` (lower-case).
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    msg = email.parser.HeaderParser().parsestr(text)
    requires = tuple(str(r).strip() for r in (msg.get_all("Requires-Dist") or ()))
    python = msg.get("Requires-Python")
    extras = tuple(sorted({str(canonicalize_name(str(e).strip())) for e in (msg.get_all("Provides-Extra") or ())}))
    dynamic = {str(d).strip().lower() for d in (msg.get_all("Dynamic") or ())}
    meta = Metadata(
        requires_dist=requires,
        requires_python=str(python).strip() or None if python is not None else None,
        provides_extras=extras,
        build_requires=build_requires,
        source=source,
    )
    return meta, str(msg.get("Metadata-Version") or "").strip(), dynamic


# --------------------------------------------------------------------------- wheels


def _find_eocd(tail: bytes) -> int:
    pos = tail.rfind(b"PK\x05\x06")
    if pos < 0 or len(tail) - pos < 22:
        raise ExtractError("invalid", "no zip end-of-central-directory record")
    return pos


def wheel_metadata_bytes(fetch_range: Callable[[int, int], bytes], size: int) -> bytes:
    """Read ``*.dist-info/METADATA`` out of a remote wheel with HTTP range requests.

    Args:
        fetch_range: ``(start, end_inclusive) -> bytes`` of the wheel.
        size: the wheel's size in bytes.

    Two requests in the common case: the last 64 KiB (end-of-central-directory
    and central directory), then the METADATA member's local header and data
    (one request for wheels smaller than 64 KiB).
    """
    start = max(0, size - TAIL_BYTES)
    tail = fetch_range(start, size - 1)
    pos = _find_eocd(tail)
    cd_size, cd_offset = struct.unpack("<II", tail[pos + 12 : pos + 20])
    if cd_offset == 0xFFFFFFFF:
        raise ExtractError("invalid", "zip64 wheels are not supported by the range reader")
    if cd_offset < start:
        central = fetch_range(cd_offset, start - 1) + tail
        base = cd_offset
    else:
        central = tail
        base = start
    cd = central[cd_offset - base : cd_offset - base + cd_size]
    entry = None
    i = 0
    while i + 46 <= len(cd) and cd[i : i + 4] == b"PK\x01\x02":
        (method,) = struct.unpack("<H", cd[i + 10 : i + 12])
        csize, usize = struct.unpack("<II", cd[i + 20 : i + 28])
        nlen, elen, clen = struct.unpack("<HHH", cd[i + 28 : i + 34])
        (local,) = struct.unpack("<I", cd[i + 42 : i + 46])
        name = cd[i + 46 : i + 46 + nlen].decode("utf-8", errors="replace")
        parts = name.split("/")
        if len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] == "METADATA":
            entry = (method, csize, local)
            break
        i += 46 + nlen + elen + clen
    if entry is None:
        raise ExtractError("no-metadata", "the wheel has no top-level *.dist-info/METADATA")
    method, csize, local = entry
    if local >= base and local + 30 + 1024 + csize <= base + len(central):
        blob = central[local - base : local - base + 30 + 1024 + csize]  # already fetched
    else:
        # local header (30 bytes + name + extra, which may differ from the central one) and data
        blob = fetch_range(local, min(size - 1, local + 30 + 1024 + csize))
    if blob[:4] != b"PK\x03\x04":
        raise ExtractError("invalid", "bad local file header for METADATA")
    nlen, elen = struct.unpack("<HH", blob[26:30])
    data = blob[30 + nlen + elen : 30 + nlen + elen + csize]
    if method == 0:
        return data
    if method == 8:
        try:
            return zlib.decompress(data, -15)
        except zlib.error as error:
            raise ExtractError("invalid", f"METADATA does not inflate: {error}") from None
    raise ExtractError("invalid", f"METADATA uses unsupported zip compression method {method}")


def wheel_metadata(fetch_range: Callable[[int, int], bytes], size: int) -> Metadata:
    """The :class:`Metadata` of a remote wheel (source ``"wheel"``)."""
    return parse_core_metadata(wheel_metadata_bytes(fetch_range, size), "wheel")[0]


# --------------------------------------------------------------------------- sdists


@dataclass
class SdistContents:
    """The files of an sdist that matter for its metadata."""

    pkg_info: bytes | None = None
    pyproject: bytes | None = None
    setup_cfg: bytes | None = None
    setup_py: bytes | None = None


#: Files of an sdist's top directory that metadata extraction reads, and their fields.
_SDIST_MEMBERS = {
    "PKG-INFO": "pkg_info",
    "pyproject.toml": "pyproject",
    "setup.cfg": "setup_cfg",
    "setup.py": "setup_py",
}


def _read_tar_members(archive: tarfile.TarFile, out: SdistContents, stop: Callable[[bytes], bool] | None) -> bool:
    """Fill ``out`` from a tar archive's top-level members; False if ``stop`` ended it early."""
    for member in archive:
        parts = member.name.lstrip("./").split("/")
        if len(parts) == 2 and parts[1] in _SDIST_MEMBERS and member.isfile():
            handle = archive.extractfile(member)
            if handle is not None:
                setattr(out, _SDIST_MEMBERS[parts[1]], handle.read())
                if stop is not None and parts[1] == "PKG-INFO" and stop(out.pkg_info or b""):
                    return False
    return True


def read_sdist_stream(stream: io.RawIOBase | Any, stop: Callable[[bytes], bool]) -> SdistContents | None:
    """Read a tar sdist from a stream, stopping early when ``stop(pkg_info)`` is true.

    Returns ``None`` when it stopped early (the rest of the archive is not read).
    """
    out = SdistContents()
    try:
        with tarfile.open(fileobj=stream, mode="r|*") as archive:
            if not _read_tar_members(archive, out, stop):
                return None
    except (tarfile.TarError, EOFError, OSError, zlib.error) as error:
        raise ExtractError("invalid", f"cannot read the sdist archive: {error}") from None
    return out


def read_sdist(filename: str, data: bytes) -> SdistContents:
    """Pick PKG-INFO, pyproject.toml, setup.cfg and setup.py from an sdist archive.

    Only members directly below the archive's top directory are considered.
    """
    out = SdistContents()
    try:
        if filename.endswith(".zip"):
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                for name in archive.namelist():
                    parts = name.split("/")
                    if len(parts) == 2 and parts[1] in _SDIST_MEMBERS:
                        setattr(out, _SDIST_MEMBERS[parts[1]], archive.read(name))
        else:
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
                _read_tar_members(archive, out, None)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, zlib.error) as error:
        raise ExtractError("invalid", f"cannot open the sdist archive: {error}") from None
    return out


def _setup_cfg_setup_requires(text: bytes) -> list[str]:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text.decode("utf-8", errors="replace"))
        value = parser.get("options", "setup_requires", fallback="")
    except configparser.Error:
        return []
    items = []
    for line in value.replace(";", "\n").splitlines() if "\n" in value else value.split(";"):
        line = line.split("#", 1)[0].strip()
        if line:
            items.append(line)
    return items


def _setup_py_setup_requires(text: bytes) -> list[str]:
    """``setup_requires=[...]`` of a ``setup(...)`` call, when it is a literal."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            for keyword in node.keywords:
                if keyword.arg == "setup_requires":
                    try:
                        value = ast.literal_eval(keyword.value)
                    except (ValueError, SyntaxError, TypeError):
                        return []
                    if isinstance(value, str):
                        value = [value]
                    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
                        return [v.strip() for v in value if v.strip()]
                    return []
    return []


def build_system(contents: SdistContents) -> tuple[tuple[str, ...], str | None, tuple[str, ...]]:
    """The sdist's build requirements, PEP 517 backend and backend-path.

    Build requirements are ``[build-system] requires`` of pyproject.toml (or
    the PEP 517 default ``setuptools>=40.8.0`` when absent), followed by
    ``setup_requires`` when statically readable from setup.cfg or setup.py.
    """
    requires: list[str] = []
    backend = None
    backend_path: tuple[str, ...] = ()
    table = None
    if contents.pyproject is not None:
        try:
            table = tomllib.loads(contents.pyproject.decode("utf-8", errors="replace")).get("build-system")
        except (tomllib.TOMLDecodeError, ValueError):
            table = None
    if isinstance(table, dict) and isinstance(table.get("requires"), list):
        requires = [str(r).strip() for r in table["requires"] if str(r).strip()]
        backend = table.get("build-backend") if isinstance(table.get("build-backend"), str) else None
        if isinstance(table.get("backend-path"), list):
            backend_path = tuple(str(p) for p in table["backend-path"])
    else:
        requires = list(DEFAULT_BUILD_REQUIRES)
    extra: list[str] = []
    if contents.setup_cfg is not None:
        extra = _setup_cfg_setup_requires(contents.setup_cfg)
    if not extra and contents.setup_py is not None:
        extra = _setup_py_setup_requires(contents.setup_py)
    for item in extra:
        if item not in requires:
            requires.append(item)
    return tuple(requires), backend, backend_path


def pkg_info_is_reliable(version: str, dynamic: set[str]) -> bool:
    """True if an sdist's PKG-INFO may be trusted for its dependencies (PEP 643)."""
    try:
        if Version(version) < Version("2.2"):
            return False
    except InvalidVersion:
        return False
    return "requires-dist" not in dynamic
