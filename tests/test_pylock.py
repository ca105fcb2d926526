"""pylock.toml (PEP 751) written by `mach-nix lock --format pylock` (mach_nix/pylock.py).

The oracle is `packaging.pylock`, an implementation of the standard that is not ours: every
file we write must validate with it, and its installer-side selection (`Pylock.select` for the
lock's target environment and wheel tags) must pick exactly the artifacts of the mach-nix lock
it was made from. The golden locks are the inputs (real resolutions against the snapshot).
"""

from __future__ import annotations

import json
import subprocess
import tomllib
from pathlib import Path

import pytest

from mach_nix.errors import UsageError
from mach_nix.pylock import to_pylock, toml_string
from mach_nix.target import Target
from nixhelpers import CLI, REPO

pylock = pytest.importorskip("packaging.pylock")

GOLDEN = REPO / "tests" / "data" / "golden"
DB = str(REPO / "tests" / "data" / "pypi-db")
LOCKS = sorted(GOLDEN.glob("*.lock.json"))


def _has_nixpkgs(path: Path) -> bool:
    return any(e["provider"] == "nixpkgs" for e in json.loads(path.read_text())["packages"].values())


def _target(data: dict) -> Target:
    t = data["target"]
    return Target.create(t["python"], t["system"], glibc=t.get("glibc"), macos=t.get("macos"))


@pytest.mark.parametrize("path", [p for p in LOCKS if not _has_nixpkgs(p)], ids=lambda p: p.name)
def test_golden_lock_as_pylock_validates_and_selects_the_same_files(path):
    data = json.loads(path.read_text())
    text = to_pylock(data)
    assert to_pylock(json.loads(path.read_text())) == text  # deterministic
    document = tomllib.loads(text)
    parsed = pylock.Pylock.from_dict(document)  # raises PylockValidationError when invalid
    assert str(parsed.lock_version) == "1.0" and parsed.created_by == "mach-nix"
    target = _target(data)
    tags = sorted(target.tag_ranks, key=target.tag_ranks.__getitem__)
    env = dict(target.marker_environment)
    chosen = {
        package.name: (artifact.filename, artifact.hashes["sha256"])
        for package, artifact in parsed.select(environment=env, tags=tags)
    }
    expected = {name: (e["artifact"]["filename"], e["artifact"]["sha256"]) for name, e in data["packages"].items()}
    assert chosen == expected
    # Another target's environment is refused by the installer side: `environments` says where it holds.
    other = dict(env, sys_platform="win32")
    with pytest.raises(pylock.PylockSelectError):
        list(parsed.select(environment=other, tags=tags))
    # What the standard has no field for is kept in tool.mach-nix, as the Nix side reads it back.
    for package in document["packages"]:
        entry = data["packages"][package["name"]]
        tool = package["tool"]["mach-nix"]
        assert tool["root"] == entry["root"]
        assert tool.get("build-requires") == entry.get("build_requires")
        assert [d["name"] for d in package.get("dependencies", [])] == entry["dependencies"]
    assert document["tool"]["mach-nix"]["roots"] == data["roots"]


def test_nixpkgs_packages_are_refused_with_the_fix():
    data = json.loads((GOLDEN / "nixpkgs-inventory.lock.json").read_text())
    names = sorted(n for n, e in data["packages"].items() if e["provider"] == "nixpkgs")
    with pytest.raises(UsageError) as error:
        to_pylock(data)
    assert names[0] in str(error.value) and f"--provider {names[0]}=wheel,sdist" in str(error.value)


def test_toml_strings_escape_what_toml_needs():
    for value in ['a "quoted" \\ value', "tab\tnewline\ncontrol\x01", "unicode ünï"]:
        assert tomllib.loads(f"k = {toml_string(value)}")["k"] == value


def test_cli_lock_format_pylock_default_name_and_stdout(tmp_path):
    args = ["lock", "six", "--db", DB, "--offline", "--python", "3.11", "--format", "pylock"]
    proc = subprocess.run([*CLI, *args], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    written = (tmp_path / "pylock.toml").read_text()
    assert not (tmp_path / "mach-nix.lock.json").exists()
    assert pylock.Pylock.from_dict(tomllib.loads(written)).packages[0].name == "six"
    again = subprocess.run([*CLI, *args, "-o", "-"], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert again.stdout == written
    odd = subprocess.run([*CLI, *args, "-o", "six.toml"], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert "pylock.toml or pylock.NAME.toml" in odd.stderr and (tmp_path / "six.toml").read_text() == written


def test_local_vcs_and_archive_sources_are_pep751_source_packages():
    """What the lock's `source` entries become (docs/lock-format.md "Local, archive and VCS
    sources"), checked by packaging's PEP 751 validation."""
    from packaging.pylock import Pylock

    rev = "0123456789abcdef0123456789abcdef01234567"
    digest = "ab" * 32
    common = {"dependencies": [], "extras": [], "root": True, "build_requires": ["setuptools>=61"]}
    packages = {
        "app": {"name": "app", "version": "1.0", "provider": "local", "source": {"path": "..", "editable": True}},
        "lib": {
            "name": "lib",
            "version": "2.0",
            "provider": "vcs",
            "source": {"url": "https://example.org/lib.git", "rev": rev, "ref": "v2", "subdirectory": "py"},
        },
        "extra": {
            "name": "extra",
            "version": "1.2",
            "provider": "url",
            "source": {"url": "https://example.org/extra-1.2.tar.gz", "sha256": digest, "filename": "extra-1.2.tar.gz"},
        },
        "tool": {
            "name": "tool",
            "version": "3",
            "provider": "local",
            "source": {"path": "wheels/tool-3-py3-none-any.whl", "sha256": digest, "wheel": True},
        },
    }
    data = {
        "version": 2,
        "target": {"python": "3.11.7", "implementation": "cpython", "system": "x86_64-linux", "glibc": "2.36"},
        "roots": sorted(packages),
        "packages": {name: {**common, **entry} for name, entry in packages.items()},
    }
    document = tomllib.loads(to_pylock(data))
    Pylock.from_dict(document)  # valid PEP 751
    by_name = {package["name"]: package for package in document["packages"]}
    assert by_name["app"]["directory"] == {"path": "..", "editable": True}
    assert by_name["lib"]["vcs"] == {
        "type": "git",
        "url": "https://example.org/lib.git",
        "commit-id": rev,
        "requested-revision": "v2",
        "subdirectory": "py",
    }
    assert by_name["extra"]["archive"] == {"url": "https://example.org/extra-1.2.tar.gz", "hashes": {"sha256": digest}}
    assert by_name["tool"]["wheels"] == [
        {"name": "tool-3-py3-none-any.whl", "path": "wheels/tool-3-py3-none-any.whl", "hashes": {"sha256": digest}}
    ]
    assert all(package["tool"]["mach-nix"]["build-requires"] == ["setuptools>=61"] for package in by_name.values())
