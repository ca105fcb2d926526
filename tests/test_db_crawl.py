"""Crawling the live registry: a small closure, incremental update, and kill-and-resume."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from mach_nix.cli import build_parser, main
from mach_nix.commands.db import crawl_roots
from mach_nix.db import crawl as crawl_module
from mach_nix.db import store
from mach_nix.db.crawl import Crawler, CrawlOptions, file_version
from mach_nix.db.http import NotFound, Response
from mach_nix.db.journal import Journal
from mach_nix.db.model import DistFile, Metadata, Project, Release
from mach_nix.errors import UsageError
from mach_nix.requirements import parse_requirements_file

network = pytest.mark.network


def run_cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mach_nix", *args], capture_output=True, text=True, timeout=timeout)


def tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".partial" not in p.parts
    }


def test_file_version_and_requirements(tmp_path: Path) -> None:
    assert str(file_version("python-dateutil-2.8.2.tar.gz")) == "2.8.2"
    assert str(file_version("zope.interface-5.0.0-cp38-cp38-manylinux2010_x86_64.whl")) == "5.0.0"
    assert str(file_version("pdfminer.six-20221105.zip")) == "20221105"
    reqs = tmp_path / "r.txt"
    reqs.write_text("# comment\nrequests[socks] >=2  # trailing\n\nflask==1.0\n")
    assert [str(r) for r in crawl_roots([], [str(reqs)])] == ["requests[socks]>=2", "flask==1.0"]
    reqs.write_text("-e git+https://example.org/x\n")
    with pytest.raises(UsageError, match="is a local or VCS source: db crawl reads PyPI projects only"):
        crawl_roots([], [str(reqs)])
    with pytest.raises(UsageError, match="argument 1: invalid requirement"):
        crawl_roots(["not a requirement!"], [])


def test_db_crawl_reads_requirement_files_as_lock_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Includes, continuations, constraints and --pre: the syntax of 'lock -r', one parser for both."""
    (tmp_path / "base.txt").write_text("app \\\n  ==1.0  # pinned\n-c constraints.txt\n--pre\n")
    (tmp_path / "constraints.txt").write_text("lib<3\n")
    (tmp_path / "reqs.txt").write_text("-r base.txt\n--requirement=more.txt\n")
    (tmp_path / "more.txt").write_text("other[extra]>=1 ; python_version >= '3.8'\n")
    registry = FakeRegistry(
        {"app": {"1.0": ["lib==2.0"]}, "lib": {"2.0": []}, "other": {"1.0": []}, "unrelated": {"1.0": []}}
    )
    original = crawl_module.Crawler
    monkeypatch.setattr(
        crawl_module, "Crawler", lambda db_dir, opts=None, client=None: original(db_dir, opts, client=registry)
    )
    lock_inputs = parse_requirements_file(tmp_path / "reqs.txt")
    assert [str(r) for r in crawl_roots([], [str(tmp_path / "reqs.txt")])] == [
        str(r.requirement) for r in lock_inputs.requirements
    ]
    for spelling in ("-r", "--requirement", "--requirements"):
        db = tmp_path / f"db{spelling}"
        argv = ["db", "crawl", "--db", str(db), spelling, str(tmp_path / "reqs.txt"), "--closure", "--no-progress"]
        assert main(argv) == 0
        assert store.open_database([db]).names() == ["app", "lib", "other"]
        roots = store.read_manifest(db)["crawl"]["roots"]
        assert [r["requirement"] for r in roots] == ["app==1.0", 'other[extra]>=1; python_version >= "3.8"']


def test_every_command_takes_both_spellings_of_the_requirement_option() -> None:
    parser = build_parser()
    for spelling in ("-r", "--requirement", "--requirements"):
        for command in (["lock"], ["resolve"], ["env", "DIR"], ["db", "crawl", "--db", "DIR"]):
            assert parser.parse_args([*command, spelling, "reqs.txt"]).requirements == ["reqs.txt"]


