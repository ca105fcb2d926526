"""The published database (issue 11), on loopback only.

A loopback registry of 2,000 generated projects (plus six, mirrored from the snapshot with
its real hashes); one ``LocalCluster`` of 2 worker processes shared by the tests. Checked:
``db crawl --all`` on the cluster writes the bytes a single process writes; a worker
killed mid-crawl costs only its partition's progress and the run completes identically;
``db update`` reads pages only of projects whose root-index serial changed; ``db publish``
and ``db pin``; and Nix fetches the published release over HTTP and builds against it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dask.distributed import Client as DaskClient
from dask.distributed import LocalCluster
from packaging.requirements import Requirement

from fakeregistry import FakeRegistry, Server, synthetic
from mach_nix.db import store
from mach_nix.db.crawl import Crawler, CrawlOptions
from mach_nix.db.distributed import crawl_all
from mach_nix.db.publish import publish, unpack
from mach_nix.db.reader import DatabaseLayer
from nixhelpers import CLI, REPO
from static_site import serve_directory

SNAPSHOT = REPO / "tests" / "data" / "pypi-db"
PROJECTS = 2000
TIME = "2024-01-01T00:00:00Z"
EPOCH = "1704067200"  # TIME as SOURCE_DATE_EPOCH (what the CLI records)
OPTIONS = CrawlOptions(progress=False, concurrency=16, crawl_time=TIME)


def tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[FakeRegistry, Server]]:
    registry = synthetic(PROJECTS, seed=11, max_releases=3)
    registry.add_from_database(DatabaseLayer(SNAPSHOT), ["six"])
    with registry.serve() as server:
        yield registry, server


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=50
    ) as local:
        yield local


@pytest.fixture(scope="module")
def crawled(
    tmp_path_factory: pytest.TempPathFactory, served: tuple[FakeRegistry, Server], cluster: LocalCluster
) -> Path:
    """The registry crawled with ``--all`` on the 2-worker cluster."""
    db = tmp_path_factory.mktemp("cluster") / "db"
    summary = crawl_all(db, OPTIONS, client=served[1].client(), scheduler=cluster.scheduler_address)
    assert summary.projects_total == PROJECTS + 1 and summary.partitions == 16
    assert {r.key for r in summary.results} == {f"{i:x}" for i in range(16)}
    return db


def test_a_cluster_crawl_writes_what_one_process_writes(
    tmp_path: Path, crawled: Path, served: tuple[FakeRegistry, Server]
) -> None:
    single = tmp_path / "single"
    Crawler(single, OPTIONS, client=served[1].client()).run(
        (), closure=False, plain=[Requirement(n) for n in served[0].projects]
    )
    manifest, reference = store.read_manifest(crawled), store.read_manifest(single)
    assert manifest["shards_dir"] == reference["shards_dir"]  # the generation is named by its content
    assert tree(crawled / manifest["shards_dir"]) == tree(single / reference["shards_dir"])
    assert {k: v for k, v in manifest.items() if k != "crawl"} == {k: v for k, v in reference.items() if k != "crawl"}
    assert manifest["crawl"] == {"all": True, "hooks": "no-wheel", "policy": "hooks=no-wheel,max-sdist-mb=100"}
    assert not (crawled / ".partial").exists()


def test_a_worker_killed_mid_crawl_costs_only_its_partition_progress(
    tmp_path: Path, crawled: Path, served: tuple[FakeRegistry, Server], cluster: LocalCluster
) -> None:
    db = tmp_path / "db"
    env = {**os.environ, **served[1].env(), "SOURCE_DATE_EPOCH": EPOCH}
    cmd = [*CLI, "db", "crawl", "--db", str(db), "--all", "--scheduler", cluster.scheduler_address, "--no-progress"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    work = db / ".partial" / "partitions"
    deadline = time.monotonic() + 60
    killed = False
    with DaskClient(cluster.scheduler_address) as dask:
        pids = dask.run(os.getpid)
        while time.monotonic() < deadline and proc.poll() is None and not killed:
            started = {j.parent.parent.name for j in work.glob("*/.partial/journal.jsonl") if j.stat().st_size > 3000}
            for worker, keys in dask.processing().items():
                if any(str(key).rsplit("-", 1)[-1] in started for key in keys):
                    os.kill(pids[worker], signal.SIGKILL)  # it dies in the middle of a partition
                    killed = True
                    break
            time.sleep(0.02)
    out, err = proc.communicate(timeout=240)
    assert killed, "the crawl ended before a worker could be killed"
    assert proc.returncode == 0, err
    reused = int(out.split(" extracted now, ")[1].split(" reused")[0])
    assert reused > 0  # the partition was resumed from its journal, not started over
    assert tree(db) == tree(crawled)


def test_publish_and_pin(tmp_path: Path, crawled: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    with serve_directory(site) as base:
        pin = publish(crawled, site, base + "/")
        assert pin["url"].startswith(base + "/pypi-data-")
        assert pin["counts"] == store.read_manifest(crawled)["counts"]
        assert json.loads((site / "pypi-data.json").read_text()) == pin
        # deterministic: publishing again gives the same tarball
        assert publish(crawled, site, base)["sha256"] == pin["sha256"]

        pin_file = tmp_path / "project" / "pypi-data.json"
        pin_file.parent.mkdir()
        result = subprocess.run(
            [*CLI, "db", "pin", "--url", base + "/pypi-data.json", "--file", str(pin_file)],
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stderr
        assert json.loads(pin_file.read_text()) == pin

        # the release is a graph-only database whose file index is fetched from the site, checked
        unpacked = tmp_path / "unpacked"
        unpack((site / pin["url"].rsplit("/", 1)[1]).read_bytes(), unpacked)
        db = store.open_database([unpacked / "pypi-data"], files_cache=[tmp_path / "cache"], fetch=True)
        six = db.project("six", details=True)
        reference = store.open_database([crawled]).project("six", details=True)
        assert six is not None and reference is not None and six.releases == reference.releases
        assert not (unpacked / "pypi-data" / store.read_manifest(crawled)["shards_dir"] / "files").exists()

        # a damaged release is refused, and the pin file is left as it was
        tarball = site / pin["url"].rsplit("/", 1)[1]
        tarball.write_bytes(tarball.read_bytes()[:-10])
        result = subprocess.run(
            [*CLI, "db", "pin", "--url", base + "/pypi-data.json", "--file", str(pin_file)],
            capture_output=True,
            text=True,
        )
        assert result.returncode == 2 and "does not have the sha256" in result.stderr
        assert json.loads(pin_file.read_text()) == pin


@pytest.mark.nix
def test_nix_fetches_the_published_release_and_builds_against_it(
    tmp_path: Path, crawled: Path, nix, pkgs_expr: str
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    with serve_directory(site) as base:
        pin = publish(crawled, site, base)
        # `import mach-nix { }` uses the release its pin file names: a checkout with pypi-data.json
        checkout = tmp_path / "mach-nix"
        for part in ("lib", "overrides", "resolver"):
            shutil.copytree(REPO / part, checkout / part, ignore=shutil.ignore_patterns("__pycache__"))
        for part in ("default.nix", "VERSION"):
            shutil.copy(REPO / part, checkout / part)
        (checkout / "pypi-data.json").write_text(json.dumps(pin))
        lock = nix.eval_json(
            f"""let pkgs = {pkgs_expr}; machNix = import {checkout} {{ inherit pkgs; }};
            in (machNix.mkPython {{ requirements = "syn-01999"; }}).lock.packages"""
        )
        assert "syn-01999" in lock  # a project only the published release has
        # pypiData = fetchPypiData { url; sha256; } in any mach-nix; the environment builds and imports
        env = nix.build(
            f"""let pkgs = {pkgs_expr}; machNix = import {REPO} {{ inherit pkgs; }};
            in machNix.mkPython {{
              requirements = "six";
              pypiData = machNix.fetchPypiData {{ url = "{pin["url"]}"; sha256 = "{pin["sha256"]}"; }};
            }}"""
        )
    code = "import six; print(six.__version__)"
    out = subprocess.run([f"{env}/bin/python", "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip(), out.stderr


def test_update_reads_only_the_pages_of_changed_projects(
    tmp_path: Path, crawled: Path, served: tuple[FakeRegistry, Server], cluster: LocalCluster
) -> None:
    registry, server = served
    db = tmp_path / "db"
    shutil.copytree(crawled, db)
    before = DatabaseLayer(db)
    kept = {name: before.raw(name) for name in ("syn-01234", "six")}
    registry.add("syn-00007", "99.0", ["syn-00001>=1"])
    registry.bump("syn-00007")
    registry.bump("syn-00500")  # a serial change without a new file (a yank, a description edit)
    registry.add("brand-new", "1.0", ["six"])
    hits = {k: v for k, v in registry.hits.items() if k.startswith("/simple/")}
    summary = crawl_all(db, OPTIONS, client=server.client(), scheduler=cluster.scheduler_address, update=True)
    pages = {k: v - hits.get(k, 0) for k, v in registry.hits.items() if k.startswith("/simple/")}
    # the root index, the two changed projects, the new one, and six: its files that the mirror
    # does not serve are download failures, retried whatever the serial (docs/db-format.md §3.4)
    changed = {"/simple/", "/simple/syn-00007/", "/simple/syn-00500/", "/simple/brand-new/", "/simple/six/"}
    assert {k for k, v in pages.items() if v} == changed
    assert summary.fetched == 4 and summary.unchanged == PROJECTS - 2
    after = DatabaseLayer(db)
    new = after.project("syn-00007")
    assert new is not None and new.releases["99.0"].metadata[0].requires_dist == ("syn-00001>=1",)
    assert {name: after.raw(name) for name in kept} == kept
    assert store.read_manifest(db)["counts"]["projects"] == PROJECTS + 2
