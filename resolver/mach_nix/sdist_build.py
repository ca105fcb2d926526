"""What an sdist declares it needs to build, read from the sdist when the database does not say.

Contract: the database records an sdist's build requirements whenever its crawler opened
the sdist. For a release with wheels it usually did not (the wheels give the metadata, the
sdist is never downloaded), and an sdist chosen anyway (``--provider NAME=sdist``) borrows
its wheel's dependencies with build requirements *unknown*. Before the build systems of a
lock are resolved, :class:`SdistBuildFacts` learns them, for each such sdist:

1. from the facts cache, by the sdist's sha256 (:class:`~mach_nix.facts_cache.FactsCache`,
   ``~/.cache/mach-nix/sdist-build``, plus read-only directories);
2. else, when fetching is allowed, from the sdist itself: downloaded whole from the lock's
   URL, refused unless its size and sha256 are the registry's, and read statically as the
   crawler reads one (:func:`mach_nix.db.extract.build_system`: ``[build-system] requires``,
   else PEP 517's default, then ``setup_requires`` readable from setup.cfg or setup.py).

What a backend's ``get_requires_for_build_wheel`` would add is not learnt this way (that
takes the confined hook, which the crawler runs: ``db crawl --hooks all NAME==VERSION``
records it in a database). An sdist whose requirements stay unknown (``--offline`` and
not cached) is locked ``build_system_unlocked``, with a warning saying how to lock it.
Facts depend only on the sdist's bytes, so a second lock reads nothing.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from mach_nix import progress
from mach_nix.db.extract import ExtractError, build_system, read_sdist
from mach_nix.db.http import Client, NotFound
from mach_nix.db.model import DistFile
from mach_nix.errors import NetworkError
from mach_nix.facts_cache import FactsCache, cache_dir

#: Version of a cached entry (another version counts as absent).
CACHE_VERSION = 1

#: Largest sdist downloaded for its build requirements.
MAX_SDIST_BYTES = 200 * 1024 * 1024


def default_cache_dir() -> Path:
    """``sdist-build`` below the cache base of :func:`mach_nix.facts_cache.cache_dir`."""
    return cache_dir("sdist-build")


def user_cache() -> FactsCache:
    """The user's cache of these facts (:func:`default_cache_dir`)."""
    return FactsCache(default_cache_dir())


def read_build_requires(filename: str, data: bytes) -> tuple[str, ...]:
    """The build requirements an sdist archive declares (see the module docstring).

    Raises:
        mach_nix.db.extract.ExtractError: not a readable sdist archive.
    """
    return tuple(build_system(read_sdist(filename, data))[0])


def remember(cache: FactsCache, dist: DistFile, requires: tuple[str, ...]) -> None:
    """Store what an sdist (sha256 known) declares it needs to build."""
    if dist.sha256:
        entry = {"version": CACHE_VERSION, "filename": dist.filename, "build_requires": list(requires)}
        cache.put_json(dist.sha256, entry)


class SdistBuildFacts:
    """Build requirements of sdists by sha256: cached, else downloaded (unless ``fetch`` is false).

    Call it with the sdist's :class:`~mach_nix.db.model.DistFile` (sha256 and size known)
    and its URL; it returns the requirement strings, or ``None`` when they stay unknown.
    ``cache`` ``None``: nothing is read from or written to a cache (``--no-cache``).

    Attributes:
        fetch: download sdists the cache lacks.
        read: sdists downloaded by this object.
        unreadable: why a downloaded sdist's requirements could not be read, by filename.
    """

    def __init__(
        self,
        fetch: bool,
        cache: FactsCache | None,
        client: Any = None,
        show: bool = True,
    ) -> None:
        self.fetch = fetch
        self.cache = cache
        self._client = client
        self._show = show
        self.read = 0
        self.unreadable: dict[str, str] = {}

    def why_unknown(self, dist: DistFile) -> str:
        """Why the build requirements of ``dist`` stay unknown, and what makes them known."""
        if dist.filename in self.unreadable:
            return f"its sdist cannot be read ({self.unreadable[dist.filename]})"
        if self.fetch:
            return "the lock has no URL or sha256 of its sdist"
        return "--offline forbids downloading its sdist to read them (lock without --offline to lock them)"

    def __call__(self, dist: DistFile, url: str | None) -> tuple[str, ...] | None:
        if not dist.sha256:
            return None
        cached = None if self.cache is None else self.cache.get_json(dist.sha256)
        if cached is not None and cached.get("version") == CACHE_VERSION:
            requires = cached.get("build_requires")
            if isinstance(requires, list) and all(isinstance(r, str) for r in requires):
                return tuple(requires)
        if not self.fetch or not url:
            return None
        requires = self._download(dist, url)
        if requires is not None and self.cache is not None:
            remember(self.cache, dist, requires)
        return requires

    def _download(self, dist: DistFile, url: str) -> tuple[str, ...] | None:
        if self._client is None:
            self._client = Client(
                hint="check the network, or lock with --offline (the sdist then builds with the package set's tools)"
            )
        with progress.Progress("sdist build requirements", self._show) as line:
            line.update(f"reading the build requirements of {dist.filename}", force=True)
            try:
                data = self._client.request(url, max_bytes=MAX_SDIST_BYTES).body
            except NotFound:
                self.unreadable[dist.filename] = f"{url} answered 404"
                return None
        self.read += 1
        if (dist.size is not None and len(data) != dist.size) or hashlib.sha256(data).hexdigest() != dist.sha256:
            raise NetworkError(
                f"{url}: the download ({len(data)} bytes) does not match the lock's sha256 {dist.sha256}; "
                "refusing it, rerun later"
            )
        try:
            return read_build_requires(dist.filename, data)
        except ExtractError as error:
            self.unreadable[dist.filename] = str(error)
            return None
