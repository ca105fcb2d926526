"""One project's files and one file's dependency metadata, from the registry.

What a resolution that lacks data asks the registry for (``mach-nix lock`` without a
database that holds the project; :mod:`mach_nix.db.ondemand` drives it):

* :meth:`Fetcher.page`: the project's PEP 691 JSON page, as the database's records
  (:class:`Page`): every in-scope file (:mod:`mach_nix.db.scope`) with its sha256, size,
  upload time, ``requires-python`` and yank, grouped by release. The file index is then
  complete without another request; the files' metadata is not known yet;
* :meth:`Fetcher.metadata`: the metadata of one file. A wheel: the registry's PEP 658
  ``.metadata`` file when the page advertises one, else HTTP range reads of the wheel's
  zip (:func:`mach_nix.db.extract.wheel_metadata`: its central directory, then the
  METADATA member; the wheel is not downloaded). An sdist: downloaded (checked against
  its sha256 and size), its PKG-INFO used when reliable (Metadata-Version 2.2+,
  ``Requires-Dist`` not ``Dynamic``); otherwise, only when the caller asks for it (an
  sdist the resolution must use), its PEP 517 hook run confined
  (:class:`mach_nix.db.pep517.HookRunner`).

Registry failures: a project the registry does not know is ``None``; a file that answers
404 is a ``download`` :class:`~mach_nix.db.model.Failure`; anything still failing after
the client's retries (:class:`~mach_nix.db.http.Client`: 5xx, timeouts, resets) raises
:class:`~mach_nix.errors.NetworkError` (exit code 5).

File URLs: the database stores a file's URL as the part after ``…/packages/``
(``url_path``, :data:`~mach_nix.db.model.FILES_HOST`), the layout of
files.pythonhosted.org and of its mirrors. A page's file whose URL has no ``/packages/``
cannot be recorded and is left out. Downloads go to the page's own URLs
(:attr:`Page.files_base`, e.g. a loopback mirror in the tests); locks name
files.pythonhosted.org.

Environment: ``MACH_NIX_INDEX_URL`` (the simple API, default ``https://pypi.org/simple/``),
``MACH_NIX_HTTP_TIMEOUT`` (seconds per attempt, default 30) and ``MACH_NIX_HTTP_RETRIES``
(attempts after the first, default 5).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from mach_nix.db import http
from mach_nix.db.cache_layer import index_url
from mach_nix.db.extract import (
    ExtractError,
    build_system,
    parse_core_metadata,
    pkg_info_is_reliable,
    read_sdist,
    wheel_metadata,
)
from mach_nix.db.model import SDIST_SUFFIXES, DistFile, Failure, Metadata
from mach_nix.db.scope import file_in_scope, interpreter_in_scope, platform_in_scope
from mach_nix.errors import NetworkError, UsageError

#: Why an sdist's metadata is still unknown after its PKG-INFO was read (failure kind ``skipped``).
HOOK_NOT_RUN = (
    "PKG-INFO is older than Metadata-Version 2.2 or declares Requires-Dist Dynamic; the PEP 517 hook"
    " runs (confined) only when a resolution must use this sdist"
)

#: sdists larger than this are not downloaded (failure kind ``skipped``).
MAX_SDIST_BYTES = 100 * 1024**2

#: The marker of the path part of a file URL that the database records.
_PACKAGES = "/packages/"

#: What one file's metadata fetch gives: the metadata, or why there is none.
FileResult = tuple[Metadata | None, Failure | None]


def make_client() -> http.Client:
    """The HTTP client of a resolution (timeouts and retries from the environment)."""

    def number(variable: str, default: float) -> float:
        text = os.environ.get(variable)
        if not text:
            return default
        try:
            value = float(text)
        except ValueError:
            raise UsageError(f"${variable} must be a number, not {text!r}") from None
        if value < 0:
            raise UsageError(f"${variable} must not be negative")
        return value

    return http.Client(
        timeout=number("MACH_NIX_HTTP_TIMEOUT", 30.0),
        retries=int(number("MACH_NIX_HTTP_RETRIES", 5)),
        hint="check the network (or pass --offline to use only what is cached) and rerun",
    )


def file_version(filename: str) -> Version | None:
    """The version a wheel or sdist file name carries, or ``None``."""
    try:
        if filename.endswith(".whl"):
            return parse_wheel_filename(filename)[1]
        for suffix in SDIST_SUFFIXES:
            if filename.endswith(suffix):
                stem = filename[: -len(suffix)]
                try:
                    return parse_sdist_filename(stem + ".tar.gz")[1]
                except InvalidSdistFilename:
                    return Version(stem.rpartition("-")[2])
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        return None
    return None


def normalise_time(value: Any) -> str:
    """PEP 700's ``upload-time`` as the database stores it: ``2023-05-22T15:12:44Z`` (``""`` if absent)."""
    if not isinstance(value, str) or len(value) < 19:
        return ""
    return value[:19] + "Z"


