"""A registry on loopback: PEP 691 pages, real wheel and sdist files, faults on demand.

    registry = FakeRegistry()
    registry.add("demo", "1.0", requires=["six>=1.0"], sdist=True)
    with registry.serve() as server:          # http://127.0.0.1:PORT
        client = server.client()               # a mach_nix.db.http.Client aimed at it
        Crawler(db_dir, options, client=client).run([Requirement("demo")], closure=True)

What it serves, as PyPI does (``docs/db-format.md`` §4.2):

* ``/simple/`` (JSON root index: every project with its ``_last-serial``) and
  ``/simple/NAME/`` (the PEP 691 project page: files with sha256, size,
  ``requires-python``, ``upload-time``, ``yanked`` and, for wheels published with
  it, ``core-metadata`` and its sha256);
* ``/packages/xx/yy/<hash>/FILE`` (real zip wheels and tar.gz sdists, built in
  memory, deterministically), their ``.metadata`` (PEP 658), and ``Range`` reads
  (206 with ``Content-Range``);
* faults (:meth:`FakeRegistry.fault`): a truncated body, a flipped bit, a wrong
  ``Content-Range`` total, a 503 — for the first N requests of a file.

:func:`synthetic` fills a registry with thousands of generated projects that
depend on each other; :meth:`FakeRegistry.add_from_database` mirrors projects of
a real database (their real hashes and URLs; metadata served as PEP 658 files).

This module is the crawler's fixture; ``fakepypi.py`` holds the in-memory
database of the resolver's tests.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import random
import re
import socket
import tarfile
import threading
import time
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from packaging.utils import canonicalize_name

from mach_nix.db.http import Client
from mach_nix.db.reader import DatabaseLayer

_ZIP_TIME = (2020, 1, 1, 0, 0, 0)


def metadata_text(
    name: str,
    version: str,
    requires: Sequence[str] = (),
    requires_python: str | None = None,
    extras: Sequence[str] = (),
    metadata_version: str = "2.1",
) -> bytes:
    """A core metadata document (METADATA / PKG-INFO)."""
    lines = [f"Metadata-Version: {metadata_version}", f"Name: {name}", f"Version: {version}"]
    if requires_python:
        lines.append(f"Requires-Python: {requires_python}")
    lines += [f"Provides-Extra: {extra}" for extra in extras]
    lines += [f"Requires-Dist: {req}" for req in requires]
    return ("\n".join(lines) + "\n\n").encode()


def make_wheel(name: str, version: str, metadata: bytes, padding: int = 0) -> bytes:
    """A real (installable) pure wheel holding ``metadata``; ``padding`` bytes of data make it larger."""
    stem = f"{str(canonicalize_name(name)).replace('-', '_')}-{version}"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        module = str(canonicalize_name(name)).replace("-", "_")
        body = f"VERSION = {version!r}\n" + ("# " + "x" * 78 + "\n") * (padding // 81)
        entries = {
            f"{module}/__init__.py": body.encode(),
            f"{stem}.dist-info/METADATA": metadata,
            f"{stem}.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: fakeregistry\nRoot-Is-Purelib: true\n"
            b"Tag: py3-none-any\n",
        }
        record = "".join(f"{path},,\n" for path in entries) + f"{stem}.dist-info/RECORD,,\n"
        entries[f"{stem}.dist-info/RECORD"] = record.encode()
        for path, data in entries.items():
            info = zipfile.ZipInfo(path, _ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()


def make_sdist(name: str, version: str, pkg_info: bytes, requires: Sequence[str] = (), padding: int = 0) -> bytes:
    """A tar.gz sdist with PKG-INFO, pyproject.toml and a setup.py declaring ``requires``;
    ``padding`` bytes of data make it larger."""
    top = f"{str(canonicalize_name(name)).replace('-', '_')}-{version}"
    setup_py = "from setuptools import setup\n"
    setup_py += f"setup(name={name!r}, version={version!r}, install_requires={list(requires)!r})\n"
    members = {  # PKG-INFO last, as flit and hatchling write it: a damaged answer reaches it
        "pyproject.toml": b'[build-system]\nrequires = ["setuptools>=40.8.0"]\n'
        b'build-backend = "setuptools.build_meta"\n',
        "setup.py": setup_py.encode(),
        "data.txt": random.Random(f"{name}-{version}").randbytes(padding),
        "PKG-INFO": pkg_info,
    }
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for path, data in members.items():
            info = tarfile.TarInfo(f"{top}/{path}")
            info.size = len(data)
            info.mtime = 1577836800
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


@dataclass
class ServedFile:
    """One file of a project page; ``data`` is ``None`` for a mirrored file the registry cannot serve."""

    filename: str
    version: str
    data: bytes | None
    sha256: str
    size: int
    metadata: bytes | None = None  # served as FILE.metadata (PEP 658) when set
    requires_python: str | None = None
    yanked: str | None = None
    upload_time: str = "2020-01-01T00:00:00.000000Z"
    url_path: str | None = None  # a mirrored file's real directory

    @property
    def path(self) -> str:
        """The ``xx/yy/<60 hex>`` directory of the file below ``/packages/``."""
        if self.url_path is not None:
            return self.url_path
        digest = hashlib.sha256((self.sha256 + self.filename).encode()).hexdigest()
        return f"{digest[:2]}/{digest[2:4]}/{digest[4:]}"


@dataclass
class Fault:
    """A fault injected into the answers for one file (or its ``.metadata``).

    Kinds: ``truncate`` (half the body), ``bitflip`` (one bit of the byte at file
    offset ``offset``, default the middle of the answer), ``length`` (a wrong
    ``Content-Range`` total, or 7 bytes too many), ``swap`` (the bytes of the file
    ``other`` instead), ``503``.
    """

    kind: str
    times: int  # how many answers get it (then the file is served right)
    offset: int | None = None
    other: str | None = None


@dataclass
class ServedProject:
    """A project as the registry serves it."""

    name: str
    serial: int = 1
    versions: list[str] = field(default_factory=list)
    files: list[ServedFile] = field(default_factory=list)


class FakeRegistry:
    """Projects, their files, and the faults to inject; :meth:`serve` puts them on loopback."""

    def __init__(self) -> None:
        self.projects: dict[str, ServedProject] = {}
        self.faults: dict[str, Fault] = {}
        self.hits: dict[str, int] = {}
        self.delay = 0.0  # seconds each answer waits (a registry's round trip, for benchmarks)
        self.lock = threading.Lock()
        self._by_path: dict[str, ServedFile] = {}

    # -- contents -----------------------------------------------------------

    def project(self, name: str) -> ServedProject:
        """The project ``name`` (created if missing)."""
        key = str(canonicalize_name(name))
        if key not in self.projects:
            self.projects[key] = ServedProject(key)
        return self.projects[key]

    def add_file(self, name: str, served: ServedFile) -> ServedFile:
        """Add a file to ``name``'s page (and its version to the page's versions)."""
        project = self.project(name)
        if served.version not in project.versions:
            project.versions.append(served.version)
        project.files.append(served)
        self._by_path[f"{served.path}/{served.filename}"] = served
        return served

    def add(
        self,
        name: str,
        version: str,
        requires: Sequence[str] = (),
        *,
        wheel: bool = True,
        sdist: bool = False,
        pep658: bool = True,
        requires_python: str | None = None,
        extras: Sequence[str] = (),
        sdist_metadata_version: str = "2.2",
        padding: int = 0,
        yanked: str | None = None,
        wheel_tags: Sequence[str] = ("py3-none-any",),
    ) -> FakeRegistry:
        """Add a release with wheels (``wheel``: one per tag of ``wheel_tags``, all with the same
        METADATA) and/or a tar.gz sdist (``sdist``)."""
        stem = str(canonicalize_name(name)).replace("-", "_")
        meta = metadata_text(name, version, requires, requires_python, extras)
        for tag in wheel_tags if wheel else ():
            data = make_wheel(name, version, meta, padding)
            self.add_file(
                name,
                ServedFile(
                    f"{stem}-{version}-{tag}.whl",
                    version,
                    data,
                    hashlib.sha256(data).hexdigest(),
                    len(data),
                    meta if pep658 else None,
                    requires_python,
                    yanked,
                ),
            )
        if sdist:
            pkg_info = metadata_text(name, version, requires, requires_python, extras, sdist_metadata_version)
            data = make_sdist(name, version, pkg_info, requires, padding)
            self.add_file(
                name,
                ServedFile(
                    f"{stem}-{version}.tar.gz",
                    version,
                    data,
                    hashlib.sha256(data).hexdigest(),
                    len(data),
                    None,
                    requires_python,
                    yanked,
                ),
            )
        return self

    def add_from_database(self, layer: DatabaseLayer, names: Sequence[str]) -> FakeRegistry:
        """Mirror projects of a database: their files with real hashes, sizes and ``url_path``
        (so a lock made from the crawl points at the real files); each file with metadata is
        published with a PEP 658 ``.metadata`` document made from it. The files themselves
        are not served (404)."""
        for name in names:
            stored = layer.project(name, details=True)
            if stored is None:
                raise KeyError(name)
            project = self.project(stored.name)
            project.serial = stored.last_serial or 1
            for version, release in stored.releases.items():
                project.versions.append(version)
                for dist in release.files:
                    meta = release.metadata_of(dist)
                    document = None
                    if meta is not None and dist.is_wheel:
                        document = metadata_text(
                            stored.name, version, meta.requires_dist, meta.requires_python, meta.provides_extras
                        )
                    served = ServedFile(
                        dist.filename,
                        version,
                        None,
                        dist.sha256 or "",
                        dist.size or 0,
                        document,
                        dist.requires_python,
                        dist.yanked,
                        (dist.upload_time or "2020-01-01T00:00:00Z").replace("Z", ".000000Z"),
                        dist.url_path,
                    )
                    project.files.append(served)
                    self._by_path[f"{served.path}/{dist.filename}"] = served
        return self

    def bump(self, name: str) -> None:
        """Raise ``name``'s serial (as an upload does)."""
        self.project(name).serial += 1

    def fault(
        self,
        filename: str,
        kind: str,
        times: int = 1_000_000,
        metadata: bool = False,
        offset: int | None = None,
        other: str | None = None,
    ) -> None:
        """Inject ``kind`` into the next ``times`` answers for ``filename`` (its ``.metadata`` if asked)."""
        self.faults[filename + (".metadata" if metadata else "")] = Fault(kind, times, offset, other)

    def file(self, filename: str) -> ServedFile:
        """The served file named ``filename``."""
        return next(f for p in self.projects.values() for f in p.files if f.filename == filename)

    # -- answers ------------------------------------------------------------

    def root_page(self) -> dict[str, Any]:
        return {
            "meta": {"api-version": "1.1", "_last-serial": max((p.serial for p in self.projects.values()), default=0)},
            "projects": [{"name": p.name, "_last-serial": p.serial} for _, p in sorted(self.projects.items())],
        }

    def project_page(self, name: str, base: str) -> dict[str, Any] | None:
        project = self.projects.get(str(canonicalize_name(name)))
        if project is None:
            return None
        files = []
        for served in project.files:
            entry: dict[str, Any] = {
                "filename": served.filename,
                "url": f"{base}/packages/{served.path}/{served.filename}",
                "hashes": {"sha256": served.sha256},
                "size": served.size,
                "upload-time": served.upload_time,
                "requires-python": served.requires_python,
                "yanked": served.yanked if served.yanked is not None else False,
            }
            if served.metadata is not None:
                entry["core-metadata"] = {"sha256": hashlib.sha256(served.metadata).hexdigest()}
                entry["data-dist-info-metadata"] = entry["core-metadata"]
            files.append(entry)
        return {
            "meta": {"api-version": "1.1", "_last-serial": project.serial},
            "name": project.name,
            "versions": list(project.versions),
            "files": files,
        }

    def take_fault(self, key: str) -> Fault | None:
        with self.lock:
            self.hits[key] = self.hits.get(key, 0) + 1
            fault = self.faults.get(key)
            if fault is None or fault.times <= 0:
                return None
            fault.times -= 1
            return fault

    @contextlib.contextmanager
    def serve(self) -> Iterator[Server]:
        """Serve the registry on 127.0.0.1 (a free port) for the ``with`` block."""
        server = Server(self)
        try:
            yield server
        finally:
            server.close()


