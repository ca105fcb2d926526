"""A project's versions as the resolver walks them: newest first, decoded lazily, windowed.

:class:`ProjectIndex` looks projects up in the database once per resolution and
gives each a :class:`VersionList`. :meth:`ProjectIndex.window` narrows that list
to the slice that can satisfy some specifiers, by bisection, so that finding
candidates stays O(log n) in the number of releases: the resolver may walk back
through hundreds of boto3-style versions.

Version lists depend only on the database, so a long-lived process (the
resolver server) keeps them between resolutions: pass the same
:data:`VersionLists` dictionary for the same opened database (with a source
that fetches on demand, only those of its pinned databases' projects are kept).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from mach_nix.db.model import Project, ProjectSource, Release


def sort_key(version: Version) -> Any:
    """A plain-tuple key ordering like ``version`` (compared in C), or the version itself.

    ``packaging`` keeps one as ``_key`` (private, present in every release we
    support); without it, comparisons fall back to :class:`Version`'s methods.
    """
    return getattr(version, "_key", version)


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
        #: computed by :meth:`ProjectIndex.window` on first use.
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


#: Version lists of one opened database, by normalised name (see the module docstring).
VersionLists = dict[str, VersionList]


class ProjectIndex:
    """The database's projects and their version lists, looked up once per resolution."""

    def __init__(self, db: ProjectSource, shared: VersionLists | None = None) -> None:
        """Index ``db``.

        Args:
            db: the database.
            shared: version lists of the same ``db`` kept from earlier
                resolutions (read and filled); ``None``: this resolution's only.
        """
        self.db = db
        self.shared = shared
        self._projects: dict[str, Project | None] = {}
        self._versions: dict[str, VersionList] = {}
        self._bounds: dict[Any, Any] = {}
        self._windows: dict[tuple, tuple[int, int]] = {}

    def project(self, name: str) -> Project | None:
        """The DB project for a normalised name (cached)."""
        if name not in self._projects:
            self._projects[name] = self.db.project(name)
        return self._projects[name]

    def versions(self, name: str) -> VersionList:
        """The project's releases with valid versions, newest first (releases decoded lazily)."""
        cached = self._versions.get(name)
        if cached is not None:
            return cached
        project = self.project(name)
        shared = self.shared if self._shareable(name) else None
        if shared is not None:
            cached = shared.get(name)
            if cached is not None:
                self._versions[name] = cached
                return cached
        items: list[tuple[Version, str]] = []
        releases: Mapping[str, Release] = {}
        if project is not None:
            releases = project.releases
            for version_str in releases:
                try:
                    items.append((Version(version_str), version_str))
                except InvalidVersion:
                    continue
            if self.db.releases_sorted:
                items.reverse()  # stored in ascending PEP 440 order: no comparisons needed
            else:
                items.sort(reverse=True)
        result = self._versions[name] = VersionList(items, releases)
        if shared is not None:
            shared[name] = result
        return result

    def _shareable(self, name: str) -> bool:
        """May the version list of ``name`` be kept between resolutions? Not for a project
        that a source fetching on demand got from its cache or the registry (it changes)."""
        origin = getattr(self.db, "origin", None)
        return origin is None or origin(name) == "pinned"

    def window(self, name: str, specs: Sequence[SpecifierSet]) -> tuple[int, int]:
        """Slice of :meth:`versions` that can satisfy ``specs`` (a superset, by bisection)."""
        versions = self.versions(name)
        count = len(versions)
        if not specs or count == 0:
            return 0, count
        cache_key = (name, tuple(id(spec) for spec in specs))  # specs live as long as this resolution
        cached = self._windows.get(cache_key)
        if cached is not None:
            return cached
        result = self._compute_window(versions, specs)
        self._windows[cache_key] = result
        return result

    def _ceiling(self, operator: str, text: str) -> Any:
        """The sort key of the first version above ``~=text`` or ``==text`` (a ``X.Y.*``), or ``None``.

        ``~=1.4.2`` admits ``1.4.*``, ``~=1.4`` admits ``1.*``: below ``1.5.dev0``
        and ``2.dev0`` (the smallest versions of the next series, pre-releases included).
        """
        key = ("ceiling", operator, text)
        if key in self._bounds:
            return self._bounds[key]
        ceiling = None
        try:
            if operator == "~=":
                release = Version(text).release
                prefix = release[:-1]
            else:
                release = Version(text[:-2]).release
                prefix = release
            if prefix:
                bumped = (*prefix[:-1], prefix[-1] + 1)
                epoch = Version(text if operator == "~=" else text[:-2]).epoch
                ceiling = sort_key(Version(f"{epoch}!{'.'.join(map(str, bumped))}.dev0"))
        except InvalidVersion:
            ceiling = None
        self._bounds[key] = ceiling
        return ceiling

    def _compute_window(self, versions: VersionList, specs: Sequence[SpecifierSet]) -> tuple[int, int]:
        """Uncached :meth:`window`."""
        count = len(versions)
        ascending = versions.ascending_keys
        if ascending is None:
            oldest_first = [item[0] for item in reversed(versions.versions())]
            # Local versions break bound arithmetic: no pruning.
            local = any(v.local is not None for v in oldest_first)
            ascending = [] if local else [sort_key(v) for v in oldest_first]
            versions.ascending_keys = ascending
        if not ascending:
            return 0, count
        low, high = 0, count
        for spec_set in specs:
            for spec in spec_set:
                operator, text = spec.operator, spec.version
                if operator in ("!=", "==="):
                    continue
                if operator == "~=" or (operator == "==" and text.endswith(".*")):
                    ceiling = self._ceiling(operator, text)  # ~=1.4.2 and ==1.4.*: below 1.5
                    if ceiling is not None:
                        high = min(high, bisect.bisect_left(ascending, ceiling))
                    if operator == "==":
                        text = text[:-2] + ".dev0"  # the smallest version of the series
                        operator = ">="
                bound = self._bounds.get(text)
                if bound is None:
                    try:
                        bound = self._bounds[text] = sort_key(Version(text))
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
