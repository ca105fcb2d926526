"""Build systems locked per sdist (lock format 2, issue 12 item 1): every sdist's build
requirements resolved as their own wheel-only closure, stored once in ``build_packages``.

Resolution reads the committed snapshot (its build tools are listed in tests/data/README.md)
or the in-memory fake registry; every lock also passes the independent checker."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from fakepypi import FakePyPI
from lockcheck import check_lock
from mach_nix.cli import main
from mach_nix.db.files_cache import MissingFilesError
from mach_nix.db.store import open_database
from mach_nix.errors import UsageError
from mach_nix.lock import LOCK_VERSION, load_lock
from mach_nix.resolution.resolve import resolve
from mach_nix.target import Target

REPO = Path(__file__).resolve().parent.parent
PY311 = Target.create("3.11.7", "x86_64-linux")


@pytest.fixture(scope="module")
def snapshot():
    return open_database([REPO / "tests" / "data" / "pypi-db"])


def test_an_sdist_gets_its_own_locked_build_closure(snapshot):
    lock = resolve(["idna==3.20"], PY311, {"_default": "sdist"}, snapshot)
    assert lock.data["version"] == LOCK_VERSION == 2
    entry = lock.packages["idna"]
    assert entry["build_requires"] == ["flit-core<5,>=3.11"]
    (key,) = entry["build_system"]
    tool = lock.data["build_packages"][key]
    assert tool["name"] == "flit-core" and Version(tool["version"]) in SpecifierSet(">=3.11,<5")
    assert tool["artifact"]["filename"].endswith(".whl") and len(tool["artifact"]["sha256"]) == 64
    assert check_lock(lock.data, ["idna==3.20"], snapshot) == []


def test_build_closures_are_isolated_from_the_runtime_and_shared(snapshot):
    """pluggy builds with setuptools-scm, which needs packaging: its build closure has the
    newest packaging while the environment keeps the pinned 24.2; closures are stored once."""
    roots = ["pluggy", "packaging==24.2"]
    lock = resolve(roots, PY311, {"_default": "wheel", "pluggy": "sdist", "packaging": "sdist"}, snapshot)
    build = lock.data["build_packages"]
    closure = {build[k]["name"]: build[k]["version"] for k in lock.packages["pluggy"]["build_system"]}
    assert {"setuptools", "setuptools-scm", "packaging"} <= set(closure)
    assert Version(closure["packaging"]) > Version("24.2") and lock.packages["packaging"]["version"] == "24.2"
    assert lock.packages["packaging"]["build_system"] == [k for k in build if k.startswith("flit-core==")]
    scm = next(k for k in build if k.startswith("setuptools-scm=="))
    assert {d.split("==")[0] for d in build[scm]["dependencies"]} >= {"packaging", "setuptools"}
    assert check_lock(lock.data, roots, snapshot) == []


def test_wheels_have_no_build_system(snapshot):
    lock = resolve(["idna==3.20"], PY311, {"_default": "wheel"}, snapshot)
    assert lock.data["build_packages"] == {} and "build_system" not in lock.packages["idna"]


def test_locking_twice_gives_the_same_bytes(snapshot, tmp_path):
    roots = ["pluggy", "idna==3.20", "python-dateutil"]
    providers = {"_default": "wheel", "pluggy": "sdist", "idna": "sdist", "python-dateutil": "sdist"}
    first = resolve(roots, PY311, providers, snapshot).dumps()
    second = resolve(roots, PY311, providers, open_database([REPO / "tests" / "data" / "pypi-db"]))
    assert first == second.dumps()
    assert len(json.loads(first)["build_packages"]) >= 5


def test_a_build_tool_without_a_wheel_falls_back_to_the_sets_tools_with_a_warning():
    db = FakePyPI()
    db.add("app", "1.0", files=["app-1.0.tar.gz"], build_requires=["oldtool>=1"])
    db.add("oldtool", "1.0", files=["oldtool-1.0.tar.gz"])
    lock = resolve(["app"], PY311, {"_default": "sdist"}, db)
    entry = lock.packages["app"]
    assert entry["build_system_unlocked"] is True and "build_system" not in entry
    assert lock.data["build_packages"] == {}
    (warning,) = [w for w in lock.warnings if "build system of app" in w]
    assert "oldtool>=1" in warning and "package set's build tools" in warning
    assert check_lock(lock.data, ["app"], db) == []


def test_lockcheck_rejects_broken_build_package_references(snapshot):
    lock = resolve(["pluggy"], PY311, {"_default": "wheel", "pluggy": "sdist"}, snapshot).data
    assert check_lock(lock, ["pluggy"], snapshot) == []
    scm = next(k for k in lock["build_packages"] if k.startswith("setuptools-scm=="))

    dangling = copy.deepcopy(lock)
    dangling["packages"]["pluggy"]["build_system"].append("hatchling==0.1")
    assert any("not keys of build_packages" in p for p in check_lock(dangling, ["pluggy"], snapshot))

    unclosed = copy.deepcopy(lock)
    dep = next(d for d in unclosed["build_packages"][scm]["dependencies"] if d.startswith("packaging=="))
    unclosed["packages"]["pluggy"]["build_system"].remove(dep)
    del unclosed["build_packages"][dep]
    problems = check_lock(unclosed, ["pluggy"], snapshot)
    assert any(f"dependency {dep} is not a key of build_packages" in p for p in problems)
    assert any("which its build_system lacks" in p for p in problems)

    wrong_hash = copy.deepcopy(lock)
    wrong_hash["build_packages"][scm]["artifact"]["sha256"] = "0" * 64
    assert any("with its sha256" in p for p in check_lock(wrong_hash, ["pluggy"], snapshot))

    missing = copy.deepcopy(lock)
    del missing["packages"]["pluggy"]["build_system"]
    assert any("without build_system" in p for p in check_lock(missing, ["pluggy"], snapshot))


def test_a_version_1_lock_is_refused_with_the_command_that_rewrites_it(tmp_path):
    old = tmp_path / "mach-nix.lock.json"
    old.write_text(json.dumps({"version": 1, "packages": {}, "roots": []}))
    with pytest.raises(UsageError) as error:
        load_lock(old)
    message = str(error.value)
    assert "format version 1" in message and "build systems" in message
    assert f"mach-nix lock -r requirements.txt -o {old}" in message
    assert check_lock({"version": 1, "packages": {}, "target": {}}, [], None) != []


def test_a_graph_only_database_names_the_runtime_and_build_shards_at_once(tmp_path):
    """The evaluation-time builder fetches what a MissingFilesError lists, then runs again:
    the shards of the build packages are listed with the runtime ones, in one round."""
    snapshot_dir = REPO / "tests" / "data" / "pypi-db"
    slim = tmp_path / "slim"
    assert (
        main(["db", "slim", "--db", str(snapshot_dir), "--out", str(slim), "--files-url", snapshot_dir.as_uri()]) == 0
    )

    def missing(providers):
        with pytest.raises(MissingFilesError) as error:
            resolve(["idna==3.20"], PY311, providers, open_database([slim]))
        return {source["file"] for source in error.value.sources}

    runtime_only = missing({"_default": "wheel"})
    with_build = missing({"_default": "sdist"})
    assert len(runtime_only) == 2 and runtime_only < with_build and len(with_build) == 4


def test_a_build_wheel_shared_with_other_extras_lists_the_union_of_its_dependencies():
    db = FakePyPI()
    db.add("tool", "1.0", ['tomlish>=1; extra == "toml"'], extras=["toml"])
    db.add("tomlish", "1.0")
    db.add("with-extra", "1.0", files=["with_extra-1.0.tar.gz"], build_requires=["tool[toml]"])
    db.add("plain", "1.0", files=["plain-1.0.tar.gz"], build_requires=["tool"])
    lock = resolve(["with-extra", "plain"], PY311, {"_default": "sdist"}, db)
    build = lock.data["build_packages"]
    assert build["tool==1.0"]["dependencies"] == ["tomlish==1.0"]
    assert lock.packages["with-extra"]["build_system"] == ["tomlish==1.0", "tool==1.0"]
    assert lock.packages["plain"]["build_system"] == ["tool==1.0"]
    assert check_lock(lock.data, ["with-extra", "plain"], db) == []
