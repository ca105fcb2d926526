"""The hook runs on an interpreter the confinement user cannot reach on the host (issue 10 item 4).

The crawler's interpreter often lives where only its owner can read it (pyenv under
``/root``, as on CI machines and developers' ones). The hook must still run on *that*
interpreter and its own standard library, as the confinement user (not as root, and not
with ``true``), fail loudly when it cannot, and record no path of the crawl machine.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from hook_helpers import make_sdist, new_runner, offline_pip_args
from mach_nix.db.extract import ExtractError
from mach_nix.db.hook_sandbox import PYTHON_INSIDE, SandboxUnavailable
from mach_nix.db.pep517 import HookLimits, HookRunner

VERSION = f"{sys.version_info[0]}.{sys.version_info[1]}"


def private_interpreter(root: Path, with_stdlib: bool = True) -> Path:
    """This Python's base interpreter, set up under ``root`` (mode 0700): only its owner reaches it."""
    root.chmod(0o700)
    prefix = root / "python"
    (prefix / "bin").mkdir(parents=True)
    executable = prefix / "bin" / f"python{VERSION}"
    shutil.copy2(os.path.realpath(getattr(sys, "_base_executable", sys.executable)), executable)
    (prefix / "lib").mkdir()
    for lib in glob.glob(os.path.join(sys.base_prefix, "lib", "libpython*")):
        shutil.copy2(lib, prefix / "lib")
    stdlib = sysconfig.get_paths()["stdlib"]
    if with_stdlib:
        if Path(stdlib).resolve().parts[1] == "usr":  # visible in the sandbox: a link is enough
            (prefix / "lib" / f"python{VERSION}").symlink_to(stdlib)
        else:
            ignore = shutil.ignore_patterns("site-packages", "__pycache__", "test", "idlelib", "tkinter")
            shutil.copytree(stdlib, prefix / "lib" / f"python{VERSION}", ignore=ignore, symlinks=True)
    return executable


@pytest.fixture(scope="module")
def private_python() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="mach-nix-test-private-"))
    yield private_interpreter(root)
    shutil.rmtree(root)


REPORT = """
import os, sys
from setuptools import setup
if os.environ.get("FAIL"):
    raise RuntimeError("stdlib at " + os.path.dirname(os.__file__) + " run by " + sys.executable)
setup(name="demo", version="1.0", install_requires=["uid%d" % os.getuid(), "prefix" + sys.prefix.replace("/", "-")])
"""


@pytest.fixture(scope="module")
def runner(private_python: Path) -> Iterator[HookRunner]:
    hook_runner = new_runner(HookLimits(timeout=60), python=str(private_python), pip_args=offline_pip_args())
    yield hook_runner
    hook_runner.close()


def test_hook_runs_on_an_interpreter_only_root_can_reach(runner: HookRunner, private_python: Path) -> None:
    if os.geteuid() == 0 and shutil.which("setpriv"):
        # the premise: another user cannot read it on the host
        drop = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        assert subprocess.run([*drop, "test", "-r", str(private_python)]).returncode != 0
    meta = runner.metadata("demo-1.0.tar.gz", make_sdist({"setup.py": REPORT}))  # legacy setup.py, real setuptools
    uid, prefix = meta.requires_dist
    assert uid != "uid0"  # as the confinement user
    assert prefix == "prefix" + PYTHON_INSIDE.replace("/", "-")  # on its own standard library


def test_failure_reasons_name_no_path_of_the_crawl_machine(runner: HookRunner, private_python: Path) -> None:
    sdist = make_sdist({"setup.py": REPORT.replace('os.environ.get("FAIL")', "True")})
    with pytest.raises(ExtractError) as info:
        runner.metadata("demo-1.0.tar.gz", sdist)
    reason = info.value.reason
    assert "stdlib at <stdlib> run by <python>" in reason, reason
    assert str(private_python.parent.parent) not in reason and str(Path.home()) not in reason


def test_an_interpreter_that_cannot_run_confined_fails_loudly(tmp_path: Path) -> None:
    root = Path(tempfile.mkdtemp(prefix="mach-nix-test-broken-"))
    try:
        # no standard library next to it: it would run on the system's (the silent failure)
        bare = private_interpreter(root, with_stdlib=False)
        with pytest.raises(SandboxUnavailable) as info:
            HookRunner(HookLimits(timeout=30), python=str(bare))
        assert "MACH_NIX_HOOK_PYTHON" in str(info.value)
        # not readable by the confinement user: it cannot start at all
        if os.geteuid() == 0:
            unreadable = private_interpreter(Path(tempfile.mkdtemp(dir=root)))
            unreadable.chmod(0o700)
            with pytest.raises(SandboxUnavailable) as info:
                HookRunner(HookLimits(timeout=30), python=str(unreadable))
            assert "confinement user" in str(info.value)
    finally:
        shutil.rmtree(root)


#: pyenv's interpreters on this machine (pyenv lives under its user's home, unreadable by the
#: confinement user when that is root's, as on CI and our machines).
PYENV_ROOT = os.environ.get("PYENV_ROOT") or os.path.join(Path.home(), ".pyenv")
PYENV = sorted(glob.glob(os.path.join(PYENV_ROOT, "versions", "3.1[1-9]*", "bin", "python3")))


@pytest.mark.skipif(not PYENV, reason="no pyenv interpreter on this machine")
def test_a_real_pyenv_interpreter_under_root() -> None:
    with new_runner(HookLimits(timeout=60), python=PYENV[-1], pip_args=offline_pip_args()) as pyenv:
        meta = pyenv.metadata("demo-1.0.tar.gz", make_sdist({"setup.py": REPORT}))
        assert meta.requires_dist[1] == "prefix" + PYTHON_INSIDE.replace("/", "-")
