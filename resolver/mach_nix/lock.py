"""The lock file: the result of a resolution, as versioned, deterministic JSON.

The format is specified in ``docs/lock-format.md``; this module writes it
(:func:`build_lock`, :meth:`Lock.dumps`) and reads it back (:func:`load_lock`).
Bytes are deterministic: sorted keys, two-space indent, a trailing newline,
sorted lists.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mach_nix.errors import UsageError
from mach_nix.inventory import Inventory
from mach_nix.providers import ProviderConfig
from mach_nix.requirements import RequirementSet
from mach_nix.resolution.build_systems import BuildSystems
from mach_nix.resolution.candidates import ResolvedPackage
from mach_nix.target import Target

#: Version of the lock format written by this module.
LOCK_VERSION = 2


def rewrite_command(path: str | os.PathLike[str] | None = None) -> str:
    """The command that writes a lock of the current format in place of an old one."""
    out = f" -o {path}" if path is not None else " -o mach-nix.lock.json"
    return f"mach-nix lock -r requirements.txt{out}"


def write_whole(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that a reader sees the old file or the new one, never part of
    one: staged in a temporary file beside it, fsync'ed, then renamed over it. A failure (disk
    full, a kill) leaves the old file and no temporary one.

    Inside a Nix builder ``path`` is ``$out``, and nothing else may appear in the store: there it
    is written in place (Nix discards the output of a failed build).

    Raises:
        UsageError: the file cannot be written (the message names it and the reason).
    """
    try:
        if os.environ.get("out") and Path(os.environ["out"]).absolute() == path.absolute():
            path.write_text(text, encoding="utf-8")
            return
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    except OSError as error:
        raise UsageError(f"cannot write {path}: {error.strerror or error}") from None


def dumps_json(value: Any) -> str:
    """Serialise like the lock file: sorted keys, 2-space indent, trailing newline."""
    return json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


