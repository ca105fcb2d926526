"""Readers are isolated from a writer switching generations (issue 15, item 3).

A writer process rewrites a small database over and over, alternating between
two contents (A: the snapshot's ``requests[socks]`` closure; B: the same
without requests' newest release, so that the lock differs). Meanwhile
``mach-nix lock`` processes, in-process resolutions in threads, and a running
resolver server read it. Every answer must be A's or B's, whole: never "shard
file gone" (exit 6), never "no project named …" (a wrong answer), never a mix.
Bounded: the writer stops after a fixed number of switches or seconds.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from mach_nix.db import store
from mach_nix.db.model import Project
from mach_nix.errors import DatabaseError, MachNixError
from mach_nix.resolution.resolve import resolve
from mach_nix.target import Target
from nixhelpers import CLI, REPO

SNAPSHOT = REPO / "tests" / "data" / "pypi-db"
CLOSURE = ["certifi", "charset-normalizer", "idna", "pysocks", "requests", "urllib3", "chardet", "brotli"]
ROOTS = ["requests[socks]"]
TARGET = Target.create("3.11", "x86_64-linux")
#: The writer's budget: this many generation switches, or this many seconds, whichever comes first,
#: but at least MIN_SWITCHES (a write fsyncs some 40 files: slow on a busy disk).
SWITCHES = 40
SECONDS = 6.0
MIN_SWITCHES = 12

WRITER = textwrap.dedent(
    """
    import sys, time
    from mach_nix.db import store
    from mach_nix.db.model import Project

    def load(path):
        layer = store.open_database(path).layers[0]
        return [Project(p.name, dict(p.releases), p.last_serial) for p in layer.projects(details=True)]

    target, a, b = sys.argv[1:4]
    switches, seconds, at_least = int(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
    contents = [load(a), load(b)]
    print("ready", flush=True)
    sys.stdin.readline()
    deadline = time.monotonic() + seconds
    done = 0
    while done < switches and (time.monotonic() < deadline or done < at_least):
        store.write_database(target, contents[done % 2], crawl_time="2024-01-01T00:00:00Z")
        done += 1
    print(done, flush=True)
    """
)


def _materialised(project: Project) -> Project:
    return Project(project.name, dict(project.releases), project.last_serial)


@pytest.fixture(scope="module")
def contents(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two source databases (A, B) whose locks of ``requests[socks]`` differ."""
    base = tmp_path_factory.mktemp("contents")
    snapshot = store.open_database(SNAPSHOT)
    projects = [p for p in (snapshot.project(n, details=True) for n in CLOSURE) if p is not None]
    a = [_materialised(p) for p in projects]
    b = []
    for project in a:
        releases = dict(project.releases)
        if project.name == "requests":
            del releases[list(releases)[-1]]  # the newest release (ascending order)
        b.append(Project(project.name, releases, project.last_serial))
    store.write_database(base / "a", a, crawl_time="2024-01-01T00:00:00Z")
    store.write_database(base / "b", b, crawl_time="2024-01-01T00:00:00Z")
    return {"a": base / "a", "b": base / "b"}


def _cli_lock(db: Path, out: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "lock", "--db", str(db), "--offline", "-o", str(out), *ROOTS],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def _in_process_lock(db: Path) -> str:
    return resolve(ROOTS, TARGET, None, store.open_database(db)).dumps()


class _Writer:
    """The writer process, started ready and released by :meth:`go`."""

    def __init__(self, target: Path, contents: dict[str, Path]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(target), str(contents["a"]), str(contents["b"]), str(SWITCHES)]
            + [str(SECONDS), str(MIN_SWITCHES)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None and self.process.stdout.readline().strip() == "ready"

    def go(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("go\n")
        self.process.stdin.flush()

    def running(self) -> bool:
        return self.process.poll() is None

    def switches(self) -> int:
        out, _ = self.process.communicate(timeout=SECONDS + 120)
        assert self.process.returncode == 0
        return int(out.strip())


def _readers(loops: list[Callable[[], None]], writer: _Writer) -> None:
    """Run every loop body in its own thread until the writer is done."""
    errors: list[BaseException] = []

    def run(body: Callable[[], None]) -> None:
        try:
            while writer.running():
                body()
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(body,)) for body in loops]
    for thread in threads:
        thread.start()
    writer.go()
    for thread in threads:
        thread.join(SECONDS + 120)
    if errors:
        raise errors[0]


def test_readers_see_one_generation_whole_during_switches(contents: dict[str, Path], tmp_path: Path) -> None:
    env = dict(os.environ, MACH_NIX_NO_SERVER="1", MACH_NIX_CACHE=str(tmp_path / "cache"))
    expected_cli = set()
    for name in ("a", "b"):
        result = _cli_lock(contents[name], tmp_path / f"{name}.json", env)
        assert result.returncode == 0, result.stderr
        expected_cli.add((tmp_path / f"{name}.json").read_bytes())
    expected = {_in_process_lock(contents["a"]), _in_process_lock(contents["b"])}
    assert len(expected) == len(expected_cli) == 2, "A and B must lock differently"

    target = tmp_path / "db"
    shutil.copytree(contents["a"], target)
    writer = _Writer(target, contents)
    cli_answers: list[tuple[int, str, bytes]] = []
    answers: list[str] = []

    def cli_reader(number: int) -> Callable[[], None]:
        out = tmp_path / f"lock-{number}.json"

        def body() -> None:
            out.unlink(missing_ok=True)
            result = _cli_lock(target, out, env)
            cli_answers.append((result.returncode, result.stderr, out.read_bytes() if out.exists() else b""))

        return body

    def in_process_reader() -> None:
        try:
            answers.append(_in_process_lock(target))
        except MachNixError as error:  # exit 6 "shard file gone", exit 4 "no project named"
            answers.append(f"exit {error.exit_code}: {error}")

    _readers([cli_reader(1), cli_reader(2), in_process_reader, in_process_reader], writer)
    switches = writer.switches()

    assert switches >= MIN_SWITCHES, f"the writer switched generations only {switches} times"
    assert len(cli_answers) >= 4 and len(answers) >= MIN_SWITCHES, (len(cli_answers), len(answers))
    failed = [(code, err) for code, err, lock in cli_answers if code != 0 or lock not in expected_cli]
    wrong = [answer for answer in answers if answer not in expected]
    assert not failed and not wrong, (
        f"during {switches} switches, {len(failed)} of {len(cli_answers)} locks failed ({failed[:2]}) and "
        f"{len(wrong)} of {len(answers)} in-process locks were neither A's nor B's ({wrong[:2]})"
    )
    # the in-process readers saw both contents, i.e. they really ran across switches
    assert len(set(answers)) == 2
    # nothing is left behind once no reader holds an old generation
    generations = [p.name for p in target.iterdir() if p.name != "manifest.json"]
    assert generations == [store.read_manifest(target)["shards_dir"]], generations


def test_in_process_layer_keeps_its_generation_across_a_switch(contents: dict[str, Path], tmp_path: Path) -> None:
    """A database opened before a switch keeps answering from its generation, whole; a new one sees the new."""
    target = tmp_path / "db"
    shutil.copytree(contents["a"], target)
    old = store.open_database(target)
    old_lock = resolve(ROOTS, TARGET, None, old).dumps()
    b = [_materialised(p) for p in store.open_database(contents["b"]).layers[0].projects(details=True)]
    store.write_database(target, b)
    # the old generation is still there (held), and the old reader reads all of it, graph and file index
    fresh = resolve(ROOTS, TARGET, None, store.open_database(target)).dumps()
    assert fresh != old_lock
    assert resolve(ROOTS, TARGET, None, old).dumps() == old_lock
    requests = old.project("requests", details=True)
    assert requests is not None and all(f.has_details for r in requests.releases.values() for f in r.files)
    assert len([p for p in target.iterdir() if p.name.startswith("shards-")]) == 2
    # once it is closed (its last reader lets go), it is removed; reading it then is an error, not a traceback
    old.close()
    with pytest.raises(DatabaseError, match="closed"):
        old.project("urllib3", details=True)
    assert [p.name for p in target.iterdir() if p.name.startswith("shards-")] == [
        store.read_manifest(target)["shards_dir"]
    ]


def test_server_switches_generations_between_requests(contents: dict[str, Path], tmp_path: Path) -> None:
    """The server keeps a database open across requests: during switches every answer is A's or B's,
    and after the last switch it answers from the last generation (it noticed the new one)."""
    runtime = Path(tempfile.mkdtemp(prefix="mn-", dir="/tmp"))  # Unix socket paths must be short
    env = {k: v for k, v in os.environ.items() if k != "MACH_NIX_NO_SERVER"}
    env.update(XDG_RUNTIME_DIR=str(runtime), MACH_NIX_CACHE=str(tmp_path / "cache"))
    plain = dict(env, MACH_NIX_NO_SERVER="1")
    expected = {}
    for name in ("a", "b"):
        assert _cli_lock(contents[name], tmp_path / f"{name}.json", plain).returncode == 0
        expected[name] = (tmp_path / f"{name}.json").read_bytes()
    target = tmp_path / "db"
    shutil.copytree(contents["a"], target)
    try:
        started = subprocess.run(
            [*CLI, "server", "start", "--idle", "120"], capture_output=True, text=True, env=env, timeout=120
        )
        assert started.returncode == 0, started.stderr
        writer = _Writer(target, contents)
        answers: list[tuple[int, str, bytes]] = []
        out = tmp_path / "served.json"

        def body() -> None:
            out.unlink(missing_ok=True)
            result = _cli_lock(target, out, env)
            answers.append((result.returncode, result.stderr, out.read_bytes() if out.exists() else b""))

        _readers([body], writer)
        switches = writer.switches()
        assert switches >= MIN_SWITCHES and len(answers) >= 4, (switches, len(answers))
        failed = [(code, err) for code, err, lock in answers if code != 0 or lock not in expected.values()]
        assert not failed, f"{len(failed)} of {len(answers)} served locks failed: {failed[:3]}"
        last = "a" if switches % 2 == 1 else "b"  # the writer writes A first: an odd count ends on A
        body()
        assert answers[-1][2] == expected[last]
        # every lock was served (not run in-process)
        status = subprocess.run([*CLI, "server", "status"], capture_output=True, text=True, env=env, timeout=60)
        assert status.returncode == 0, status.stderr
        assert int(status.stdout.split(" requests served")[0].rsplit(", ", 1)[1]) == len(answers)
        # it let go of the old generations between requests, also of a database it is not asked about again
        assert len([p for p in target.iterdir() if p.name.startswith("shards-")]) == 1
        other = "b" if last == "a" else "a"
        store.write_database(
            target, [_materialised(p) for p in store.open_database(contents[other]).layers[0].projects()]
        )
        assert len([p for p in target.iterdir() if p.name.startswith("shards-")]) == 2  # the server holds the old one
        assert _cli_lock(contents["a"], tmp_path / "elsewhere.json", env).returncode == 0
        assert [p.name for p in target.iterdir() if p.name.startswith("shards-")] == [
            store.read_manifest(target)["shards_dir"]
        ]
    finally:
        subprocess.run([*CLI, "server", "stop"], capture_output=True, env=env, timeout=60)
        shutil.rmtree(runtime, ignore_errors=True)
