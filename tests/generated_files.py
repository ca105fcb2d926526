"""Checks of the files mach-nix generates (``env``, ``gen``): they hold no absolute path of the machine."""

from __future__ import annotations

import re


def absolute_paths(text: str) -> list[str]:
    """The absolute paths in a generated file, store paths aside. URLs (``https://…``) and
    relative paths (``../x``, ``./y``) are not absolute paths."""
    found = re.findall(r"(?<![\w.:/~-])/[A-Za-z][^\s\"';)]*", text)
    return [p for p in found if not p.startswith("/nix/store/")]
