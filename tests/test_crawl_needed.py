"""A crawler that does not waste (issue 10 item 2), against the loopback registry.

No sdist download for a release whose wheels give its metadata; ``--closure``
extracts only the versions some crawled requirement admits (a least fixpoint:
the same database whatever the order); a bounded number of projects in memory;
build environments of hooks installed once per crawl.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement

from fakeregistry import FakeRegistry, ServedFile, synthetic
from hook_helpers import WHEELS, offline_pip_args
from mach_nix.db import crawl as crawl_module
from mach_nix.db import store
from mach_nix.db.crawl import NOT_CRAWLED, SDIST_NOT_NEEDED, Crawler, CrawlOptions

BASE = CrawlOptions(progress=False, concurrency=4, crawl_time="2024-01-01T00:00:00Z")


def options(**changes: Any) -> CrawlOptions:
    """The tests' crawl options, with ``changes``."""
    return dataclasses.replace(BASE, **changes)


def tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def broken_wheel(name: str, version: str) -> ServedFile:
    """A wheel without METADATA (its metadata cannot be read)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(f"{name}/__init__.py", "")
    data = buffer.getvalue()
    return ServedFile(f"{name}-{version}-py3-none-any.whl", version, data, hashlib.sha256(data).hexdigest(), len(data))


def test_no_sdist_download_when_a_wheel_gives_the_metadata(tmp_path: Path) -> None:
    registry = FakeRegistry()
    registry.add("demo", "1.0", ["six"], sdist=True)  # wheel + sdist: the sdist is not needed
    registry.add("demo", "2.0", ["six>=2"], wheel=False, sdist=True)  # sdist only: read
    registry.add_file("demo", broken_wheel("demo", "3.0"))
    registry.add("demo", "3.0", ["six>=3"], wheel=False, sdist=True)  # the wheel gives nothing: the sdist is read
    with registry.serve() as server:
        Crawler(tmp_path / "db", options(), client=server.client()).run([Requirement("demo")], closure=False)
        assert registry.hits.get("demo-1.0.tar.gz", 0) == 0
        assert registry.hits["demo-2.0.tar.gz"] == 1 and registry.hits["demo-3.0.tar.gz"] == 1
        project = store.open_database([tmp_path / "db"]).project("demo", details=True)
        assert project is not None
        one, two, three = (project.releases[v] for v in ("1.0", "2.0", "3.0"))
        assert [(m.requires_dist, m.source) for m in one.metadata] == [(("six",), "pep658")]
        assert [(f.filename, f.kind, f.reason) for f in one.failures] == [
            ("demo-1.0.tar.gz", "skipped", SDIST_NOT_NEEDED)
        ]
        assert [(m.requires_dist, m.source) for m in two.metadata] == [(("six>=2",), "pkg-info")]
        assert [(m.requires_dist, m.source) for m in three.metadata] == [(("six>=3",), "pkg-info")]
        assert [f.kind for f in three.failures] == ["no-metadata"]

        # --hooks all reads every sdist (a new policy: the skipped one is retried)
        all_hooks = options(hooks="all")
        Crawler(tmp_path / "db", all_hooks, client=server.client()).run([Requirement("demo")], closure=False)
        assert registry.hits["demo-1.0.tar.gz"] == 1
        again = store.open_database([tmp_path / "db"]).project("demo")
        assert again is not None and [m.source for m in again.releases["1.0"].metadata] == ["pep658", "pkg-info"]


def closure_registry() -> FakeRegistry:
    registry = FakeRegistry()
    registry.add(
        "app",
        "1.0",
        [
            "lib>=2,<4",
            "win-only; sys_platform == 'win32'",
            "py2-dep; python_version < '3'",
            "extra-dep; extra == 'more'",
            "legacy",
        ],
        extras=["more"],
    )
    registry.add("lib", "1.0", ["old"]).add("lib", "2.0", ["dep==1.*"]).add("lib", "3.0", ["dep>=1.1"])
    registry.add("lib", "4.0", ["new"])
    for version in ("0.9", "1.0", "1.1", "2.0"):
        registry.add("dep", version)
    registry.add("legacy", "1.0", ["ghost"], requires_python="<3")  # runs on no target: not followed
    for name in ("old", "new", "win-only", "py2-dep", "extra-dep", "ghost"):
        registry.add(name, "1.0")
    return registry


def test_closure_extracts_only_the_versions_a_requirement_admits(tmp_path: Path) -> None:
    registry = closure_registry()
    with registry.serve() as server:
        Crawler(tmp_path / "db", options(), client=server.client()).run([Requirement("app==1.0")], closure=True)
        db = store.open_database([tmp_path / "db"])
        assert db.names() == ["app", "dep", "legacy", "lib"]

        def crawled(name: str) -> dict[str, bool]:
            project = db.project(name, details=True)
            assert project is not None
            out = {}
            for version, release in project.releases.items():
                kinds = {f.kind for f in release.failures}
                assert bool(release.metadata) != (NOT_CRAWLED in kinds)
                out[version] = bool(release.metadata)
            return out

        assert crawled("lib") == {"1.0": False, "2.0": True, "3.0": True, "4.0": False}
        assert crawled("dep") == {"0.9": False, "1.0": True, "1.1": True, "2.0": True}
        assert registry.hits.get("lib-1.0-py3-none-any.whl.metadata", 0) == 0  # never fetched
        assert "/simple/old/" not in registry.hits and "/simple/ghost/" not in registry.hits

        # the extra brings its dependency; a later crawl extracts a version it now wants, and keeps the rest
        Crawler(tmp_path / "db", options(), client=server.client()).run(
            [Requirement("app[more]==1.0"), Requirement("lib==1.0")], closure=False
        )
        db = store.open_database([tmp_path / "db"])
        assert db.names() == ["app", "dep", "legacy", "lib"]  # no closure this time
        assert crawled("lib") == {"1.0": True, "2.0": True, "3.0": True, "4.0": False}
        Crawler(tmp_path / "db", options(), client=server.client()).run([Requirement("app[more]==1.0")], closure=True)
        assert "extra-dep" in store.open_database([tmp_path / "db"]).names()


def test_a_finished_project_is_reopened_when_a_new_requirement_admits_more(tmp_path: Path) -> None:
    registry = FakeRegistry()
    registry.add("x", "1.0", ["lib==2.0"]).add("y", "1.0", ["z"]).add("z", "1.0", ["lib>=3"])
    for version in ("1.0", "2.0", "3.0"):
        registry.add("lib", version)
    with registry.serve() as server:
        serial = options(concurrency=1)
        Crawler(tmp_path / "a", serial, client=server.client()).run([Requirement("x"), Requirement("y")], closure=True)
        lib = store.open_database([tmp_path / "a"]).project("lib")
        assert lib is not None and [v for v, r in lib.releases.items() if r.metadata] == ["2.0", "3.0"]
        assert registry.hits["/simple/lib/"] == 2  # lib was done with 2.0 when z asked for >=3
        assert registry.hits["lib-2.0-py3-none-any.whl.metadata"] == 1  # its result was kept, not fetched again
        Crawler(tmp_path / "b", options(), client=server.client()).run(
            [Requirement("y"), Requirement("x")], closure=True
        )
    assert tree(tmp_path / "a") == tree(tmp_path / "b")


def test_closure_is_the_same_whatever_the_order_and_concurrency(tmp_path: Path) -> None:
    registry = synthetic(150, seed=5)
    roots = [Requirement("syn-00149"), Requirement("syn-00140[more]"), Requirement("syn-00120>=2")]
    with registry.serve() as server:
        Crawler(tmp_path / "a", options(concurrency=1), client=server.client()).run(roots, closure=True)
        Crawler(tmp_path / "b", options(concurrency=12), client=server.client()).run(roots[::-1], closure=True)
    assert tree(tmp_path / "a") == tree(tmp_path / "b")
    manifest = store.read_manifest(tmp_path / "a")
    assert 10 < manifest["counts"]["projects"] < 150 and manifest["failures_by_kind"].get(NOT_CRAWLED)


def test_projects_in_memory_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    registry = synthetic(200, seed=2)
    most = 0
    original = crawl_module._CrawlRun.maybe_finish

    def watch(self: crawl_module._CrawlRun, item: crawl_module._Pending) -> None:
        nonlocal most
        most = max(most, len(self.pending), self.in_flight)
        original(self, item)

    monkeypatch.setattr(crawl_module._CrawlRun, "maybe_finish", watch)
    with registry.serve() as server:
        summary = Crawler(tmp_path / "db", options(concurrency=2), client=server.client()).run(
            [Requirement(name) for name in registry.projects], closure=False
        )
    assert summary.projects_total == 200
    assert 1 <= most <= 8  # max(8, 4 x --concurrency) projects in flight, not 200


def test_hook_build_environments_are_installed_once_per_crawl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    offline_pip_args()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(WHEELS))
    registry = FakeRegistry()
    for name in ("one", "two", "three"):  # PKG-INFO 2.1 (not reliable) and no wheel: the hook runs
        registry.add(name, "1.0", [f"dep-of-{name}"], wheel=False, sdist=True, sdist_metadata_version="2.1")
    crawler = Crawler(tmp_path / "db", options(hook_timeout=60))
    with registry.serve() as server:
        crawler.client = server.client()
        crawler.run([Requirement("one"), Requirement("two"), Requirement("three")], closure=False)
    db = store.open_database([tmp_path / "db"])
    for name in ("one", "two", "three"):
        project = db.project(name)
        assert project is not None
        assert [(m.requires_dist, m.source) for m in project.releases["1.0"].metadata] == [
            ((f"dep-of-{name}",), "pep517")
        ]
    assert crawler._hooks is not None and crawler._hooks.envs.installs == 1  # setuptools>=40.8.0, once
