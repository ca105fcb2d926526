"""Which name resolvelib works on next.

resolvelib asks, at every step, for the preference of each unresolved name
(:func:`preference`: the smallest key is resolved first) and, after a
conflict, which names to consider at all (:func:`narrow`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from mach_nix.resolution.candidates import Req, identifier


def preference(identifier_: str, infos: Iterable[Any], constraints: Mapping[str, Sequence[Req]]) -> tuple:
    """The sort key of a name: pinned first, then bases before extras, roots, bounded, more constrained, by name.

    Args:
        identifier_: the resolvelib identifier (``name`` or ``name[extras]``).
        infos: resolvelib's ``RequirementInformation`` (``requirement``, ``parent``) for it.
        constraints: the user's constraints per normalised name.
    """
    infos = list(infos)
    pinned = any(info.requirement.is_pin() for info in infos)
    name = identifier_.split("[", 1)[0]
    pinned = pinned or any(c.is_pin() for c in constraints.get(name, ()))
    root = any(info.parent is None for info in infos)
    upper = False
    specs = 0
    for info in infos:
        for spec in info.requirement.specifier:
            specs += 1
            if spec.operator in ("<", "<=", "~=") or (spec.operator == "==" and spec.version.endswith(".*")):
                upper = True
    return (not pinned, "[" in identifier_, not root, not upper, -specs, identifier_)


def narrow(identifiers: Iterable[str], backtrack_causes: Sequence[Any]) -> list[str]:
    """After a conflict, the names involved in it (all names when none is)."""
    identifiers = list(identifiers)
    if not backtrack_causes:
        return identifiers
    causes = set()
    for cause in backtrack_causes:
        causes.add(cause.requirement.identifier)
        if cause.parent is not None:
            causes.add(identifier(cause.parent.name, cause.parent.extras))
    chosen = [name for name in identifiers if name in causes]
    return chosen or identifiers
