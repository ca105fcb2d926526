"""What a build backend's ``get_requires_for_build_wheel`` returns is installed before its metadata
hook (as pip does), recorded after the static ``[build-system] requires`` and locked in the sdist's
build closure: real hooks in the real sandbox, build requirements from the local wheels, the
on-demand fetch from the loopback registry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fakepypi import FakePyPI, LoopbackRegistry
from hook_helpers import make_sdist, new_runner, offline_pip_args
from lockcheck import check_lock
from mach_nix.cli import main
from mach_nix.db.cache_layer import CacheLayer, default_cache_dir
from mach_nix.db.extract import ExtractError
from mach_nix.db.pep517 import merge_requirements
from mach_nix.db.store import open_database

#: An in-tree backend wrapping setuptools' whose ``get_requires_for_build_wheel`` adds ``EXTRA``;
#: when ``wheel`` is one of them, its metadata hook fails unless ``wheel`` was installed in the
#: build environment (``/env`` in the sandbox; setuptools' own vendored copy does not count)
#: before it is called, as pip does.
BACKEND = """
import importlib.util
from setuptools import build_meta as _meta

EXTRA = {extra!r}

def get_requires_for_build_wheel(config_settings=None):
    return _meta.get_requires_for_build_wheel(config_settings) + EXTRA

def prepare_metadata_for_build_wheel(outdir, config_settings=None):
    spec = importlib.util.find_spec("wheel")
    if "wheel" in EXTRA and not (spec and spec.origin == "/env/wheel/__init__.py"):
        raise RuntimeError("wheel was not installed before the metadata hook")
    return _meta.prepare_metadata_for_build_wheel(outdir, config_settings)

build_wheel = _meta.build_wheel
"""


def hook_sdist(name: str, extra: list[str]) -> bytes:
    """``name``-1.0's sdist: static requires ``setuptools``, the backend adds ``extra``."""
    return make_sdist(
        {
            "pyproject.toml": '[build-system]\nrequires = ["setuptools"]\n'
            'build-backend = "backend"\nbackend-path = ["."]\n',
            "backend.py": BACKEND.format(extra=extra),
            "setup.py": "from setuptools import setup\n"
            f"setup(name={name!r}, version='1.0', install_requires=['six'])\n",
        },
        top=f"{name}-1.0",
    )


@pytest.fixture(scope="module")
def runner():
    with new_runner(pip_args=offline_pip_args()) as hooks:
        yield hooks


def test_the_hooks_requirements_are_installed_first_and_recorded_after_the_static_ones(runner) -> None:
    meta = runner.metadata("demo-1.0.tar.gz", hook_sdist("demo", ["wheel", "Setuptools"]))
    assert meta.source == "pep517" and meta.requires_dist == ("six",)
    # the static requirement first; the hook's "Setuptools" is the same requirement, not repeated
    assert meta.build_requires == ("setuptools", "wheel")


def test_a_requirement_that_cannot_be_installed_is_recorded_all_the_same(runner) -> None:
    meta = runner.metadata("demo-1.0.tar.gz", hook_sdist("demo", ["no-such-build-tool>=1; python_version>'3'"]))
    assert meta.requires_dist == ("six",)
    assert meta.build_requires == ("setuptools", "no-such-build-tool>=1; python_version>'3'")


def test_an_invalid_requirement_from_the_hook_is_a_hook_error(runner) -> None:
    with pytest.raises(ExtractError) as info:
        runner.metadata("demo-1.0.tar.gz", hook_sdist("demo", ["not a requirement!"]))
    assert info.value.kind == "hook-error" and "invalid requirement 'not a requirement!'" in info.value.reason


def test_merge_requirements_keeps_order_and_compares_normalised() -> None:
    merged = merge_requirements(["Foo_Bar[B,a]>=1", "x; python_version < '3.11'"], ["foo-bar[a,b]>=1", "x", "y"])
    assert merged == ("Foo_Bar[B,a]>=1", "x; python_version < '3.11'", "x", "y")


def test_lock_puts_the_hooks_requirement_in_the_sdists_build_closure(tmp_path: Path, monkeypatch, capsys) -> None:
    """hooklib is an sdist whose PKG-INFO is too old: the on-demand fetch runs its hook, which asks
    for ``wheel`` beyond the static ``setuptools``; the lock's build closure of hooklib has both."""
    pip = offline_pip_args()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", pip[-1])
    monkeypatch.setenv("MACH_NIX_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MACH_NIX_NO_SERVER", "1")
    monkeypatch.delenv("MACH_NIX_DB", raising=False)
    db = FakePyPI().add("hooklib", "1.0", files=["hooklib-1.0.tar.gz"], file_meta=[None]).add("six", "1.16.0")
    db.add("setuptools", "82.0.0").add("wheel", "0.45.1")
    with LoopbackRegistry(db) as registry:
        registry.sdists["hooklib-1.0.tar.gz"] = hook_sdist("hooklib", ["wheel"])
        monkeypatch.setenv("MACH_NIX_INDEX_URL", registry.index)
        code = main(["lock", "hooklib", "-o", "-"])
        out = capsys.readouterr()
        assert code == 0, out.err
        lock = json.loads(out.out)
        layer_dir = default_cache_dir(registry.index)
        CacheLayer(layer_dir, registry.index).wait()
    layer = open_database([layer_dir])
    project = layer.project("hooklib")
    assert project is not None
    (meta,) = project.releases["1.0"].metadata
    assert meta.source == "pep517" and meta.build_requires == ("setuptools", "wheel")
    entry = lock["packages"]["hooklib"]
    assert entry["provider"] == "sdist" and entry["build_requires"] == ["setuptools", "wheel"]
    assert sorted(entry["build_system"]) == ["setuptools==82.0.0", "wheel==0.45.1"]
    assert check_lock(lock, ["hooklib"], layer) == []
