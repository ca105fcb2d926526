"""The published database a pin file names, downloaded once, verified and cached.

Contract: :func:`read_pin` reads a pin file (``pypi-data.json`` as ``db publish`` and
``db pin`` write it, checked by :func:`mach_nix.db.publish.check_pin`);
:func:`published_database` returns the directory of the graph-only database that pin
names. The first call downloads the tarball (:func:`mach_nix.db.publish.download`:
checked against the pin's sha256), unpacks it and checks its manifest against the pin
(:func:`mach_nix.db.publish.unpack_checked`) in a temporary directory beside the cache,
and only then renames it into place: ``<cache root>/published/<sha256>/pypi-data``
(:func:`mach_nix.db.cache_layer.cache_root`: ``$MACH_NIX_CACHE``, else
``$XDG_CACHE_HOME/mach-nix``, else ``~/.cache/mach-nix``). The directory is named by the
tarball's sha256 and complete or absent, so later calls and concurrent processes read it
without a request; deleting it costs one download. The database's file-index shards are
fetched later, one by one, as for any graph-only database (:mod:`mach_nix.db.files_cache`).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from mach_nix.db.cache_layer import cache_root
from mach_nix.db.http import Client
from mach_nix.db.publish import TOP, check_pin, download, unpack_checked
from mach_nix.errors import UsageError


def published_dir() -> Path:
    """Where downloaded releases are kept: ``<cache root>/published``."""
    return cache_root() / "published"


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


def published_database(pin: dict[str, Any], where: str, fetch: bool = True, client: Client | None = None) -> Path:
    """The directory of the database ``pin`` (read from ``where``) names; downloaded, verified
    and cached on first use (see the module docstring).

    Raises:
        UsageError: not downloaded yet and ``fetch`` is false (``--offline``), or the release
            does not match the pin.
        NetworkError: unreachable.
    """
    found = cached_database(pin)
    if found is not None:
        return found
    if not fetch:
        raise UsageError(
            f"the database {where} pins ({pin['url']}) is not downloaded yet and --offline fetches nothing:"
            " run once without --offline, or pass --db DIR"
        )
    http = client or Client(hint=f"the database {where} pins is downloaded once; check the network")
    data = download(pin, where, http)
    root = published_dir()
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".download-", dir=root))
    try:
        unpack_checked(data, staging, pin, where)
        try:
            os.rename(staging, root / pin["sha256"])
        except OSError:  # another process was faster: its copy is the same bytes
            if cached_database(pin) is None:
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    found = cached_database(pin)
    assert found is not None
    return found
