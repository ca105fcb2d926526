"""Graph-only databases (docs/db-format.md §1, §7): what users download is the
dependency graph; the file index stays where the full database is published
and only the shards of locked artifacts are fetched, checked by sha256.

The "publication" here is the committed snapshot itself, reached by a file://
URL or served over HTTP on 127.0.0.1; both go through the one HTTP client
(mach_nix.db.http.Client), then the same hash check and cache.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mach_nix.cli import main
from mach_nix.db import format as db_format
from mach_nix.db import store
from mach_nix.db.files_cache import FilesCache
from nixhelpers import REPO

SNAPSHOT = REPO / "tests" / "data" / "pypi-db"


@pytest.fixture
def slim(tmp_path: Path) -> Path:
    out = tmp_path / "graph-db"
    assert main(["db", "slim", "--db", str(SNAPSHOT), "--out", str(out), "--files-url", SNAPSHOT.as_uri()]) == 0
    return out


@pytest.fixture
def served_snapshot() -> Iterator[tuple[str, list[str]]]:
    """The snapshot published over HTTP on 127.0.0.1: its URL, and the paths requested."""
    requested: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            requested.append(self.path)

    handler = functools.partial(Handler, directory=str(SNAPSHOT))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", requested
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def tree_size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def lock(db: Path, out: Path, *extra: str) -> int:
    return main(["lock", "--db", str(db), "--python", "3.11.7", "requests[socks]", "black", "-o", str(out), *extra])


def test_slim_copy_is_a_tenth_and_holds_no_file_index(slim: Path) -> None:
    manifest = store.read_manifest(slim)
    assert manifest["files_url"] == SNAPSHOT.as_uri()
    assert not (slim / manifest["shards_dir"] / db_format.FILES_DIR).exists()
    full = tree_size(SNAPSHOT)
    assert tree_size(slim) * 8 < full, (tree_size(slim), full)
    # the manifest is the full DB's, plus files_url: same counts, same shard hashes
    full_manifest = store.read_manifest(SNAPSHOT)
    assert manifest == dict(full_manifest, files_url=SNAPSHOT.as_uri())
    assert store.DatabaseLayer(slim).shard_table == store.DatabaseLayer(SNAPSHOT).shard_table


def test_lock_from_graph_only_db_fetches_few_shards_and_equals_the_full_lock(
    slim: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MACH_NIX_CACHE", str(tmp_path / "cache"))
    fetched: list[str] = []  # the downloads (their progress is drawn on a terminal only)
    download = FilesCache.download

    def counted(self: FilesCache, url: str, sha256: str) -> Path:
        fetched.append(url)
        return download(self, url, sha256)

    monkeypatch.setattr(FilesCache, "download", counted)
    assert lock(SNAPSHOT, tmp_path / "full.json") == 0
    assert fetched == []
    assert lock(slim, tmp_path / "slim.json") == 0
    assert (tmp_path / "slim.json").read_bytes() == (tmp_path / "full.json").read_bytes()
    packages = json.loads((tmp_path / "full.json").read_text())["packages"]
    cached = sorted((tmp_path / "cache" / "files").iterdir())
    # two files (.idx, .dat) per shard, only the shards of the locked packages
    shards = {db_format.shard_of(name, store.read_manifest(slim)["files_prefix_length"]) for name in packages}
    assert len(cached) == len(fetched) == 2 * len(shards) < 2 * store.read_manifest(slim)["shard_counts"]["files"]
    for file in cached:  # content-addressed by the manifest's hashes
        assert hashlib.sha256(file.read_bytes()).hexdigest() == file.name
    # a second lock needs no network: --offline works from the cache, byte-identical
    before = len(fetched)
    assert lock(slim, tmp_path / "again.json", "--offline") == 0
    assert len(fetched) == before
    assert (tmp_path / "again.json").read_bytes() == (tmp_path / "full.json").read_bytes()


def test_shards_come_over_http_through_the_one_client(
    served_snapshot: tuple[str, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, requested = served_snapshot
    slim = tmp_path / "graph-db"
    assert main(["db", "slim", "--db", str(SNAPSHOT), "--out", str(slim), "--files-url", url]) == 0
    monkeypatch.setenv("MACH_NIX_CACHE", str(tmp_path / "cache"))
    assert lock(SNAPSHOT, tmp_path / "full.json") == 0
    assert lock(slim, tmp_path / "slim.json") == 0
    assert (tmp_path / "slim.json").read_bytes() == (tmp_path / "full.json").read_bytes()
    cached = sorted(p.name for p in (tmp_path / "cache" / "files").iterdir())
    assert len(requested) == len(cached) > 0 and all("/files/" in line for line in requested)


def test_a_shard_missing_at_the_publisher_is_a_clear_error(
    served_snapshot: tuple[str, list[str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, _requested = served_snapshot
    slim = tmp_path / "graph-db"
    assert main(["db", "slim", "--db", str(SNAPSHOT), "--out", str(slim), "--files-url", url + "gone/"]) == 0
    monkeypatch.setenv("MACH_NIX_CACHE", str(tmp_path / "cache"))
    assert lock(slim, tmp_path / "x.json") == 6
    err = capsys.readouterr().err
    assert "cannot fetch " + url + "gone/" in err and "not found there" in err, err
    assert not (tmp_path / "x.json").exists()


def test_offline_without_cache_is_a_clear_error(
    slim: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MACH_NIX_CACHE", str(tmp_path / "empty-cache"))
    assert lock(slim, tmp_path / "x.json", "--offline") == 6
    err = capsys.readouterr().err
    assert "holds only the dependency graph" in err and "drop --offline" in err
    assert not (tmp_path / "x.json").exists()  # nothing half-written
    # resolution alone (the table) needs no file index
    assert main(["resolve", "--db", str(slim), "--offline", "six"]) == 0


def test_tampered_shard_is_refused(
    slim: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    mirror = tmp_path / "mirror"
    shutil.copytree(SNAPSHOT, mirror)
    manifest = store.read_manifest(slim)
    key = db_format.shard_of("six", manifest["files_prefix_length"])
    dat = mirror / manifest["shards_dir"] / db_format.FILES_DIR / f"{key}.dat"
    dat.write_bytes(dat.read_bytes() + b"x")
    manifest["files_url"] = mirror.as_uri()
    (slim / "manifest.json").write_text(json.dumps(manifest))
    monkeypatch.setenv("MACH_NIX_CACHE", str(tmp_path / "cache"))
    assert main(["lock", "--db", str(slim), "six", "-o", str(tmp_path / "x.json")]) == 6
    assert "refusing it" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()
    assert not any(
        p.name.startswith(".") or p.stat().st_size == 0
        for p in (tmp_path / "cache" / "files").iterdir()
        if p.is_file() and p.name.endswith(".dat")
    )


def test_update_refuses_a_graph_only_db(slim: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "update", "--db", str(slim), "--no-progress"]) == 2
    assert "graph-only database" in capsys.readouterr().err


@pytest.mark.nix
def test_nix_resolves_against_a_graph_only_db(nix, pkgs_expr, slim: Path) -> None:
    """mkPython with a graph-only pypiData: the shards come in as fixed-output fetches."""

    def expr(db: Path, body: str) -> str:
        return f"""let
          pkgs = {pkgs_expr};
          machNix = import {REPO} {{ inherit pkgs; pypiData = {db}; }};
        in {body}"""

    args = 'requirements = "requests";'
    slim_lock = nix.eval_json(expr(slim, f"(machNix.mkPython {{ {args} }}).lock"))
    full_lock = nix.eval_json(expr(SNAPSHOT, f"(machNix.mkPython {{ {args} }}).lock"))
    assert slim_lock == full_lock
    env = nix.build(expr(slim, f"machNix.mkPython {{ {args} }}"))
    import subprocess

    out = subprocess.run(
        [f"{env}/bin/python", "-c", "import requests; print(requests.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert out == full_lock["packages"]["requests"]["version"]


@pytest.mark.nix
def test_nix_direct_reference_against_a_graph_only_db(nix, pkgs_expr, slim: Path) -> None:
    """A direct reference reads its project's file index while resolving: one more fetch round."""
    url = (
        "https://files.pythonhosted.org/packages/d9/5a/e7c31adbe875f2abbb91bd84cf2dc52d792b5a01506781dbcf25c91daf11/"
        "six-1.16.0-py2.py3-none-any.whl#sha256=8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254"
    )

    def lock(db: Path) -> dict:
        return nix.eval_json(f"""let
          pkgs = {pkgs_expr};
          machNix = import {REPO} {{ inherit pkgs; pypiData = {db}; }};
        in (machNix.mkPython {{ requirements = "six @ {url}\nrequests"; }}).lock""")

    got = lock(slim)
    assert "error" not in got and got["packages"]["six"]["artifact"]["sha256"].startswith("8abb2f1d")
    assert got == lock(SNAPSHOT)
