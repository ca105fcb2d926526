"""Hostile sdists against the confined PEP 517 hook (issue 15 item 1).

Each sdist is built here and tries one escape: a process that outlives its hook and
rewrites another sdist's result, a child that holds the output pipes past the timeout, a
fork bomb, writes to the machine's shared temp directories, connections to sockets the
test listens on. The hook runs as it does in a crawl (root here and in CI: its own uid,
namespaces and file system).
"""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from hook_helpers import backend_sdist, new_runner
from mach_nix.db.extract import ExtractError
from mach_nix.db.pep517 import HookLimits, HookRunner


def processes_with(token: str) -> list[int]:
    """PIDs of the machine's processes whose command line contains ``token``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as handle:
                    if token.encode() in handle.read():
                        found.append(int(entry))
            except OSError:
                continue
    return found


@pytest.fixture(scope="module")
def runner() -> Iterator[HookRunner]:
    hook_runner = new_runner(HookLimits(timeout=8, memory_bytes=1024**3))
    yield hook_runner
    hook_runner.close()


#: Left behind by the first sdist: for 20 s, rewrites the mode file of every other sdist it can reach.
TAMPER = """
import os, sys, time
from pathlib import Path
own = Path(sys.argv[2])  # the hook's own directory (which is gone once the hook has ended)
os.chdir("/")
end = time.time() + 20
while time.time() < end:
    for top in [own, *own.parents]:
        for pattern in ("*/*/mode.txt", "*/*/*/mode.txt", "*/*/*/*/mode.txt"):
            try:
                for path in top.glob(pattern):
                    if own not in path.parents:
                        path.write_text("evil")
            except OSError:
                pass
    time.sleep(0.05)