class Server:
    """A running :class:`FakeRegistry` (``base`` is ``http://127.0.0.1:PORT``)."""

    def __init__(self, registry: FakeRegistry) -> None:
        self.registry = registry
        self.requests = 0
        handler = _handler(self)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="fakeregistry", daemon=True)
        self.thread.start()

    @property
    def index_url(self) -> str:
        return self.base + "/simple/"

    @property
    def files_url(self) -> str:
        return self.base + "/packages/"

    def client(self, **kwargs: Any) -> Client:
        """A client of this registry (quick retries: the tests inject faults)."""
        kwargs.setdefault("backoff", 0.01)
        kwargs.setdefault("timeout", 10.0)
        return Client(index_url=self.index_url, files_url=self.files_url, **kwargs)

    def env(self) -> dict[str, str]:
        """Environment variables that aim a ``mach-nix`` subprocess at this registry."""
        return {"MACH_NIX_INDEX_URL": self.index_url, "MACH_NIX_FILES_URL": self.files_url}

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


_RANGE = re.compile(r"bytes=(\d+)-(\d*)$")


def _handler(server: Server) -> type[BaseHTTPRequestHandler]:
    registry = server.registry

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # one write per answer would still meet the client's delayed ACK: no Nagle
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
            pass

        def send_body(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            with registry.lock:
                server.requests += 1
            if registry.delay:
                time.sleep(registry.delay)
            path = self.path.split("?", 1)[0]
            if path.startswith("/simple/"):
                with registry.lock:
                    registry.hits[path] = registry.hits.get(path, 0) + 1
            if path == "/simple/":
                self.send_json(registry.root_page())
            elif path.startswith("/simple/"):
                page = registry.project_page(path[len("/simple/") :].strip("/"), server.base)
                if page is None:
                    self.send_body(404, b"not found")
                else:
                    self.send_json(page)
            elif path.startswith("/packages/"):
                self.send_file(path[len("/packages/") :])
            else:
                self.send_body(404, b"not found")

        def send_json(self, value: dict[str, Any]) -> None:
            body = json.dumps(value).encode()
            self.send_body(200, body, {"Content-Type": "application/vnd.pypi.simple.v1+json"})

        def send_file(self, rest: str) -> None:
            metadata = rest.endswith(".metadata")
            served = registry._by_path.get(rest.removesuffix(".metadata"))
            if served is None:
                self.send_body(404, b"not found")
                return
            data = served.metadata if metadata else served.data
            if data is None:
                self.send_body(404, b"not served")
                return
            fault = registry.take_fault(served.filename + (".metadata" if metadata else ""))
            kind = fault.kind if fault is not None else None
            if kind == "503":
                self.send_body(503, b"try again")
                return
            if kind == "swap" and fault is not None and fault.other is not None:
                data = registry.file(fault.other).data or b""
            total = len(data)
            match = _RANGE.match(self.headers.get("Range", ""))
            if match is not None and not metadata:
                start = int(match.group(1))
                end = int(match.group(2)) if match.group(2) else total - 1
                end = min(end, total - 1)
                part = data[start : end + 1]
                claimed = total + 7 if kind == "length" else total
                part = _damage(part, fault, start)
                self.send_body(206, part, {"Content-Range": f"bytes {start}-{end}/{claimed}"})
                return
            if kind == "length":  # a whole answer whose length is not the file's
                data = data + b"\0" * 7
            self.send_body(200, _damage(data, fault, 0))

    return Handler


def _damage(data: bytes, fault: Fault | None, start: int) -> bytes:
    """``data`` (bytes ``start``… of a file) as ``fault`` damages it."""
    if fault is None:
        return data
    if fault.kind == "truncate":
        return data[: len(data) // 2]
    if fault.kind == "bitflip" and data:
        at = len(data) // 2 if fault.offset is None else fault.offset - start
        if 0 <= at < len(data):
            return data[:at] + bytes([data[at] ^ 0x10]) + data[at + 1 :]
    return data


# --------------------------------------------------------------------------- synthetic registries


def synthetic(
    count: int, seed: int = 1, *, sdist_share: float = 0.3, padding: int = 0, max_releases: int = 8
) -> FakeRegistry:
    """A registry of ``count`` generated projects (``syn-00000``…) that depend on each other.

    Deterministic for a seed. Each project has 1–``max_releases`` releases; most have a pure wheel
    (most with PEP 658 metadata), ``sdist_share`` of them also an sdist (reliable
    PKG-INFO, Metadata-Version 2.2), one in ten releases an sdist only. Each release
    requires 0–3 projects of lower number, with version ranges that admit only some
    of their releases, sometimes under a marker or as an extra.
    """
    rng = random.Random(seed)
    registry = FakeRegistry()
    releases_of: list[int] = []
    for index in range(count):
        name = f"syn-{index:05d}"
        releases = 1 + min(max_releases - 1, int(rng.expovariate(0.5)))
        releases_of.append(releases)
        for number in range(releases):
            version = f"{number + 1}.0"
            requires = []
            for _ in range(rng.randint(0, 3) if index else 0):
                dep = rng.randrange(index)
                dep_major = rng.randint(1, releases_of[dep])
                spec = rng.choice([f">={dep_major}.0", f"=={dep_major}.*", f">={dep_major}.0,<{dep_major + 2}", ""])
                line = f"syn-{dep:05d}{spec}"
                roll = rng.random()
                if roll < 0.1:
                    line += '; python_version < "3.0"'  # never on a target: not followed
                elif roll < 0.2:
                    line += '; extra == "more"'
                requires.append(line)
            only_sdist = rng.random() < 0.1
            registry.add(
                name,
                version,
                requires,
                wheel=not only_sdist,
                sdist=only_sdist or rng.random() < sdist_share,
                pep658=rng.random() < 0.7,
                extras=["more"] if any("extra" in r for r in requires) else [],
                padding=padding,
            )
        registry.project(name).serial = 1000 + index
    return registry
