"""``db update --force`` repairs a database whose project shards are damaged.

A small database is crawled in the test from the loopback registry
(:class:`fakepypi.LoopbackRegistry`, real wheels and pages on 127.0.0.1), locked once,
then damaged in a copy (a flipped bit in a ``.dat`` of the dependency graph or of the file
index, a missing ``.idx``). Locking against it exits 6 naming the file and the command
that repairs it; a plain ``db update`` refuses the same way; ``db update --force`` crawls
the projects it cannot read again (and says so), after which the lock is the undamaged
one, byte for byte.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fakepypi import FakePyPI, LoopbackRegistry
from mach_nix.db import format as db_format
from mach_nix.db import store
from mach_nix.errors import ExitCode
from nixhelpers import REPO

ROOTS = ["app", "tool"]


def source() -> FakePyPI:
    fake = FakePyPI()
    fake.add("app", "1.0", ["lib>=1"]).add("app", "2.0", ["lib>=2", "extra-dep"])
    fake.add("lib", "1.0").add("lib", "2.0", ["six"])
    fake.add("six", "1.16.0").add("extra-dep", "0.1").add("tool", "3.0", ["six"])
    return fake


@pytest.fixture(scope="module")
def registry() -> Iterator[LoopbackRegistry]:
    with LoopbackRegistry(source()) as running:
        yield running


def cli(registry: LoopbackRegistry, tmp: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "MACH_NIX_INDEX_URL": registry.index,
        "MACH_NIX_FILES_URL": registry.index.rsplit("/simple/", 1)[0] + "/packages/",
        "MACH_NIX_CACHE": str(tmp / "cache"),
        "MACH_NIX_NO_SERVER": "1",
        "PYTHONPATH": str(REPO / "resolver"),
    }
    env.pop("MACH_NIX_DB", None)
    return subprocess.run([sys.executable, "-m", "mach_nix", *argv], env=env, capture_output=True, text=True)


@pytest.fixture(scope="module")
def crawled(registry: LoopbackRegistry, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    """The database crawled from the registry (--closure app, tool) and its lock of ROOTS."""
    tmp = tmp_path_factory.mktemp("crawled")
    db = tmp / "db"
    proc = cli(registry, tmp, "db", "crawl", "--db", str(db), "--closure", "--no-progress", *ROOTS)
    assert proc.returncode == 0, proc.stderr
    return db, locked(registry, tmp, db)


def locked(registry: LoopbackRegistry, tmp: Path, db: Path) -> bytes:
    out = tmp / "lock.json"
    proc = cli(registry, tmp, "lock", "--db", str(db), "--offline", "--no-cache", "-o", str(out), *ROOTS)
    assert proc.returncode == 0, proc.stderr
    return out.read_bytes()


def shard(db: Path, name: str, part: str, suffix: str) -> Path:
    manifest = store.read_manifest(db)
    generation = db / manifest["shards_dir"]
    if part == "graph":
        return generation / f"{db_format.shard_of(name, manifest['shard_prefix_length'])}.{suffix}"
    return generation / db_format.FILES_DIR / f"{db_format.shard_of(name, manifest['files_prefix_length'])}.{suffix}"


@pytest.mark.parametrize("damage", ["graph.dat", "files.dat", "files.idx"])
def test_update_force_crawls_again_what_a_damaged_database_cannot_read(
    registry: LoopbackRegistry, crawled: tuple[Path, bytes], tmp_path: Path, damage: str
) -> None:
    pristine, expected = crawled
    db = tmp_path / "db"
    shutil.copytree(pristine, db)
    part, _, suffix = damage.partition(".")
    broken = shard(db, "lib", part, suffix)
    if suffix == "dat":
        data = bytearray(broken.read_bytes())
        data[len(data) // 2] ^= 0x01
        broken.unlink()  # the copy may share the inode
        broken.write_bytes(bytes(data))
    else:
        broken.unlink()
    fix = f"mach-nix db update --force --db {db}"
    refused = cli(registry, tmp_path, "lock", "--db", str(db), "--offline", "--no-cache", "-o", "-", *ROOTS)
    assert refused.returncode == ExitCode.DATABASE, refused.stderr
    assert str(broken) in refused.stderr and fix in refused.stderr and "Traceback" not in refused.stderr
    # Without --force the update reads the damage as well, and says the same.
    plain = cli(registry, tmp_path, "db", "update", "--db", str(db), "--no-progress")
    assert plain.returncode == ExitCode.DATABASE and fix in plain.stderr, plain.stderr
    assert broken.name in plain.stderr

    repaired = cli(registry, tmp_path, "db", "update", "--db", str(db), "--force", "--no-progress")
    assert repaired.returncode == 0, repaired.stderr
    assert "repaired:" in repaired.stdout and str(broken) in repaired.stdout
    assert sorted(store.open_database([db]).names()) == sorted(store.open_database([pristine]).names())
    assert locked(registry, tmp_path, db) == expected
    # Nothing is left to repair: a second forced update reads every project.
    again = cli(registry, tmp_path, "db", "update", "--db", str(db), "--force", "--no-progress")
    assert again.returncode == 0 and "repaired:" not in again.stdout, again.stdout + again.stderr


def test_a_damaged_shard_table_is_not_salvaged(
    registry: LoopbackRegistry, crawled: tuple[Path, bytes], tmp_path: Path
) -> None:
    """Without a trustworthy shards.json nothing can be read: --force says to replace the database."""
    pristine, _ = crawled
    db = tmp_path / "db"
    shutil.copytree(pristine, db)
    table = db / store.read_manifest(db)["shards_dir"] / db_format.SHARDS_TABLE
    text = table.read_bytes()
    table.unlink()
    table.write_bytes(text.replace(b'"', b"'", 1))
    proc = cli(registry, tmp_path, "db", "update", "--db", str(db), "--force", "--no-progress")
    assert proc.returncode == ExitCode.DATABASE, proc.stderr
    assert db_format.SHARDS_TABLE in proc.stderr and "db crawl --db NEW_DIR" in proc.stderr
    assert "db update --force" not in proc.stderr


def test_crawl_force_leaves_out_and_names_the_unreadable_projects_it_does_not_reach(
    registry: LoopbackRegistry, crawled: tuple[Path, bytes], tmp_path: Path
) -> None:
    """A forced crawl of other roots cannot fetch what it does not reach: those projects are left
    out, not copied damaged, and the summary names them (db update --force would crawl them)."""
    pristine, _ = crawled
    db = tmp_path / "db"
    shutil.copytree(pristine, db)
    shard(db, "lib", "files", "dat").unlink()
    proc = cli(registry, tmp_path, "db", "crawl", "--db", str(db), "--force", "--no-progress", "tool")
    assert proc.returncode == 0, proc.stderr
    [line] = [line for line in proc.stdout.splitlines() if line.startswith("left out")]
    assert "lib" in line.split(": ")[-1].split(", ")
    database = store.open_database([db])
    assert database.project("lib") is None and database.project("tool") is not None
    out = tmp_path / "tool.lock.json"
    lock = cli(registry, tmp_path, "lock", "--db", str(db), "--offline", "--no-cache", "-o", str(out), "tool")
    assert lock.returncode == 0, lock.stderr
