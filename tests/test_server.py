"""The resolver server (mach_nix.server): same results as a plain run, in the client's
working directory and environment, private, gone when idle or stopped, and never
answering with code other than the running checkout's."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

import mach_nix
from mach_nix.server import client
from nixhelpers import REPO

SNAPSHOT = REPO / "tests" / "data" / "pypi-db"


def cli(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mach_nix", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def env(tmp_path: Path):
    runtime = Path(tempfile.mkdtemp(prefix="mn-", dir="/tmp"))  # Unix socket paths must be short
    (tmp_path / "run").symlink_to(runtime)
    environment = {k: v for k, v in os.environ.items() if k != "MACH_NIX_NO_SERVER"}
    environment.update(XDG_RUNTIME_DIR=str(runtime), MACH_NIX_CACHE=str(tmp_path / "cache"))
    yield environment
    cli("server", "stop", cwd=tmp_path, env=environment)
    shutil.rmtree(runtime, ignore_errors=True)


def served(env: dict[str, str], cwd: Path) -> int:
    """Requests the running server served, read from ``server status`` and checked against ``--json``."""
    result = cli("server", "status", cwd=cwd, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    count = int(result.stdout.split(" requests served")[0].rsplit(", ", 1)[1])
    status = json.loads(cli("server", "status", "--json", cwd=cwd, env=env).stdout)
    assert status["running"] is True and status["served"] == count
    assert f"pid {status['pid']}, socket {status['socket']}," in result.stdout
    return count


def test_server_gives_byte_identical_results_in_the_clients_cwd_and_env(env, tmp_path: Path) -> None:
    work = tmp_path / "project"
    work.mkdir()
    (work / "requirements.txt").write_text("requests[socks]\nblack\n")
    plain_env = dict(env, MACH_NIX_NO_SERVER="1", MACH_NIX_DB=str(SNAPSHOT))
    plain = cli("lock", "-r", "requirements.txt", "-o", "plain.json", "--python", "3.11.7", cwd=work, env=plain_env)
    assert plain.returncode == 0, plain.stderr

    assert cli("server", "status", cwd=tmp_path, env=env).returncode == 1
    stopped = cli("server", "status", "--json", cwd=tmp_path, env=env)
    assert stopped.returncode == 1 and json.loads(stopped.stdout)["running"] is False
    assert json.loads(stopped.stdout)["socket"].startswith(env["XDG_RUNTIME_DIR"])
    started = cli("server", "start", "--idle", "120", cwd=tmp_path, env=env)
    assert started.returncode == 0 and "server started" in started.stderr, started.stderr
    assert served(env, tmp_path) == 0
    # relative -r and -o are the client's; MACH_NIX_DB comes from the client's environment
    fast = cli(
        "lock",
        "-r",
        "requirements.txt",
        "-o",
        "served.json",
        "--python",
        "3.11.7",
        cwd=work,
        env=dict(env, MACH_NIX_DB=str(SNAPSHOT)),
    )
    assert fast.returncode == 0, fast.stderr
    assert served(env, tmp_path) == 1
    assert (work / "served.json").read_bytes() == (work / "plain.json").read_bytes()
    assert fast.stderr == plain.stderr.replace("plain.json", "served.json")
    # stdout, and a second (warm) request
    table = cli("resolve", "--db", str(SNAPSHOT), "six", cwd=work, env=env)
    assert table.returncode == 0 and table.stdout.startswith("name") and "six" in table.stdout
    assert served(env, tmp_path) == 2
    # errors keep their exit codes and messages
    unknown = cli("resolve", "--db", str(SNAPSHOT), "--offline", "reqeusts", cwd=work, env=env)
    assert unknown.returncode == 4 and "requests" in unknown.stderr
    usage = cli("lock", "--bogus", cwd=work, env=env)
    assert usage.returncode == 2 and "unrecognized arguments" in usage.stderr
    assert served(env, tmp_path) == 4
    # a rewritten database is reopened, not served from memory
    mine = tmp_path / "mine"
    assert (
        cli(
            "db", "slim", "--db", str(SNAPSHOT), "--out", str(mine), "--files-url", SNAPSHOT.as_uri(), cwd=work, env=env
        ).returncode
        == 0
    )
    first = cli("resolve", "--db", str(mine), "--format", "json", "six", cwd=work, env=env)
    manifest = json.loads((mine / "manifest.json").read_text())
    manifest["crawl_time"] = "2000-01-01T00:00:00Z"
    (mine / "manifest.json.new").write_text(json.dumps(manifest))
    os.replace(mine / "manifest.json.new", mine / "manifest.json")
    second = cli("resolve", "--db", str(mine), "--format", "json", "six", cwd=work, env=env)
    assert first.returncode == second.returncode == 0 and first.stdout == second.stdout
    # other commands never go to the server
    before = served(env, tmp_path)
    assert cli("db", "info", "--db", str(SNAPSHOT), cwd=work, env=env).returncode == 0
    assert served(env, tmp_path) == before

    assert cli("server", "stop", cwd=tmp_path, env=env).returncode == 0
    assert cli("server", "status", cwd=tmp_path, env=env).returncode == 1
    after = cli("resolve", "--db", str(SNAPSHOT), "six", cwd=work, env=env)  # runs in-process again
    assert after.returncode == 0 and after.stdout == table.stdout


def test_idle_server_exits_and_removes_its_socket(env, tmp_path: Path) -> None:
    assert cli("server", "start", "--idle", "1", cwd=tmp_path, env=env).returncode == 0
    sockets = list((tmp_path / "run" / "mach-nix").glob("*.sock"))
    assert len(sockets) == 1
    deadline = time.monotonic() + 20
    while sockets[0].exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not sockets[0].exists()
    assert cli("server", "status", cwd=tmp_path, env=env).returncode == 1


def test_unsafe_runtime_dir_is_never_used(env, tmp_path: Path) -> None:
    shared = tmp_path / "run" / "mach-nix"
    shared.mkdir(mode=0o700)
    shared.chmod(0o777)  # open to others: someone could plant a socket
    started = cli("server", "start", cwd=tmp_path, env=env)
    assert started.returncode == 2 and "open to others" in started.stderr
    ok = cli("resolve", "--db", str(SNAPSHOT), "six", cwd=tmp_path, env=env)
    assert ok.returncode == 0  # in-process


def test_address_changes_with_every_module_of_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "pkg"
    for sub in ("", "commands", "db"):
        (package / sub).mkdir(parents=True, exist_ok=True)
        (package / sub / "x.py").write_text("")
    monkeypatch.setattr(client, "PACKAGE_DIR", str(package))
    keys = [client.code_key()]
    assert keys[0].startswith(client.__version__ + "-")
    old = (time.time_ns() - 10**12,) * 2  # mtimes older than every other file: a newest-mtime key misses them

    os.utime(package / "db" / "x.py", ns=(time.time_ns() + 10**9,) * 2)  # an edit
    keys.append(client.code_key())
    new_package = package / "newpkg" / "deeper"  # a module in a subpackage nobody listed
    new_package.mkdir(parents=True)
    (new_package / "y.py").write_text("")
    os.utime(new_package / "y.py", ns=old)
    keys.append(client.code_key())
    (package / "commands" / "x.py").unlink()  # a module removed
    keys.append(client.code_key())
    (package / "db" / "x.py").write_text("x = 1\n")  # same mtime, other content
    os.utime(package / "db" / "x.py", ns=(time.time_ns() + 10**9,) * 2)
    keys.append(client.code_key())
    assert len(set(keys)) == len(keys), keys
    (package / "db" / "__pycache__").mkdir()
    (package / "db" / "__pycache__" / "x.py").write_text("")  # not a module of the package
    assert client.code_key() == keys[-1]


def test_code_key_covers_every_module_of_the_installed_package() -> None:
    root = Path(mach_nix.__file__).parent
    expected = sorted(str(p.relative_to(root)) for p in root.rglob("*.py") if "__pycache__" not in p.parts)
    assert [path for path, _mtime, _size in client.code_files()] == expected
    assert {"resolution/provider.py", "server/daemon.py", "db/store.py"} <= set(expected)


def test_the_command_line_never_imports_the_daemon() -> None:
    probe = "import sys, mach_nix.cli; print(sorted(m for m in sys.modules if m.startswith('mach_nix.server')))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['mach_nix.server', 'mach_nix.server.client']"


def test_server_run_is_the_daemon_in_the_foreground(env, tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "mach_nix", "server", "run", "--idle", "30"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        status = cli("server", "status", cwd=tmp_path, env=env)
        while status.returncode != 0 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.2)
            status = cli("server", "status", cwd=tmp_path, env=env)
        assert status.returncode == 0, status.stdout
        assert f"pid {process.pid}," in status.stdout  # exec'd: the same process, for service managers
        assert cli("server", "stop", cwd=tmp_path, env=env).returncode == 0
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
