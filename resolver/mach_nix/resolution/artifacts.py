"""Which artifact stands for a version: the wheel, sdist and nixpkgs candidates of a name.

How candidates are found (per package, see :mod:`mach_nix.providers`): for
each provider in the package's order, every version newest first;
``wheel``: the best-ranked wheel of that version compatible with the target;
``sdist``: the version's sdist; ``nixpkgs``: the inventory's package of that
version, with the dependencies the DB records for the same version. Files
whose metadata is unknown, or whose ``Requires-Python`` excludes the target,
are skipped. A direct reference (``name @ URL``) names its file.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from mach_nix.db.model import SDIST_SUFFIXES, DistFile, Metadata, Project, Release
from mach_nix.errors import NotFoundError, UsageError
from mach_nix.inventory import Inventory, NixpkgsPackage
from mach_nix.providers import ProviderConfig
from mach_nix.resolution.candidates import Candidate, Req
from mach_nix.resolution.versions import ProjectIndex, VersionList
from mach_nix.target import Target

#: Tags of wheel file names, shared by every resolution of the process (a long-lived
#: process, the resolver server, meets the same file names again and again).
_WHEEL_TAGS: dict[str, frozenset] = {}


def wheel_tags(filename: str) -> frozenset:
    """The tags of a wheel file name (cached).

    Raises:
        InvalidWheelFilename, InvalidVersion: not a valid wheel name.
    """
    tags = _WHEEL_TAGS.get(filename)
    if tags is None:
        tags = _WHEEL_TAGS[filename] = parse_wheel_filename(filename)[3]
    return tags


class Finder:
    """The lookups of one resolution: projects, versions and the candidates each provider offers.

    Attributes:
        index: the database's projects and version lists.
        target: the interpreter and system resolved for.
        providers: the user's provider orders.
        inventory: the nixpkgs packages (for the ``nixpkgs`` provider).
    """

    def __init__(
        self, index: ProjectIndex, target: Target, providers: ProviderConfig, inventory: Inventory | None = None
    ) -> None:
        self.index = index
        self.target = target
        self.providers = providers
        self.inventory = inventory or Inventory()
        self._candidates: dict[tuple[str, str, str], Candidate | None] = {}
        self._pyreq: dict[str, bool] = {}

    # -- the database -----------------------------------------------------

    def project(self, name: str) -> Project | None:
        """The DB project for a normalised name (cached)."""
        return self.index.project(name)

    def versions(self, name: str) -> VersionList:
        """The project's releases, newest first (see :meth:`ProjectIndex.versions`)."""
        return self.index.versions(name)

    def names(self) -> list[str]:
        """Every project name in the database (slow: for suggestions only)."""
        return self.index.db.names()

    # -- usable files -----------------------------------------------------

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

    def _usable_metadata(self, release: Release, dist: DistFile) -> Metadata | None:
        """The file's metadata if usable for the target (Requires-Python), else None."""
        meta = release.metadata_of(dist)
        if meta is None:
            return None
        if not self.python_ok(dist.requires_python) or not self.python_ok(meta.requires_python):
            return None
        return meta

    def best_wheel(self, release: Release) -> tuple[DistFile, Metadata] | None:
        """The best-ranked usable wheel of a release for the target (non-yanked first)."""
        best: tuple[tuple[bool, int, str], DistFile, Metadata] | None = None
        for dist in release.files:
            if not dist.is_wheel:
                continue
            try:
                tags = wheel_tags(dist.filename)
            except (InvalidWheelFilename, InvalidVersion):
                continue
            rank = self.target.wheel_rank(tags)
            if rank is None:
                continue
            meta = self._usable_metadata(release, dist)
            if meta is None:
                continue
            key = (dist.yanked is not None, rank, dist.filename)
            if best is None or key < best[0]:
                best = (key, dist, meta)
        return None if best is None else (best[1], best[2])

    def best_sdist(self, release: Release, borrow: bool = False) -> tuple[DistFile, Metadata] | None:
        """The release's usable sdist (non-yanked first, ``.tar.gz`` preferred).

        An sdist whose own metadata is unknown (the crawler did not run its build
        backend) borrows the dependency metadata of the release's best wheel for the
        target, when ``borrow`` is true: a wheel is built from that same sdist, so its
        Requires-Dist is the sdist's. Its build requirements are then unknown (``None``).
        """
        best: tuple[tuple[bool, bool, int, str], DistFile, Metadata] | None = None
        borrowed: Metadata | None = None
        for dist in release.files:
            lower = dist.filename.lower()
            if dist.is_wheel or not lower.endswith(SDIST_SUFFIXES):
                continue
            meta = self._usable_metadata(release, dist)
            if meta is None and borrow and release.metadata_of(dist) is None:
                if borrowed is None:
                    wheel = self.best_wheel(release)
                    if wheel is None:
                        continue
                    borrowed = replace(wheel[1], build_requires=None, source="wheel-for-sdist")
                if not self.python_ok(dist.requires_python):
                    continue
                meta = borrowed
            if meta is None:
                continue
            suffix_rank = next(i for i, s in enumerate(SDIST_SUFFIXES) if lower.endswith(s))
            key = (dist.yanked is not None, meta is borrowed, suffix_rank, dist.filename)
            if best is None or key < best[0]:
                best = (key, dist, meta)
        return None if best is None else (best[1], best[2])

    def _nixpkgs_metadata(self, release: Release | None) -> tuple[DistFile | None, Metadata | None]:
        """Dependency metadata for a nixpkgs package: the DB's for the same version."""
        if release is None:
            return None, None
        found = self.best_wheel(release) or self.best_sdist(release)
        if found is not None:
            return found
        for dist in release.files:  # any artifact with metadata, regardless of the target
            meta = release.metadata_of(dist)
            if meta is not None:
                return dist, meta
        return None, None

    # -- candidates -------------------------------------------------------

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
            found = self.best_wheel(release)
            if found is not None:
                candidate = Candidate(
                    name, version, version_str, "wheel", found[0], found[1], yanked=found[0].yanked is not None
                )
        elif provider == "sdist" and release is not None:
            found = self.best_sdist(release, borrow=True)
            if found is not None:
                candidate = Candidate(
                    name, version, version_str, "sdist", found[0], found[1], yanked=found[0].yanked is not None
                )
        elif provider == "nixpkgs" and nix is not None:
            dist, meta = self._nixpkgs_metadata(release)
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
        start, stop = self.index.window(name, specs)
        for version, version_str, release in versions[start:stop]:
            candidate = self.base_candidate(name, provider, version, version_str, release)
            if candidate is not None:
                yield candidate

    def direct_candidate(self, req: Req) -> Candidate:
        """The candidate for ``name @ URL``: the DB file with that hash or file name.

        Raises:
            NotFoundError: the file is not in the DB (its metadata is unknown),
                or it is a wheel for another platform.
            UsageError: the URL has no ``#sha256=`` and the file is not in the DB.
        """
        assert req.url is not None
        db = self.index.db
        filename = req.url.split("#", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        hashes: dict[str, str | None] = {}
        if req.sha256:  # match by content: read the project's file index
            everything = [d for _v, _s, r in self.versions(req.name) for d in r.files]
            hashes = {f: d.sha256 for f, d in db.file_details(req.name, everything).items()}
        for version, version_str, release in self.versions(req.name):
            for dist in release.files:
                if (req.sha256 and hashes.get(dist.filename) == req.sha256) or (
                    not req.sha256 and dist.filename == filename
                ):
                    if req.sha256:
                        dist = db.file_details(req.name, [dist])[dist.filename]
                    meta = release.metadata_of(dist)
                    if meta is None:
                        continue
                    provider = "wheel" if dist.is_wheel else "sdist"
                    if dist.is_wheel:
                        _n, _v, _b, tags = parse_wheel_filename(dist.filename)
                        if self.target.wheel_rank(tags) is None:
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
