"""Crawling all of a registry on a Dask cluster: ``db crawl --all`` and ``db update`` of such a DB.

The driver reads the PEP 691 root index (every project with its ``_last-serial``),
splits the projects into **partitions by the database's shard prefix** (the first
hex digits of the sha256 of the name, ``docs/db-format.md`` §1), and has a
``dask.distributed`` cluster crawl each partition into a **partial database**
(:func:`crawl_partition`: an ordinary :class:`~mach_nix.db.crawl.Crawler` run, its
journal the partition's checkpoint). The partials are then merged through a
:class:`~mach_nix.db.spool.Spool` into one generation of the database:

* the result is byte-identical to a single-process crawl of the same projects
  (:func:`crawl_all` with no cluster runs the same partitions in this process);
* a worker killed mid-task loses only what its partition did since its journal's
  last line: Dask runs the task again on another worker, which resumes from the
  partial database's journal (a shared file system holds the work directory);
* an update keeps every project whose root-index serial equals the stored one
  without reading its page, and recrawls the others (changed, new, or with a file to
  retry) in the same partitions; the driver holds only the names and serials, each
  worker one partition at a time.

Dask is an optional dependency (``pip install 'mach-nix[dist]'``); it is imported
only when a cluster is asked for. The scheduler and workers start as ``dask
scheduler`` / ``dask worker ADDRESS`` on one machine or a cluster (SSH, Kubernetes,
HPC); ``--local-workers N`` starts a ``LocalCluster`` here. ``docs/publishing.md``
explains a real deployment.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from mach_nix.db.crawl import Crawler, CrawlOptions
from mach_nix.db.format import MANIFEST, name_hash, prefix_length_for
from mach_nix.db.http import Client
from mach_nix.db.journal import Journal
from mach_nix.db.reader import DatabaseLayer, SalvagedLayer
from mach_nix.db.spool import Spool
from mach_nix.errors import UsageError

#: Where partial databases go, relative to the database directory, unless ``--work-dir`` says.
WORK_DIR = Path(".partial") / "partitions"
#: A partition never holds fewer hex digits than this (16 partitions), nor more than
#: :data:`MAX_PARTITION_DIGITS` (4096: ~170 projects each for all of PyPI).
MIN_PARTITION_DIGITS = 1
MAX_PARTITION_DIGITS = 3


@dataclass
class PartitionResult:
    """What one partition's crawl did (returned by the worker to the driver)."""

    key: str
    projects: int
    fetched: int
    unchanged: int
    files_extracted: int
    files_reused: int
    requests: int
    seconds: float
    peak_rss_mb: float
    failures: dict[str, int] = field(default_factory=dict)
    not_found: list[str] = field(default_factory=list)


@dataclass
class RunSummary:
    """What a distributed crawl or update did."""

    projects_total: int = 0
    partitions: int = 0
    fetched: int = 0
    unchanged: int = 0
    files_extracted: int = 0
    files_reused: int = 0
    requests: int = 0
    seconds: float = 0.0
    failures: dict[str, int] = field(default_factory=dict)
    results: list[PartitionResult] = field(default_factory=list)

    def text(self) -> str:
        """A human-readable summary."""
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(self.failures.items())) or "none"
        busiest = max((r.peak_rss_mb for r in self.results), default=0.0)
        return "\n".join(
            [
                f"projects: {self.projects_total} in the database ({self.fetched} fetched, {self.unchanged} unchanged)"
                f" in {self.partitions} partitions",
                f"files: {self.files_extracted} extracted now, {self.files_reused} reused",
                f"failures by kind: {kinds}",
                f"HTTP requests (workers): {self.requests}   time: {self.seconds:.1f}s   "
                f"peak memory of a worker: {busiest:.0f} MB",
            ]
        )


def partition_digits(project_count: int) -> int:
    """Hex digits of the name hash that make a partition: the database's shard prefix, within bounds."""
    return max(MIN_PARTITION_DIGITS, min(MAX_PARTITION_DIGITS, prefix_length_for(project_count)))