@dataclass
class Page:
    """A project's PEP 691 page as database records.

    Attributes:
        name: the normalised project name.
        serial: the registry's ``_last-serial`` of the project (0 if not given).
        releases: version as published -> its in-scope files, sorted by name, with
            every file-index field set and no metadata (``metadata=None``).
        pep658: the files whose page entry advertises a PEP 658 ``.metadata`` file.
        files_base: where the files are downloaded from: the URL part before their
            ``url_path`` (``https://files.pythonhosted.org/packages/`` on PyPI).
        raw: the page as the registry sent it (what a background save parses again).
    """

    name: str
    serial: int
    releases: dict[str, list[DistFile]]
    pep658: set[str] = field(default_factory=set)
    files_base: str = ""
    raw: bytes = b""


def _scoped_version(filename: str, cache: dict[str, Version | None]) -> Version | None | bool:
    """The version of a file the database keeps (:func:`mach_nix.db.scope.file_in_scope`);
    ``False`` for a file it leaves out, ``None`` when the name has no valid version.

    The common wheel name ``name-version-python-abi-platform.whl`` is checked on its parts
    (a page lists thousands of files: building tag sets for each costs a tenth of a second);
    anything else goes through :mod:`packaging`."""
    if filename.endswith(".whl"):
        parts = filename[:-4].split("-")
        if len(parts) == 5:
            pythons, abis, platforms = (parts[i].lower().split(".") for i in (2, 3, 4))
            if not any(
                platform == "any" or (platform_in_scope(platform) and interpreter_in_scope(python, abi))
                for python in pythons
                for abi in abis
                for platform in platforms
            ):
                return False
            text = parts[1]
            if text not in cache:
                try:
                    cache[text] = Version(text)
                except InvalidVersion:
                    cache[text] = None
            return cache[text]
    if not file_in_scope(filename):
        return False
    return file_version(filename)


def read_page(name: str, data: Any) -> Page:
    """Turn a PEP 691 JSON document into a :class:`Page` (every in-scope file, no cut-off).

    Raises:
        NetworkError: not a PEP 691 project page.
    """
    if not isinstance(data, dict) or not isinstance(data.get("files"), list):
        raise NetworkError(f"the registry's page of {name!r} is not a PEP 691 project page")
    published: dict[Version, str] = {}
    for text in data.get("versions") or ():
        try:
            published.setdefault(Version(str(text)), str(text))
        except InvalidVersion:
            continue
    meta: dict[str, Any] = data["meta"] if isinstance(data.get("meta"), dict) else {}
    try:
        serial = int(meta.get("_last-serial") or data.get("_last-serial") or 0)
    except (TypeError, ValueError):
        serial = 0
    releases: dict[str, list[DistFile]] = {}
    pep658: set[str] = set()
    bases: dict[str, int] = {}
    versions: dict[str, Version | None] = {}  # version text of a file name -> parsed (pages repeat them)
    for info in data["files"]:
        if not isinstance(info, dict):
            continue
        filename, url = info.get("filename"), info.get("url")
        if not isinstance(filename, str) or not isinstance(url, str):
            continue
        if "\t" in filename or "\n" in filename or "/" in filename:
            continue
        version = _scoped_version(filename, versions)
        if version is False:
            continue
        hashes: dict[str, Any] = info["hashes"] if isinstance(info.get("hashes"), dict) else {}
        sha256 = hashes.get("sha256")
        size = info.get("size")
        at = url.find(_PACKAGES)
        if not isinstance(version, Version) or not isinstance(sha256, str) or len(sha256) != 64 or at < 0:
            continue
        if not url.endswith("/" + filename) or not isinstance(size, int) or isinstance(size, bool):
            continue
        url_path = url[at + len(_PACKAGES) : -len(filename) - 1]
        if not url_path:
            continue
        base = url[: at + len(_PACKAGES)]
        bases[base] = bases.get(base, 0) + 1
        yanked = info.get("yanked", False)
        requires_python = info.get("requires-python")
        dist = DistFile(
            filename=filename,
            sha256=sha256.lower(),
            size=size,
            upload_time=normalise_time(info.get("upload-time")),
            url_path=url_path,
            requires_python=requires_python if isinstance(requires_python, str) and requires_python else None,
            yanked=None if yanked is False or yanked is None else (yanked if isinstance(yanked, str) else ""),
        )
        releases.setdefault(published.get(version, str(version)), []).append(dist)
        if info.get("core-metadata") or info.get("data-dist-info-metadata"):
            pep658.add(filename)
    for files in releases.values():
        files.sort(key=lambda d: d.filename)
    base = max(bases, key=lambda b: (bases[b], b)) if bases else ""
    return Page(str(canonicalize_name(name)), serial, releases, pep658, base)


