"""Resolution-driven fetching: ``lock``/``resolve`` fetch what the databases lack, from a loopback registry.

The registry is :class:`fakepypi.LoopbackRegistry` on 127.0.0.1, serving the recorded
snapshot ``tests/data/pypi-db`` (real metadata) or small made-up projects; never the real
registry. The cache of fetched metadata lives under each test's ``tmp_path``.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import nixhelpers
from fakepypi import FakePyPI, Fault, LoopbackRegistry, dated
from mach_nix.cli import main
from mach_nix.db.cache_layer import CacheLayer, default_cache_dir
from mach_nix.db.store import open_database, write_database
from mach_nix.errors import ExitCode
from mach_nix.resolution.resolve import resolve
from mach_nix.target import Target

SNAPSHOT = nixhelpers.REPO / "tests" / "data" / "pypi-db"


@pytest.fixture(scope="module")
def snapshot():
    return open_database([SNAPSHOT])


@pytest.fixture()
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache directory of the test's own (``MACH_NIX_CACHE``)."""
    monkeypatch.setenv("MACH_NIX_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MACH_NIX_NO_SERVER", "1")
    monkeypatch.delenv("MACH_NIX_DB", raising=False)
    return tmp_path / "cache"


def lock(registry: LoopbackRegistry, monkeypatch, capsys, *argv: str) -> tuple[int, str, dict | None]:
    """``mach-nix lock ARGV -o -`` in process against ``registry``: exit code, stderr, lock."""
    monkeypatch.setenv("MACH_NIX_INDEX_URL", registry.index)
    code = main(["lock", *argv, "-o", "-"])
    out = capsys.readouterr()
    return code, out.err, json.loads(out.out) if code == 0 else None


def layer_of(registry: LoopbackRegistry, cache: Path) -> Path:
    """The user layer's directory, once any writer handed the last save is done."""
    path = default_cache_dir(registry.index)
    CacheLayer(path, registry.index).wait()
    return path


def digest(root: Path) -> dict[str, str]:
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


def picks(data: dict) -> dict[str, tuple[str, str, str | None]]:
    return {
        name: (entry["version"], entry["provider"], (entry.get("artifact") or {}).get("filename"))
        for name, entry in data["packages"].items()
    }


def subset(snapshot, names: list[str], path: Path, crawl_time: str) -> Path:
    """A pinned database holding these snapshot projects."""
    write_database(path, [snapshot.project(n, details=True) for n in names], crawl_time=crawl_time)
    return path


# ---------------------------------------------------------------------------- the round trip


def test_outside_the_pinned_database_locks_through_the_registry_then_offline(
    tmp_path, cache, snapshot, monkeypatch, capsys
):
    """A pinned DB of two projects; the rest of requests[socks] and black comes from the registry
    (the snapshot served over loopback): the same resolution as the snapshot itself gives. The
    pinned projects are not fetched; the second run makes no request and writes the same bytes."""
    pinned = subset(snapshot, ["requests", "six"], tmp_path / "pinned", "2026-11-23T00:00:00Z")
    reqs = ["requests[socks]", "black"]
    expected = resolve(reqs, Target.create("3.11", "x86_64-linux"), None, snapshot)
    with LoopbackRegistry(snapshot) as registry:
        code, err, first = lock(registry, monkeypatch, capsys, *reqs, "--db", str(pinned))
        assert code == 0, err
        assert picks(first) == picks(expected.data)
        pages = {p for p, _r in registry.paths if p.startswith("/simple/")}
        assert "/simple/requests/" not in pages and "/simple/black/" in pages and "/simple/click/" in pages
        manifest = store_manifest(pinned)
        assert first["databases"] == [
            {"kind": "pinned", "crawl_time": "2026-11-23T00:00:00Z", "shards_sha256": manifest["shards_sha256"]},
            {"kind": "cache", "index": registry.index},
        ]
        assert first["exclude_newer"] == "2026-11-23T00:00:00Z"  # the pinned DB's crawl time

        before = registry.requests
        code, err, second = lock(registry, monkeypatch, capsys, *reqs, "--db", str(pinned))
        assert code == 0, err
        assert registry.requests == before, registry.paths[before:]
        assert second == first
        code, err, offline = lock(registry, monkeypatch, capsys, *reqs, "--db", str(pinned), "--offline")
        assert code == 0 and offline == first and registry.requests == before

        # the layer is a normal database: black and its dependencies, whole, click's metadata known
        layer = open_database([layer_of(registry, cache)])
        assert {"black", "click", "idna", "urllib3"} <= set(layer.names()) and "requests" not in layer.names()
        click = layer.project("click", details=True)
        served = json.loads(registry.page("click"))
        assert sorted(d.filename for r in click.releases.values() for d in r.files) == sorted(
            f["filename"] for f in served["files"]
        )
        chosen = first["packages"]["click"]["artifact"]["filename"]
        release = click.releases[first["packages"]["click"]["version"]]
        assert release.metadata_of(next(d for d in release.files if d.filename == chosen)) is not None
        kinds = {f.kind for r in click.releases.values() for f in r.failures}
        assert kinds == {"not-fetched"}  # every other file waits until a resolution needs it


