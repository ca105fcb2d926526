"""Local, archive and VCS sources of a lock, built by Nix through the double (issue 13 item 7).

A lock written by ``mach-nix lock`` names a local project by its path relative to the lock
(built from a copy of the directory, without .git and caches), a local archive by path and
sha256 (built from the archive), a git source by commit (``builtins.fetchGit`` with ``rev``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from hook_helpers import WHEELS, make_sdist, offline_pip_args
from nixhelpers import CLI, REPO
from test_local_sources import git

pytestmark = pytest.mark.nix

DB = REPO / "tests" / "data" / "pypi-db"
LOCAL = REPO / "tests" / "data" / "local"


def mach_nix_lock(cwd: Path, *argv: str) -> None:
    env = {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(WHEELS), "MACH_NIX_NO_SERVER": "1"}
    offline_pip_args()
    result = subprocess.run(
        [*CLI, "lock", "--db", str(DB), "--offline", *argv],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def env_of(pkgs_expr: str, lock: Path) -> str:
    return f"""let
      pkgs = {pkgs_expr};
      machNix = import {REPO} {{ inherit pkgs; pypiData = {DB}; }};
    in machNix.mkPython {{ lock = {lock}; }}"""


def run_python(env: str, code: str) -> str:
    return subprocess.run([f"{env}/bin/python", "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def test_local_projects_and_an_archive_are_built_from_their_sources(nix, pkgs_expr, tmp_path: Path) -> None:
    for project in ("pep621-app", "setupcfg-lib", "setuppy-only"):
        shutil.copytree(LOCAL / project, tmp_path / project)
    (tmp_path / "pep621-app" / ".git").mkdir()  # never copied to the store
    (tmp_path / "pep621-app" / ".git" / "big").write_text("x" * 1000)
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / "archived-1.5.tar.gz").write_bytes(
        make_sdist(
            {
                "pyproject.toml": '[build-system]\nrequires = ["setuptools>=61"]\n'
                'build-backend = "setuptools.build_meta"\n'
                '[project]\nname = "archived"\nversion = "1.5"\n'
                'dependencies = ["six"]\n',
                "archived.py": "X = 15\n",
            },
            top="archived-1.5",
        )
    )
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "requirements.txt").write_text(
        "../pep621-app[dates]\n-e ../setupcfg-lib\n../setuppy-only\n../dist/archived-1.5.tar.gz\n"
    )
    mach_nix_lock(tmp_path, "-r", "app/requirements.txt", "-o", "app/mach-nix.lock.json")
    lock = json.loads((tmp_path / "app" / "mach-nix.lock.json").read_text())
    assert lock["packages"]["archived"]["source"]["path"] == "../dist/archived-1.5.tar.gz"
    env = nix.build(env_of(pkgs_expr, tmp_path / "app" / "mach-nix.lock.json"))
    out = run_python(
        env,
        "import local_app, setupcfg_lib, setuppy_only, archived, dateutil, attrs;"
        "print(local_app.GREETING, setupcfg_lib.VALUE, setuppy_only.NAME, archived.X, local_app.__file__)",
    )
    greeting, value, name, x, path = out.rsplit(" ", 4)
    assert (greeting, value, name, x) == ("hello from local-app", "42", "setuppy-only", "15")
    assert path.startswith(env + "/"), "imported from the environment, not from the source tree"
    assert (Path(env) / "bin" / "local-app").exists(), "the project's console script"
    src = nix.eval_json(
        f"""let pkgs = {pkgs_expr}; machNix = import {REPO} {{ inherit pkgs; pypiData = {DB}; }};
        in toString (machNix.mkPython {{ lock = {tmp_path}/app/mach-nix.lock.json; }}).python.pkgs.local-app.src"""
    )
    assert not (Path(src) / ".git").exists() and (Path(src) / "pyproject.toml").exists()


def test_a_git_source_is_fetched_by_its_locked_commit(nix, pkgs_expr, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(LOCAL / "pep621-app", repo)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "one")
    git(repo, "tag", "v0.1")
    pyproject = repo / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('version = "0.1.0"', 'version = "0.2.0"'))
    git(repo, "commit", "-qam", "two")
    mach_nix_lock(tmp_path, f"git+file://{repo}@v0.1", "-o", "mach-nix.lock.json")
    git(repo, "tag", "-f", "v0.1")  # the tag moves: the lock's commit stays what it was
    env = nix.build(env_of(pkgs_expr, tmp_path / "mach-nix.lock.json"))
    version = run_python(env, "import importlib.metadata as m; print(m.version('local-app'))")
    assert version == "0.1.0"


def test_a_parsed_lock_with_a_local_source_asks_for_the_path(nix, pkgs_expr, tmp_path: Path) -> None:
    shutil.copytree(LOCAL / "setupcfg-lib", tmp_path / "setupcfg-lib")
    (tmp_path / "requirements.txt").write_text("./setupcfg-lib\n")
    mach_nix_lock(tmp_path, "-r", "requirements.txt", "-o", "mach-nix.lock.json")
    expr = f"""let pkgs = {pkgs_expr}; machNix = import {REPO} {{ inherit pkgs; pypiData = {DB}; }};
      in machNix.mkPython {{ lock = builtins.fromJSON (builtins.readFile {tmp_path}/mach-nix.lock.json); }}"""
    proc = nix.build(expr, check=False)
    assert proc.returncode != 0
    assert "give the lock as a path (lock = ./mach-nix.lock.json;)" in proc.stderr
    data = json.loads((tmp_path / "mach-nix.lock.json").read_text())
    data["packages"]["setupcfg-lib"]["source"]["path"] = str(tmp_path / "setupcfg-lib")
    (tmp_path / "edited.json").write_text(json.dumps(data))
    proc = nix.build(env_of(pkgs_expr, tmp_path / "edited.json"), check=False)
    assert proc.returncode != 0 and "packages.setupcfg-lib.source.path is the absolute path" in proc.stderr


def test_mkpython_takes_dependency_groups(nix, pkgs_expr, tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "grouped"\nversion = "1"\ndependencies = ["six"]\n'
        '[dependency-groups]\ntest = ["attrs"]\ndev = [{include-group = "test"}, "idna"]\n'
    )
    expr = f"""let pkgs = {pkgs_expr}; machNix = import {REPO} {{ inherit pkgs; pypiData = {DB}; }};
      in (machNix.mkPython {{ pyproject = {tmp_path}/pyproject.toml; groups = [ "dev" ]; }}).lock.roots"""
    assert nix.eval_json(expr) == ["attrs", "idna", "six"]
