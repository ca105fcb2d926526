"""`mach-nix env DIR`: the written directory builds and gives a working nix-shell."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from generated_files import absolute_paths
from nixhelpers import CLI, DOUBLE, REPO

pytestmark = pytest.mark.nix

DB = os.environ.get("MACH_NIX_TEST_DB", str(REPO / "tests" / "data" / "pypi-db"))


def test_env_directory_builds_and_shell_works(nix, tmp_path):
    if not nix.uses_double():
        pytest.skip("writes files that import the double")
    version = nix.eval_json(f"(import {DOUBLE} {{}}).python3.version")
    req = tmp_path / "requirements.txt"
    req.write_text("six\n")
    env_dir = tmp_path / "env"
    subprocess.run(
        [
            *CLI,
            "env",
            str(env_dir),
            "-r",
            str(req),
            "--python",
            version,
            "--db",
            DB,
            "--nixpkgs",
            str(DOUBLE),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    assert sorted(p.name for p in env_dir.iterdir()) == [
        ".mach-nix-library",
        "default.nix",
        "mach-nix.lock.json",
        "python.nix",
        "shell.nix",
        "sources.nix",
    ]
    # The garbage-collector root of the pinned library: the store path python.nix imports.
    library = os.readlink(env_dir / ".mach-nix-library")
    assert library.startswith("/nix/store/") and os.path.isfile(f"{library}/lib/mkPython.nix")
    lock = json.loads((env_dir / "mach-nix.lock.json").read_text())
    # From another directory: the files name nothing relative to where nix-shell runs.
    proc = nix.run(["nix-shell", str(env_dir), "--run", 'python -c "import six; print(six.__version__)"'], cwd=tmp_path)
    assert proc.stdout.split() == [lock["packages"]["six"]["version"]]
    for name in ("python.nix", "shell.nix", "sources.nix", "default.nix"):
        assert absolute_paths((env_dir / name).read_text()) == [], name


def test_env_refuses_bad_input_and_writes_nothing(nix, tmp_path):
    env_dir = tmp_path / "env"
    proc = subprocess.run(
        [*CLI, "env", str(env_dir), "no-such-package-xyz", "--offline", "--db", DB, "--mach-nix", str(REPO)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 4
    assert not env_dir.exists()
