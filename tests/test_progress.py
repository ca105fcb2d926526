"""mach_nix.progress: one line rewritten on a terminal, erased at the end, nothing otherwise."""

from __future__ import annotations

import io
import os
import pty

import pytest

from mach_nix import progress


def terminal() -> tuple[int, io.TextIOWrapper]:
    master, slave = pty.openpty()
    return master, io.TextIOWrapper(os.fdopen(slave, "wb"), encoding="utf-8")


def read_all(master: int) -> bytes:
    """Everything the terminal got: a pty hands its buffer out in pieces, so read until every
    writer has closed it (EIO)."""
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)


def test_a_terminal_gets_one_rewritten_line_erased_at_the_end() -> None:
    master, stream = terminal()
    with progress.Progress("working", stream=stream, interval=0) as line:
        line.update("step 1")
        line.update("step 2")
        line.note("a message that stays")
        line.update("step 3")
    stream.close()
    seen = read_all(master)
    os.close(master)
    assert seen.startswith(b"\rmach-nix: working: step 1\x1b[K\rmach-nix: working: step 2\x1b[K")
    assert b"\r\x1b[Ka message that stays\r\n" in seen  # the status erased before the message
    assert seen.endswith(b"\rmach-nix: working: step 3\x1b[K\r\x1b[K")


def test_nothing_when_not_a_terminal_quiet_or_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    piped = io.StringIO()
    with progress.Progress("working", stream=piped) as line:
        line.update("step")
    assert piped.getvalue() == ""
    master, stream = terminal()
    assert progress.wanted(stream)
    for env, flag, enabled in (("1", False, True), ("", True, True), ("", False, False)):
        monkeypatch.setenv("MACH_NIX_QUIET", env)  # MACH_NIX_QUIET=1, -q/--quiet, --no-progress
        progress.set_quiet(flag)
        line = progress.Progress("working", enabled=enabled, stream=stream)
        line.update("step", force=True)
        line.done()
    progress.set_quiet(False)
    stream.write("end\n")
    stream.flush()
    assert os.read(master, 65536) == b"end\r\n"
    stream.close()
    os.close(master)
