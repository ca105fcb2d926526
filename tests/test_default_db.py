"""The database of commands given no ``--db`` (issue 13 item 2), and their progress and
``--json`` output (item 9), on loopback only.

The published release is the snapshot (tests/data/pypi-db) published by ``db publish``
and served by a static HTTP server on 127.0.0.1; every test has a cache directory of its
own (``MACH_NIX_CACHE``), so the download of the pinned release is each test's own.
Progress is read through a pseudo-terminal (what a user sees), and compared with the same
command piped.
"""

from __future__ import annotations

import json
import os
import pty
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from fakepypi import LoopbackRegistry
from mach_nix.db.publish import publish
from mach_nix.db.reader import read_manifest
from mach_nix.db.store import open_database, write_database
from nixhelpers import CLI, REPO
from static_site import serve_directory

SNAPSHOT = REPO / "tests" / "data" / "pypi-db"


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The snapshot's release, served while the module's tests run: its pin file."""
    site = tmp_path_factory.mktemp("site")
    with serve_directory(site) as base:
        publish(SNAPSHOT, site, base)
        yield site / "pypi-data.json"


def environment(tmp_path: Path, **extra: str | None) -> dict[str, str]:
    """The tests' environment with a cache of this test's own; ``None`` removes a variable."""
    env = {**os.environ, "MACH_NIX_CACHE": str(tmp_path / "cache"), "MACH_NIX_NO_SERVER": "1"}
    env.pop("MACH_NIX_DB", None)
    for key, value in extra.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def cli(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def on_terminal(*args: str, cwd: Path, env: dict[str, str]) -> tuple[int, bytes]:
    """Run the CLI with stderr on a pseudo-terminal: exit code and what the terminal got."""
    master, slave = pty.openpty()
    process = subprocess.Popen(
        [*CLI, *args], cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: every writer closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return process.wait(timeout=300), b"".join(chunks)


def test_lock_without_db_uses_the_published_pin_downloaded_once(tmp_path: Path, release: Path) -> None:
    env = environment(tmp_path, MACH_NIX_PIN=str(release))
    pin = json.loads(release.read_text())
    result = cli("lock", "requests[socks]", "six", "-o", "default.lock.json", "--json", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    projects = json.loads((SNAPSHOT / "manifest.json").read_text())["counts"]["projects"]
    assert f"mach-nix: database: $MACH_NIX_PIN ({pin['date']}, {projects} projects) plus the cache" in result.stderr
    reference = cli(
        "lock", "requests[socks]", "six", "--db", str(SNAPSHOT), "-o", "ref.lock.json", cwd=tmp_path, env=env
    )
    assert reference.returncode == 0, reference.stderr
    written = json.loads((tmp_path / "default.lock.json").read_text())
    assert written["packages"] == json.loads((tmp_path / "ref.lock.json").read_text())["packages"]
    assert "database:" not in reference.stderr  # a --db is not the default: nothing said

    # the release is cached under its sha256, complete, with no staging directory left
    published = tmp_path / "cache" / "published"
    assert sorted(p.name for p in published.iterdir()) == [pin["sha256"]]
    assert read_manifest(published / pin["sha256"] / "pypi-data")["counts"] == pin["counts"]
    # ... so that --offline needs no download, and locks the same
    again = cli("lock", "requests[socks]", "six", "--offline", "-o", "-", cwd=tmp_path, env=env)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["packages"] == written["packages"]

    # lock --json: a summary of the lock written
    summary = json.loads(result.stdout)
    providers = Counter(entry["provider"] for entry in written["packages"].values())
    assert summary["path"] == "default.lock.json" and summary["format"] == "json"
    assert summary["packages"] == len(written["packages"]) and summary["providers"] == dict(providers)
    target = written["target"]
    assert summary["targets"] == [
        {
            "python": target["python"],
            "system": target["system"],
            "packages": len(written["packages"]),
            "providers": dict(providers),
        }
    ]
    assert summary["warnings"] == []


def test_a_pin_not_downloaded_and_a_damaged_release(tmp_path: Path, release: Path) -> None:
    env = environment(tmp_path, MACH_NIX_PIN=str(release))
    offline = cli("lock", "six", "--offline", "-o", "-", cwd=tmp_path, env=env)
    assert offline.returncode == 2
    assert "is not downloaded yet and --offline fetches nothing: run once without --offline" in offline.stderr

    site = tmp_path / "site"
    site.mkdir()
    with serve_directory(site) as base:
        pin = publish(SNAPSHOT, site, base)
        tarball = site / pin["url"].rsplit("/", 1)[1]
        tarball.write_bytes(tarball.read_bytes()[:-10])
        damaged = cli("lock", "six", "-o", "-", cwd=tmp_path, env=dict(env, MACH_NIX_PIN=str(site / "pypi-data.json")))
    assert damaged.returncode == 2 and "does not have the sha256" in damaged.stderr, damaged.stderr
    assert not damaged.stdout
    published = tmp_path / "cache" / "published"
    assert not published.exists() or not any(published.iterdir())  # nothing half-written kept

    missing = cli("lock", "six", cwd=tmp_path, env=dict(env, MACH_NIX_PIN=str(tmp_path / "nope.json")))
    assert missing.returncode == 2 and "MACH_NIX_PIN=" in missing.stderr and "MACH_NIX_PIN=none" in missing.stderr


def test_db_info_shows_the_default_and_db_default_names_it(tmp_path: Path, release: Path) -> None:
    # no $MACH_NIX_PIN: ./pypi-data.json of the working directory is the pin
    shutil.copy(release, tmp_path / "pypi-data.json")
    env = environment(tmp_path, MACH_NIX_PIN=None)
    pin = json.loads(release.read_text())
    info = cli("db", "info", "--json", cwd=tmp_path, env=env)
    assert info.returncode == 0, info.stderr
    assert "mach-nix: database: ./pypi-data.json (" in info.stderr
    assert json.loads(info.stdout)["counts"] == pin["counts"]  # the cache is empty: one layer
    text = cli("db", "info", cwd=tmp_path, env=env)
    assert f"projects:    {pin['counts']['projects']} " in text.stdout
    assert f"graph-only, fetched from {pin['files_url']}" in text.stdout

    # --db default --db DIR: DIR above the default; --db DIR alone replaces it
    layered = cli("db", "info", "--db", "default", "--db", str(SNAPSHOT), "--json", cwd=tmp_path, env=env)
    assert layered.returncode == 0, layered.stderr
    manifests = json.loads(layered.stdout)
    assert [m.get("files_url") for m in manifests] == [pin["files_url"], None]
    alone = json.loads(cli("db", "info", "--db", str(SNAPSHOT), "--json", cwd=tmp_path, env=env).stdout)
    assert alone == read_manifest(SNAPSHOT)
    versions = json.loads(cli("db", "info", "six", "--json", cwd=tmp_path, env=env).stdout)
    assert versions["name"] == "six" and versions["releases"]


def test_no_pin_is_the_cache_alone_filled_from_the_registry(tmp_path: Path) -> None:
    env = environment(tmp_path, MACH_NIX_PIN="none")
    empty = cli("db", "info", "--json", cwd=tmp_path, env=env)
    assert empty.returncode == 0 and json.loads(empty.stdout) == []
    with LoopbackRegistry(open_database([SNAPSHOT])) as registry:
        env["MACH_NIX_INDEX_URL"] = registry.index
        result = cli("lock", "six", "-o", "-", cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stderr
        assert registry.requests > 0
    assert "mach-nix: database: no published pin (MACH_NIX_PIN=none): the cache of fetched metadata" in result.stderr
    assert list(json.loads(result.stdout)["packages"]) == ["six"]


def test_progress_on_a_terminal_only(tmp_path: Path) -> None:
    env = environment(tmp_path, MACH_NIX_PIN="none")
    with LoopbackRegistry(open_database([SNAPSHOT])) as registry:
        env["MACH_NIX_INDEX_URL"] = registry.index
        code, seen = on_terminal("lock", "requests", "-o", "a.lock.json", cwd=tmp_path, env=env)
        assert code == 0, seen
        # one line rewritten in place (no newline between the states), erased before the result
        assert b"\rmach-nix: fetching metadata: projects " in seen and b"\x1b[K" in seen
        assert b"\rmach-nix: resolving: round " in seen
        last_status = seen.rindex(b"\rmach-nix: resolving: ")
        assert seen.index(b"\r\x1b[K", last_status) < seen.index(b"mach-nix: wrote a.lock.json", last_status)
        # piped: the same command draws nothing
        piped = cli("lock", "requests", "-o", "b.lock.json", "--refresh", cwd=tmp_path, env=env)
        assert piped.returncode == 0, piped.stderr
        assert "\r" not in piped.stderr and "\x1b" not in piped.stderr and "resolving" not in piped.stderr
        # --quiet on a terminal: neither
        code, quiet = on_terminal("lock", "requests", "-o", "c.lock.json", "--refresh", "-q", cwd=tmp_path, env=env)
        assert code == 0 and b"\x1b[K" not in quiet and b"mach-nix: wrote c.lock.json" in quiet
    locks = [json.loads((tmp_path / f"{n}.lock.json").read_text())["packages"] for n in "abc"]
    assert locks[0] == locks[1] == locks[2]  # progress changes no result


def test_resolve_json_is_the_resolution(tmp_path: Path) -> None:
    env = environment(tmp_path)
    args = ("requests[socks]", "black", "--db", str(SNAPSHOT), "--python", "3.11.7")
    result = cli("resolve", *args, "--json", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    resolution = json.loads(result.stdout)
    locked = cli("lock", *args, "-o", "-", cwd=tmp_path, env=env)
    lock = json.loads(locked.stdout)
    assert resolution["target"] == lock["target"] and resolution["warnings"] == []
    by_name = {p["name"]: p for p in resolution["packages"]}
    assert [p["name"] for p in resolution["packages"]] == sorted(lock["packages"])
    for name, entry in lock["packages"].items():
        got = by_name[name]
        assert (got["version"], got["provider"], got["extras"], got["root"]) == (
            entry["version"],
            entry["provider"],
            entry["extras"],
            entry["root"],
        )
        for dependency in entry["dependencies"]:
            if dependency != name:
                assert name in by_name[dependency]["required_by"]
    assert by_name["requests"]["root"] and by_name["pysocks"]["required_by"] == ["requests"]
    both = cli("resolve", *args, "--json", "--format", "json", cwd=tmp_path, env=env)
    assert both.returncode == 2 and "two outputs" in both.stderr


@pytest.mark.nix
def test_gen_python_has_every_name_of_the_pinned_database(tmp_path: Path, nix, pkgs_expr: str) -> None:
    """``gen.python.<name>`` of a checkout whose pypi-data.json pins a release: the names are the
    release's (two projects, not the bundled snapshot's hundreds), and one builds and imports."""
    snapshot = open_database([SNAPSHOT])
    db = tmp_path / "db"
    projects = [snapshot.project(n, details=True) for n in ("six", "idna")]
    write_database(db, [p for p in projects if p is not None], crawl_time="2024-01-01T00:00:00Z")
    site = tmp_path / "site"
    site.mkdir()
    checkout = tmp_path / "mach-nix"
    for part in ("lib", "overrides", "resolver"):
        shutil.copytree(REPO / part, checkout / part, ignore=shutil.ignore_patterns("__pycache__"))
    for part in ("default.nix", "VERSION"):
        shutil.copy(REPO / part, checkout / part)
    with serve_directory(site) as base:
        publish(db, site, base)
        shutil.copy(site / "pypi-data.json", checkout / "pypi-data.json")
        machnix = f"(import {checkout} {{ pkgs = {pkgs_expr}; }})"
        assert nix.eval_json(f"builtins.attrNames {machnix}.gen.python") == ["idna", "six"]
        env = nix.build(f"{machnix}.gen.python.six")
    code = "import six, sys; print(six.__file__.startswith(sys.prefix))"
    out = subprocess.run([f"{env}/bin/python", "-c", code], capture_output=True, text=True)
    assert out.stdout.split() == ["True"], out.stderr


def test_db_publish_progress_on_a_terminal_and_lock_json_needs_a_file(tmp_path: Path) -> None:
    env = environment(tmp_path)
    args = ("db", "publish", "--db", str(SNAPSHOT), "--out", str(tmp_path / "site"), "--base-url", "http://x.invalid")
    code, seen = on_terminal(*args, cwd=tmp_path, env=env)
    assert code == 0, seen
    status = seen.index(b"\rmach-nix: publishing: writing a release of ")
    assert b"\r\x1b[K" in seen[status:]  # erased when done
    piped = cli(*args, cwd=tmp_path, env=env)
    assert piped.returncode == 0 and "publishing" not in piped.stderr and "wrote a release" in piped.stdout
    refused = cli("lock", "six", "--db", str(SNAPSHOT), "--json", "-o", "-", cwd=tmp_path, env=env)
    assert refused.returncode == 2 and "--json prints a summary on stdout" in refused.stderr
