"""The writable layer of a development shell: ``mkPythonShell { editable = [ ./. ]; }``.

Run by the shell's hook (``lib/editable.nix``) with the environment's base interpreter, as a
standalone script (standard library only, no mach-nix import)::

    python -I shell_venv.py        # reads the JSON spec from $machNixShell; prints the venv path

The spec (written by ``lib/editable.nix``)::

    { "venv": "<dir>" | null,            # null: <first project>/.mach-nix-venv
      "python": "<interpreter store path>", "interpreter": "<its bin/python3.X>",
      "sitePackages": "lib/python3.X/site-packages",
      "envSitePackages": "<the Nix environment's site-packages>",
      "projects": [ { "dir": "<source dir>", "root": "src" | "", "name": "<name>" | null,
                      "version": "<version>" | null, "dependencies": ["<PEP 508>", …],
                      "scripts": { "<script>": "module:function" } } ] }

What it makes, idempotently, every time the shell starts:

* a virtual environment (``python -m venv``, with pip, without system site-packages) at the
  venv path, created once per interpreter (a changed interpreter recreates it; a changed
  Nix environment only rewrites the files below, keeping what pip installed);
* ``_mach_nix_env.pth``: ``site.addsitedir(<the Nix environment's site-packages>)``, so the
  Nix environment comes after the venv's own site-packages: whatever ``pip install`` or
  ``uv pip install`` puts in the venv shadows it, and nothing is ever written to the store
  (uv2nix #184/#208);
* per project, PEP 660-style: ``_mach_nix_editable_<name>.pth`` holding its import root
  (the source tree itself, so edits need no rebuild), a ``<name>-<version>.dist-info`` with
  ``INSTALLER`` ``mach-nix``, ``direct_url.json`` (``dir_info.editable = true``),
  ``METADATA`` (name, version, Requires-Dist) and ``entry_points.txt``, and a script in the
  venv's ``bin/`` per ``[project.scripts]`` entry;
* when the Nix environment has setuptools, the venv's bundled copy is removed so that the
  environment's version is the one imported.

Files made by an earlier start are listed in ``.mach-nix-files`` and removed first.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

#: Marker in the venv: the interpreter it was created from.
PYTHON_MARKER = ".mach-nix-python"
#: The files this script wrote at the last start (relative to the venv).
MANIFEST = ".mach-nix-files"


def _dist_name(name: str) -> str:
    """The name as a .dist-info directory spells it (PEP 427 escaping)."""
    return re.sub(r"[-_.]+", "_", name)


class ShellError(Exception):
    """The layer cannot be made; the message says why and what to do."""


def ensure_venv(venv: Path, interpreter: str, python: str, env_site: Path, site_packages: str) -> bool:
    """Create the venv unless it exists for this interpreter; return whether it was (re)created.

    Only a venv this script made (it has the marker) is ever replaced; any other non-empty
    directory at that place is refused, never deleted."""
    marker = venv / PYTHON_MARKER
    if (venv / "bin" / "python").exists() and marker.is_file() and marker.read_text().strip() == python:
        return False
    if venv.exists() and not (venv.is_dir() and not any(venv.iterdir())):
        if not marker.is_file():
            raise ShellError(
                f"{venv} exists and is not a virtual environment made by mach-nix: remove it, or set venvDir "
                "in mkPythonShell to another directory"
            )
        print(f"mach-nix: recreating {venv} (made from another interpreter)", file=sys.stderr)
        shutil.rmtree(venv)
    subprocess.run([interpreter, "-m", "venv", str(venv)], check=True, stdout=subprocess.DEVNULL)
    bundled = venv / site_packages / "setuptools"
    if (env_site / "setuptools").is_dir() and bundled.is_dir():
        subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "uninstall", "-y", "-q", "setuptools"],
            check=True,
            stdout=subprocess.DEVNULL,
            env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
        )
    marker.write_text(python + "\n")
    return True


def _script(python: Path, target: str) -> str:
    module, _, attrs = target.partition(":")
    return (
        f"#!{python}\n# mach-nix: an editable project's script\nimport importlib, sys\n"
        f"f = importlib.import_module({module.strip()!r})\n"
        f"for a in {attrs.strip()!r}.split('.'):\n    f = getattr(f, a) if a else f\n"
        "sys.exit(f())\n"
    )


def project_files(project: dict, site: str, venv: Path) -> dict[str, str]:
    """The files of one editable project, by path relative to the venv."""
    name = project.get("name") or Path(project["dir"]).name
    source = Path(project["dir"]) / project.get("root", "")
    files = {f"{site}/_mach_nix_editable_{_dist_name(name)}.pth": f"{source.resolve()}\n"}
    version = project.get("version")
    if project.get("name") and version:
        info = f"{site}/{_dist_name(name)}-{version}.dist-info"
        metadata = [f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"]
        metadata += [f"Requires-Dist: {dep}\n" for dep in project.get("dependencies", [])]
        files[f"{info}/METADATA"] = "".join(metadata)
        files[f"{info}/INSTALLER"] = "mach-nix\n"
        url = Path(project["dir"]).resolve().as_uri()
        files[f"{info}/direct_url.json"] = json.dumps({"url": url, "dir_info": {"editable": True}}) + "\n"
        scripts = project.get("scripts", {})
        if scripts:
            lines = "".join(f"{key} = {value}\n" for key, value in sorted(scripts.items()))
            files[f"{info}/entry_points.txt"] = "[console_scripts]\n" + lines
        files[f"{info}/RECORD"] = "".join(f"{path.removeprefix(site + '/')},,\n" for path in sorted(files)) + (
            f"{info.removeprefix(site + '/')}/RECORD,,\n"
        )
    for script, target in sorted(project.get("scripts", {}).items()):
        files[f"bin/{script}"] = _script(venv / "bin" / "python", target)
    return files


def _located(project: dict) -> dict:
    """The project with its ``dir``: a project evaluated from a flake is a copy in the store
    (``dir`` null, ``subdir`` its place in the flake), and its source is that place under
    the directory the shell starts in (the flake's root)."""
    if project.get("dir"):
        return project
    return {**project, "dir": str(Path.cwd() / project.get("subdir", ""))}


def refresh(spec: dict) -> Path:
    """Make the venv and its files as the spec says; return the venv's path."""
    projects = [_located(project) for project in spec.get("projects", [])]
    if spec.get("venv"):
        venv = Path(spec["venv"])
    elif projects:
        venv = Path(projects[0]["dir"]) / ".mach-nix-venv"
    else:
        venv = Path.cwd() / ".mach-nix-venv"
    venv = venv.absolute()
    site = spec["sitePackages"]
    env_site = Path(spec["envSitePackages"])
    ensure_venv(venv, spec["interpreter"], spec["python"], env_site, site)

    manifest = venv / MANIFEST
    if manifest.is_file():
        for line in manifest.read_text().splitlines():
            old = venv / line
            if line and old.is_file():
                old.unlink()
                if old.parent.name.endswith(".dist-info") and not any(old.parent.iterdir()):
                    old.parent.rmdir()

    files = {f"{site}/_mach_nix_env.pth": f"import site; site.addsitedir({str(env_site)!r})\n"}
    for project in projects:
        files.update(project_files(project, site, venv))
    for relative, text in files.items():
        path = venv / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        if relative.startswith("bin/"):
            path.chmod(0o755)
    manifest.write_text("".join(f"{relative}\n" for relative in sorted(files)))
    return venv


def main() -> int:
    spec = json.loads(os.environ["machNixShell"])
    try:
        venv = refresh(spec)
    except (ShellError, OSError, subprocess.CalledProcessError) as error:
        print(f"mach-nix: {error}", file=sys.stderr)
        return 1
    for project in map(_located, spec.get("projects", [])):
        shown = project.get("name") or Path(project["dir"]).name
        print(f"mach-nix: {shown} is editable from {Path(project['dir']) / project.get('root', '')}", file=sys.stderr)
    print(f"mach-nix: pip and uv install into {venv} (over the Nix environment)", file=sys.stderr)
    print(venv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
