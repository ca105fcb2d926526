"""Generations of a database directory: held while read, removed when no reader holds them
(``docs/db-format.md`` §1.2).

A generation (``DIR/shards-<hash>/``) never changes once installed; ``manifest.json``
names the current one, and a write switches to a new one by replacing the manifest.
What this module adds is that a reader keeps the generation it opened, whole, until
it lets go, however many switches happen meanwhile. The protocol, with ``flock(2)`` on
the generation directory itself:

* a **reader** opens the directory the manifest names and takes a *shared* lock on it
  without waiting (:func:`lock_shared`), then checks that it is still the directory at
  that path. Gone, being removed, or replaced: the manifest has changed meanwhile, and
  it reads the manifest again. It holds the lock (its open descriptor) while it reads;
* a **remover** (:func:`remove_if_superseded`: the writer after a switch, and the last
  reader of a superseded generation when it lets go) takes an *exclusive* lock without
  waiting; refused means a reader holds the generation, which is then left for later.
  It checks that the manifest does not name the generation, renames it out of the way
  (``.gen-old-*``, a name no reader opens), lets go of the lock and deletes it;
* a **writer reusing** an existing generation (the same content written again) holds
  it shared from before its manifest switch until after (:func:`hold_existing`), so
  that no remover takes it away in between.

A lookup then never meets a missing file, and a reader never mixes two generations.
Cost: one ``open`` and one ``flock`` per opened database. On a file system without
``flock`` (some network file systems), readers are not protected and removal is as
it was before this protocol: at the writer's switch.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import time
from pathlib import Path

from mach_nix.db.format import MANIFEST

#: Prefix of a generation renamed away for deletion (never opened by a reader).
DOOMED_PREFIX = ".gen-old-"


class Busy(Exception):
    """The generation is being removed right now (a remover holds it exclusively)."""


def _same_directory(fd: int, path: Path) -> bool:
    """Whether ``fd`` is (still) the directory at ``path``."""
    try:
        there = os.stat(path)
    except OSError:
        return False
    here = os.fstat(fd)
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


def lock_shared(directory: Path) -> int:
    """Open ``directory`` and hold it shared; return the descriptor that holds it.

    Raises:
        FileNotFoundError: there is no such directory.
        Busy: a remover holds it, or it was replaced since it was opened (read the
            manifest again: it names another generation by now).
        OSError: it cannot be opened.
    """
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise Busy(str(directory)) from None
    except OSError:  # no flock on this file system: read without a hold
        pass
    if not _same_directory(fd, directory):
        os.close(fd)
        raise Busy(str(directory))
    return fd


def current_generation(root: Path) -> str | None:
    """The generation ``root/manifest.json`` names now, or ``None`` if it cannot be told."""
    try:
        with open(root / MANIFEST, "rb") as handle:
            name = json.load(handle).get("shards_dir")
    except (OSError, ValueError, AttributeError):
        return None
    return name if isinstance(name, str) else None


def remove_if_superseded(root: Path, name: str, fd: int | None = None) -> bool:
    """Delete generation ``root/name`` unless the manifest names it or a reader holds it.

    Args:
        fd: a descriptor of that directory that the caller holds (a reader letting go);
            it is closed in any case. Without it the directory is opened here.

    Returns:
        Whether it was removed. Never raises: a generation that cannot be removed (held,
        current, not ours to delete) is left to the next writer.
    """
    path = root / name
    doomed = None
    try:
        if fd is None:
            try:
                fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
            except OSError:
                return False
        if current_generation(root) in (name, None):
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return False  # a reader holds it
        if not _same_directory(fd, path) or current_generation(root) in (name, None):
            return False
        doomed = root / f"{DOOMED_PREFIX}{name}-{os.getpid()}-{os.urandom(4).hex()}"
        try:
            os.rename(path, doomed)
        except OSError:  # read-only, or not ours to change
            return False
    finally:
        if fd is not None:
            os.close(fd)  # lets go of the lock before the (possibly long) deletion
    shutil.rmtree(doomed, ignore_errors=True)
    return True


def release(root: Path, name: str, fd: int | None) -> None:
    """A reader lets go of generation ``root/name``: removed if it was the last reader of a
    superseded generation."""
    if fd is None:
        return
    with contextlib.suppress(Exception):  # also runs from finalizers at exit: never raise
        remove_if_superseded(root, name, fd)


def hold_existing(directory: Path, patience: float = 10.0) -> int | None:
    """For a writer reusing ``directory``: hold it shared (the descriptor), or ``None`` if it
    does not exist (or was just removed), waiting out a remover.

    Raises:
        TimeoutError: it stayed busy for ``patience`` seconds.
    """
    deadline = time.monotonic() + patience
    while True:
        try:
            return lock_shared(directory)
        except FileNotFoundError:
            return None
        except Busy:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{directory} stayed locked by a remover for {patience} s") from None
            time.sleep(0.005)