def store_manifest(path: Path) -> dict:
    return json.loads((path / "manifest.json").read_text())


def test_a_backtracking_resolution_fetches_the_versions_it_walks(tmp_path, cache, snapshot, monkeypatch, capsys):
    """black with an old click: black's releases are walked back to 21.12b0 (their metadata
    fetched ahead in parallel); the result is the snapshot's."""
    reqs = ["black>=21.0b0", "click<8"]
    expected = resolve(reqs, Target.create("3.11", "x86_64-linux"), None, snapshot)
    with LoopbackRegistry(snapshot) as registry:
        code, err, data = lock(registry, monkeypatch, capsys, *reqs)
        assert code == 0, err
        assert picks(data) == picks(expected.data) and data["packages"]["black"]["version"] == "21.12b0"
        files = [p for p, _r in registry.paths if p.startswith("/packages/")]
        walked = {p.rsplit("/", 1)[-1].split("-")[1] for p in files if "/black-" in p}
        assert len(walked) > 20  # every black from the newest back to one that accepts click<8
        assert "exclude_newer" not in data and data["databases"] == [{"kind": "cache", "index": registry.index}]
        # the walk again, from the cache: nothing is fetched ahead (what the first run queued
        # ahead but dropped stays unfetched), so no request at all
        before = registry.requests
        code, err, again = lock(registry, monkeypatch, capsys, *reqs)
        assert code == 0 and again == data and registry.requests == before, registry.paths[before:]


def test_the_users_pin_of_a_project_bounds_its_extras(tmp_path, cache, monkeypatch, capsys):
    """lib[fast] required by app, lib==1.0 by the user: lib[fast] 3.0 and 2.0 are never looked at
    (their metadata is not fetched), since lib[fast] X needs lib X."""
    db = FakePyPI().add("app", "1.0", ["lib[fast]"])
    for version in ("1.0", "2.0", "3.0"):
        db.add("lib", version, ["speedup; extra == 'fast'"], extras=["fast"])
    db.add("speedup", "1.0")
    with LoopbackRegistry(db) as registry:
        code, err, data = lock(registry, monkeypatch, capsys, "app", "lib==1.0")
        assert code == 0, err
        assert data["packages"]["lib"]["version"] == "1.0" and "speedup" in data["packages"]
        assert not any("/lib-2.0" in p or "/lib-3.0" in p for p, _r in registry.paths)


@pytest.mark.parametrize("pep658", [True, False])
def test_wheel_metadata_from_pep658_or_range_reads(tmp_path, cache, monkeypatch, capsys, pep658):
    db = FakePyPI().add("app", "1.0", ["lib>=1"]).add("lib", "1.0").add("lib", "2.0", ["six"]).add("six", "1.16.0")
    with LoopbackRegistry(db, pep658=pep658) as registry:
        code, err, data = lock(registry, monkeypatch, capsys, "app")
        assert code == 0, err
        assert {n: e["version"] for n, e in data["packages"].items()} == {"app": "1.0", "lib": "2.0", "six": "1.16.0"}
        files = [(p, ranged) for p, ranged in registry.paths if p.startswith("/packages/")]
        if pep658:
            assert files and all(p.endswith(".metadata") and not ranged for p, ranged in files)
        else:
            assert files and all(ranged and not p.endswith(".metadata") for p, ranged in files)
        assert not any("lib-1.0" in p for p, _r in files)  # only what the resolution tried


