"""The hook's retries and fallbacks for the failure classes of legacy sdists (issue 10 item 3).

Each sdist is built here after a class the coverage sample met on PyPI; build requirements
come from the local wheel directory (tests/hook_helpers.py), never from the network.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hook_helpers import make_sdist, new_runner, offline_pip_args
from mach_nix.db.extract import ExtractError, read_sdist, static_metadata
from mach_nix.db.hook_retry import Attempt, next_attempt, python2_only
from mach_nix.db.pep517 import HookLimits, HookRunner


@pytest.fixture(scope="module")
def runner() -> Iterator[HookRunner]:
    hook_runner = new_runner(HookLimits(timeout=60, memory_bytes=2 * 1024**3), pip_args=offline_pip_args())
    yield hook_runner
    hook_runner.close()


def legacy(setup_py: str, top: str = "demo-1.0", **files: str) -> bytes:
    """A legacy sdist: a setup.py and no pyproject.toml (PEP 517's default setuptools backend)."""
    return make_sdist({"setup.py": setup_py, **files}, top=top)


USE_2TO3 = """
from setuptools import setup
setup(name="demo", version="1.0", install_requires=["six>=1.0"], use_2to3=True)
"""


def test_use_2to3_retries_with_an_older_setuptools_installed_once(runner: HookRunner) -> None:
    installs = runner.envs.installs
    meta = runner.metadata("demo-1.0.tar.gz", legacy(USE_2TO3))
    assert meta.requires_dist == ("six>=1.0",) and meta.source == "pep517"
    assert meta.build_requires == ("setuptools>=40.8.0",)  # what the sdist declares, not what the retry used
    again = runner.metadata("demo-2.0.tar.gz", legacy(USE_2TO3.replace("1.0", "2.0"), top="demo-2.0"))
    assert again.requires_dist == ("six>=2.0",)
    # the default environment and the setuptools<58 one, each installed once for both sdists
    assert runner.envs.installs - installs <= 2


@pytest.mark.parametrize(
    "setup_py",
    [
        "from setuptools import setup\nprint 'building demo'\nsetup(name='demo', version='1.0')\n",
        "from setuptools import setup\ntry:\n    import foo\nexcept ImportError, e:\n    pass\nsetup(name='demo')\n",
        "import urllib2\nfrom setuptools import setup\nsetup(name='demo', version='1.0')\n",
        "from setuptools import setup\nsetup(name='demo', version='1.0', description=unicode('x'))\n",
    ],
    ids=["print-statement", "except-comma", "urllib2", "unicode"],
)
def test_python2_only_code_is_its_own_failure_kind(runner: HookRunner, setup_py: str) -> None:
    with pytest.raises(ExtractError) as info:
        runner.metadata("demo-1.0.tar.gz", legacy(setup_py))
    assert info.value.kind == "python2-only", info.value.reason
    assert "Python 2" in info.value.reason


def test_undeclared_import_is_added_to_the_build_environment(runner: HookRunner) -> None:
    setup_py = (
        "import six\nfrom setuptools import setup\nsetup(name='demo', version='1.0', install_requires=['attrs'])\n"
    )
    meta = runner.metadata("demo-1.0.tar.gz", legacy(setup_py))
    assert meta.requires_dist == ("attrs",) and meta.source == "pep517"


def test_missing_readme_and_license_get_placeholders(runner: HookRunner) -> None:
    setup_py = """
from setuptools import setup
setup(name="demo", version="1.0", long_description=open("README.rst").read() + open("docs/LICENSE.txt").read(),
      install_requires=["attrs>=20"])
"""
    meta = runner.metadata("demo-1.0.tar.gz", legacy(setup_py))
    assert meta.requires_dist == ("attrs>=20",) and meta.source == "pep517"


def test_a_missing_requirements_file_is_not_replaced_by_a_placeholder(runner: HookRunner) -> None:
    setup_py = """
from setuptools import setup
setup(name="demo", version="1.0", install_requires=open("requirements.txt").read().split())
"""
    with pytest.raises(ExtractError) as info:
        runner.metadata("demo-1.0.tar.gz", legacy(setup_py))
    assert info.value.kind == "hook-error" and "requirements.txt" in info.value.reason


def test_pkg_resources_and_collections_abcs(runner: HookRunner) -> None:
    pkg_resources = "import pkg_resources\nfrom setuptools import setup\nsetup(name='demo', install_requires=['a'])\n"
    assert runner.metadata("demo-1.0.tar.gz", legacy(pkg_resources)).requires_dist == ("a",)
    abcs = "from collections import Mapping\nfrom setuptools import setup\nsetup(name='demo', install_requires=['b'])\n"
    assert runner.metadata("demo-1.0.tar.gz", legacy(abcs)).requires_dist == ("b",)


MISSING_TOOL = """
import os
from setuptools import setup
libs = os.popen("mecab-config --libs").readlines()[0].split()  # the tool is not on the build machine
deps = ["six"]
setup(name="demo", version="1.0", install_requires=deps, python_requires=">=3.6",
      extras_require={"fast": ["cffi>=1.0"], ":sys_platform == 'win32'": ["colorama"]})
"""


def test_missing_system_tool_falls_back_to_a_static_read(runner: HookRunner) -> None:
    meta = runner.metadata("demo-1.0.tar.gz", legacy(MISSING_TOOL))
    assert meta.source == "static"
    assert meta.requires_dist == ("six", "colorama; (sys_platform == 'win32')", 'cffi>=1.0; extra == "fast"')
    assert meta.requires_python == ">=3.6" and meta.provides_extras == ("fast",)


def test_a_deliberate_refusal_gets_no_static_answer(runner: HookRunner) -> None:
    setup_py = (
        "import sys\nraise RuntimeError('Only meant for install on OS X')\nfrom setuptools import setup\nsetup()\n"
    )
    with pytest.raises(ExtractError) as info:
        runner.metadata("demo-1.0.tar.gz", legacy(setup_py))
    assert info.value.kind == "hook-error" and "Only meant for install on OS X" in info.value.reason


def test_static_read_refuses_computed_values() -> None:
    def read(setup_py: str, **files: str):
        return static_metadata(read_sdist("demo-1.0.tar.gz", legacy(setup_py, **files)))

    assert read("from setuptools import setup\nsetup(install_requires=['a'] + ['b>1'])\n").requires_dist == ("a", "b>1")
    assert read("from setuptools import setup\nreqs = ['a']\nreqs.append('b')\nsetup(install_requires=reqs)\n") is None
    assert read("from setuptools import setup\nsetup(install_requires=open('r.txt').read().split())\n") is None
    assert read("from setuptools import setup\nkw = {}\nsetup(**kw)\n") is None
    assert read("print 'x'\n") is None
    # setup.cfg completes what setup.py does not pass
    cfg = "[options]\ninstall_requires =\n    attrs>=20\npython_requires = >=3.8\n[options.extras_require]\nx = b\n"
    meta = read("from setuptools import setup\nsetup()\n", **{"setup.cfg": cfg})
    assert meta is not None and meta.requires_dist == ("attrs>=20", 'b; extra == "x"')
    assert meta.requires_python == ">=3.8" and meta.source == "static"
    # a PKG-INFO of Metadata-Version 2.1 lists what the author's build computed
    pkg_info = "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\nRequires-Dist: idna\n"
    meta = read("import os\nsetup(install_requires=os.environ['X'])\n", **{"PKG-INFO": pkg_info})
    assert meta is not None and meta.requires_dist == ("idna",) and meta.source == "static"


def test_retry_rules() -> None:
    base = Attempt(("setuptools>=40.8.0",))
    log = 'Traceback ...\n  File "/build/src/demo-1.0/setup.py", line 3\n'
    log += "error in demo setup command: use_2to3 is invalid.\n"
    pinned = next_attempt(base, log, frozenset(), "/build/src/demo-1.0", "setuptools.build_meta:__legacy__")
    assert pinned is not None and pinned.requires == ("setuptools<58", "wheel<0.46")
    assert next_attempt(pinned, log, frozenset(), "/build/src/demo-1.0", "setuptools.build_meta:__legacy__") is None
    missing = "ModuleNotFoundError: No module named 'yaml'\n"
    added = next_attempt(base, missing, frozenset(), "/x", "setuptools.build_meta:__legacy__")
    assert added is not None and added.added == ("PyYAML",)
    # the sdist's own module, a standard-library one: nothing to install
    assert next_attempt(base, missing, frozenset({"yaml"}), "/x", "hatchling.build") is None
    assert next_attempt(base, "ModuleNotFoundError: No module named 'distutils.x'\n", frozenset(), "/x", "b") is None
    outside = "FileNotFoundError: [Errno 2] No such file or directory: '/etc/README'\n"
    assert next_attempt(base, outside, frozenset(), "/build/src/demo-1.0", "b") is None
    assert python2_only("ModuleNotFoundError: No module named 'numpy'\n", "/build/src") is None


def test_reasons_keep_the_paths_the_sdist_names(runner: HookRunner) -> None:
    setup_py = "raise RuntimeError('needs /usr/bin/gcc-99 and /usr/include/foo.h')\n"
    with pytest.raises(ExtractError) as info:
        runner.metadata("demo-1.0.tar.gz", legacy(setup_py))
    assert "needs /usr/bin/gcc-99 and /usr/include/foo.h" in info.value.reason
