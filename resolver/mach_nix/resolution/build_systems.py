"""Build systems of the sdists of a resolution, each resolved as its own closure.

Contract: :func:`resolve_build_systems` takes the packages of a finished resolution and,
for every package built from source (an sdist, or a local/archive/VCS source that is not
a wheel), resolves its target-filtered build requirements (``ResolvedPackage.build_requires``:
what the database records, ``[build-system] requires`` then what the backend's
``get_requires_for_build_wheel`` returned where the crawler ran the hook, else
``setup_requires``, else PEP 517's default; for an sdist that borrowed a wheel's metadata,
what :mod:`mach_nix.sdist_build` read from the sdist) *apart from the runtime resolution*
(build isolation, as pip and uv do), from wheels only. The result is
deduplicated: ``packages`` maps ``"name==version"`` to a wheel entry (artifact, sha256 and
``dependencies`` as keys of ``packages``: its dependencies in the closures it is part of, the
union when their active extras differ), ``closures`` maps each sdist's name to the sorted
keys it builds with. A build system that cannot be locked (requirements unknown, no usable
wheel, a direct URL, a conflict) is listed in ``unlocked`` with a warning: the Nix side then builds that sdist
with the package set's tools (``build_system_unlocked`` in ``docs/lock-format.md``).
Identical requirement lists are resolved once; output is deterministic.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mach_nix.db.files_cache import MissingFilesError
from mach_nix.db.model import DistFile, ProjectSource
from mach_nix.errors import MachNixError
from mach_nix.providers import ProviderConfig
from mach_nix.resolution.candidates import ResolvedPackage

#: One resolution of requirement strings with the given providers (resolve.resolve_packages).
Resolve = Callable[[list[str], ProviderConfig], Mapping[str, ResolvedPackage]]
#: Fills the file-index fields of chosen artifacts (resolve.complete_artifacts).
Complete = Callable[[Mapping[str, ResolvedPackage], ProjectSource], None]

#: Build closures come from wheels only: a build tool built from source needs a build system itself.
BUILD_PROVIDERS = {"_default": "wheel"}


@dataclass
class BuildSystems:
    """The locked build systems of one resolution (see the module docstring)."""

    packages: dict[str, dict[str, Any]] = field(default_factory=dict)
    closures: dict[str, list[str]] = field(default_factory=dict)
    unlocked: set[str] = field(default_factory=set)
    warnings: list[str] = field(default_factory=list)


def builds_from_source(package: ResolvedPackage) -> bool:
    """Is this package built from source (an sdist, or a local/archive/VCS source not a wheel)?"""
    candidate = package.candidate
    if candidate.provider == "sdist" and candidate.source is None:
        return True
    return candidate.source is not None and not candidate.source.get("wheel")


def key_of(name: str, version: str) -> str:
    """The ``build_packages`` key of a build package: ``name==version``."""
    return f"{name}=={version}"


def resolve_build_systems(
    packages: Mapping[str, ResolvedPackage],
    db: ProjectSource,
    resolve: Resolve,
    complete: Complete,
    why_unknown: Callable[[DistFile], str] | None = None,
) -> BuildSystems:
    """Resolve and lock the build closure of every package of ``packages`` built from source.

    A package whose build requirements are unknown (``build_requires_known`` false) is
    listed in ``unlocked``: locking PEP 517's default for it would be a guess.

    Args:
        resolve: runs one resolution of requirement strings with the given providers, no
            inventory (``resolve.resolve_packages``, passed in: that module imports this one).
        complete: ``resolve.complete_artifacts``.
        why_unknown: why an sdist's unknown build requirements could not be read, for the
            warning (:meth:`mach_nix.sdist_build.SdistBuildFacts.why_unknown`).

    Raises:
        MissingFilesError: a graph-only database lacks file-index shards of a build wheel.
    """
    result = BuildSystems()
    providers = ProviderConfig.from_mapping(BUILD_PROVIDERS)
    solved: dict[tuple[str, ...], list[str] | str] = {}
    for name in sorted(packages):
        package = packages[name]
        if not builds_from_source(package):
            continue
        if not package.build_requires_known:
            dist = package.candidate.dist
            why = why_unknown(dist) if why_unknown is not None and dist is not None else "nothing read them"
            result.unlocked.add(name)
            result.warnings.append(
                f"the build requirements of {name} {package.candidate.version_str} are not known (the "
                f"database took its metadata from a wheel, and {why}); it is built with the package set's build "
                f"tools (build_system_unlocked in the lock)"
            )
            continue
        requirements = tuple(package.build_requires)
        if requirements not in solved:
            solved[requirements] = _closure(requirements, providers, resolve, result)
        outcome = solved[requirements]
        if isinstance(outcome, str):
            result.unlocked.add(name)
            result.warnings.append(
                f"the build system of {name} {package.candidate.version_str} ({', '.join(requirements)}) "
                f"is not locked: {outcome}; it is built with the package set's build tools "
                f"(build_system_unlocked in the lock)"
            )
        else:
            result.closures[name] = outcome
    complete_artifacts_of(result, db, complete)
    return result


def _closure(
    requirements: tuple[str, ...],
    providers: ProviderConfig,
    resolve: Resolve,
    result: BuildSystems,
) -> list[str] | str:
    """The keys of one build closure, added to ``result.packages``; or why it cannot be locked."""
    if not requirements:
        return []
    if any(" @ " in text for text in requirements):
        return "a build requirement is a direct URL"
    try:
        closure = resolve(list(requirements), providers)
    except MachNixError as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return f"no wheel-only resolution ({first})"
    keys = {name: key_of(name, package.candidate.version_str) for name, package in closure.items()}
    for name, package in closure.items():
        key = keys[name]
        dependencies = {keys[dep] for dep in package.dependencies if dep in keys}
        if key in result.packages:
            # The same wheel in another closure, maybe with other extras active: the union.
            known = result.packages[key]
            known["dependencies"] = sorted(set(known["dependencies"]) | dependencies)
            continue
        result.packages[key] = {
            "_package": package,
            "name": name,
            "version": package.candidate.version_str,
            "dependencies": sorted(dependencies),
        }
    return sorted(keys.values())


def complete_artifacts_of(result: BuildSystems, db: ProjectSource, complete: Complete) -> None:
    """Give every build package its artifact from the file index (every missing shard named at once)."""
    missing: MissingFilesError | None = None
    for key in sorted(result.packages):
        entry = result.packages[key]
        package = entry.pop("_package")
        try:
            complete({package.candidate.name: package}, db)
        except MissingFilesError as error:
            missing = error.joined(missing)
            continue
        dist = package.candidate.dist
        assert dist is not None
        entry["artifact"] = {"filename": dist.filename, "url": package.candidate.url, "sha256": dist.sha256}
    if missing is not None:
        raise missing
