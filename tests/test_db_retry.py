"""``mach-nix db retry``: recorded failures of chosen kinds are extracted again, nothing else moves."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from hook_helpers import WHEELS, offline_pip_args
from mach_nix.db import store
from mach_nix.db.crawl import Crawler, CrawlOptions
from mach_nix.db.model import Failure, Project, Release
from mach_nix.db.retry import retry_failures
from mach_nix.errors import UsageError
from nixhelpers import CLI
from test_hook_crawl import SdistRegistry

OPTIONS = CrawlOptions(progress=False, hooks="no-wheel", concurrency=2, hook_timeout=60)


@pytest.fixture
def local_wheels(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hook build environments from the local wheels only (no network)."""
    offline_pip_args()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(WHEELS))


def _with_old_verdict(db_dir: Path) -> None:
    """Rewrite legacy-demo 1.0 as an older crawler recorded it: a hook error, no metadata."""
    db = store.open_database([db_dir])
    projects = [p for p in (db.project(n, details=True) for n in db.names()) if p is not None]
    rewritten = []
    for project in projects:
        if project.name == "legacy-demo":
            release = project.releases["1.0"]
            files = tuple(d._replace(metadata=None) for d in release.files)
            broken = Release(
                "1.0", files, (), (Failure(files[0].filename, "hook-error", "PermissionError: '<stdlib>/Setup'"),)
            )
            project = Project(name=project.name, releases={"1.0": broken}, last_serial=project.last_serial)
        rewritten.append(project)
    manifest = db.manifest
    store.write_database(db_dir, rewritten, crawl=manifest["crawl"], crawl_time=manifest["crawl_time"])


def test_retry_recovers_the_kind_asked_for_and_moves_nothing_else(tmp_path: Path, local_wheels: None) -> None:
    db_dir = tmp_path / "db"
    Crawler(db_dir, OPTIONS, client=SdistRegistry()).run(
        [Requirement("legacy-demo"), Requirement("old-demo")], closure=False
    )
    clean = store.open_database([db_dir]).project("legacy-demo", details=True)
    _with_old_verdict(db_dir)
    before = store.open_database([db_dir])
    old_demo = before.project("old-demo", details=True)
    assert before.project("legacy-demo").releases["1.0"].metadata == ()  # type: ignore[union-attr]

    # a kind the database does not hold: nothing to do, nothing written
    summary = retry_failures(db_dir, ["timeout"], OPTIONS, client=SdistRegistry())
    assert (summary.files, summary.projects_changed) == (0, 0)

    summary = retry_failures(db_dir, ["hook-error"], OPTIONS, client=SdistRegistry())
    assert (summary.files, summary.recovered, summary.projects_changed) == (1, 1, 1)
    after = store.open_database([db_dir])
    assert after.project("legacy-demo", details=True) == clean  # as a crawl with today's hook records it
    assert after.project("old-demo", details=True) == old_demo  # python2-only: not asked for, untouched
    assert after.manifest["crawl_time"] == before.manifest["crawl_time"]
    assert after.manifest["crawl"] == before.manifest["crawl"]
    assert not (db_dir / ".partial").exists()

    # python2-only is a verdict too: retrying it gives the same verdict again
    summary = retry_failures(db_dir, ["python2-only"], OPTIONS, client=SdistRegistry())
    assert (summary.files, summary.recovered, summary.still_failing) == (1, 0, {"python2-only": 1})


def test_retry_refuses_what_it_cannot_do(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="holds no database"):
        retry_failures(tmp_path / "none", ["hook-error"], OPTIONS, client=SdistRegistry())
    with pytest.raises(UsageError, match="--kind must name failure kinds"):
        retry_failures(tmp_path / "none", ["not-crawled"], OPTIONS, client=SdistRegistry())
    proc = subprocess.run([*CLI, "db", "retry", "--db", str(tmp_path / "none")], capture_output=True, text=True)
    assert proc.returncode == 2 and "--kind" in proc.stderr
