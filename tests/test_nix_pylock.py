"""mkPython { lock = ./pylock.toml; }: files written by pip, uv and mach-nix, built through the
double (lib/pylock.nix). The wheels are real PyPI files at the snapshot's versions
(tests/data/README.md says how the pip and uv files were made).

The oracle for which artifact the Nix side picks from a file that lists many (uv's) is
`packaging.pylock.Pylock.select` with the build's marker environment and wheel tags.
"""

from __future__ import annotations

import json
import subprocess
import tomllib

import pytest

from mach_nix.platforms import marker_environment
from mach_nix.target import Target
from nixhelpers import CLI, REPO, SNAPSHOT_DB, editable_app, machnix

pytestmark = pytest.mark.nix

DATA = REPO / "tests" / "data" / "pylock"
DB = SNAPSHOT_DB
NAMES = ["attrs", "certifi", "charset-normalizer", "idna", "requests", "urllib3"]


def lock_of(nix, pkgs_expr, path) -> dict:
    return nix.eval_json(machnix(pkgs_expr, f"(machNix.mkPython {{ lock = {path}; }}).lock"))


def eval_error(nix, pkgs_expr, path) -> str:
    proc = nix.eval_json(machnix(pkgs_expr, f"(machNix.mkPython {{ lock = {path}; }}).drvPath"), check=False)
    assert proc.returncode != 0, "the pylock.toml was accepted"
    return proc.stderr


@pytest.fixture(scope="module")
def double_target(nix, pkgs_expr) -> Target:
    if not nix.uses_double():
        pytest.skip("compares with the double's interpreter and glibc")
    python = nix.eval_json(f"({pkgs_expr}).python3.version")
    glibc = nix.eval_json(f"(import {REPO}/lib/nixpkgs.nix ({pkgs_expr})).glibc")
    return Target.create(python, "x86_64-linux", glibc=glibc)