@network
def test_crawl_closure_of_a_small_project(tmp_path: Path) -> None:
    db_dir = tmp_path / "db"
    crawler = Crawler(db_dir, CrawlOptions(progress=False, hooks="never", concurrency=8))
    from packaging.requirements import Requirement

    summary = crawler.run([Requirement("pyproject-hooks==1.0.0")], closure=True)
    db = store.open_database([db_dir])
    assert db.names() == ["pyproject-hooks", "tomli"]  # tomli: python_version < "3.11" holds for 3.8-3.10
    hooks = db.project("Pyproject_Hooks", details=True)
    assert hooks is not None and "1.0.0" in hooks.releases and len(hooks.releases) > 3  # all history
    release = hooks.releases["1.0.0"]
    wheel = next(f for f in release.files if f.is_wheel)
    meta = release.metadata_of(wheel)
    assert meta is not None and meta.source in ("wheel", "pep658")
    assert any(r.startswith("tomli") for r in meta.requires_dist)
    assert wheel.sha256 is not None and wheel.url is not None and wheel.url_path is not None
    assert len(wheel.sha256) == 64 and wheel.url.startswith("https://files.pythonhosted.org/packages/")
    assert wheel.url_path.count("/") == 2 and wheel.url.endswith("/" + wheel.filename)
    assert summary.failures == db.manifest["failures_by_kind"]
    assert db.manifest["crawl"]["roots"] == [{"requirement": "pyproject-hooks==1.0.0", "closure": True}]
    assert not (db_dir / ".partial").exists()

    # update with nothing changed on PyPI: no file is extracted, bytes identical apart from crawl_time
    before = tree_digest(db_dir)
    os.environ["SOURCE_DATE_EPOCH"] = "1700000000"
    try:
        result = run_cli("db", "update", "--db", str(db_dir), "--no-progress", "--hooks", "never")
    finally:
        del os.environ["SOURCE_DATE_EPOCH"]
    assert result.returncode == 0, result.stderr
    assert "0 extracted now" in result.stdout and "2 unchanged" in result.stdout
    after = tree_digest(db_dir)
    assert {k: v for k, v in before.items() if k != "manifest.json"} == {
        k: v for k, v in after.items() if k != "manifest.json"
    }


def fake_old_db(db_dir: Path) -> None:
    """A DB holding one made-up release of resolvelib with serial 0: an update must refetch."""
    fake = Release(
        "0.0.1",
        (DistFile("resolvelib-0.0.1.tar.gz", "0" * 64, 1, "2000-01-01T00:00:00Z", "00/00/" + "0" * 60, None, None, 0),),
        (Metadata(source="pkg-info", build_requires=()),),
    )
    store.write_database(
        db_dir,
        [Project("resolvelib", {"0.0.1": fake}, 0)],
        crawl={"roots": [{"requirement": "resolvelib", "closure": False}], "hooks": "never"},
    )


