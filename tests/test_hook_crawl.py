"""The crawler runs the confined hook for sdist-only releases (an in-memory registry, local wheels)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement

from hook_helpers import WHEELS, make_sdist, offline_pip_args
from mach_nix.db import store
from mach_nix.db.crawl import Crawler, CrawlOptions
from mach_nix.db.http import Response
from mach_nix.errors import ExitCode, MachNixError

SDISTS = {
    "legacy-demo-1.0.tar.gz": make_sdist(
        {
            "setup.py": "from setuptools import setup\n"
            "setup(name='legacy-demo', version='1.0', install_requires=['idna>=2'], use_2to3=True)\n"
        },
        top="legacy-demo-1.0",
    ),
    "old-demo-0.1.tar.gz": make_sdist(
        {"setup.py": "from setuptools import setup\nprint 'hi'\nsetup(name='old-demo', version='0.1')\n"},
        top="old-demo-0.1",
    ),
}


class SdistRegistry:
    """A registry in memory serving one sdist-only release per project."""

    requests = 0

    def simple_project(self, name: str) -> dict[str, Any] | None:
        files = []
        for filename, data in SDISTS.items():
            if filename.startswith(name + "-"):
                digest = hashlib.sha256(data).hexdigest()
                files.append(
                    {
                        "filename": filename,
                        "hashes": {"sha256": digest},
                        "size": len(data),
                        "upload-time": "2015-01-01T00:00:00.000000Z",
                        "url": f"https://files.pythonhosted.org/packages/{digest[:2]}/{digest[2:4]}/{digest[4:]}/{filename}",
                    }
                )
        if not files:
            return None
        version = str(files[0]["filename"]).rsplit("-", 1)[1].removesuffix(".tar.gz")
        return {"meta": {"_last-serial": 1}, "name": name, "versions": [version], "files": files}

    def request(self, url: str, headers: dict[str, str] | None = None, *, max_bytes: int | None = None) -> Response:
        return Response(200, {}, SDISTS[url.rsplit("/", 1)[1]])

    def range(self, url: str, start: int, end: int | None = None, *, size: int | None = None) -> bytes:
        raise AssertionError("no wheels here")


@pytest.fixture
def offline_pip(monkeypatch: pytest.MonkeyPatch) -> None:
    """The crawler's build environments come from the local wheels (pip's own environment variables)."""
    offline_pip_args()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(WHEELS))


def test_crawl_records_hook_metadata_and_python2_only(tmp_path: Path, offline_pip: None) -> None:
    options = CrawlOptions(progress=False, hooks="no-wheel", concurrency=2, hook_timeout=60)
    Crawler(tmp_path / "db", options, client=SdistRegistry()).run(
        [Requirement("legacy-demo"), Requirement("old-demo")], closure=False
    )
    db = store.open_database([tmp_path / "db"])
    legacy_project, old_project = db.project("legacy-demo"), db.project("old-demo", details=True)
    assert legacy_project is not None and old_project is not None
    legacy = legacy_project.releases["1.0"]
    assert [(m.requires_dist, m.source) for m in legacy.metadata] == [(("idna>=2",), "pep517")]
    old = old_project.releases["0.1"]
    assert old.metadata == () and [f.kind for f in old.failures] == ["python2-only"]


def test_crawl_stops_with_the_fix_when_hooks_cannot_be_confined(
    tmp_path: Path, offline_pip: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MACH_NIX_HOOK_PYTHON", str(tmp_path / "no-such-python"))
    options = CrawlOptions(progress=False, hooks="no-wheel", concurrency=2)
    with pytest.raises(MachNixError) as info:
        Crawler(tmp_path / "db", options, client=SdistRegistry()).run([Requirement("legacy-demo")], closure=False)
    assert info.value.exit_code == ExitCode.USAGE
    assert "MACH_NIX_HOOK_PYTHON" in info.value.message