class Fetcher:
    """Reads pages and file metadata from the registry; safe to share between threads.

    Args:
        client: the HTTP client (default :func:`make_client`); tests pass a loopback one.
        index: the simple API base URL (default :func:`index_url`).
        hooks: makes the PEP 517 hook runner, on the first sdist that needs it
            (``None``: hooks are never run; such sdists stay ``skipped``).
        max_sdist_bytes: sdists larger than this are not downloaded.
        on_build_requires: told the static build requirements of every sdist downloaded
            and verified, whatever its PKG-INFO (``mach_nix.sdist_build``'s cache keeps them).
    """

    def __init__(
        self,
        client: http.Registry | None = None,
        index: str | None = None,
        hooks: Callable[[], Any] | None = None,
        max_sdist_bytes: int = MAX_SDIST_BYTES,
        on_build_requires: Callable[[DistFile, tuple[str, ...]], None] | None = None,
    ) -> None:
        self.client: Any = client if client is not None else make_client()
        self.index = index or index_url()
        self.hooks = hooks
        self.max_sdist_bytes = max_sdist_bytes
        self.on_build_requires = on_build_requires
        self._runner: Any = None
        self._runner_error: ExtractError | None = None
        self._lock = threading.Lock()

    @property
    def requests(self) -> int:
        """HTTP requests made so far."""
        return int(self.client.requests)

    def page(self, name: str) -> Page | None:
        """The project's page, or ``None`` when the registry does not know it.

        Raises:
            NetworkError: the registry kept failing, or answered something else than a page.
        """
        norm = str(canonicalize_name(name))
        try:
            response = self.client.request(f"{self.index}{norm}/", {"Accept": http.SIMPLE_JSON})
        except http.NotFound:
            return None
        try:
            data = json.loads(response.body)
        except ValueError:
            raise NetworkError(f"the registry answered non-JSON for the page of {norm!r} ({self.index})") from None
        page = read_page(norm, data)
        page.raw = response.body
        return page

    def metadata(self, dist: DistFile, base: str, *, pep658: bool = False, hook: bool = False) -> FileResult:
        """The metadata of one file of a page (``base``: :attr:`Page.files_base`).

        Args:
            pep658: the page advertises the file's ``.metadata``.
            hook: for an sdist whose PKG-INFO is not reliable, run its PEP 517 hook
                (else the result is a ``skipped`` failure saying so).

        Raises:
            NetworkError: the registry kept failing.
        """
        assert dist.url_path is not None and dist.size is not None
        url = f"{base}{dist.url_path}/{dist.filename}"
        try:
            if dist.is_wheel:
                if pep658:
                    try:
                        body = self.client.request(url + ".metadata").body
                        return parse_core_metadata(body, "pep658")[0], None
                    except http.NotFound:
                        pass
                return wheel_metadata(lambda start, end: self._range(url, start, end, dist.size), dist.size), None
            return self._sdist(dist, url, hook), None
        except ExtractError as error:
            return None, error.failure(dist.filename)
        except http.NotFound:
            return None, Failure(dist.filename, "download", f"{url} answered 404")

    def _range(self, url: str, start: int, end: int, size: int | None) -> bytes:
        data = self.client.range(url, start, end)
        if len(data) != end - start + 1:
            raise NetworkError(
                f"{url}: asked for bytes {start}-{end} of a {size}-byte file, got {len(data)}; the registry's"
                " file differs from its listing, rerun later"
            )
        return data

    def _sdist(self, dist: DistFile, url: str, hook: bool) -> Metadata:
        assert dist.size is not None
        if dist.size > self.max_sdist_bytes:
            raise ExtractError("skipped", f"sdist is {dist.size} bytes, above the limit of {self.max_sdist_bytes}")
        data = self.client.request(url, max_bytes=self.max_sdist_bytes).body
        if len(data) != dist.size or hashlib.sha256(data).hexdigest() != dist.sha256:
            raise NetworkError(
                f"{url}: the download ({len(data)} bytes) does not match the registry's size and sha256;"
                " refusing it, rerun later"
            )
        contents = read_sdist(dist.filename, data)
        requires = build_system(contents)[0]
        if self.on_build_requires is not None:
            self.on_build_requires(dist, tuple(requires))
        if contents.pkg_info is not None:
            meta, version, dynamic = parse_core_metadata(contents.pkg_info, "pkg-info", requires)
            if pkg_info_is_reliable(version, dynamic):
                return meta
        if not hook or self.hooks is None:
            raise ExtractError("skipped", HOOK_NOT_RUN)
        return self._hook_runner().metadata(dist.filename, data)

    def _hook_runner(self) -> Any:
        """The hook runner, made on first use (a sandbox that cannot be built is a failure of each sdist)."""
        with self._lock:
            if self._runner is None and self._runner_error is None:
                assert self.hooks is not None
                try:
                    self._runner = self.hooks()
                except Exception as error:  # SandboxUnavailable and the like: say why, once
                    self._runner_error = ExtractError("hook-error", f"the PEP 517 hook cannot run here: {error}")
            if self._runner_error is not None:
                raise self._runner_error
            return self._runner

    def close(self) -> None:
        """Stop the hook runner, if one was made."""
        with self._lock:
            if self._runner is not None:
                self._runner.close()
                self._runner = None
