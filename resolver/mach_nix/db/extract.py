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
        (crc,) = struct.unpack("<I", cd[i + 16 : i + 20])
        csize, usize = struct.unpack("<II", cd[i + 20 : i + 28])
        nlen, elen, clen = struct.unpack("<HHH", cd[i + 28 : i + 34])
        (local,) = struct.unpack("<I", cd[i + 42 : i + 46])
        name = cd[i + 46 : i + 46 + nlen].decode("utf-8", errors="replace")
        parts = name.split("/")
        if len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] == "METADATA":
            entry = (method, csize, local, crc)
            break
        i += 46 + nlen + elen + clen
    if entry is None:
        raise ExtractError("no-metadata", "the wheel has no top-level *.dist-info/METADATA")
    method, csize, local, crc = entry
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
        text = data
    elif method == 8:
        try:
            text = zlib.decompress(data, -15)
        except zlib.error as error:  # as for a bad CRC: bytes damaged on the way, most likely
            raise ExtractError(
                "download", f"METADATA read from the wheel does not inflate ({error}); the next crawl retries it"
            ) from None
    else:
        raise ExtractError("invalid", f"METADATA uses unsupported zip compression method {method}")
    if zlib.crc32(text) != crc:  # the bytes read are not the wheel's: a damaged answer
        raise ExtractError("download", "METADATA read from the wheel fails its CRC-32; the next crawl retries it")
    return text


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


# --------------------------------------------------------------------------- static read


class _NotStatic(Exception):
    """A value of setup.py that cannot be known without running it."""


def _cfg_list(value: str) -> list[str]:
    items = []
    for line in value.splitlines() if "\n" in value.strip() else value.split(";" if ";" in value else "\n"):
        line = line.split("#", 1)[0].strip()
        if line:
            items.append(line)
    return items


