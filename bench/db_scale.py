"""Does resolution cost depend on the size of the database? (issue #3, item 5)

Builds, in a temporary directory, a synthetic database of full-PyPI size: the
projects of the test snapshot (``tests/data/pypi-db``, copied record by record)
plus ~700k generated filler projects with a realistic size distribution
(most projects have a handful of releases, a long tail has hundreds). Then it
resolves the same requirements against the snapshot alone and against the
synthetic DB, each in a fresh ``open_database`` (cold caches in the reader),
and prints the times and their ratio (goal: within 1.2x).

If the resolver (``mach_nix.resolve``) cannot run, it times the lookups of
every project of the snapshot through ``open_database`` instead, and says so.

Usage::

    python bench/db_scale.py                    # 700k projects
    python bench/db_scale.py --projects 100000 --repeat 5 --keep /tmp/big-db
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "resolver"))

from mach_nix.db import store  # noqa: E402

SNAPSHOT = ROOT / "tests" / "data" / "pypi-db"
REQUIREMENTS = ["requests[socks]", "flask==1.0", "black", "boto3", "python-dateutil", "pdfminer.six",
                "ruamel.yaml", "zope.interface", "Pillow", "greenlet", "dask[complete]==2.22.0"]


def synthetic_record(rng: random.Random, name: str) -> dict[str, Any]:
    """One filler project in the stored JSON shape (docs/db-format.md §3)."""
    n_releases = min(2000, max(1, int(rng.lognormvariate(1.4, 1.2))))  # median ~4, long tail
    deps = [f"dep{rng.randrange(100000)}>={rng.randrange(5)}.0" for _ in range(rng.randrange(6))]
    requires = [deps, deps[:-1]] if deps else [[]]
    metadata = [{"p": ">=3.8", "r": i, "s": "wheel"} for i in range(len(requires))]
    metadata.append({"b": ["setuptools>=40.8.0"], "p": ">=3.8", "r": 0, "s": "pkg-info"})
    binary = rng.random() < 0.15
    releases = []
    for i in range(n_releases):
        version = f"{i // 100}.{(i // 10) % 10}.{i % 10}"
        files = []
        wheels = ["cp311-cp311-manylinux_2_17_x86_64", "cp311-cp311-macosx_11_0_arm64",
                  "cp312-cp312-manylinux_2_17_x86_64", "cp312-cp312-macosx_11_0_arm64"] if binary else ["py3-none-any"]
        for tag in wheels:
            files.append([f"{name}-{version}-{tag}.whl", rng.randbytes(32).hex(), rng.randrange(10**4, 10**7),
                          "2023-05-22T15:12:44Z", f"{rng.randbytes(1).hex()}/{rng.randbytes(1).hex()}/{rng.randbytes(30).hex()}",
                          ">=3.8", None, 0])
        files.append([f"{name}-{version}.tar.gz", rng.randbytes(32).hex(), rng.randrange(10**4, 10**6),
                      "2023-05-22T15:12:40Z", f"{rng.randbytes(1).hex()}/{rng.randbytes(1).hex()}/{rng.randbytes(30).hex()}",
                      ">=3.8", None, 1])
        releases.append({"f": sorted(files), "m": [min(i % 2, len(requires) - 1), len(metadata) - 1], "v": version})
    return {"metadata": metadata, "name": name, "releases": releases, "requires": requires,
            "serial": rng.randrange(10**8)}


def build_synthetic(path: Path, filler: int, small_db: Path = SNAPSHOT, seed: int = 1) -> dict[str, Any]:
    """Write snapshot projects + ``filler`` generated ones as a DB at ``path``; return its manifest."""
    snapshot = store.DatabaseLayer(small_db)
    real = {name: snapshot.raw(name) for name in snapshot.names()}
    total = len(real) + filler
    prefix = store.prefix_length_for(total)
    rng = random.Random(seed)
    shards: dict[str, list[tuple[str, bytes]]] = {}
    started = time.monotonic()
    for i in range(filler):
        name = f"synthetic-project-{i:07d}"
        member = gzip.compress(store.dumps(synthetic_record(rng, name)).encode(), compresslevel=6, mtime=0)
        shards.setdefault(store.shard_of(name, prefix), []).append((name, member))
        if i % 50000 == 0:
            print(f"  generated {i}/{filler} projects ({time.monotonic() - started:.0f}s)", file=sys.stderr)
    for name, record in real.items():
        shards.setdefault(store.shard_of(name, prefix), []).append((name, store.gzip_bytes(store.dumps(record).encode())))
    generation = path / "shards-synthetic"
    generation.mkdir(parents=True)
    manifest_shards = {}
    total_bytes = 0
    for key in sorted(shards):
        idx_lines, dat = [], bytearray()
        for name, member in sorted(shards[key]):
            idx_lines.append(f"{name}\t{len(dat)}\t{len(member)}\n")
            dat += member
        idx = "".join(idx_lines).encode()
        (generation / f"{key}.idx").write_bytes(idx)
        (generation / f"{key}.dat").write_bytes(bytes(dat))
        total_bytes += len(idx) + len(dat)
        manifest_shards[key] = {"projects": len(shards[key]), "bytes": len(idx) + len(dat),
                                "idx_sha256": hashlib.sha256(idx).hexdigest(),
                                "dat_sha256": hashlib.sha256(dat).hexdigest()}
    manifest = {"format": store.FORMAT_NAME, "format_version": store.FORMAT_VERSION,
                "crawl_time": "2000-01-01T00:00:00Z", "shard_prefix_length": prefix,
                "shards_dir": generation.name, "counts": {"projects": total, "releases": 0, "files": 0, "failures": 0},
                "failures_by_kind": {}, "bytes": total_bytes, "crawl": {}, "shards": manifest_shards}
    (path / store.MANIFEST).write_text(store.dumps(manifest))
    return manifest


def drop_page_cache_hint() -> None:
    """Best effort: nothing portable; runs are interleaved instead."""


def time_resolve(db_path: Path) -> tuple[float, str]:
    """Seconds to resolve REQUIREMENTS against ``db_path`` (fresh reader)."""
    from mach_nix.resolve import resolve
    from mach_nix.target import Target

    db = store.open_database([db_path])
    start = time.perf_counter()
    lock = resolve(REQUIREMENTS, Target.create("3.11", "x86_64-linux"), {"_default": "wheel,sdist"}, db)
    elapsed = time.perf_counter() - start
    return elapsed, str(len(getattr(lock, "packages", []) or []))


def time_lookups(db_path: Path, names: list[str]) -> tuple[float, str]:
    """Seconds to look up every name in ``names`` (fresh reader)."""
    db = store.open_database([db_path])
    start = time.perf_counter()
    found = sum(1 for name in names if db.project(name) is not None)
    return time.perf_counter() - start, str(found)


def main() -> int:
    """Build the synthetic DB, run both measurements interleaved, print the ratio."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--projects", type=int, default=700_000, help="filler projects (default 700000)")
    parser.add_argument("--repeat", type=int, default=5, help="measurements per DB (default 5; median used)")
    parser.add_argument("--snapshot", type=Path, default=SNAPSHOT, help="the small DB (default tests/data/pypi-db)")
    parser.add_argument("--lookups", action="store_true", help="time raw lookups of every snapshot project instead")
    parser.add_argument("--keep", type=Path, help="build the synthetic DB here (and keep it); reused if present")
    args = parser.parse_args()
    snapshot = args.snapshot
    if not (snapshot / store.MANIFEST).exists():
        print(f"no snapshot at {snapshot}", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="mach-nix-bench-"))
    big = args.keep or workdir / "synthetic-db"
    try:
        if not (big / store.MANIFEST).exists():
            started = time.monotonic()
            manifest = build_synthetic(big, args.projects, snapshot)
            print(f"synthetic DB: {manifest['counts']['projects']} projects, {len(manifest['shards'])} shards, "
                  f"{manifest['bytes'] / 1e6:.0f} MB, built in {time.monotonic() - started:.0f}s")
        small_manifest = store.read_manifest(snapshot)
        print(f"snapshot DB: {small_manifest['counts']['projects']} projects, {len(small_manifest['shards'])} shards")
        mode = "resolve"
        measure = time_resolve
        try:
            if args.lookups:
                raise RuntimeError("--lookups given")
            time_resolve(snapshot)
        except Exception as error:  # the resolver is not usable: fall back to lookups
            print(f"not resolving ({type(error).__name__}: {error}); timing lookups instead")
            mode = "lookups"
            names = store.DatabaseLayer(snapshot).names()
            measure = lambda path: time_lookups(path, names)  # noqa: E731
        small_times, big_times = [], []
        for _ in range(args.repeat):  # interleaved, so both see the same machine state
            t, small_out = measure(snapshot)
            small_times.append(t)
            t, big_out = measure(big)
            big_times.append(t)
        small_med, big_med = statistics.median(small_times), statistics.median(big_times)
        print(f"{mode}: snapshot {small_med * 1000:.1f} ms (result {small_out}), "
              f"synthetic full-size {big_med * 1000:.1f} ms (result {big_out})")
        print(f"ratio full-size / snapshot: {big_med / small_med:.2f}x (goal <= 1.2x)")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
