"""The resolver server under bad clients: every malformed frame gets an error and the server
goes on; an idle client holds up nobody; clients that leave mid-request change nothing;
many concurrent clients get the answers a direct run gives, byte for byte.

Raw bytes go to the server's Unix socket (never a network address); every client loop is
bounded in count and time, and the server is stopped (or killed) when a test ends.
"""

from __future__ import annotations

import contextlib
import json
import marshal
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mach_nix import entry
from mach_nix.server import client
from mach_nix.server import request as request_module
from mach_nix.server.daemon import MAX_CONNECTIONS, MAX_REQUEST_BYTES
from mach_nix.server.request import check_request, decode_request
from nixhelpers import CLI, REPO

SNAPSHOT = str(REPO / "tests" / "data" / "pypi-db")

#: How long the test server gives a client to send its request (the default is 10 s).
READ_TIMEOUT = 4.0


@dataclass
class Server:
    process: subprocess.Popen
    path: str
    env: dict[str, str]

    def alive(self) -> bool:
        return self.process.poll() is None

    def status(self) -> dict:
        return json.loads(client.send(self.path, {"control": "status"}, timeout=30)["stdout"])

    def request(self, argv: list[str], cwd: Path, timeout: float = 60) -> dict:
        return client.send(self.path, {"argv": argv, "cwd": str(cwd), "env": self.env}, timeout=timeout)


def _limit_memory() -> None:
    # should the frame checks regress, a 2**31-slot tuple is a MemoryError, not the OOM killer
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))


@contextlib.contextmanager
def running_server(cache: Path) -> Iterator[Server]:
    """A resolver server of this checkout on a private socket, stopped (or killed) at the end."""
    runtime = Path(tempfile.mkdtemp(prefix="mn-", dir="/tmp"))  # Unix socket paths must be short
    env = {k: v for k, v in os.environ.items() if k != "MACH_NIX_NO_SERVER"}
    env.update(XDG_RUNTIME_DIR=str(runtime), MACH_NIX_CACHE=str(cache))
    read_end, write_end = os.pipe()
    process = subprocess.Popen(
        [sys.executable, "-m", "mach_nix.server", "--idle", "120", "--ready-fd", str(write_end)]
        + ["--read-timeout", str(READ_TIMEOUT)],
        env=dict(env, MACH_NIX_NO_SERVER="1"),
        pass_fds=(write_end,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=_limit_memory,
    )
    os.close(write_end)
    try:
        assert os.read(read_end, 2) == b"ok", "the server did not start"
        os.close(read_end)
        sockets = list((runtime / "mach-nix").glob("*.sock"))
        assert len(sockets) == 1
        yield Server(process, str(sockets[0]), env)
    finally:
        if process.poll() is None:
            with contextlib.suppress(OSError, StopIteration, KeyError):
                client.send(str(next((runtime / "mach-nix").glob("*.sock"))), {"control": "stop"}, timeout=10)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(runtime, ignore_errors=True)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with running_server(tmp_path / "cache") as started:
        yield started


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("cache")) as started:
        yield started


def connect(path: str, timeout: float = 30) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.connect(path)
    return sock


def frame(payload: bytes) -> bytes:
    return len(payload).to_bytes(4, "big") + payload


def answer(sock: socket.socket) -> dict | None:
    """The server's response on ``sock``, or ``None`` when it closes without one."""
    try:
        return marshal.loads(client.read_frame(sock))
    except ConnectionError:
        return None


def direct(argv: list[str], cwd: Path) -> dict:
    """The same command run without a server: what the server must answer."""
    proc = subprocess.run(
        [*CLI, *argv], cwd=cwd, env=dict(os.environ, MACH_NIX_NO_SERVER="1"), capture_output=True, text=True
    )
    return {"stdout": proc.stdout, "stderr": proc.stderr, "code": proc.returncode}


def request(argv: object = ("resolve", "six"), cwd: object = "/", env: object = None, **extra: object) -> bytes:
    value = {"argv": list(argv) if isinstance(argv, tuple) else argv, "cwd": cwd, "env": env or {"A": "b"}}
    value.update(extra)
    return frame(marshal.dumps(value))


