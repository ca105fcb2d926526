"""Golden locks: real cases resolved against the committed PyPI snapshot.

Each case of ``tests/data/golden/cases.json`` runs ``mach-nix lock`` (in
process, through the CLI) against ``tests/data/pypi-db`` and compares the bytes
with ``tests/data/golden/<name>.lock.json`` (or, for a case expected to fail,
the exit code and message with ``<name>.error.txt``). Every lock is also
checked by the independent checker ``tests/lockcheck.py``.

Regenerate after an intended change, then review the diff::

    MACH_NIX_UPDATE_GOLDEN=1 python -m pytest -q tests/test_lock_golden.py
"""

from __future__ import annotations

import difflib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lockcheck import check_lock
from mach_nix.cli import main
from mach_nix.requirements import RequirementSet, parse_pyproject, parse_requirement, parse_requirements_file

REPO = Path(__file__).resolve().parent.parent
DB = "tests/data/pypi-db"
NATIVE_NEEDS = "tests/data/native-needs"
GOLDEN = REPO / "tests" / "data" / "golden"
CASES = json.loads((GOLDEN / "cases.json").read_text())
UPDATE = os.environ.get("MACH_NIX_UPDATE_GOLDEN") == "1"

pytestmark = pytest.mark.skipif(
    not (REPO / DB / "manifest.json").exists(), reason="the PyPI snapshot tests/data/pypi-db is missing"
)


def argv_of(case: dict, output: str) -> list[str]:
    """The ``mach-nix lock`` command line of a case."""
    argv = [
        "lock",
        "--db",
        DB,
        "--offline",  # the snapshot only: nothing is fetched
        "-o",
        output,
        "--python",
        case.get("python", "3.11.7"),
        "--system",
        case.get("system", "x86_64-linux"),
        # the native wheels' library needs, recorded (scripts/record-native-needs), not read from PyPI
        "--native-needs",
        "cache",
        "--needs-cache",
        NATIVE_NEEDS,
    ]
    for option in case.get("providers", []):
        argv += ["--provider", option]
    for path in case.get("requirements", []):
        argv += ["-r", path]
    if "pyproject" in case:
        argv += ["--pyproject", case["pyproject"]]
        for extra in case.get("extras", []):
            argv += ["--extra", extra]
        for group in case.get("groups", []):
            argv += ["--group", group]
    if "inventory" in case:
        argv += ["--nixpkgs-inventory", case["inventory"]]
    return argv + ["--"] + case.get("args", [])


def inputs_of(case: dict) -> RequirementSet:
    """The requirements of a case, for the independent check."""
    result = RequirementSet()
    for path in case.get("requirements", []):
        result.extend(parse_requirements_file(path))
    if "pyproject" in case:
        result.extend(parse_pyproject(case["pyproject"], case.get("extras", []), case.get("groups", [])))
    for text in case.get("args", []):
        result.requirements.append(parse_requirement(text))
    return result


def compare(path: Path, actual: str) -> None:
    """Compare with the golden file (or rewrite it when updating)."""
    if UPDATE or not path.exists():
        path.write_text(actual)
        if not UPDATE:
            pytest.fail(f"{path.name} did not exist; written — review and commit it")
        return
    expected = path.read_text()
    if expected != actual:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(True), actual.splitlines(True), f"golden/{path.name}", "actual", n=2
            )
        )
        pytest.fail(f"{path.name} differs (MACH_NIX_UPDATE_GOLDEN=1 to accept):\n{diff[:6000]}")


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_golden(case, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    output = tmp_path / "out.lock.json"
    code = main(argv_of(case, str(output)))
    err = capsys.readouterr().err
    expected_exit = case.get("exit", 0)
    if expected_exit:
        assert code == expected_exit, err
        assert not output.exists()
        assert "Traceback" not in err
        compare(GOLDEN / f"{case['name']}.error.txt", f"exit {code}\n{err}")
        return
    assert code == 0, err
    text = output.read_text()
    compare(GOLDEN / f"{case['name']}.lock.json", text)
    lock = json.loads(text)
    from mach_nix.db.store import open_database

    inputs = inputs_of(case)
    problems = check_lock(
        lock,
        [str(r.requirement) for r in inputs.requirements],
        open_database([DB]),
        [str(c.requirement) for c in inputs.constraints],
    )
    assert problems == []
    for name, entry in case.get("expect", {}).items():
        for key, value in entry.items():
            assert lock["packages"][name][key] == value, (name, key)


def test_cli_subprocess_error_is_short_and_exit_code_documented(tmp_path):
    """The Nix builder's view: a non-zero exit and one short message, no traceback."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mach_nix",
            "lock",
            "--db",
            DB,
            "-o",
            str(tmp_path / "x.json"),
            "flask==1.0",
            "werkzeug<0.14",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 3
    assert proc.stderr.startswith("mach-nix: error: the requirements cannot be satisfied together")
    assert "Traceback" not in proc.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "mach_nix", "resolve", "--db", DB, "six", "requests"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["name", "version", "provider", "required", "by"]
    assert any(line.startswith("idna ") and "requests" in line for line in lines)
    proc = subprocess.run(
        [sys.executable, "-m", "mach_nix", "resolve", "--db", DB, "--format", "json", "six"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert json.loads(proc.stdout)["roots"] == ["six"]
