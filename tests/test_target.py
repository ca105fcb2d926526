"""The target environment: versions, marker environment and wheel tags (mach_nix.target)."""

from __future__ import annotations

import platform

import pytest
from packaging.markers import Marker
from packaging.tags import Tag
from packaging.utils import parse_wheel_filename

from mach_nix.errors import UsageError
from mach_nix.target import Target, parse_python_version


def compatible(target: Target, filename: str) -> bool:
    return target.wheel_rank(parse_wheel_filename(filename)[3]) is not None


@pytest.mark.parametrize(
    "given, full",
    [("3.11", "3.11.13"), ("3.11.7", "3.11.7"), ("3.8", "3.8.20"), ("3.14", "3.14.0"), (" 3.12.1 ", "3.12.1")],
)
def test_python_versions(given, full):
    assert parse_python_version(given) == full


@pytest.mark.parametrize("bad", ["2.7", "3.7", "3.15", "3", "three", "3.11.7.1", "4.0"])
def test_bad_python_versions(bad):
    with pytest.raises(UsageError):
        parse_python_version(bad)


def test_bad_systems_and_options():
    with pytest.raises(UsageError, match="x86_64-linux"):
        Target.create("3.11", "x86_64-windows")
    with pytest.raises(UsageError, match="cpython"):
        Target.create("3.11", implementation="pypy")
    with pytest.raises(UsageError):
        Target.create("3.11", "x86_64-linux", macos="11.0")
    with pytest.raises(UsageError):
        Target.create("3.11", "aarch64-darwin", glibc="2.17")
    with pytest.raises(UsageError):
        Target.create("3.11", glibc="two")


def test_marker_environment_is_the_target_not_the_host():
    target = Target.create("3.8.10", "aarch64-darwin")
    env = target.marker_environment
    assert env["python_version"] == "3.8"
    assert env["python_full_version"] == "3.8.10"
    assert env["implementation_version"] == "3.8.10"
    assert env["sys_platform"] == "darwin"
    assert env["platform_system"] == "Darwin"
    assert env["platform_machine"] == "arm64"
    assert env["platform_release"] == "" and env["platform_version"] == ""
    assert Marker("sys_platform == 'darwin' and python_full_version < '3.8.11'").evaluate(env)
    assert not Marker("platform_machine == 'x86_64'").evaluate(env)
    host = platform.python_version()
    assert env["python_full_version"] != host or host == "3.8.10"


def test_linux_ranking_prefers_specific_cpython_and_newest_manylinux():
    target = Target.create("3.11.7", "x86_64-linux")
    ranks = target.tag_ranks
    assert ranks[Tag("cp311", "cp311", "manylinux_2_40_x86_64")] == 0
    assert ranks[Tag("cp311", "cp311", "manylinux_2_17_x86_64")] < ranks[Tag("cp311", "cp311", "manylinux2014_x86_64")]
    assert ranks[Tag("cp311", "cp311", "manylinux1_x86_64")] < ranks[Tag("cp311", "abi3", "manylinux_2_28_x86_64")]
    assert ranks[Tag("cp311", "abi3", "manylinux1_x86_64")] < ranks[Tag("py3", "none", "any")]
    assert Tag("cp311", "cp311", "linux_x86_64") not in ranks
    assert Tag("cp311", "cp311", "musllinux_1_1_x86_64") not in ranks


