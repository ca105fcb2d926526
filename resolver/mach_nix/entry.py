"""The ``mach-nix`` executable's entry point: hand ``lock``/``resolve`` to a running
resolver server if there is one, else run the command line in this process.

This module imports only what a hand-over needs (``os``, ``sys``, ``socket``,
``json``), so that with a server running a command costs an interpreter start
and a round trip, not the imports of the resolver. Without a server, the cost
of the check is a few ``stat`` calls. See :mod:`mach_nix.server`.

The imports below are inside :func:`main` on purpose: which of the two a
command needs is known only from its arguments.

A closed output (``mach-nix db info … | head -1``) ends every command here, once:
quietly, with exit code 141 (128 + SIGPIPE, what a shell reports for a tool that
the signal ended), and without the interpreter's complaint when it flushes the
output at exit. SIGPIPE itself stays ignored (Python's default): a crawl's or the
server's sockets report a closed peer as an error instead of ending the process.
"""

from __future__ import annotations

import os
import sys

#: Subcommands a server may run: pure functions of their arguments, the files
#: they name, the environment and the database.
FORWARDED = frozenset({"lock", "resolve"})


#: 128 + SIGPIPE: :attr:`mach_nix.errors.ExitCode.BROKEN_PIPE` (not imported: see above).
BROKEN_PIPE = 141


def main() -> int:
    """Run ``mach-nix`` with ``sys.argv``; return the exit code."""
    try:
        return _run(sys.argv[1:])
    except BrokenPipeError:
        if not _output_closed():
            raise  # a pipe of some other file: a bug, shown as one
        _silence_output()
        return BROKEN_PIPE
    except KeyboardInterrupt:  # while handing over to the server (the CLI reports its own)
        print("mach-nix: interrupted", file=sys.stderr)
        return 130


def _output_closed() -> bool:
    """Whether standard output or error is a pipe (or socket) whose reader has gone."""
    import select

    poll = select.poll()
    for fd in (1, 2):
        poll.register(fd, 0)  # POLLERR and POLLHUP are always reported
    try:
        events = poll.poll(0)
    except OSError:
        return False
    return any(mask & (select.POLLERR | select.POLLHUP) for _fd, mask in events)


def _silence_output() -> None:
    """Point standard output and error at ``/dev/null``: what is still buffered goes there at
    exit instead of raising again (Python would print "Exception ignored … BrokenPipeError")."""
    null = os.open(os.devnull, os.O_WRONLY)
    for fd in (1, 2):
        try:
            os.dup2(null, fd)
        except OSError:
            pass
    os.close(null)


def _run(argv: list[str]) -> int:
    """Forward ``argv`` to a server, or run it here."""
    if argv and argv[0] in FORWARDED and not os.environ.get("MACH_NIX_NO_SERVER"):
        from mach_nix.server.client import forward

        code = forward(argv)
        if code is not None:
            return code
    from mach_nix.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