@network
def test_update_killed_part_way_keeps_old_db_and_resumes(tmp_path: Path) -> None:
    db_dir = tmp_path / "db"
    fake_old_db(db_dir)
    before = tree_digest(db_dir)
    journal = db_dir / ".partial" / "journal.jsonl"
    cmd = [
        sys.executable,
        "-m",
        "mach_nix",
        "db",
        "update",
        "--db",
        str(db_dir),
        "--concurrency",
        "1",
        "--hooks",
        "never",
        "--no-progress",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    lines = 0
    while time.monotonic() < deadline and proc.poll() is None:
        if journal.exists():
            lines = len(journal.read_text().splitlines())
            if lines >= 5:
                break
        time.sleep(0.05)
    assert proc.poll() is None, "the update finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # the previous DB is intact, byte for byte, and loads
    assert tree_digest(db_dir) == before
    old = store.open_database([db_dir]).project("resolvelib")
    assert old is not None and list(old.releases) == ["0.0.1"]
    done_before_kill = len(journal.read_text().splitlines())
    assert done_before_kill >= 5

    # a rerun resumes from the journal and completes
    result = run_cli("db", "update", "--db", str(db_dir), "--hooks", "never", "--no-progress")
    assert result.returncode == 0, result.stderr
    reused = int(re.search(r"(\d+) reused", result.stdout).group(1))  # type: ignore[union-attr]
    assert reused >= done_before_kill - 1  # (a line cut by the kill is ignored)
    new = store.open_database([db_dir]).project("resolvelib")
    assert new is not None and "1.0.1" in new.releases and "0.0.1" not in new.releases
    assert not (db_dir / ".partial").exists()
    manifest = json.loads((db_dir / "manifest.json").read_text())
    assert manifest["counts"]["projects"] == 1


def test_concurrent_crawl_is_refused(tmp_path: Path) -> None:
    first = Journal(tmp_path)
    try:
        with pytest.raises(UsageError, match="another crawl"):
            Journal(tmp_path)
    finally:
        first.close(delete=True)


class FakeRegistry:
    """A registry in memory, with the two calls the crawler makes for wheels that have
    PEP 658 metadata: the simple API page and the ``.metadata`` file."""

    def __init__(self, projects: dict[str, dict[str, list[str]]]) -> None:
        self.projects = projects  # name -> version -> Requires-Dist lines
        self.requests = 0

    def simple_project(self, name: str) -> dict[str, Any] | None:
        self.requests += 1
        releases = self.projects.get(name)
        if releases is None:
            return None
        files = []
        for version in releases:
            filename = f"{name}-{version}-py3-none-any.whl"
            digest = hashlib.sha256(filename.encode()).hexdigest()
            files.append(
                {
                    "filename": filename,
                    "hashes": {"sha256": digest},
                    "size": 10,
                    "upload-time": "2020-01-01T00:00:00.000000Z",
                    "core-metadata": True,
                    "url": f"https://files.pythonhosted.org/packages/{digest[:2]}/{digest[2:4]}/{digest[4:]}/{filename}",
                }
            )
        return {"meta": {"_last-serial": 1}, "name": name, "versions": list(releases), "files": files}

    def range(self, url: str, start: int, end: int | None = None, *, size: int | None = None) -> bytes:
        raise NotFound(url)  # every file has a .metadata answer

    def request(self, url: str, headers: dict[str, str] | None = None, *, max_bytes: int | None = None) -> Response:
        self.requests += 1
        filename = url.rsplit("/", 1)[1].removesuffix(".metadata")
        name, version = filename.split("-")[:2]
        lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
        lines += [f"Requires-Dist: {dep}" for dep in self.projects[name][version]]
        return Response(200, {}, ("\n".join(lines) + "\n").encode())


def test_update_follows_the_same_closure_as_the_crawl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A refreshed project must not widen the releases --closure follows (regression:
    a requests==2.31.0 closure grew from 5 to 48 projects on 'db update')."""
    from packaging.requirements import Requirement

    registry = FakeRegistry(
        {
            "app": {"1.0": ["lib==2.0"]},
            "lib": {"1.0": ["old-dep"], "2.0": []},
            "old-dep": {"1.0": []},
        }
    )
    options = CrawlOptions(progress=False, hooks="never", concurrency=2)
    Crawler(tmp_path / "db", options, client=registry).run([Requirement("app==1.0")], closure=True)
    assert store.open_database([tmp_path / "db"]).names() == ["app", "lib"]
    original = crawl_module.Crawler
    monkeypatch.setattr(
        crawl_module, "Crawler", lambda db_dir, opts=None, client=None: original(db_dir, opts, client=registry)
    )
    crawl_module.update(tmp_path / "db", options)
    assert store.open_database([tmp_path / "db"]).names() == ["app", "lib"]
