"""Fake registries for tests: an in-memory :class:`~mach_nix.db.model.ProjectSource`, and a loopback one.

    db = FakePyPI()
    db.add("requests", "2.31.0", ["idna>=2.5", "pysocks; extra == 'socks'"], extras=["socks"])
    db.add("idna", "3.4")

Each ``add`` creates a release with one ``py3-none-any`` wheel (or the given
files), all sharing one :class:`Metadata` record.

:class:`LoopbackRegistry` serves the projects of such a source, or of the recorded
snapshot ``tests/data/pypi-db``, as a PEP 691 registry on 127.0.0.1 (pages, files whose
metadata is the recorded one, range reads, optional PEP 658, injected faults): what
``mach-nix lock`` fetches from in the tests, never the real registry.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from typing import Any

from packaging.utils import canonicalize_name

from mach_nix.db.model import SDIST_SUFFIXES, DistFile, Metadata, Project, ProjectSource, Release


def fake_file(
    filename: str, requires_python: str | None = None, yanked: str | None = None, metadata: int | None = 0
) -> DistFile:
    """A DistFile with a hash derived from its name."""
    digest = hashlib.sha256(filename.encode()).hexdigest()
    return DistFile(
        filename=filename,
        sha256=digest,
        size=1000,
        upload_time="2024-01-01T00:00:00Z",
        url_path=f"{digest[:2]}/{digest[2:4]}/{digest[4:]}",
        requires_python=requires_python,
        yanked=yanked,
        metadata=metadata,
    )


def dated(db: FakePyPI, name: str, version: str, upload_time: str) -> FakePyPI:
    """Give the files of one release of ``db`` another upload time."""
    project = db.projects[canonicalize_name(name)]
    release = project.releases[version]
    files = tuple(d._replace(upload_time=upload_time) for d in release.files)
    project.releases[version] = Release(release.version, files, release.metadata, release.failures)
    return db


class FakePyPI(ProjectSource):
    """In-memory projects keyed by normalised name."""

    def __init__(self) -> None:
        self.projects: dict[str, Project] = {}

    def add(
        self,
        name: str,
        version: str,
        requires: Sequence[str] = (),
        *,
        extras: Sequence[str] = (),
        requires_python: str | None = None,
        files: Sequence[str] | None = None,
        yanked: str | None = None,
        build_requires: Sequence[str] | None = None,
        metas: Sequence[Metadata] | None = None,
        file_meta: Sequence[int | None] | None = None,
    ) -> FakePyPI:
        """Add a release (files default to one pure-Python wheel)."""
        key = canonicalize_name(name)
        stem = key.replace("-", "_")
        if files is None:
            files = [f"{stem}-{version}-py3-none-any.whl"]
        meta = Metadata(
            requires_dist=tuple(requires),
            requires_python=requires_python,
            provides_extras=tuple(extras),
            build_requires=tuple(build_requires) if build_requires is not None else None,
            source="wheel",
        )
        metadata = tuple(metas) if metas is not None else (meta,)
        indexes = list(file_meta) if file_meta is not None else [0] * len(files)
        dists = tuple(
            sorted(
                (fake_file(f, requires_python, yanked, indexes[i]) for i, f in enumerate(files)),
                key=lambda d: d.filename,
            )
        )
        project = self.projects.setdefault(key, Project(name=key, releases={}))
        project.releases[version] = Release(version=version, files=dists, metadata=metadata)
        return self

    def project(self, name: str) -> Project | None:
        """The project with this (any-spelling) name."""
        return self.projects.get(canonicalize_name(name))

    def names(self) -> list[str]:
        """All normalised names."""
        return sorted(self.projects)


# ---------------------------------------------------------------------------- a loopback registry


class Fault:
    """A misbehaviour of :class:`LoopbackRegistry` for requests whose path contains ``match``.

    ``kind``: ``"status"`` (answer ``status``), ``"timeout"`` (wait ``delay`` seconds, then
    answer), ``"truncate"`` (send half the body of a longer ``Content-Length``, then close),
    ``"slow"`` (wait ``delay`` seconds, then answer normally). ``times``: how many requests it
    applies to (``None``: all).
    """

    def __init__(
        self, match: str, kind: str, *, status: int = 503, delay: float = 5.0, times: int | None = None
    ) -> None:
        self.match, self.kind, self.status, self.delay, self.times = match, kind, status, delay, times

    def applies(self, path: str) -> bool:
        if self.match not in path or self.times == 0:
            return False
        if self.times is not None:
            self.times -= 1
        return True


def _core_metadata(name: str, version: str, meta: Metadata | None, metadata_version: str = "2.2") -> bytes:
    lines = [f"Metadata-Version: {metadata_version}", f"Name: {name}", f"Version: {version}"]
    if meta is not None:
        if meta.requires_python:
            lines.append(f"Requires-Python: {meta.requires_python}")
        lines += [f"Provides-Extra: {extra}" for extra in meta.provides_extras]
        lines += [f"Requires-Dist: {requirement}" for requirement in meta.requires_dist]
    return ("\n".join(lines) + "\n\n").encode()


#: Wheels made, by file name and metadata (the snapshot's large projects have thousands).
_WHEELS: dict[tuple[str, Metadata | None], bytes] = {}


def make_wheel(filename: str, meta: Metadata | None) -> bytes:
    """A wheel holding ``*.dist-info/METADATA`` from ``meta`` (none when ``meta`` is ``None``)."""
    import io
    import zipfile

    made = _WHEELS.get((filename, meta))
    if made is not None:
        return made

    name, version = filename.split("-")[:2]
    info = f"{name}-{version}.dist-info"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        members = {f"{name.lower()}/__init__.py": b"", f"{info}/WHEEL": b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\n"}
        if meta is not None:
            members[f"{info}/METADATA"] = _core_metadata(name, version, meta, "2.1")
        members[f"{info}/RECORD"] = b""
        for member, data in members.items():
            archive.writestr(zipfile.ZipInfo(member, date_time=(1980, 1, 1, 0, 0, 0)), data)
    made = _WHEELS[(filename, meta)] = buffer.getvalue()
    return made


def make_sdist(filename: str, version: str, meta: Metadata | None, setup_py: str | None = None) -> bytes:
    """An sdist whose PKG-INFO (Metadata-Version 2.2) gives ``meta``; with ``meta`` ``None``, an
    old PKG-INFO (1.1) that needs the PEP 517 hook, and ``setup_py`` (default: a setup.py
    without dependencies)."""
    made = _SDISTS.get((filename, version, meta, setup_py))
    if made is None:
        made = _SDISTS[(filename, version, meta, setup_py)] = _make_sdist(filename, version, meta, setup_py)
    return made


#: sdists made, by their arguments.
_SDISTS: dict[tuple[str, str, Metadata | None, str | None], bytes] = {}


def _make_sdist(filename: str, version: str, meta: Metadata | None, setup_py: str | None) -> bytes:
    import gzip
    import io
    import tarfile
    import zipfile

    for suffix in SDIST_SUFFIXES:
        if filename.endswith(suffix):
            top = filename[: -len(suffix)]
            break
    else:  # pragma: no cover - callers give sdist names
        raise ValueError(filename)
    name = top[: -len(version) - 1] if top.endswith("-" + version) else top.rpartition("-")[0]
    files = {"PKG-INFO": _core_metadata(name, version, meta, "2.2" if meta is not None else "1.1")}
    if meta is not None and meta.build_requires is not None:
        requires = ", ".join(f'"{r}"' for r in meta.build_requires)
        files["pyproject.toml"] = f"[build-system]\nrequires = [{requires}]\n".encode()
    files["setup.py"] = (
        setup_py or f"from setuptools import setup\nsetup(name={name!r}, version={version!r})\n"
    ).encode()
    buffer = io.BytesIO()
    if filename.endswith(".zip"):
        with zipfile.ZipFile(buffer, "w") as archive:
            for member, data in files.items():
                archive.writestr(zipfile.ZipInfo(f"{top}/{member}", date_time=(1980, 1, 1, 0, 0, 0)), data)
        return buffer.getvalue()
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as archive:
        for member, data in files.items():
            entry = tarfile.TarInfo(f"{top}/{member}")
            entry.size, entry.mode, entry.mtime = len(data), 0o644, 0
            archive.addfile(entry, io.BytesIO(data))
    if filename.endswith((".tar.gz", ".tgz")):
        return gzip.compress(raw.getvalue(), compresslevel=1, mtime=0)
    if filename.endswith(".tar.bz2"):
        import bz2

        return bz2.compress(raw.getvalue())
    if filename.endswith(".tar.xz"):
        import lzma

        return lzma.compress(raw.getvalue())
    return raw.getvalue()


class LoopbackRegistry:
    """A PEP 691 registry on 127.0.0.1 serving the projects of a database, with real metadata.

        with LoopbackRegistry(open_database(["tests/data/pypi-db"])) as registry:
            env = {"MACH_NIX_INDEX_URL": registry.index, ...}

    Every file of a project's releases is listed (name, upload time, requires-python,
    yank as recorded) and served: a wheel as a small zip whose ``METADATA`` holds the
    file's recorded dependency metadata (none for a file whose metadata failed), an sdist
    as an archive whose PKG-INFO (Metadata-Version 2.2) gives it and whose pyproject.toml
    gives its build requirements (an old PKG-INFO when unknown). Hashes and sizes are
    those of the served bytes. Wheels answer range requests (206). ``pep658``: advertise
    and serve ``<file>.metadata`` (else 404, so that range reads are used). ``faults``
    inject 5xx, timeouts and truncated bodies (:class:`Fault`). ``paths`` lists every
    request (path and whether it had a Range header). ``setup_py``: file name -> the
    setup.py of an sdist whose metadata is unknown (what its PEP 517 hook runs); ``sdists``:
    file name -> the whole archive served for that sdist (one a test built itself).
    """

    def __init__(self, source: ProjectSource, *, pep658: bool = False, hidden: Sequence[str] = ()) -> None:
        self.source = source
        self.pep658 = pep658
        self.hidden = {canonicalize_name(n) for n in hidden}
        self.faults: list[Fault] = []
        self.setup_py: dict[str, str] = {}
        self.sdists: dict[str, bytes] = {}
        self.paths: list[tuple[str, bool]] = []
        self._files: dict[str, tuple[bytes, bytes | None]] = {}  # url path -> (content, METADATA)
        self._pages: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._server: Any = None
        self.index = ""

    # -- content --------------------------------------------------------------

    def _project(self, name: str) -> Project | None:
        if canonicalize_name(name) in self.hidden:
            return None
        try:
            return self.source.project(name, details=True)  # type: ignore[call-arg]
        except TypeError:
            return self.source.project(name)

    def page(self, name: str) -> bytes | None:
        """The PEP 691 JSON page of ``name`` (built once)."""
        import json

        with self._lock:
            if name in self._pages:
                return self._pages[name]
        project = self._project(name)
        if project is None or canonicalize_name(name) != name:
            return None
        files: list[dict[str, Any]] = []
        for version, release in project.releases.items():
            for dist in release.files:
                meta = release.metadata_of(dist)
                if dist.is_wheel:
                    content = make_wheel(dist.filename, meta)
                    name_, version_ = dist.filename.split("-")[:2]
                    metadata = _core_metadata(name_, version_, meta, "2.1") if meta else None
                else:
                    content = self.sdists.get(dist.filename) or make_sdist(
                        dist.filename, version, meta, self.setup_py.get(dist.filename)
                    )
                    metadata = None
                path = f"/packages/{dist.url_path}/{dist.filename}"
                with self._lock:
                    self._files[path] = (content, metadata)
                entry = {
                    "filename": dist.filename,
                    "url": f"{self.index.rsplit('/simple/', 1)[0]}{path}",
                    "hashes": {"sha256": hashlib.sha256(content).hexdigest()},
                    "size": len(content),
                    "upload-time": (dist.upload_time or "2020-01-01T00:00:00Z").replace("Z", ".000000Z"),
                    "requires-python": dist.requires_python,
                    "yanked": False if dist.yanked is None else (dist.yanked or True),
                }
                if self.pep658 and metadata is not None:
                    entry["core-metadata"] = {"sha256": hashlib.sha256(metadata).hexdigest()}
                files.append(entry)
        document = {
            "meta": {"api-version": "1.1", "_last-serial": project.last_serial or 1},
            "name": name,
            "versions": list(project.releases),
            "files": sorted(files, key=lambda f: str(f["filename"])),
        }
        body = json.dumps(document).encode()
        with self._lock:
            self._pages[name] = body
        return body

    # -- the server -------------------------------------------------------------

    @property
    def requests(self) -> int:
        """Requests answered so far."""
        return len(self.paths)

    def __enter__(self) -> LoopbackRegistry:
        import http.server
        import threading

        registry = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                registry._answer(self)

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.index = f"http://127.0.0.1:{self._server.server_address[1]}/simple/"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    def _answer(self, handler) -> None:  # noqa: ANN001 - a BaseHTTPRequestHandler
        import time

        path = handler.path.split("?", 1)[0]
        ranged = handler.headers.get("Range")
        with self._lock:
            self.paths.append((path, ranged is not None))
            fault = next((f for f in self.faults if f.applies(path)), None)
        if fault is not None and fault.kind in ("timeout", "slow"):
            time.sleep(fault.delay)
        if fault is not None and fault.kind == "status":
            return self._send(handler, fault.status, b"injected failure\n")
        body, status, headers = self._content(path, ranged)
        if fault is not None and fault.kind == "truncate" and body:
            handler.send_response(status)
            handler.send_header("Content-Length", str(len(body)))
            for key, value in headers.items():
                handler.send_header(key, value)
            handler.end_headers()
            handler.wfile.write(body[: len(body) // 2])
            handler.wfile.flush()
            handler.close_connection = True
            return
        self._send(handler, status, body, headers)

    def _content(self, path: str, ranged: str | None) -> tuple[bytes, int, dict[str, str]]:
        if path.startswith("/simple/"):
            name = path[len("/simple/") :].strip("/")
            page = self.page(name)
            if page is None:
                return b"not found\n", 404, {}
            return page, 200, {"Content-Type": "application/vnd.pypi.simple.v1+json"}
        metadata_file = path.endswith(".metadata")
        with self._lock:
            found = self._files.get(path[: -len(".metadata")] if metadata_file else path)
        if found is None:
            return b"not found\n", 404, {}
        content, metadata = found
        if metadata_file:
            if not self.pep658 or metadata is None:
                return b"not found\n", 404, {}
            return metadata, 200, {}
        if ranged and ranged.startswith("bytes="):
            first, _, last = ranged[len("bytes=") :].partition("-")
            start = int(first)
            end = min(int(last), len(content) - 1) if last else len(content) - 1
            part = content[start : end + 1]
            return part, 206, {"Content-Range": f"bytes {start}-{end}/{len(content)}"}
        return content, 200, {}

    @staticmethod
    def _send(handler, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:  # noqa: ANN001
        handler.send_response(status)
        handler.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(body)
