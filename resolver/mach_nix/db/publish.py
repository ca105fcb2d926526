"""Publishing a database for Nix users (``db publish``), pinning a release (``db pin``), fetching one.

A **release** is a directory any static host can serve (GitHub Pages or releases, S3):

    OUT/pypi-data.json                       the pin: url, sha256, date, counts, files_url
    OUT/pypi-data-<sha256[:16]>.tar.gz       the graph-only database, one content-addressed tarball
    OUT/db/<shards_dir>/files/<key>.idx|dat  the file-index shards, fetched one by one on demand

The tarball holds ``pypi-data/`` (``manifest.json`` and the graph generation, §1.1 of
``docs/db-format.md``); its manifest's ``files_url`` is ``BASE_URL/db``, so the
reader (and the Nix library, with fixed-output fetches) finds every file-index shard
there and checks it against the sha256 the manifest pins. The tarball is
deterministic (sorted members, zero times and owners, gzip without a timestamp): the
same database gives the same bytes, so the same URL. Earlier releases in ``OUT``
are left in place (their pins keep working).

``db pin --url URL`` reads a release's ``pypi-data.json``, downloads the tarball it
names and checks its sha256 and manifest, and only then writes the pin file (by
default ``pypi-data.json`` here): the one the Nix library's default reads.
:func:`published_database` downloads the release of a pin for the CLI's default database,
checked the same way, into the cache :mod:`mach_nix.db.published` describes.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from mach_nix.db.format import FILES_DIR, FORMAT_NAME
from mach_nix.db.http import Client, NotFound
from mach_nix.db.published import TOP, cached_database, check_pin, published_dir
from mach_nix.db.reader import DatabaseLayer, read_manifest
from mach_nix.db.writer import write_graph_only
from mach_nix.errors import DatabaseError, UsageError

#: The pin file's name (in a release, and in a project that pins one).
PIN_FILE = "pypi-data.json"


def _tar_bytes(root: Path) -> bytes:
    """A deterministic ``tar.gz`` of ``root`` under :data:`TOP`."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        paths = sorted(root.rglob("*"), key=lambda p: p.relative_to(root).as_posix())
        for path in [root, *paths]:
            rel = path.relative_to(root).as_posix()
            info = tarfile.TarInfo(TOP if rel == "." else f"{TOP}/{rel}")
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if path.is_dir():
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                archive.addfile(info)
            else:
                data = path.read_bytes()
                info.size = len(data)
                info.mode = 0o644
                archive.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), compresslevel=9, mtime=0)


