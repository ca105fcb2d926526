"""The default database of every command: the published pin, plus the cache of fetched metadata.

Contract: :func:`find_pin` names the pin file used when neither ``--db`` nor
``$MACH_NIX_DB`` replaces it, the first of

1. ``$MACH_NIX_PIN`` (a file; ``none`` or empty: no pin at all),
2. ``./pypi-data.json`` in the working directory,
3. the ``pypi-data.json`` shipped with this mach-nix (its checkout's, or the package's
   Nix library's), the pin the Nix library's default database reads too;

and :func:`default_layers` the pinned layers it stands for: the published database that
pin names (:func:`mach_nix.db.published.published_database`: downloaded once, verified,
cached), or none. The user cache of on-demand metadata (:mod:`mach_nix.db.cache_layer`)
is added by the commands in any case (unless ``--no-cache``). :func:`expand` turns the
``--db``/``$MACH_NIX_DB`` list into layers: the word :data:`DEFAULT` names the default
layers, so ``--db default --db ./mine`` adds ``./mine`` above them, while ``--db ./mine``
alone replaces them. :func:`describe` is the line that says what database a command uses.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from mach_nix.errors import UsageError

#: The ``--db`` value that names the default layers.
DEFAULT = "default"
#: The pin file's name.
PIN_FILE = "pypi-data.json"


@dataclass(frozen=True)
class PinFile:
    """A pin file found by :func:`find_pin`: its path and how it was found (for messages)."""

    path: Path
    origin: str


def shipped_pin() -> Path | None:
    """The pin shipped with this mach-nix: ``pypi-data.json`` beside its Nix library (the
    checkout's ``default.nix``, or the package's ``mach_nix/nix/``), if any. The places are
    :func:`mach_nix.commands.nixsource.library_root`'s, found here without importing that
    module (it costs every lock ~6 ms)."""
    package = Path(__file__).resolve().parents[1]
    for root in (package.parents[1], package / "nix"):
        if (root / "default.nix").is_file() and (root / PIN_FILE).is_file():
            return root / PIN_FILE
    return None


def find_pin() -> PinFile | None:
    """The pin file of the default database (see the module docstring), or ``None``.

    Raises:
        UsageError: ``$MACH_NIX_PIN`` names no file.
    """
    env = os.environ.get("MACH_NIX_PIN")
    if env is not None:
        if env in ("", "none"):
            return None
        if not os.path.isfile(env):
            raise UsageError(
                f"MACH_NIX_PIN={env}: no such file; point it at a pin (mach-nix db pin --url URL --file FILE"
                " writes one), or set MACH_NIX_PIN=none for no published database"
            )
        return PinFile(Path(env).absolute(), "$MACH_NIX_PIN")
    if os.path.isfile(PIN_FILE):
        return PinFile(Path(PIN_FILE).absolute(), f"./{PIN_FILE}")
    shipped = shipped_pin()
    return None if shipped is None else PinFile(shipped, "the pin shipped with mach-nix")


def default_layers(fetch: bool = True) -> list[str]:
    """The default pinned layers: the published database :func:`find_pin` names, or none."""
    from mach_nix.db.published import cached_database, read_pin

    found = find_pin()
    if found is None:
        return []
    pin = read_pin(found.path)
    cached = cached_database(pin)
    if cached is None:  # the first use: download it (HTTP and tar are imported then only)
        from mach_nix.db.publish import published_database

        cached = published_database(pin, str(found.path), fetch=fetch)
    return [str(cached)]


def expand(given: list[str], fetch: bool = True) -> list[str]:
    """``--db``/``$MACH_NIX_DB`` entries as layers, :data:`DEFAULT` replaced by :func:`default_layers`."""
    layers: list[str] = []
    for entry in given:
        layers.extend(default_layers(fetch) if entry == DEFAULT else [entry])
    return layers


def describe(cache: str | None) -> str:
    """The line saying which database the default is: the pin (file, date, projects) and the
    cache of fetched metadata at ``cache`` (``None``: ``--no-cache``)."""
    from mach_nix.db.published import read_pin

    found = find_pin()
    fetched = f"the cache of fetched metadata ({cache})" if cache else "metadata fetched for this run only"
    if found is None:
        why = (
            "MACH_NIX_PIN=none"
            if os.environ.get("MACH_NIX_PIN") is not None
            else f"no $MACH_NIX_PIN, ./{PIN_FILE} or pin shipped with mach-nix"
        )
        return f"database: no published pin ({why}): {fetched}, filled from the registry on demand"
    pin = read_pin(found.path)
    return f"database: {found.origin} ({pin['date']}, {pin['counts']['projects']} projects) plus {fetched}"