@pytest.mark.parametrize(
    "python, system, filename, ok",
    [
        # from the original mach-nix test_providers.py, adapted
        ("3.7", "x86_64-linux", "PyQt5-5.15.0-cp35.cp36.cp37.cp38-abi3-manylinux2014_x86_64.whl", None),
        ("3.8", "x86_64-linux", "PyQt5-5.15.0-cp35.cp36.cp37.cp38-abi3-manylinux2014_x86_64.whl", True),
        ("3.9", "x86_64-linux", "PyQt5-5.15.0-cp35.cp36.cp37.cp38-abi3-manylinux2014_x86_64.whl", True),
        ("3.9", "x86_64-linux", "pymaid-0.3.3-cp39-cp39-manylinux_2_5_x86_64.whl", True),
        (
            "3.8",
            "x86_64-linux",
            "tokenizers-0.10.1-cp38-cp38-manylinux_2_5_x86_64.manylinux1_x86_64.manylinux2010_x86_64.whl",
            True,
        ),
        ("3.10.4", "x86_64-linux", "six-1.16.0-py2.py3-none-any.whl", True),
        ("3.8", "x86_64-linux", "futures-3.3.0-py2-none-any.whl", False),
        ("3.8", "x86_64-darwin", "numpy-1.19.0-cp38-cp38-macosx_10_9_x86_64.whl", True),
        ("3.8", "x86_64-darwin", "numpy-1.19.0-cp35-cp35m-macosx_10_9_x86_64.whl", False),
        ("3.8", "x86_64-darwin", "x-1.0-cp38-cp38-macosx_10_6_intel.whl", True),
        ("3.8", "x86_64-darwin", "x-1.0-cp38-cp38-macosx_10_14_x86_64.whl", False),  # above deployment target 10.12
        ("3.8", "x86_64-darwin", "x-1.0-cp38-cp38-macosx_10_9_universal2.whl", True),
        ("3.11", "aarch64-darwin", "x-1.0-cp311-cp311-macosx_11_0_arm64.whl", True),
        ("3.11", "aarch64-darwin", "x-1.0-cp311-cp311-macosx_14_0_arm64.whl", False),
        ("3.11", "aarch64-darwin", "x-1.0-cp311-cp311-macosx_10_9_x86_64.whl", False),
        # manylinux policy: up to the glibc of the target nixpkgs, arch must match
        ("3.12", "x86_64-linux", "x-1.0-cp312-cp312-manylinux_2_28_x86_64.whl", True),
        ("3.12", "x86_64-linux", "x-1.0-cp312-cp312-manylinux_2_41_x86_64.whl", False),
        ("3.12", "x86_64-linux", "x-1.0-cp312-cp312-manylinux_2_17_aarch64.whl", False),
        ("3.12", "aarch64-linux", "x-1.0-cp312-cp312-manylinux_2_17_aarch64.manylinux2014_aarch64.whl", True),
        ("3.12", "x86_64-linux", "x-1.0-cp312-cp312-musllinux_1_1_x86_64.whl", False),
        ("3.12", "x86_64-linux", "x-1.0-cp312-cp312-win_amd64.whl", False),
        ("3.12", "x86_64-linux", "x-1.0-cp312-cp312t-manylinux_2_17_x86_64.whl", False),
        ("3.12", "x86_64-linux", "x-1.0-cp38-abi3-manylinux_2_17_x86_64.whl", True),
        ("3.12", "x86_64-linux", "x-1.0-cp313-abi3-manylinux_2_17_x86_64.whl", False),
    ],
)
def test_wheel_compatibility(python, system, filename, ok):
    if ok is None:  # 3.7 is not a supported target any more
        with pytest.raises(UsageError):
            Target.create(python, system)
        return
    assert compatible(Target.create(python, system), filename) is ok


def test_glibc_baseline_option():
    old = Target.create("3.11", "x86_64-linux", glibc="2.17")
    assert compatible(old, "x-1.0-cp311-cp311-manylinux2014_x86_64.whl")
    assert not compatible(old, "x-1.0-cp311-cp311-manylinux_2_28_x86_64.whl")


def test_macos_target_option():
    new = Target.create("3.11", "aarch64-darwin", macos="14.0")
    assert compatible(new, "x-1.0-cp311-cp311-macosx_14_0_arm64.whl")
    assert new.to_json() == {
        "python": "3.11.13",
        "implementation": "cpython",
        "system": "aarch64-darwin",
        "glibc": None,
        "macos": "14.0",
    }
