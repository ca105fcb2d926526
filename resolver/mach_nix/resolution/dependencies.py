"""What a candidate requires on the target: Requires-Dist, markers, extras, build requirements.

Markers are evaluated for the :class:`~mach_nix.target.Target`, never for the
machine running the resolver. A base candidate depends on the entries whose
marker holds without an extra; an extras candidate (``dask[array]``) on its
exact base candidate plus the entries whose marker holds with one of its extras
or without any (the base's own, as pip does: a conflict of the base's
dependencies then rejects the extras candidate as soon as it is pinned, instead
of one level down, where backtracking cannot see why). Invalid entries and
unevaluable markers are skipped with a warning (:attr:`Dependencies.warnings`).
"""

from __future__ import annotations

from collections.abc import Iterable

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name

from mach_nix.db.model import DEFAULT_BUILD_REQUIRES
from mach_nix.errors import UsageError
from mach_nix.requirements import RequirementSet, RootRequirement
from mach_nix.requirements import parse_dependency as parse_dependency_uncached
from mach_nix.resolution.candidates import Candidate, Req, identifier
from mach_nix.target import Target

#: Parsed ``Requires-Dist`` strings (``None``: invalid), shared by every resolution of the
#: process: parsed requirements are never modified, and a long-lived process (the resolver
#: server) meets the same strings again and again.
_PARSED: dict[str, Requirement | None] = {}


def parse_dependency(text: str) -> Requirement | None:
    """:func:`mach_nix.requirements.parse_dependency`, cached; ``None`` when invalid."""
    requirement = _PARSED.get(text, False)
    if requirement is False:
        requirement = _PARSED[text] = parse_dependency_uncached(text)
    return requirement  # type: ignore[return-value]


def _valid_spec(version: str) -> bool:
    try:
        SpecifierSet(f"=={version}")
    except InvalidSpecifier:
        return False
    return True


class Dependencies:
    """The requirements of candidates on one target (cached per candidate).

    Attributes:
        warnings: non-fatal problems met (invalid entries, unevaluable markers).
    """

    def __init__(self, target: Target) -> None:
        self.env = dict(target.marker_environment)
        self.warnings: list[str] = []
        self._display: dict[str, str] = {}
        self._deps: dict[Candidate, list[Req]] = {}
        self._markers: dict[tuple[str, str], bool] = {}

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

    def requirements_of(self, candidate: Candidate) -> list[Req]:
        """The resolver requirements of a candidate for the target (cached)."""
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
                    base_key=candidate.key,
                )
            )
        own = identifier(candidate.name, candidate.extras)
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
        extras candidate: those too, and those that hold thanks to one of its extras.
        Returns ``(text as declared, parsed requirement)`` pairs.
        """
        meta = candidate.metadata
        if meta is None:
            return []
        result = []
        for text in meta.requires_dist:
            requirement = parse_dependency(text)
            if requirement is None:
                self.warnings.append(f"{candidate.describe()}: ignoring invalid requirement {text!r}")
                continue
            marker = requirement.marker
            if self.marker_true(marker) or (
                candidate.extras
                and marker is not None
                and any(self.marker_true(marker, extra) for extra in sorted(candidate.extras))
            ):
                result.append((text, requirement))
        return result

    def build_requirements(self, candidate: Candidate) -> list[str]:
        """Target-filtered build requirements of an sdist (or a local, archive or VCS source built
        from source), as normalised PEP 508 strings."""
        meta = candidate.metadata
        if (candidate.provider != "sdist" and candidate.source is None) or meta is None:
            return []
        if meta.build_requires is None:  # unknown: PEP 517's default backend
            return list(DEFAULT_BUILD_REQUIRES)
        return self.filter_build_requirements(meta.build_requires)

    def filter_build_requirements(self, texts: Iterable[str]) -> list[str]:
        """Build requirement strings whose marker holds on the target, normalised, each once."""
        result: list[str] = []
        for text in texts:
            requirement = parse_dependency(text)
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


def root_reqs(requirements: RequirementSet, target: Target) -> tuple[list[Req], list[Req]]:
    """Convert the user's requirements and constraints into resolver requirements.

    Requirements whose marker is false for the target are dropped, and repeated
    ones kept once.

    Raises:
        UsageError: a marker cannot be evaluated.
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

    return _unique(convert(r) for r in requirements.requirements if active(r)), _unique(
        convert(r) for r in requirements.constraints if active(r)
    )


def _unique(reqs: Iterable[Req]) -> list[Req]:
    """``reqs`` without repetitions of the same requirement (the first one, with its origin, is kept).

    resolvelib looks at every requirement of a name each time one is added, so
    4,000 copies of one line would cost 16 million checks; one is enough.
    """
    seen: set[tuple] = set()
    out: list[Req] = []
    for req in reqs:
        key = (req.name, req.extras, str(req.specifier), req.url, req.sha256)
        if key not in seen:
            seen.add(key)
            out.append(req)
    return out