def test_pip_written_pylock_builds_and_imports(nix, pkgs_expr, double_target):
    env = nix.build(machnix(pkgs_expr, f"machNix.mkPython {{ lock = {DATA}/pylock.pip.toml; }}"))
    code = (
        "import requests, attrs, charset_normalizer; print(requests.__version__, attrs.__version__, requests.__file__)"
    )
    out = subprocess.run([f"{env}/bin/python", "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[:2] == ["2.34.2", "26.1.0"] and out[2].startswith(env + "/")
    lock = lock_of(nix, pkgs_expr, f"{DATA}/pylock.pip.toml")
    assert sorted(lock["packages"]) == NAMES
    # pip lists no dependencies: every package is a root, none is import-checked alone.
    assert lock["roots"] == NAMES and all(e["dependencies_listed"] is False for e in lock["packages"].values())


def test_uv_written_pylock_picks_what_packaging_picks_and_builds_the_same_env(nix, pkgs_expr, double_target):
    from packaging.pylock import Pylock

    lock = lock_of(nix, pkgs_expr, f"{DATA}/pylock.uv.toml")
    assert sorted(lock["packages"]) == NAMES  # colorama's marker (win32) is false here
    parsed = Pylock.from_dict(tomllib.loads((DATA / "pylock.uv.toml").read_text()))
    target = double_target
    tags = sorted(target.tag_ranks, key=target.tag_ranks.__getitem__)
    env = {**marker_environment(target.python, target.system), "extra": ""}
    expected = {p.name: (a.filename, a.hashes["sha256"]) for p, a in parsed.select(environment=env, tags=tags)}
    got = {n: (e["artifact"]["filename"], e["artifact"]["sha256"]) for n, e in lock["packages"].items()}
    assert got == expected
    assert lock["packages"]["charset-normalizer"]["artifact"]["filename"].startswith(
        "charset_normalizer-3.5.2-cp311-cp311-manylinux"
    )
    # The same files as pip's: the same environment, to the store path.
    uv_env = nix.build(machnix(pkgs_expr, f"machNix.mkPython {{ lock = {DATA}/pylock.uv.toml; }}"))
    pip_env = nix.build(machnix(pkgs_expr, f"machNix.mkPython {{ lock = {DATA}/pylock.pip.toml; }}"))
    assert uv_env == pip_env


def test_mach_nix_pylock_builds_what_its_json_lock_builds(nix, pkgs_expr, double_target, tmp_path):
    common = ["requests", "attrs", "--python", double_target.python, "--db", str(DB), "--offline"]
    json_lock = tmp_path / "mach-nix.lock.json"
    toml_lock = tmp_path / "pylock.toml"
    subprocess.run([*CLI, "lock", *common, "-o", str(json_lock)], check=True, capture_output=True)
    subprocess.run([*CLI, "lock", *common, "--format", "pylock", "-o", str(toml_lock)], check=True, capture_output=True)
    no_ifd = ["--option", "allow-import-from-derivation", "false"]
    from_json = nix.instantiate(machnix(pkgs_expr, f"machNix.mkPython {{ lock = {json_lock}; }}"), extra=no_ifd)
    from_toml = nix.instantiate(machnix(pkgs_expr, f"machNix.mkPython {{ lock = {toml_lock}; }}"), extra=no_ifd)
    assert from_toml == from_json
    converted = lock_of(nix, pkgs_expr, toml_lock)
    original = json.loads(json_lock.read_text())
    assert converted["roots"] == original["roots"] == ["attrs", "requests"]
    for name, entry in original["packages"].items():
        assert {k: converted["packages"][name][k] for k in entry if k in converted["packages"][name]} == {
            k: v for k, v in entry.items() if k in converted["packages"][name]
        }


def test_a_local_project_in_a_mach_nix_pylock_is_a_directory_package(nix, pkgs_expr, double_target, tmp_path):
    """`-e .` in pylock.toml is PEP 751's `directory` (path relative to the file): valid for
    packaging, read back as the lock's local source with the JSON lock's facts, and built."""
    from packaging.pylock import Pylock

    editable_app(tmp_path, 5)
    common = ["-r", "requirements.txt", "--python", double_target.python, "--db", str(DB), "--offline"]
    json_lock, toml_lock = tmp_path / "mach-nix.lock.json", tmp_path / "pylock.toml"
    subprocess.run([*CLI, "lock", *common, "-o", str(json_lock)], check=True, capture_output=True, cwd=tmp_path)
    subprocess.run(
        [*CLI, "lock", *common, "--format", "pylock", "-o", str(toml_lock)],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    text = toml_lock.read_text()
    assert 'directory = { path = ".", editable = true }' in text
    Pylock.from_dict(tomllib.loads(text))  # valid PEP 751
    converted = lock_of(nix, pkgs_expr, toml_lock)
    assert converted["packages"]["app"]["provider"] == "local"
    assert converted["packages"]["app"]["source"] == {"path": ".", "editable": True}
    # The same package, but built with the set's tools: pylock.toml has no build-system closures.
    original = json.loads(json_lock.read_text())["packages"]["app"]
    facts = ("version", "dependencies", "build_requires", "root")
    assert {k: converted["packages"]["app"][k] for k in facts} == {k: original[k] for k in facts}
    assert converted["packages"]["app"]["build_system_unlocked"] is True and "build_system" in original
    no_ifd = ["--option", "allow-import-from-derivation", "false"]
    env = nix.build(machnix(pkgs_expr, f"machNix.mkPython {{ lock = {toml_lock}; }}"), extra=no_ifd)
    out = subprocess.run(
        [f"{env}/bin/python", "-c", "import app, six; print(app.VALUE)"], check=True, capture_output=True, text=True
    )
    assert out.stdout.strip() == "5"


def test_a_several_target_pylock_builds_this_targets_entries(nix, pkgs_expr, double_target, tmp_path):
    """One pylock.toml for Linux and macOS (six only where sys_platform is darwin, charset-normalizer's
    wheels per system): the build picks the entries and wheels of its own target, and the
    environment is the one the target's own pylock.toml builds."""
    requirements = ["requests", "six; sys_platform == 'darwin'"]
    common = [*requirements, "--python", double_target.python, "--db", str(DB), "--offline", "--format", "pylock"]
    both = tmp_path / "pylock.toml"
    alone = tmp_path / "pylock.linux.toml"
    systems = ["--system", "x86_64-linux", "--system", "aarch64-darwin"]
    subprocess.run([*CLI, "lock", *common, *systems, "-o", str(both)], check=True, capture_output=True)
    subprocess.run([*CLI, "lock", *common, "-o", str(alone)], check=True, capture_output=True)
    text = both.read_text()
    assert text.count("sys_platform == 'darwin'") >= 2 and 'name = "six"' in text  # an environment, six's marker
    lock = lock_of(nix, pkgs_expr, both)
    assert "six" not in lock["packages"] and "requests" in lock["packages"]
    assert "manylinux" in lock["packages"]["charset-normalizer"]["artifact"]["filename"]
    no_ifd = ["--option", "allow-import-from-derivation", "false"]
    from_both = nix.instantiate(machnix(pkgs_expr, f"machNix.mkPython {{ lock = {both}; }}"), extra=no_ifd)
    from_alone = nix.instantiate(machnix(pkgs_expr, f"machNix.mkPython {{ lock = {alone}; }}"), extra=no_ifd)
    assert from_both == from_alone
    env = nix.build(machnix(pkgs_expr, f"machNix.mkPython {{ lock = {both}; }}"))
    out = subprocess.run(
        [f"{env}/bin/python", "-c", "import requests; print(requests.__version__)"],
        check=True,
        capture_output=True,
        text=True,
    )
    assert out.stdout.strip() == lock["packages"]["requests"]["version"]


def test_files_given_by_path_are_local_sources(nix, pkgs_expr, double_target, tmp_path):
    """A wheel and an sdist given by `path` (relative to the pylock.toml, PEP 751) are the lock's
    local file sources, checked by their sha256: both build and import."""
    import hashlib
    import zipfile

    (tmp_path / "dist").mkdir()
    wheel = tmp_path / "dist" / "tinypkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("tinypkg/__init__.py", "ANSWER = 42\n")
        archive.writestr("tinypkg-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: tinypkg\nVersion: 1.0\n")
        archive.writestr(
            "tinypkg-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        archive.writestr("tinypkg-1.0.dist-info/RECORD", "")
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    pylock = tmp_path / "pylock.toml"
    pylock.write_text(
        'lock-version = "1.0"\ncreated-by = "hand"\n\n[[packages]]\nname = "tinypkg"\nversion = "1.0"\n'
        f'wheels = [{{ path = "dist/{wheel.name}", hashes = {{ sha256 = "{digest}" }} }}]\n'
    )
    lock = lock_of(nix, pkgs_expr, pylock)
    assert lock["packages"]["tinypkg"]["provider"] == "local"
    assert lock["packages"]["tinypkg"]["source"] == {"path": f"dist/{wheel.name}", "sha256": digest, "wheel": True}
    env = nix.build(machnix(pkgs_expr, f"machNix.mkPython {{ lock = {pylock}; }}"))
    out = subprocess.run(
        [f"{env}/bin/python", "-c", "import tinypkg; print(tinypkg.ANSWER)"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "42"


def _edited(tmp_path, edit, source="pylock.uv.toml") -> str:
    """A copy of a real file with one edit (text in, text out)."""
    text = edit((DATA / source).read_text())
    path = tmp_path / "pylock.toml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace('lock-version = "1.0"', 'lock-version = "2.0"'), 'lock-version is "2.0"'),
        (lambda t: t.replace('created-by = "uv"\n', ""), "created-by is missing"),
        (lambda t: t.replace('requires-python = ">=3.11"', 'requires-python = ">=3.12"'), "requires-python is >=3.12"),
        (
            lambda t: t.replace('created-by = "uv"', 'created-by = "uv"\nenvironments = ["sys_platform == \'win32\'"]'),
            "none of its environments holds",
        ),
        (
            lambda t: t.replace('hashes = { sha256 = "c647aa4a', 'hashes = { md5 = "c647aa4a', 1),
            "packages[0] (attrs).wheels[0].hashes has no sha256",
        ),
        (
            lambda t: t.replace(
                'sha256 = "c647aa4a12dfbad9333ca4e71fe62ddc36f4e63b2d260a37a8b83d2f043ac309"', 'sha256 = "xyz"'
            ),
            "packages[0] (attrs).wheels[0].hashes.sha256 must be 64 hexadecimal digits",
        ),
        (
            lambda t: (
                t
                + '\n[[packages]]\nname = "mine"\n'
                + 'vcs = { type = "git", url = "https://example.org/x", commit-id = "a" }\n'
            ),
            "packages[7] (mine).vcs.commit-id must be a full commit id (40 hexadecimal digits)",
        ),
        (
            lambda t: (
                t
                + '\n[[packages]]\nname = "six"\nversion = "1"\n'
                + 'wheels = [{ path = "/srv/six-1-py3-none-any.whl", hashes = { sha256 = "'
                + "a" * 64
                + '" } }]\n'
            ),
            "wheels[0].path is the absolute path",
        ),
        (
            lambda t: t.replace(
                'name = "idna"\nversion = "3.20"', 'name = "idna"\nversion = "3.20"\nrequires-python = ">=3.13"'
            ),
            "(idna) requires Python >=3.13",
        ),
        (
            lambda t: t.replace('name = "colorama"', 'name = "idna"').replace(
                "marker = \"sys_platform == 'win32'\"\n", ""
            ),
            "idna is listed more than once",
        ),
        (
            lambda t: t.replace("marker = \"sys_platform == 'win32'\"", 'marker = "sys_platform = win32"'),
            "cannot read the marker",
        ),
    ],
    ids=[
        "version",
        "created-by",
        "requires-python",
        "environments",
        "no-sha256",
        "bad-sha256",
        "vcs",
        "path",
        "pkg-python",
        "duplicate",
        "marker",
    ],
)
def test_bad_pylock_files_are_refused_naming_the_file_and_field(nix, pkgs_expr, double_target, tmp_path, edit, message):
    path = _edited(tmp_path, edit)
    stderr = eval_error(nix, pkgs_expr, path)
    assert message in stderr, stderr[-2000:]
    assert "pylock.toml" in stderr


def test_no_fitting_wheel_falls_back_to_the_sdist_else_fails(nix, pkgs_expr, double_target, tmp_path):
    # attrs without its wheel: the sdist, with PEP 517's default build requirement.
    def drop(text: str, needle: str) -> str:
        return "\n".join(line for line in text.split("\n") if needle not in line)

    lock = lock_of(nix, pkgs_expr, _edited(tmp_path, lambda t: drop(t, "attrs-26.1.0-py3-none-any.whl")))
    entry = lock["packages"]["attrs"]
    assert entry["provider"] == "sdist" and entry["artifact"]["filename"] == "attrs-26.1.0.tar.gz"
    assert entry["build_requires"] == ["setuptools>=40.8.0"]
    # Only a Windows wheel and no sdist: refused, naming the wheels there are.
    windows = _edited(
        tmp_path,
        lambda t: drop(t, "attrs-26.1.0.tar.gz").replace(
            "attrs-26.1.0-py3-none-any.whl", "attrs-26.1.0-cp311-cp311-win_amd64.whl"
        ),
    )
    stderr = eval_error(nix, pkgs_expr, windows)
    assert (
        "(attrs) has no wheel for CPython" in stderr
        and "attrs-26.1.0-cp311-cp311-win_amd64.whl) and no sdist" in stderr
    )
    # Neither: nothing to build it from.
    neither = _edited(tmp_path, lambda t: drop(drop(t, "attrs-26.1.0.tar.gz"), "attrs-26.1.0-py3-none-any.whl"))
    assert "packages[0] (attrs) has no wheels, sdist or archive" in eval_error(nix, pkgs_expr, neither)
