"""Extract again the files whose recorded failure is of given kinds (``mach-nix db retry``).

A crawl keeps a file's recorded failure until the file's project changes on PyPI (except
``download`` and ``not-crawled``, which are retried anyway, docs/db-format.md §3.4). After
an improvement of the extraction itself (a better sandboxed PEP 517 hook, new retries of
legacy ``setup.py``), the old verdicts stay wrong; ``retry`` fixes exactly those:

* only files whose failure is of the kinds asked for are touched, from the URL and sha256
  the database recorded (no simple-API page is read, so no new release appears and no
  other record moves: the result is the database the crawl would have written with
  today's extraction);
* every other byte of every project stays as it was, and the manifest keeps its crawl
  record and crawl time (the registry data is as old as it was);
* the write is one new generation (atomic), under the database's crawl lock, and each
  result goes to the journal first, so an interrupted retry resumes.
"""

from __future__ import annotations

import concurrent.futures as futures
import os
import shutil
import time
from collections.abc import Collection
from dataclasses import dataclass, field

from mach_nix.db.crawl import SPOOL, Crawler, CrawlOptions, Progress, assemble_release
from mach_nix.db.http import Registry
from mach_nix.db.journal import FileResult, Journal
from mach_nix.db.model import DistFile, Project, Release
from mach_nix.db.spool import Spool
from mach_nix.errors import UsageError

#: Kinds a retry may name: verdicts of the extraction, not of the registry's listing.
RETRYABLE_KINDS = ("hook-error", "python2-only", "timeout", "memory", "no-metadata", "invalid", "skipped", "download")


@dataclass
class RetrySummary:
    """What a retry did."""

    files: int = 0
    recovered: int = 0
    still_failing: dict[str, int] = field(default_factory=dict)
    projects_changed: int = 0
    seconds: float = 0.0

    def text(self) -> str:
        """The summary line printed by ``mach-nix db retry``."""
        still = ", ".join(f"{kind} {count}" for kind, count in sorted(self.still_failing.items())) or "none"
        return (
            f"retried: {self.files} files, metadata now for {self.recovered}; still failing: {still}; "
            f"projects changed: {self.projects_changed}   time: {self.seconds:.1f}s"
        )


def _rebuilt(release: Release, results: dict[str, FileResult]) -> Release:
    """``release`` with the results of some of its files replaced (same order, same encoding)."""
    old_failures = {f.filename: f for f in release.failures}
    rows = [
        (
            dist,
            *(
                results[dist.filename]
                if dist.filename in results
                else (release.metadata_of(dist), old_failures.get(dist.filename))
            ),
        )
        for dist in release.files
    ]
    known = {d.filename for d in release.files}
    unlisted = tuple(f for f in release.failures if f.filename not in known)  # failures of unlisted files
    return assemble_release(release.version, rows, unlisted)


def retry_failures(
    db_dir: str | os.PathLike[str],
    kinds: Collection[str],
    options: CrawlOptions | None = None,
    client: Registry | None = None,
) -> RetrySummary:
    """Extract again every file of the database at ``db_dir`` whose failure is in ``kinds``.

    Raises:
        UsageError: no database there, a graph-only one, an unknown kind, or another crawl
            running on it.
    """
    wanted = set(kinds)
    unknown = sorted(wanted - set(RETRYABLE_KINDS))
    if unknown or not wanted:
        raise UsageError(
            f"--kind must name failure kinds among {', '.join(RETRYABLE_KINDS)}"
            + (f"; not {', '.join(map(repr, unknown))}" if unknown else "")
        )
    start = time.monotonic()
    crawler = Crawler(db_dir, options, client)
    old = crawler.old
    if old is None:
        raise UsageError(f"{os.fspath(db_dir)!r} holds no database; create it with 'mach-nix db crawl'")
    summary = RetrySummary()
    journal = Journal(crawler.root, crawler.policy)  # the crawl lock: one crawl, update or retry at a time
    spool = Spool(crawler.root / SPOOL)
    progress = Progress(crawler.options.progress, label="retrying")
    try:
        work: list[tuple[str, str, DistFile, bool]] = []
        for name in old.names():
            project = old.project(name, details=True)
            if project is None:
                continue
            for version, release in project.releases.items():
                retry = {f.filename for f in release.failures if f.kind in wanted}
                has_wheels = any(d.is_wheel for d in release.files)
                work.extend((name, version, d, has_wheels) for d in release.files if d.filename in retry)
        summary.files = len(work)
        results: dict[tuple[str, str], dict[str, FileResult]] = {}
        workers = max(1, min(crawler.options.concurrency, os.cpu_count() or 1))
        with futures.ThreadPoolExecutor(max_workers=workers) as pool:
            running = {}
            for name, version, dist, has_wheels in work:
                if dist.sha256 in journal.results:
                    results.setdefault((name, version), {})[dist.filename] = journal.results[dist.sha256]
                    continue
                running[pool.submit(crawler.extract_now, dist, {}, has_wheels)] = (name, version, dist)
            done = len(work) - len(running)
            for future in futures.as_completed(running):
                name, version, dist = running[future]
                result = future.result()
                if dist.sha256:
                    journal.add(dist.sha256, result)
                results.setdefault((name, version), {})[dist.filename] = result
                done += 1
                failed = sum(1 for by_file in results.values() for meta, _fail in by_file.values() if meta is None)
                progress.update(0, 0, done, len(work), failed)
        progress.done()
        changed: dict[str, Project] = {}
        for (name, version), by_file in sorted(results.items()):
            project = changed.get(name) or old.project(name, details=True)
            assert project is not None
            releases = dict(project.releases)
            releases[version] = _rebuilt(releases[version], by_file)
            changed[name] = Project(name=project.name, releases=releases, last_serial=project.last_serial)
            for meta, fail in by_file.values():
                if meta is not None:
                    summary.recovered += 1
                elif fail is not None:
                    summary.still_failing[fail.kind] = summary.still_failing.get(fail.kind, 0) + 1
        summary.projects_changed = len(changed)
        if changed:
            for project in changed.values():
                spool.add(project)
            spool.add_layer(old, only={n for n in old.names() if n not in changed})
            manifest = old.manifest
            spool.write(
                crawler.root,
                crawl=dict(manifest.get("crawl", {})),
                crawl_time=manifest["crawl_time"],
                prefix_length=manifest["shard_prefix_length"],
            )
    finally:
        spool.close()
        crawler.close_hooks()
    journal.close(delete=True)
    shutil.rmtree(crawler.root / SPOOL, ignore_errors=True)
    summary.seconds = time.monotonic() - start
    return summary
