"""Every download is checked before it is used (issue 15 item 2), against the loopback registry.

Whole files (sdists, PEP 658 ``.metadata``) against the sha256 and size the registry
lists; range reads of wheels against the listed size (``Content-Range`` total, part
length) and the METADATA member's CRC-32. A damaged answer is fetched again; one
damaged every time is a ``download`` failure, which the next crawl or update retries
even though the project's serial did not change (``docs/db-format.md`` §3.4).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from fakeregistry import FakeRegistry
from mach_nix.db import store
from mach_nix.db.crawl import Crawler, CrawlOptions, update
from mach_nix.db.model import Project

OPTIONS = CrawlOptions(progress=False, concurrency=2, hooks="never")


def registry() -> FakeRegistry:
    fake = FakeRegistry()
    fake.add("demo", "1.0", ["six>=1.0", "idna"], wheel=False, sdist=True)  # sdist only: downloaded
    fake.add("demo", "2.0", ["six>=2.0", "idna"], pep658=True)  # read through .metadata
    fake.add("demo", "3.0", ["six>=3.0", "idna"], pep658=False)  # read by range requests
    fake.add("demo", "9.0", ["evil"], pep658=False, padding=20000)  # another, larger file (for "swap")
    return fake


def crawl(fake: FakeRegistry, db: Path) -> Project:
    with fake.serve() as server:
        Crawler(db, OPTIONS, client=server.client()).run([Requirement("demo")], closure=False)
    project = store.open_database([db]).project("demo", details=True)
    assert project is not None
    return project


def deps(project: Project, version: str) -> list[tuple[str, ...]] | str:
    release = project.releases[version]
    if release.failures and not release.metadata:
        return ",".join(f.kind for f in release.failures)
    return [m.requires_dist for m in release.metadata]


def metadata_offset(fake: FakeRegistry, filename: str) -> int:
    """The file offset of a byte inside the wheel's (deflated) METADATA member."""
    data = fake.file(filename).data
    assert data is not None
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = next(i for i in archive.infolist() if i.filename.endswith("METADATA"))
    return info.header_offset + 30 + len(info.filename.encode()) + len(info.extra) + info.compress_size // 2


EXPECTED = {"1.0": [("six>=1.0", "idna")], "2.0": [("six>=2.0", "idna")], "3.0": [("six>=3.0", "idna")]}
SDIST, PEP658, RANGED = "demo-1.0.tar.gz", "demo-2.0-py3-none-any.whl", "demo-3.0-py3-none-any.whl"


@pytest.mark.parametrize(
    ("filename", "kind", "metadata", "times"),
    [
        (SDIST, "truncate", False, 1),
        (SDIST, "bitflip", False, 1),
        (PEP658, "bitflip", True, 1),
        (PEP658, "truncate", True, 1),
        (RANGED, "truncate", False, 1),
        (RANGED, "bitflip", False, 2),  # the tail read, then the METADATA read
    ],
)
def test_a_damaged_answer_is_fetched_again(
    tmp_path: Path, filename: str, kind: str, metadata: bool, times: int
) -> None:
    fake = registry()
    offset = metadata_offset(fake, filename) if kind == "bitflip" and filename == RANGED else None
    fake.fault(filename, kind, times=times, metadata=metadata, offset=offset)
    project = crawl(fake, tmp_path / "db")
    assert {v: deps(project, v) for v in EXPECTED} == EXPECTED
    assert fake.faults[filename + (".metadata" if metadata else "")].times == 0  # the fault was served


@pytest.mark.parametrize(
    ("filename", "kind", "other"),
    [
        (SDIST, "truncate", None),
        (SDIST, "bitflip", None),
        (SDIST, "length", None),
        (RANGED, "bitflip", None),
        (RANGED, "length", None),
        (RANGED, "swap", "demo-9.0-py3-none-any.whl"),  # a mirror serving another file under this name
    ],
)
def test_damaged_every_time_is_a_download_failure_retried_next_time(
    tmp_path: Path, filename: str, kind: str, other: str | None
) -> None:
    fake = registry()
    offset = metadata_offset(fake, filename) if kind == "bitflip" and filename == RANGED else None
    fake.fault(filename, kind, offset=offset, other=other)
    version = "1.0" if filename == SDIST else "3.0"
    project = crawl(fake, tmp_path / "db")
    assert deps(project, version) == "download"  # nothing wrong was stored
    assert {v: deps(project, v) for v in EXPECTED if v != version} == {v: EXPECTED[v] for v in EXPECTED if v != version}

    # the registry is right again; the serial did not change: the next update retries the file
    del fake.faults[filename]
    with fake.serve() as server:
        summary = update(tmp_path / "db", OPTIONS, client=server.client())
    assert summary.projects_fetched == 1 and summary.files_extracted == 1
    again = store.open_database([tmp_path / "db"]).project("demo", details=True)
    assert again is not None and {v: deps(again, v) for v in EXPECTED} == EXPECTED


def test_a_damaged_metadata_file_falls_back_to_the_wheel(tmp_path: Path) -> None:
    fake = registry()
    fake.fault(PEP658, "bitflip", metadata=True)  # every .metadata answer is damaged
    project = crawl(fake, tmp_path / "db")
    assert deps(project, "2.0") == EXPECTED["2.0"]
    assert [m.source for m in project.releases["2.0"].metadata] == ["wheel"]


def test_wheels_sharing_one_metadata_file_are_read_once(tmp_path: Path) -> None:
    fake = FakeRegistry()
    tags = ("cp311-cp311-manylinux_2_17_x86_64", "cp311-cp311-macosx_11_0_arm64", "cp312-cp312-musllinux_1_1_x86_64")
    fake.add("native", "1.0", ["six"], wheel_tags=tags)
    with fake.serve() as server:
        Crawler(tmp_path / "db", OPTIONS, client=server.client()).run([Requirement("native")], closure=False)
    assert sum(fake.hits.get(f"native-1.0-{tag}.whl.metadata", 0) for tag in tags) == 1
    project = store.open_database([tmp_path / "db"]).project("native")
    assert project is not None
    release = project.releases["1.0"]
    assert len(release.files) == 3 and all(f.metadata == 0 for f in release.files)
    assert [m.requires_dist for m in release.metadata] == [("six",)]
