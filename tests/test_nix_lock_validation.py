"""Tampered locks through ``mkPython { lock = …; }``: one ``mach-nix:`` error naming the field
and the command that regenerates the lock, never a bare Nix error or a silent acceptance.

The corpus of tampered locks, one per field and kind of damage, is evaluated purely in
``tests/nix/lock.nix`` (``test_nix_unit.py``); these cases show the whole message as a user
sees it, for the lock written by ``mach-nix lock`` and edited afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from nixhelpers import CLI, REPO

pytestmark = pytest.mark.nix

DB = Path(os.environ.get("MACH_NIX_TEST_DB", REPO / "tests" / "data" / "pypi-db"))
NO_IFD = ["--option", "allow-import-from-derivation", "false"]


@pytest.fixture(scope="module")
def written(nix, pkgs_expr, tmp_path_factory) -> tuple[dict, str]:
    """A lock of `requests` written by the CLI for the nixpkgs under test, and its Python version."""
    version = nix.eval_json(f"({pkgs_expr}).python3.version")
    system = nix.eval_json(f"({pkgs_expr}).stdenv.hostPlatform.system")
    out = tmp_path_factory.mktemp("lock") / "mach-nix.lock.json"
    subprocess.run(
        [*CLI, "lock", "requests", "--python", version, "--system", system, "--db", str(DB), "-o", str(out)],
        check=True,
        capture_output=True,
    )
    return json.loads(out.read_text()), version


def evaluate(nix, pkgs_expr, tmp_path: Path, lock: dict) -> subprocess.CompletedProcess:
    path = tmp_path / "tampered.lock.json"
    path.write_text(json.dumps(lock))
    expr = f"""let pkgs = {pkgs_expr}; machNix = import {REPO} {{ inherit pkgs; pypiData = {DB}; }};
      in (machNix.mkPython {{ lock = {path}; }}).drvPath"""
    return nix.eval_json(expr, check=False, extra=NO_IFD)


def refused(nix, pkgs_expr, tmp_path: Path, lock: dict, version: str) -> str:
    proc = evaluate(nix, pkgs_expr, tmp_path, lock)
    assert proc.returncode != 0
    assert f"mach-nix: {tmp_path}/tampered.lock.json is not a valid mach-nix lock" in proc.stderr, proc.stderr
    assert f"mach-nix lock -r requirements.txt --python {version} " in proc.stderr
    assert "-o tampered.lock.json" in proc.stderr
    # Nix's own messages for a missing attribute or a wrong type never get that far.
    assert "attribute '" not in proc.stderr and "value is" not in proc.stderr, proc.stderr
    return proc.stderr


def test_the_written_lock_evaluates_without_ifd(nix, pkgs_expr, tmp_path, written):
    lock, _ = written
    proc = evaluate(nix, pkgs_expr, tmp_path, lock)
    assert proc.returncode == 0, proc.stderr


def test_missing_sha256_names_the_field(nix, pkgs_expr, tmp_path, written):
    lock, version = json.loads(json.dumps(written[0])), written[1]
    del lock["packages"]["requests"]["artifact"]["sha256"]
    assert "  packages.requests.artifact.sha256 is missing\n" in refused(nix, pkgs_expr, tmp_path, lock, version)


def test_wrong_types_name_the_fields(nix, pkgs_expr, tmp_path, written):
    lock, version = json.loads(json.dumps(written[0])), written[1]
    lock["packages"]["idna"]["version"] = 3
    lock["target"]["python"] = None
    stderr = refused(nix, pkgs_expr, tmp_path, lock, version)
    assert "  target.python must be a string, not null\n" in stderr
    assert "  packages.idna.version must be a string, not 3\n" in stderr


def test_dangling_dependency_and_root_are_refused(nix, pkgs_expr, tmp_path, written):
    """Both were accepted before: the environment silently lacked the package."""
    lock, version = json.loads(json.dumps(written[0])), written[1]
    lock["packages"]["requests"]["dependencies"].append("pysocks")
    lock["roots"].append("flask")
    stderr = refused(nix, pkgs_expr, tmp_path, lock, version)
    assert f'  roots[{len(lock["roots"]) - 1}] is "flask", which is not a key of packages\n' in stderr
    index = len(lock["packages"]["requests"]["dependencies"]) - 1
    assert f'  packages.requests.dependencies[{index}] is "pysocks", which is not a key of packages\n' in stderr


def test_key_differing_from_name_and_empty_name_are_refused(nix, pkgs_expr, tmp_path, written):
    lock, version = json.loads(json.dumps(written[0])), written[1]
    lock["packages"]["idna"]["name"] = "requests"
    lock["packages"]["certifi"]["name"] = ""
    stderr = refused(nix, pkgs_expr, tmp_path, lock, version)
    assert '  packages.idna.name is "requests", but its key in packages is "idna"\n' in stderr
    assert "  packages.certifi.name is empty\n" in stderr


def test_plain_http_and_unknown_provider_are_refused(nix, pkgs_expr, tmp_path, written):
    lock, version = json.loads(json.dumps(written[0])), written[1]
    url = lock["packages"]["requests"]["artifact"]["url"]
    lock["packages"]["requests"]["artifact"]["url"] = "http://" + url.removeprefix("https://")
    lock["packages"]["idna"]["provider"] = "conda"
    stderr = refused(nix, pkgs_expr, tmp_path, lock, version)
    assert "  packages.requests.artifact.url must be an https:// URL, not " in stderr
    assert '  packages.idna.provider is "conda", not one of wheel, sdist, nixpkgs, local, url, vcs\n' in stderr


def test_many_problems_are_counted(nix, pkgs_expr, tmp_path, written):
    lock, version = json.loads(json.dumps(written[0])), written[1]
    for entry in lock["packages"].values():
        entry["artifact"]["sha256"] = "0" * 63
    stderr = refused(nix, pkgs_expr, tmp_path, lock, version)
    listed = [line for line in stderr.splitlines() if ".artifact.sha256 must be 64 lowercase hexadecimal" in line]
    assert len(listed) == min(5, len(lock["packages"]))
    if len(lock["packages"]) > 5:
        assert f"  (and {len(lock['packages']) - 5} more)" in stderr


def test_tampered_build_packages_are_refused(nix, pkgs_expr, tmp_path):
    """Lock format 2: a build package whose key is not its name==version, whose wheel URL is
    plain http or whose dependency is no build package is named like a runtime field."""
    version = nix.eval_json(f"({pkgs_expr}).python3.version")
    system = nix.eval_json(f"({pkgs_expr}).stdenv.hostPlatform.system")
    out = tmp_path / "idna.lock.json"
    subprocess.run(
        [*CLI, "lock", "idna==3.20", "--provider", "idna=sdist", "--python", version, "--system", system]
        + ["--db", str(DB), "-o", str(out)],
        check=True,
        capture_output=True,
    )
    lock = json.loads(out.read_text())
    (key,) = lock["packages"]["idna"]["build_system"]
    assert evaluate(nix, pkgs_expr, tmp_path, lock).returncode == 0
    tool = lock["build_packages"][key]
    tool["version"] = "0.1"
    tool["artifact"]["url"] = tool["artifact"]["url"].replace("https://", "http://")
    tool["dependencies"] = ["tomli==1.0"]
    stderr = refused(nix, pkgs_expr, tmp_path, lock, version)
    quoted = json.dumps(key)
    assert f'  build_packages.{quoted}.version is "0.1", but the key is {quoted}' in stderr
    assert f"  build_packages.{quoted}.artifact.url must be an https:// URL" in stderr
    assert f'  build_packages.{quoted}.dependencies[0] is "tomli==1.0", which is not a key of build_packages' in stderr
