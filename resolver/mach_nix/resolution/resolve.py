"""The entry of a resolution: requirements in, resolved packages and the lock out.

Python API::

    from mach_nix.db.store import open_database
    from mach_nix.providers import ProviderConfig
    from mach_nix.requirements import parse_requirements_file
    from mach_nix.resolution.resolve import resolve
    from mach_nix.target import Target

    lock = resolve(
        parse_requirements_file("requirements.txt"),
        Target.create("3.11.7", "x86_64-linux"),
        ProviderConfig.from_mapping({"_default": "wheel,sdist,nixpkgs"}),
        open_database(["tests/data/pypi-db"]),
        inventory=None,
    )
    print(lock.dumps())

:func:`resolve_packages` runs resolvelib over the dependency graph alone;
:func:`complete_artifacts` then reads the file index for the chosen artifacts
only; :func:`resolve` does both and builds the :class:`~mach_nix.lock.Lock`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import resolvelib
from packaging.utils import canonicalize_name

from mach_nix import progress
from mach_nix.db.files_cache import MissingFilesError
from mach_nix.db.model import DistFile, ProjectSource
from mach_nix.errors import DatabaseError, ResolutionError, UsageError
from mach_nix.inventory import Inventory
from mach_nix.lock import Lock, build_lock
from mach_nix.providers import ProviderConfig
from mach_nix.requirements import RequirementSet, coerce_requirements
from mach_nix.resolution.agreement import Agreement
from mach_nix.resolution.artifacts import Finder
from mach_nix.resolution.build_systems import resolve_build_systems
from mach_nix.resolution.candidates import Candidate, Req, ResolvedPackage
from mach_nix.resolution.dependencies import Dependencies, root_reqs
from mach_nix.resolution.explain import explain_impossible, unknown_projects
from mach_nix.resolution.prefetch import Prefetcher
from mach_nix.resolution.provider import ResolvelibProvider
from mach_nix.resolution.versions import ProjectIndex, VersionLists
from mach_nix.target import Target


@dataclass
class LocalCandidates:
    """What :mod:`mach_nix.local_projects` gives a resolution: the candidates of the user's
    local, archive and VCS sources by URL, and ``url_fallback``, which makes the candidate
    of an archive URL the database does not know (reading the archive), or ``None``."""

    candidates: dict[str, Candidate] = field(default_factory=dict)
    url_fallback: Callable[[Req], Candidate | None] | None = None


class BuildFacts(Protocol):
    """What a resolution asks about an sdist whose build requirements the database does not
    know (:class:`mach_nix.sdist_build.SdistBuildFacts`)."""

    def __call__(self, dist: DistFile, url: str | None) -> tuple[str, ...] | None:
        """Its build requirements (the file, where to download it), ``None`` when unknown."""

    def why_unknown(self, dist: DistFile) -> str:
        """Why they stay unknown, and what makes them known (for the warning)."""


#: Safety net against pathological inputs; far above anything real (mach-nix used 1000).
MAX_ROUNDS = 500_000


class _ProgressReporter(resolvelib.BaseReporter):
    """resolvelib's reporter: the resolving line shows the round and the latest pin."""

    def __init__(self, line: progress.Progress) -> None:
        self.line = line
        self.rounds = 0

    def starting_round(self, index: int) -> None:
        self.rounds = index + 1

    def pinning(self, candidate: Any) -> None:
        self.line.update(f"round {self.rounds}, trying {candidate.name} {candidate.version_str}")


