"""Subcommands ``mach-nix server start|stop|status|run``: the resolver server.

The server itself is :mod:`mach_nix.server`; these commands start it as a
process (``python -m mach_nix.server``) and talk to it through
:mod:`mach_nix.server.client`, never importing the daemon.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from mach_nix.commands.values import seconds
from mach_nix.errors import ExitCode, UsageError
from mach_nix.progress import Progress
from mach_nix.server.client import DEFAULT_IDLE, send, socket_path, unsafe_directory_message

#: How the daemon is started: its own entry point, not this command line.
DAEMON = [sys.executable, "-m", "mach_nix.server"]

DESCRIPTION = """\
Keep a resolver process running in the background, so that 'mach-nix lock'
and 'mach-nix resolve' skip the interpreter's imports and the opening of the
database (they then take about the time of starting Python; see the README's
benchmark). Results are byte-identical to runs without it: the server runs the
same command line in your working directory and environment. Clients are served
concurrently (a client that connects and sends nothing holds up no other);
commands run one at a time. Other commands never use it.

The server listens on a private Unix socket (mode 0600, in
$XDG_RUNTIME_DIR/mach-nix or /tmp/mach-nix-UID, mode 0700) whose name depends
on the mach-nix code: after an upgrade or an edit the old server is ignored
(and exits when idle). It exits after --idle seconds without a request.
MACH_NIX_NO_SERVER=1 bypasses it for one command.
"""

EPILOG = """\
examples:
  mach-nix server start              start it (idle timeout {idle_minutes} minutes)
  mach-nix lock -r requirements.txt  handled by the server now
  mach-nix server status             pid, socket, requests served, uptime
  mach-nix server status --json      the same as one JSON object (for scripts)
  mach-nix server stop
"""


def register(subparsers) -> None:
    """Add ``server`` with its subcommands."""
    fmt = argparse.RawDescriptionHelpFormatter
    server = subparsers.add_parser(
        "server",
        help="run the resolver in the background (faster lock/resolve)",
        description=DESCRIPTION,
        epilog=EPILOG.format(idle_minutes=DEFAULT_IDLE // 60),
        formatter_class=fmt,
    )
    server.set_defaults(func=lambda args: (server.print_help(sys.stderr), ExitCode.USAGE)[1])
    sub = server.add_subparsers(dest="server_command", metavar="SUBCOMMAND")
    start = sub.add_parser("start", help="start the server in the background (no-op if running)")
    _add_idle(start)
    start.set_defaults(func=run_start)
    run = sub.add_parser("run", help="run the server in the foreground (for service managers)")
    _add_idle(run)
    run.add_argument("--ready-fd", type=int, help=argparse.SUPPRESS)
    run.set_defaults(func=run_foreground)
    stop = sub.add_parser("stop", help="stop the server")
    stop.set_defaults(func=run_stop)
    status = sub.add_parser(
        "status",
        help="show whether it runs (exit code 0) or not (1)",
        description="Show whether the server of this mach-nix runs (exit code 0) or not (1). With --json: one"
        ' object, {"running": true, "pid": N, "socket": PATH, "served": N, "uptime": SECONDS}'
        ' or {"running": false, "socket": PATH} (the socket it would listen on).',
    )
    status.add_argument("--json", action="store_true", help="one JSON object on stdout (keys: see above)")
    status.set_defaults(func=run_status)


def _add_idle(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--idle",
        type=seconds(0, 365 * 86400),
        default=DEFAULT_IDLE,
        metavar="SECONDS",
        help=f"exit after this long without a request (default: {DEFAULT_IDLE})",
    )


def _address(create: bool = False) -> str:
    path = socket_path(create)
    if path is None:
        raise UsageError(unsafe_directory_message())
    return path


def _status(path: str) -> dict | None:
    """The running server's status, or ``None`` when none answers at ``path``. A dead server's
    socket refuses at once; a live one answers status outside its run lock, so the generous
    timeout only matters on a machine too loaded to schedule it (seen in a loaded test run)."""
    if not os.path.exists(path):
        return None
    try:
        return json.loads(send(path, {"control": "status"}, timeout=30)["stdout"])
    except (OSError, ValueError):
        return None


def run_start(args: argparse.Namespace) -> int:
    """``mach-nix server start``."""
    import subprocess  # only here: it costs every other command a few ms

    path = _address(create=True)
    status = _status(path)
    if status is not None:
        print(f"mach-nix: server already running (pid {status['pid']}, {path})", file=sys.stderr)
        return ExitCode.OK
    read_end, write_end = os.pipe()
    log_path = path[: -len(".sock")] + ".log"
    log = open(log_path, "ab")  # noqa: SIM115 (handed to the daemon, closed below)
    process = subprocess.Popen(
        [*DAEMON, "--idle", str(args.idle), "--ready-fd", str(write_end)],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        start_new_session=True,
        pass_fds=(write_end,),
        env={**os.environ, "MACH_NIX_NO_SERVER": "1"},
    )
    os.close(write_end)
    log.close()
    started = time.monotonic()
    ready = b""
    with Progress("server") as line:
        line.update("starting (it loads the resolver once)", force=True)
        while time.monotonic() < started + 30 and not ready and process.poll() is None:
            ready = os.read(read_end, 2)
    os.close(read_end)
    if ready != b"ok":
        raise UsageError(f"the server did not start; see {log_path}")
    print(f"mach-nix: server started (pid {process.pid}, {path}, exits after {args.idle:g} s idle)", file=sys.stderr)
    return ExitCode.OK


def run_foreground(args: argparse.Namespace) -> int:
    """``mach-nix server run``: become the daemon (``exec``, so the pid stays the same)."""
    _address(create=True)  # the same error as 'start' when there is no private directory
    ready = [] if args.ready_fd is None else ["--ready-fd", str(args.ready_fd)]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(DAEMON[0], [*DAEMON, "--idle", str(args.idle), *ready])


def run_stop(args: argparse.Namespace) -> int:
    """``mach-nix server stop``."""
    path = _address()
    if _status(path) is None:
        print("mach-nix: no server running", file=sys.stderr)
        return ExitCode.OK
    send(path, {"control": "stop"}, timeout=30)
    print("mach-nix: server stopped", file=sys.stderr)
    return ExitCode.OK


def run_status(args: argparse.Namespace) -> int:
    """``mach-nix server status``."""
    path = _address()
    status = _status(path)
    if args.json:
        found = {"running": False, "socket": path} if status is None else {"running": True, **status}
        print(json.dumps(found, sort_keys=True))
        return ExitCode.OK if status is not None else 1
    if status is None:
        print(f"no server running for this mach-nix (it would listen on {path})")
        return 1
    print(
        f"server running: pid {status['pid']}, socket {status['socket']}, "
        f"{status['served']} requests served, up {status['uptime']} s"
    )
    return ExitCode.OK
