"""The resolver server: a process that keeps the resolver imported and the databases open.

A ``mach-nix lock`` or ``resolve`` spends most of its time starting: the
interpreter, then the imports of ``packaging``, ``resolvelib`` and mach-nix
(tens of milliseconds), then opening and decoding the database. ``mach-nix
server start`` runs this module in the background (through
:mod:`mach_nix.server.__main__`); the ``mach-nix`` executable
(:mod:`mach_nix.entry`) then hands those two commands to it over a Unix socket
(:mod:`mach_nix.server.client`) and prints what it answers. The work done is the
same: the server runs the ordinary command line (:func:`mach_nix.cli.main`) in the
client's working directory and environment, so results are byte-identical to a run
without it (tests check this).

Clients are served concurrently, a thread per connection (at most
:data:`MAX_CONNECTIONS`; more wait in the listen queue): each has
:data:`READ_TIMEOUT` seconds to send its request, so an idle client holds up no
other. Every frame is decoded and checked by :mod:`mach_nix.server.request` before
anything runs; a malformed one gets an error response (exit code 2) and the server
goes on. Commands run one at a time (:class:`_Daemon` says why); a client that hung
up while waiting for its turn is skipped.
docs/security.md ("The resolver server") lists what is defended and what is not.

What it keeps between requests: imported modules, opened databases with the
projects they decoded (reopened when a database's ``manifest.json`` changes),
and nothing else. A request reads one generation of each database from start to
end (:mod:`mach_nix.db.generations`); after each request, the generations that a
writer replaced meanwhile are let go, and the next request opens the new ones.
It exits after ``--idle`` seconds without a request, on
``mach-nix server stop``, or when its socket is removed. Its address depends on
the mach-nix code (:func:`mach_nix.server.client.code_key`), so an edited or upgraded
mach-nix never talks to an old server. ``MACH_NIX_NO_SERVER=1`` bypasses it.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import select
import socket
import sys
import threading
import time
import traceback

from mach_nix.cli import main
from mach_nix.db.reader import release_superseded
from mach_nix.errors import UsageError
from mach_nix.server.client import DEFAULT_IDLE, code_files, write_frame
from mach_nix.server.request import BadRequest, check_request, decode_request


def package_modules() -> list[str]:
    """Every module of the mach_nix package (from :func:`~mach_nix.server.client.code_files`),
    except the ``__main__`` modules, which run a program when imported."""
    names = []
    for path, _mtime, _size in code_files():
        parts = path[: -len(".py")].split(os.sep)
        if parts[-1] == "__main__":
            continue
        if parts[-1] == "__init__":
            parts.pop()
        names.append(".".join(["mach_nix", *parts]))
    return names


def _warm_up() -> None:
    """Import every module of the package (what ``lock``/``resolve`` use among them), so
    that the first request is as fast as the next ones."""
    for name in package_modules():
        importlib.import_module(name)


def run_request(request: dict) -> dict:
    """Run one forwarded command as the CLI would in the client's cwd and environment."""
    saved_cwd = os.getcwd()
    saved_env = dict(os.environ)
    stdout, stderr = io.StringIO(), io.StringIO()
    try:
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                code = main(request["argv"])
            except SystemExit as exit_:  # argparse: --help, usage errors
                code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 2)
                if isinstance(exit_.code, str):
                    print(exit_.code, file=sys.stderr)
    except OSError as error:  # the client's cwd vanished
        code = 2
        stderr.write(f"mach-nix: error: {error}\n")
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    return {"stdout": stdout.getvalue(), "stderr": stderr.getvalue(), "code": int(code)}


#: The largest request frame read (argv, cwd and environment: a few KiB in practice).
MAX_REQUEST_BYTES = 16 * 1024 * 1024

#: Seconds a client has to send its whole request once connected; then it is dropped.
READ_TIMEOUT = 10.0

#: Seconds a client has to take its answer.
WRITE_TIMEOUT = 60.0

#: Connections served at once (a thread each); further clients wait in the listen queue.
MAX_CONNECTIONS = 64


def _reply_error(message: str) -> dict:
    """The response to a request the server refuses (exit code 2, the CLI's form)."""
    return {"stdout": "", "stderr": f"mach-nix: error: the server refused the request: {message}\n", "code": 2}


