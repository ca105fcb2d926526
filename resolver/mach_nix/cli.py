"""The ``mach-nix`` command line.

Each group of subcommands lives in its own module under :mod:`mach_nix.commands`
and exposes ``register(subparsers)``, which adds its parsers and sets
``func`` (a callable taking the parsed namespace and returning an exit code).

Every error reaches the user as one line ``mach-nix: error: …`` on stderr with an
exit code of :class:`~mach_nix.errors.ExitCode`: a :class:`~mach_nix.errors.MachNixError`
with its own code, a bad command line (argparse) with 2 and a pointer to the
command's ``--help``. Only a bug gives a traceback (exit code 1). A closed output
pipe is left to :mod:`mach_nix.entry`, which ends the process quietly.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from mach_nix import __version__, progress
from mach_nix.commands import db, env, gen, resolve, run, server
from mach_nix.errors import ExitCode, MachNixError, describe_exit_codes

#: Modules whose ``register(subparsers)`` adds subcommands, in ``--help`` order.
ALL_COMMAND_MODULES = (resolve, env, gen, run, db, server)

#: The module that registers each command (see :func:`build_parser`).
COMMAND_MODULES = {"lock": resolve, "resolve": resolve, "env": env, "gen": gen, "run": run, "db": db, "server": server}

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
  mach-nix lock -r requirements.txt --format pylock   write pylock.toml (PEP 751)
  mach-nix run script.py ARGS...                run a PEP 723 script in its Nix environment
  mach-nix db crawl --db ./my-db --closure NAME add a package the pinned DB lacks
  mach-nix db info --db tests/data/pypi-db requests
  mach-nix server start                         keep the resolver warm: lock/resolve in ~15-40 ms

exit codes:
{exit_codes}
Run 'mach-nix COMMAND --help' for the options of one command.
"""


def one_line(text: str) -> str:
    """``text`` with its control characters (a stray ``\\r`` in an argument) shown escaped:
    a usage error stays one line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser with its errors in mach-nix's form: one line, the fix, exit code 2.

    Subparsers are of the same class (argparse makes them of the parent's class). Each
    records its ``prog`` in the namespace (``help_prog``, the innermost parser's wins), so
    that arguments nobody recognised point to the help of the command they were given to.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.set_defaults(help_prog=self.prog)
        self.add_argument(
            "-q",
            "--quiet",
            action="store_true",
            default=argparse.SUPPRESS,
            help="no progress line on stderr (there is none anyway when stderr is not a terminal)",
        )

    def _print_message(self, message: str, file=None) -> None:
        """Write help and usage like argparse, but let a closed output raise (argparse swallows
        ``OSError``: a help text longer than the pipe's buffer then exited 0, not 141)."""
        if message:
            (file or sys.stderr).write(message)

    def error(self, message: str) -> NoReturn:
        """Print ``mach-nix: error: MESSAGE (see 'PROG --help')`` and exit with :attr:`ExitCode.USAGE`."""
        message = " ".join(message.split())  # one line, whatever argparse or the user's text holds
        self.exit(ExitCode.USAGE, f"mach-nix: error: {one_line(message)} (see '{self.prog} --help')\n")


#: Parsers built by this process, by the command modules registered in them.
_PARSERS: dict[tuple, argparse.ArgumentParser] = {}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """Return the top-level parser (built once per process).

    Every subcommand is registered, unless ``command`` (the first argument) names
    one: then only the module that registers it is, which is all that parsing
    that command needs, with the same help and errors. Building all fourteen
    parsers would cost every run a few milliseconds (argparse looks up message
    translations for each).
    """
    modules = (COMMAND_MODULES[command],) if command in COMMAND_MODULES else ALL_COMMAND_MODULES
    cached = _PARSERS.get(modules)
    if cached is not None:
        return cached
    parser = ArgumentParser(
        prog="mach-nix",
        description=DESCRIPTION,
        epilog=EPILOG.format(exit_codes=describe_exit_codes()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-V", "--version", action="version", version=f"mach-nix {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in modules:
        module.register(subparsers)
    _PARSERS[modules] = parser
    return parser


def main(argv: Sequence[str] | None = None, reraise: tuple[type[BaseException], ...] = ()) -> int:
    """Run the command line; return the process exit code.

    Args:
        argv: the arguments (default: ``sys.argv[1:]``).
        reraise: error types to let through instead of reporting them (for
            callers that handle them, like the Nix resolution builder).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv[0] if argv else None)
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        prog = getattr(args, "help_prog", parser.prog)
        parser.exit(
            ExitCode.USAGE,
            f"mach-nix: error: unrecognized arguments: {one_line(' '.join(unknown))} (see '{prog} --help')\n",
        )
    progress.set_quiet(bool(getattr(args, "quiet", False)))
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return ExitCode.USAGE
    try:
        return int(func(args) or ExitCode.OK)
    except reraise:
        raise
    except BrokenPipeError:  # the output's reader went away: mach_nix.entry ends quietly
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