# ---------------------------------------------------------------------------- the cut-off, the pinned DB


def dated_db() -> FakePyPI:
    db = FakePyPI().add("lib", "1.0").add("lib", "2.0").add("app", "1.0", ["lib"])
    dated(db, "lib", "1.0", "2019-05-01T10:00:00Z")
    dated(db, "app", "1.0", "2019-05-01T10:00:00Z")
    return dated(db, "lib", "2.0", "2024-03-01T10:00:00Z")


def test_exclude_newer_hides_later_files_and_is_recorded(tmp_path, cache, monkeypatch, capsys):
    with LoopbackRegistry(dated_db()) as registry:
        code, err, data = lock(registry, monkeypatch, capsys, "app", "--exclude-newer", "2020-01-01")
        assert code == 0, err
        assert data["packages"]["lib"]["version"] == "1.0" and data["exclude_newer"] == "2020-01-01T00:00:00Z"
        pages = sum(p.startswith("/simple/") for p, _r in registry.paths)
        code, err, data = lock(registry, monkeypatch, capsys, "app", "--exclude-newer", "2025-01-01T00:00:00+01:00")
        assert code == 0 and data["packages"]["lib"]["version"] == "2.0"
        assert data["exclude_newer"] == "2024-12-31T23:00:00Z"
        # the cached pages (fetched after that cut-off) served; lib 2.0's metadata was added to the layer
        assert sum(p.startswith("/simple/") for p, _r in registry.paths) == pages
        release = open_database([layer_of(registry, cache)]).project("lib").releases["2.0"]
        assert release.metadata and release.files[0].metadata == 0
        code, err, _ = lock(registry, monkeypatch, capsys, "lib>=2", "--exclude-newer", "2020-01-01")
        assert code == ExitCode.NOT_FOUND
        assert "lib 2.0 was uploaded after the cut-off 2020-01-01T00:00:00Z" in err and "--exclude-newer" in err
        code, err, _ = lock(registry, monkeypatch, capsys, "app", "--exclude-newer", "last tuesday")
        assert code == ExitCode.USAGE and "--exclude-newer 'last tuesday'" in err


def test_pinned_database_is_the_source_of_truth_and_its_crawl_time_the_cut_off(tmp_path, cache, monkeypatch, capsys):
    """A pinned DB crawled in 2020 holds app and lib 1.0; the registry has lib 2.0 (2024) too.
    Without --refresh nothing pinned is fetched; other projects are seen as of 2020."""
    pinned = FakePyPI().add("lib", "1.0").add("app", "1.0", ["lib", "extra-dep"])
    write_database(tmp_path / "pinned", pinned.projects.values(), crawl_time="2020-06-01T00:00:00Z")
    remote = dated_db().add("extra-dep", "1.0").add("extra-dep", "2.0")
    dated(remote, "extra-dep", "1.0", "2019-01-01T00:00:00Z")
    dated(remote, "extra-dep", "2.0", "2023-01-01T00:00:00Z")
    with LoopbackRegistry(remote) as registry:
        code, err, data = lock(registry, monkeypatch, capsys, "app", "--db", str(tmp_path / "pinned"))
        assert code == 0, err
        assert data["packages"]["lib"]["version"] == "1.0" and data["packages"]["extra-dep"]["version"] == "1.0"
        assert not any(p.startswith(("/simple/lib/", "/simple/app/")) for p, _r in registry.paths)
        code, err, data = lock(
            registry, monkeypatch, capsys, "app", "--db", str(tmp_path / "pinned"), "--refresh-package", "LIB",
            "--exclude-newer", "2030-01-01",
        )  # fmt: skip
        assert code == 0, err
        assert data["packages"]["lib"]["version"] == "2.0" and data["packages"]["extra-dep"]["version"] == "2.0"
        assert any(p == "/simple/lib/" for p, _r in registry.paths)