def resolve_packages(
    requirements: RequirementSet | Sequence[str] | str,
    target: Target,
    providers: ProviderConfig,
    db: ProjectSource,
    inventory: Inventory | None = None,
    version_lists: VersionLists | None = None,
    local: LocalCandidates | None = None,
    agreement: Agreement | None = None,
) -> tuple[dict[str, ResolvedPackage], list[str]]:
    """Resolve; return ``{normalised name: ResolvedPackage}`` and the warnings met.

    Args:
        version_lists: version lists of ``db`` kept from earlier resolutions
            (see :mod:`mach_nix.resolution.versions`).
        local: the candidates of local, archive and VCS sources and the maker of the
            candidate of an archive URL the database lacks (:mod:`mach_nix.local_projects`).
        agreement: versions to prefer (chosen for another target of the same lock); what
            the resolution did with them is recorded into it (:mod:`mach_nix.resolution.agreement`).

    Raises:
        ResolutionError: the requirements conflict (chains of requirements shown).
        NotFoundError: unknown name, no artifact for the target, newer than the DB.
        UsageError: bad direct references or markers.
    """
    requirement_set = coerce_requirements(requirements)
    roots, constraints = root_reqs(requirement_set, target)
    finder = Finder(ProjectIndex(db, version_lists), target, providers, inventory)
    if local is not None:
        finder.local.update(local.candidates)
        finder.url_fallback = local.url_fallback
    dependencies = Dependencies(target)
    prefetcher = None
    if finder.source is not None:  # the database fetches: ask for every root's page at once
        prefetcher = Prefetcher(finder.source, finder, pre=requirement_set.pre)
        prefetcher.roots(
            [(r.name, r.specifier, r.extras) for r in roots if r.url is None],
            [(c.name, c.specifier) for c in constraints if c.url is None],
        )
    missing_roots: dict[str, list[Req]] = {}
    for root in roots:  # every unknown name at once, before any resolving
        if root.url is None and finder.project(root.name) is None and not finder.inventory.packages(root.name):
            missing_roots.setdefault(root.name, []).append(root)
    if missing_roots:
        finder.fetching = False
        raise unknown_projects(finder, {}, missing_roots)
    resolver_provider = ResolvelibProvider(
        finder,
        dependencies,
        constraints,
        roots=roots,
        pre=requirement_set.pre,
        prefetcher=prefetcher,
        preferred=agreement.versions() if agreement is not None else None,
    )
    line = progress.Progress("resolving")
    resolver: resolvelib.Resolver[Req, Candidate, str] = resolvelib.Resolver(resolver_provider, _ProgressReporter(line))
    try:
        with line:
            result = resolver.resolve(roots, max_rounds=MAX_ROUNDS)
    except resolvelib.ResolutionImpossible as error:
        finder.fetching = False
        requested, constraints_of = resolver_provider.requested, resolver_provider.constraints
        missing = resolver_provider.missing
        if missing and _involves(error.causes, missing):
            _complete_missing(finder, dependencies, missing)
            raise unknown_projects(finder, requested, missing) from None
        raise explain_impossible(finder, requested, constraints_of, error.causes) from None
    except resolvelib.ResolutionTooDeep:
        raise ResolutionError(
            f"gave up after {MAX_ROUNDS} resolution rounds; pin some of the packages involved"
        ) from None

    packages: dict[str, ResolvedPackage] = {}
    for candidate in result.mapping.values():
        if candidate.extras:
            continue
        packages[candidate.name] = ResolvedPackage(candidate=candidate)
    for identifier, candidate in result.mapping.items():
        package = packages[candidate.name]
        package.extras |= candidate.extras
        for dep in dependencies.requirements_of(candidate):
            if dep.name != candidate.name:
                package.dependencies.add(dep.name)
        for parent in result.graph.iter_parents(identifier):
            if parent is None:
                package.root = True
            else:
                parent_name = parent.split("[", 1)[0]
                if parent_name != candidate.name:
                    package.required_by.add(parent_name)
    for package in packages.values():
        package.build_requires = dependencies.build_requirements(package.candidate)
        package.build_requires_known = not borrows_build_requires(package.candidate)
    if agreement is not None:
        agreement.record(finder, packages)
    warnings = list(dependencies.warnings) + unknown_extras(packages)
    for name, skipped in sorted(finder.unfetched.items()):
        chosen = packages.get(name)
        newer = sorted(v for v in skipped if chosen is not None and v > chosen.candidate.version)
        if newer and chosen is not None:
            warnings.append(
                f"{name} {newer[-1]} was not considered: its metadata is not cached and --offline forbids fetching"
                f" it; without --offline the resolution may choose it instead of {chosen.candidate.version_str}"
            )
    return dict(sorted(packages.items())), warnings


