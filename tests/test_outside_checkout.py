"""mach-nix outside its checkout (issue 13 item 8).

* A plain ``pip install`` of the wheel (built here from the work tree, offline) runs
  ``mach-nix env ./env -r requirements.txt`` from another directory: the CLI finds its Nix
  library in its package data, pins it, and ``nix-shell ./env`` works; nixpkgs comes from
  ``<nixpkgs>`` with a ``mach-nix:`` error when there is none; the files hold no absolute path.
* The flake CLI (``nix run .#mach-nix``) knows its database and library: the same pin.
* ``nix flake init -t`` works offline, and the template names the repository of one place.

This module deliberately runs an *installed* copy of mach_nix (in a ``--target`` directory),
never the work tree's: ``PYTHONPATH`` is replaced for those subprocesses.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import nixhelpers
from generated_files import absolute_paths
from hook_helpers import WHEELS
from mach_nix.commands import nixsource
from nixhelpers import DOUBLE, REPO

pytestmark = pytest.mark.nix

DB = REPO / "tests" / "data" / "pypi-db"
SOURCES = ["pyproject.toml", "README.md", "VERSION", "default.nix", "lib", "overrides", "resolver"]
#: What the flake reads (a `path:` flake of the work tree would copy its .venv into the store).
FLAKE_SOURCES = [*SOURCES, "flake.nix", "examples", "tests/data/pypi-db"]


def copy_sources(names: list[str], tree: Path) -> Path:
    """The named files and directories of the work tree, copied into ``tree`` (links kept)."""
    for name in names:
        source, target = REPO / name, tree / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "flake.lock", "result")
            shutil.copytree(source, target, symlinks=True, ignore=ignore)
        else:
            shutil.copy2(source, target)
    return tree


@pytest.fixture(scope="module")
def flake(tmp_path_factory) -> Path:
    """The flake's sources, as the flake sees them."""
    return copy_sources(FLAKE_SOURCES, tmp_path_factory.mktemp("flake") / "mach-nix")


def pin_of(sources_nix: str) -> str:
    match = re.search(r'sha256 = "([0-9a-z]{52})";', sources_nix)
    assert match, sources_nix
    return match.group(1)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """mach-nix installed from its wheel into a directory of its own (no network: the build
    backend comes from the test wheels of scripts/install-deps)."""
    if not list(WHEELS.glob("setuptools-82*.whl")):
        pytest.skip(f"no setuptools wheel in {WHEELS} (scripts/install-deps downloads it)")
    root = tmp_path_factory.mktemp("wheel")
    tree = copy_sources(SOURCES, root / "src")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-index", "--find-links", str(WHEELS), "-w", str(root / "dist"), str(tree)],
        check=True,
        capture_output=True,
    )
    (wheel,) = (root / "dist").glob("mach_nix-*.whl")
    target = root / "site"
    subprocess.run([*pip, "install", "--no-deps", "--no-index", "--target", str(target), str(wheel)], check=True)
    return target


def run_installed(installed: Path, args: list[str], cwd: Path, **extra: str) -> subprocess.CompletedProcess:
    env = {**nixhelpers.nix_env(), "PYTHONPATH": str(installed), **extra}
    return subprocess.run([sys.executable, "-m", "mach_nix", *args], cwd=cwd, env=env, capture_output=True, text=True)


def test_installed_cli_writes_an_env_that_works_from_anywhere(nix, installed, tmp_path):
    if not nix.uses_double():
        pytest.skip("nix-shell finds the double on NIX_PATH")
    version = nix.eval_json(f"(import {DOUBLE} {{}}).python3.version")
    code = "import mach_nix.commands.nixsource as s; print(s.__file__, s.library_root())"
    where = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(installed)}, capture_output=True, text=True
    )
    module, library = where.stdout.split()
    assert module.startswith(str(installed)) and library == str(installed / "mach_nix" / "nix")

    work = tmp_path / "work"
    work.mkdir()
    (work / "requirements.txt").write_text("six\n")
    proc = run_installed(
        installed, ["env", "./env", "-r", "requirements.txt", "--python", version], work, MACH_NIX_DB=str(DB)
    )
    assert proc.returncode == 0, proc.stderr
    env_dir = work / "env"
    for path in env_dir.glob("*.nix"):
        assert absolute_paths(path.read_text()) == [], path.name
    # The installed library is the checkout's: the same pin.
    assert pin_of((env_dir / "sources.nix").read_text()) == pin_of(nixsource.own_library().expr)

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shell = ["nix-shell", str(env_dir), "--run", "python -c 'import six; print(six.__version__)'"]
    with_path = nix.run([*shell, "-I", f"nixpkgs={DOUBLE}"], cwd=elsewhere)
    assert with_path.stdout.split() == ["1.17.0"]
    without = nix.run(shell, cwd=elsewhere, check=False)
    assert without.returncode != 0 and "mach-nix: no nixpkgs: add it to NIX_PATH" in without.stderr


def test_flake_cli_knows_its_database_and_library(nix, flake, tmp_path):
    if not nix.uses_double():
        pytest.skip("overrides the flake's nixpkgs with the double")
    version = nix.eval_json(f"(import {DOUBLE} {{}}).python3.version")
    (tmp_path / "requirements.txt").write_text("six\n")
    env = {k: v for k, v in nixhelpers.nix_env().items() if k != "MACH_NIX_DB"}
    proc = subprocess.run(
        ["nix", "run", f"path:{flake}#mach-nix", "--override-input", "nixpkgs", f"path:{DOUBLE}", "--"]
        + ["env", "./env", "-r", "requirements.txt", "--python", version],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert pin_of((tmp_path / "env" / "sources.nix").read_text()) == pin_of(nixsource.own_library().expr)
    lock = json.loads((tmp_path / "env" / "mach-nix.lock.json").read_text())
    assert lock["roots"] == ["six"]


def test_flake_template_inits_offline_and_builds(nix, flake, tmp_path):
    if not nix.uses_double():
        pytest.skip("overrides the flake's nixpkgs with the double")
    nix.run(["nix", "flake", "init", "-t", f"path:{flake}/examples"], cwd=tmp_path)
    flake = (tmp_path / "flake.nix").read_text()
    assert f'inputs.mach-nix.url = "{nixsource.FLAKE_REF}";' in flake
    system = nix.eval_json(f"(import {DOUBLE} {{}}).system")
    overrides = [
        "--override-input",
        "mach-nix",
        f"path:{REPO}",
        "--override-input",
        "mach-nix/nixpkgs",
        f"path:{DOUBLE}",
    ]
    out = nix.run(["nix", "build", "--no-link", "--json", f"path:{tmp_path}#default", *overrides], cwd=tmp_path)
    env = json.loads(out.stdout)[0]["outputs"]["out"]
    subprocess.run([f"{env}/bin/python", "-c", "import requests"], check=True)
    shell = nix.run(["nix", "eval", "--raw", f"path:{tmp_path}#devShells.{system}.default.drvPath", *overrides])
    assert shell.stdout.startswith("/nix/store/")


def test_the_repository_is_named_in_one_place():
    """The template's input and the README's "Outside the checkout" name nixsource.REPOSITORY."""
    template = (REPO / "examples" / "flake-template" / "flake.nix").read_text()
    assert re.findall(r'inputs\.mach-nix\.url = "([^"]+)";', template) == [nixsource.FLAKE_REF]
    assert f"`{nixsource.REPOSITORY}`" in (REPO / "README.md").read_text()
