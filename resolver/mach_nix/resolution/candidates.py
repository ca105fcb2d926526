"""The records of a resolution: candidates, requirements and resolved packages.

A :class:`Candidate` is one concrete choice for a package (name, version,
provider, artifact); a :class:`Req` is a requirement as the resolver sees it
(with the candidate that declared it, for explanations); a
:class:`ResolvedPackage` is one package of the result.

Extras follow pip's model: ``dask[array]`` is its own resolvelib identifier
(:func:`identifier`) whose candidate depends on the exact ``dask`` candidate
(:attr:`Req.base_key`) plus the extra's dependencies, so dependency cycles
through extras (``dask[complete]``) work.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from mach_nix.db.model import DistFile, Metadata


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
        url: the download URL (a direct reference's own URL, else the DB's); for a local,
            archive or VCS source (provider ``local``/``url``/``vcs``) the URL that identifies it.
        source: the lock's ``source`` object of a local, archive or VCS source
            (:mod:`mach_nix.local_projects`), else ``None``.
        key: identity of the base choice (shared by the base and its extras candidates).
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
        "source",
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
        source: dict | None = None,
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
        self.source = source
        self.key = (name, version_str, provider, dist.filename if dist is not None else nixpkgs_attr or self.url)
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
            self.source,
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
        base_key: the :attr:`Candidate.key` of the exact base candidate this
            requirement asks for (links ``name[extra]`` to its ``name``).
    """

    name: str
    extras: frozenset[str]
    specifier: SpecifierSet
    text: str
    parent: Candidate | None = None
    origin: str | None = None
    url: str | None = None
    sha256: str | None = None
    base_key: tuple | None = None

    @property
    def identifier(self) -> str:
        """resolvelib identifier: ``name`` or ``name[extra1,extra2]``."""
        return identifier(self.name, self.extras)

    def is_pin(self) -> bool:
        """True for ``==V`` (no wildcard), ``===V``, a URL or an exact link."""
        if self.base_key is not None or self.url is not None:
            return True
        return any((s.operator == "==" and not s.version.endswith(".*")) or s.operator == "===" for s in self.specifier)


def identifier(name: str, extras: frozenset[str]) -> str:
    """The resolvelib identifier of a name with extras: ``name`` or ``name[a,b]``."""
    return f"{name}[{','.join(sorted(extras))}]" if extras else name


def satisfies(requirement: Req, candidate: Candidate) -> bool:
    """Does ``candidate`` satisfy ``requirement`` (version, direct reference or exact link)?"""
    if requirement.base_key is not None:
        return candidate.key == requirement.base_key
    if requirement.url is not None:
        if candidate.source is not None:  # a local, archive or VCS source: the URL it was made for
            return candidate.url == requirement.url.split("#", 1)[0]
        if candidate.dist is None:
            return False
        if requirement.sha256:
            return candidate.dist.sha256 == requirement.sha256
        return candidate.url == requirement.url.split("#", 1)[0]
    return requirement.specifier.contains(candidate.version, prereleases=True)


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
        build_requires_known: false for an sdist whose metadata was borrowed from a wheel
            and whose build requirements no one has read yet (``build_requires`` is then
            PEP 517's default; :mod:`mach_nix.sdist_build` may learn them).
    """

    candidate: Candidate
    extras: set[str] = field(default_factory=set)
    dependencies: set[str] = field(default_factory=set)
    root: bool = False
    required_by: set[str] = field(default_factory=set)
    build_requires: list[str] = field(default_factory=list)
    build_requires_known: bool = True
