"""Errors that reach the user, and the exit codes the CLI maps them to.

Every error raised on purpose by mach-nix is a :class:`MachNixError`. Its
message is meant for a person: it says what is wrong and what to do about it.
The CLI prints the message (no traceback) and exits with the error's code.
"""

from __future__ import annotations


class ExitCode:
    """Process exit codes of the ``mach-nix`` command (documented in the README)."""

    OK = 0
    #: A failure nobody planned for (a bug): a traceback is printed.
    INTERNAL = 1
    #: Bad command line or bad input file (requirements, pyproject, lock, DB path).
    USAGE = 2
    #: The requirements cannot be satisfied together (a conflict).
    UNSATISFIABLE = 3
    #: A name, version or artifact is not in the database (or not for the target).
    NOT_FOUND = 4
    #: Talking to the registry failed (crawl/update) after all retries.
    NETWORK = 5
    #: A database on disk is missing, corrupt, or of an unsupported format version.
    DATABASE = 6
    #: Interrupted (Ctrl-C): 128 + SIGINT, as shells report it.
    INTERRUPTED = 130
    #: The reader of the output went away (``mach-nix … | head -1``): 128 + SIGPIPE, as
    #: shells report a tool that the signal ended; nothing is printed.
    BROKEN_PIPE = 141


#: What each exit code means: the one text the help of the CLI (:func:`describe_exit_codes`)
#: and the README's table (checked by a test) show.
EXIT_CODES: dict[int, str] = {
    ExitCode.OK: "ok",
    ExitCode.INTERNAL: "internal error (a bug: please report it)",
    ExitCode.USAGE: "bad usage or input",
    ExitCode.UNSATISFIABLE: "unsatisfiable requirements",
    ExitCode.NOT_FOUND: "not in the database (name, version or artifact for the target)",
    ExitCode.NETWORK: "registry unreachable",
    ExitCode.DATABASE: "database missing or corrupt",
    ExitCode.INTERRUPTED: "interrupted",
    ExitCode.BROKEN_PIPE: "output closed early (a pipe's reader exited)",
}


def describe_exit_codes(width: int = 78, indent: str = "  ") -> str:
    """:data:`EXIT_CODES` as lines of at most ``width`` characters, for ``--help`` epilogs."""
    lines: list[str] = []
    line = ""
    for code, meaning in EXIT_CODES.items():
        item = f"{code} {meaning}"
        if line and len(indent) + len(line) + 3 + len(item) > width:
            lines.append(indent + line)
            line = ""
        line = f"{line}   {item}" if line else item
    lines.append(indent + line)
    return "\n".join(lines) + "\n"


class MachNixError(Exception):
    """Base of all deliberate, user-facing errors."""

    exit_code: int = ExitCode.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UsageError(MachNixError):
    """Bad command-line arguments or a malformed input file."""

    exit_code = ExitCode.USAGE


class DatabaseError(MachNixError):
    """A database directory is missing, corrupt, or of an unknown format version."""

    exit_code = ExitCode.DATABASE
    #: The damaged file, when one is to blame (:func:`mach_nix.db.reader.damaged`).
    file: str | None = None


class NetworkError(MachNixError):
    """The registry could not be reached or kept failing after retries."""

    exit_code = ExitCode.NETWORK


class NotFoundError(MachNixError):
    """A requested project, version or artifact is not in the database."""

    exit_code = ExitCode.NOT_FOUND


class ResolutionError(MachNixError):
    """The requirements cannot be satisfied together."""

    exit_code = ExitCode.UNSATISFIABLE
