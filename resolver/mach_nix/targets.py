"""One lock for several targets: what ``mach-nix lock`` writes for several ``--python``/``--system``.

The container (docs/lock-format.md, "Several targets") holds, per target, the complete
single-target lock document, untouched, keyed ``<python>-<system>`` (``3.12.11-x86_64-linux``),
and lists where the targets' versions differ, with why::

    {"kind": "mach-nix-targets", "version": 1, "order": [<keys>], "targets": {<key>: <lock>},
     "differences": [{"name": …, "versions": {<key>: <version> | null}, "reason": …}]}

:func:`lock_targets` makes the versions agree wherever the requirements allow it: the first
target is resolved as a single lock would be; every later one prefers the versions already
chosen (:mod:`mach_nix.resolution.agreement`: a preference, not a pin). Then, once, the
targets whose version of a name differs from a version another target was forced to
(its preferred one was impossible there) are resolved again, preferring the forced versions:
``llvmlite`` 0.50.0 on Linux but only 0.47.0 on macOS becomes 0.47.0 on both, when that
resolves. Only three keys of an inner document are read here: ``target``, ``roots`` and
``packages[*].version`` (and ``dependencies``, for the reasons).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mach_nix.errors import UsageError
from mach_nix.lock import Lock, dumps_json, write_whole
from mach_nix.resolution.agreement import Agreement
from mach_nix.target import Target

#: ``kind`` of the container.
KIND = "mach-nix-targets"
#: Version of the container's format (its own; each inner lock has its own ``version``).
VERSION = 1


def target_key(target: Mapping[str, Any] | Target) -> str:
    """The key of a target in the container: ``<full python version>-<system>``."""
    if isinstance(target, Target):
        return f"{target.python}-{target.system}"
    return f"{target['python']}-{target['system']}"


@dataclass
class Targets:
    """The locks of several targets, in the order given, and their differences.

    Attributes:
        locks: the single-target lock of every target, by key, in order.
        agreements: what each target's (last) resolution recorded about its preferences.
        differences: the container's ``differences`` (see :func:`differences`).
    """

    locks: dict[str, Lock]
    agreements: dict[str, Agreement] = field(default_factory=dict)
    differences: list[dict[str, Any]] = field(default_factory=list)

    @property
    def data(self) -> dict[str, Any]:
        """The container document."""
        return {
            "kind": KIND,
            "version": VERSION,
            "order": list(self.locks),
            "targets": {key: lock.data for key, lock in self.locks.items()},
            "differences": self.differences,
        }

    def dumps(self) -> str:
        """The container as deterministic JSON text (as a lock: sorted keys, 2-space indent)."""
        return dumps_json(self.data)

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write the container to ``path`` (after every resolution finished), whole or not at all."""
        write_whole(Path(path), self.dumps())

    def report(self) -> list[str]:
        """The differences as short lines for a person (empty when every version agrees)."""
        lines = []
        for item in self.differences:
            versions = item["versions"]
            shown = ", ".join(f"{versions[key] or '-'} on {key}" for key in self.locks)
            lines.append(f"{item['name']}: {shown}: {item['reason']}")
        return lines


def lock_targets(resolve_one: Callable[[Target, Agreement], Lock], targets: Sequence[Target]) -> Targets:
    """Resolve every target with ``resolve_one(target, agreement)`` so that versions agree where they
    can (see the module's docstring); return the locks and their differences.

    Raises:
        UsageError: two targets have the same key (``--python 3.11 --python 3.11.13``).
        whatever ``resolve_one`` raises (a target that cannot be resolved fails the whole lock).
    """
    keys = [target_key(target) for target in targets]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise UsageError(
            f"the target {', '.join(repeated)} is asked for more than once (--python X.Y stands for the patch"
            " release `--help` names); give each --python and --system once"
        )
    locks: dict[str, Lock] = {}
    agreements: dict[str, Agreement] = {}
    preferred: dict[str, str] = {}
    for key, target in zip(keys, targets, strict=True):
        agreement = Agreement(preferred=dict(preferred))
        locks[key] = resolve_one(target, agreement)
        agreements[key] = agreement
        for name, entry in sorted(locks[key].packages.items()):
            preferred.setdefault(name, entry["version"])
    forced = _forced(locks, agreements)
    if forced:
        again = {**preferred, **forced}
        for key, target in zip(keys, targets, strict=True):
            packages = locks[key].packages
            if any(name in packages and packages[name]["version"] != v for name, v in forced.items()):
                agreement = Agreement(preferred=dict(again))
                locks[key] = resolve_one(target, agreement)
                agreements[key] = agreement
    return Targets(locks=locks, agreements=agreements, differences=differences(locks, agreements))


def _forced(locks: Mapping[str, Lock], agreements: Mapping[str, Agreement]) -> dict[str, str]:
    """Per name some target could not have at its preferred version: the version the first such
    target chose instead (the others may prefer it too)."""
    forced: dict[str, str] = {}
    for key, lock in locks.items():
        for name in sorted(agreements[key].refused):
            if name in lock.packages:
                forced.setdefault(name, lock.packages[name]["version"])
    return forced


def differences(locks: Mapping[str, Lock], agreements: Mapping[str, Agreement]) -> list[dict[str, Any]]:
    """Every name whose version or presence differs between the targets, sorted by name:
    ``{"name", "versions": {key: version or None}, "reason"}``."""
    names = sorted({name for lock in locks.values() for name in lock.packages})
    result = []
    for name in names:
        versions = {
            key: lock.packages[name]["version"] if name in lock.packages else None for key, lock in locks.items()
        }
        if len(set(versions.values())) == 1:
            continue
        if None in versions.values():
            reason = _presence_reason(name, locks, agreements)
        else:
            reasons = [agreements[key].refused[name] for key in locks if name in agreements[key].refused]
            reason = "; ".join(dict.fromkeys(reasons)) or "the targets' requirements choose different versions"
        result.append({"name": name, "versions": versions, "reason": reason})
    return result


def _presence_reason(name: str, locks: Mapping[str, Lock], agreements: Mapping[str, Agreement]) -> str:
    """Why ``name`` is in the locks of some targets only: a root requirement's marker, or the
    markers of the requirements of the packages that need it."""
    present = [key for key, lock in locks.items() if name in lock.packages]
    where = ", ".join(present)
    if any(name in locks[key].roots for key in present):
        return f"only on {where}: a requirement of yours whose marker holds only there"
    parents: dict[str, str] = {}
    for key in present:
        for parent, entry in sorted(locks[key].packages.items()):
            if name in entry.get("dependencies", []) and parent not in parents:
                marker = agreements[key].markers.get(parent, {}).get(name)
                version = entry["version"]
                parents[parent] = (
                    f"{parent} {version} requires it where `{marker}` holds"
                    if marker
                    else f"{parent} {version} requires it"
                )
    listed = "; ".join(parents.values()) or "required by no package of the other targets"
    return f"only on {where}: {listed}"