def unknown_extras(packages: Mapping[str, ResolvedPackage]) -> list[str]:
    """pip's warning for every active extra a package does not provide (``requests[nosuch]``):
    neither ``Provides-Extra`` names it nor a ``Requires-Dist`` marker mentions it."""
    warnings = []
    for name, package in sorted(packages.items()):
        meta = package.candidate.metadata
        if meta is None or not package.extras:
            continue
        known = {canonicalize_name(e) for e in meta.provides_extras}
        for text in meta.requires_dist:
            known.update(canonicalize_name(a or b) for a, b in _EXTRA_MARKER.findall(text))
        for extra in sorted(package.extras - known):
            warnings.append(f"WARNING: {name} {package.candidate.version_str} does not provide the extra '{extra}'")
    return warnings


#: ``extra == "name"`` in a Requires-Dist marker (either quote, either order).
_EXTRA_MARKER = re.compile(r"""extra\s*==\s*["']([^"']+)["']|["']([^"']+)["']\s*==\s*extra""")


def _complete_missing(finder: Finder, dependencies: Dependencies, missing: dict[str, list[Req]]) -> None:
    """Add to ``missing`` the other missing dependencies of the candidates that needed a missing
    project (the resolver stopped at the first one of each), so that all are named at once."""
    parents = {req.parent for reqs in missing.values() for req in reqs if req.parent is not None}
    for parent in sorted(parents, key=repr):
        for dep in dependencies.requirements_of(parent):
            if dep.url is not None or dep.name in missing or finder.inventory.packages(dep.name):
                continue
            if finder.project(dep.name) is None:
                missing[dep.name] = [dep]


def _involves(causes: Collection[Any], missing: Mapping[str, Sequence[Req]]) -> bool:
    """Does a failure's cause concern a missing project (its requirement, or a requirement of
    a candidate whose alternatives needed it)?"""
    for cause in causes:
        if cause.requirement.name in missing:
            return True
        parent = cause.parent
        if parent is not None and parent.name in missing:
            return True
    return not causes


def borrows_build_requires(candidate: Candidate) -> bool:
    """Is this an sdist whose build requirements are unknown (its metadata borrowed from a wheel)?"""
    meta = candidate.metadata
    if candidate.provider != "sdist" or candidate.source is not None:
        return False
    return meta is not None and meta.build_requires is None


def learn_build_requires(
    packages: Mapping[str, ResolvedPackage], target: Target, build_facts: BuildFacts, db: ProjectSource
) -> None:
    """Read the build requirements of the sdists whose requirements are unknown (after
    :func:`complete_artifacts`: the sdist's sha256 and URL are known; a registry's project
    is downloaded from where its page says, ``download_url`` of the source)."""
    dependencies = Dependencies(target)
    download_url = getattr(db, "download_url", None)
    for name, package in packages.items():
        candidate = package.candidate
        if package.build_requires_known or candidate.dist is None:
            continue
        url = download_url(name, candidate.dist) if download_url is not None else None
        found = build_facts(candidate.dist, url or candidate.url)
        if found is not None:
            package.build_requires = dependencies.filter_build_requirements(found)
            package.build_requires_known = True


