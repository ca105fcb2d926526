"""``mach-nix gen``: a self-contained Nix expression, built end to end through the double with
import-from-derivation disabled, and the pins it (and ``mach-nix env``) writes."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

import nixhelpers
from generated_files import absolute_paths
from mach_nix.commands import nixsource
from nixhelpers import CLI, DOUBLE, REPO

pytestmark = pytest.mark.nix

DB = REPO / "tests" / "data" / "pypi-db"
NO_IFD = ["--option", "allow-import-from-derivation", "false"]


def gen(args: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [*CLI, "gen", *args, "--db", str(DB)], cwd=cwd, capture_output=True, text=True, env=nixhelpers.nix_env()
    )
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def version(nix) -> str:
    if not nix.uses_double():
        pytest.skip("builds through the double (--pkgs tests/nixpkgs)")
    return nix.eval_json(f"(import {DOUBLE} {{}}).python3.version")


def build(nix, file: Path) -> str:
    proc = nix.run(["nix-build", "--no-out-link", str(file), *NO_IFD], cwd=file.parent)
    return proc.stdout.strip().splitlines()[-1]


def drv_path(nix, file: Path, args: str = "") -> str:
    return nix.eval_json(f"(import {file} {{ {args} }}).drvPath", extra=NO_IFD)


def test_gen_builds_without_ifd_and_holds_no_machine_path(nix, version, tmp_path):
    (tmp_path / "requirements.txt").write_text("six\n")
    gen(["-r", "requirements.txt", "--python", version, "--pkgs", str(DOUBLE), "-o", "env.nix"], tmp_path)
    text = (tmp_path / "env.nix").read_text()
    assert absolute_paths(text) == []
    # mach-nix pinned by its release URL and hash; the lock inline.
    url = nixsource.RELEASE_URL.format(version=nixsource.__version__)
    assert f'url = "{url}";' in text and re.search(r'sha256 = "[0-9a-z]{52}";', text)
    assert 'lock = {\n    build_packages = { };\n    inputs_hash = "sha256:' in text
    env = build(nix, tmp_path / "env.nix")
    out = subprocess.run(
        [f"{env}/bin/python", "-c", "import six, sys; print(six.__version__, six.__file__.startswith(sys.prefix))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out == ["1.17.0", "True"]


def test_gen_lock_file_beside_gives_the_same_derivation(nix, version, tmp_path):
    (tmp_path / "requirements.txt").write_text("requests\n")
    common = ["-r", "requirements.txt", "--python", version, "--pkgs", str(DOUBLE)]
    gen([*common, "-o", "inline.nix"], tmp_path)
    gen([*common, "-o", "out/beside.nix", "--lock-file", "mach-nix.lock.json"], tmp_path)
    beside = (tmp_path / "out" / "beside.nix").read_text()
    assert "lock = ./mach-nix.lock.json;" in beside
    lock = json.loads((tmp_path / "out" / "mach-nix.lock.json").read_text())
    assert lock["roots"] == ["requests"]
    assert drv_path(nix, tmp_path / "inline.nix") == drv_path(nix, tmp_path / "out" / "beside.nix")


def test_gen_of_a_local_project_writes_its_lock_beside_and_builds(nix, version, tmp_path):
    """A lock with local sources cannot be inlined (their paths are relative to the lock file):
    gen writes it beside the expression, paths relative to it, and the file builds without IFD;
    a --lock-file in a subdirectory anchors the paths there."""
    project = nixhelpers.editable_app(tmp_path / "app", 7)
    common = ["-r", "requirements.txt", "--python", version, "--pkgs", str(DOUBLE), "--offline"]
    proc = gen([*common, "-o", "nix/env.nix"], project)
    assert "writing it beside the expression as nix/env.lock.json" in proc.stderr
    assert "lock = ./env.lock.json;" in (project / "nix" / "env.nix").read_text()
    entry = json.loads((project / "nix" / "env.lock.json").read_text())["packages"]["app"]
    assert entry["source"] == {"path": "..", "editable": True}
    env = build(nix, project / "nix" / "env.nix")
    out = subprocess.run(
        [f"{env}/bin/python", "-c", "import app, six; print(app.VALUE)"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "7"

    gen([*common, "-o", "env.nix", "--lock-file", "locks/app.lock.json"], project)
    assert json.loads((project / "locks" / "app.lock.json").read_text())["packages"]["app"]["source"]["path"] == ".."
    assert drv_path(nix, project / "env.nix") == drv_path(nix, project / "nix" / "env.nix")


def test_gen_pyproject_and_stdout(nix, version, tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "app"\nversion = "1"\ndependencies = ["six"]\n'
        '[project.optional-dependencies]\nweb = ["idna"]\n'
    )
    args = ["--pyproject", "pyproject.toml", "--extra", "web", "--python", version, "--pkgs", str(DOUBLE)]
    proc = gen(args, tmp_path)
    (tmp_path / "env.nix").write_text(proc.stdout)
    env = build(nix, tmp_path / "env.nix")
    subprocess.run([f"{env}/bin/python", "-c", "import six, idna"], check=True)


def test_default_nixpkgs_is_nix_path_or_a_clear_error(nix, version, tmp_path):
    gen(["six", "--python", version, "-o", "env.nix"], tmp_path)
    missing = nix.run(["nix-instantiate", "--eval", "-E", f"(import {tmp_path}/env.nix {{ }}).drvPath"], check=False)
    assert missing.returncode != 0
    assert "mach-nix: no nixpkgs: add it to NIX_PATH" in missing.stderr
    found = nix.run(
        ["nix-instantiate", "--eval", "-I", f"nixpkgs={DOUBLE}", "-E", f"(import {tmp_path}/env.nix {{ }}).drvPath"]
        + NO_IFD
    )
    assert found.stdout.strip().startswith('"/nix/store/')
    assert drv_path(nix, tmp_path / "env.nix", f"pkgs = import {DOUBLE} {{ }};") == json.loads(found.stdout)


def test_pinned_tarball_urls_and_the_release_tarball(nix, version, tmp_path):
    """--mach-nix and --pkgs as tarball URLs (file:// here) are pinned by the hash Nix computes;
    the release tarball's pin is the default pin: publishing it at RELEASE_URL makes the
    default fetchable everywhere."""
    release = tmp_path / "mach-nix.tar.gz"
    nixsource.write_tarball(release)
    again = tmp_path / "again.tar.gz"
    nixsource.write_tarball(again)
    assert release.read_bytes() == again.read_bytes(), "the release tarball is deterministic"
    nixpkgs = tmp_path / "nixpkgs.tar.gz"
    with tarfile.open(nixpkgs, "w:gz") as tar:
        tar.add(DOUBLE, arcname="nixpkgs", filter=lambda info: None if "__pycache__" in info.name else info)
    args = ["six", "--python", version, "--mach-nix", release.as_uri(), "--pkgs", nixpkgs.as_uri()]
    gen([*args, "-o", "pinned.nix"], tmp_path)
    gen(["six", "--python", version, "--pkgs", str(DOUBLE), "-o", "default.nix"], tmp_path)
    pinned = (tmp_path / "pinned.nix").read_text()
    assert f'url = "{release.as_uri()}";' in pinned and f'url = "{nixpkgs.as_uri()}";' in pinned

    def sha(text: str, url_part: str) -> str:
        match = re.search(r'url = "[^"]*' + re.escape(url_part) + r'[^"]*";\n\s*sha256 = "([0-9a-z]+)";', text)
        assert match, text
        return match.group(1)

    assert sha(pinned, "mach-nix.tar.gz") == sha((tmp_path / "default.nix").read_text(), "releases/download")
    env = build(nix, tmp_path / "pinned.nix")
    subprocess.run([f"{env}/bin/python", "-c", "import six"], check=True)


def test_pinned_git_revision(nix, version, tmp_path):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "mach-nix-git"
    nixsource.stage(repo, nixsource.library_files())
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "library"], check=True)
    rev = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    pinned = ["--mach-nix", f"git+{repo.as_uri()}", "-o", "git.nix"]
    gen(["six", "--python", version, "--pkgs", str(DOUBLE), *pinned], tmp_path)
    text = (tmp_path / "git.nix").read_text()
    assert f'builtins.fetchGit {{ url = "{repo.as_uri()}"; rev = "{rev}"; }}' in text
    gen(["six", "--python", version, "--pkgs", str(DOUBLE), "-o", "default.nix"], tmp_path)
    assert drv_path(nix, tmp_path / "git.nix") == drv_path(nix, tmp_path / "default.nix")


def test_bad_input_writes_nothing(nix, tmp_path):
    proc = gen(["no-such-package-xyz", "--offline", "-o", "env.nix", "--lock-file", "lock.json"], tmp_path, check=False)
    assert proc.returncode == 4
    assert list(tmp_path.iterdir()) == []
    proc = gen(["six", "--mach-nix", str(tmp_path), "-o", "env.nix"], tmp_path, check=False)
    assert proc.returncode == 2 and "not a mach-nix checkout" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_to_nix_reads_back_as_the_json(nix, tmp_path):
    """The inline lock is the lock: every golden lock (and awkward strings) survives the trip."""
    values = [json.loads(p.read_text()) for p in sorted((REPO / "tests" / "data" / "golden").glob("*.lock.json"))]
    values.append({"a b": ["${x}", 'q"uote', "back\\slash", "ünï", "''", "$", "\n"], "n": [1, -2, 0.5, True, None]})
    (tmp_path / "values.nix").write_text("[\n" + "".join(f"({nixsource.to_nix(v)})\n" for v in values) + "]\n")
    assert nix.eval_json(f"import {tmp_path}/values.nix") == values
