"""Run real Nix from the test suite, against the nixpkgs test double or a real nixpkgs.

The offline configuration (no substituters, builds as the calling user, fast
polling, flakes on) is applied to the Nix processes started here only, through
``NIX_CONFIG``. Set ``MACH_NIX_TEST_NIXPKGS=/path/to/nixpkgs`` to run the Nix
tests against a real nixpkgs checkout instead of ``tests/nixpkgs``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import IO

REPO = Path(__file__).resolve().parent.parent
DOUBLE = REPO / "tests" / "nixpkgs"

#: The CLI of the work tree (conftest.py puts ``resolver/`` first on PYTHONPATH).
CLI = [sys.executable, "-m", "mach_nix"]

#: The committed snapshot database (``$MACH_NIX_TEST_DB`` replaces it).
SNAPSHOT_DB = Path(os.environ.get("MACH_NIX_TEST_DB", REPO / "tests" / "data" / "pypi-db"))

#: The offline Nix configuration, read from the script that CI and contributors source
#: (``scripts/nix-offline-env``), so that the tests run Nix exactly as documented.
OFFLINE_ENV = REPO / "scripts" / "nix-offline-env"


def offline_settings() -> dict[str, str]:
    """``NIX_CONFIG`` and ``NIX_BUILD_SHELL`` as ``scripts/nix-offline-env`` sets them (run by bash)."""
    script = '. "$1" && printf "%s\\0%s" "$NIX_CONFIG" "$NIX_BUILD_SHELL"'
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    result = subprocess.run(
        ["bash", "-c", script, "bash", str(OFFLINE_ENV)], env=clean, capture_output=True, text=True, check=True
    )
    config, shell = result.stdout.split("\0")
    return {"NIX_CONFIG": config, "NIX_BUILD_SHELL": shell}


_OFFLINE = offline_settings()
NIX_CONFIG = _OFFLINE["NIX_CONFIG"]


class NixError(AssertionError):
    """A Nix command failed; carries its stderr."""

    def __init__(self, cmd: list[str], stderr: str) -> None:
        super().__init__(f"{' '.join(cmd)} failed:\n{stderr[-6000:]}")
        self.stderr = stderr


def nix_env() -> dict[str, str]:
    """The environment for Nix subprocesses."""
    env = dict(os.environ)
    env["NIX_CONFIG"] = NIX_CONFIG
    env.pop("NIX_PATH", None)
    env.setdefault("NIX_BUILD_SHELL", _OFFLINE["NIX_BUILD_SHELL"])  # else nix-shell wants <nixpkgs>.bashInteractive
    return env


def nixpkgs_expr(system: str | None = None) -> str:
    """A Nix expression for the pkgs the tests use (the double unless overridden); ``system``:
    nixpkgs for that platform (``import nixpkgs { system = …; }``), to evaluate another system's pick."""
    arg = f' system = "{system}";' if system else ""
    real = os.environ.get("MACH_NIX_TEST_NIXPKGS")
    if real:
        return f"(import {Path(real).resolve()} {{ config.allowAliases = true;{arg} }})"
    return f"(import {DOUBLE} {{{arg}}})"


def machnix(pkgs_expr: str, body: str, db: Path = SNAPSHOT_DB) -> str:
    """A Nix expression: ``body`` with ``pkgs`` (``pkgs_expr``), ``machNix`` (this checkout with
    database ``db``) and ``python`` (``pkgs.python3``) in scope."""
    return f"""let
      pkgs = {pkgs_expr};
      machNix = import {REPO} {{ inherit pkgs; pypiData = {db}; }};
      python = pkgs.python3;
    in {body}"""


def editable_app(root: Path, value: int) -> Path:
    """A setuptools project ``app`` 1.0 (``src/app``, ``app.VALUE = value``, requires six) in
    ``root``, with a requirements.txt of ``-e .``."""
    (root / "src" / "app").mkdir(parents=True)
    (root / "pyproject.toml").write_text(
        '[project]\nname = "app"\nversion = "1.0"\ndependencies = ["six"]\n'
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
    )
    (root / "src" / "app" / "__init__.py").write_text(f"VALUE = {value}\n")
    (root / "requirements.txt").write_text("-e .\n")
    return root


def uses_double() -> bool:
    return not os.environ.get("MACH_NIX_TEST_NIXPKGS")


def configure_double() -> None:
    """Write tests/nixpkgs/host.json for the interpreter running the tests."""
    subprocess.run([sys.executable, str(DOUBLE / "configure.py")], check=True, capture_output=True)


def have_nix() -> bool:
    return shutil.which("nix-build") is not None


def run(
    cmd: list[str], *, check: bool = True, cwd: Path | None = None, timeout: int = 900
) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, env=nix_env(), capture_output=True, text=True, cwd=cwd or REPO, timeout=timeout)
    if check and proc.returncode != 0:
        raise NixError(cmd, proc.stderr)
    return proc


def build(expr: str, *, check: bool = True, extra: list[str] | None = None) -> str | subprocess.CompletedProcess:
    """``nix-build -E expr``: return the (first) output path, or the process if check=False."""
    cmd = ["nix-build", "--no-out-link", "-E", expr] + (extra or [])
    proc = run(cmd, check=check)
    if not check:
        return proc
    return proc.stdout.strip().splitlines()[-1]


def eval_json(expr: str, *, check: bool = True, extra: list[str] | None = None):
    """Evaluate ``expr`` strictly and return it as Python data (IFD allowed)."""
    cmd = ["nix-instantiate", "--eval", "--strict", "--json", "--read-write-mode", "-E", expr] + (extra or [])
    proc = run(cmd, check=check)
    if not check:
        return proc
    return json.loads(proc.stdout)


def instantiate(expr: str, *, extra: list[str] | None = None) -> str:
    """``nix-instantiate -E expr``: return the .drv path."""
    proc = run(["nix-instantiate", "-E", expr] + (extra or []))
    return proc.stdout.strip().splitlines()[-1]


def read_docker_image(path: str) -> tuple[dict, dict, set[str]]:
    """Read a docker-archive .tar.gz: (manifest entry, image config, paths in all layers)."""
    import gzip
    import io

    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(Path(path).read_bytes()))) as tar:
        manifest = json.load(_member(tar, "manifest.json"))[0]
        config = json.load(_member(tar, manifest["Config"]))
        names: set[str] = set()
        for layer in manifest["Layers"]:
            with tarfile.open(fileobj=tar.extractfile(layer)) as inner:
                names.update(inner.getnames())
    return manifest, config, names


def _member(tar: tarfile.TarFile, name: str) -> IO[bytes]:
    handle = tar.extractfile(name)
    if handle is None:
        raise AssertionError(f"{name} is not a regular file in the image")
    return handle
