"""Dependency resolution with resolvelib, for a target, from the PyPI database.

Python API::

    from mach_nix.requirements import parse_requirements_file
    from mach_nix.target import Target
    from mach_nix.providers import ProviderConfig
    from mach_nix.db.store import open_database
    from mach_nix.resolve import resolve

    lock = resolve(
        parse_requirements_file("requirements.txt"),
        Target.create("3.11.7", "x86_64-linux"),
        ProviderConfig.from_mapping({"_default": "wheel,sdist,nixpkgs"}),
        open_database(["tests/data/pypi-db"]),
        inventory=None,
    )
    print(lock.dumps())

How candidates are found (per package, see :mod:`mach_nix.providers`): for
each provider in the package's order, every version newest first;
``wheel``: the best-ranked wheel of that version compatible with the target;
``sdist``: the version's sdist; ``nixpkgs``: the inventory's package of that
version, with the dependencies the DB records for the same version. Files
whose metadata is unknown are skipped. Pre-releases are considered only when
a specifier mentions one, ``--pre`` is given, or nothing else fits; yanked
files only when pinned with ``==``/``===`` (PEP 592).

Extras follow pip's model: ``dask[array]`` is its own resolvelib identifier
whose candidate depends on the exact ``dask`` candidate plus the extra's
dependencies, so dependency cycles through extras (``dask[complete]``) work.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import resolvelib
from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import (
    InvalidWheelFilename,
    canonicalize_name,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from mach_nix.db.model import DistFile, Metadata, Project, ProjectSource, Release
from mach_nix.errors import DatabaseError, NotFoundError, ResolutionError, UsageError
from mach_nix.inventory import Inventory, NixpkgsPackage
from mach_nix.providers import ProviderConfig
from mach_nix.requirements import RequirementSet, RootRequirement, parse_requirement
from mach_nix.target import Target

#: Parsed ``Requires-Dist`` strings (``None``: invalid), shared by every resolution of the
#: process: parsed requirements are never modified, and a long-lived process (the resolver
#: server) meets the same strings again and again.
_PARSED: dict[str, Requirement | None] = {}

#: Tags of wheel file names, shared likewise.
_WHEEL_TAGS: dict[str, frozenset] = {}


def _parse_dependency(text: str) -> Requirement | None:
    requirement = _PARSED.get(text, False)
    if requirement is False:
        try:
            requirement = Requirement(text)
        except (InvalidRequirement, InvalidSpecifier, ValueError):
            requirement = None
        _PARSED[text] = requirement
    return requirement  # type: ignore[return-value]


def _wheel_tags(filename: str) -> frozenset:
    """The tags of a wheel file name (cached).

    Raises:
        InvalidWheelFilename, InvalidVersion: not a valid wheel name.
    """
    tags = _WHEEL_TAGS.get(filename)
    if tags is None:
        tags = _WHEEL_TAGS[filename] = parse_wheel_filename(filename)[3]
    return tags


def _sort_key(version: Version) -> Any:
    """A plain-tuple key ordering like ``version`` (compared in C), or the version itself.

    ``packaging`` keeps one as ``_key`` (private, present in every release we
    support); without it, comparisons fall back to :class:`Version`'s methods.
    """
    return getattr(version, "_key", version)


#: Safety net against pathological inputs; far above anything real (mach-nix used 1000).
MAX_ROUNDS = 500_000

_SDIST_SUFFIXES = (".tar.gz", ".zip", ".tar.bz2", ".tar.xz", ".tgz", ".tar")


# --------------------------------------------------------------------------- records


#: Build requirements assumed for an sdist whose own are unknown (PEP 517's default).
DEFAULT_BUILD_REQUIRES: tuple[str, ...] = ("setuptools>=40.8.0",)


class Candidate:
    """One concrete choice for a package: name, version, provider and artifact.

    Attributes:
        name: normalised project name.
        version: parsed version; ``version_str`` is the string as published.
        provider: ``"wheel"``, ``"sdist"`` or ``"nixpkgs"``.
        dist: the chosen artifact (wheel/sdist), or for nixpkgs the artifact
            whose metadata gave the dependencies (``None`` if the DB lacks it).
        metadata: the dependency metadata used, or ``None`` (nixpkgs only:
            dependencies unknown, keep nixpkgs' own).
        nixpkgs_attr: the nixpkgs attribute (nixpkgs only).
        extras: the extras this candidate stands for (empty for the base).
        yanked: the chosen artifact is yanked.
        url: the download URL (a direct reference's own URL, else the DB's).
    """

    __slots__ = (
        "name",
        "version",
        "version_str",
        "provider",
        "dist",
        "metadata",
        "nixpkgs_attr",
        "extras",
        "yanked",
        "url",
        "key",
        "_hash",
    )

    def __init__(
        self,
        name: str,
        version: Version,
        version_str: str,
        provider: str,
        dist: DistFile | None,
        metadata: Metadata | None,
        nixpkgs_attr: str | None = None,
        extras: frozenset[str] = frozenset(),
        yanked: bool = False,
        url: str | None = None,
    ) -> None:
        self.name = name
        self.version = version
        self.version_str = version_str
        self.provider = provider
        self.dist = dist
        self.metadata = metadata
        self.nixpkgs_attr = nixpkgs_attr
        self.extras = extras
        self.yanked = yanked
        self.url = url if url is not None else (dist.url if dist is not None and provider != "nixpkgs" else None)
        #: Identity of the base choice (shared by the base and its extras candidates).
        self.key = (name, version_str, provider, dist.filename if dist is not None else nixpkgs_attr)
        self._hash = hash((self.key, extras))

    def with_extras(self, extras: frozenset[str]) -> Candidate:
        """The same choice standing for ``name[extras]``."""
        return Candidate(
            self.name,
            self.version,
            self.version_str,
            self.provider,
            self.dist,
            self.metadata,
            self.nixpkgs_attr,
            extras,
            self.yanked,
            self.url,
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Candidate) and self.key == other.key and self.extras == other.extras

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        extras = f"[{','.join(sorted(self.extras))}]" if self.extras else ""
        return f"<{self.name}{extras} {self.version_str} ({self.provider})>"

    def describe(self) -> str:
        """``flask 1.0`` — for messages."""
        return f"{self.name} {self.version_str}"


@dataclass(frozen=True, eq=False)
class Req:
    """A requirement as the resolver sees it.

    Attributes:
        name: normalised project name.
        extras: normalised extras.
        specifier: version specifier.
        text: the requirement as written, for messages.
        parent: the candidate that declared it (``None`` for a root requirement).
        origin: where a root requirement was written (``reqs.txt:3``).
        url / sha256: a direct reference.
        exact: key of the exact base candidate (links ``name[extra]`` to ``name``).
    """

    name: str
    extras: frozenset[str]
    specifier: SpecifierSet
    text: str
    parent: Candidate | None = None
    origin: str | None = None
    url: str | None = None
    sha256: str | None = None
    exact: tuple | None = None

    @property
    def identifier(self) -> str:
        """resolvelib identifier: ``name`` or ``name[extra1,extra2]``."""
        return _identifier(self.name, self.extras)

    def is_pin(self) -> bool:
        """True for ``==V`` (no wildcard), ``===V``, a URL or an exact link."""
        if self.exact is not None or self.url is not None:
            return True
        return any((s.operator == "==" and not s.version.endswith(".*")) or s.operator == "===" for s in self.specifier)


def _identifier(name: str, extras: frozenset[str]) -> str:
    return f"{name}[{','.join(sorted(extras))}]" if extras else name


@dataclass
class ResolvedPackage:
    """One package of a resolution (the base candidate with all its active extras).

    Attributes:
        candidate: the chosen candidate.
        extras: extras of this package active in the resolution.
        dependencies: normalised names of its runtime dependencies (in the result).
        root: requested directly by the user.
        required_by: normalised names of the packages that depend on it.
        build_requires: for sdists, target-filtered build requirements (PEP 508).
    """

    candidate: Candidate
    extras: set[str] = field(default_factory=set)
    dependencies: set[str] = field(default_factory=set)
    root: bool = False
    required_by: set[str] = field(default_factory=set)
    build_requires: list[str] = field(default_factory=list)


class VersionList(Sequence[tuple[Version, str, Release]]):
    """A project's ``(version, version string, release)`` triples, newest first.

    Behaves like a list (indexing, slicing, iteration) but only decodes the
    :class:`Release` of a triple when that triple is accessed.
    """

    __slots__ = ("_items", "_releases", "ascending_keys")

    def __init__(self, items: list[tuple[Version, str]], releases: Mapping[str, Release]) -> None:
        self._items = items
        self._releases = releases
        #: Sort keys of the versions, oldest first, for bisection (``[]``: no pruning);
        #: computed by the provider on first use.
        self.ascending_keys: list | None = None

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return VersionList(self._items[index], self._releases)
        version, version_str = self._items[index]
        return version, version_str, self._releases[version_str]

    def __iter__(self) -> Iterator[tuple[Version, str, Release]]:
        releases = self._releases
        for version, version_str in self._items:
            yield version, version_str, releases[version_str]

    def versions(self) -> list[tuple[Version, str]]:
        """The ``(version, version string)`` pairs, without touching releases."""
        return self._items


# --------------------------------------------------------------------------- the provider


if TYPE_CHECKING:
    _ProviderBase = resolvelib.AbstractProvider["Req", Candidate, str]
else:  # resolvelib < 1.1 (nixpkgs' own, for evaluation-time resolution) is not generic at run time
    _ProviderBase = resolvelib.AbstractProvider


class MachNixProvider(_ProviderBase):
    """resolvelib provider over a :class:`~mach_nix.db.model.ProjectSource`.

    Also exposes the lookups used to explain failures (:mod:`mach_nix.explain`).
    """

    def __init__(
        self,
        db: ProjectSource,
        target: Target,
        providers: ProviderConfig,
        inventory: Inventory | None = None,
        constraints: Sequence[Req] = (),
        pre: bool = False,
        root_names: Iterable[str] = (),
        roots: Sequence[Req] = (),
    ) -> None:
        """Create a provider; ``constraints`` restrict versions of names that get required.

        ``roots`` (the user's requirements) let it skip candidates that cannot
        be combined with them (see :meth:`_clashes_with_roots`).
        """
        self.db = db
        self.target = target
        self.providers = providers
        self.inventory = inventory or Inventory()
        self.pre = pre
        self.root_names = set(root_names)
        self.constraints: dict[str, list[Req]] = {}
        for constraint in constraints:
            self.constraints.setdefault(constraint.name, []).append(constraint)
        #: Specifiers every solution must satisfy, per name: the user's requirements and
        #: constraints (without direct references).
        self.fixed: dict[str, list[SpecifierSet]] = {}
        for req in list(roots) + list(constraints):
            if req.url is None:
                self.fixed.setdefault(req.name, []).append(req.specifier)
        self._compatible: dict[tuple[str, int], bool] = {}
        self.env = dict(target.marker_environment)
        self.warnings: list[str] = []
        #: The requirements last seen per identifier (for explanations).
        self.requested: dict[str, list[Req]] = {}
        self._projects: dict[str, Project | None] = {}
        self._versions: dict[str, VersionList] = {}
        self._bounds: dict[str, Any] = {}
        self._windows: dict[tuple, tuple[int, int]] = {}
        self._display: dict[str, str] = {}
        self._candidates: dict[tuple[str, str, str], Candidate | None] = {}
        self._deps: dict[Candidate, list[Req]] = {}
        self._markers: dict[tuple[str, str], bool] = {}
        self._pyreq: dict[str, bool] = {}

    # -- DB access ---------------------------------------------------------

    def project(self, name: str) -> Project | None:
        """The DB project for a normalised name (cached)."""
        if name not in self._projects:
            self._projects[name] = self.db.project(name)
        return self._projects[name]

    def versions(self, name: str) -> VersionList:
        """The project's releases with valid versions, newest first (releases decoded lazily)."""
        cached = self._versions.get(name)
        if cached is None:
            shared = getattr(self.db, "version_lists", None)  # kept by the on-disk DB across resolutions
            cached = shared.get(name) if shared is not None else None
            if cached is not None:
                self._versions[name] = cached
        if cached is not None:
            return cached
        project = self.project(name)
        items: list[tuple[Version, str]] = []
        releases: Mapping[str, Release] = {}
        if project is not None:
            releases = project.releases
            for version_str in releases:
                try:
                    items.append((Version(version_str), version_str))
                except InvalidVersion:
                    continue
            if getattr(self.db, "releases_sorted", False):
                items.reverse()  # stored in ascending PEP 440 order: no comparisons needed
            else:
                items.sort(reverse=True)
        result = self._versions[name] = VersionList(items, releases)
        shared = getattr(self.db, "version_lists", None)
        if shared is not None:
            shared[name] = result
        return result

    def python_ok(self, requires_python: str | None) -> bool:
        """Does the target interpreter satisfy a ``Requires-Python`` value?"""
        if not requires_python:
            return True
        cached = self._pyreq.get(requires_python)
        if cached is None:
            try:
                spec = SpecifierSet(requires_python)
                cached = spec.contains(self.target.python_version, prereleases=True)
            except InvalidSpecifier:
                cached = False
            self._pyreq[requires_python] = cached
        return cached

    def _file_ok(self, release: Release, dist: DistFile) -> Metadata | None:
        """The file's metadata if usable for the target (Requires-Python), else None."""
        meta = release.metadata_of(dist)
        if meta is None:
            return None
        if not self.python_ok(dist.requires_python) or not self.python_ok(meta.requires_python):
            return None
        return meta

    def best_wheel(self, name: str, release: Release) -> tuple[DistFile, Metadata] | None:
        """The best-ranked usable wheel of a release for the target (non-yanked first)."""
        best: tuple[tuple[bool, int, str], DistFile, Metadata] | None = None
        for dist in release.files:
            if not dist.is_wheel:
                continue
            try:
                wheel_tags = _wheel_tags(dist.filename)
            except (InvalidWheelFilename, InvalidVersion):
                continue
            rank = self.target.wheel_rank(wheel_tags)
            if rank is None:
                continue
            meta = self._file_ok(release, dist)
            if meta is None:
                continue
            key = (dist.yanked is not None, rank, dist.filename)
            if best is None or key < best[0]:
                best = (key, dist, meta)
        return None if best is None else (best[1], best[2])

    def best_sdist(self, release: Release, name: str | None = None) -> tuple[DistFile, Metadata] | None:
        """The release's usable sdist (non-yanked first, ``.tar.gz`` preferred).

        An sdist whose own metadata is unknown (the crawler did not run its build
        backend) borrows the dependency metadata of the release's best wheel for the
        target, when ``name`` is given: a wheel is built from that same sdist, so its
        Requires-Dist is the sdist's. Its build requirements are then unknown (``None``).
        """
        best: tuple[tuple[bool, bool, int, str], DistFile, Metadata] | None = None
        borrowed: Metadata | None = None
        for dist in release.files:
            lower = dist.filename.lower()
            if dist.is_wheel or not lower.endswith(_SDIST_SUFFIXES):
                continue
            meta = self._file_ok(release, dist)
            if meta is None and name is not None and release.metadata_of(dist) is None:
                if borrowed is None:
                    wheel = self.best_wheel(name, release)
                    if wheel is None:
                        continue
                    borrowed = replace(wheel[1], build_requires=None, source="wheel-for-sdist")
                if not self.python_ok(dist.requires_python):
                    continue
                meta = borrowed
            if meta is None:
                continue
            suffix_rank = next(i for i, s in enumerate(_SDIST_SUFFIXES) if lower.endswith(s))
            key = (dist.yanked is not None, meta is borrowed, suffix_rank, dist.filename)
            if best is None or key < best[0]:
                best = (key, dist, meta)
        return None if best is None else (best[1], best[2])

    def _nixpkgs_metadata(self, name: str, release: Release | None) -> tuple[DistFile | None, Metadata | None]:
        """Dependency metadata for a nixpkgs package: the DB's for the same version."""
        if release is None:
            return None, None
        found = self.best_wheel(name, release) or self.best_sdist(release)
        if found is not None:
            return found
        for dist in release.files:  # any artifact with metadata, regardless of the target
            meta = release.metadata_of(dist)
            if meta is not None:
                return dist, meta
        return None, None

    def base_candidate(
        self,
        name: str,
        provider: str,
        version: Version,
        version_str: str,
        release: Release | None,
        nix: NixpkgsPackage | None = None,
    ) -> Candidate | None:
        """The base candidate of one provider for one version, or None (cached)."""
        cache_key = (name, provider, version_str)
        if cache_key in self._candidates:
            return self._candidates[cache_key]
        candidate: Candidate | None = None
        if provider == "wheel" and release is not None:
            found = self.best_wheel(name, release)
            if found is not None:
                candidate = Candidate(
                    name, version, version_str, "wheel", found[0], found[1], yanked=found[0].yanked is not None
                )
        elif provider == "sdist" and release is not None:
            found = self.best_sdist(release, name)
            if found is not None:
                candidate = Candidate(
                    name, version, version_str, "sdist", found[0], found[1], yanked=found[0].yanked is not None
                )
        elif provider == "nixpkgs" and nix is not None:
            dist, meta = self._nixpkgs_metadata(name, release)
            candidate = Candidate(name, version, version_str, "nixpkgs", dist, meta, nixpkgs_attr=nix.attr)
        self._candidates[cache_key] = candidate
        return candidate

    def iter_base_candidates(self, name: str, provider: str, specs: Sequence[SpecifierSet] = ()) -> Iterator[Candidate]:
        """Base candidates of a provider, newest version first (lazily).

        ``specs`` only narrows the versions looked at (a superset of those
        satisfying them is returned: callers still check each candidate).
        """
        if provider == "nixpkgs":
            packages = self.inventory.packages(name)
            if not packages:
                return
            releases = {version: (vs, release) for version, vs, release in self.versions(name)}
            items = []
            for package in packages:
                version = Version(package.version)
                items.append((version, package))
            items.sort(key=lambda item: (item[0], item[1].version), reverse=True)
            for version, package in items:
                release = releases.get(version, (None, None))[1]
                candidate = self.base_candidate(name, "nixpkgs", version, package.version, release, package)
                if candidate is not None:
                    yield candidate
            return
        versions = self.versions(name)
        start, stop = self.window(name, specs)
        for version, version_str, release in versions[start:stop]:
            candidate = self.base_candidate(name, provider, version, version_str, release)
            if candidate is not None:
                yield candidate

    def window(self, name: str, specs: Sequence[SpecifierSet]) -> tuple[int, int]:
        """Slice of :meth:`versions` that can satisfy ``specs`` (a superset, by bisection).

        Keeps find_matches O(log n) in the number of releases, which matters when
        the resolver walks back through hundreds of boto3-style versions.
        """
        versions = self.versions(name)
        count = len(versions)
        if not specs or count == 0:
            return 0, count
        cache_key = (name, tuple(id(spec) for spec in specs))  # specs live as long as this provider
        cached = self._windows.get(cache_key)
        if cached is not None:
            return cached
        result = self._compute_window(name, versions, specs)
        self._windows[cache_key] = result
        return result

    def _compute_window(self, name: str, versions: VersionList, specs: Sequence[SpecifierSet]) -> tuple[int, int]:
        """Uncached :meth:`window`."""
        count = len(versions)
        ascending = versions.ascending_keys
        if ascending is None:
            oldest_first = [item[0] for item in reversed(versions.versions())]
            # Local versions break bound arithmetic: no pruning.
            local = any(v.local is not None for v in oldest_first)
            ascending = [] if local else [_sort_key(v) for v in oldest_first]
            versions.ascending_keys = ascending
        if not ascending:
            return 0, count
        low, high = 0, count
        for spec_set in specs:
            for spec in spec_set:
                operator, text = spec.operator, spec.version
                if operator in ("!=", "===") or text.endswith(".*"):
                    continue
                bound = self._bounds.get(text)
                if bound is None:
                    try:
                        bound = self._bounds[text] = _sort_key(Version(text))
                    except InvalidVersion:
                        continue
                if operator in (">=", ">", "~="):
                    low = max(low, bisect.bisect_left(ascending, bound))
                elif operator == "<":
                    high = min(high, bisect.bisect_left(ascending, bound))
                elif operator == "<=":
                    high = min(high, bisect.bisect_right(ascending, bound))
                elif operator == "==":
                    low = max(low, bisect.bisect_left(ascending, bound))
                    high = min(high, bisect.bisect_right(ascending, bound))
        if low >= high:
            return 0, 0
        return count - high, count - low

    # -- requirements ------------------------------------------------------

    def parse_dependency(self, text: str) -> Requirement | None:
        """Parse a ``Requires-Dist`` string (cached; invalid ones are skipped with a warning)."""
        return _parse_dependency(text)

    def marker_true(self, marker: Marker | None, extra: str = "") -> bool:
        """Evaluate a marker for the target (with ``extra``); cached."""
        if marker is None:
            return True
        key = (str(marker), extra)
        cached = self._markers.get(key)
        if cached is None:
            env = self.env if not extra else {**self.env, "extra": extra}
            try:
                cached = bool(marker.evaluate(env))
            except Exception as error:  # undefined comparisons in odd metadata
                self.warnings.append(f"cannot evaluate marker {marker}: {error}; treated as false")
                cached = False
            self._markers[key] = cached
        return cached

    # -- resolvelib interface ----------------------------------------------

    def identify(self, requirement_or_candidate: Req | Candidate) -> str:
        """resolvelib: the identifier of a requirement or candidate."""
        return _identifier(requirement_or_candidate.name, requirement_or_candidate.extras)

    def get_preference(self, identifier, resolutions, candidates, information, backtrack_causes):
        """resolvelib: pinned first, then bounded, then more constrained, then by name."""
        infos = list(information[identifier])
        pinned = any(info.requirement.is_pin() for info in infos)
        name = identifier.split("[", 1)[0]
        pinned = pinned or any(c.is_pin() for c in self.constraints.get(name, ()))
        root = any(info.parent is None for info in infos)
        upper = False
        specs = 0
        for info in infos:
            for spec in info.requirement.specifier:
                specs += 1
                if spec.operator in ("<", "<=", "~=") or (spec.operator == "==" and spec.version.endswith(".*")):
                    upper = True
        return (not pinned, "[" in identifier, not root, not upper, -specs, identifier)

    def narrow_requirement_selection(self, identifiers, resolutions, candidates, information, backtrack_causes):
        """resolvelib: after a conflict, work on the names involved in it first."""
        identifiers = list(identifiers)
        if not backtrack_causes:
            return identifiers
        causes = set()
        for cause in backtrack_causes:
            causes.add(cause.requirement.identifier)
            if cause.parent is not None:
                causes.add(self.identify(cause.parent))
        chosen = [identifier for identifier in identifiers if identifier in causes]
        return chosen or identifiers

    def find_matches(self, identifier, requirements, incompatibilities):
        """resolvelib: the candidates satisfying every requirement, preferred first."""
        reqs: list[Req] = list(requirements[identifier])
        if not reqs:
            return []
        name = reqs[0].name
        extras = reqs[0].extras
        self.requested[identifier] = reqs
        constraints = self.constraints.get(name, [])
        bad = {candidate.key for candidate in incompatibilities[identifier]}

        direct = [req for req in reqs if req.url is not None]
        if direct:
            candidate = self.direct_candidate(direct[0])
            if extras:
                candidate = candidate.with_extras(extras)
            ok = candidate.key not in bad and all(self.is_satisfied_by(r, candidate) for r in reqs + constraints)
            return [candidate] if ok else []

        if self.project(name) is None and not self.inventory.packages(name):
            from mach_nix.explain import unknown_project

            raise unknown_project(self, name, reqs)

        specs = [req.specifier for req in reqs] + [c.specifier for c in constraints]
        exact = [req.exact for req in reqs if req.exact is not None]
        pins: set[Version] = set()
        for spec in specs:
            for item in spec:
                if item.operator == "===" or (item.operator == "==" and not item.version.endswith(".*")):
                    try:
                        pins.add(Version(item.version))
                    except InvalidVersion:
                        pass
        asked_pre = self.pre or any(spec.prereleases for spec in specs)
        order = self.providers.order_for(name)

        prune = bool(self.fixed)

        def generate(allow_pre: bool, pruned: list[Candidate]) -> Iterator[Candidate]:
            for provider in order:
                for base in self.iter_base_candidates(name, provider, specs):
                    if exact and base.key != exact[0]:
                        continue
                    version = base.version
                    if version.is_prerelease and not allow_pre and version not in pins:
                        continue
                    if not all(spec.contains(version, prereleases=True) for spec in specs):
                        continue
                    if base.yanked and version not in pins:
                        continue
                    if base.key in bad:
                        continue
                    if prune and self._clashes_with_roots(base):
                        pruned.append(base)
                        continue
                    yield base.with_extras(extras) if extras else base

        def matches() -> Iterator[Candidate]:
            found = False
            pruned: list[Candidate] = []
            for candidate in generate(asked_pre, pruned):
                found = True
                yield candidate
            if not found and not pruned and not asked_pre:
                # pre-releases only when no final release matches at all (pruned ones count)
                for candidate in generate(True, pruned):
                    found = True
                    yield candidate
            if not found and pruned:
                # Every candidate clashes with the user's requirements: offer them
                # anyway, so that the conflict is found and explained as usual.
                for candidate in pruned:
                    yield candidate.with_extras(extras) if extras else candidate

        return matches

    def _clashes_with_roots(self, candidate: Candidate) -> bool:
        """Does a dependency of ``candidate`` contradict the user's requirements outright?

        True when some dependency's specifier and the user's specifiers for the
        same name are together satisfied by no version in the database (and
        nixpkgs offers none). Such a candidate can be in no solution; skipping
        it spares resolvelib a backtrack per candidate — e.g. hundreds of
        boto3 releases, each pinning a botocore that ``botocore<1.30`` excludes.
        """
        for dep in self.get_dependencies(candidate):
            fixed = self.fixed.get(dep.name)
            if not fixed or dep.url is not None or self.inventory.packages(dep.name):
                continue
            key = (dep.name, id(dep.specifier))
            compatible = self._compatible.get(key)
            if compatible is None:
                specs = [dep.specifier, *fixed]
                start, stop = self.window(dep.name, specs)
                compatible = any(
                    all(spec.contains(version, prereleases=True) for spec in specs)
                    for version, _s in self.versions(dep.name).versions()[start:stop]
                )
                self._compatible[key] = compatible
            if not compatible:
                return True
        return False

    def direct_candidate(self, req: Req) -> Candidate:
        """The candidate for ``name @ URL``: the DB file with that hash or file name.

        Raises:
            NotFoundError: the file is not in the DB (its metadata is unknown),
                or it is a wheel for another platform.
            UsageError: the URL has no ``#sha256=`` and the file is not in the DB.
        """
        assert req.url is not None
        filename = req.url.split("#", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        hashes: dict[str, str | None] = {}
        if req.sha256:  # match by content: read the project's file index
            everything = [d for _v, _s, r in self.versions(req.name) for d in r.files]
            hashes = {f: d.sha256 for f, d in self.db.file_details(req.name, everything).items()}
        for version, version_str, release in self.versions(req.name):
            for dist in release.files:
                if (req.sha256 and hashes.get(dist.filename) == req.sha256) or (
                    not req.sha256 and dist.filename == filename
                ):
                    if req.sha256:
                        dist = self.db.file_details(req.name, [dist])[dist.filename]
                    meta = release.metadata_of(dist)
                    if meta is None:
                        continue
                    provider = "wheel" if dist.is_wheel else "sdist"
                    if dist.is_wheel:
                        _n, _v, _b, wheel_tags = parse_wheel_filename(dist.filename)
                        if self.target.wheel_rank(wheel_tags) is None:
                            raise NotFoundError(
                                f"{req.origin or req.text}: {dist.filename} is not a wheel for {self.target.describe()}"
                            )
                    url = req.url.split("#", 1)[0]
                    return Candidate(req.name, version, version_str, provider, dist, meta, url=url)
        if not req.sha256:
            raise UsageError(
                f"{req.origin or req.text}: direct reference {req.url} needs a '#sha256=…' fragment"
                " (mach-nix locks every artifact by hash)"
            )
        raise NotFoundError(
            f"{req.origin or req.text}: the file at {req.url} (sha256 {req.sha256}) is not in the database,"
            " so its dependencies are unknown; add its project with 'mach-nix db crawl --db DIR NAME' and"
            " pass --db DIR, or build it through packagesExtra on the Nix side"
        )

    def is_satisfied_by(self, requirement: Req, candidate: Candidate) -> bool:
        """resolvelib: does ``candidate`` satisfy ``requirement``?"""
        if requirement.exact is not None:
            return candidate.key == requirement.exact
        if requirement.url is not None:
            if candidate.dist is None:
                return False
            if requirement.sha256:
                return candidate.dist.sha256 == requirement.sha256
            return candidate.url == requirement.url.split("#", 1)[0]
        return requirement.specifier.contains(candidate.version, prereleases=True)

    def get_dependencies(self, candidate: Candidate) -> list[Req]:
        """resolvelib: the requirements of a candidate for the target (cached)."""
        cached = self._deps.get(candidate)
        if cached is not None:
            return cached
        deps: list[Req] = []
        if candidate.extras:
            deps.append(
                Req(
                    candidate.name,
                    frozenset(),
                    SpecifierSet(f"=={candidate.version_str}")
                    if _valid_spec(candidate.version_str)
                    else SpecifierSet(),
                    f"{candidate.name}=={candidate.version_str}",
                    parent=candidate,
                    exact=candidate.key,
                )
            )
        own = _identifier(candidate.name, candidate.extras)
        for text, requirement in self.dependencies_of(candidate):
            display = self._display.get(text)
            if display is None:
                display = self._display[text] = str(requirement)  # normalised spelling for messages
            req = Req(
                canonicalize_name(requirement.name),
                frozenset(canonicalize_name(e) for e in requirement.extras),
                requirement.specifier,
                display,
                parent=candidate,
                url=requirement.url,
            )
            if req.identifier == own:
                continue
            deps.append(req)
        self._deps[candidate] = deps
        return deps

    def dependencies_of(self, candidate: Candidate) -> list[tuple[str, Requirement]]:
        """The ``Requires-Dist`` entries that apply to this candidate on the target.

        For a base candidate: those whose marker holds without an extra; for an
        extras candidate: those that hold only thanks to one of its extras.
        Returns ``(text as declared, parsed requirement)`` pairs.
        """
        meta = candidate.metadata
        if meta is None:
            return []
        result = []
        for text in meta.requires_dist:
            requirement = self.parse_dependency(text)
            if requirement is None:
                self.warnings.append(f"{candidate.describe()}: ignoring invalid requirement {text!r}")
                continue
            marker = requirement.marker
            base = self.marker_true(marker)
            if candidate.extras:
                if base or marker is None:
                    continue
                if any(self.marker_true(marker, extra) for extra in sorted(candidate.extras)):
                    result.append((text, requirement))
            elif base:
                result.append((text, requirement))
        return result

    def build_requirements(self, candidate: Candidate) -> list[str]:
        """Target-filtered build requirements of an sdist, as normalised PEP 508 strings."""
        meta = candidate.metadata
        if candidate.provider != "sdist" or meta is None:
            return []
        if meta.build_requires is None:  # unknown: PEP 517's default backend
            return list(DEFAULT_BUILD_REQUIRES)
        result: list[str] = []
        for text in meta.build_requires:
            requirement = self.parse_dependency(text)
            if requirement is None or not self.marker_true(requirement.marker):
                continue
            extras = (
                f"[{','.join(sorted(canonicalize_name(e) for e in requirement.extras))}]" if requirement.extras else ""
            )
            spec = ",".join(sorted(str(s) for s in requirement.specifier))
            if requirement.url:
                item = f"{canonicalize_name(requirement.name)}{extras} @ {requirement.url}"
            else:
                item = f"{canonicalize_name(requirement.name)}{extras}{spec}"
            if item not in result:
                result.append(item)
        return result


def _valid_spec(version: str) -> bool:
    try:
        SpecifierSet(f"=={version}")
    except InvalidSpecifier:
        return False
    return True


# --------------------------------------------------------------------------- entry point


def root_reqs(
    requirements: RequirementSet, target: Target, env_provider: MachNixProvider | None = None
) -> tuple[list[Req], list[Req]]:
    """Convert the user's requirements and constraints into resolver requirements.

    Requirements whose marker is false for the target are dropped.
    """
    env = target.marker_environment

    def active(root: RootRequirement) -> bool:
        marker = root.requirement.marker
        if marker is None:
            return True
        try:
            return bool(marker.evaluate(env))
        except Exception as error:
            raise UsageError(f"{root.origin}: cannot evaluate marker {marker}: {error}") from None

    def convert(root: RootRequirement) -> Req:
        requirement = root.requirement
        return Req(
            canonicalize_name(requirement.name),
            frozenset(canonicalize_name(e) for e in requirement.extras),
            requirement.specifier,
            str(requirement),
            origin=root.origin,
            url=requirement.url,
            sha256=root.sha256,
        )

    roots = [convert(r) for r in requirements.requirements if active(r)]
    constraints = [convert(r) for r in requirements.constraints if active(r)]
    return roots, constraints


def coerce_requirements(requirements: RequirementSet | Sequence[str] | str) -> RequirementSet:
    """Accept a :class:`RequirementSet`, a list of PEP 508 strings, or requirements.txt text."""
    if isinstance(requirements, RequirementSet):
        return requirements
    if isinstance(requirements, str):
        from mach_nix.requirements import parse_requirements_text

        return parse_requirements_text(requirements)
    result = RequirementSet()
    for index, text in enumerate(requirements):
        result.requirements.append(parse_requirement(text, f"<requirement {index + 1}>"))
    return result


def resolve_packages(
    requirements: RequirementSet | Sequence[str] | str,
    target: Target,
    providers: ProviderConfig,
    db: ProjectSource,
    inventory: Inventory | None = None,
) -> tuple[dict[str, ResolvedPackage], MachNixProvider]:
    """Resolve and return ``{normalised name: ResolvedPackage}`` plus the provider used.

    Raises:
        ResolutionError: the requirements conflict (chains of requirements shown).
        NotFoundError: unknown name, no artifact for the target, newer than the DB.
        UsageError: bad direct references or markers.
    """
    requirement_set = coerce_requirements(requirements)
    roots, constraints = root_reqs(requirement_set, target)
    provider = MachNixProvider(
        db,
        target,
        providers,
        inventory,
        constraints,
        requirement_set.pre,
        root_names=[r.name for r in roots],
        roots=roots,
    )
    resolver: resolvelib.Resolver[Req, Candidate, str] = resolvelib.Resolver(provider, resolvelib.BaseReporter())
    try:
        result = resolver.resolve(roots, max_rounds=MAX_ROUNDS)
    except resolvelib.ResolutionImpossible as error:
        from mach_nix.explain import explain_impossible

        raise explain_impossible(provider, error.causes) from None
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
        for dep in provider.get_dependencies(candidate):
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
        package.build_requires = provider.build_requirements(package.candidate)
    return dict(sorted(packages.items())), provider


def complete_artifacts(packages: Mapping[str, ResolvedPackage], db: ProjectSource) -> None:
    """Give every chosen artifact its file-index fields (sha256, size, time, URL).

    Resolution reads only the dependency graph; this reads the file index for
    the artifacts of the lock, all at once.

    Raises:
        MissingFilesError: file-index shards are missing (all of them listed).
        DatabaseError: a chosen file is absent from the file index.
    """
    from mach_nix.db.store import MissingFilesError

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
):
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

    Raises:
        ResolutionError, NotFoundError, UsageError: see :func:`resolve_packages`.
        MissingFilesError: a graph-only database lacks file-index shards.
    """
    from mach_nix.lock import build_lock

    if db is None:
        raise UsageError("no database given")
    if providers is None:
        providers = ProviderConfig()
    elif not isinstance(providers, ProviderConfig):
        providers = ProviderConfig.from_mapping(providers)
    requirement_set = coerce_requirements(requirements)
    packages, provider = resolve_packages(requirement_set, target, providers, db, inventory)
    if artifacts:
        complete_artifacts(packages, db)
    return build_lock(packages, requirement_set, target, providers, inventory, warnings=provider.warnings)