# ---------------------------------------------------------------------------- failures


def test_missing_projects_with_offline_and_typos(tmp_path, cache, monkeypatch, capsys):
    db = FakePyPI().add("requests", "2.31.0", ["idna"]).add("idna", "3.4")
    db.add("app", "2.0", ["vanished"]).add("app", "1.0")
    with LoopbackRegistry(db) as registry:
        code, err, _ = lock(registry, monkeypatch, capsys, "requests", "app", "--offline")
        assert code == ExitCode.NOT_FOUND
        assert err.startswith(
            "mach-nix: error: no projects named 'app', 'requests' in the databases nor in the cache of fetched metadata"
        )
        assert "drop --offline" in err and "mach-nix db crawl --db DIR app requests" in err
        assert registry.requests == 0
        # a dependency the registry does not know: backtracked around (pip does the same)
        code, err, data = lock(registry, monkeypatch, capsys, "requests", "app")
        assert code == 0, err
        assert data["packages"]["app"]["version"] == "1.0"
        code, err, _ = lock(registry, monkeypatch, capsys, "reqeusts")
        assert code == ExitCode.NOT_FOUND
        assert "no project named 'reqeusts' in the database nor on the registry" in err
        assert "did you mean: requests?" in err and "check the spelling" in err
        code, err, _ = lock(registry, monkeypatch, capsys, "app==2.0")
        assert code == ExitCode.NOT_FOUND and "no project named 'vanished'" in err
        assert "required by: app==2.0 (argument 1) -> app 2.0 requires vanished" in err


def clean_run(registry, monkeypatch, capsys) -> None:
    code, err, _data = lock(registry, monkeypatch, capsys, "other")
    assert code == 0, err


def registry_db() -> FakePyPI:
    db = FakePyPI().add("app", "1.0", ["lib", "more"]).add("lib", "1.0").add("more", "1.0").add("other", "1.0")
    return db


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (Fault("/simple/lib/", "status", status=503), "HTTP 503"),
        (Fault("/packages/", "status", status=500), "HTTP 500"),
        (Fault("lib-1.0", "timeout", delay=3), "timed out"),
        (Fault("lib-1.0", "truncate"), "IncompleteRead"),
    ],
)
def test_a_failing_registry_exits_5_and_leaves_whole_projects(tmp_path, cache, monkeypatch, capsys, fault, message):
    monkeypatch.setenv("MACH_NIX_HTTP_TIMEOUT", "0.5")
    with LoopbackRegistry(registry_db()) as registry:
        clean_run(registry, monkeypatch, capsys)
        layer = layer_of(registry, cache)
        kept = open_database([layer]).project("other", details=True)
        registry.faults.append(fault)
        code, err, _ = lock(registry, monkeypatch, capsys, "app")
        assert code == ExitCode.NETWORK, err
        assert message in err and "kept failing after 1 attempts" in err and "Traceback" not in err
        after = open_database([layer])
        assert after.project("other", details=True) == kept
        for name in after.names():  # every project in the layer is whole: all files of its page
            served = json.loads(registry.page(name))
            project = after.project(name, details=True)
            assert sorted(d.filename for r in project.releases.values() for d in r.files) == sorted(
                f["filename"] for f in served["files"]
            )
        # the registry recovers: the rerun completes (and keeps what was fetched)
        registry.faults.clear()
        code, err, data = lock(registry, monkeypatch, capsys, "app")
        assert code == 0, err and sorted(data["packages"]) == ["app", "lib", "more"]


def test_a_transient_failure_is_retried(tmp_path, cache, monkeypatch, capsys):
    monkeypatch.setenv("MACH_NIX_HTTP_RETRIES", "2")
    with LoopbackRegistry(registry_db()) as registry:
        registry.faults += [
            Fault("/simple/lib/", "status", status=502, times=1),
            Fault("more-1.0", "truncate", times=1),
        ]
        code, err, data = lock(registry, monkeypatch, capsys, "app")
        assert code == 0, err
        assert sorted(data["packages"]) == ["app", "lib", "more"]


