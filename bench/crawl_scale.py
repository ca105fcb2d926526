"""Scale of the distributed crawl: throughput per worker, 1 -> 2 workers, memory, and all of PyPI.

Part 1 (loopback, no network): a synthetic registry (``tests/fakeregistry.py``) of
``--projects`` generated projects, served from a separate process with ``--delay``
seconds per answer (a registry's round trip), is crawled with ``db crawl --all`` on a
``LocalCluster`` of 1 and then 2 worker processes, and updated once after
``--changed`` projects changed. Reported: wall time, projects/s and releases/s, HTTP
requests/s, the peak RSS of a worker and of the driver, the merge's share, and the
update's time.

Part 2 (network, optional: ``--names FILE --sample N``): how many projects change per
day, from ``_last-serial`` deltas on a uniform sample of N projects' pages: the serial
rate (serials per day) is fitted on the sample's (serial, newest upload time) pairs,
and a project changed in the last 24 h when its serial is within one day's serials of
the newest. Part 3 extrapolates to all of PyPI (``--pypi-projects``, ``--pypi-releases``)
with the seconds per release a real crawl measured (``--coverage-report`` of
``bench/coverage.py``, or ``--seconds-per-release``).

    python3 bench/crawl_scale.py --projects 4000 --report scale.json
    python3 bench/crawl_scale.py --names NAMES.tsv --sample 400 --coverage-report coverage.json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import resource
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "resolver"), str(REPO / "tests"), str(REPO / "bench")]

from mach_nix.db.crawl import CrawlOptions  # noqa: E402
from mach_nix.db.distributed import crawl_all  # noqa: E402
from mach_nix.db.http import Client  # noqa: E402
from mach_nix.db.reader import DatabaseLayer  # noqa: E402

TIME = "2024-01-01T00:00:00Z"


def _serve(projects: int, delay: float, queue: Any, changed: int, event: Any) -> None:
    """The registry process: serve, report the address, apply the changes when told."""
    from fakeregistry import synthetic

    registry = synthetic(projects, seed=7)
    registry.delay = delay
    with registry.serve() as server:
        queue.put(server.base)
        event.wait()
        for index in range(changed):
            name = f"syn-{index * 37 % projects:05d}"
            registry.add(name, "99.0", [])
            registry.bump(name)
        queue.put("changed")
        while True:
            time.sleep(3600)


def loopback(args: argparse.Namespace) -> dict[str, Any]:
    """Part 1."""
    context = multiprocessing.get_context("spawn")
    queue, event = context.Queue(), context.Event()
    server = context.Process(target=_serve, args=(args.projects, args.delay, queue, args.changed, event), daemon=True)
    server.start()
    base = queue.get(timeout=300)
    client = lambda: Client(index_url=base + "/simple/", files_url=base + "/packages/", backoff=0.01)  # noqa: E731
    options = CrawlOptions(progress=False, concurrency=args.concurrency, hooks="never", crawl_time=TIME)
    out: dict[str, Any] = {"projects": args.projects, "delay_s": args.delay, "concurrency_per_worker": args.concurrency}
    with tempfile.TemporaryDirectory() as tmp:
        for workers in (1, 2):
            db = Path(tmp) / f"db{workers}"
            start = time.monotonic()
            summary = crawl_all(db, options, client=client(), local_workers=workers)
            seconds = time.monotonic() - start
            releases = DatabaseLayer(db).manifest["counts"]["releases"]
            work = sum(r.seconds for r in summary.results)
            out[f"workers_{workers}"] = {
                "seconds": round(seconds, 1),
                "projects_per_s": round(args.projects / seconds, 1),
                "releases_per_s": round(releases / seconds, 1),
                "requests_per_s": round(summary.requests / seconds, 1),
                "partition_seconds_sum": round(work, 1),
                "peak_worker_rss_mb": max(r.peak_rss_mb for r in summary.results),
                "releases": releases,
                "requests": summary.requests,
            }
            print(f"{workers} worker(s):", json.dumps(out[f"workers_{workers}"]), flush=True)
        out["speedup_1_to_2"] = round(out["workers_1"]["seconds"] / out["workers_2"]["seconds"], 2)
        event.set()
        assert queue.get(timeout=60) == "changed"
        start = time.monotonic()
        summary = crawl_all(Path(tmp) / "db2", options, client=client(), local_workers=2, update=True)
        out["update"] = {
            "changed": args.changed,
            "seconds": round(time.monotonic() - start, 1),
            "fetched": summary.fetched,
            "unchanged": summary.unchanged,
            "requests": summary.requests,
        }
        print("update:", json.dumps(out["update"]), flush=True)
    out["driver_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    server.terminate()
    return out


def change_rate(args: argparse.Namespace) -> dict[str, Any]:
    """Part 2: projects changed per day, from serials of a uniform sample's pages."""
    from coverage import read_names

    names = [n for n, _ in read_names(args.names)]
    sample = random.Random(args.seed).sample(names, args.sample)
    client = Client()
    pairs: list[tuple[int, float]] = []
    for name in sample:
        page = client.simple_project(name)
        if not page:
            continue
        serial = int(page.get("meta", {}).get("_last-serial") or 0)
        times = [f.get("upload-time") for f in page.get("files", []) if f.get("upload-time")]
        if serial and times:
            newest = max(times)
            when = datetime.fromisoformat(newest.replace("Z", "+00:00")).timestamp()
            pairs.append((serial, when))
    # the registry's present: the newest upload of projects that release every day (a mirror may lag)
    now = 0.0
    for busy in ("botocore", "boto3"):
        page = client.simple_project(busy) or {}
        times = [f["upload-time"] for f in page.get("files", []) if f.get("upload-time")]
        serial = int(page.get("meta", {}).get("_last-serial") or 0)
        if times and serial:
            when = datetime.fromisoformat(max(times).replace("Z", "+00:00")).timestamp()
            pairs.append((serial, when))
            now = max(now, when)
    now = now or time.time()
    recent = [(s, t) for s, t in pairs if now - t < 90 * 86400]  # the last quarter: a current rate
    if len(recent) < 2:
        recent = sorted(pairs, key=lambda p: p[1])[-20:]
    mean_t = sum(t for _, t in recent) / len(recent)
    mean_s = sum(s for s, _ in recent) / len(recent)
    slope = sum((t - mean_t) * (s - mean_s) for s, t in recent) / max(1e-9, sum((t - mean_t) ** 2 for _, t in recent))
    per_day = slope * 86400
    serial_now = mean_s + slope * (now - mean_t)
    out: dict[str, Any] = {
        "sample": len(pairs) - 2,
        "registry_now": datetime.fromtimestamp(now).isoformat(timespec="seconds"),
        "serials_per_day": round(per_day),
        "requests": client.requests,
    }
    pairs = pairs[:-2] if len(pairs) >= 2 else pairs  # the two busy projects are no part of the sample
    for days in (1, 7, 30):
        out[f"changed_in_{days}d_by_serial"] = sum(1 for s, _ in pairs if s > serial_now - days * per_day)
        out[f"changed_in_{days}d_by_upload"] = sum(1 for _, t in pairs if now - t < days * 86400)
    # a day's share: the shortest window holding at least 5 changes, over its days (a sample of a
    # thousand rarely holds a 1-day change); a project that changed twice in the window counts once,
    # so busy projects are undercounted; serials_per_day bounds the count from above
    window = next((d for d in (1, 7, 30) if out[f"changed_in_{d}d_by_serial"] >= 5), 30)
    out["window_days"] = window
    out["share_changed_per_day"] = (
        round(out[f"changed_in_{window}d_by_serial"] / window / len(pairs), 6) if pairs else None
    )
    return out


