"""``mach-nix db info|crawl|update`` as a user sees them (help, output, exit codes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mach_nix.cli import main
from mach_nix.db import store
from mach_nix.db.model import DistFile, Metadata, Project, Release
from mach_nix.errors import ExitCode

SNAPSHOT = Path(__file__).parent / "data" / "pypi-db"


def small_db(path: Path, version: str = "1.0", dep: str = "six>=1.0") -> None:
    release = Release(
        version,
        (
            DistFile(
                f"demo-{version}-py3-none-any.whl",
                "a" * 64,
                10,
                "2020-01-01T00:00:00Z",
                "ab/cd/" + "e" * 60,
                ">=3.8",
                None,
                0,
            ),
        ),
        (Metadata(requires_dist=(dep,), requires_python=">=3.8"),),
    )
    store.write_database(path, [Project("demo", {version: release}, 7)], crawl_time="2024-01-01T00:00:00Z")


@pytest.mark.parametrize("sub", ["crawl", "update", "info"])
def test_help_teaches(sub: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["db", sub, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and f"mach-nix db {sub}" in out and "--db" in out


def test_info_manifest_and_project(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    small_db(tmp_path / "db")
    assert main(["db", "info", "--db", str(tmp_path / "db")]) == 0
    out = capsys.readouterr().out
    assert "projects:    1" in out and "mach-nix-pypi-db v2" in out and "2024-01-01T00:00:00Z" in out
    assert main(["db", "info", "--db", str(tmp_path / "db"), "DEMO"]) == 0
    out = capsys.readouterr().out
    assert "1.0  requires-python: >=3.8" in out
    assert "six>=1.0" in out and "sha256:" + "a" * 64 in out
    assert main(["db", "info", "--db", str(tmp_path / "db"), "demo", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["releases"][0]["files"][0]["url"].startswith("https://files.pythonhosted.org/packages/ab/cd/")
    assert data["releases"][0]["metadata"][0]["requires_dist"] == ["six>=1.0"]


def test_info_layers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    small_db(tmp_path / "a", "1.0", "six")
    small_db(tmp_path / "b", "1.0", "attrs")
    assert main(["db", "info", "--db", str(tmp_path / "a"), "--db", str(tmp_path / "b"), "demo==1.0"]) == 0
    out = capsys.readouterr().out
    assert "attrs" in out and "six" not in out


def test_info_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    small_db(tmp_path / "db")
    assert main(["db", "info", "--db", str(tmp_path / "db"), "dmeo"]) == ExitCode.NOT_FOUND
    err = capsys.readouterr().err
    assert "did you mean demo" in err and "mach-nix db crawl" in err
    assert main(["db", "info", "--db", str(tmp_path / "nowhere")]) == ExitCode.DATABASE
    assert "does not exist" in capsys.readouterr().err
    assert main(["db", "crawl", "--db", str(tmp_path / "x")]) == ExitCode.USAGE
    assert "nothing to crawl" in capsys.readouterr().err


@pytest.mark.skipif(not (SNAPSHOT / "manifest.json").exists(), reason="snapshot not committed yet")
def test_snapshot_contents(capsys: pytest.CaptureFixture[str]) -> None:
    db = store.open_database([SNAPSHOT])
    for name in (
        "requests",
        "six",
        "pdfminer.six",
        "python-dateutil",
        "zope.interface",
        "ruamel.yaml",
        "Pillow",
        "black",
        "flask",
        "greenlet",
        "boto3",
        "dask",
        "numba",
        "setuptools",
        "wheel",
        "resolvelib",
        "packaging",
        "distlib",
        "installer",
        "build",
        "pysocks",
        "botocore",
        "werkzeug",
        "llvmlite",
    ):
        project = db.project(name)
        assert project is not None, name
        assert len(project.releases) >= 2, name  # history, not only the newest
    flask = db.project("flask")
    assert flask is not None and "1.0" in flask.releases
    assert main(["db", "info", "--db", str(SNAPSHOT), "six==1.16.0"]) == 0
    out = capsys.readouterr().out
    assert "six-1.16.0-py2.py3-none-any.whl" in out and "sha256:" in out and "sha256:-" not in out
