"""Writing what a resolution fetched into the user layer, in a process of its own.

A lock that fetched a lot (a data-science stack: 140 projects, tens of thousands of files)
would spend seconds after resolving on encoding and writing the user layer
(:mod:`mach_nix.db.cache_layer`). ``mach-nix lock`` therefore hands that work to this
program and exits as soon as the lock is written:

    python -m mach_nix.db.cache_writer FD DIR INDEX  < payload

``payload`` is a pickle of :meth:`mach_nix.db.ondemand.OnDemandSource.to_save` (the pages as
the registry sent them, which are parsed again here, and the metadata fetched); ``FD`` is the
user layer's ``.lock``, which the handing process locked exclusively before it started this
one, so that the lock is held without a gap until the layer is written. Every reader of the
layer waits for that lock first (:meth:`~mach_nix.db.cache_layer.CacheLayer.wait`), so the
next ``mach-nix lock`` sees what this one fetched and makes no request. The write itself is
the ordinary atomic one; a killed writer leaves the layer as it was.
"""

from __future__ import annotations

import json
import os
import pickle
import sys
from collections.abc import Sequence
from typing import Any

from mach_nix.db.cache_layer import CacheLayer, build_release, release_results
from mach_nix.db.fetch import read_page
from mach_nix.db.format import version_sort_key
from mach_nix.db.model import Project


def save_payload(cache: CacheLayer, payload: list[dict[str, Any]], lock: Any = None) -> dict[str, Any]:
    """Write ``payload`` (:meth:`~mach_nix.db.ondemand.OnDemandSource.to_save`) into ``cache``.

    A project with a ``page`` is that page with the ``results``; one without is the
    layer's copy with the ``results`` added.

    Args:
        lock: the ``.lock`` file, already held exclusively (``None``: take it).
    """
    if lock is not None:
        cache.held = lock  # reading the layer must not wait for this very lock
    projects: dict[str, Project] = {}
    fetched: dict[str, str] = {}
    base = ""
    for item in payload:
        name, results = item["name"], item["results"]
        if "page" in item:
            files = read_page(name, json.loads(item["page"])).releases
            releases = {v: build_release(v, files[v], results) for v in sorted(files, key=version_sort_key)}
            projects[name] = Project(name, releases, item["serial"])
        else:
            old = cache.project(name)
            if old is None:
                continue
            releases = {}
            for version, release in old.releases.items():
                if any(d.filename in results for d in release.files):
                    known = release_results(release)
                    merged = {
                        d.filename: results.get(d.filename) or known[(d.filename, d.sha256)] for d in release.files
                    }
                    release = build_release(version, list(release.files), merged)
                releases[version] = release
            projects[name] = Project(name, releases, old.last_serial)
        fetched[name] = item["fetched"]
        base = base or item["base"]
    return cache.save(projects, fetched, base, lock=lock)


def main(argv: Sequence[str] | None = None) -> int:
    """``FD DIR INDEX`` with the payload on stdin (see the module docstring)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 3:
        print("usage: python -m mach_nix.db.cache_writer FD DIR INDEX < payload", file=sys.stderr)
        return 2
    fd, path, index = int(args[0]), args[1], args[2]
    payload = pickle.load(sys.stdin.buffer)
    with os.fdopen(fd, "a+b") as lock:
        try:
            save_payload(CacheLayer(path, index), payload, lock=lock)
        except Exception as error:  # the lock is written already: say it, the next run fetches again
            print(f"mach-nix: could not save the fetched metadata into {path}: {error}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