def complete_artifacts(packages: Mapping[str, ResolvedPackage], db: ProjectSource) -> None:
    """Give every chosen artifact its file-index fields (sha256, size, time, URL).

    Resolution reads only the dependency graph; this reads the file index for
    the artifacts of the lock, all at once.

    Raises:
        MissingFilesError: file-index shards are missing (all of them listed).
        DatabaseError: a chosen file is absent from the file index.
    """
    missing: MissingFilesError | None = None
    for name, package in packages.items():
        candidate = package.candidate
        dist = candidate.dist
        if dist is None or candidate.provider == "nixpkgs" or dist.has_details:
            continue
        try:
            found = db.file_details(name, [dist])
        except MissingFilesError as error:
            missing = error.joined(missing)
            continue
        if dist.filename not in found:
            raise DatabaseError(f"{dist.filename} of {name} is missing from the database's file index; re-crawl {name}")
        full = found[dist.filename]
        candidate.dist = full
        if candidate.url is None:
            candidate.url = full.url
    if missing is not None:
        raise missing


def resolve(
    requirements: RequirementSet | Sequence[str] | str,
    target: Target,
    providers: ProviderConfig | Mapping[str, str] | None = None,
    db: ProjectSource | None = None,
    inventory: Inventory | None = None,
    artifacts: bool = True,
    version_lists: VersionLists | None = None,
    local: LocalCandidates | None = None,
    agreement: Agreement | None = None,
    build_facts: BuildFacts | None = None,
) -> Lock:
    """Resolve requirements for a target and return the :class:`~mach_nix.lock.Lock`.

    Args:
        requirements: a :class:`~mach_nix.requirements.RequirementSet`, a list
            of PEP 508 strings, or the text of a requirements file.
        target: the interpreter and system (:class:`~mach_nix.target.Target`).
        providers: a :class:`ProviderConfig` or a mapping like
            ``{"_default": "wheel,sdist", "numba": "wheel"}``; default
            ``wheel,sdist,nixpkgs`` for everything.
        db: the PyPI database (``mach_nix.db.store.open_database(paths)``).
        inventory: the nixpkgs inventory (needed for the ``nixpkgs`` provider).
        artifacts: read the file index for the chosen artifacts (their
            ``url`` and ``sha256`` in the lock); ``False`` leaves them ``None``,
            for a display that needs no file index.
        version_lists: version lists of ``db`` kept from earlier resolutions.
        local: local, archive and VCS sources (see :func:`resolve_packages`).
        agreement: versions to prefer (see :func:`resolve_packages`).
        build_facts: reads the build requirements of an sdist whose metadata was borrowed
            from a wheel (:class:`mach_nix.sdist_build.SdistBuildFacts`); without it, or
            when it returns ``None``, that sdist is locked ``build_system_unlocked``.

    Raises:
        ResolutionError, NotFoundError, UsageError: see :func:`resolve_packages`.
        MissingFilesError: a graph-only database lacks file-index shards.
    """
    if db is None:
        raise UsageError("no database given")
    if providers is None:
        providers = ProviderConfig()
    elif not isinstance(providers, ProviderConfig):
        providers = ProviderConfig.from_mapping(providers)
    requirement_set = coerce_requirements(requirements)
    packages, warnings = resolve_packages(
        requirement_set, target, providers, db, inventory, version_lists, local, agreement
    )
    build = None
    if artifacts:
        # Every missing file-index shard, of the runtime and the build packages, named at once.
        missing: MissingFilesError | None = None
        try:
            complete_artifacts(packages, db)
        except MissingFilesError as error:
            missing = error
        if build_facts is not None and missing is None:
            learn_build_requires(packages, target, build_facts, db)

        def resolve_build(reqs: list[str], build_providers: ProviderConfig) -> dict[str, ResolvedPackage]:
            return resolve_packages(reqs, target, build_providers, db, None, version_lists)[0]

        try:
            why_unknown = build_facts.why_unknown if build_facts is not None else None
            build = resolve_build_systems(packages, db, resolve_build, complete_artifacts, why_unknown)
        except MissingFilesError as error:
            missing = error.joined(missing)
        if missing is not None:
            raise missing
        assert build is not None
        warnings = warnings + build.warnings
    lock_sources = getattr(db, "lock_sources", None)
    sources = lock_sources() if lock_sources is not None else None
    return build_lock(
        packages, requirement_set, target, providers, inventory, warnings=warnings, sources=sources, build=build
    )