def partitions(names: Iterable[str], digits: int) -> dict[str, list[str]]:
    """Normalised ``names`` grouped by the first ``digits`` hex digits of their hash, each sorted."""
    out: dict[str, list[str]] = {}
    for name in names:
        norm = str(canonicalize_name(name))
        out.setdefault(name_hash(norm)[:digits], []).append(norm)
    return {key: sorted(set(members)) for key, members in sorted(out.items())}


def crawl_partition(
    key: str,
    names: Sequence[str],
    serials: dict[str, int],
    work_dir: str,
    base: str | None,
    options: dict[str, Any],
    index_url: str,
    files_url: str,
) -> PartitionResult:
    """Crawl one partition into ``work_dir/key`` (runs on a worker; a rerun resumes from its journal).

    Every name is a plain root (all its releases admitted, none followed); ``base`` is
    the database being updated (its projects of this partition are reused, kept
    when their serial is unchanged).
    """
    start = time.monotonic()
    partial = Path(work_dir) / key
    done = partial / "done.json"
    if done.exists():  # finished before (the driver died after): nothing to redo
        return PartitionResult(**json.loads(done.read_text()))
    crawl_options = CrawlOptions(**{**options, "progress": False})
    client = Client(index_url=index_url, files_url=files_url)
    layer = DatabaseLayer(base) if base is not None and (Path(base) / MANIFEST).exists() else None
    if (partial / MANIFEST).exists():  # a leftover of an earlier run's merge step: start clean
        shutil.rmtree(partial)
    crawler = Crawler(partial, crawl_options, client=client, base=layer, scope=set(names), serials=serials)
    crawler.durable = False  # the merge writes the durable copy
    summary = crawler.run((), closure=False, plain=[Requirement(n) for n in names], record={"partition": key})
    result = PartitionResult(
        key=key,
        projects=summary.projects_total,
        fetched=summary.projects_fetched,
        unchanged=summary.projects_unchanged,
        files_extracted=summary.files_extracted,
        files_reused=summary.files_reused,
        requests=client.requests,
        seconds=round(time.monotonic() - start, 3),
        peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        failures=dict(summary.failures),
        not_found=sorted(summary.not_found),
    )
    tmp = partial / ".done.json.tmp"
    tmp.write_text(json.dumps(asdict(result), sort_keys=True))
    os.replace(tmp, done)
    return result


def _options_dict(options: CrawlOptions) -> dict[str, Any]:
    return {k: v for k, v in asdict(options).items() if k != "progress"}


