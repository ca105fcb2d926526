"""Writer/reader of the database format: round trip, determinism, layers, laziness."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mach_nix.db import codec, store
from mach_nix.db import format as db_format
from mach_nix.db.model import DistFile, Failure, Metadata, Project, Release
from mach_nix.errors import DatabaseError


def make_project(name: str, versions: list[str], dep: str = "six>=1.0", serial: int = 1) -> Project:
    """A small project: one sdist and one wheel per version, with shared metadata."""
    releases = {}
    for version in versions:
        wheel_meta = Metadata(
            requires_dist=(dep, 'pysocks; extra == "socks"'),
            requires_python=">=3.8",
            provides_extras=("socks",),
            source="wheel",
        )
        sdist_meta = Metadata(
            requires_dist=(dep, 'pysocks; extra == "socks"'),
            requires_python=">=3.8",
            provides_extras=("socks",),
            build_requires=("setuptools>=40.8.0",),
            source="pkg-info",
        )
        files = (
            DistFile(
                f"{name}-{version}-py3-none-any.whl",
                "a" * 64,
                1234,
                "2020-01-02T03:04:05Z",
                "ab/cd/" + "e" * 60,
                ">=3.8",
                None,
                0,
            ),
            DistFile(
                f"{name}-{version}.tar.gz",
                "b" * 64,
                999,
                "2020-01-02T03:04:06Z",
                "12/34/" + "f" * 60,
                None,
                "broken",
                1,
            ),
        )
        releases[version] = Release(version, files, (wheel_meta, sdist_meta), ())
    releases["0.1"] = Release(
        "0.1",
        (DistFile(f"{name}-0.1.tar.gz", "c" * 64, 5, "2010-01-01T00:00:00Z", "00/11/" + "0" * 60),),
        (),
        (Failure(f"{name}-0.1.tar.gz", "hook-error", "setup.py failed"),),
    )
    return Project(name=name, releases=releases, last_serial=serial)


def test_round_trip(tmp_path: Path) -> None:
    projects = [make_project("Foo_Bar", ["1.0", "2.0"]), make_project("six", ["1.16.0"])]
    manifest = store.write_database(tmp_path / "db", projects, crawl_time="2024-01-01T00:00:00Z")
    assert manifest["counts"] == {"projects": 2, "releases": 5, "files": 8, "failures": 2}
    assert manifest["failures_by_kind"] == {"hook-error": 2}
    db = store.open_database([tmp_path / "db"])
    got = db.project("FOO.bar", details=True)
    assert got is not None and got.name == "foo-bar"
    want = projects[0]
    assert set(got.releases) == set(want.releases)
    for version, release in want.releases.items():
        assert got.releases[version] == release
    # The resolver's view: the graph only; the four file-index fields come on request.
    graph = db.project("foo-bar")
    assert graph is not None
    dist = graph.releases["2.0"].files[0]
    assert (dist.sha256, dist.size, dist.upload_time, dist.url_path, dist.url) == (None,) * 5
    assert graph.releases["2.0"] == want.releases["2.0"].__class__(
        "2.0",
        tuple(f._replace(sha256=None, size=None, upload_time=None, url_path=None) for f in want.releases["2.0"].files),
        want.releases["2.0"].metadata,
        want.releases["2.0"].failures,
    )
    unknown = dist._replace(filename="nope.whl")
    assert db.file_details("foo_bar", [dist, unknown]) == {dist.filename: want.releases["2.0"].files[0]}
    meta = got.releases["2.0"].metadata_of(got.releases["2.0"].files[1])
    assert meta is not None and meta.build_requires == ("setuptools>=40.8.0",)
    assert db.project("nope") is None
    assert db.names() == ["foo-bar", "six"]
    assert db.manifest["format_version"] == db_format.FORMAT_VERSION


def test_deduplication(tmp_path: Path) -> None:
    data = codec.encode_project(make_project("foo", [f"1.{i}" for i in range(20)]))
    assert len(data["requires"]) == 1  # wheel and sdist declare the same list: stored once
    assert len(data["metadata"]) == 2  # wheel and sdist records, shared by all releases


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_deterministic_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    a = [make_project("a", ["1.0"]), make_project("b", ["2.0", "1.0"])]
    b = list(reversed([make_project("b", ["1.0", "2.0"]), make_project("a", ["1.0"])]))
    store.write_database(tmp_path / "x", a)
    store.write_database(tmp_path / "y", b)
    assert tree_bytes(tmp_path / "x") == tree_bytes(tmp_path / "y")
    # rewriting in place gives the same bytes and leaves a single generation
    store.write_database(tmp_path / "x", a)
    assert tree_bytes(tmp_path / "x") == tree_bytes(tmp_path / "y")
    assert len([p for p in (tmp_path / "x").iterdir() if p.is_dir()]) == 1


def test_layers_later_wins_per_release(tmp_path: Path) -> None:
    store.write_database(
        tmp_path / "base", [make_project("foo", ["1.0", "2.0"], dep="six"), make_project("bar", ["1.0"])]
    )
    store.write_database(tmp_path / "top", [make_project("foo", ["2.0", "3.0"], dep="attrs", serial=9)])
    db = store.open_database([tmp_path / "base", tmp_path / "top"])
    foo = db.project("foo")
    assert foo is not None
    assert list(foo.releases) == ["0.1", "1.0", "2.0", "3.0"]
    assert foo.releases["1.0"].metadata[0].requires_dist[0] == "six"
    assert foo.releases["2.0"].metadata[0].requires_dist[0] == "attrs"
    assert foo.last_serial == 9
    assert db.project("bar") is not None
    assert db.names() == ["bar", "foo"]
    assert len(db.manifests) == 2


def test_lookup_touches_one_shard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    projects = [make_project(f"p{i}", ["1.0"]) for i in range(600)]
    manifest = store.write_database(tmp_path / "db", projects, prefix_length=2)
    assert manifest["shard_counts"]["graph"] > 100 and manifest["shard_counts"]["files"] > 500
    # the manifest stays small whatever the shard count: shard hashes are in shards.json, pinned by hash
    assert (tmp_path / "db" / "manifest.json").stat().st_size < 2000
    opened: list[str] = []
    real_open, real_read_bytes = open, Path.read_bytes

    def spy(file, *args, **kwargs):
        opened.append(os.fspath(file))
        return real_open(file, *args, **kwargs)

    def spy_read_bytes(self: Path) -> bytes:
        opened.append(os.fspath(self))
        return real_read_bytes(self)

    monkeypatch.setattr("builtins.open", spy)
    monkeypatch.setattr(Path, "read_bytes", spy_read_bytes)
    db = store.open_database(tmp_path / "db")
    opened.clear()
    assert db.project("p123") is not None
    shard = db_format.shard_of("p123", 2)
    # its shard, checked against its entry in shards.json (mapped, found by bisection), and the dictionary
    assert sorted(Path(p).name for p in opened) == sorted(
        [f"{shard}.dat", f"{shard}.idx", db_format.SHARDS_TABLE, db_format.ZDICT_FILE]
    )
    opened.clear()
    assert db.project("p124") is not None and db.project("p200") is not None
    assert sorted(Path(p).name for p in opened) == sorted(
        f"{db_format.shard_of(n, 2)}.{suffix}" for n in ("p124", "p200") for suffix in ("idx", "dat")
    )


def test_prefix_length_scales() -> None:
    assert db_format.prefix_length_for(100) == 1
    assert db_format.prefix_length_for(700_000) == 3
    assert db_format.TARGET_PROJECTS_PER_SHARD >= 700_000 / 16**3


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError, match="does not exist"):
        store.open_database([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatabaseError, match="not a mach-nix database"):
        store.open_database([tmp_path / "empty"])
    store.write_database(tmp_path / "db", [make_project("foo", ["1.0"])])
    manifest_file = tmp_path / "db" / "manifest.json"
    manifest = json.loads(manifest_file.read_text())
    manifest["format_version"] = 99
    manifest_file.write_text(json.dumps(manifest))
    with pytest.raises(DatabaseError, match="format version 99"):
        store.open_database([tmp_path / "db"])
    manifest["format_version"] = db_format.FORMAT_VERSION
    manifest_file.write_text(json.dumps(manifest))
    dat = next((tmp_path / "db" / manifest["shards_dir"]).glob("*.dat"))
    dat.write_bytes(b"garbage" * 10)
    with pytest.raises(DatabaseError, match="damaged"):
        store.open_database([tmp_path / "db"]).project("foo")


def test_tampered_pinned_files_are_refused(tmp_path: Path) -> None:
    """graph.zdict and shards.json are pinned by the manifest's hashes."""
    store.write_database(tmp_path / "db", [make_project("foo", ["1.0"]), make_project("bar", ["2.0"])])
    generation = tmp_path / "db" / store.read_manifest(tmp_path / "db")["shards_dir"]
    assert store.open_database([tmp_path / "db"]).project("foo") is not None
    zdict = generation / db_format.ZDICT_FILE
    assert 0 < zdict.stat().st_size <= db_format.ZDICT_SIZE
    zdict.write_bytes(zdict.read_bytes() + b" ")
    with pytest.raises(DatabaseError, match="graph_zdict_sha256"):
        store.open_database([tmp_path / "db"]).project("foo")
    table = generation / db_format.SHARDS_TABLE
    table.write_text(table.read_text().replace('"projects"', '"projectz"'))
    with pytest.raises(DatabaseError, match="shards_sha256"):
        store.open_database([tmp_path / "db"]).names()
