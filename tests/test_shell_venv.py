"""shell_venv.py without Nix: what it writes for a project, and what it never deletes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mach_nix import shell_venv

SITE = "lib/python3.11/site-packages"


def test_project_files_are_pep_660_style(tmp_path):
    project = {
        "dir": str(tmp_path / "proj"),
        "root": "src",
        "name": "my-proj",
        "version": "1.2",
        "dependencies": ["six>=1", "idna ; python_version > '3'"],
        "scripts": {"hello": "my_proj.cli:main"},
    }
    files = shell_venv.project_files(project, SITE, tmp_path / "venv")
    info = f"{SITE}/my_proj-1.2.dist-info"
    assert files[f"{SITE}/_mach_nix_editable_my_proj.pth"] == f"{(tmp_path / 'proj' / 'src').resolve()}\n"
    assert files[f"{info}/METADATA"] == (
        "Metadata-Version: 2.1\nName: my-proj\nVersion: 1.2\nRequires-Dist: six>=1\n"
        "Requires-Dist: idna ; python_version > '3'\n"
    )
    assert json.loads(files[f"{info}/direct_url.json"]) == {
        "url": (tmp_path / "proj").resolve().as_uri(),
        "dir_info": {"editable": True},
    }
    assert files[f"{info}/entry_points.txt"] == "[console_scripts]\nhello = my_proj.cli:main\n"
    record = files[f"{info}/RECORD"].splitlines()
    assert "my_proj-1.2.dist-info/RECORD,," in record and "_mach_nix_editable_my_proj.pth,," in record
    assert files["bin/hello"].startswith(f"#!{tmp_path / 'venv' / 'bin' / 'python'}\n")


def test_a_project_without_static_version_gets_only_its_path(tmp_path):
    files = shell_venv.project_files({"dir": str(tmp_path), "root": "", "name": None}, SITE, tmp_path / "venv")
    assert list(files) == [f"{SITE}/_mach_nix_editable_{tmp_path.name}.pth"]


@pytest.mark.parametrize("kind", ["directory", "foreign-venv"])
def test_a_directory_mach_nix_did_not_make_is_never_deleted(tmp_path, kind):
    venv = tmp_path / "venv"
    venv.mkdir()
    keep = venv / ("pyvenv.cfg" if kind == "foreign-venv" else "important.txt")
    keep.write_text("mine\n")
    with pytest.raises(shell_venv.ShellError, match="is not a virtual environment made by mach-nix"):
        shell_venv.ensure_venv(venv, "/no/python", "/nix/store/x-python", Path("/nowhere"), SITE)
    assert keep.read_text() == "mine\n"
