"""The crawl journal: per-file results of a running crawl, kept across a kill.

Every per-file result (the metadata, or why there is none) is appended to
``DIR/.partial/journal.jsonl`` as soon as it is known, one canonical JSON line
each and flushed; a rerun after a kill reuses the results instead of fetching
the files again. The journal also holds the database's crawl lock
(``DIR/.partial/lock``): one crawl or update per database at a time. It is
deleted once the new database is written.
"""

from __future__ import annotations

import fcntl
import json
from pathlib import Path
from typing import TextIO

from mach_nix.db.format import dumps
from mach_nix.db.model import Failure, Metadata
from mach_nix.errors import UsageError

#: Where the journal is, relative to the database directory.
JOURNAL = Path(".partial") / "journal.jsonl"

#: The result of one file: its metadata, or why it has none.
FileResult = tuple[Metadata | None, Failure | None]


class Journal:
    """Append-only per-file results of the running crawl (``DIR/.partial/journal.jsonl``)."""

    def __init__(self, root: Path, policy: str = "") -> None:
        """Open (and load) the journal of the database at ``root``.

        ``skipped`` results are only reused by a crawl with the same ``policy``
        (``--hooks`` and ``--max-sdist-mb``); ``download`` failures never are.
        """
        self.path = root / JOURNAL
        self.policy = policy
        self.results: dict[str, FileResult] = {}
        if self.path.exists():
            for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    item = json.loads(line)
                    meta = Metadata.from_json(item["meta"]) if item.get("meta") else None
                    fail = Failure(*item["failure"]) if item.get("failure") else None
                    if fail is not None and fail.kind == "skipped" and item.get("policy") != policy:
                        continue
                    self.results[item["sha256"]] = (meta, fail)
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut short by a kill
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = open(self.path.parent / "lock", "w")  # noqa: SIM115 (held until close())
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock.close()
            raise UsageError(
                f"another crawl or update is running on {str(root)!r} (lock {self.path.parent / 'lock'}); "
                "wait for it to finish"
            ) from None
        self._handle: TextIO = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (held until close())

    def add(self, sha256: str, result: FileResult) -> None:
        """Record the result for file ``sha256`` (flushed immediately)."""
        meta, fail = result
        if fail is not None and fail.kind == "download":
            return
        line = {
            "sha256": sha256,
            "meta": meta.to_json() if meta else None,
            "failure": [fail.filename, fail.kind, fail.reason] if fail else None,
        }
        if fail is not None and fail.kind == "skipped":
            line["policy"] = self.policy
        self._handle.write(dumps(line) + "\n")
        self._handle.flush()

    def close(self, delete: bool = False) -> None:
        """Close the journal; delete it (after a successful write) if asked."""
        self._handle.close()
        if delete:
            self.path.unlink(missing_ok=True)
            (self.path.parent / "lock").unlink(missing_ok=True)
        self._lock.close()
        if delete:
            try:
                self.path.parent.rmdir()
            except OSError:
                pass