def crawl_all(
    db_dir: str | os.PathLike[str],
    options: CrawlOptions,
    *,
    client: Client | None = None,
    scheduler: str | None = None,
    local_workers: int | None = None,
    work_dir: str | os.PathLike[str] | None = None,
    update: bool = False,
    names: Sequence[tuple[str, int]] | None = None,
    progress: Callable[[str], None] | None = None,
) -> RunSummary:
    """Crawl every project of the registry (``update``: refresh a DB crawled so) into ``db_dir``.

    Args:
        client: where the root index and pages come from (its ``index_url`` and
            ``files_url`` are handed to the workers).
        scheduler: address of a running Dask scheduler (``tcp://host:8786``).
        local_workers: start a ``LocalCluster`` of this many single-threaded worker processes.
            With neither, the partitions run here, one after the other.
        work_dir: where partial databases go (shared by every worker); default
            ``DB/.partial/partitions``.
        names: the projects and serials (default: the registry's root index).

    Raises:
        UsageError: ``update`` of a database that was not crawled with ``--all``, or
            both ``scheduler`` and ``local_workers``.
    """
    start = time.monotonic()
    root = Path(db_dir)
    say = progress or (lambda text: None)
    if scheduler and local_workers:
        raise UsageError("give --scheduler ADDRESS or --local-workers N, not both")
    base: str | None = None
    if (root / MANIFEST).exists():
        manifest = DatabaseLayer(root).manifest
        if update and not manifest.get("crawl", {}).get("all"):
            raise UsageError(
                f"{str(root)!r} was not crawled with --all; 'mach-nix db update --db {root}' without "
                "--scheduler/--local-workers refreshes it"
            )
        base = str(root.resolve())
    elif update:
        raise UsageError(f"{str(root)!r} holds no database to update; create it with 'mach-nix db crawl --all'")
    registry = client or Client()
    listed = list(names) if names is not None else registry.root_index()
    serials = {str(canonicalize_name(n)): s for n, s in listed}
    digits = partition_digits(len(serials))
    parts = partitions(serials, digits)
    work = Path(work_dir) if work_dir is not None else root / WORK_DIR
    work.mkdir(parents=True, exist_ok=True)
    lock = Journal(work, "")  # one driver per work directory (the partitions hold their own locks)
    say(f"{len(serials)} projects in {len(parts)} partitions ({digits} hex digits)")
    try:
        jobs = [
            (
                key,
                members,
                {n: serials[n] for n in members} if update else {},
                str(work.resolve()),
                base,
                _options_dict(options),
                registry.index_url,
                registry.files_url,
            )
            for key, members in parts.items()
        ]
        results = _run(jobs, scheduler, local_workers, say)
        spool = Spool(work / "merge")
        try:
            for key in parts:
                spool.add_partial(DatabaseLayer(work / key))
            if base is not None:  # projects gone from the registry are kept, as a single crawl keeps them
                old = (SalvagedLayer if options.force else DatabaseLayer)(base)  # --force: damage is left out
                spool.add_layer(old, only={n for n in old.names() if n not in spool})
            crawl = {"all": True, "hooks": options.hooks, "policy": _policy(options)}
            manifest = spool.write(root, crawl=crawl, crawl_time=options.crawl_time, repair=options.force)
        finally:
            spool.close()
    finally:
        lock.close()
    shutil.rmtree(work, ignore_errors=True)
    _remove_empty(root / ".partial")
    summary = RunSummary(
        projects_total=manifest["counts"]["projects"],
        partitions=len(parts),
        failures=dict(manifest["failures_by_kind"]),
        results=sorted(results, key=lambda r: r.key),
    )
    for result in results:
        summary.fetched += result.fetched
        summary.unchanged += result.unchanged
        summary.files_extracted += result.files_extracted
        summary.files_reused += result.files_reused
        summary.requests += result.requests
    summary.requests += registry.requests
    summary.seconds = time.monotonic() - start
    return summary


def _policy(options: CrawlOptions) -> str:
    return f"hooks={options.hooks},max-sdist-mb={options.max_sdist_mb}"


def _remove_empty(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:
        pass


def _run(
    jobs: list[tuple[Any, ...]], scheduler: str | None, local_workers: int | None, say: Callable[[str], None]
) -> list[PartitionResult]:
    """Run :func:`crawl_partition` for every job: on a Dask cluster, or here one after the other."""
    if not scheduler and not local_workers:
        results = []
        for number, job in enumerate(jobs, 1):
            results.append(crawl_partition(*job))
            say(f"partition {job[0]} done ({number}/{len(jobs)})")
        return results
    try:
        from dask.distributed import Client as DaskClient
        from dask.distributed import LocalCluster, as_completed
    except ImportError:
        raise UsageError(
            "--scheduler and --local-workers need Dask: pip install 'mach-nix[dist]' (or 'dask[distributed]')"
        ) from None
    cluster = None
    if local_workers:
        cluster = LocalCluster(
            n_workers=local_workers, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
        )
        dask = DaskClient(cluster)
    else:
        dask = DaskClient(scheduler)
    try:
        token = f"{os.getpid()}-{time.time_ns()}"
        futures = [
            dask.submit(crawl_partition, *job, key=f"mach-nix-partition-{token}-{job[0]}", pure=False, retries=3)
            for job in jobs
        ]
        results = []
        for number, future in enumerate(as_completed(futures), 1):
            result = future.result()
            results.append(result)
            say(f"partition {result.key} done ({number}/{len(jobs)})")
        return results
    finally:
        dask.close()
        if cluster is not None:
            cluster.close()
