"""``python -m mach_nix.server [--idle SECONDS] [--ready-fd FD]``: run the resolver server.

This is the process ``mach-nix server start`` spawns in the background and
``mach-nix server run`` becomes in the foreground. It listens on the socket of
this mach-nix code (:func:`mach_nix.server.client.socket_path`) until idle,
stopped, or its socket is removed. Errors are printed like the CLI's, with its
exit codes.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from mach_nix.commands.values import seconds
from mach_nix.errors import ExitCode, MachNixError, UsageError
from mach_nix.server.client import DEFAULT_IDLE, socket_path, unsafe_directory_message
from mach_nix.server.daemon import READ_TIMEOUT, serve


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments and serve; return the exit code."""
    parser = argparse.ArgumentParser(prog="python -m mach_nix.server", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--idle",
        type=seconds(0, 365 * 86400),
        default=DEFAULT_IDLE,
        metavar="SECONDS",
        help=f"exit after this long without a request (default: {DEFAULT_IDLE})",
    )
    parser.add_argument("--ready-fd", type=int, metavar="FD", help="write 'ok' to this descriptor once listening")
    parser.add_argument(  # for tests: how long a client may take to send its request
        "--read-timeout", type=seconds(0, 3600), default=READ_TIMEOUT, help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    try:
        path = socket_path(create=True)
        if path is None:
            raise UsageError(unsafe_directory_message())
        return serve(path, idle=args.idle, ready=args.ready_fd, read_timeout=args.read_timeout)
    except MachNixError as error:
        print(f"mach-nix: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("mach-nix: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
