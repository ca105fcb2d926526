"""The one progress line of every command that may take more than a second.

Contract: a :class:`Progress` draws one status line on stderr, rewritten in place
(``\\r`` + text + erase-to-end-of-line) at most every ``interval`` seconds, and
erased by :meth:`Progress.done` (or leaving the ``with`` block), so that what the
command prints afterwards starts on a clean line. It draws only when stderr is a
terminal and the command line did not ask for quiet (``-q/--quiet``, or
``MACH_NIX_QUIET`` set non-empty): piped or captured output never holds progress.
Lines that must stay (a message, not a status) go through :meth:`Progress.note`,
which erases the status first. The module imports nothing of mach-nix, so any
module may use it.
"""

from __future__ import annotations

import os
import sys
import time
from types import TracebackType
from typing import TextIO

#: ``-q/--quiet`` of this process's command line (see :func:`set_quiet`).
_QUIET = [False]


def set_quiet(quiet: bool) -> None:
    """Record ``--quiet``: no progress line in this process from now on."""
    _QUIET[0] = quiet


def wanted(stream: TextIO | None = None) -> bool:
    """Whether progress is drawn on ``stream`` (default stderr): a terminal, and not quiet."""
    if _QUIET[0] or os.environ.get("MACH_NIX_QUIET"):
        return False
    target = sys.stderr if stream is None else stream
    try:
        return target.isatty()
    except (AttributeError, ValueError):  # closed or not a file
        return False


class Progress:
    """One rewritten status line on stderr (nothing at all when :func:`wanted` is false).

    ``Progress("locking")`` prefixes each status with ``mach-nix: locking: ``;
    ``enabled=False`` turns it off whatever the terminal (e.g. ``--no-progress``).
    """

    def __init__(
        self, label: str = "", enabled: bool = True, stream: TextIO | None = None, interval: float = 0.1
    ) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.enabled = enabled and wanted(self.stream)
        self.prefix = f"mach-nix: {label}: " if label else "mach-nix: "
        self.interval = interval
        self.last = 0.0
        self.drawn = False

    def update(self, text: str, force: bool = False) -> None:
        """Show ``text`` as the status (skipped when the last one is younger than ``interval``,
        unless ``force``)."""
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and self.drawn and now - self.last < self.interval:
            return
        self.last = now
        self.drawn = True
        self.stream.write("\r" + self.prefix + text + "\x1b[K")
        self.stream.flush()

    def note(self, text: str) -> None:
        """Print ``text`` as a line of its own on the stream, below no status (always, tty or not)."""
        self.clear()
        print(text, file=self.stream, flush=True)

    def clear(self) -> None:
        """Erase the status line, if one is drawn."""
        if self.drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.drawn = False

    def done(self) -> None:
        """The end: the status line is erased."""
        self.clear()

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.done()


def bar(done: int, total: int, width: int = 20) -> str:
    """A ``[####    ]`` bar of ``done`` of ``total``."""
    filled = int(width * done / total) if total > 0 else 0
    return "[" + "#" * min(width, filled) + " " * (width - min(width, filled)) + "]"
