"""``mach-nix lock`` / ``mach-nix resolve`` on a small on-disk database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fakepypi import FakePyPI
from mach_nix.cli import main
from mach_nix.db.store import write_database
from mach_nix.errors import ExitCode

SNAPSHOT = str(Path(__file__).parent / "data" / "pypi-db")


@pytest.fixture()
def db_dir(tmp_path: Path) -> str:
    fake = FakePyPI()
    fake.add("requests", "2.31.0", ["idna>=2.5", "urllib3<3", "pysocks; extra == 'socks'"], extras=["socks"])
    fake.add("idna", "3.4")
    fake.add("urllib3", "2.0.0")
    fake.add("urllib3", "1.26.0")
    fake.add("pysocks", "1.7.1")
    fake.add("six", "1.16.0", files=["six-1.16.0.tar.gz"], build_requires=["setuptools"])
    path = tmp_path / "db"
    write_database(path, fake.projects.values(), crawl_time="2024-01-01T00:00:00Z")
    return str(path)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_lock_writes_deterministic_json(db_dir, tmp_path, capsys):
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("requests[socks]\n-c constraints.txt\nsix\n")
    (tmp_path / "constraints.txt").write_text("urllib3<2\n")
    out = tmp_path / "mach-nix.lock.json"
    code, _out, err = run(capsys, "lock", "-r", str(reqs), "--db", db_dir, "--python", "3.11.7", "-o", str(out))
    assert code == 0, err
    first = out.read_bytes()
    lock = json.loads(first)
    assert lock["version"] == 2
    assert lock["target"]["python"] == "3.11.7"
    assert lock["roots"] == ["requests", "six"]
    assert lock["packages"]["urllib3"]["version"] == "1.26.0"
    assert lock["packages"]["requests"]["dependencies"] == ["idna", "pysocks", "urllib3"]
    assert lock["packages"]["six"]["provider"] == "sdist"
    assert lock["packages"]["six"]["build_requires"] == ["setuptools"]
    code, _out, err = run(capsys, "lock", "-r", str(reqs), "--db", db_dir, "--python", "3.11.7", "-o", str(out))
    assert out.read_bytes() == first


def test_resolve_table_and_json(db_dir, capsys):
    code, out, err = run(capsys, "resolve", "--db", db_dir, "requests")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["name", "version", "provider"]
    row = next(line for line in lines if line.startswith("idna"))
    assert row.split() == ["idna", "3.4", "wheel", "requests"]
    assert next(line for line in lines if line.startswith("requests")).split()[-1] == "<root>"
    code, out, err = run(capsys, "resolve", "--db", db_dir, "--format", "json", "requests")
    assert json.loads(out)["packages"]["requests"]["root"] is True


def test_nixpkgs_inventory_option(db_dir, tmp_path, capsys):
    inventory = tmp_path / "inventory.json"
    inventory.write_text(
        json.dumps(
            [
                {"attr": "requests", "pname": "requests", "version": "2.31.0"},
                {"attr": "idna_3", "pname": "idna", "version": "3.4"},
            ]
        )
    )
    code, out, err = run(
        capsys,
        "resolve",
        "--db",
        db_dir,
        "--nixpkgs-inventory",
        str(inventory),
        "--provider",
        "_default=nixpkgs,wheel",
        "--format",
        "json",
        "requests",
    )
    assert code == 0, err
    packages = json.loads(out)["packages"]
    assert packages["requests"]["nixpkgs_attr"] == "requests"
    assert packages["idna"]["nixpkgs_attr"] == "idna_3"
    assert packages["urllib3"]["provider"] == "wheel"


@pytest.mark.parametrize(
    "argv, code, fragment",
    [
        (["reqeusts"], ExitCode.NOT_FOUND, "did you mean: requests"),
        (["requests>=3"], ExitCode.NOT_FOUND, "newer than the database"),
        (["requests", "urllib3<1"], ExitCode.NOT_FOUND, "no version of urllib3 matches urllib3<1"),
        (
            ["requests==2.31.0", "urllib3>=2", "-c", "{constraints}"],
            ExitCode.UNSATISFIABLE,
            "conflicts with your constraints",
        ),
        (["requests==2.31.0", "urllib3==2.0.0", "--constraints", "/nonexistent/c.txt"], ExitCode.USAGE, "cannot read"),
        (["requests", "--python", "2.7"], ExitCode.USAGE, "unsupported Python version"),
        (["requests", "--system", "x86_64-freebsd"], ExitCode.USAGE, "unsupported system"),
        (["requests", "--provider", "_default=conda"], ExitCode.USAGE, "unknown provider"),
        (["-e", "."], ExitCode.USAGE, ""),
        ([], ExitCode.USAGE, "no requirements given"),
    ],
)
def test_errors_have_exit_codes_and_no_traceback(db_dir, tmp_path, capsys, monkeypatch, argv, code, fragment):
    monkeypatch.chdir(tmp_path)  # no ./requirements.txt or ./pyproject.toml to fall back on
    constraints = tmp_path / "c.txt"
    constraints.write_text("urllib3<2\n")
    argv = [arg.replace("{constraints}", str(constraints)) for arg in argv]
    try:
        result, _out, err = run(capsys, "resolve", "--db", db_dir, "--offline", *argv)
    except SystemExit as exit_:  # argparse rejects unknown options itself
        assert exit_.code == ExitCode.USAGE == code
        return
    assert result == code, err
    assert err.startswith("mach-nix: error:")
    assert fragment in err
    assert "Traceback" not in err


def test_missing_database(tmp_path, capsys, monkeypatch):
    """No --db and no $MACH_NIX_DB: the cache of fetched metadata is the database (and with
    --no-cache there is none)."""
    monkeypatch.delenv("MACH_NIX_DB", raising=False)
    monkeypatch.setenv("MACH_NIX_CACHE", str(tmp_path / "cache"))
    code, _out, err = run(capsys, "resolve", "six", "--no-cache", "--offline")
    assert code == ExitCode.USAGE and "--db" in err and "--no-cache --offline" in err
    code, _out, err = run(capsys, "resolve", "six", "--offline")
    assert code == ExitCode.NOT_FOUND, err
    assert "no project named 'six' in the databases nor in the cache of fetched metadata" in err
    assert "drop --offline" in err and "mach-nix db crawl --db DIR six" in err
    code, _out, err = run(capsys, "resolve", "--db", str(tmp_path / "nope"), "six")
    assert code == ExitCode.DATABASE


def test_a_lock_that_cannot_be_written_whole_leaves_the_old_one(tmp_path):
    """A write that fails halfway (here: the file-size limit, as a full disk would) keeps the previous
    lock byte for byte and leaves no temporary file: readers never see part of a lock."""
    import resource
    import signal
    import subprocess

    from nixhelpers import CLI

    out = tmp_path / "mach-nix.lock.json"
    old = json.dumps({"version": 2, "note": "the previous lock"}) + "\n"
    out.write_text(old)

    def small_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (2048, 2048))

    argv = ["lock", "requests", "--db", SNAPSHOT, "--offline", "--no-cache", "--native-needs", "off", "-o", str(out)]
    result = subprocess.run([*CLI, *argv], capture_output=True, text=True, preexec_fn=small_files, timeout=300)
    assert result.returncode == ExitCode.USAGE, result.stderr
    assert f"cannot write {out}" in result.stderr
    assert out.read_text() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]
    full = subprocess.run([*CLI, *argv], capture_output=True, text=True, timeout=300)
    assert full.returncode == 0, full.stderr
    assert len(out.read_bytes()) > 2048 and json.loads(out.read_text())["roots"] == ["requests"]
