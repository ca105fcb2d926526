"""Coverage benchmark: crawl a fixed-seed sample of PyPI and report what share of releases has metadata.

Half of the sample is drawn uniformly from all projects, half from the most downloaded
ones; every release of each is crawled (``db crawl NAME``, no ``--closure``), each half
in one crawl into its own fresh database. Reported per half: releases, the share with
dependency metadata (any of its files), the newest release's share, metadata sources,
failures by kind, seconds and HTTP requests per release, and the sdists not downloaded.

    python3 bench/coverage.py --names NAMES.tsv --report coverage.json

``--names`` is a tab-separated list of projects with a header naming a ``name`` column
and optionally a ``rank_among_15000_most_downloaded`` (or ``rank``) column; rows
without a rank are the uniform population's only members with no popularity claim,
rows with one form the popular population. The draw (Python's ``random`` with
``--seed``, default 20261202) is the one of ``shared/research/coverage.md``:

    rng = random.Random(seed)
    uniform = rng.sample(rows, n)
    popular = rng.sample([r for r in rows if r.rank and r.name not in uniform], n)

Network: the live registry (``MACH_NIX_INDEX_URL`` for a mirror). Never run by the tests.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "resolver"))

from packaging.requirements import Requirement  # noqa: E402
from packaging.version import InvalidVersion, Version  # noqa: E402

from mach_nix.db.crawl import Crawler, CrawlOptions  # noqa: E402
from mach_nix.db.http import Client  # noqa: E402
from mach_nix.db.reader import DatabaseLayer  # noqa: E402


def read_names(path: Path) -> list[tuple[str, int | None]]:
    """(name, rank or None) of every row with a name (and, when the file has one, a version)."""
    csv.field_size_limit(1 << 24)
    rows: list[tuple[str, int | None]] = []
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        fields = reader.fieldnames or []
        rank_field = next((f for f in fields if f.startswith("rank")), None)
        for row in reader:
            name = (row.get("name") or "").strip()
            if not name or ("version" in fields and not (row.get("version") or "").strip()):
                continue
            rank = (row.get(rank_field) or "").strip() if rank_field else ""
            rows.append((name, int(rank) if rank.isdigit() else None))
    return rows


def draw(rows: list[tuple[str, int | None]], seed: int, count: int) -> tuple[list[str], list[str]]:
    """The uniform and the popular halves of the sample."""
    rng = random.Random(seed)
    uniform = rng.sample(rows, count)
    taken = {name for name, _ in uniform}
    popular = rng.sample([r for r in rows if r[1] and r[0] not in taken], count)
    return [n for n, _ in uniform], [n for n, _ in popular]


def newest(versions: list[str]) -> str | None:
    """The highest final, non-yanked-agnostic version (pre-releases only when there is nothing else)."""
    parsed = []
    for text in versions:
        try:
            parsed.append((Version(text), text))
        except InvalidVersion:
            continue
    finals = [p for p in parsed if not p[0].is_prerelease]
    chosen = max(finals or parsed, default=None)
    return chosen[1] if chosen else None


def measure(names: list[str], db: Path, options: CrawlOptions) -> dict[str, Any]:
    """Crawl ``names`` into ``db`` and tally the result."""
    client = Client()
    crawler = Crawler(db, options, client=client)
    start = time.monotonic()
    summary = crawler.run([Requirement(n) for n in names], closure=False)
    seconds = time.monotonic() - start
    layer = DatabaseLayer(db)
    releases = with_meta = newest_total = newest_meta = 0
    sources: Counter[str] = Counter()
    missing_by_kind: Counter[str] = Counter()
    per_project = {}
    for name in layer.names():
        project = layer.project(name, details=True)
        assert project is not None
        have = 0
        for release in project.releases.values():
            releases += 1
            if release.metadata:
                with_meta += 1
                have += 1
                best = sorted(
                    release.metadata,
                    key=lambda m: (
                        ["pep658", "wheel", "pkg-info", "pep517"].index(m.source)
                        if m.source in ("pep658", "wheel", "pkg-info", "pep517")
                        else 9
                    ),
                )[0]
                sources[best.source] += 1
            else:
                for kind in {f.kind for f in release.failures}:
                    missing_by_kind[kind] += 1
        top = newest(list(project.releases))
        if top is not None:
            newest_total += 1
            newest_meta += bool(project.releases[top].metadata)
        per_project[name] = {"releases": len(project.releases), "with_metadata": have}
    return {
        "projects": len(names),
        "projects_found": len(per_project),
        "not_found": sorted(summary.not_found),
        "releases": releases,
        "releases_with_metadata": with_meta,
        "share_with_metadata": round(with_meta / releases, 4) if releases else None,
        "newest_with_metadata": f"{newest_meta}/{newest_total}",
        "sources_of_releases": dict(sources),
        "releases_without_metadata_by_kind": dict(missing_by_kind),
        "file_failures_by_kind": summary.failures,
        "files": summary.files,
        "files_extracted": summary.files_extracted,
        "sdists_not_downloaded": summary.sdists_not_downloaded,
        "wheels_sharing_metadata": summary.files_same_metadata,
        "seconds": round(seconds, 1),
        "seconds_per_release": round(seconds / releases, 4) if releases else None,
        "requests": client.requests,
        "requests_per_release": round(client.requests / releases, 2) if releases else None,
        "per_project": per_project,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--names", type=Path, required=True, help="TSV of project names (and download ranks)")
    parser.add_argument("--seed", type=int, default=20261202)
    parser.add_argument("--per-half", type=int, default=40, metavar="N", help="projects per half (default 40)")
    parser.add_argument("--hooks", default="no-wheel", choices=("all", "no-wheel", "never"))
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--report", type=Path, help="write the figures as JSON here")
    args = parser.parse_args()
    uniform, popular = draw(read_names(args.names), args.seed, args.per_half)
    options = CrawlOptions(progress=False, concurrency=args.concurrency, hooks=args.hooks)
    report: dict[str, Any] = {
        "seed": args.seed,
        "hooks": args.hooks,
        "sample": {"uniform": uniform, "popular": popular},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for half, names in (("uniform", uniform), ("popular", popular)):
            report[half] = measure(names, Path(tmp) / half, options)
            shown = {k: v for k, v in report[half].items() if k != "per_project"}
            print(half, json.dumps(shown, indent=1), flush=True)
    total_releases = report["uniform"]["releases"] + report["popular"]["releases"]
    total_meta = report["uniform"]["releases_with_metadata"] + report["popular"]["releases_with_metadata"]
    report["pooled_share_with_metadata"] = round(total_meta / total_releases, 4) if total_releases else None
    print("pooled share with metadata:", report["pooled_share_with_metadata"])
    if args.report:
        args.report.write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
