"""Facts of registry files that depend only on their bytes, cached as JSON by sha256.

Contract: a fact (the sonames a wheel needs, the build requirements an sdist declares) is
a function of a file's content, so it is stored under the file's sha256 and never goes
stale: ``<dir>/<sha256[:2]>/<sha256>.json``. Writes are atomic (a reader sees a whole
file or none) and best effort (a read-only cache only costs reading the file again next
time). Further directories are read-only sources of facts (a committed set, for tests).
Each kind of fact has its own directory below ``$MACH_NIX_CACHE``, else
``$XDG_CACHE_HOME/mach-nix``, else ``~/.cache/mach-nix`` (:func:`cache_dir`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def cache_dir(kind: str) -> Path:
    """The cache directory of one kind of fact (``native``, ``sdist-build``)."""
    base = os.environ.get("MACH_NIX_CACHE")
    if base:
        return Path(base) / kind
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "mach-nix" / kind


class FactsCache:
    """JSON objects by sha256 in ``directory``, read also from the read-only ``extra`` ones."""

    def __init__(self, directory: Path, extra: Iterable[Path] = ()) -> None:
        self.directory = directory
        self.extra = list(extra)

    @staticmethod
    def _path(base: Path, sha256: str) -> Path:
        return base / sha256[:2] / f"{sha256}.json"

    def get_json(self, sha256: str) -> dict[str, Any] | None:
        """The first stored object for this sha256 (writable directory first), if any."""
        for base in (self.directory, *self.extra):
            try:
                data = json.loads(self._path(base, sha256).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(data, dict):
                return data
        return None

    def put_json(self, sha256: str, data: dict[str, Any]) -> None:
        """Store an object, atomically; an unwritable cache is ignored."""
        path = self._path(self.directory, sha256)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(json.dumps(data, sort_keys=True) + "\n", encoding="utf-8")
            tmp.replace(path)
        except OSError:
            pass
