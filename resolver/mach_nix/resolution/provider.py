"""The adapter resolvelib drives: :class:`ResolvelibProvider`.

It answers resolvelib's callbacks from the :class:`~mach_nix.resolution.artifacts.Finder`
(candidates), :class:`~mach_nix.resolution.dependencies.Dependencies` (their
requirements) and :mod:`~mach_nix.resolution.preferences`, and adds two
policies of its own in :meth:`ResolvelibProvider.find_matches`:

* pre-releases are considered only when a specifier mentions one, ``--pre`` is
  given, or nothing else fits; yanked files only when pinned with
  ``==``/``===`` (PEP 592);
* a candidate whose dependencies contradict the user's own requirements
  outright is offered only when no other candidate is left
  (:meth:`ResolvelibProvider._clashes_with_roots`);
* a name with a preferred version (:mod:`mach_nix.resolution.agreement`: the version chosen
  for another target of the same lock) offers that version first within each provider of
  its order, then that provider's other versions: the preferred version's sdist never comes
  before another version's wheel, and the preference never excludes a version;
* a project the database lacks (and nixpkgs too) has no candidates, as pip treats a
  name the index does not know: the resolver backtracks to versions that do not need
  it, and only when nothing else works is it reported (:attr:`ResolvelibProvider.missing`).

resolvelib calls the callbacks with keyword arguments: their parameter names
are part of the interface.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

import resolvelib
from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from mach_nix.db.model import Release
from mach_nix.resolution.artifacts import Finder
from mach_nix.resolution.candidates import Candidate, Req, identifier, satisfies
from mach_nix.resolution.dependencies import Dependencies
from mach_nix.resolution.preferences import narrow, preference
from mach_nix.resolution.prefetch import Prefetcher

if TYPE_CHECKING:
    _ProviderBase = resolvelib.AbstractProvider[Req, Candidate, str]
else:  # resolvelib < 1.1 (nixpkgs' own, for evaluation-time resolution) is not generic at run time
    _ProviderBase = resolvelib.AbstractProvider


class ResolvelibProvider(_ProviderBase):
    """resolvelib's provider for one resolution.

    Attributes:
        finder: the candidate lookups.
        dependencies: the candidates' requirements on the target.
        constraints: the user's constraints per normalised name.
        fixed: specifiers every solution must satisfy, per name: the user's
            requirements and constraints (without direct references).
        pre: pre-releases allowed everywhere.
        requested: the requirements last seen per identifier (for explanations).
        missing: names required but found neither in the database nor in nixpkgs,
            with the requirements that asked for them.
        prefetcher: fetches ahead what the resolution will likely ask for (``None``:
            the database does not fetch).
        preferred: the version offered first, per normalised name (see the module's docstring).
    """

    def __init__(
        self,
        finder: Finder,
        dependencies: Dependencies,
        constraints: Sequence[Req] = (),
        roots: Sequence[Req] = (),
        pre: bool = False,
        prefetcher: Prefetcher | None = None,
        preferred: Mapping[str, Version] | None = None,
    ) -> None:
        """Create the provider; ``constraints`` restrict versions of names that get required.

        ``roots`` (the user's requirements) let it skip candidates that cannot
        be combined with them (see :meth:`_clashes_with_roots`).
        """
        self.finder = finder
        self.dependencies = dependencies
        self.pre = pre
        self.constraints: dict[str, list[Req]] = {}
        for constraint in constraints:
            self.constraints.setdefault(constraint.name, []).append(constraint)
        self.fixed: dict[str, list[SpecifierSet]] = {}
        for req in list(roots) + list(constraints):
            if req.url is None:
                self.fixed.setdefault(req.name, []).append(req.specifier)
        self.requested: dict[str, list[Req]] = {}
        self.missing: dict[str, list[Req]] = {}
        self.prefetcher = prefetcher
        self.preferred: Mapping[str, Version] = preferred or {}
        self._compatible: dict[tuple[str, int], bool] = {}

    # -- resolvelib interface ----------------------------------------------

    def identify(self, requirement_or_candidate: Req | Candidate) -> str:
        """resolvelib: the identifier of a requirement or candidate."""
        return identifier(requirement_or_candidate.name, requirement_or_candidate.extras)

    def get_preference(self, identifier, resolutions, candidates, information, backtrack_causes):
        """resolvelib: see :func:`~mach_nix.resolution.preferences.preference`."""
        return preference(identifier, information[identifier], self.constraints)

    def narrow_requirement_selection(self, identifiers, resolutions, candidates, information, backtrack_causes):
        """resolvelib: see :func:`~mach_nix.resolution.preferences.narrow`."""
        return narrow(identifiers, backtrack_causes)

    #: resolvelib: does ``candidate`` satisfy ``requirement``? (called most often: no wrapper)
    is_satisfied_by = staticmethod(satisfies)

    def get_dependencies(self, candidate: Candidate) -> list[Req]:
        """resolvelib: the requirements of a candidate for the target."""
        deps = self.dependencies.requirements_of(candidate)
        if self.prefetcher is not None:
            for dep in deps:
                if dep.url is None:
                    self.prefetcher.want(dep.name, dep.specifier, dep.extras)
        return deps

    def find_matches(self, identifier, requirements, incompatibilities):
        """resolvelib: the candidates satisfying every requirement, preferred first."""
        finder = self.finder
        reqs: list[Req] = list(requirements[identifier])
        if not reqs:
            return []
        name = reqs[0].name
        extras = reqs[0].extras
        self.requested[identifier] = reqs
        constraints = self.constraints.get(name, [])
        bad = {candidate.key for candidate in incompatibilities[identifier]}

        direct = [req for req in reqs if req.url is not None]
        local = finder.local_named(name) if not direct and finder.local else None
        if direct or local is not None:  # a local source also stands for its name (as pip's)
            candidate = finder.direct_candidate(direct[0]) if direct else local
            assert candidate is not None
            if extras:
                candidate = candidate.with_extras(extras)
            ok = candidate.key not in bad and all(satisfies(r, candidate) for r in reqs + constraints)
            return [candidate] if ok else []

        if finder.project(name) is None and not finder.inventory.packages(name):
            known = self.missing.setdefault(name, [])
            known.extend(req for req in reqs if req not in known)
            return []

        # one specifier per text: many parents often state the same one; name[extra] has the
        # version of name, so the user's specifiers of name bound it too
        own = [req.specifier for req in reqs] + [c.specifier for c in constraints]
        if extras:
            own += self.fixed.get(name, [])
        specs = list({str(spec): spec for spec in own}.values())
        base_keys = [req.base_key for req in reqs if req.base_key is not None]
        pins: set[Version] = set()
        for spec in specs:
            for item in spec:
                if item.operator == "===" or (item.operator == "==" and not item.version.endswith(".*")):
                    try:
                        pins.add(Version(item.version))
                    except InvalidVersion:
                        pass
        asked_pre = self.pre or any(spec.prereleases for spec in specs)
        order = finder.providers.order_for(name)

        prune = bool(self.fixed)

        rejected = {c.version for c in incompatibilities[identifier] if c.provider == "wheel"}
        pruned_versions: set[Version] = set()

        favourite = self.preferred.get(name)
        # per provider: the preferred version first (only=favourite), then the others (only=None)
        passes: list[Version | None] = [favourite, None] if favourite is not None else [None]

        def generate(allow_pre: bool, pruned: list[Candidate]) -> Iterator[Candidate]:
            only: Version | None = None

            def accept(version: Version, release: Release) -> bool:  # before a candidate is made (or fetched)
                if (version != only) if only is not None else (version == favourite):
                    return False
                if version.is_prerelease and not allow_pre and version not in pins:
                    return False
                return all(spec.contains(version, prereleases=True) for spec in specs)

            def accept_sdist(version: Version, release: Release) -> bool:
                # The sdist of a version whose wheel failed (rejected earlier, pruned, or passed
                # over by this very walk), and whose own metadata is not known yet, would lend
                # that wheel's dependencies and fail the same way: it is not tried (nor
                # downloaded), as pip and uv try one artifact per version.
                if (version in rejected or version in pruned_versions) and finder.sdist_unknown(name, release):
                    return False
                return accept(version, release)

            for provider in order:
                check = accept_sdist if provider == "sdist" and "wheel" in order else accept
                for only in passes:
                    window = specs if only is None else [*specs, SpecifierSet(f"=={only}")]
                    for base in finder.iter_base_candidates(name, provider, window, check):
                        if base_keys and base.key != base_keys[0]:
                            continue
                        version = base.version
                        if (version != only) if only is not None else (version == favourite):
                            continue  # the nixpkgs provider does not ask accept()
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
                            pruned_versions.add(version)
                            continue
                        yield base.with_extras(extras) if extras else base
                        if base.provider == "wheel":  # asked for the next one: resolvelib could not pin this
                            rejected.add(version)

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

    # -- pruning -------------------------------------------------------------

    def _clashes_with_roots(self, candidate: Candidate) -> bool:
        """Does a dependency of ``candidate`` contradict the user's requirements outright?

        True when some dependency's specifier and the user's specifiers for the
        same name are together satisfied by no version in the database (and
        nixpkgs offers none). Such a candidate can be in no solution; skipping
        it spares resolvelib a backtrack per candidate — e.g. hundreds of
        boto3 releases, each pinning a botocore that ``botocore<1.30`` excludes.
        """
        finder = self.finder
        for dep in self.dependencies.requirements_of(candidate):
            fixed = self.fixed.get(dep.name)
            if not fixed or dep.url is not None or finder.inventory.packages(dep.name):
                continue
            key = (dep.name, id(dep.specifier))
            compatible = self._compatible.get(key)
            if compatible is None:
                specs = [dep.specifier, *fixed]
                start, stop = finder.index.window(dep.name, specs)
                compatible = any(
                    all(spec.contains(version, prereleases=True) for spec in specs)
                    for version, _s in finder.versions(dep.name).versions()[start:stop]
                )
                self._compatible[key] = compatible
            if not compatible:
                return True
        return False
