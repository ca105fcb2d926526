"""A tiny in-memory :class:`~mach_nix.db.model.ProjectSource` for resolver unit tests.

    db = FakePyPI()
    db.add("requests", "2.31.0", ["idna>=2.5", "pysocks; extra == 'socks'"], extras=["socks"])
    db.add("idna", "3.4")

Each ``add`` creates a release with one ``py3-none-any`` wheel (or the given
files), all sharing one :class:`Metadata` record.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from packaging.utils import canonicalize_name

from mach_nix.db.model import DistFile, Metadata, Project, ProjectSource, Release


def fake_file(
    filename: str, requires_python: str | None = None, yanked: str | None = None, metadata: int | None = 0
) -> DistFile:
    """A DistFile with a hash derived from its name."""
    digest = hashlib.sha256(filename.encode()).hexdigest()
    return DistFile(
        filename=filename,
        sha256=digest,
        size=1000,
        upload_time="2024-01-01T00:00:00Z",
        url_path=f"{digest[:2]}/{digest[2:4]}/{digest[4:]}",
        requires_python=requires_python,
        yanked=yanked,
        metadata=metadata,
    )


class FakePyPI(ProjectSource):
    """In-memory projects keyed by normalised name."""

    def __init__(self) -> None:
        self.projects: dict[str, Project] = {}

    def add(
        self,
        name: str,
        version: str,
        requires: Sequence[str] = (),
        *,
        extras: Sequence[str] = (),
        requires_python: str | None = None,
        files: Sequence[str] | None = None,
        yanked: str | None = None,
        build_requires: Sequence[str] | None = None,
        metas: Sequence[Metadata] | None = None,
        file_meta: Sequence[int | None] | None = None,
    ) -> FakePyPI:
        """Add a release (files default to one pure-Python wheel)."""
        key = canonicalize_name(name)
        stem = key.replace("-", "_")
        if files is None:
            files = [f"{stem}-{version}-py3-none-any.whl"]
        meta = Metadata(
            requires_dist=tuple(requires),
            requires_python=requires_python,
            provides_extras=tuple(extras),
            build_requires=tuple(build_requires) if build_requires is not None else None,
            source="wheel",
        )
        metadata = tuple(metas) if metas is not None else (meta,)
        indexes = list(file_meta) if file_meta is not None else [0] * len(files)
        dists = tuple(
            sorted(
                (fake_file(f, requires_python, yanked, indexes[i]) for i, f in enumerate(files)),
                key=lambda d: d.filename,
            )
        )
        project = self.projects.setdefault(key, Project(name=key, releases={}))
        project.releases[version] = Release(version=version, files=dists, metadata=metadata)
        return self

    def project(self, name: str) -> Project | None:
        """The project with this (any-spelling) name."""
        return self.projects.get(canonicalize_name(name))

    def names(self) -> list[str]:
        """All normalised names."""
        return sorted(self.projects)
