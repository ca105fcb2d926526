"""The requirement files people have (issue 13 item 7): local, archive and VCS sources, pip's
hash-checking mode, pip options one by one, the default inputs, unknown extras.

Locks are made against the snapshot database ``tests/data/pypi-db`` (offline); the local
projects are ``tests/data/local`` (its README), copied into a temporary directory. The
setup.py-only project's metadata comes from its PEP 517 hook, run confined, with its build
requirements installed from the local wheel directory (``hook_helpers``).
"""

from __future__ import annotations

import hashlib
import http.server
import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from hook_helpers import WHEELS, make_sdist, offline_pip_args
from lockcheck import check_lock
from mach_nix.cli import main
from mach_nix.db.store import open_database
from mach_nix.errors import ExitCode
from mach_nix.requirements import LocalSpec, parse_requirements_text
from nixhelpers import REPO

SNAPSHOT = str(REPO / "tests" / "data" / "pypi-db")
LOCAL = REPO / "tests" / "data" / "local"

#: Requires-Dist of the local projects, as their own files declare them (for lockcheck).
REQUIRES = {
    "local-app": ["six>=1.10", 'python-dateutil; extra == "dates"'],
    "setupcfg-lib": ["six", 'attrs; python_version >= "3.8"', 'ruamel.yaml; extra == "yaml"'],
    "setuppy-only": ["six"],
}