def publish(db: str | os.PathLike[str], out: str | os.PathLike[str], base_url: str) -> dict[str, Any]:
    """Write a release of the complete database ``db`` into ``out`` for serving at ``base_url``.

    Returns:
        The pin (also written as ``out/pypi-data.json``).

    Raises:
        UsageError: a bad URL, or ``db`` is graph-only (publish the full database).
    """
    if not base_url.startswith(("https://", "http://", "file://")):
        raise UsageError(f"--base-url must be an https://, http:// or file:// URL, not {base_url!r}")
    base = base_url.rstrip("/")
    layer = DatabaseLayer(db)
    manifest = layer.manifest
    generation = Path(db) / manifest["shards_dir"]
    if manifest["shard_counts"]["files"] and not (generation / FILES_DIR).is_dir():
        raise UsageError(f"{os.fspath(db)!r} is graph-only; publish the full database it was made from")
    target = Path(out)
    target.mkdir(parents=True, exist_ok=True)
    files_out = target / "db" / manifest["shards_dir"] / FILES_DIR
    if not files_out.is_dir():
        staging = Path(tempfile.mkdtemp(prefix=".files-", dir=target))
        shutil.copytree(generation / FILES_DIR, staging / FILES_DIR)
        files_out.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / FILES_DIR, files_out)
        shutil.rmtree(staging)
    with tempfile.TemporaryDirectory(dir=target) as tmp:
        graph = Path(tmp) / TOP
        write_graph_only(db, graph, f"{base}/db")
        for leftover in graph.glob(".*"):
            shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
        data = _tar_bytes(graph)
    digest = hashlib.sha256(data).hexdigest()
    name = f"pypi-data-{digest[:16]}.tar.gz"
    if not (target / name).exists():
        _write_atomic(target / name, data)
    pin = {
        "url": f"{base}/{name}",
        "sha256": digest,
        "date": manifest["crawl_time"],
        "counts": manifest["counts"],
        "files_url": f"{base}/db",
        "format_version": manifest["format_version"],
        "bytes": len(data),
    }
    _write_atomic(target / PIN_FILE, (json.dumps(pin, indent=1, sort_keys=True) + "\n").encode())
    return pin


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def unpack(data: bytes, dest: Path) -> None:
    """Unpack a release tarball into ``dest``: only directories and regular files below :data:`TOP`."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        for member in archive:
            parts = Path(member.name).parts
            if not parts or parts[0] != TOP or ".." in parts or Path(member.name).is_absolute():
                raise tarfile.TarError(f"unexpected member {member.name!r}")
            if member.isdir():
                (dest / member.name).mkdir(parents=True, exist_ok=True)
            elif member.isfile():
                handle = archive.extractfile(member)
                assert handle is not None
                (dest / member.name).parent.mkdir(parents=True, exist_ok=True)
                (dest / member.name).write_bytes(handle.read())
            else:
                raise tarfile.TarError(f"unexpected member {member.name!r} (not a file)")


def download(pinned: dict[str, Any], where: str, http: Client) -> bytes:
    """The tarball the pin ``pinned`` (read from ``where``) names, checked against its sha256.

    Raises:
        UsageError: not there, or other bytes than pinned.
        NetworkError: unreachable.
    """
    try:
        data = http.request(pinned["url"]).body
    except NotFound:
        raise UsageError(f"{where} names {pinned['url']}, which is not there") from None
    if hashlib.sha256(data).hexdigest() != pinned["sha256"]:
        raise UsageError(f"{pinned['url']} does not have the sha256 {where} pins; the release is damaged")
    return data


def unpack_checked(data: bytes, dest: Path, pinned: dict[str, Any], where: str) -> Path:
    """Unpack the tarball ``data`` of the pin ``pinned`` into ``dest``; return its database
    (``dest/pypi-data``) once its manifest is the one the pin describes.

    Raises:
        UsageError: not a mach-nix database tarball, or another database than pinned.
    """
    try:
        unpack(data, dest)
        manifest = read_manifest(dest / TOP)
    except (tarfile.TarError, OSError, DatabaseError) as error:
        raise UsageError(f"{pinned['url']} is not a mach-nix database tarball ({error})") from None
    if manifest.get("format") != FORMAT_NAME or manifest.get("counts") != pinned["counts"]:
        raise UsageError(f"{pinned['url']} does not hold the database {where} describes")
    return dest / TOP


def pin(url: str, file: str | os.PathLike[str] = PIN_FILE, client: Client | None = None) -> dict[str, Any]:
    """Point the pin file ``file`` at the release whose ``pypi-data.json`` is at ``url``.

    The tarball is downloaded and checked (sha256, manifest) before the pin file is
    replaced, atomically.

    Raises:
        UsageError: ``url`` is not a pin, or the tarball does not match it.
        NetworkError: unreachable.
    """
    http = client or Client(hint="check the URL and the network")
    if url.endswith("/"):
        url += PIN_FILE
    try:
        pinned = check_pin(json.loads(http.request(url).body), url)
    except NotFound:
        raise UsageError(f"{url}: not found; give the URL of a release's {PIN_FILE}") from None
    except ValueError:
        raise UsageError(f"{url} is not JSON; give the URL of a release's {PIN_FILE}") from None
    data = download(pinned, url, http)
    with tempfile.TemporaryDirectory() as tmp:
        unpack_checked(data, Path(tmp), pinned, url)
    _write_atomic(Path(file), (json.dumps(pinned, indent=1, sort_keys=True) + "\n").encode())
    return pinned


def published_database(pin: dict[str, Any], where: str, fetch: bool = True, client: Client | None = None) -> Path:
    """The directory of the database ``pin`` (read from ``where``) names; downloaded, verified
    and cached on first use, where :mod:`mach_nix.db.published` says.

    Raises:
        UsageError: not downloaded yet and ``fetch`` is false (``--offline``), or the release
            does not match the pin.
        NetworkError: unreachable.
    """
    found = cached_database(pin)
    if found is not None:
        return found
    if not fetch:
        raise UsageError(
            f"the database {where} pins ({pin['url']}) is not downloaded yet and --offline fetches nothing:"
            " run once without --offline, or pass --db DIR"
        )
    http = client or Client(hint=f"the database {where} pins is downloaded once; check the network")
    data = download(pin, where, http)
    root = published_dir()
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".download-", dir=root))
    try:
        unpack_checked(data, staging, pin, where)
        try:
            os.rename(staging, root / pin["sha256"])
        except OSError:  # another process was faster: its copy is the same bytes
            if cached_database(pin) is None:
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    found = cached_database(pin)
    assert found is not None
    return found