@dataclass
class Lock:
    """A lock file in memory.

    Attributes:
        data: the JSON document (see ``docs/lock-format.md``).
        warnings: non-fatal problems met while resolving (not written to the file).
    """

    data: dict[str, Any]
    warnings: list[str] = field(default_factory=list)

    @property
    def packages(self) -> dict[str, dict[str, Any]]:
        """``packages`` of the lock: normalised name -> entry."""
        return self.data["packages"]

    @property
    def roots(self) -> list[str]:
        """Normalised names of the root packages."""
        return self.data["roots"]

    def dumps(self) -> str:
        """The lock as deterministic JSON text."""
        return dumps_json(self.data)

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write the lock to ``path``, whole or not at all (:func:`write_whole`)."""
        write_whole(Path(path), self.dumps())

    def required_by(self) -> dict[str, list[str]]:
        """Name -> sorted names that depend on it (``<root>`` first for roots)."""
        result: dict[str, set[str]] = {name: set() for name in self.packages}
        for name, entry in self.packages.items():
            for dep in entry["dependencies"]:
                if dep in result and dep != name:
                    result[dep].add(name)
        ordered = {}
        for name, parents in result.items():
            prefix = ["<root>"] if self.packages[name]["root"] else []
            ordered[name] = prefix + sorted(parents)
        return ordered


def inputs_hash(
    requirements: RequirementSet,
    target: Target,
    providers: ProviderConfig,
    inventory: Inventory | None,
) -> str:
    """``sha256:<hex>`` of the resolution inputs (everything but the database).

    Covers the requirement and constraint strings in input order, ``--pre``,
    the target, the provider orders and the nixpkgs inventory. Origins (file
    names, line numbers) are not included, so moving a file keeps the hash.
    """
    document = {
        "lock_version": LOCK_VERSION,
        "requirements": [str(r.requirement) for r in requirements.requirements],
        "constraints": [str(r.requirement) for r in requirements.constraints],
        "pre": requirements.pre,
        "target": target.to_json(),
        "providers": providers.to_json(),
        "inventory": inventory.to_json() if inventory is not None else [],
    }
    text = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def package_entry(package: ResolvedPackage, build: BuildSystems | None = None) -> dict[str, Any]:
    """The lock entry of one resolved package (with its ``build_system`` when built from source)."""
    candidate = package.candidate
    entry: dict[str, Any] = {
        "name": candidate.name,
        "version": candidate.version_str,
        "provider": candidate.provider,
        "dependencies": sorted(package.dependencies),
        "extras": sorted(package.extras),
        "root": package.root,
    }
    if candidate.provider == "nixpkgs":
        entry["nixpkgs_attr"] = candidate.nixpkgs_attr
        entry["dependencies_known"] = candidate.metadata is not None
    elif candidate.source is not None:  # local, archive or VCS source (docs/lock-format.md)
        entry["source"] = dict(candidate.source)
        if package.build_requires or not candidate.source.get("wheel"):
            entry["build_requires"] = list(package.build_requires)
    else:
        assert candidate.dist is not None
        entry["artifact"] = {
            "filename": candidate.dist.filename,
            "url": candidate.url,
            "sha256": candidate.dist.sha256,
        }
        if candidate.yanked:
            entry["yanked"] = True
    if candidate.provider == "sdist":
        entry["build_requires"] = list(package.build_requires)
    if build is not None and candidate.name in build.closures:
        entry["build_system"] = build.closures[candidate.name]
    elif build is not None and candidate.name in build.unlocked:
        entry["build_system_unlocked"] = True
    return entry


def build_lock(
    packages: Mapping[str, ResolvedPackage],
    requirements: RequirementSet,
    target: Target,
    providers: ProviderConfig,
    inventory: Inventory | None,
    warnings: list[str] | None = None,
    sources: Mapping[str, Any] | None = None,
    build: BuildSystems | None = None,
) -> Lock:
    """Assemble the lock document from a resolution.

    Args:
        sources: what the data came from, when more than pinned databases gave it:
            ``databases`` (the layers) and ``exclude_newer`` (the cut-off), written as
            those optional keys (``docs/lock-format.md``); ``None``: neither is written.
        build: the locked build systems (``build_packages``, each sdist's ``build_system``);
            ``None`` (no artifacts read): none written.
    """
    data: dict[str, Any] = {
        "version": LOCK_VERSION,
        "target": target.to_json(),
        "inputs_hash": inputs_hash(requirements, target, providers, inventory),
        "providers": providers.to_json(),
        "roots": sorted(name for name, package in packages.items() if package.root),
        "packages": {name: package_entry(packages[name], build) for name in sorted(packages)},
    }
    if build is not None:
        data["build_packages"] = {key: build.packages[key] for key in sorted(build.packages)}
    if sources:
        for key in ("databases", "exclude_newer"):
            if sources.get(key) is not None:
                data[key] = sources[key]
    return Lock(data=data, warnings=sorted(set(warnings or [])))


def load_lock(path: str | os.PathLike[str]) -> Lock:
    """Read a lock file written by mach-nix.

    Raises:
        UsageError: unreadable, not JSON, or a format version this mach-nix does not know.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise UsageError(f"cannot read lock file {path}: {error.strerror or error}") from None
    except ValueError as error:
        raise UsageError(f"lock file {path} is not valid JSON: {error}") from None
    if not isinstance(data, dict) or "packages" not in data:
        raise UsageError(f"{path} is not a mach-nix lock file")
    check_version(data, path)
    return Lock(data=data)


def check_version(data: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """Refuse a lock of another format version, with the command that rewrites it.

    Raises:
        UsageError: ``version`` is not :data:`LOCK_VERSION`.
    """
    version = data.get("version")
    if version == LOCK_VERSION:
        return
    if isinstance(version, int) and version < LOCK_VERSION:
        raise UsageError(
            f"{path} has lock format version {version}, which does not lock the build systems of sdists; "
            f"this mach-nix reads version {LOCK_VERSION}. Rewrite it with the command that made it, e.g. "
            f"`{rewrite_command(path)}`"
        )
    raise UsageError(f"{path} has lock format version {version!r}; this mach-nix reads version {LOCK_VERSION}")
