"""A small, polite HTTP client for PyPI (stdlib only).

Only two hosts are used: the PEP 691 JSON simple API on ``pypi.org`` and the
files on ``files.pythonhosted.org``. Every request is retried with exponential
backoff on timeouts, connection errors, 429 and 5xx answers; concurrency is
bounded by the caller's thread pool.
"""

from __future__ import annotations

import json
import os
import random
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from mach_nix import __version__
from mach_nix.errors import NetworkError

#: The simple API base; ``MACH_NIX_INDEX_URL`` overrides it (e.g. a mirror).
SIMPLE_URL = os.environ.get("MACH_NIX_INDEX_URL", "https://pypi.org/simple/")
SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
USER_AGENT = f"mach-nix/{__version__} (db crawler)"


class NotFound(Exception):
    """The server answered 404/410 (not retried)."""


@dataclass
class Response:
    """A completed HTTP response: status, headers (lower-case keys) and body."""

    status: int
    headers: dict[str, str]
    body: bytes


class Client:
    """HTTP client with retries and backoff, safe to share between threads."""

    def __init__(self, *, timeout: float = 30.0, retries: int = 5, backoff: float = 0.5) -> None:
        """Create a client.

        Args:
            timeout: socket timeout per attempt, seconds.
            retries: attempts after the first one, on transient errors.
            backoff: first backoff delay, doubled (with jitter) per attempt.
        """
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.requests = 0
        self.retried = 0

    def request(self, url: str, headers: dict[str, str] | None = None, *, max_bytes: int | None = None) -> Response:
        """GET ``url``; retry transient failures; raise :class:`NotFound` on 404/410.

        Raises:
            NotFound: the resource does not exist.
            NetworkError: still failing after all retries, or the body is larger
                than ``max_bytes``.
        """
        all_headers = {"User-Agent": USER_AGENT, **(headers or {})}
        last_error = ""
        for attempt in range(self.retries + 1):
            if attempt:
                self.retried += 1
                time.sleep(self.backoff * 2 ** (attempt - 1) * (1 + random.random() / 2))
            self.requests += 1
            try:
                req = urllib.request.Request(url, headers=all_headers)
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    if max_bytes is not None:
                        length = resp.headers.get("Content-Length")
                        if length is not None and int(length) > max_bytes:
                            raise NetworkError(f"{url} is {int(length)} bytes, above the limit of {max_bytes}")
                        body = resp.read(max_bytes + 1)
                        if len(body) > max_bytes:
                            raise NetworkError(f"{url} is larger than the limit of {max_bytes} bytes")
                    else:
                        body = resp.read()
                    return Response(resp.status, {k.lower(): v for k, v in resp.headers.items()}, body)
            except urllib.error.HTTPError as error:
                if error.code in (404, 410):
                    raise NotFound(url) from None
                if error.code == 304:
                    return Response(304, {k.lower(): v for k, v in error.headers.items()}, b"")
                if error.code == 429 or error.code >= 500:
                    last_error = f"HTTP {error.code}"
                    continue
                raise NetworkError(f"GET {url} failed: HTTP {error.code} {error.reason}") from None
            except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError, OSError) as error:
                last_error = str(getattr(error, "reason", error))
                continue
        raise NetworkError(
            f"GET {url} kept failing after {self.retries + 1} attempts (last: {last_error}); "
            "check the network and rerun: finished work is kept and the run resumes"
        )

    def simple_project(self, name: str) -> dict[str, Any] | None:
        """Fetch the PEP 691 JSON simple page of project ``name``; ``None`` if unknown."""
        try:
            resp = self.request(f"{SIMPLE_URL}{name}/", {"Accept": SIMPLE_JSON})
        except NotFound:
            return None
        try:
            return json.loads(resp.body)
        except ValueError:
            raise NetworkError(f"the simple API answered non-JSON for {name!r}") from None

    def range(self, url: str, start: int, end: int | None = None) -> bytes:
        """Return bytes ``start..end`` (inclusive) of ``url``; negative ``start`` = suffix."""
        spec = f"bytes={start}" if start < 0 else f"bytes={start}-{'' if end is None else end}"
        resp = self.request(url, {"Range": spec})
        return resp.body
