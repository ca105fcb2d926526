"""The nixpkgs inventory: which Python packages (and versions) a nixpkgs offers.

The Nix side enumerates ``python.pkgs`` (with ``tryEval``) and writes a JSON
list of objects ``{"attr": "requests", "pname": "requests", "version": "2.31.0"}``.
Several attributes may share a pname (``django`` and ``django_4``); for one
(pname, version) mach-nix prefers the attribute whose name equals the
normalised pname (``-`` and ``_`` treated alike), then the shortest name, then
alphabetical order. Versions that are not PEP 440 are skipped.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from mach_nix.errors import UsageError
from mach_nix.requirements import read_input_file


@dataclass(frozen=True)
class NixpkgsPackage:
    """One nixpkgs attribute chosen for a (normalised name, version).

    Attributes:
        attr: the attribute name in the Python package set.
        name: the normalised pname.
        version: the version string as nixpkgs has it.
    """

    attr: str
    name: str
    version: str


class Inventory:
    """Lookup of nixpkgs packages by normalised name."""

    def __init__(self, entries: Iterable[Mapping[str, object]] = ()) -> None:
        """Build from inventory entries (see the module docstring); bad entries are skipped."""
        chosen: dict[tuple[str, str], NixpkgsPackage] = {}
        for entry in entries:
            attr, pname, version = entry.get("attr"), entry.get("pname"), entry.get("version")
            if not (isinstance(attr, str) and isinstance(pname, str) and isinstance(version, str)):
                continue
            try:
                Version(version)
            except InvalidVersion:
                continue
            name = canonicalize_name(pname)
            if not name:
                continue
            candidate = NixpkgsPackage(attr=attr, name=name, version=version)
            key = (name, version)
            current = chosen.get(key)
            if current is None or _attr_rank(candidate) < _attr_rank(current):
                chosen[key] = candidate
        self._by_name: dict[str, list[NixpkgsPackage]] = {}
        for (package_name, _version), package in sorted(chosen.items()):
            self._by_name.setdefault(package_name, []).append(package)

    def packages(self, name: str) -> list[NixpkgsPackage]:
        """Every nixpkgs package for the normalised ``name`` (one per version)."""
        return self._by_name.get(name, [])

    def __len__(self) -> int:
        return sum(len(items) for items in self._by_name.values())

    def to_json(self) -> list[dict[str, str]]:
        """The chosen entries, sorted (for the inputs hash)."""
        return [
            {"attr": p.attr, "pname": p.name, "version": p.version}
            for name in sorted(self._by_name)
            for p in self._by_name[name]
        ]


def _attr_rank(package: NixpkgsPackage) -> tuple[int, int, str]:
    """Sort key of attributes for the same package: the canonical attr name first."""
    canonical = canonicalize_name(package.attr) == package.name
    return (0 if canonical else 1, len(package.attr), package.attr)


def load_inventory(path: str | os.PathLike[str]) -> Inventory:
    """Read an inventory JSON file.

    Raises:
        UsageError: unreadable file or not a JSON list of objects.
    """
    raw = read_input_file(path, "nixpkgs inventory")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise UsageError(f"nixpkgs inventory {path} is not valid JSON: {error}") from None
    except RecursionError:
        raise UsageError(f"nixpkgs inventory {path} is not valid JSON: nested too deeply") from None
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise UsageError(f"nixpkgs inventory {path} must be a JSON list of objects {{attr, pname, version}}")
    return Inventory(data)
