"""`mach-nix run script.py`: a PEP 723 script resolved against the snapshot, built through the
double, run with its arguments and exit code; the second run builds nothing (no Nix on PATH)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from nixhelpers import CLI, DOUBLE, REPO

pytestmark = pytest.mark.nix

DB = str(REPO / "tests" / "data" / "pypi-db")

SCRIPT = """\
#!/usr/bin/env python3
# /// script
# requires-python = ">=3.8"
# dependencies = [
#   "six",
# ]
# [tool.other]
# ignored = true
# ///
import sys

import six

print("six", six.__version__, six.__file__.startswith("/nix/store/"), sys.argv[1:])
sys.exit(int(sys.argv[1]))
"""


@pytest.fixture
def run_env(nix, tmp_path):
    if not nix.uses_double():
        pytest.skip("builds against the double")
    env = dict(nix.nix_env(), MACH_NIX_CACHE=str(tmp_path / "cache"))
    version = nix.eval_json(f"(import {DOUBLE} {{}}).python3.version")
    return env, ["--db", DB, "--offline", "--python", version, "--pkgs", str(DOUBLE)]


def test_script_runs_with_its_dependencies_and_the_second_run_builds_nothing(run_env, tmp_path):
    env, options = run_env
    db = tmp_path / "db"  # a copy: the second run gets it damaged
    shutil.copytree(DB, db)
    options = [str(db) if o == DB else o for o in options]
    script = tmp_path / "tool.py"
    script.write_text(SCRIPT)
    first = subprocess.run([*CLI, "run", *options, str(script), "3", "--flag"], env=env, capture_output=True, text=True)
    assert first.returncode == 3, first.stderr
    [entry] = [p for p in (tmp_path / "cache" / "scripts").iterdir() if p.name != "inputs"]
    lock = json.loads((entry / "mach-nix.lock.json").read_text())
    version = lock["packages"]["six"]["version"]
    assert first.stdout.split("\n")[0] == f"six {version} True ['3', '--flag']"
    assert "building the environment of tool.py" in first.stderr
    assert os.readlink(entry / "result").startswith("/nix/store/")
    # The lock beside the script (lock --script) is the one run resolved.
    subprocess.run([*CLI, "lock", "--script", str(script), *options[:-2]], env=env, check=True, capture_output=True)
    assert json.loads((tmp_path / "tool.py.lock.json").read_text()) == lock
    # Again, with no Nix tool reachable and the database's shards gone (its manifest, the
    # database's identity, unchanged): the inputs are, so nothing is resolved or built.
    [shards] = db.glob("shards-*")
    shutil.rmtree(shards)
    no_nix = dict(env, PATH=str(tmp_path / "empty"))
    second = subprocess.run([*CLI, "run", *options, str(script), "0"], env=no_nix, capture_output=True, text=True)
    assert second.returncode == 0, second.stderr
    assert second.stdout.startswith(f"six {version} True ['0']") and "building" not in second.stderr
    # A changed input resolves again: the damaged database is read (and reported).
    for changed_script, changed_options in (
        (SCRIPT.replace('"six",', '"six>=1",'), options),
        (SCRIPT, [*options, "--provider", "six=wheel,sdist"]),
        (SCRIPT, [*options, "--no-cache"]),  # never keyed: always resolves
    ):
        script.write_text(changed_script)
        proc = subprocess.run([*CLI, "run", *changed_options, str(script)], env=env, capture_output=True, text=True)
        assert proc.returncode == 6 and shards.name in proc.stderr, proc.stderr


def test_script_without_metadata_runs_on_the_bare_interpreter(run_env, tmp_path):
    env, options = run_env
    script = tmp_path / "plain.py"
    script.write_text("import sys\nprint(sys.prefix.startswith('/nix/store/'))\nimport six\n")
    proc = subprocess.run([*CLI, "run", *options, str(script)], env=env, capture_output=True, text=True)
    # The Nix interpreter runs it, without six (the double's python has no site-packages of its own).
    assert proc.stdout.split() == ["True"] and "No module named 'six'" in proc.stderr and proc.returncode == 1


def test_run_refuses_a_script_for_another_python_naming_the_line(run_env, tmp_path):
    env, options = run_env
    script = tmp_path / "new.py"
    script.write_text('# /// script\n# requires-python = ">=3.13"\n# dependencies = ["six"]\n# ///\n')
    proc = subprocess.run([*CLI, "run", *options, str(script)], env=env, capture_output=True, text=True)
    assert proc.returncode == 2
    assert f"{script}:2:" in proc.stderr and "requires Python >=3.13" in proc.stderr and "--python 3.14" in proc.stderr
    assert not (tmp_path / "cache" / "scripts").exists()
