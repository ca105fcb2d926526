"""A lock for several targets through Nix: mkPython picks the entry of its interpreter and system
(``lib/targets.nix``), builds the x86_64-linux one for real, evaluates the aarch64-darwin one
(the double honours nixpkgs' ``system`` argument) and refuses a target the lock lacks."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from nixhelpers import CLI, SNAPSHOT_DB, machnix

pytestmark = pytest.mark.nix

DB = SNAPSHOT_DB
HERMETIC = ["--db", str(DB), "--offline", "--native-needs", "off"]


@pytest.fixture(scope="module")
def locks(nix, tmp_path_factory) -> dict[str, Path]:
    """The container for the double's CPython and 3.12 on x86_64-linux and aarch64-darwin, and the
    plain lock of x86_64-linux alone."""
    version = nix.eval_json(f"{nix.nixpkgs_expr()}.python3.version")
    directory = tmp_path_factory.mktemp("targets")
    paths = {"container": directory / "mach-nix.lock.json", "single": directory / "single.lock.json"}
    argv = [*CLI, "lock", "six", "greenlet", *HERMETIC, "--python", version]
    several = ["--python", "3.12", "--system", "x86_64-linux", "--system", "aarch64-darwin"]
    subprocess.run([*argv, *several, "-o", str(paths["container"])], check=True, capture_output=True)
    subprocess.run([*argv, "--system", "x86_64-linux", "-o", str(paths["single"])], check=True, capture_output=True)
    assert json.loads(paths["container"].read_text())["kind"] == "mach-nix-targets"
    return paths


def test_linux_entry_is_the_plain_lock_and_builds(nix, locks):
    pkgs = nix.nixpkgs_expr()
    no_ifd = ["--option", "allow-import-from-derivation", "false"]
    picked = nix.instantiate(machnix(pkgs, f"machNix.mkPython {{ lock = {locks['container']}; }}"), extra=no_ifd)
    assert picked == nix.instantiate(machnix(pkgs, f"machNix.mkPython {{ lock = {locks['single']}; }}"), extra=no_ifd)
    env = nix.build(machnix(pkgs, f"machNix.mkPython {{ lock = {locks['container']}; }}"))
    code = "import six, greenlet; print(six.__version__, greenlet.__version__)"
    assert (
        len(
            subprocess.run([f"{env}/bin/python", "-c", code], capture_output=True, text=True, check=True).stdout.split()
        )
        == 2
    )
    shell = machnix(pkgs, f"(machNix.mkPythonShell {{ lock = {locks['container']}; }}).drvPath")
    assert nix.eval_json(shell).endswith(".drv")


def test_darwin_entry_is_picked_for_a_darwin_nixpkgs(nix, locks):
    pkgs = nix.nixpkgs_expr("aarch64-darwin")
    target = nix.eval_json(machnix(pkgs, f"(machNix.mkPython {{ lock = {locks['container']}; }}).lock.target"))
    assert target["system"] == "aarch64-darwin" and target["macos"]
    assert nix.eval_json(machnix(pkgs, f"(machNix.mkPython {{ lock = {locks['container']}; }}).drvPath")).endswith(
        ".drv"
    )


def test_missing_target_is_refused_with_the_command(nix, locks):
    pkgs = nix.nixpkgs_expr("aarch64-linux")
    proc = nix.eval_json(machnix(pkgs, f"(machNix.mkPython {{ lock = {locks['container']}; }}).drvPath"), check=False)
    assert proc.returncode != 0
    assert "has no entry for Python" in proc.stderr and "on aarch64-linux; its targets are" in proc.stderr
    assert "--system x86_64-linux --system aarch64-darwin --system aarch64-linux" in proc.stderr
    assert "-o mach-nix.lock.json" in proc.stderr