code_object = compile("import os; os._exit(3)", "<frame>", "exec")

#: Malformed frames, each answered with an error (the server died on 13 of 23 such kinds).
MALFORMED: dict[str, bytes] = {
    "marshalled list": frame(marshal.dumps([1, 2])),
    "empty dict": frame(marshal.dumps({})),
    "marshalled None": frame(marshal.dumps(None)),
    "marshalled string": frame(marshal.dumps("resolve six")),
    "marshalled int": frame(marshal.dumps(7)),
    "code object": frame(marshal.dumps(code_object)),
    "garbage": frame(b"\xff\xfe\xfd\x00garbage"),
    "empty payload": frame(b""),
    "trailing bytes": frame(marshal.dumps({"control": "status"}) + b"junk"),
    "tuple of 2**31 slots": frame(b"(" + (0x7FFFFFFF).to_bytes(4, "little")),  # 16 GiB for marshal.loads
    "list of 2**31 slots": frame(b"[" + (0x7FFFFFFF).to_bytes(4, "little")),
    "deep nesting": frame(b"[\x01\x00\x00\x00" * 200 + b"N"),
    "dangling reference": frame(b"r\x05\x00\x00\x00"),
    "frame over the limit": (MAX_REQUEST_BYTES + 1).to_bytes(4, "big") + b"{",
    "frame of 4 GiB": b"\xff\xff\xff\xff",
    "env with an int": request(env={"A": 1}),
    "env with a NUL in a value": request(env={"A": "b\x00c"}),
    "env with a NUL in a name": request(env={"A\x00": "b"}),
    "env name with '='": request(env={"A=B": "c"}),
    "env empty name": request(env={"": "c"}),
    "env a list": request(env=["A=b"]),
    "env with a lone surrogate": request(env={"A": "\ud800"}),
    "argv a string": request(argv="resolve six"),
    "argv empty": request(argv=[]),
    "argv with an int": request(argv=["resolve", 6]),
    "argv with a NUL": request(argv=["resolve", "six\x00"]),
    "argv 'server run'": request(argv=["server", "run"]),  # would exec another daemon over this one
    "argv 'db crawl'": request(argv=["db", "crawl", "--db", "/nonexistent/db", "six"]),
    "cwd an int": request(cwd=1),
    "cwd relative": request(cwd="relative/dir"),
    "cwd with a NUL": request(cwd="/tmp\x00"),
    "missing env": frame(marshal.dumps({"argv": ["resolve", "six"], "cwd": "/"})),
    "unknown field": request(extra_field=1),
    "unknown control": frame(marshal.dumps({"control": "restart"})),
    "control with more": frame(marshal.dumps({"control": "stop", "argv": []})),
    "control an int": frame(marshal.dumps({"control": 1})),
}


def test_every_malformed_frame_gets_an_error_and_the_server_goes_on(server: Server, tmp_path: Path) -> None:
    expected = direct(["resolve", "--db", SNAPSHOT, "six"], tmp_path)
    for kind, data in MALFORMED.items():
        with connect(server.path) as sock:
            sock.sendall(data)
            response = answer(sock)
        assert response is not None, kind
        assert response["code"] == 2 and response["stdout"] == "", (kind, response)
        assert response["stderr"].startswith("mach-nix: error: the server refused the request: "), (kind, response)
        assert response["stderr"].count("\n") == 1, (kind, response)
        assert server.alive(), kind
    # a request in a directory that is gone is the command's error, not the server's end
    gone = server.request(["resolve", "six"], tmp_path / "vanished")
    assert gone["code"] == 2 and "No such file or directory" in gone["stderr"]
    # still serving, the same answers as ever, and nothing ran for the refused frames
    assert server.request(["resolve", "--db", SNAPSHOT, "six"], tmp_path) == expected
    assert server.status()["served"] == 2


