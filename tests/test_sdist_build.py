"""Build requirements of an sdist that borrowed a wheel's metadata, read from the sdist
(mach_nix.sdist_build): locked, cached by sha256, never guessed.

The snapshot holds many releases whose sdist the crawler never opened (their wheels gave the
metadata): ``--provider NAME=sdist`` then needs the sdist's own ``[build-system]``. Facts of
three such sdists were recorded from PyPI by ``mach-nix lock`` (``tests/data/sdist-build``,
laid out like ``~/.cache/mach-nix/sdist-build``); the loopback registry serves an sdist
whose pyproject.toml names hatchling, with a pre-2.2 PKG-INFO so that only its wheel's
metadata can serve for its dependencies.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import tarfile
from pathlib import Path

import pytest

from fakepypi import FakePyPI, LoopbackRegistry
from mach_nix.cli import main
from mach_nix.db.model import DistFile
from mach_nix.errors import NetworkError
from mach_nix.facts_cache import FactsCache
from mach_nix.sdist_build import SdistBuildFacts, read_build_requires
from nixhelpers import REPO

SNAPSHOT = REPO / "tests" / "data" / "pypi-db"
FACTS = REPO / "tests" / "data" / "sdist-build"


@pytest.fixture()
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MACH_NIX_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MACH_NIX_NO_SERVER", "1")
    monkeypatch.setenv("MACH_NIX_NATIVE_NEEDS", "off")
    monkeypatch.delenv("MACH_NIX_DB", raising=False)
    return tmp_path / "cache"


def lock(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["lock", "--db", str(SNAPSHOT), *argv, "-o", "-"])
    out = capsys.readouterr()
    return code, out.err, out.out


def sdist(top: str, members: dict[str, str]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as archive:
        for name, text in members.items():
            data = text.encode()
            entry = tarfile.TarInfo(f"{top}/{name}")
            entry.size, entry.mtime = len(data), 0
            archive.addfile(entry, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


HATCHY = sdist(
    "hatchy-1.0",
    {
        "PKG-INFO": "Metadata-Version: 1.1\nName: hatchy\nVersion: 1.0\n",
        "pyproject.toml": '[build-system]\nrequires = ["hatchling>=1.20"]\nbuild-backend = "hatchling.build"\n',
    },
)


def hatchy_registry() -> LoopbackRegistry:
    db = FakePyPI().add(
        "hatchy", "1.0", ["six"], files=["hatchy-1.0-py3-none-any.whl", "hatchy-1.0.tar.gz"], file_meta=[0, None]
    )
    registry = LoopbackRegistry(db)
    registry.sdists["hatchy-1.0.tar.gz"] = HATCHY
    return registry


def sdist_requests(registry: LoopbackRegistry) -> int:
    return sum(1 for path, _ in registry.paths if path.endswith("hatchy-1.0.tar.gz"))


def test_a_borrowed_sdist_is_read_once_and_its_build_system_locked(cache, monkeypatch, capsys):
    with hatchy_registry() as registry:
        monkeypatch.setenv("MACH_NIX_INDEX_URL", registry.index)
        code, err, first = lock(capsys, "hatchy", "--provider", "hatchy=sdist")
        assert code == 0, err
        entry = json.loads(first)["packages"]["hatchy"]
        assert entry["provider"] == "sdist" and entry["dependencies"] == ["six"]  # the wheel's metadata
        assert entry["build_requires"] == ["hatchling>=1.20"]  # the sdist's own pyproject.toml
        assert "build_system_unlocked" not in entry
        assert [key.split("==")[0] for key in entry["build_system"]][:1] == ["hatchling"]
        # once, when the resolution looked at its PKG-INFO (unreliable): its build requirements were kept then
        read = sdist_requests(registry)
        assert read == 1
        fact = next((cache / "sdist-build").rglob("*.json"))
        assert fact.stem == hashlib.sha256(HATCHY).hexdigest()

        code, err, second = lock(capsys, "hatchy", "--provider", "hatchy=sdist")
        assert code == 0, err
        assert second == first  # byte-identical
        assert sdist_requests(registry) == read  # the user layer and the facts cache serve


def test_offline_without_the_fact_locks_nothing_it_would_have_to_guess(cache, monkeypatch, capsys):
    with hatchy_registry() as registry:
        monkeypatch.setenv("MACH_NIX_INDEX_URL", registry.index)
        assert lock(capsys, "hatchy", "--provider", "hatchy=sdist")[0] == 0  # fills the user layer
        read = sdist_requests(registry)
        shutil.rmtree(cache / "sdist-build")
        code, err, out = lock(capsys, "hatchy", "--provider", "hatchy=sdist", "--offline")
        assert code == 0, err
        entry = json.loads(out)["packages"]["hatchy"]
        assert entry["build_system_unlocked"] is True and "build_system" not in entry
        assert entry["build_requires"] == ["setuptools>=40.8.0"]
        assert "the build requirements of hatchy 1.0 are not known" in err
        assert "lock without --offline" in err
        assert sdist_requests(registry) == read


def test_no_cache_reads_the_sdist_every_time_and_stores_nothing(cache, monkeypatch, capsys):
    with hatchy_registry() as registry:
        monkeypatch.setenv("MACH_NIX_INDEX_URL", registry.index)
        counts = []
        for _ in range(2):
            code, err, out = lock(capsys, "hatchy", "--provider", "hatchy=sdist", "--no-cache")
            assert code == 0, err
            assert json.loads(out)["packages"]["hatchy"]["build_requires"] == ["hatchling>=1.20"]
            counts.append(sdist_requests(registry))
        assert counts == [2, 4]  # for its PKG-INFO, then for its build requirements, in every run
        assert not (cache / "sdist-build").exists()


@pytest.mark.parametrize(
    ("name", "build_requires", "tool"),
    [("itsdangerous", ["flit-core<4"], "flit-core"), ("hatch-vcs", ["hatchling>=1.1.0"], "hatchling")],
)
def test_recorded_facts_of_real_sdists_lock_their_build_systems_offline(cache, capsys, name, build_requires, tool):
    """Real sdists of the snapshot whose metadata is their wheels': offline, the recorded facts
    lock the closure of what their pyproject.toml names; without them nothing is locked."""
    code, err, out = lock(capsys, name, "--provider", f"{name}=sdist", "--offline")
    assert code == 0, err
    assert json.loads(out)["packages"][name].get("build_system_unlocked") is True

    shutil.copytree(FACTS, cache / "sdist-build")
    code, err, out = lock(capsys, name, "--provider", f"{name}=sdist", "--offline")
    assert code == 0, err
    data = json.loads(out)
    entry = data["packages"][name]
    assert entry["build_requires"] == build_requires and "build_system_unlocked" not in entry
    locked = {key.split("==")[0]: key for key in entry["build_system"]}
    assert tool in locked and set(entry["build_system"]) <= set(data["build_packages"])


def test_a_download_that_is_not_the_locked_sdist_is_refused(tmp_path):
    served = sdist("x-1.0", {"pyproject.toml": '[build-system]\nrequires = ["flit_core"]\n'})

    class Answer:
        body = served

    class Client:
        def request(self, url: str, max_bytes: int | None = None) -> Answer:
            return Answer()

    dist = DistFile("x-1.0.tar.gz", "0" * 64, len(served), None, "ab/cd")
    facts = SdistBuildFacts(fetch=True, cache=FactsCache(tmp_path), client=Client())
    with pytest.raises(NetworkError, match="does not match the lock's sha256"):
        facts(dist, "https://files.example/x-1.0.tar.gz")
    assert not list(tmp_path.rglob("*.json"))  # nothing recorded

    good = dist._replace(sha256=hashlib.sha256(served).hexdigest())
    assert facts(good, "https://files.example/x-1.0.tar.gz") == ("flit_core",)
    assert FactsCache(tmp_path).get_json(good.sha256 or "")["build_requires"] == ["flit_core"]


def test_an_unreadable_archive_stays_unknown_and_says_why(tmp_path):
    class Answer:
        body = b"not an archive"

    class Client:
        def request(self, url: str, max_bytes: int | None = None) -> Answer:
            return Answer()

    dist = DistFile("y-1.0.tar.gz", hashlib.sha256(Answer.body).hexdigest(), 14, None, "ab/cd")
    facts = SdistBuildFacts(fetch=True, cache=FactsCache(tmp_path), client=Client())
    assert facts(dist, "https://files.example/y-1.0.tar.gz") is None
    assert "cannot be read" in facts.why_unknown(dist)


def test_read_build_requires_follows_the_crawlers_rules():
    """pyproject's requires, else PEP 517's default; then setup_requires of setup.cfg."""
    assert read_build_requires("a-1.tar.gz", HATCHY) == ("hatchling>=1.20",)
    legacy = sdist("b-1", {"setup.py": "from setuptools import setup\nsetup()\n"})
    assert read_build_requires("b-1.tar.gz", legacy) == ("setuptools>=40.8.0",)
    cfg = sdist("c-1", {"setup.cfg": "[options]\nsetup_requires =\n    cffi>=1.0\n"})
    assert "cffi>=1.0" in read_build_requires("c-1.tar.gz", cfg)
