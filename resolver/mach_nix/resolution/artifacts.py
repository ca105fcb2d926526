"""Which artifact stands for a version: the wheel, sdist and nixpkgs candidates of a name.

How candidates are found (per package, see :mod:`mach_nix.providers`): for
each provider in the package's order, every version newest first;
``wheel``: the best-ranked wheel of that version compatible with the target;
``sdist``: the version's sdist; ``nixpkgs``: the inventory's package of that
version, with the dependencies the DB records for the same version. Files
whose metadata is unknown, or whose ``Requires-Python`` excludes the target,
are skipped. A direct reference (``name @ URL``) names its file.

A database that fetches on demand (:class:`MetadataSource`, e.g.
:class:`mach_nix.db.ondemand.OnDemandSource`) is asked for the metadata of
exactly the file a candidate stands for, when that candidate is looked at: the
best-ranked wheel of a release, the preferred sdist (and its PEP 517 hook only
when the sdist is to be used and no wheel of its release lends its metadata).
While candidates are walked (backtracking), the metadata of the next versions is
fetched ahead, more at a time the further the walk goes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Protocol

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

#: :meth:`MetadataSource.state` values (the same strings as :mod:`mach_nix.db.ondemand`'s).
KNOWN, FAILED, FETCHABLE, BUILDABLE, UNFETCHED = "known", "failed", "fetchable", "buildable", "unfetched"

#: Versions fetched ahead of the walk over candidates, at most (see :meth:`Finder.iter_base_candidates`).
LOOKAHEAD = 32


class MetadataSource(Protocol):
    """A database that can fetch a file's metadata when a resolution needs it."""

    def state(self, name: str, version: str, dist: DistFile) -> str:
        """``KNOWN``, ``FAILED``, ``FETCHABLE``, ``BUILDABLE`` (an sdist whose hook may run) or ``UNFETCHED``."""
        ...

    def fetch_metadata(self, name: str, version: str, dists: Sequence[DistFile], build: bool = False) -> Release:
        """Fetch (and wait for) the metadata of some files of a release; the release as it is now."""
        ...

    def want_metadata(self, name: str, version: str, dists: Sequence[DistFile], build: bool = False) -> None:
        """Fetch the metadata of some files of a release in the background."""
        ...


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
        db = index.db
        #: The database, when it fetches on demand (else ``None``).
        self.source: MetadataSource | None = db if hasattr(db, "fetch_metadata") else None  # type: ignore[assignment]
        #: While false, nothing is fetched (explanations look at what is known).
        self.fetching = True
        #: Versions per name skipped because their metadata is not cached and fetching is forbidden.
        self.unfetched: dict[str, set[Version]] = {}
        #: Candidates of local, archive and VCS sources by their URL (:mod:`mach_nix.local_projects`).
        self.local: dict[str, Candidate] = {}
        #: Makes the candidate of an archive URL the database does not know (``None``: not found).
        self.url_fallback: Callable[[Req], Candidate | None] | None = None

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

    def metadata_state(self, name: str | None, release: Release, dist: DistFile) -> str:
        """What is known of the metadata of ``dist``, a file of ``release`` (``KNOWN`` when it is there)."""
        if dist.metadata is not None:
            return KNOWN
        if self.source is None or name is None:
            return FAILED
        state = self.source.state(name, release.version, dist)
        if not self.fetching and state in (FETCHABLE, BUILDABLE):
            return UNFETCHED
        return state

    def _skipped_unfetched(self, name: str | None, release: Release) -> None:
        if name is not None:
            try:
                self.unfetched.setdefault(name, set()).add(Version(release.version))
            except InvalidVersion:
                pass

    def best_wheel(self, release: Release, name: str | None = None) -> tuple[DistFile, Metadata] | None:
        """The best-ranked usable wheel of a release for the target (non-yanked first).

        With a :class:`MetadataSource` (``name`` given), the metadata of the best-ranked
        wheel is fetched when it is not known yet.
        """
        while True:
            best: tuple[tuple[bool, int, str], DistFile, Metadata | None] | None = None
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
                key = (dist.yanked is not None, rank, dist.filename)
                meta = self._usable_metadata(release, dist)
                if meta is None:
                    state = self.metadata_state(name, release, dist)
                    if state == UNFETCHED and (best is None or key < best[0]):
                        self._skipped_unfetched(name, release)
                    if state != FETCHABLE or not self.python_ok(dist.requires_python):
                        continue
                if best is None or key < best[0]:
                    best = (key, dist, meta)
            if best is None:
                return None
            if best[2] is not None:
                return best[1], best[2]
            assert self.source is not None and name is not None
            release = self.source.fetch_metadata(name, release.version, [best[1]])

    def best_sdist(
        self, release: Release, borrow: bool = False, name: str | None = None, build: bool = False
    ) -> tuple[DistFile, Metadata] | None:
        """The release's usable sdist (non-yanked first, ``.tar.gz`` preferred).

        An sdist whose own metadata is unknown (the crawler did not run its build
        backend) borrows the dependency metadata of the release's best wheel for the
        target, when ``borrow`` is true: a wheel is built from that same sdist, so its
        Requires-Dist is the sdist's. Its build requirements are then unknown (``None``).

        With a :class:`MetadataSource` (``name`` given), the preferred sdist's metadata is
        fetched when not known (its PKG-INFO when reliable); with ``build``, when no wheel
        lends its metadata, the sdist's PEP 517 hook is run.
        """
        while True:
            found = self._sdist_known(release, borrow, name)
            if found is not None or self.source is None or name is None:
                return found
            sdists = self._sdists(release)
            fetch = next((d for d in sdists if self.metadata_state(name, release, d) == FETCHABLE), None)
            if fetch is not None:
                release = self.source.fetch_metadata(name, release.version, [fetch])
                continue
            buildable = next((d for d in sdists if self.metadata_state(name, release, d) == BUILDABLE), None)
            if build and buildable is not None:
                release = self.source.fetch_metadata(name, release.version, [buildable], build=True)
                continue
            return None

    def sdist_unknown(self, name: str, release: Release) -> bool:
        """Is the metadata of the release's preferred sdist still to be fetched?"""
        sdists = self._sdists(release)
        return bool(sdists) and self.metadata_state(name, release, sdists[0]) in (FETCHABLE, UNFETCHED)

    def _sdists(self, release: Release) -> list[DistFile]:
        """The release's sdists in the order of preference (non-yanked, suffix, name)."""
        items = []
        for dist in release.files:
            lower = dist.filename.lower()
            if dist.is_wheel or not lower.endswith(SDIST_SUFFIXES):
                continue
            suffix_rank = next(i for i, s in enumerate(SDIST_SUFFIXES) if lower.endswith(s))
            items.append(((dist.yanked is not None, suffix_rank, dist.filename), dist))
        return [dist for _key, dist in sorted(items, key=lambda item: item[0])]

    def _sdist_known(self, release: Release, borrow: bool, name: str | None) -> tuple[DistFile, Metadata] | None:
        """:meth:`best_sdist` from what is known (a wheel's metadata to borrow may be fetched)."""
        best: tuple[tuple[bool, bool, int, str], DistFile, Metadata] | None = None
        borrowed: Metadata | None = None
        for dist in release.files:
            lower = dist.filename.lower()
            if dist.is_wheel or not lower.endswith(SDIST_SUFFIXES):
                continue
            meta = self._usable_metadata(release, dist)
            if meta is None and borrow and release.metadata_of(dist) is None:
                if self.metadata_state(name, release, dist) == FETCHABLE:
                    continue  # its own metadata comes first
                if borrowed is None:
                    wheel = self.best_wheel(release, name)
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

    def planned_file(self, name: str, release: Release, provider: str) -> DistFile | None:
        """The file whose metadata a candidate of ``provider`` for ``release`` would fetch first
        (``None``: none, or nothing to fetch). Reads nothing but the release."""
        if self.source is None:
            return None
        if provider == "wheel":
            best: tuple[tuple[bool, int, str], DistFile] | None = None
            for dist in release.files:
                if not dist.is_wheel or not self.python_ok(dist.requires_python):
                    continue
                try:
                    rank = self.target.wheel_rank(wheel_tags(dist.filename))
                except (InvalidWheelFilename, InvalidVersion):
                    continue
                if rank is None:
                    continue
                key = (dist.yanked is not None, rank, dist.filename)
                if best is None or key < best[0]:
                    best = (key, dist)
            if best is None or self.source.state(name, release.version, best[1]) != FETCHABLE:
                return None
            return best[1]
        if provider == "sdist":
            sdists = [d for d in self._sdists(release) if self.python_ok(d.requires_python)]
            if sdists and self.source.state(name, release.version, sdists[0]) == FETCHABLE:
                return sdists[0]
        return None

    def _fetch_ahead(
        self,
        name: str,
        provider: str,
        versions: VersionList,
        start: int,
        stop: int,
        specs: Sequence[SpecifierSet],
        accept: Callable[[Version, Release], bool] | None,
    ) -> None:
        """Fetch in the background the metadata of the candidates ``versions[start:stop]`` would give."""
        assert self.source is not None
        for version, _version_str, release in versions[start:stop]:
            if accept is not None and not accept(version, release):
                continue
            if version.is_prerelease or not all(spec.contains(version, prereleases=True) for spec in specs):
                continue
            dist = self.planned_file(name, release, provider)
            if dist is not None:
                self.source.want_metadata(name, release.version, [dist])

    def _nixpkgs_metadata(
        self, release: Release | None, name: str | None = None
    ) -> tuple[DistFile | None, Metadata | None]:
        """Dependency metadata for a nixpkgs package: the DB's for the same version."""
        if release is None:
            return None, None
        found = self.best_wheel(release, name) or self.best_sdist(release, name=name)
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
            found = self.best_wheel(release, name)
            if found is not None:
                candidate = Candidate(
                    name, version, version_str, "wheel", found[0], found[1], yanked=found[0].yanked is not None
                )
        elif provider == "sdist" and release is not None:
            found = self.best_sdist(release, borrow=True, name=name, build=True)
            if found is not None:
                candidate = Candidate(
                    name, version, version_str, "sdist", found[0], found[1], yanked=found[0].yanked is not None
                )
        elif provider == "nixpkgs" and nix is not None:
            dist, meta = self._nixpkgs_metadata(release, name)
            candidate = Candidate(name, version, version_str, "nixpkgs", dist, meta, nixpkgs_attr=nix.attr)
        if self.fetching:
            self._candidates[cache_key] = candidate
        return candidate

    def iter_base_candidates(
        self,
        name: str,
        provider: str,
        specs: Sequence[SpecifierSet] = (),
        accept: Callable[[Version, Release], bool] | None = None,
    ) -> Iterator[Candidate]:
        """Base candidates of a provider, newest version first (lazily).

        ``specs`` only narrows the versions looked at (a superset of those
        satisfying them is returned: callers still check each candidate).
        ``accept(version, release)``: versions it refuses get no candidate at all
        (nothing of them is fetched).
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
        ahead = start + 1
        for index in range(start, stop):
            if index > start and self.source is not None and self.fetching:
                # the walk went past the newest candidate (backtracking, or candidates pruned):
                # fetch the next ones ahead, twice as many as walked so far, at most LOOKAHEAD
                until = min(stop, index + 1 + min(LOOKAHEAD, 2 * (index - start)))
                if until > ahead:
                    self._fetch_ahead(name, provider, versions, max(ahead, index + 1), until, specs, accept)
                    ahead = until
            version, version_str, release = versions[index]
            if accept is not None and not accept(version, release):
                continue
            candidate = self.base_candidate(name, provider, version, version_str, release)
            if candidate is not None:
                yield candidate

    def local_named(self, name: str) -> Candidate | None:
        """The candidate of the user's local, archive or VCS source of project ``name``, if any."""
        for candidate in self.local.values():
            if candidate.name == name:
                return candidate
        return None

    def direct_candidate(self, req: Req) -> Candidate:
        """The candidate for ``name @ URL``: the DB file with that hash or file name.

        Raises:
            NotFoundError: the file is not in the DB (its metadata is unknown),
                or it is a wheel for another platform.
            UsageError: the URL has no ``#sha256=`` and the file is not in the DB.
        """
        assert req.url is not None
        local = self.local.get(req.url.split("#", 1)[0])
        if local is not None:
            return local
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
                    while meta is None and self.metadata_state(req.name, release, dist) in (FETCHABLE, BUILDABLE):
                        assert self.source is not None  # its PKG-INFO first, then (if need be) its hook
                        release = self.source.fetch_metadata(req.name, release.version, [dist], build=True)
                        fetched = next(d for d in release.files if d.filename == dist.filename)
                        meta = release.metadata_of(fetched)
                        dist = dist._replace(metadata=fetched.metadata)
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
        if self.url_fallback is not None:
            candidate = self.url_fallback(req)
            if candidate is not None:
                self.local[candidate.url or req.url] = candidate
                return candidate
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
