"""sdists whose own metadata the crawler did not extract borrow their release's wheel metadata."""

from __future__ import annotations

from pathlib import Path

from mach_nix.db.store import open_database
from mach_nix.resolution.resolve import resolve
from mach_nix.target import Target

SNAPSHOT = Path(__file__).parent / "data" / "pypi-db"


def test_sdist_without_own_metadata_uses_the_wheels():
    db = open_database([SNAPSHOT])
    six = db.project("six").releases["1.16.0"]
    sdist = next(f for f in six.files if not f.is_wheel)
    assert six.metadata_of(sdist) is None  # the premise: the crawler skipped its build backend
    lock = resolve(
        ["six==1.16.0", "python-dateutil==2.8.2"], Target.create("3.11.7", "x86_64-linux"), {"_default": "sdist"}, db=db
    )
    entry = lock.packages["six"]
    assert entry["provider"] == "sdist"
    assert entry["artifact"]["filename"] == "six-1.16.0.tar.gz"
    # Unknown build requirements: PEP 517's default backend.
    assert entry["build_requires"] == ["setuptools>=40.8.0"]
    # Dependencies come from the wheel's metadata of the same release.
    assert lock.packages["python-dateutil"]["dependencies"] == ["six"]


def test_own_sdist_metadata_wins():
    db = open_database([SNAPSHOT])
    lock = resolve(["idna==3.20"], Target.create("3.11.7", "x86_64-linux"), {"_default": "sdist"}, db=db)
    build = lock.packages["idna"]["build_requires"]
    assert build == ["flit-core<5,>=3.11"]  # from the sdist's pyproject.toml
