"""File-index shards by their sha256: cache directories, and fetching (``docs/db-format.md`` §1.1).

A graph-only database names where its file index is published (``files_url``)
and pins every shard file's sha256 in ``shards.json``. A shard file missing
from the database directory is looked up under its sha256 in the cache
directories of a :class:`FilesCache` and, when fetching is allowed, downloaded
through the project's one HTTP client (:func:`mach_nix.db.http.shard_downloader`,
made by the ``connect`` the cache is given, on the first download), checked
against that sha256 and stored in the first cache directory. The cache
is content-addressed: entries never go stale and can be deleted at any time.

When a shard can be neither found nor fetched, :class:`MissingFilesError` lists
every missing file, so that a caller (the Nix builder) can fetch them all at once.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from mach_nix import progress
from mach_nix.errors import DatabaseError

#: One shard file to obtain: ``{"file": "<shards_dir>/files/<q>.idx", "sha256": …, "url": …}``
#: (``url`` is empty when the database names no ``files_url``).
Source = dict[str, str]

#: Downloads one URL whole; raises :class:`~mach_nix.errors.DatabaseError` saying why it failed.
Downloader = Callable[[str], bytes]


def default_files_cache() -> Path:
    """Where fetched file-index shards are kept: ``$MACH_NIX_CACHE/files``,
    else ``$XDG_CACHE_HOME/mach-nix/files``, else ``~/.cache/mach-nix/files``."""
    base = os.environ.get("MACH_NIX_CACHE")
    if base:
        return Path(base) / "files"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "mach-nix" / "files"


class MissingFilesError(DatabaseError):
    """A file-index shard is needed but neither in the database nor in a cache.

    Attributes:
        sources: what to fetch: ``{"file", "sha256", "url"}`` per missing file.
    """

    def __init__(self, database: str, files_url: str | None, sources: list[Source]) -> None:
        """Describe the missing ``sources`` of the database at ``database`` (published at ``files_url``)."""
        self.sources = sources
        how = (
            f"it is fetched from {files_url} when mach-nix may use the network (drop --offline)"
            if files_url
            else "this database names no files_url to fetch it from; use the full database"
        )
        super().__init__(
            f"database {database!r} holds only the dependency graph and the file index shard "
            f"{sources[0]['file']} is not cached; {how}"
        )

    def joined(self, earlier: MissingFilesError | None) -> MissingFilesError:
        """One error listing the sources of ``earlier`` (if any) and of this one,
        one entry per sha256 (to report every missing shard at once)."""
        if earlier is None:
            return self
        known = {s["sha256"] for s in earlier.sources}
        earlier.sources.extend(s for s in self.sources if s["sha256"] not in known)
        return earlier


#: The status line of :func:`report_on_stderr` (made on the first report).
_LINE: list[progress.Progress] = []


def report_on_stderr(message: str) -> None:
    """The default report of a :class:`FilesCache`: the progress line on stderr (a terminal only),
    erased when the lookup that fetched is done."""
    if not _LINE:
        _LINE.append(progress.Progress())
    _LINE[0].update(message, force=True)


def _end_report() -> None:
    if _LINE:
        _LINE[0].done()


class FilesCache:
    """Directories of file-index shard files named by their sha256, searched in order.

    Attributes:
        directories: the cache directories; fetched files go into the first.
        connect: makes the downloader of missing files (called once, on the
            first download: :func:`mach_nix.db.http.shard_downloader`);
            ``None``: never fetch.
        report: called with ``"fetching URL"`` before each download.
    """

    def __init__(
        self,
        directories: Sequence[str | os.PathLike[str]] = (),
        connect: Callable[[], Downloader] | None = None,
        report: Callable[[str], None] = report_on_stderr,
    ) -> None:
        self.directories = [Path(d) for d in directories]
        self.connect = connect
        self.report = report
        self._download: Downloader | None = None

    @property
    def fetch(self) -> bool:
        """Whether missing files are downloaded."""
        return self.connect is not None

    def find(self, sha256: str) -> Path | None:
        """The cached file with this sha256, or ``None``."""
        return next((d / sha256 for d in self.directories if (d / sha256).is_file()), None)

    def locate(self, sources: list[Source], database: str, files_url: str | None) -> list[Path]:
        """The files of ``sources``, from the cache or (if allowed) fetched into it, in order.

        Raises:
            MissingFilesError: a file is not cached and cannot be fetched.
            DatabaseError: a download failed or has another sha256.
        """
        found: list[Path] = []
        try:
            for source in sources:
                hit = self.find(source["sha256"])
                if hit is None and self.fetch and source["url"] and self.directories:
                    hit = self.download(source["url"], source["sha256"])
                if hit is None:
                    raise MissingFilesError(database, files_url, sources)
                found.append(hit)
        finally:
            _end_report()
        return found

    def download(self, url: str, sha256: str) -> Path:
        """Download ``url`` into ``<first directory>/<sha256>`` if its content has that sha256.

        Written to a temporary name and renamed, so that no partial file is ever cached.

        Raises:
            DatabaseError: the download failed or its hash differs.
        """
        assert self.connect is not None, "download() needs a FilesCache that may fetch"
        cache = self.directories[0]
        cache.mkdir(parents=True, exist_ok=True)
        target = cache / sha256
        self.report(f"fetching {url}")
        if self._download is None:
            self._download = self.connect()
        data = self._download(url)
        got = hashlib.sha256(data).hexdigest()
        if got != sha256:
            raise DatabaseError(f"{url} has sha256 {got}, the database manifest expects {sha256}; refusing it")
        tmp = cache / f".{sha256}.tmp{os.getpid()}"
        tmp.write_bytes(data)
        os.replace(tmp, target)
        return target
