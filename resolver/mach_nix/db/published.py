"""Pins of published databases, and where the CLI keeps their downloaded releases.

Contract: :func:`read_pin` reads a pin file (``pypi-data.json`` as ``db publish`` and
``db pin`` write it) and :func:`check_pin` checks one. A release the CLI downloaded
(:func:`mach_nix.db.publish.published_database`: the tarball checked against the pin's
sha256, unpacked and its manifest checked against the pin in a temporary directory, then
renamed into place) is ``<cache root>/published/<sha256>/pypi-data``
(:func:`mach_nix.db.cache_layer.cache_root`: ``$MACH_NIX_CACHE``, else
``$XDG_CACHE_HOME/mach-nix``, else ``~/.cache/mach-nix``); :func:`cached_database`
finds it. The directory is named by the tarball's sha256 and complete or absent, so
later runs and concurrent processes read it without a request; deleting it costs one
download. This module is light (no HTTP, no tar): a lock whose release is cached imports
nothing more. The database's file-index shards are fetched later, one by one, as for any
graph-only database (:mod:`mach_nix.db.files_cache`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from mach_nix.db.cache_layer import cache_root
from mach_nix.db.format import FORMAT_VERSION
from mach_nix.errors import UsageError

#: The directory a release's tarball unpacks to.
TOP = "pypi-data"
#: Fields every pin has.
PIN_FIELDS = ("url", "sha256", "date", "counts", "files_url", "format_version")


def published_dir() -> Path:
    """Where downloaded releases are kept: ``<cache root>/published``."""
    return cache_root() / "published"


def check_pin(pin: Any, where: str) -> dict[str, Any]:
    """``pin`` if it is a pin of a database this mach-nix reads, else a :class:`UsageError` naming ``where``."""
    if not isinstance(pin, dict) or any(field not in pin for field in PIN_FIELDS):
        raise UsageError(f"{where} is not a mach-nix pin (it needs {', '.join(PIN_FIELDS)})")
    if not isinstance(pin["sha256"], str) or len(pin["sha256"]) != 64:
        raise UsageError(f"{where}: sha256 must be 64 hex digits")
    if pin["format_version"] != FORMAT_VERSION:
        raise UsageError(
            f"{where} pins a database of format {pin['format_version']}; this mach-nix reads format "
            f"{FORMAT_VERSION}: use a release made by this version"
        )
    return pin


def read_pin(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The pin in the file ``path``.

    Raises:
        UsageError: unreadable, not JSON, or not a pin of a database this mach-nix reads.
    """
    where = os.fspath(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise UsageError(f"cannot read the pin file {where}: {error.strerror or error}") from None
    try:
        value = json.loads(text)
    except ValueError:
        raise UsageError(f"{where} is not JSON; write it with 'mach-nix db pin --url URL'") from None
    return check_pin(value, where)


def cached_database(pin: dict[str, Any]) -> Path | None:
    """The database of ``pin`` if it was downloaded already, else ``None``."""
    path = published_dir() / pin["sha256"] / TOP
    return path if (path / "manifest.json").is_file() else None
