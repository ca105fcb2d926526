"""Record types of the PyPI metadata database.

A database holds, per project (keyed by its PEP 503 normalised name), every
release with its files (the *file index*) and the dependency metadata of those
files (the *dependency graph*). These frozen dataclasses are what the reader
returns and what the crawler produces; the on-disk encoding is described in
``docs/db-format.md`` and implemented in :mod:`mach_nix.db.store`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

#: Base of every download URL; the path after it comes from PyPI's simple API.
FILES_HOST = "https://files.pythonhosted.org/packages/"

#: File name suffixes of the source distributions the database keeps, in the
#: resolver's order of preference when a release has several.
SDIST_SUFFIXES: tuple[str, ...] = (".tar.gz", ".zip", ".tar.bz2", ".tar.xz", ".tgz", ".tar")

#: Build requirements of an sdist that declares none (PEP 517's default backend).
DEFAULT_BUILD_REQUIRES: tuple[str, ...] = ("setuptools>=40.8.0",)


@dataclass(frozen=True)
class Metadata:
    """Dependency metadata of one artifact (or of several identical ones).

    Attributes:
        requires_dist: ``Requires-Dist`` lines as PEP 508 strings, in the order
            the artifact declares them (markers, including ``extra == "x"``, kept).
        requires_python: ``Requires-Python`` from the artifact, or ``None``.
        provides_extras: ``Provides-Extra`` names, normalised.
        build_requires: for sdists, the build requirements (``[build-system]
            requires`` of pyproject.toml, else ``setup_requires`` where readable,
            else the PEP 517 default :data:`DEFAULT_BUILD_REQUIRES`), followed for
            source ``"pep517"`` by what the backend's ``get_requires_for_build_wheel``
            returned (deduplicated, :func:`mach_nix.db.pep517.merge_requirements`);
            ``None`` for wheels or when unknown.
        source: how the metadata was obtained: ``"wheel"`` (the wheel's
            METADATA), ``"pep658"`` (the registry's ``.metadata`` file),
            ``"pkg-info"`` (an sdist's trustworthy PKG-INFO, Metadata >= 2.2) or
            ``"pep517"`` (the build backend's ``prepare_metadata_for_build_wheel``).
    """

    requires_dist: tuple[str, ...] = ()
    requires_python: str | None = None
    provides_extras: tuple[str, ...] = ()
    build_requires: tuple[str, ...] | None = None
    source: str = "wheel"

    def to_json(self) -> dict[str, Any]:
        """The record as a JSON object with its field names (the crawl journal, ``db info --json``)."""
        return {
            "requires_dist": list(self.requires_dist),
            "requires_python": self.requires_python,
            "provides_extras": list(self.provides_extras),
            "build_requires": None if self.build_requires is None else list(self.build_requires),
            "source": self.source,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Metadata:
        """Inverse of :meth:`to_json`.

        Raises:
            KeyError, TypeError: not such an object.
        """
        return cls(
            requires_dist=tuple(data["requires_dist"]),
            requires_python=data["requires_python"],
            provides_extras=tuple(data["provides_extras"]),
            build_requires=None if data["build_requires"] is None else tuple(data["build_requires"]),
            source=data["source"],
        )


class DistFile(NamedTuple):
    """One downloadable artifact (an sdist or a wheel) of a release.

    A named tuple (cheap to build: the reader makes one per file it decodes).
    The database stores a file in two parts (``docs/db-format.md`` §1): what
    resolution needs (name, ``Requires-Python``, yank, metadata) in the
    dependency graph, and what fetching needs (hash, size, time, URL) in the
    file index. Records read for resolution carry ``None`` in the four
    file-index fields; :meth:`ProjectSource.file_details` returns them whole.

    Attributes:
        filename: the file name as on PyPI (wheel names parse with
            ``packaging.utils.parse_wheel_filename``).
        sha256: lowercase hex SHA-256 of the file (``None``: not loaded).
        size: size in bytes (``None``: not loaded).
        upload_time: ISO 8601 UTC, second precision, e.g.
            ``2023-05-22T15:12:44Z`` (``None``: not loaded).
        url_path: the part of the download URL after :data:`FILES_HOST`
            (``"0e/f9/6647…/six-0.9.0.tar.gz"`` minus the file name, i.e.
            ``"0e/f9/6647…"``); together with ``filename`` it rebuilds the URL
            (``None``: not loaded).
        requires_python: the file's ``data-requires-python`` from the simple API.
        yanked: ``None`` when not yanked, otherwise the reason (``""`` if none given).
        metadata: index into :attr:`Release.metadata` of this file's dependency
            metadata, or ``None`` when it could not be obtained (see
            :attr:`Release.failures`).
    """

    filename: str
    sha256: str | None
    size: int | None
    upload_time: str | None
    url_path: str | None
    requires_python: str | None = None
    yanked: str | None = None
    metadata: int | None = None

    @property
    def url(self) -> str | None:
        """The direct download URL on files.pythonhosted.org (``None`` if not loaded)."""
        if self.url_path is None:
            return None
        return f"{FILES_HOST}{self.url_path}/{self.filename}"

    @property
    def is_wheel(self) -> bool:
        """True for a ``.whl`` file, False for an sdist."""
        return self.filename.endswith(".whl")

    @property
    def has_details(self) -> bool:
        """True when the file-index fields (sha256, size, time, URL) are loaded."""
        return self.sha256 is not None


@dataclass(frozen=True)
class Failure:
    """Why the metadata of one file could not be recorded.

    Attributes:
        filename: the file concerned.
        kind: one of ``"no-metadata"`` (no METADATA/PKG-INFO found),
            ``"hook-error"`` (the PEP 517 hook failed), ``"timeout"``,
            ``"memory"``, ``"download"`` (the file could not be fetched),
            ``"invalid"`` (metadata present but unparseable).
        reason: a one-line human-readable explanation.
    """

    filename: str
    kind: str
    reason: str


@dataclass(frozen=True)
class Release:
    """One version of a project with its files and their metadata.

    Attributes:
        version: the version string as published (not re-normalised).
        files: the release's artifacts in scope (see the platform scope in
            ``docs/db-format.md``), sorted by file name.
        metadata: distinct :class:`Metadata` records referenced by the files.
            Usually one; several when per-platform wheels declare different
            dependencies, or the sdist differs from the wheels.
        failures: files whose metadata is missing, and why. The on-disk
            reader fills this only when asked for details (the reasons live
            in the file index); a file without metadata shows anyway as
            ``DistFile.metadata is None``.
    """

    version: str
    files: tuple[DistFile, ...] = ()
    metadata: tuple[Metadata, ...] = ()
    failures: tuple[Failure, ...] = ()

    @property
    def yanked(self) -> bool:
        """PEP 592: a release is yanked when all of its files are."""
        return bool(self.files) and all(f.yanked is not None for f in self.files)

    @property
    def yanked_reason(self) -> str | None:
        """The first yank reason given, if the release is yanked."""
        if not self.yanked:
            return None
        return next((f.yanked for f in self.files if f.yanked), "")

    @property
    def requires_python(self) -> str | None:
        """The release's ``Requires-Python`` (from metadata, else from the files)."""
        for meta in self.metadata:
            if meta.requires_python:
                return meta.requires_python
        for dist in self.files:
            if dist.requires_python:
                return dist.requires_python
        return None

    def metadata_of(self, dist: DistFile) -> Metadata | None:
        """Return the metadata recorded for ``dist`` (one of :attr:`files`)."""
        return None if dist.metadata is None else self.metadata[dist.metadata]


@dataclass(frozen=True)
class Project:
    """All releases of one project.

    Attributes:
        name: the PEP 503 normalised name (``ruamel-yaml``, ``zope-interface``).
        releases: version string -> release.
        last_serial: PyPI's ``_last-serial`` for the project when crawled
            (used by ``mach-nix db update`` to skip unchanged projects).
    """

    name: str
    releases: dict[str, Release] = field(default_factory=dict)
    last_serial: int = 0


class ProjectSource:
    """What the resolver needs from a database (duck-typed protocol).

    ``releases_sorted``: true when every project's ``releases`` are in
    ascending PEP 440 order (the on-disk database guarantees it), which spares
    the resolver a sort.

    Implementations: the on-disk reader (one or several layered DB
    directories) and simple in-memory sources used in tests.
    """

    releases_sorted = False

    def project(self, name: str) -> Project | None:  # pragma: no cover - protocol
        """Return the project with this (any-spelling) name, or ``None``."""
        raise NotImplementedError

    def file_details(self, name: str, dists: Iterable[DistFile]) -> dict[str, DistFile]:
        """Return complete records (with sha256, size, time, URL) of some files of ``name``.

        Args:
            dists: records of files of ``name`` as :meth:`project` returned them.

        Returns:
            filename -> complete record; files the source does not know are left out.

        The default looks the files up in :meth:`project`, for sources that keep
        whole records in memory.
        """
        wanted = {d.filename for d in dists}
        project = self.project(name)
        found: dict[str, DistFile] = {}
        if project is not None:
            for release in project.releases.values():
                for dist in release.files:
                    if dist.filename in wanted:
                        found[dist.filename] = dist
        return found

    def names(self) -> list[str]:  # pragma: no cover - protocol
        """Every normalised project name (may be slow: used for suggestions only)."""
        raise NotImplementedError