def _setup_cfg_metadata(text: bytes) -> dict[str, Any]:
    """``install_requires``, ``extras_require`` and ``python_requires`` of a setup.cfg (those present)."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text.decode("utf-8", errors="replace"))
    except configparser.Error:
        raise _NotStatic("setup.cfg does not parse") from None
    out: dict[str, Any] = {}
    if parser.has_option("options", "install_requires"):
        out["install_requires"] = [r for r in _cfg_list(parser.get("options", "install_requires")) if r != ";"]
    if parser.has_option("options", "python_requires"):
        out["python_requires"] = parser.get("options", "python_requires").strip() or None
    if parser.has_section("options.extras_require"):
        out["extras_require"] = {k: _cfg_list(v) for k, v in parser.items("options.extras_require")}
    return out


def _setup_py_metadata(text: bytes) -> dict[str, Any]:
    """The literal ``install_requires`` / ``extras_require`` / ``python_requires`` of setup.py's one setup() call.

    A keyword may be a literal or a name bound exactly once (anywhere in the file) to a
    literal and never changed in place; lists may be added with ``+``. Anything else (a
    ``**kwargs``, a file read, a second ``setup()`` call) makes the file not static.
    """
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        raise _NotStatic("setup.py is not Python 3") from None
    bound: dict[str, list[ast.expr]] = {}
    changed: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    bound.setdefault(target.id, []).append(node.value)
                for sub in ast.walk(target):
                    if isinstance(sub, ast.Subscript) and isinstance(sub.value, ast.Name):
                        changed.add(sub.value.id)
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)) and isinstance(node.target, ast.Name):
            changed.add(node.target.id)
        elif isinstance(node, (ast.For, ast.With, ast.comprehension)):
            for sub in ast.walk(node.target if not isinstance(node, ast.With) else node):
                if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                    changed.add(sub.id)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.attr in {"append", "extend", "insert", "update", "remove", "pop", "setdefault", "clear"}
        ):
            changed.add(node.func.value.id)
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and (
            (isinstance(node.func, ast.Name) and node.func.id == "setup")
            or (isinstance(node.func, ast.Attribute) and node.func.attr == "setup")
        )
    ]
    if len(calls) != 1:
        raise _NotStatic(f"setup.py has {len(calls)} setup() calls")
    if any(keyword.arg is None for keyword in calls[0].keywords):
        raise _NotStatic("setup() takes **keywords")

    def value(node: ast.expr, depth: int = 0) -> Any:
        if depth > 8:
            raise _NotStatic("too deep")
        try:
            return ast.literal_eval(node)
        except (ValueError, SyntaxError, TypeError):
            pass
        if isinstance(node, ast.Name) and node.id not in changed and len(bound.get(node.id, ())) == 1:
            return value(bound[node.id][0], depth + 1)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left, right = value(node.left, depth + 1), value(node.right, depth + 1)
            if isinstance(left, (list, tuple)) and isinstance(right, (list, tuple)):
                return [*left, *right]
        raise _NotStatic(f"{ast.unparse(node)[:60]} is computed")

    out: dict[str, Any] = {}
    for keyword in calls[0].keywords:
        if keyword.arg in {"install_requires", "extras_require", "python_requires"}:
            out[keyword.arg] = value(keyword.value)
    return out


def _requirement_lines(install: Any, extras: Any) -> list[str]:
    from packaging.requirements import InvalidRequirement, Requirement

    def items(raw: Any) -> list[str]:
        if isinstance(raw, str):
            raw = raw.splitlines()
        if not isinstance(raw, (list, tuple)) or not all(isinstance(r, str) for r in raw):
            raise _NotStatic("requirements are not strings")
        return [r.split("#", 1)[0].strip() for r in raw if r.split("#", 1)[0].strip()]

    lines = items(install or [])
    if not isinstance(extras or {}, dict):
        raise _NotStatic("extras_require is not a dict")
    for key, raw in sorted((extras or {}).items()):
        name, _, condition = str(key).partition(":")
        for item in items(raw):
            base, _, own = item.partition(";")
            markers = [f"({m.strip()})" for m in (own, condition) if m.strip()]
            if name.strip():
                markers.append(f'extra == "{canonicalize_name(name.strip())}"')
            lines.append(base.strip() + ("; " + " and ".join(markers) if markers else ""))
    for line in lines:
        try:
            Requirement(line)
        except InvalidRequirement:
            raise _NotStatic(f"{line!r} is not a requirement") from None
    return lines


def static_metadata(contents: SdistContents, build_requires: tuple[str, ...] | None = None) -> Metadata | None:
    """Dependency metadata read from an sdist without running it (source ``"static"``), or ``None``.

    The stand-in for a hook that failed for want of something on the build machine: a
    PKG-INFO of Metadata-Version 2.1 or newer (it lists ``Requires-Dist`` as the author's
    build computed them), else the literal keywords of setup.py's ``setup()`` call, completed
    by setup.cfg's ``[options]``. ``None`` when any of them is computed.
    """
    if contents.pkg_info is not None:
        meta, version, _ = parse_core_metadata(contents.pkg_info, "static", build_requires)
        try:
            if Version(version) >= Version("2.1"):
                return meta
        except InvalidVersion:
            pass
        requires_python = meta.requires_python
    else:
        requires_python = None
    try:
        found: dict[str, Any] = {}
        if contents.setup_cfg is not None:
            found.update(_setup_cfg_metadata(contents.setup_cfg))
        if contents.setup_py is not None:
            found.update(_setup_py_metadata(contents.setup_py))
        elif contents.setup_cfg is None:
            return None
        lines = _requirement_lines(found.get("install_requires"), found.get("extras_require"))
    except _NotStatic:
        return None
    python = found.get("python_requires", requires_python)
    extras = found.get("extras_require") or {}
    return Metadata(
        requires_dist=tuple(lines),
        requires_python=str(python).strip() or None if python is not None else None,
        provides_extras=tuple(
            sorted({str(canonicalize_name(str(k).partition(":")[0])) for k in extras if str(k).partition(":")[0]})
        ),
        build_requires=build_requires,
        source="static",
    )