def test_killed_mid_fetch_leaves_the_layer_and_a_rerun_completes(tmp_path, cache, snapshot, monkeypatch, capsys):
    """kill -9 of a lock while its fetches are slow: the layer is as it was; the rerun locks."""
    with LoopbackRegistry(snapshot) as registry:
        code, err, _ = lock(registry, monkeypatch, capsys, "six")
        assert code == 0, err
        layer = layer_of(registry, cache)
        before = digest(layer)
        registry.faults.append(Fault("/packages/", "slow", delay=0.4))
        env = dict(os.environ, MACH_NIX_INDEX_URL=registry.index)
        process = subprocess.Popen(
            [*nixhelpers.CLI, "lock", "black", "requests", "-o", str(tmp_path / "killed.json")],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while sum(p.startswith("/packages/") for p, _r in registry.paths) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert process.poll() is None, "the lock ended before it could be killed"
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        assert digest(layer) == before
        assert not (tmp_path / "killed.json").exists()
        registry.faults.clear()
        code, err, data = lock(registry, monkeypatch, capsys, "black", "requests")
        assert code == 0, err
        expected = resolve(["black", "requests"], Target.create("3.11", "x86_64-linux"), None, snapshot)
        assert picks(data) == picks(expected.data)


# ---------------------------------------------------------------------------- what stays offline


def test_the_nix_builder_reads_only_the_layers_it_is_given(tmp_path, cache, monkeypatch, capsys):
    """Evaluation-time resolution never fetches and never reads the user's cache."""
    pinned = FakePyPI().add("other", "1.0")
    write_database(tmp_path / "pinned", pinned.projects.values(), crawl_time="2030-01-01T00:00:00Z")
    with LoopbackRegistry(registry_db()) as registry:
        code, err, _ = lock(registry, monkeypatch, capsys, "lib")  # lib is now in the cache
        assert code == 0, err
        before = registry.requests
        out = tmp_path / "out.json"
        env = dict(os.environ, MACH_NIX_INDEX_URL=registry.index, out=str(out))
        result = subprocess.run(
            [sys.executable, "-m", "mach_nix.nix_builder", "lock", "--db", str(tmp_path / "pinned"), "lib", "more"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        answer = json.loads(out.read_text())
        assert answer["error"].startswith("no projects named 'lib', 'more' in the databases nor in the cache")
        assert answer["unknown_roots"] == ["lib", "more"]
        assert registry.requests == before


def test_cache_layer_merges_concurrent_writers(tmp_path, cache, monkeypatch, capsys):
    """Two runs that fetched different projects both keep theirs (the second re-reads the layer)."""
    with LoopbackRegistry(registry_db()) as registry:
        monkeypatch.setenv("MACH_NIX_INDEX_URL", registry.index)
        layer = CacheLayer(layer_of(registry, cache), registry.index)
        assert lock(registry, monkeypatch, capsys, "lib")[0] == 0
        assert lock(registry, monkeypatch, capsys, "more")[0] == 0
        assert lock(registry, monkeypatch, capsys, "other", "lib")[0] == 0
        layer.wait()
        assert layer.names() == ["lib", "more", "other"]
        assert set(layer.fetched) == {"lib", "more", "other"}


def test_an_sdist_only_known_by_its_hook_is_built_confined_when_it_must_be_used(tmp_path, cache, monkeypatch, capsys):
    """oldlib 1.0 is an sdist with a pre-2.2 PKG-INFO: its dependencies are known only by running
    its build backend, which happens (confined) because the resolution must use it; newlib's sdist
    with the same PKG-INFO is never built, its wheel's metadata serves."""
    from hook_helpers import offline_pip_args

    pip = offline_pip_args()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", pip[-1])
    db = FakePyPI().add("oldlib", "1.0", files=["oldlib-1.0.tar.gz"], file_meta=[None]).add("six", "1.16.0")
    db.add("newlib", "1.0", ["six"], files=["newlib-1.0-py3-none-any.whl", "newlib-1.0.tar.gz"], file_meta=[0, None])
    with LoopbackRegistry(db) as registry:
        registry.setup_py["oldlib-1.0.tar.gz"] = (
            "from setuptools import setup\nsetup(name='oldlib', version='1.0', install_requires=['six>=1.10'])\n"
        )
        code, err, data = lock(registry, monkeypatch, capsys, "oldlib", "newlib", "--provider", "newlib=sdist")
        assert code == 0, err
        assert data["packages"]["oldlib"]["provider"] == "sdist"
        assert data["packages"]["oldlib"]["dependencies"] == ["six"]
        assert data["packages"]["newlib"]["provider"] == "sdist" and data["packages"]["newlib"]["dependencies"] == [
            "six"
        ]
        layer = open_database([layer_of(registry, cache)])
        old = layer.project("oldlib").releases["1.0"]
        assert old.metadata[0].source == "pep517" and old.metadata[0].requires_dist == ("six>=1.10",)
        new = layer.project("newlib", details=True).releases["1.0"]
        assert [f.kind for f in new.failures] == ["skipped"]  # its hook never ran: the wheel lent its metadata
        before = registry.requests
        code, err, again = lock(
            registry, monkeypatch, capsys, "oldlib", "newlib", "--provider", "newlib=sdist", "--offline"
        )
        assert code == 0 and again == data and registry.requests == before


def test_the_sdist_of_a_version_whose_wheel_failed_is_not_downloaded(tmp_path, cache, monkeypatch, capsys):
    """lib 3.0 and 2.0 need dep>=2, which other excludes: after their wheels fail, their sdists
    (metadata unknown until downloaded) would lend the same dependencies; pip and uv try one
    artifact per version, and so does the walk: no sdist is downloaded."""
    db = FakePyPI().add("app", "1.0", ["lib"]).add("other", "1.0", ["dep<2"])
    db.add("dep", "1.0").add("dep", "2.0")
    for version, requires in (("1.0", ["dep"]), ("2.0", ["dep>=2"]), ("3.0", ["dep>=2"])):
        db.add("lib", version, requires, files=[f"lib-{version}-py3-none-any.whl", f"lib-{version}.tar.gz"])
    with LoopbackRegistry(db) as registry:
        code, err, data = lock(registry, monkeypatch, capsys, "app", "other")
        assert code == 0, err
        assert data["packages"]["lib"]["version"] == "1.0" and data["packages"]["dep"]["version"] == "1.0"
        assert not any(p.endswith(".tar.gz") for p, _r in registry.paths), registry.paths


def test_offline_says_which_newer_versions_it_could_not_consider(tmp_path, cache, monkeypatch, capsys):
    """The cache has lib's page but only lib 1.0's metadata (a run with an early cut-off):
    --offline chooses 1.0 and warns that 2.0 was not considered."""
    with LoopbackRegistry(dated_db()) as registry:
        assert lock(registry, monkeypatch, capsys, "app", "--exclude-newer", "2020-01-01")[0] == 0
        code, err, data = lock(registry, monkeypatch, capsys, "app", "--offline")
        assert code == 0, err
        assert data["packages"]["lib"]["version"] == "1.0"
        assert "warning: lib 2.0 was not considered: its metadata is not cached and --offline forbids" in err
        code, err, data = lock(registry, monkeypatch, capsys, "app")
        assert code == 0 and data["packages"]["lib"]["version"] == "2.0" and "warning" not in err


def test_no_cache_fetches_for_this_run_only(tmp_path, cache, monkeypatch, capsys):
    with LoopbackRegistry(registry_db()) as registry:
        code, err, data = lock(registry, monkeypatch, capsys, "app", "--no-cache")
        assert code == 0, err
        assert data["databases"] == [{"kind": "registry", "index": registry.index}]
        assert not layer_of(registry, cache).exists()
        before = registry.requests
        assert lock(registry, monkeypatch, capsys, "app", "--no-cache")[0] == 0
        assert registry.requests > before