def test_frames_cut_short_are_dropped_and_the_server_goes_on(server: Server, tmp_path: Path) -> None:
    for data, close in (
        (b"", "close"),  # connect and leave
        (b"\x00\x00", "close"),  # half a header
        (b"\x00\x00\x10\x00" + b"{" * 10, "close"),  # 10 of 4096 bytes
        (b"\x00\x00\x10\x00" + b"{" * 10, "shutdown"),  # the same, then only its sending side closed
    ):
        sock = connect(server.path)
        sock.sendall(data)
        if close == "close":
            sock.close()
        else:
            sock.shutdown(socket.SHUT_WR)
            started = time.monotonic()
            assert answer(sock) is None  # the server closes: nothing to answer
            assert time.monotonic() - started < READ_TIMEOUT + 10
            sock.close()
    assert server.alive()
    assert server.request(["resolve", "--db", SNAPSHOT, "six"], tmp_path) == direct(
        ["resolve", "--db", SNAPSHOT, "six"], tmp_path
    )


def test_an_idle_client_holds_up_no_other(server: Server, tmp_path: Path) -> None:
    argv = ["resolve", "--db", SNAPSHOT, "six"]
    expected = direct(argv, tmp_path)
    server.request(argv, tmp_path)  # warm: the databases are open
    idle = connect(server.path)
    idle.sendall(b"\x00\x00")  # half a header, then nothing
    started = time.monotonic()
    with futures.ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda _i: server.request(argv, tmp_path, timeout=30), range(20)))
    elapsed = time.monotonic() - started
    assert answers == [expected] * 20
    # before: the server read the idle client's frame for up to 30 s before accepting anyone else
    assert elapsed < READ_TIMEOUT, f"20 requests took {elapsed:.1f} s next to an idle client"
    # and the idle client is dropped once its time to send a request is up
    idle.settimeout(READ_TIMEOUT + 10)
    assert answer(idle) is None
    assert time.monotonic() - started < READ_TIMEOUT + 10
    idle.close()


def test_connections_are_bounded_and_a_full_server_still_answers_in_time(server: Server, tmp_path: Path) -> None:
    idle = [connect(server.path) for _ in range(MAX_CONNECTIONS + 20)]  # more than it serves at once
    try:
        time.sleep(0.5)
        status = Path(f"/proc/{server.process.pid}/status").read_text().splitlines()
        threads = int(next(line for line in status if line.startswith("Threads:")).split()[1])
        assert threads <= MAX_CONNECTIONS + 2  # the accept loop, a connection thread each, nothing more
        started = time.monotonic()
        response = server.request(["resolve", "--db", SNAPSHOT, "six"], tmp_path, timeout=60)
        assert response["code"] == 0, response
        # it waited for the idle ones' time to run out, twice at most (64 + 20 + 1 > 64)
        assert time.monotonic() - started < 3 * READ_TIMEOUT + 10
    finally:
        for sock in idle:
            sock.close()
    assert server.alive()


