"""Writable dev shells: ``mkPythonShell { editable = [ ./. ]; }`` and ``mach-nix env DIR --editable .``.

Through the double: the shell imports the project from its source tree (an edit shows without
a rebuild: the shell's derivation does not change), the project's dependencies come from the
Nix environment, ``pip install`` (and ``uv pip install``) of a wheel from a local directory
installs into the venv over it, and the store is untouched (``nix-store --verify-path``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from nixhelpers import CLI, DOUBLE, REPO

pytestmark = pytest.mark.nix

DB = REPO / "tests" / "data" / "pypi-db"

PROBE = (
    "import json, sys, myproj, six, importlib.metadata as m; "
    "d = m.distribution('myproj'); "
    "print(json.dumps({'value': myproj.VALUE, 'file': myproj.__file__, 'six': six.__file__, 'prefix': sys.prefix, "
    "'version': d.version, 'direct_url': json.loads(d.read_text('direct_url.json'))}))"
)


def make_wheel(directory: Path, name: str, version: str = "1.0") -> None:
    """A pure wheel ``name`` with ``name.ANSWER = 42``, written with zipfile (no build tool)."""
    files = {
        f"{name}/__init__.py": b"ANSWER = 42\n",
        f"{name}-{version}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{name}-{version}.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    directory.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(directory / f"{name}-{version}-py3-none-any.whl", "w") as wheel:
        record = []
        for path, data in files.items():
            wheel.writestr(path, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{path},sha256={digest},{len(data)}")
        record.append(f"{name}-{version}.dist-info/RECORD,,")
        wheel.writestr(f"{name}-{version}.dist-info/RECORD", "\n".join(record) + "\n")


def make_project(root: Path, dependencies: list[str]) -> Path:
    (root / "src" / "myproj").mkdir(parents=True)
    (root / "pyproject.toml").write_text(
        '[project]\nname = "MyProj"\nversion = "0.1.0"\n'
        f"dependencies = {json.dumps(dependencies)}\n"
        '[project.scripts]\nmyproj-hello = "myproj:hello"\n'
    )
    (root / "src" / "myproj" / "__init__.py").write_text("VALUE = 1\ndef hello():\n    print('hello', VALUE)\n")
    return root


def in_shell(nix, shell: Path, command: str, cwd: Path) -> str:
    env = {k: v for k, v in nix.nix_env().items() if k not in ("VIRTUAL_ENV", "PIP_PREFIX", "PYTHONPATH")}
    proc = subprocess.run(["nix-shell", str(shell), "--run", command], cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise AssertionError(f"nix-shell --run {command!r} failed:\n{proc.stderr[-4000:]}")
    return proc.stdout


def store_untouched(nix, store_file: str) -> None:
    """Every path of the closure of the store path holding ``store_file`` verifies, and none has tinypkg."""
    top = "/".join(store_file.split("/")[:4])
    closure = nix.run(["nix-store", "-qR", top]).stdout.split()
    nix.run(["nix-store", "--verify-path", *closure])
    assert not [p for p in closure if list(Path(p).glob("lib/python*/site-packages/tinypkg"))]


@pytest.fixture(scope="module")
def double(nix):
    if not nix.uses_double():
        pytest.skip("the shells import the double")


def pip_install(wheels: Path, name: str) -> str:
    """A shell command: pip installs ``name`` from the local directory, then prints its file."""
    return (
        f"pip install -q --disable-pip-version-check --no-index --find-links {wheels} {name} && "
        f"python -c 'import {name}; print({name}.ANSWER, {name}.__file__)'"
    )


def test_editable_shell_imports_the_source_and_pip_installs_into_the_venv(nix, double, tmp_path):
    project = make_project(tmp_path / "proj", ["six"])
    (project / "shell.nix").write_text(
        f"let pkgs = import {DOUBLE} {{ }}; machNix = import {REPO} {{ inherit pkgs; pypiData = {DB}; }};\n"
        "in machNix.mkPythonShell { editable = [ ./. ]; }\n"
    )
    shell = project / "shell.nix"
    venv = project / ".mach-nix-venv"
    wheels = tmp_path / "wheels"
    make_wheel(wheels, "tinypkg")
    make_wheel(wheels, "tinyuv")
    before = nix.instantiate(f"import {shell}")
    # One shell: the probe, the project's script, pip and uv (from a local directory: no network).
    commands = [f'python -c "{PROBE}"', "myproj-hello", pip_install(wheels, "tinypkg")]
    if shutil.which("uv"):
        commands.append(
            f"UV_CACHE_DIR={tmp_path / 'uv-cache'} UV_NO_CONFIG=1 uv pip install -q --no-index --find-links {wheels} "
            "tinyuv && python -c 'import tinyuv, tinypkg; print(tinyuv.ANSWER, tinyuv.__file__)'"
        )
    lines = in_shell(nix, shell, " && ".join(commands), project).strip().splitlines()
    first = json.loads(lines[0])
    assert first["value"] == 1
    assert first["file"] == str(project / "src" / "myproj" / "__init__.py")
    assert first["six"].startswith("/nix/store/") and first["prefix"] == str(venv)
    assert first["version"] == "0.1.0"
    assert first["direct_url"] == {"url": project.as_uri(), "dir_info": {"editable": True}}
    assert lines[1].split() == ["hello", "1"]
    for line in lines[2:]:
        answer, where = line.split()
        assert answer == "42" and where.startswith(str(venv / "lib")), line
    store_untouched(nix, first["six"])

    # An edit of the source: no rebuild (the same shell derivation), the shell sees it; what pip
    # installed is still there, and the project's files are rewritten, not duplicated.
    (project / "src" / "myproj" / "__init__.py").write_text("VALUE = 2\n")
    assert nix.instantiate(f"import {shell}") == before
    again = in_shell(nix, shell, f"python -c \"{PROBE}\" && python -c 'import tinypkg'", project)
    assert json.loads(again.strip().splitlines()[-1])["value"] == 2
    assert len(list((venv / "lib").glob("python*/site-packages/myproj-*.dist-info"))) == 1


def test_env_editable_shell_from_another_directory(nix, double, tmp_path):
    version = nix.eval_json(f"(import {DOUBLE} {{}}).python3.version")
    project = make_project(tmp_path / "proj", ["six"])
    subprocess.run(
        [*CLI, "env", "env", "--editable", ".", "--python", version, "--db", str(DB), "--pkgs", str(DOUBLE)],
        cwd=project,
        check=True,
        capture_output=True,
    )
    shell_nix = (project / "env" / "shell.nix").read_text()
    assert "  editable = [ ../. ];\n" in shell_nix
    assert list(json.loads((project / "env" / "mach-nix.lock.json").read_text())["packages"]) == ["six"]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    wheels = tmp_path / "wheels"
    make_wheel(wheels, "tinypkg")
    lines = in_shell(nix, project / "env", f'python -c "{PROBE}" && ' + pip_install(wheels, "tinypkg"), elsewhere)
    result = json.loads(lines.strip().splitlines()[0])
    assert result["file"] == str(project / "src" / "myproj" / "__init__.py")
    assert result["prefix"] == str(project / ".mach-nix-venv")
    assert lines.split()[-1].startswith(str(project / ".mach-nix-venv"))
    store_untouched(nix, result["six"])


def test_an_editable_line_of_the_requirements_is_editable_in_the_shell(nix, double, tmp_path):
    """`-e .` in requirements.txt: `mach-nix env` locks the project as an editable local source;
    the shell imports it from its source tree and the Nix environment does not build it, so an
    edit changes no derivation."""
    version = nix.eval_json(f"(import {DOUBLE} {{}}).python3.version")
    project = make_project(tmp_path / "proj", ["six"])
    (project / "requirements.txt").write_text("-e .\n")
    argv = [*CLI, "env", "env", "-r", "requirements.txt", "--python", version, "--db", str(DB), "--pkgs", str(DOUBLE)]
    subprocess.run(argv, cwd=project, check=True, capture_output=True)
    entry = json.loads((project / "env" / "mach-nix.lock.json").read_text())["packages"]["myproj"]
    assert entry["provider"] == "local" and entry["source"] == {"path": "..", "editable": True}
    assert "editable projects" in (project / "env" / "shell.nix").read_text()

    drv = nix.instantiate(f"import {project / 'env' / 'shell.nix'}")
    built = nix.run(["nix-store", "-qR", drv]).stdout.split()
    assert not [path for path in built if "myproj" in path.lower()]  # the project is not built
    result = json.loads(in_shell(nix, project / "env", f'python -c "{PROBE}"', tmp_path).strip().splitlines()[0])
    assert result["file"] == str(project / "src" / "myproj" / "__init__.py")
    assert result["direct_url"] == {"url": project.as_uri(), "dir_info": {"editable": True}}
    assert result["version"] == "0.1.0" and result["prefix"] == str(project / ".mach-nix-venv")

    (project / "src" / "myproj" / "__init__.py").write_text("VALUE = 3\n")
    assert nix.instantiate(f"import {project / 'env' / 'shell.nix'}") == drv
    again = in_shell(nix, project / "env", f'python -c "{PROBE}"', tmp_path)
    assert json.loads(again.strip().splitlines()[0])["value"] == 3


def test_a_lock_without_an_editable_dependency_is_refused(nix, double, tmp_path):
    version = nix.eval_json(f"(import {DOUBLE} {{}}).python3.version")
    project = make_project(tmp_path / "proj", ["idna>=2", "six"])
    lock = tmp_path / "six.lock.json"
    subprocess.run(
        [*CLI, "lock", "six", "--python", version, "--db", str(DB), "-o", str(lock)], check=True, capture_output=True
    )
    expr = (
        f"let pkgs = import {DOUBLE} {{ }}; machNix = import {REPO} {{ inherit pkgs; }};\n"
        f"in (machNix.mkPythonShell {{ lock = {lock}; editable = [ {project} ]; }}).drvPath"
    )
    proc = nix.eval_json(expr, check=False)
    assert proc.returncode != 0
    assert "mach-nix: the lock has no idna, which the editable project MyProj" in proc.stderr
    assert "mach-nix env DIR --editable PROJECT" in proc.stderr


def test_editable_is_an_argument_of_the_shell_only(nix, double, tmp_path):
    project = make_project(tmp_path / "proj", [])
    expr = (
        f"let machNix = import {REPO} {{ pkgs = import {DOUBLE} {{ }}; }};\n"
        f'in (machNix.mkPython {{ requirements = "six"; editable = [ {project} ]; }}).drvPath'
    )
    proc = nix.eval_json(expr, check=False)
    assert proc.returncode != 0 and "`editable` and `venvDir` are arguments of mkPythonShell" in proc.stderr


def test_env_refuses_an_editable_directory_without_pyproject(tmp_path):
    proc = subprocess.run(
        [*CLI, "env", str(tmp_path / "env"), "six", "--editable", str(tmp_path), "--db", str(DB)],
        capture_output=True,
        text=True,
        env={**os.environ},
    )
    assert proc.returncode == 2 and "has no pyproject.toml" in proc.stderr
    assert not (tmp_path / "env").exists()
