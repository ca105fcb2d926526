"""The ``mach-nix`` executable's entry point: hand ``lock``/``resolve`` to a running
resolver server if there is one, else run the command line in this process.

This module imports only what a hand-over needs (``os``, ``sys``, ``socket``,
``json``), so that with a server running a command costs an interpreter start
and a round trip, not the imports of the resolver. Without a server, the cost
of the check is a few ``stat`` calls. See :mod:`mach_nix.server`.

The imports below are inside :func:`main` on purpose: which of the two a
command needs is known only from its arguments.
"""

from __future__ import annotations

import os
import sys

#: Subcommands a server may run: pure functions of their arguments, the files
#: they name, the environment and the database.
FORWARDED = frozenset({"lock", "resolve"})


def main() -> int:
    """Run ``mach-nix`` with ``sys.argv``; return the exit code."""
    argv = sys.argv[1:]
    if argv and argv[0] in FORWARDED and not os.environ.get("MACH_NIX_NO_SERVER"):
        from mach_nix.server.client import forward

        code = forward(argv)
        if code is not None:
            return code
    from mach_nix.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