@pytest.fixture()
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory with copies of the local projects, as the current directory; PEP 517 hooks
    install their build requirements from the local wheels only."""
    for project in ("pep621-app", "setupcfg-lib", "setuppy-only"):
        shutil.copytree(LOCAL / project, tmp_path / project)
    monkeypatch.chdir(tmp_path)
    offline_pip_args()  # fails the test when the wheel directory is missing
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(WHEELS))
    return tmp_path


def lock(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict | None, str]:
    """``mach-nix lock ARGV --db SNAPSHOT --offline``; the lock (when written to ``-o FILE``) and stderr."""
    output = "mach-nix.lock.json"
    argv_list = list(argv)
    if "-o" in argv_list:
        output = argv_list[argv_list.index("-o") + 1]
    path = Path(output)
    if path.exists():
        path.unlink()
    code = main(["lock", "--db", SNAPSHOT, "--offline", *argv_list] + ([] if "-o" in argv_list else ["-o", output]))
    err = capsys.readouterr().err
    return code, (json.loads(path.read_text()) if path.exists() else None), err


def test_lines_of_local_and_vcs_sources_parse_without_reading_anything(tmp_path: Path) -> None:
    text = (
        ".\n-e ./lib[test]\nfoo @ file:///srv/foo\n./dist/x-1.0-py3-none-any.whl ; python_version > '3'\n"
        "git+https://example.org/a/b@v1.0#egg=b&subdirectory=sub\n"
        "bar @ git+ssh://git@example.org/a/bar.git@0123abc\n"
        "https://example.org/x-1.0.tar.gz#sha256=" + "c" * 64 + "\n"
    )
    specs = parse_requirements_text(text, "reqs.txt", tmp_path).local
    assert [(s.kind, s.name, s.editable) for s in specs] == [
        ("local", None, False),
        ("local", None, True),
        ("local", "foo", False),
        ("local", None, False),
        ("vcs", "b", False),
        ("vcs", "bar", False),
        ("url", None, False),
    ]
    assert specs[0].location == str(tmp_path) and specs[1].location == str(tmp_path / "lib")
    assert specs[1].extras == {"test"} and specs[3].marker is not None
    assert (specs[4].location, specs[4].rev, specs[4].subdirectory) == ("https://example.org/a/b", "v1.0", "sub")
    assert (specs[5].location, specs[5].rev) == ("ssh://git@example.org/a/bar.git", "0123abc")
    assert isinstance(specs[6], LocalSpec) and specs[6].sha256 == "c" * 64


def test_the_project_and_its_local_libraries_are_locked_by_relative_path(work: Path, capsys) -> None:
    (work / "app").mkdir()
    (work / "app" / "requirements.txt").write_text(
        "six\n../pep621-app[dates]\n-e ../setupcfg-lib\nsetuppy-only @ file:../setuppy-only\n"
    )
    code, data, err = lock(capsys, "-r", "app/requirements.txt", "-o", "app/mach-nix.lock.json")
    assert code == 0, err
    assert data is not None
    packages = data["packages"]
    assert {
        name: (packages[name]["provider"], packages[name]["version"], packages[name]["source"]) for name in REQUIRES
    } == {
        "local-app": ("local", "0.1.0", {"path": "../pep621-app"}),
        "setupcfg-lib": ("local", "0.2.0", {"path": "../setupcfg-lib", "editable": True}),
        "setuppy-only": ("local", "0.3.2", {"path": "../setuppy-only"}),  # the version setup.py computes
    }
    assert packages["local-app"]["build_requires"] == ["setuptools>=61"]
    assert packages["setuppy-only"]["build_requires"] == ["setuptools>=40.8.0"]
    assert packages["local-app"]["dependencies"] == ["python-dateutil", "six"]
    assert str(work) not in json.dumps(data), "no absolute path of the machine in the lock"
    roots = ["six", "local-app[dates]", "setupcfg-lib", "setuppy-only"]
    assert check_lock(data, roots, open_database([SNAPSHOT]), local_requires=REQUIRES) == []
    first = (work / "app" / "mach-nix.lock.json").read_bytes()
    code, _data, err = lock(capsys, "-r", "app/requirements.txt", "-o", "app/mach-nix.lock.json")
    assert code == 0 and (work / "app" / "mach-nix.lock.json").read_bytes() == first, "byte-identical"


def test_a_missing_or_misnamed_local_source_is_refused_naming_each_line(work: Path, capsys) -> None:
    (work / "requirements.txt").write_text("./nowhere\nsix-lib @ file:./setupcfg-lib\n")
    code, data, err = lock(capsys)
    assert code == ExitCode.USAGE and data is None
    assert "requirements.txt:1: " in err and "nowhere does not exist" in err
    assert "requirements.txt:2: the project at" in err and "is setupcfg-lib, not six-lib" in err


def test_a_local_archive_is_pinned_by_path_and_sha256(work: Path, capsys) -> None:
    (work / "dist").mkdir()
    sdist = make_sdist(
        {
            "pyproject.toml": """
                [build-system]
                requires = ["setuptools>=61"]
                build-backend = "setuptools.build_meta"
                [project]
                name = "archived"
                version = "1.5"
                dependencies = ["six"]
            """,
            "archived.py": "X = 1\n",
        },
        top="archived-1.5",
    )
    (work / "dist" / "archived-1.5.tar.gz").write_bytes(sdist)
    digest = hashlib.sha256(sdist).hexdigest()
    (work / "requirements.txt").write_text(f"./dist/archived-1.5.tar.gz#sha256={digest}\n")
    code, data, err = lock(capsys)
    assert code == 0, err
    assert data is not None
    assert data["packages"]["archived"]["source"] == {"path": "dist/archived-1.5.tar.gz", "sha256": digest}
    (work / "requirements.txt").write_text(f"archived @ file:./dist/archived-1.5.tar.gz#sha256={'0' * 64}\n")
    code, data, err = lock(capsys)
    assert code == ExitCode.USAGE and data is None and f"has sha256 {digest}, not {'0' * 64}" in err


def git(cwd: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    result = subprocess.run(
        ["git", *args], cwd=cwd, env={**env, "PATH": "/usr/bin:/bin"}, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture()
def repository(work: Path) -> tuple[Path, str, str]:
    """A git repository of pep621-app: commit one tagged v0.1 (0.1.0), commit two (0.2.0) on the branch."""
    repo = work / "repo"
    shutil.copytree(work / "pep621-app", repo)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "one")
    git(repo, "tag", "v0.1")
    first = git(repo, "rev-parse", "HEAD")
    pyproject = repo / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('version = "0.1.0"', 'version = "0.2.0"'))
    git(repo, "commit", "-qam", "two")
    return repo, first, git(repo, "rev-parse", "HEAD")


def test_a_git_source_is_pinned_by_the_commit_its_revision_names(repository, capsys) -> None:
    repo, first, second = repository
    code, data, err = lock(capsys, f"git+file://{repo}@v0.1", "-o", "-")
    out = capsys.readouterr().out
    code, data, err = lock(capsys, f"git+file://{repo}@v0.1", "-o", "tag.json")
    assert code == 0, err
    assert data is not None
    entry = data["packages"]["local-app"]
    assert (entry["provider"], entry["version"]) == ("vcs", "0.1.0")
    assert entry["source"] == {"url": f"file://{repo}", "rev": first, "ref": "v0.1"}
    code, data, err = lock(capsys, f"local-app @ git+file://{repo}", "-o", "head.json")
    assert code == 0 and data is not None
    assert data["packages"]["local-app"]["source"] == {"url": f"file://{repo}", "rev": second}
    assert data["packages"]["local-app"]["version"] == "0.2.0"
    code, data, err = lock(capsys, f"git+file://{repo}@no-such-tag", "-o", "bad.json")
    assert code == ExitCode.USAGE and data is None and "has no commit, tag or branch 'no-such-tag'" in err
    del out


class _Files(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def file_server(work: Path) -> Iterator[str]:
    """A loopback HTTP server of ``work/served``."""
    (work / "served").mkdir()
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0),
        lambda *a: _Files(*a, directory=str(work / "served")),
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_an_archive_url_the_database_lacks_is_read_from_the_archive(
    work: Path, file_server: str, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MACH_NIX_INDEX_URL", f"{file_server}/simple/")  # a registry without `served` (404)
    sdist = make_sdist(
        {"setup.cfg": "[metadata]\nname = served\nversion = 2.0\n[options]\ninstall_requires = six\n",
         "setup.py": "from setuptools import setup\nsetup()\n"},
        top="served-2.0",
    )  # fmt: skip
    (work / "served" / "served-2.0.tar.gz").write_bytes(sdist)
    digest = hashlib.sha256(sdist).hexdigest()
    url = f"{file_server}/served-2.0.tar.gz"
    code = main(["lock", "--db", SNAPSHOT, f"served @ {url}#sha256={digest}", "-o", "url.json"])
    err = capsys.readouterr().err
    assert code == 0, err
    entry = json.loads((work / "url.json").read_text())["packages"]["served"]
    assert entry["provider"] == "url" and entry["dependencies"] == ["six"]
    assert entry["source"] == {"url": url, "sha256": digest, "filename": "served-2.0.tar.gz"}
    code = main(["lock", "--db", SNAPSHOT, f"served @ {url}#sha256={'1' * 64}", "-o", "bad.json"])
    err = capsys.readouterr().err
    assert code == ExitCode.USAGE and f"has sha256 {digest}, not {'1' * 64}" in err
    assert not (work / "bad.json").exists()


SIX_WHEEL = "4721f391ed90541fddacab5acf947aa0d3dc7d27b2e1e8eda2be8970586c3274"


def test_generated_hashes_are_checked_against_the_lock(work: Path, capsys) -> None:
    (work / "requirements.txt").write_text(
        f"six==1.17.0 \\\n    --hash=sha256:{'a' * 64} \\\n    --hash=sha256:{SIX_WHEEL}\n"
    )
    code, data, err = lock(capsys)
    assert code == 0, err
    assert data is not None and data["packages"]["six"]["artifact"]["sha256"] == SIX_WHEEL
    (work / "requirements.txt").write_text(f"six==1.17.0 --hash=sha256:{'a' * 64}\nattrs\n")
    code, data, err = lock(capsys)
    assert code == ExitCode.USAGE and data is None, "nothing is written"
    assert "requirements.txt:1: the lock's six 1.17.0 file (six-1.17.0-py2.py3-none-any.whl" in err
    assert "requirements.txt:2: attrs has no --hash, but hash-checking mode is on" in err


def test_pip_options_are_honoured_ignored_or_refused_line_by_line(work: Path, capsys) -> None:
    (work / "requirements.txt").write_text(
        "--only-binary :all:\n--no-binary six\n--trusted-host example.org\n-i http://127.0.0.1:9/simple\nsix\nattrs\n"
    )
    code, data, err = lock(capsys)
    assert code == 0, err
    assert data is not None
    assert data["providers"] == {"_default": ["wheel"], "six": ["sdist", "nixpkgs"]}
    assert (data["packages"]["six"]["provider"], data["packages"]["attrs"]["provider"]) == ("sdist", "wheel")
    assert "requirements.txt:3: ignoring --trusted-host" in err
    code, data, err = lock(capsys, "-r", "requirements.txt", "--provider", "six=wheel")
    assert code == 0 and data is not None and data["packages"]["six"]["provider"] == "wheel", "the CLI wins"
    (work / "requirements.txt").write_text(
        "--extra-index-url https://download.example.org/whl\nsix\n-f ./wheels\n--index-url https://example.org/simple\n"
    )
    code, data, err = lock(capsys)
    assert code == ExitCode.USAGE and data is None
    line = err.strip().splitlines()[-1]
    assert "requirements.txt:1: pip option '--extra-index-url' is not supported" in line
    assert "requirements.txt:3: pip option '-f' is not supported" in line, "every refused line at once"
    (work / "requirements.txt").write_text("--index-url https://example.org/simple\nsix\n")
    code, data, err = lock(capsys)
    assert code == ExitCode.USAGE and "requirements.txt:1: --index-url https://example.org/simple" in err
    assert "MACH_NIX_INDEX_URL=https://example.org/simple" in err


def test_with_no_input_lock_reads_requirements_txt_else_pyproject_toml(work: Path, capsys) -> None:
    (work / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "1"\ndependencies = ["attrs"]\n')
    code, data, err = lock(capsys)
    assert code == 0 and "reading ./pyproject.toml" in err
    assert data is not None and data["roots"] == ["attrs"]
    (work / "requirements.txt").write_text("six\n")
    code, data, err = lock(capsys)
    assert code == 0 and "reading ./requirements.txt" in err
    assert data is not None and data["roots"] == ["six"]


def test_install_project_locks_the_pyproject_project_itself(work: Path, capsys) -> None:
    code, data, err = lock(capsys, "--pyproject", "pep621-app/pyproject.toml", "--install-project", "--extra", "dates")
    assert code == 0, err
    assert data is not None and data["roots"] == ["local-app"]
    assert data["packages"]["local-app"]["source"] == {"path": "pep621-app"}
    assert "python-dateutil" in data["packages"]


def test_an_unknown_extra_warns_as_pip_does(work: Path, capsys) -> None:
    code, data, err = lock(capsys, "six[nosuch]", "attrs")
    assert code == 0, err
    assert "WARNING: six 1.17.0 does not provide the extra 'nosuch'" in err
    assert data is not None and data["packages"]["six"]["extras"] == ["nosuch"]
