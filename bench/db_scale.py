"""Does resolution cost depend on the size of the database? (issue #3, item 5)

Builds, in a temporary directory, a synthetic format-2 database of full-PyPI
size: the projects of the test snapshot (``tests/data/pypi-db``, copied
record by record) plus ~700k generated filler projects with a realistic size
distribution (most projects have a handful of releases, a long tail has
hundreds; 15 % are binary projects with per-platform wheels), sized like
PyPI's totals (~10 releases per project, ~2.2 files per release). Members are
encoded by ``mach_nix.db.codec.project_bytes``; both parts, the dependency
graph and the file index, are sharded and listed in ``shards.json`` as
``store.write_database`` does (which would hold 700k projects in memory: this
writer generates them shard by shard, in parallel), and ``verify`` checks the
result with the reader. At full size the build takes ~4 minutes on 2 cores
and ~2.3 GB of disk. Then it times,
against the snapshot alone and against the synthetic DB, each in a fresh
``open_database`` (cold reader caches), runs interleaved:

* ``resolve``: a lock of 11 requirements (resolution over the graph, then the
  file index of the chosen artifacts);
* ``resolve-graph``: the same resolution without the file index (what
  ``mach-nix resolve`` shows);
* ``lookups``: ``project(name)`` of every snapshot project (graph only);
* ``details``: ``project(name, details=True)`` of every snapshot project
  (graph and file index).

It prints the medians, their ratios (goal: within 1.2x), and the synthetic
DB's graph and file-index sizes: a measured estimate of a full-PyPI database.

Usage::

    python bench/db_scale.py                    # 700k projects
    python bench/db_scale.py --projects 100000 --repeat 5 --keep /tmp/big-db
    python bench/db_scale.py --keep /tmp/big-db --report big.json   # reuse, JSON figures
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import random
import shutil
import statistics
import string
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "resolver"))

from mach_nix.db import (  # noqa: E402
    codec,
    store,  # noqa: E402
    writer,
)
from mach_nix.db import format as db_format  # noqa: E402
from mach_nix.db.model import DistFile, Failure, Metadata, Project, Release  # noqa: E402

SNAPSHOT = ROOT / "tests" / "data" / "pypi-db"
REQUIREMENTS = [
    "requests[socks]",
    "flask==1.0",
    "black",
    "boto3",
    "python-dateutil",
    "pdfminer.six",
    "ruamel.yaml",
    "zope.interface",
    "Pillow",
    "greenlet",
    "dask[complete]==2.22.0",
]

# --------------------------------------------------------------------------- synthetic records

CONSONANTS = "bcdfghjklmnprstvwxz"
VOWELS = "aeiouy"
#: Requires-Python values (weights) of synthetic projects.
REQUIRES_PYTHON = [
    (None, 30),
    (">=3.6", 10),
    (">=3.7", 15),
    (">=3.8", 20),
    (">=3.9", 10),
    (">=3.10", 5),
    (">=2.7, !=3.0.*, !=3.1.*, !=3.2.*, !=3.3.*", 10),
]
#: Platform tags of binary wheels (all in the platform scope).
PLATFORMS = [
    "manylinux_2_17_x86_64.manylinux2014_x86_64",
    "manylinux_2_17_aarch64.manylinux2014_aarch64",
    "macosx_10_9_x86_64",
    "macosx_11_0_arm64",
    "musllinux_1_1_x86_64",
    "macosx_10_9_universal2",
]
PYTHONS = ["cp38", "cp39", "cp310", "cp311", "cp312", "cp313"]
SKIPPED = (
    "PKG-INFO is older than Metadata-Version 2.2 or declares Requires-Dist Dynamic, and the PEP 517 "
    "hook was not run (--hooks no-wheel, the release has wheels)"
)
HOOK_ERRORS = [
    "the PEP 517 hook failed: ModuleNotFoundError: No module named 'numpy'",
    "the PEP 517 hook failed: SyntaxError: multiple exception types must be parenthesized",
    "the PEP 517 hook failed: error: Microsoft Visual C++ 14.0 or greater is required",
]
EPOCH_2005 = 1104537600
YEAR = 365 * 86400


def synthetic_names(count: int, taken: set[str], seed: int) -> list[str]:
    """``count`` distinct, normalised, PyPI-like names (1-3 words, ~12 characters) not in ``taken``."""
    rng = random.Random(seed)
    names: list[str] = []
    seen = set(taken)

    def word() -> str:
        return "".join(rng.choice(CONSONANTS) + rng.choice(VOWELS) for _ in range(rng.randint(2, 4)))

    while len(names) < count:
        name = "-".join(word() for _ in range(rng.choice((1, 1, 2, 2, 3))))
        if rng.random() < 0.2:
            name = rng.choice(("py", "django-", "flask-", "pytest-", "python-")) + name
        if name in seen:
            name += rng.choice(string.digits)
            if name in seen:
                continue
        seen.add(name)
        names.append(name)
    return names


def _weighted(rng: random.Random, choices: Sequence[tuple[Any, int]]) -> Any:
    return rng.choices([c for c, _ in choices], weights=[w for _, w in choices])[0]


def _stamp(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def synthetic_project(name: str, popular: Sequence[str]) -> Project:
    """One filler project, as the crawler would produce it (records of ``mach_nix.db.model``).

    Deterministic per name. Versions ascend in PEP 440 order; dependencies and
    ``Requires-Python`` drift from release to release; binary projects get
    per-Python, per-platform wheels, more of them in recent releases; sdists of
    releases with wheels are mostly ``skipped`` failures, as in the snapshot.
    """
    rng = random.Random(f"synthetic:{name}")
    n_releases = min(2000, max(1, int(rng.lognormvariate(1.65, 1.2))))  # median ~5, mean ~10, long tail
    binary = rng.random() < 0.15
    wheel_name = name.replace("-", "_")
    sdist_name = wheel_name if rng.random() < 0.5 else name
    platforms = rng.sample(PLATFORMS, rng.randint(2, 3)) if binary else []
    requires_python = _weighted(rng, REQUIRES_PYTHON)
    deps = [f"{rng.choice(popular)}>={rng.randint(0, 3)}.{rng.randint(0, 20)}" for _ in range(rng.randrange(7))]
    extras: tuple[str, ...] = ()
    extra_deps: list[str] = []
    if rng.random() < 0.2:
        extras = ("test", "docs") if rng.random() < 0.5 else ("test",)
        extra_deps = [f'{rng.choice(popular)}; extra == "{e}"' for e in extras]
    build = (
        ("setuptools>=40.8.0",)
        if rng.random() < 0.5
        else (rng.choice(("hatchling", "flit_core>=3.2,<4", "poetry-core>=1.0.0", "setuptools>=61")),)
    )
    start = EPOCH_2005 + rng.randrange(18 * YEAR)
    span = max(86400, (EPOCH_2005 + 20 * YEAR - start) // (n_releases + 1))
    major, minor, patch = rng.choice((0, 0, 1)), rng.randrange(10), 0
    now = start
    releases: dict[str, Release] = {}

    def details() -> tuple[str, int, str, str]:
        """sha256, size, upload time, URL path of one file."""
        nonlocal now
        now += rng.randrange(1, 120)
        digest = rng.randbytes(32).hex()
        size = int(rng.lognormvariate(14 if binary else 11.5, 1.2))
        return rng.randbytes(32).hex(), size, _stamp(now), f"{digest[:2]}/{digest[2:4]}/{digest[4:]}"

    for index in range(n_releases):
        # evolve the project: version, dependencies, Requires-Python
        step = rng.random()
        pre = ""
        if index:
            if step < 0.05:
                major, minor, patch = major + 1, 0, 0
                pre = "rc1" if rng.random() < 0.2 else ""
            elif step < 0.3:
                minor, patch = minor + 1, 0
            else:
                patch += 1
        if rng.random() < 0.15 and deps:  # a bumped or a dropped dependency
            deps = deps[:]
            slot = rng.randrange(len(deps))
            if rng.random() < 0.3:
                del deps[slot]
            else:
                deps[slot] = f"{rng.choice(popular)}>={rng.randint(0, 9)}.{rng.randint(0, 30)}"
        elif rng.random() < 0.05:  # a new one
            deps = deps + [f"{rng.choice(popular)}>={rng.randint(0, 9)}.0"]
        if rng.random() < 0.02:
            requires_python = _weighted(rng, REQUIRES_PYTHON)
        now += rng.randrange(span // 4, span * 2)
        age = (now - EPOCH_2005) / (20 * YEAR)  # 0 (2005) .. 1 (2025): later releases have more wheels
        requires_dist = (*deps, *extra_deps)
        for final in (pre, "") if pre else ("",):
            version = f"{major}.{minor}.{patch}{final}"
            yanked = None if rng.random() > 0.003 else rng.choice(("", "broken release"))
            files: list[DistFile] = []
            failures: list[Failure] = []
            metadata: list[Metadata] = []
            if binary:
                pythons = PYTHONS[max(0, int(age * 6) - 2) : max(1, int(age * 6))]
                tags = [f"{py}-{py}-{plat}" for py in pythons for plat in platforms]
            else:
                tags = ["py3-none-any"] if rng.random() < age * 0.85 else []
            if tags:
                metadata.append(Metadata(requires_dist, requires_python, extras, None, "wheel"))
                files.extend(
                    DistFile(f"{wheel_name}-{version}-{tag}.whl", *details(), requires_python, yanked, 0)
                    for tag in tags
                )
            if not tags or rng.random() < 0.93:
                sdist = f"{sdist_name}-{version}.tar.gz"
                meta: int | None = None
                if tags and rng.random() < 0.8:
                    failures.append(Failure(sdist, "skipped", SKIPPED))
                elif not tags and rng.random() < 0.06:
                    failures.append(Failure(sdist, "hook-error", rng.choice(HOOK_ERRORS)))
                else:
                    source = "pkg-info" if rng.random() < 0.6 else "pep517"
                    metadata.append(Metadata(requires_dist, requires_python, extras, build, source))
                    meta = len(metadata) - 1
                files.append(DistFile(sdist, *details(), requires_python, yanked, meta))
            files.sort(key=lambda f: f.filename)
            releases[version] = Release(version, tuple(files), tuple(metadata), tuple(failures))
    return Project(name=name, releases=releases, last_serial=rng.randrange(10**8))


# --------------------------------------------------------------------------- writer

#: Set in the parent before the worker processes fork (names, popular dependency names, snapshot members).
_SHARED: dict[str, Any] = {}


def _write_pair(directory: Path, key: str, members: list[tuple[str, bytes]]) -> dict[str, Any]:
    """Write one shard as ``writer._write_shards`` does (without fsync: a throwaway benchmark DB)."""
    idx_lines = []
    dat = bytearray()
    for name, member in members:
        idx_lines.append(f"{name}\t{len(dat)}\t{len(member)}\n")
        dat += member
    idx = "".join(idx_lines).encode()
    (directory / f"{key}.idx").write_bytes(idx)
    (directory / f"{key}.dat").write_bytes(bytes(dat))
    return {
        "projects": len(members),
        "idx_sha256": hashlib.sha256(idx).hexdigest(),
        "dat_sha256": hashlib.sha256(dat).hexdigest(),
        "bytes": len(idx) + len(dat),
    }


def _build_shard(key: str) -> tuple[str, dict[str, Any], dict[str, dict[str, Any]], dict[str, int], dict[str, int]]:
    """Generate and write graph shard ``key`` and its 16 file-index shards (worker process)."""
    names: list[str] = _SHARED["by_shard"][key]
    real: dict[str, tuple[bytes, bytes]] = _SHARED["real"]
    directory: Path = _SHARED["dir"]
    files_prefix: int = _SHARED["files_prefix"]
    graph_members = []
    file_members: dict[str, list[tuple[str, bytes]]] = {}
    tally: dict[str, int] = {"projects": 0, "releases": 0, "files": 0, "failures": 0}
    kinds: dict[str, int] = {}
    for name in names:  # sorted
        if name in real:
            graph, files = real[name]
            tally["projects"] += 1
        else:
            project = synthetic_project(name, _SHARED["popular"])
            graph, files = codec.project_bytes(project, _SHARED["zdict"])
            writer.count_project(project, tally, kinds)
        graph_members.append((name, graph))
        file_members.setdefault(db_format.name_hash(name)[:files_prefix], []).append((name, files))
    entry = _write_pair(directory, key, graph_members)
    files_entries = {k: _write_pair(directory / db_format.FILES_DIR, k, file_members[k]) for k in sorted(file_members)}
    return key, entry, files_entries, tally, kinds


def build_synthetic(
    path: Path, filler: int, small_db: Path = SNAPSHOT, seed: int = 1, jobs: int | None = None
) -> dict[str, Any]:
    """Write the snapshot's projects + ``filler`` generated ones as a format-2 DB at ``path``.

    Returns the manifest (as ``store.write_database`` would write it).
    """
    snapshot = store.DatabaseLayer(small_db)
    real_projects = {name: snapshot.project(name, details=True) for name in snapshot.names()}
    names = synthetic_names(filler, set(real_projects), seed)
    rng = random.Random(seed + 1)
    # dependencies point at existing projects, a few popular ones most often
    popular = [n for n in rng.sample(names, min(len(names), 5000))] + list(real_projects)
    popular = [popular[min(len(popular) - 1, int(rng.paretovariate(1.0)) - 1)] for _ in range(20000)] + popular
    # the graph's preset dictionary, chosen as codec.train_dictionary does over the whole DB
    # (small projects in name-hash order), generating only the projects it looks at
    sample: dict[str, bytes] = {}
    size = 0
    for name in sorted([*names, *real_projects], key=db_format.name_hash):
        project = real_projects.get(name) or synthetic_project(name, popular)
        data = db_format.dumps(codec.encode_project(project)).encode()
        if len(data) <= db_format.ZDICT_SAMPLE_MAX:
            sample[name] = data
            size += len(data)
            if size >= db_format.ZDICT_SIZE:
                break
    zdict = codec.train_dictionary(sample)
    real: dict[str, tuple[bytes, bytes]] = {}
    base = {"projects": 0, "releases": 0, "files": 0, "failures": 0}
    base_kinds: dict[str, int] = {}
    for name, project in real_projects.items():
        assert project is not None
        real[name] = codec.project_bytes(project, zdict)
        writer.count_project(project, base, base_kinds)
    total = len(real) + filler
    prefix = db_format.prefix_length_for(total)
    files_prefix = prefix + db_format.FILES_PREFIX_EXTRA
    by_shard: dict[str, list[str]] = {}
    for name in [*names, *real]:
        by_shard.setdefault(db_format.name_hash(name)[:prefix], []).append(name)
    for members in by_shard.values():
        members.sort()

    path.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".gen-tmp-", dir=path))
    (tmp / db_format.FILES_DIR).mkdir()
    (tmp / db_format.ZDICT_FILE).write_bytes(zdict)
    _SHARED.update(by_shard=by_shard, real=real, dir=tmp, files_prefix=files_prefix, popular=popular, zdict=zdict)
    graph_table: dict[str, Any] = {}
    files_table: dict[str, Any] = {}
    counts = {"projects": 0, "releases": base["releases"], "files": base["files"], "failures": base["failures"]}
    kinds = dict(base_kinds)
    started = time.monotonic()
    keys = sorted(by_shard)
    jobs = jobs or os.cpu_count() or 1
    context = multiprocessing.get_context("fork")
    with context.Pool(jobs) as pool:
        for done, (key, entry, files_entries, tally, shard_kinds) in enumerate(
            pool.imap_unordered(_build_shard, keys, chunksize=8)
        ):
            graph_table[key] = entry
            files_table.update(files_entries)
            for k, v in tally.items():
                counts[k] += v
            for k, v in shard_kinds.items():
                kinds[k] = kinds.get(k, 0) + v
            if done % 256 == 0:
                print(f"  {done}/{len(keys)} graph shards ({time.monotonic() - started:.0f}s)", file=sys.stderr)
    table = (json.dumps({"graph": graph_table, "files": files_table}, sort_keys=True, indent=0) + "\n").encode()
    (tmp / db_format.SHARDS_TABLE).write_bytes(table)
    table_hash = hashlib.sha256(table).hexdigest()
    generation = f"shards-{table_hash[:16]}"
    os.replace(tmp, path / generation)
    graph_bytes = sum(e["bytes"] for e in graph_table.values())
    files_bytes = sum(e["bytes"] for e in files_table.values())
    manifest = {
        "format": db_format.FORMAT_NAME,
        "format_version": db_format.FORMAT_VERSION,
        "crawl_time": "2000-01-01T00:00:00Z",
        "shard_prefix_length": prefix,
        "files_prefix_length": files_prefix,
        "shards_dir": generation,
        "graph_zdict_sha256": hashlib.sha256(zdict).hexdigest(),
        "counts": counts,
        "failures_by_kind": dict(sorted(kinds.items())),
        "bytes": {"graph": graph_bytes, "files": files_bytes, "total": graph_bytes + files_bytes},
        "crawl": {},
        "shard_counts": {"graph": len(graph_table), "files": len(files_table)},
        "shards_sha256": table_hash,
    }
    writer._write_manifest(path, manifest)
    return manifest


def verify(path: Path, samples: int = 200, seed: int = 2) -> None:
    """Check the synthetic DB with the real reader: manifest, ``shards.json`` hash, two shards'
    hashes, and that sampled projects re-encode (``codec.project_bytes``) to the stored bytes."""
    layer = store.DatabaseLayer(path)  # validates the manifest
    table = layer.shard_table  # checks shards_sha256
    generation = path / layer.manifest["shards_dir"]
    for part, directory in (("graph", generation), ("files", generation / db_format.FILES_DIR)):
        key = sorted(table[part])[len(table[part]) // 2]
        for suffix in ("idx", "dat"):
            digest = hashlib.sha256((directory / f"{key}.{suffix}").read_bytes()).hexdigest()
            assert digest == table[part][key][f"{suffix}_sha256"], (part, key, suffix)
    names = layer.names()
    assert len(names) == layer.manifest["counts"]["projects"]
    rng = random.Random(seed)
    for name in rng.sample(names, min(samples, len(names))):
        project = layer.project(name, details=True)
        assert project is not None
        graph_key = db_format.shard_of(name, layer.manifest["shard_prefix_length"])
        offset, length = layer._shard_index(graph_key)[name]
        with open(generation / f"{graph_key}.dat", "rb") as handle:
            handle.seek(offset)
            stored_graph = handle.read(length)
        files_key = db_format.shard_of(name, layer.manifest["files_prefix_length"])
        files_idx = generation / db_format.FILES_DIR / f"{files_key}.idx"
        offset, length = layer._parse_index(files_idx, table["files"][files_key]["idx_sha256"])[name]
        with open(generation / db_format.FILES_DIR / f"{files_key}.dat", "rb") as handle:
            handle.seek(offset)
            stored_files = handle.read(length)
        graph, files = codec.project_bytes(project, layer.zdict)
        assert graph == stored_graph, f"graph of {name} does not round-trip"
        assert db_format.decompress(files) == db_format.decompress(stored_files), (
            f"file index of {name} does not round-trip"
        )


# --------------------------------------------------------------------------- timing


def time_resolve(db_path: Path, artifacts: bool = True) -> tuple[float, str]:
    """Seconds to lock REQUIREMENTS against ``db_path`` (fresh reader).

    ``artifacts=False``: resolution only (the graph); otherwise also the file
    index of the chosen artifacts, as ``mach-nix lock`` does.
    """
    from mach_nix.resolution.resolve import resolve
    from mach_nix.target import Target

    db = store.open_database([db_path])
    start = time.perf_counter()
    lock = resolve(
        REQUIREMENTS, Target.create("3.11", "x86_64-linux"), {"_default": "wheel,sdist"}, db, artifacts=artifacts
    )
    elapsed = time.perf_counter() - start
    return elapsed, f"{len(lock.packages)} packages"


def time_lookups(db_path: Path, names: list[str], details: bool) -> tuple[float, str]:
    """Seconds to look up every name in ``names`` (fresh reader)."""
    db = store.open_database([db_path])
    start = time.perf_counter()
    found = 0
    for name in names:
        project = db.project(name, details=details)
        if project is not None:
            found += 1
            if details:  # make the lazy releases decode, with their file records
                for release in project.releases.values():
                    release.files  # noqa: B018
    return time.perf_counter() - start, f"{found} found"


def main() -> int:
    """Build (or reuse) the synthetic DB, run the measurements interleaved, print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--projects", type=int, default=700_000, help="filler projects (default 700000)")
    parser.add_argument("--repeat", type=int, default=5, help="measurements per DB (default 5; median used)")
    parser.add_argument("--snapshot", type=Path, default=SNAPSHOT, help="the small DB (default tests/data/pypi-db)")
    parser.add_argument("--jobs", type=int, default=None, help="generator processes (default: CPU count)")
    parser.add_argument(
        "--measure",
        default="resolve,resolve-graph,lookups,details",
        help="comma-separated subset of resolve,resolve-graph,lookups,details (default: all)",
    )
    parser.add_argument("--keep", type=Path, help="build the synthetic DB here (and keep it); reused if present")
    parser.add_argument("--report", type=Path, help="also write the figures as JSON to this file")
    args = parser.parse_args()
    snapshot = args.snapshot
    if not (snapshot / db_format.MANIFEST).exists():
        print(f"no snapshot at {snapshot}", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="mach-nix-bench-"))
    big = args.keep or workdir / "synthetic-db"
    report: dict[str, Any] = {}
    try:
        if not (big / db_format.MANIFEST).exists():
            started = time.monotonic()
            build_synthetic(big, args.projects, snapshot, jobs=args.jobs)
            report["build_seconds"] = round(time.monotonic() - started)
            verify(big)
            print(f"built and verified in {report['build_seconds']}s")
        small_manifest = store.read_manifest(snapshot)
        big_manifest = store.read_manifest(big)
        for label, manifest in (("snapshot", small_manifest), ("synthetic", big_manifest)):
            counts, sizes = manifest["counts"], manifest["bytes"]
            print(
                f"{label} DB: {counts['projects']} projects, {counts['releases']} releases, {counts['files']} files; "
                f"graph {sizes['graph']} B in {manifest['shard_counts']['graph']} shards "
                f"({sizes['graph'] / counts['files']:.1f} B/file, "
                f"{sizes['graph'] / counts['releases']:.1f} B/release), "
                f"file index {sizes['files']} B in {manifest['shard_counts']['files']} shards "
                f"({sizes['files'] / counts['files']:.1f} B/file)"
            )
            report[label] = {"counts": counts, "bytes": sizes, "shard_counts": manifest["shard_counts"]}
        names = store.DatabaseLayer(snapshot).names()
        measures = {
            "resolve": time_resolve,
            "resolve-graph": lambda path: time_resolve(path, artifacts=False),
            "lookups": lambda path: time_lookups(path, names, details=False),
            "details": lambda path: time_lookups(path, names, details=True),
        }
        wanted = [m for m in args.measure.split(",") if m]
        unknown = [m for m in wanted if m not in measures]
        if unknown:
            parser.error(f"unknown --measure {', '.join(unknown)}")
        times: dict[str, tuple[list[float], list[float]]] = {m: ([], []) for m in wanted}
        results: dict[str, tuple[str, str]] = {}
        for _ in range(args.repeat):  # interleaved, so both DBs see the same machine state
            for mode in wanted:
                t_small, small_out = measures[mode](snapshot)
                t_big, big_out = measures[mode](big)
                times[mode][0].append(t_small)
                times[mode][1].append(t_big)
                results[mode] = (small_out, big_out)
        report["timings"] = {}
        for mode in wanted:
            small_med, big_med = statistics.median(times[mode][0]), statistics.median(times[mode][1])
            ratio = big_med / small_med
            print(
                f"{mode}: snapshot {small_med * 1000:.1f} ms ({results[mode][0]}), "
                f"synthetic {big_med * 1000:.1f} ms ({results[mode][1]}), ratio {ratio:.2f}x (goal <= 1.2x)"
            )
            report["timings"][mode] = {
                "snapshot_ms": round(small_med * 1000, 1),
                "synthetic_ms": round(big_med * 1000, 1),
                "ratio": round(ratio, 3),
            }
        if args.report:
            args.report.write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