def extrapolate(args: argparse.Namespace, scale: dict[str, Any], rate: dict[str, Any] | None) -> dict[str, Any]:
    """Part 3."""
    seconds_per_release = args.seconds_per_release
    if args.coverage_report is not None:
        report = json.loads(args.coverage_report.read_text())
        releases = report["uniform"]["releases"] + report["popular"]["releases"]
        seconds_per_release = (report["uniform"]["seconds"] + report["popular"]["seconds"]) / releases
    out: dict[str, Any] = {"seconds_per_release_one_worker": round(seconds_per_release, 4)}
    full = args.pypi_releases * seconds_per_release
    out["full_crawl_worker_hours"] = round(full / 3600)
    speedup = scale.get("speedup_1_to_2", 2.0) / 2  # measured efficiency of adding a worker
    out["workers_for_24h_full_crawl"] = round(full / 86400 / max(0.1, speedup))
    if rate and rate.get("share_changed_per_day") is not None:
        changed = rate["share_changed_per_day"] * args.pypi_projects
        releases_per_project = args.pypi_releases / args.pypi_projects
        # a changed project: its page, plus (mostly) one new release's files; unchanged ones cost nothing
        update_seconds = changed * (seconds_per_release * min(releases_per_project, 2.0))
        out["projects_changed_per_day"] = round(changed)
        out["daily_update_worker_minutes"] = round(update_seconds / 60, 1)
        out["workers_for_10_min_update"] = max(1, round(update_seconds / 600 / max(0.1, speedup)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--projects", type=int, default=4000)
    parser.add_argument("--delay", type=float, default=0.02, help="seconds per registry answer (default 0.02)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--changed", type=int, default=40, help="projects changed before the update (default 40)")
    parser.add_argument("--names", type=Path, help="TSV of PyPI project names (bench/coverage.py --names)")
    parser.add_argument("--sample", type=int, default=400)
    parser.add_argument("--seed", type=int, default=20261203)
    parser.add_argument("--coverage-report", type=Path, help="bench/coverage.py --report output")
    parser.add_argument("--seconds-per-release", type=float, default=0.35)
    parser.add_argument("--pypi-projects", type=int, default=700_000)
    parser.add_argument("--pypi-releases", type=int, default=7_000_000)
    parser.add_argument("--report", type=Path)
    parser.add_argument("--loopback-report", type=Path, help="take part 1 from this earlier --report")
    args = parser.parse_args()
    if args.loopback_report is not None:  # reuse part 1 of an earlier run
        report: dict[str, Any] = {"loopback": json.loads(args.loopback_report.read_text())["loopback"]}
    else:
        report = {"loopback": loopback(args)}
    report["change_rate"] = change_rate(args) if args.names else None
    if report["change_rate"]:
        print("change rate:", json.dumps(report["change_rate"]), flush=True)
    report["pypi"] = extrapolate(args, report["loopback"], report["change_rate"])
    print("all of PyPI:", json.dumps(report["pypi"]), flush=True)
    if args.report:
        args.report.write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