"""

LEAVE_DAEMON = """
import os, subprocess, sys
def run(outdir):
    token = open("token.txt").read().strip()
    code = open("tamper.py").read()
    subprocess.Popen([sys.executable, "-c", code, token, os.getcwd()], start_new_session=True,
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return []
"""

VICTIM = """
import time
def run(outdir):
    time.sleep(2)  # the window in which a leftover process of another hook would strike
    return ["evil"] if open("mode.txt").read().strip() == "evil" else ["attrs>=20"]
"""


def test_no_process_outlives_its_hook_nor_touches_another_sdist(runner: HookRunner) -> None:
    token = f"mach-nix-test-{uuid.uuid4().hex}"
    hostile = backend_sdist(LEAVE_DAEMON, **{"token.txt": token, "tamper.py": TAMPER})
    try:
        assert runner.metadata("demo-1.0.tar.gz", hostile).requires_dist == ()
        assert processes_with(token) == []  # the daemon died with its hook
        victim = runner.metadata("demo-1.0.tar.gz", backend_sdist(VICTIM, **{"mode.txt": "ok"}))
        assert victim.requires_dist == ("attrs>=20",)
    finally:
        for pid in processes_with(token):
            os.kill(pid, 9)


HOLD_PIPES = """
import subprocess
def run(outdir):
    # a child in a session of its own, holding stdout and stderr open for 30 s
    subprocess.Popen(["sleep", "30"], start_new_session=True)
    return ["attrs>=20"]
"""

HOLD_PIPES_AND_HANG = """
import subprocess, time
def run(outdir):
    subprocess.Popen(["sleep", "60"], start_new_session=True)
    time.sleep(60)
"""


def test_children_holding_the_pipes_do_not_delay_the_result(runner: HookRunner) -> None:
    start = time.monotonic()
    meta = runner.metadata("demo-1.0.tar.gz", backend_sdist(HOLD_PIPES))
    assert meta.requires_dist == ("attrs>=20",)
    assert time.monotonic() - start < 6  # the hook ended: its leftovers are killed, nobody waits for them


def test_timeout_is_wall_time_whatever_holds_the_pipes() -> None:
    quick = new_runner(HookLimits(timeout=3, memory_bytes=1024**3))
    try:
        start = time.monotonic()
        with pytest.raises(ExtractError) as info:
            quick.metadata("demo-1.0.tar.gz", backend_sdist(HOLD_PIPES_AND_HANG))
        assert info.value.kind == "timeout"
        assert time.monotonic() - start < 6
    finally:
        quick.close()


FORK_BOMB = """
import os, time
def run(outdir):
    children = 0
    for _ in range(300):
        try:
            pid = os.fork()
        except OSError:
            break
        if pid == 0:
            time.sleep(30)
            os._exit(0)
        children += 1
    return ["forked==%d" % children]
"""


def test_fork_bomb_is_bounded() -> None:
    bounded = new_runner(HookLimits(timeout=10, memory_bytes=1024**3, processes=16))
    try:
        meta = bounded.metadata("demo-1.0.tar.gz", backend_sdist(FORK_BOMB))
        (line,) = meta.requires_dist
        assert 0 < int(line.split("==")[1]) < 16, line
    finally:
        bounded.close()


WRITE_EVERYWHERE = """
import os
def run(outdir):
    wrote = []
    for path in open("targets.txt").read().split():
        try:
            with open(path, "w") as f:
                f.write("escaped")
            wrote.append(path)
        except OSError:
            pass
    # the private temp directory works (tempfile and plain /tmp)
    import tempfile
    with tempfile.NamedTemporaryFile() as f:
        f.write(b"x")
    open("/tmp/private", "w").write("x")
    return ["wrote==%d" % len(wrote)]
"""


def test_nothing_outside_its_own_directory_is_writable(runner: HookRunner) -> None:
    token = uuid.uuid4().hex
    shared = Path(tempfile.mkdtemp(prefix="mach-nix-test-shared-"))
    shared.chmod(0o1777)  # a world-writable directory of the machine
    targets = [f"/tmp/mach-nix-escape-{token}", f"/dev/shm/mach-nix-escape-{token}"]
    targets += [f"/var/tmp/mach-nix-escape-{token}", str(shared / "escaped")]
    try:
        meta = runner.metadata("demo-1.0.tar.gz", backend_sdist(WRITE_EVERYWHERE, **{"targets.txt": " ".join(targets)}))
        assert [p for p in targets if os.path.exists(p)] == []
        assert meta.requires_dist  # the hook ran to its end
    finally:
        for path in targets:
            if os.path.exists(path):
                os.unlink(path)
        shared.rmdir()


CONNECT = """
import socket
def run(outdir):
    path, abstract, port = open("targets.txt").read().split()
    reached = []
    for family, address in ((socket.AF_UNIX, path), (socket.AF_UNIX, "\\0" + abstract),
                            (socket.AF_INET, ("127.0.0.1", int(port)))):
        try:
            with socket.socket(family, socket.SOCK_STREAM) as s:
                s.settimeout(2)
                s.connect(address)
                s.sendall(b"escaped")
                reached.append(str(address))
        except OSError:
            pass
    return ["reached==%d" % len(reached)]
"""


def test_no_socket_of_the_machine_is_reachable(runner: HookRunner) -> None:
    directory = Path(tempfile.mkdtemp(prefix="mach-nix-test-socket-"))
    directory.chmod(0o755)
    path = directory / "listen.sock"
    abstract = f"mach-nix-test-{uuid.uuid4().hex}"
    listeners = [socket.socket(socket.AF_UNIX), socket.socket(socket.AF_UNIX), socket.socket(socket.AF_INET)]
    listeners[0].bind(str(path))
    path.chmod(0o777)
    listeners[1].bind("\0" + abstract)
    listeners[2].bind(("127.0.0.1", 0))
    port = listeners[2].getsockname()[1]
    accepted: list[bytes] = []
    stop = threading.Event()

    def serve(sock: socket.socket) -> None:
        sock.listen(4)
        sock.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            with conn:
                accepted.append(conn.recv(100))

    threads = [threading.Thread(target=serve, args=(s,)) for s in listeners]
    for thread in threads:
        thread.start()
    try:
        meta = runner.metadata(
            "demo-1.0.tar.gz", backend_sdist(CONNECT, **{"targets.txt": f"{path} {abstract} {port}"})
        )
        assert meta.requires_dist == ("reached==0",)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        for sock in listeners:
            sock.close()
        path.unlink()
        directory.rmdir()
    assert accepted == []


def test_an_archive_that_inflates_past_the_limit_is_refused(runner: HookRunner, monkeypatch) -> None:
    from mach_nix.db import pep517

    monkeypatch.setattr(pep517, "MAX_UNPACKED_BYTES", 1_000_000)
    bomb = backend_sdist("def run(outdir):\n    return []\n", **{"zeros.txt": "0" * 2_000_000})
    assert len(bomb) < 20_000  # gzip: 2 MB of zeros
    with pytest.raises(ExtractError) as info:
        runner.metadata("demo-1.0.tar.gz", bomb)
    assert info.value.kind == "invalid" and "over the limits" in info.value.reason
