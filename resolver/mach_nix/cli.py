"""The ``mach-nix`` command line.

Each group of subcommands lives in its own module under :mod:`mach_nix.commands`
and exposes ``register(subparsers)``, which adds its parsers and sets
``func`` (a callable taking the parsed namespace and returning an exit code).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from mach_nix import __version__
from mach_nix.commands import db, env, resolve, server
from mach_nix.errors import ExitCode, MachNixError, describe_exit_codes

#: Modules whose ``register(subparsers)`` adds subcommands, in ``--help`` order.
ALL_COMMAND_MODULES = (resolve, env, db, server)

DESCRIPTION = """\
Turn Python requirements into a reproducible, Nix-built Python environment.

mach-nix resolves a requirements.txt (or a pyproject.toml) offline, against a
pinned database of PyPI metadata, for a *target* interpreter and system, and
writes a lock file that the Nix library (mkPython { lock = ...; }) builds from
wheels, sdists or nixpkgs recipes, chosen per package.
"""

EPILOG = """\
typical use:
  mach-nix resolve -r requirements.txt          show what would be installed
  mach-nix lock -r requirements.txt             write mach-nix.lock.json
  mach-nix db crawl --db ./my-db --closure NAME add a package the pinned DB lacks
  mach-nix db info --db tests/data/pypi-db requests
  mach-nix server start                         keep the resolver warm: lock/resolve in ~15-40 ms

exit codes:
{exit_codes}
Run 'mach-nix COMMAND --help' for the options of one command.
"""


_PARSER: argparse.ArgumentParser | None = None


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser with every subcommand registered (built once per process)."""
    global _PARSER
    if _PARSER is not None:
        return _PARSER
    parser = argparse.ArgumentParser(
        prog="mach-nix",
        description=DESCRIPTION,
        epilog=EPILOG.format(exit_codes=describe_exit_codes()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-V", "--version", action="version", version=f"mach-nix {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in ALL_COMMAND_MODULES:
        module.register(subparsers)
    _PARSER = parser
    return parser


def main(argv: Sequence[str] | None = None, reraise: tuple[type[BaseException], ...] = ()) -> int:
    """Run the command line; return the process exit code.

    Args:
        argv: the arguments (default: ``sys.argv[1:]``).
        reraise: error types to let through instead of reporting them (for
            callers that handle them, like the Nix resolution builder).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return ExitCode.USAGE
    try:
        return int(func(args) or ExitCode.OK)
    except reraise:
        raise
    except MachNixError as error:
        print(f"mach-nix: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("mach-nix: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except Exception:  # a bug: show everything
        import traceback

        traceback.print_exc()
        print(
            "mach-nix: internal error (this is a bug in mach-nix; please report it with the traceback above)",
            file=sys.stderr,
        )
        return ExitCode.INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