class _Daemon:
    """The listening socket and the connections: a thread per connection, commands one at a time.

    A connection's thread reads its request against a deadline (:data:`READ_TIMEOUT`), so
    a client that connects and never sends holds up nobody else; decoding and checking it
    (:mod:`mach_nix.server.request`) needs no lock. Commands then run one at a time, under
    :attr:`run_lock`: a command runs in its client's working directory and environment with
    its output captured from ``sys.stdout``/``sys.stderr``, all of which belong to the
    process, and what the CLI keeps between commands (``commands.inputs._OPENED``, the
    interned targets, the resolver's caches) assumes one command at a time. Running two
    at once would not make either faster anyway: resolving is CPU-bound Python (one
    interpreter lock). A command's result is therefore the one a direct run gives.
    """

    def __init__(self, path: str, idle: float, read_timeout: float) -> None:
        self.path = path
        self.idle = idle
        self.read_timeout = read_timeout
        self.started = time.time()
        self.served = 0
        self.run_lock = threading.Lock()
        self.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self.state = threading.Lock()  # guards active, last
        self.active = 0
        self.last = time.monotonic()
        self.stopping = threading.Event()
        self.listener: socket.socket | None = None

    def loop(self, listener: socket.socket, inode: int) -> int:
        """Accept connections until stopped, idle, or the socket file is gone or replaced."""
        self.listener = listener
        listener.settimeout(min(self.idle, 1.0))
        while not self.stopping.is_set():
            if not self.slots.acquire(timeout=1.0):
                continue  # as many connections as it serves: the next waits in the listen queue
            try:
                conn, _addr = listener.accept()
            except TimeoutError:
                self.slots.release()
                try:
                    gone = os.stat(self.path).st_ino != inode
                except OSError:
                    gone = True
                with self.state:
                    quiet = self.active == 0 and time.monotonic() - self.last >= self.idle
                if gone or quiet:
                    break
                continue
            except OSError:  # shut down by a stop request
                self.slots.release()
                break
            with self.state:
                self.active += 1
            threading.Thread(target=self._connection, args=(conn,), daemon=True).start()
        # Let the running command finish, and start no other: the lock is kept until the
        # process exits, and clients still waiting for it see their connection close and
        # run their command themselves (mach_nix.server.client.forward).
        self.run_lock.acquire()
        return 0

    def _connection(self, conn: socket.socket) -> None:
        """Serve one connection: read, check, run, answer; every failure stays in here."""
        try:
            with conn:
                response = self._respond(conn)
                if response is not None:
                    conn.settimeout(WRITE_TIMEOUT)
                    with contextlib.suppress(OSError):
                        write_frame(conn, response)
        except Exception:  # a bug: report it in the log, keep serving
            traceback.print_exc()
        finally:
            with self.state:
                self.active -= 1
                self.last = time.monotonic()
            self.slots.release()

    def _respond(self, conn: socket.socket) -> dict | None:
        """The response to the connection's request (``None``: the client is gone)."""
        try:
            data = _read_request(conn, time.monotonic() + self.read_timeout)
        except BadRequest as error:
            return _reply_error(str(error))
        except (OSError, ConnectionError):  # closed early, or too slow: nobody to answer
            return None
        try:
            request = check_request(decode_request(data))
        except BadRequest as error:
            return _reply_error(str(error))
        control = request.get("control")
        if control == "status":
            return self._status()
        if control == "stop":
            self.stop()
            return {"stdout": "", "stderr": "mach-nix: server stopped\n", "code": 0}
        with self.run_lock:
            if _hung_up(conn):
                return None  # it left while waiting: its command would write files for nobody
            response = run_request(request)
            self.served += 1
            # Still under the lock, so no other request is reading: let go of generations a
            # writer replaced meanwhile; the next request opens the new ones.
            release_superseded()
        return response

    def _status(self) -> dict:
        status = {
            "pid": os.getpid(),
            "socket": str(self.path),
            "served": self.served,
            "uptime": round(time.time() - self.started, 1),
        }
        return {"stdout": json.dumps(status) + "\n", "stderr": "", "code": 0}

    def stop(self) -> None:
        """Stop accepting; :meth:`loop` returns once the running command is done."""
        self.stopping.set()
        if self.listener is not None:
            with contextlib.suppress(OSError):
                self.listener.shutdown(socket.SHUT_RDWR)  # wakes accept()


def _read_request(conn: socket.socket, deadline: float) -> bytes:
    """One request frame's payload, read by ``deadline``.

    Raises:
        BadRequest: the frame announces more than :data:`MAX_REQUEST_BYTES`.
        OSError: the client closed early or missed the deadline.
    """
    header = _read_by(conn, 4, deadline)
    size = int.from_bytes(header, "big")
    if size > MAX_REQUEST_BYTES:
        raise BadRequest(f"a request of {size} bytes is larger than {MAX_REQUEST_BYTES >> 20} MiB")
    return _read_by(conn, size, deadline)


def _read_by(conn: socket.socket, size: int, deadline: float) -> bytes:
    chunks = []
    while size:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the client sent no complete request in time")
        conn.settimeout(remaining)
        chunk = conn.recv(min(size, 1 << 20))
        if not chunk:
            raise ConnectionError("the client closed the connection")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _hung_up(conn: socket.socket) -> bool:
    """Whether the client has closed its connection (a client that only shut down its
    sending side still waits for the answer: that is not hanging up)."""
    poller = select.poll()
    poller.register(conn, select.POLLIN)
    try:
        events = poller.poll(0)
    except OSError:
        return True
    return any(mask & (select.POLLHUP | select.POLLERR | select.POLLNVAL) for _fd, mask in events)


def serve(path: str, idle: float = DEFAULT_IDLE, ready: int | None = None, read_timeout: float = READ_TIMEOUT) -> int:
    """Listen on ``path`` and answer requests until idle, stopped, or the socket is gone.

    Args:
        path: the socket (an existing file there is replaced).
        idle: seconds without a request after which the server exits.
        ready: a file descriptor to write ``ok`` to once listening (then closed).
        read_timeout: seconds a client has to send its request.
    """
    _warm_up()
    os.chdir("/")  # hold no directory of the user's busy; each request runs in its client's cwd
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(path)
    except OSError as error:
        listener.close()
        raise UsageError(
            f"cannot listen on {path}: {error} (set XDG_RUNTIME_DIR to a short private directory)"
        ) from None
    os.chmod(path, 0o600)
    listener.listen(128)
    inode = os.stat(path).st_ino
    if ready is not None:
        os.write(ready, b"ok")
        os.close(ready)
    try:
        return _Daemon(path, idle, read_timeout).loop(listener, inode)
    finally:
        listener.close()
        with contextlib.suppress(OSError):
            if os.stat(path).st_ino == inode:
                os.unlink(path)
