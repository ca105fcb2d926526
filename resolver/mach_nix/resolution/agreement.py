"""Versions that agree across the targets of one lock (``mach-nix lock`` with several targets).

An :class:`Agreement` carries the versions chosen for other targets into one resolution:
:class:`~mach_nix.resolution.provider.ResolvelibProvider` offers a name's ``preferred``
version before the others (provider by provider, as usual), so the resolution keeps it
wherever the requirements and the target's artifacts allow, and falls back to the usual
order (newest first) where they do not. It is a preference, never a pin: a resolution
that succeeds without preferences succeeds with them.

After the resolution, :meth:`Agreement.record` notes what the report of differences
(:mod:`mach_nix.targets`) needs: why a preferred version was not chosen (``refused``) and
the marker of every ``Requires-Dist`` entry of a chosen package that has one (``markers``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from mach_nix.resolution.artifacts import Finder
from mach_nix.resolution.candidates import ResolvedPackage


@dataclass
class Agreement:
    """The preferences of one resolution and what it recorded about them.

    Attributes:
        preferred: a version string per normalised name, chosen for another target.
        refused: per name whose preferred version was not chosen, why (one sentence).
        markers: per chosen package, ``{dependency name: marker}`` of its ``Requires-Dist``
            entries that have a marker (whether it held or not).
    """

    preferred: Mapping[str, str] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)
    markers: dict[str, dict[str, str]] = field(default_factory=dict)

    def versions(self) -> dict[str, Version]:
        """The preferred versions, parsed (a version that does not parse is not preferred)."""
        parsed = {}
        for name, text in self.preferred.items():
            try:
                parsed[name] = Version(text)
            except InvalidVersion:
                continue
        return parsed

    def record(self, finder: Finder, packages: Mapping[str, ResolvedPackage]) -> None:
        """Note, after a resolution, why each preferred version it did not choose was impossible,
        and the markers of the chosen packages' requirements."""
        target = finder.target
        where = f"CPython {target.python} on {target.system}"
        for name, package in sorted(packages.items()):
            candidate = package.candidate
            if candidate.metadata is not None:
                marked: dict[str, str] = {}
                for text in candidate.metadata.requires_dist:
                    try:
                        requirement = Requirement(text)
                    except InvalidRequirement:
                        continue
                    if requirement.marker is not None:
                        marked.setdefault(canonicalize_name(requirement.name), str(requirement.marker))
                if marked:
                    self.markers[name] = marked
            wanted = self.preferred.get(name)
            if wanted is None or wanted == candidate.version_str:
                continue
            order = finder.providers.order_for(name)
            offering = [provider for provider in order if _offered(finder, name, provider, wanted)]
            chosen = candidate.provider
            if not offering:
                self.refused[name] = f"no {' or '.join(order)} of {name} {wanted} for {where}"
            elif chosen in order and order.index(chosen) < order.index(offering[0]):
                self.refused[name] = (
                    f"no {chosen} of {name} {wanted} for {where}, and its {offering[0]} comes after the other"
                    f" versions' {chosen}s in the provider order"
                )
            else:
                self.refused[name] = (
                    f"{name} {wanted} conflicts with the other requirements for {where} (chose {candidate.version_str})"
                )


def _offered(finder: Finder, name: str, provider: str, version_str: str) -> bool:
    """Does ``provider`` offer a candidate of exactly this version of the name for the target?"""
    try:
        wanted = Version(version_str)
        specs = [SpecifierSet(f"=={wanted}")]
    except (InvalidVersion, InvalidSpecifier):
        return False
    for candidate in finder.iter_base_candidates(name, provider, specs, lambda version, _r: version == wanted):
        if candidate.version == wanted:
            return True
    return False
