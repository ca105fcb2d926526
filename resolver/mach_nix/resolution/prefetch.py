"""What the resolver will likely ask for next, asked of the registry early.

Against a database that fetches on demand (:class:`~mach_nix.db.ondemand.OnDemandSource`)
the resolver waits for every page and every file's metadata it meets; one after the other,
a closure of 100 projects would cost some 300 round trips. The :class:`Prefetcher` overlaps
them, as uv does:

* every requirement the resolver learns (the user's, all of them first, and each
  candidate's dependencies as they become known) queues the page of its project;
* when a page arrives from the registry, the metadata of the file that the newest version
  admitted by the specifiers seen so far would use (the provider order's first that has
  one) is queued; for an sdist because its release has no wheel for the target, with its
  PEP 517 hook when its PKG-INFO is not reliable (hooks of pinned old stacks then run in
  parallel, not one after the other);
* when that metadata arrives, or was known already, its dependencies (markers evaluated
  for the target, with the extras asked for) are wanted in turn.

Nothing is fetched ahead for a project that came from the user layer: its metadata is
fetched only when the resolver asks for it, so that a second run with the same inputs
makes no request at all.

That follows the newest-version closure: what the resolver walks while it does not
backtrack. When it does, :meth:`~mach_nix.resolution.artifacts.Finder.iter_base_candidates`
fetches ahead the versions it walks. Speculation costs requests, never results: the resolver
reads only what it waited for.

Pool threads call :meth:`Prefetcher.on_project` and :meth:`Prefetcher.on_metadata`; they
read releases and the :class:`~mach_nix.resolution.artifacts.Finder`'s target lookups only.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from mach_nix.db.model import Metadata, Project, Release
from mach_nix.resolution.artifacts import Finder, wheel_tags
from mach_nix.resolution.dependencies import parse_dependency


class Prefetcher:
    """The prefetch policy of one resolution (see the module docstring).

    Args:
        source: the on-demand source (its ``want_project``/``want_metadata`` and hooks).
        finder: the resolution's lookups (target, providers, planned files).
        pre: pre-releases allowed everywhere.
    """

    def __init__(self, source: Any, finder: Finder, pre: bool = False) -> None:
        self.source = source
        self.finder = finder
        self.pre = pre
        self.env = dict(finder.target.marker_environment)
        self._lock = threading.Lock()
        self._seen: set[tuple[str, str, frozenset[str]]] = set()
        self._specs: dict[str, list[SpecifierSet]] = {}
        self._extras: dict[str, set[str]] = {}
        self._planned: set[tuple[str, str]] = set()
        self._wanted: set[str] = set()
        self._markers: dict[tuple[str, str], bool] = {}
        source.on_project = self.on_project
        source.on_metadata = self.on_metadata

    def roots(
        self,
        requirements: Iterable[tuple[str, SpecifierSet, Iterable[str]]],
        constraints: Iterable[tuple[str, SpecifierSet]] = (),
    ) -> None:
        """The user's requirements (wanted) and constraints (not wanted): all of their
        specifiers count before any page is planned."""
        items = [(name, specifier, frozenset(extras)) for name, specifier, extras in requirements]
        for name, specifier in constraints:
            self._note(name, specifier, frozenset())
        for name, specifier, extras in items:
            self._note(name, specifier, extras)
        for name, specifier, extras in items:
            self.want(name, specifier, extras)

    def _note(self, name: str, specifier: SpecifierSet, extras: frozenset[str]) -> bool:
        """Record a requirement; ``False`` if it was known."""
        key = (name, str(specifier), extras)
        with self._lock:
            if key in self._seen:
                return False
            self._seen.add(key)
            self._specs.setdefault(name, []).append(specifier)
            self._extras.setdefault(name, set()).update(extras)
            return True

    def want(self, name: str, specifier: SpecifierSet, extras: Iterable[str] = ()) -> None:
        """The resolution needs ``name`` (with ``specifier`` and ``extras``): fetch its page."""
        if not self._note(name, specifier, frozenset(extras)) and name in self._wanted:
            return
        self._wanted.add(name)
        self.source.want_project(name)
        if self.source.origin(name) == "fetched":  # arrived already: plan for this specifier too
            view = self.source.project(name)
            if view is not None:
                self.on_project(name, view)

    def on_project(self, name: str, project: Project) -> None:
        """A page arrived: queue the metadata of the newest admitted version's file."""
        if self.source.origin(name) != "fetched":
            return
        with self._lock:
            specs = list(self._specs.get(name, ()))
        for version_str in reversed(list(project.releases)):
            try:
                version = Version(version_str)
            except InvalidVersion:
                continue
            if version.is_prerelease and not self.pre:
                continue
            if not all(spec.contains(version, prereleases=True) for spec in specs):
                continue
            release = project.releases[version_str]
            if release.yanked and not _pinned(specs, version):  # PEP 592: yanked only when pinned
                continue
            with self._lock:
                if (name, version_str) in self._planned:
                    return
                self._planned.add((name, version_str))
            for provider in self.finder.providers.order_for(name):
                if provider == "nixpkgs":
                    continue
                dist = self.finder.planned_file(name, release, provider)
                if dist is not None:
                    build = not dist.is_wheel and not self._has_wheel(release)
                    self.source.want_metadata(name, version_str, [dist], build=build)
                    return
                known = self.finder.best_wheel(release) if provider == "wheel" else self.finder.best_sdist(release)
                if known is not None:  # known already (the user layer): go on with its dependencies
                    self.on_metadata(name, version_str, known[1])
                    return
            return

    def _has_wheel(self, release: Release) -> bool:
        """Has the release a wheel for the target (whose metadata an sdist could borrow)?"""
        finder = self.finder
        for dist in release.files:
            if dist.is_wheel and finder.python_ok(dist.requires_python):
                try:
                    if finder.target.wheel_rank(wheel_tags(dist.filename)) is not None:
                        return True
                except ValueError:
                    continue
        return False

    def on_metadata(self, name: str, version: str, metadata: Metadata) -> None:
        """A file's metadata arrived: want the dependencies it has on the target."""
        with self._lock:
            extras = sorted(self._extras.get(name, ()))
        for text in metadata.requires_dist:
            requirement = parse_dependency(text)
            if requirement is None:
                continue
            if requirement.marker is not None and not any(
                self._holds(str(requirement.marker), requirement.marker, extra) for extra in ["", *extras]
            ):
                continue
            dep = str(canonicalize_name(requirement.name))
            self.want(dep, requirement.specifier, (str(canonicalize_name(e)) for e in requirement.extras))

    def _holds(self, text: str, marker: Any, extra: str) -> bool:
        key = (text, extra)
        cached = self._markers.get(key)
        if cached is None:
            try:
                cached = bool(marker.evaluate({**self.env, "extra": extra}))
            except Exception:  # an odd marker: the resolver will say; do not prefetch for it
                cached = False
            self._markers[key] = cached
        return cached


def _pinned(specs: Iterable[SpecifierSet], version: Version) -> bool:
    """Does a specifier pin ``version`` exactly (``==V`` without a wildcard, ``===V``)?"""
    for spec_set in specs:
        for spec in spec_set:
            if spec.operator == "===" or (spec.operator == "==" and not spec.version.endswith(".*")):
                try:
                    if Version(spec.version) == version:
                        return True
                except InvalidVersion:
                    continue
    return False
