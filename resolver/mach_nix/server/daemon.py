"""The resolver server: a process that keeps the resolver imported and the databases open.

A ``mach-nix lock`` or ``resolve`` spends most of its time starting: the
interpreter, then the imports of ``packaging``, ``resolvelib`` and mach-nix
(tens of milliseconds), then opening and decoding the database. ``mach-nix
server start`` runs this module in the background (through
:mod:`mach_nix.server.__main__`); the ``mach-nix`` executable
(:mod:`mach_nix.entry`) then hands those two commands to it over a Unix socket
(:mod:`mach_nix.server.client`) and prints what it answers. The work done is the same: the server runs the
ordinary command line (:func:`mach_nix.cli.main`) in the client's working
directory and environment, one request at a time, so results are
byte-identical to a run without it (tests check this).

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
import marshal
import os
import socket
import sys
import time

from mach_nix.cli import main
from mach_nix.db.reader import release_superseded
from mach_nix.errors import UsageError
from mach_nix.server.client import DEFAULT_IDLE, code_files, read_frame, write_frame


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


def serve(path: str, idle: float = DEFAULT_IDLE, ready: int | None = None) -> int:
    """Listen on ``path`` and answer requests until idle, stopped, or the socket is gone.

    Args:
        path: the socket (an existing file there is replaced).
        idle: seconds without a request after which the server exits.
        ready: a file descriptor to write ``ok`` to once listening (then closed).
    """
    _warm_up()
    os.chdir("/")  # hold no directory of the user's busy; each request runs in its client's cwd
    started = time.time()
    served = 0
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
    listener.listen(16)
    listener.settimeout(min(idle, 60.0))
    inode = os.stat(path).st_ino
    if ready is not None:
        os.write(ready, b"ok")
        os.close(ready)
    last = time.monotonic()
    try:
        while True:
            try:
                conn, _addr = listener.accept()
            except TimeoutError:
                gone = not os.path.exists(path) or os.stat(path).st_ino != inode
                if gone or time.monotonic() - last >= idle:
                    return 0
                continue
            with conn:
                conn.settimeout(30)
                try:
                    request = marshal.loads(read_frame(conn))
                except (OSError, ValueError, EOFError, TypeError):
                    continue
                conn.settimeout(None)
                control = request.get("control")
                if control == "stop":
                    response = {"stdout": "", "stderr": "mach-nix: server stopped\n", "code": 0}
                elif control == "status":
                    response = {
                        "stdout": json.dumps(
                            {
                                "pid": os.getpid(),
                                "socket": str(path),
                                "served": served,
                                "uptime": round(time.time() - started, 1),
                            }
                        )
                        + "\n",
                        "stderr": "",
                        "code": 0,
                    }
                else:
                    response = run_request(request)
                    served += 1
                    release_superseded()  # between requests: let go of generations a writer replaced
                with contextlib.suppress(OSError):
                    write_frame(conn, response)
                last = time.monotonic()
                if control == "stop":
                    return 0
    finally:
        listener.close()
        with contextlib.suppress(OSError):
            if os.stat(path).st_ino == inode:
                os.unlink(path)
