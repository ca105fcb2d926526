"""A small, polite HTTP client (stdlib only): the one the crawler and the file-index cache use.

The crawler talks to two hosts: the PEP 691 JSON simple API on ``pypi.org`` and
the files on ``files.pythonhosted.org``; the file-index cache
(:mod:`mach_nix.db.files_cache`) to where a database is published (``https://``,
``http://`` or a ``file://`` mirror). Every request is retried with exponential
backoff on timeouts, connection errors, 429 and 5xx answers; concurrency is
bounded by the caller's thread pool.

``http.client``, ``ssl`` and ``socket`` are imported on the first request, not
with this module: the reader imports it, and most resolutions never fetch.
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from mach_nix import __version__
from mach_nix.errors import DatabaseError, NetworkError

if TYPE_CHECKING:
    import http.client

#: The simple API base; ``MACH_NIX_INDEX_URL`` overrides it (e.g. a mirror).
SIMPLE_URL = os.environ.get("MACH_NIX_INDEX_URL", "https://pypi.org/simple/")
#: Where the registry serves files; ``MACH_NIX_FILES_URL`` overrides it for a mirror whose
#: pages list its own file URLs (the path below it is recorded, as below files.pythonhosted.org).
FILES_URL = os.environ.get("MACH_NIX_FILES_URL", "https://files.pythonhosted.org/packages/")
SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
USER_AGENT = f"mach-nix/{__version__} (db crawler)"


class Registry(Protocol):
    """What the crawler asks of a registry client (:class:`Client`, or a test's fake)."""

    requests: int

    def request(self, url: str, headers: dict[str, str] | None = None, *, max_bytes: int | None = None) -> Response:
        """GET ``url`` whole (at most ``max_bytes``)."""
        ...

    def simple_project(self, name: str) -> dict[str, Any] | None:
        """The PEP 691 page of a project, ``None`` when it does not exist."""
        ...

    def range(self, url: str, start: int, end: int | None = None, *, size: int | None = None) -> bytes:
        """Bytes ``start``..``end`` (inclusive) of ``url``, a file of ``size`` bytes if given."""
        ...


class NotFound(Exception):
    """The server answered 404/410 (not retried)."""


class IntegrityError(NetworkError):
    """What the server sent is not the file the registry lists (wrong length or hash),
    every attempt. The crawler records it as a ``download`` failure, retried by the next run."""


@dataclass
class Response:
    """A completed HTTP response: status, headers (lower-case keys) and body."""

    status: int
    headers: dict[str, str]
    body: bytes


class _Stream:
    """A streamed response body; closing it closes its private connection."""

    def __init__(self, conn: http.client.HTTPConnection, resp: http.client.HTTPResponse) -> None:
        self._conn = conn
        self._resp = resp

    def read(self, size: int = -1) -> bytes:
        """Read up to ``size`` bytes of the body."""
        return self._resp.read(None if size is None or size < 0 else size)

    def close(self) -> None:
        """Close the response and its connection."""
        self._resp.close()
        self._conn.close()

    def __enter__(self) -> _Stream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_TRANSIENT: tuple[type[BaseException], ...] = ()


def _transient() -> tuple[type[BaseException], ...]:
    """The errors worth retrying (computed on first use: it imports ``http.client`` and ``ssl``)."""
    global _TRANSIENT
    if not _TRANSIENT:
        import http.client
        import socket
        import ssl

        _TRANSIENT = (OSError, http.client.HTTPException, socket.timeout, TimeoutError, ConnectionError, ssl.SSLError)
    return _TRANSIENT


class Client:
    """HTTP client with keep-alive connections, retries and backoff, safe to share between threads.

    Each thread keeps one persistent HTTPS connection per host (no new DNS
    lookup and TLS handshake per request).
    """

    def __init__(
        self,
        *,
        timeout: float = 30.0,
        retries: int = 5,
        backoff: float = 0.5,
        hint: str = "check the network and rerun: finished work is kept and the run resumes",
        index_url: str | None = None,
        files_url: str | None = None,
    ) -> None:
        """Create a client.

        Args:
            index_url: the PEP 691 simple API base (default :data:`SIMPLE_URL`).
            files_url: the base of the registry's file URLs (default :data:`FILES_URL`).
            timeout: socket timeout per attempt, seconds.
            retries: attempts after the first one, on transient errors.
            backoff: first backoff delay, doubled (with jitter) per attempt.
            hint: what to do, appended to the error when all attempts failed.
        """
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.hint = hint
        self.index_url = (index_url or SIMPLE_URL).rstrip("/") + "/"
        self.files_url = (files_url or FILES_URL).rstrip("/") + "/"
        self.requests = 0
        self.retried = 0
        self._local = threading.local()
        self._ssl: Any = None

    def _connection(self, scheme: str, host: str, fresh: bool = False) -> http.client.HTTPConnection:
        import http.client

        pool = getattr(self._local, "pool", None)
        if pool is None:
            pool = self._local.pool = {}
        key = (scheme, host)
        conn = None if fresh else pool.get(key)
        if conn is None:
            if scheme == "https":
                if self._ssl is None:
                    import ssl

                    self._ssl = ssl.create_default_context()
                conn = http.client.HTTPSConnection(host, timeout=self.timeout, context=self._ssl)
            else:
                conn = http.client.HTTPConnection(host, timeout=self.timeout)
            if not fresh:
                pool[key] = conn
        return conn

    def _drop(self, scheme: str, host: str) -> None:
        pool = getattr(self._local, "pool", {})
        conn = pool.pop((scheme, host), None)
        if conn is not None:
            conn.close()

    def _sleep(self, attempt: int) -> None:
        import random

        self.retried += 1
        time.sleep(self.backoff * 2 ** (attempt - 1) * (1 + random.random() / 2))

    def _open(self, url: str, headers: dict[str, str], stream: bool) -> tuple[Any, Any, str, str]:
        """One GET following redirects; returns (conn, resp, scheme, host) of the final answer."""
        for _ in range(6):
            parts = urllib.parse.urlsplit(url)
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            conn = self._connection(parts.scheme, parts.netloc, fresh=stream)
            self.requests += 1
            conn.request("GET", path or "/", headers={"User-Agent": USER_AGENT, **headers})
            resp = conn.getresponse()
            if resp.status in (301, 302, 303, 307, 308) and resp.getheader("Location"):
                resp.read()
                url = urllib.parse.urljoin(url, resp.getheader("Location"))
                if stream:
                    conn.close()
                continue
            return conn, resp, parts.scheme, parts.netloc
        raise NetworkError(f"GET {url}: too many redirects")

    def request(self, url: str, headers: dict[str, str] | None = None, *, max_bytes: int | None = None) -> Response:
        """GET ``url``; retry transient failures; raise :class:`NotFound` on 404/410.

        A ``file://`` URL is read from the local file system (a mirror).

        Raises:
            NotFound: the resource does not exist.
            NetworkError: still failing after all retries, or the body is larger
                than ``max_bytes``.
        """
        if url.startswith("file:"):
            return self._read_local(url, max_bytes)
        last_error = ""
        for attempt in range(self.retries + 1):
            if attempt:
                self._sleep(attempt)
            parts = urllib.parse.urlsplit(url)
            try:
                conn, resp, scheme, host = self._open(url, headers or {}, stream=False)
                length = resp.getheader("Content-Length")
                if max_bytes is not None and length is not None and int(length) > max_bytes:
                    self._drop(scheme, host)
                    raise NetworkError(f"{url} is {int(length)} bytes, above the limit of {max_bytes}")
                body = resp.read()
                status = resp.status
                hdrs = {k.lower(): v for k, v in resp.getheaders()}
                if resp.will_close:
                    self._drop(scheme, host)
            except _transient() as error:
                self._drop(parts.scheme, parts.netloc)
                last_error = f"{type(error).__name__}: {error}"
                continue
            if status in (404, 410):
                raise NotFound(url)
            if status == 429 or status >= 500:
                last_error = f"HTTP {status}"
                continue
            if status >= 400:
                raise NetworkError(f"GET {url} failed: HTTP {status}")
            if max_bytes is not None and len(body) > max_bytes:
                raise NetworkError(f"{url} is larger than the limit of {max_bytes} bytes")
            return Response(status, hdrs, body)
        raise NetworkError(
            f"GET {url} kept failing after {self.retries + 1} attempts (last: {last_error}); {self.hint}"
        )

    def _read_local(self, url: str, max_bytes: int | None) -> Response:
        """A ``file://`` URL's content, as a response."""
        path = urllib.parse.unquote(urllib.parse.urlsplit(url).path)
        self.requests += 1
        try:
            with open(path, "rb") as handle:
                body = handle.read() if max_bytes is None else handle.read(max_bytes + 1)
        except FileNotFoundError:
            raise NotFound(url) from None
        except OSError as error:
            raise NetworkError(f"cannot read {url}: {error.strerror or error}; {self.hint}") from None
        if max_bytes is not None and len(body) > max_bytes:
            raise NetworkError(f"{url} is larger than the limit of {max_bytes} bytes")
        return Response(200, {}, body)

    def stream(self, url: str) -> _Stream:
        """Open ``url`` for streaming on a private connection (retrying the connection).

        Raises:
            NotFound: the resource does not exist.
            NetworkError: the connection kept failing.
        """
        last_error = ""
        for attempt in range(self.retries + 1):
            if attempt:
                self._sleep(attempt)
            try:
                conn, resp, _, _ = self._open(url, {}, stream=True)
            except _transient() as error:
                last_error = f"{type(error).__name__}: {error}"
                continue
            if resp.status in (404, 410):
                conn.close()
                raise NotFound(url)
            if resp.status == 429 or resp.status >= 500:
                conn.close()
                last_error = f"HTTP {resp.status}"
                continue
            if resp.status >= 400:
                conn.close()
                raise NetworkError(f"GET {url} failed: HTTP {resp.status}")
            return _Stream(conn, resp)
        raise NetworkError(f"GET {url} kept failing after {self.retries + 1} attempts (last: {last_error})")

    def simple_project(self, name: str) -> dict[str, Any] | None:
        """Fetch the PEP 691 JSON simple page of project ``name``; ``None`` if unknown."""
        try:
            resp = self.request(f"{self.index_url}{name}/", {"Accept": SIMPLE_JSON})
        except NotFound:
            return None
        try:
            return json.loads(resp.body)
        except ValueError:
            raise NetworkError(f"the simple API answered non-JSON for {name!r}") from None

    def root_index(self) -> list[tuple[str, int]]:
        """Every project of the registry with its ``_last-serial``, from the PEP 691 root index.

        Raises:
            NetworkError: unreachable, or not a JSON root index.
        """
        resp = self.request(self.index_url, {"Accept": SIMPLE_JSON})
        try:
            projects = json.loads(resp.body)["projects"]
            return [(str(p["name"]), int(p.get("_last-serial") or 0)) for p in projects]
        except (ValueError, KeyError, TypeError) as error:
            raise NetworkError(f"{self.index_url} is not a PEP 691 JSON root index ({error})") from None

    def range(self, url: str, start: int, end: int | None = None, *, size: int | None = None) -> bytes:
        """Return bytes ``start..end`` (inclusive) of ``url``.

        Servers that ignore ``Range`` (status 200) are handled by slicing. With
        ``size`` (the file's length as the registry lists it) the answer is checked
        before it is used: the total of ``Content-Range`` (or the length of a whole
        answer) must be ``size``, and the part must be as long as asked. A mismatch
        is retried like a transient error.

        Raises:
            IntegrityError: every attempt gave a mismatching answer.
        """
        spec = f"bytes={start}-{'' if end is None else end}"
        problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                self._sleep(attempt)
            resp = self.request(url, {"Range": spec})
            if resp.status == 200:
                if size is not None and len(resp.body) != size:
                    problem = f"the whole answer has {len(resp.body)} bytes, the registry lists {size}"
                    continue
                return resp.body[start : None if end is None else end + 1]
            if size is None:
                return resp.body
            total = resp.headers.get("content-range", "").rpartition("/")[2]
            if total != str(size):
                problem = f"Content-Range total {total or 'missing'}, the registry lists {size} bytes"
                continue
            wanted = min(size - 1, size - 1 if end is None else end) - start + 1
            if len(resp.body) != wanted:
                problem = f"{len(resp.body)} bytes answered for a range of {wanted}"
                continue
            return resp.body
        raise IntegrityError(f"GET {url} ({spec}): {problem} ({self.retries + 1} attempts); {self.hint}")


def shard_downloader() -> Callable[[str], bytes]:
    """A downloader of file-index shards (:class:`mach_nix.db.files_cache.FilesCache`):
    one :class:`Client` kept for every download, its failures as
    :class:`~mach_nix.errors.DatabaseError` with what to do."""
    client = Client(hint="check the network or use the full database")

    def download(url: str) -> bytes:
        try:
            return client.request(url).body
        except NotFound:
            raise DatabaseError(f"cannot fetch {url}: not found there; check the database's files_url") from None
        except NetworkError as error:
            raise DatabaseError(f"cannot fetch {url}: {error}") from None

    return download