def test_clients_that_leave_mid_request_change_nothing(server: Server, tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("requests[socks]\nblack\n")
    argv = ["lock", "--db", SNAPSHOT, "-r", "requirements.txt", "-o", "-"]
    expected = direct(argv, tmp_path)
    for _ in range(20):  # a full request, and gone before the answer
        sock = connect(server.path)
        sock.sendall(frame(marshal.dumps({"argv": argv, "cwd": str(tmp_path), "env": server.env})))
        sock.close()
    for _ in range(5):  # half a request
        sock = connect(server.path)
        data = frame(marshal.dumps({"argv": argv, "cwd": str(tmp_path), "env": server.env}))
        sock.sendall(data[: len(data) // 2])
        sock.close()
    assert server.alive()
    assert server.request(argv, tmp_path) == expected
    assert server.alive()


def test_200_concurrent_clients_get_byte_identical_answers(server: Server, tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("requests[socks]\nblack\n")
    commands = [
        ["resolve", "--db", SNAPSHOT, "six"],
        ["lock", "--db", SNAPSHOT, "-r", "requirements.txt", "-o", "-", "--python", "3.11.7"],
        ["resolve", "--db", SNAPSHOT, "--format", "json", "flask==1.0", "--python", "3.8"],
        ["resolve", "--db", SNAPSHOT, "--offline", "reqeusts"],  # an error: exit code 4 and its message
        ["lock", "--db", SNAPSHOT, "--bogus"],  # a usage error
    ]
    expected = [direct(argv, tmp_path) for argv in commands]
    assert [e["code"] for e in expected] == [0, 0, 0, 4, 2]
    barrier = threading.Barrier(50)

    def one(index: int) -> tuple[int, dict]:
        if index < 50:
            barrier.wait(timeout=30)  # the first 50 connect at the same moment
        return index % len(commands), server.request(commands[index % len(commands)], tmp_path, timeout=120)

    started = time.monotonic()
    with futures.ThreadPoolExecutor(200) as pool:
        results = list(pool.map(one, range(200)))
    assert time.monotonic() - started < 120
    for which, response in results:
        assert response == expected[which], commands[which]
    assert server.status()["served"] == 200


def _mutate(data: bytes, how: str, at: int, junk: bytes) -> bytes:
    at = at % (len(data) + 1)
    if how == "flip" and data:
        at = min(at, len(data) - 1)
        return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]
    if how == "insert":
        return data[:at] + junk + data[at:]
    if how == "truncate":
        return data[:at]
    return junk


VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**31), 2**31 - 1) | st.text(max_size=10) | st.floats(allow_nan=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=10,
)


@settings(
    max_examples=150,
    deadline=timedelta(seconds=30),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    payload=st.one_of(
        VALUES.map(marshal.dumps),
        st.fixed_dictionaries({"argv": VALUES, "cwd": VALUES, "env": VALUES}).map(marshal.dumps),
        st.tuples(
            st.sampled_from(["flip", "insert", "truncate", "replace"]), st.integers(0, 10**4), st.binary(max_size=9)
        ),
    )
)
def test_fuzz_frames(shared_server: Server, payload: object) -> None:
    if isinstance(payload, tuple):  # a mutated valid request (resolve only: it writes no file)
        valid = marshal.dumps({"argv": ["resolve", "--db", SNAPSHOT, "six"], "cwd": "/nonexistent", "env": {"A": "b"}})
        payload = _mutate(valid, *payload)
    assert isinstance(payload, bytes)
    with connect(shared_server.path) as sock:
        sock.sendall(frame(payload))
        response = answer(sock)
    assert response is not None and set(response) == {"stdout", "stderr", "code"}, response
    assert response["code"] in (0, 2, 3, 4) and response["stderr"].startswith("mach-nix: "), response
    assert shared_server.alive()


@settings(max_examples=300, deadline=timedelta(seconds=2))
@given(value=VALUES)
def test_the_servers_reader_reads_what_marshal_writes(value: Any) -> None:
    shared = "a string marshal records once and refers to"
    for sample in (value, {"argv": [shared, shared], "cwd": shared, "env": {shared: shared, "x": value}}):
        assert decode_request(marshal.dumps(sample)) == sample


def test_requests_the_client_sends_pass_the_servers_checks(tmp_path: Path) -> None:
    sent = {"argv": ["lock", "-r", "requirements.txt", "é"], "cwd": str(tmp_path), "env": dict(os.environ)}
    assert check_request(decode_request(marshal.dumps(sent))) == sent
    for control in ("status", "stop"):
        assert check_request(decode_request(marshal.dumps({"control": control}))) == {"control": control}
    assert request_module.FORWARDED == entry.FORWARDED


def test_a_stop_lets_the_running_command_finish(server: Server, tmp_path: Path) -> None:
    argv = ["resolve", "--db", SNAPSHOT, "jupyterlab"]  # about 2 s of resolution
    expected = direct(argv, tmp_path)
    with futures.ThreadPoolExecutor(1) as pool:
        running = pool.submit(server.request, argv, tmp_path, 120)
        time.sleep(0.5)  # read at once, and running by now
        stopped = client.send(server.path, {"control": "stop"}, timeout=30)
        assert stopped["code"] == 0
        assert running.result(timeout=120) == expected  # whole, not cut off by the stop
    assert server.process.wait(timeout=30) == 0
