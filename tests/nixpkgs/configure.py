"""Describe the host to the nixpkgs test double: write ``host.json`` beside this file.

The double wraps the host's CPython and a few host libraries and tools instead of
building them from source (there is no nixpkgs here). Run it with the interpreter
the double should wrap (the test suite does this itself):

    python tests/nixpkgs/configure.py
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path


def _gcc_lib(name: str) -> str | None:
    """Return the host path of a GCC runtime library (libstdc++, libgcc_s, libgomp)."""
    try:
        out = subprocess.run(
            ["gcc", f"-print-file-name={name}"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        out = ""
    if out and os.path.isabs(out) and os.path.exists(out):
        return os.path.realpath(out)
    for libdir in ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/lib64", "/usr/lib64", "/usr/lib"):
        candidate = os.path.join(libdir, name)
        if os.path.exists(candidate):
            return os.path.realpath(candidate)
    return None


#: Host libraries the double wraps as nixpkgs packages (build-support.nix, `hostPackage`):
#: attribute -> sonames (lib/), headers and directories under /usr/include (include/), data
#: directories under /usr/share (share/), and config tools the double rewrites to report the
#: package's store paths. scripts/install-deps installs them (Debian names in the comments).
HOST_PACKAGES: dict[str, dict[str, list[str]]] = {
    # libgl1, libegl1
    "libGL": {"libs": ["libGL.so.1", "libEGL.so.1", "libGLX.so.0", "libOpenGL.so.0", "libGLdispatch.so.0"]},
    # libglib2.0-0
    "glib": {
        "libs": [
            "libglib-2.0.so.0",
            "libgthread-2.0.so.0",
            "libgobject-2.0.so.0",
            "libgio-2.0.so.0",
            "libgmodule-2.0.so.0",
        ]
    },
    # libx11-6, libxext6, libxrender1, libsm6, libice6, libxcb1
    "libX11": {"libs": ["libX11.so.6", "libX11-xcb.so.1"]},
    "libXext": {"libs": ["libXext.so.6"]},
    "libXrender": {"libs": ["libXrender.so.1"]},
    "libSM": {"libs": ["libSM.so.6"]},
    "libICE": {"libs": ["libICE.so.6"]},
    "libxcb": {"libs": ["libxcb.so.1"]},
    # libgfortran5, libquadmath0 (nixpkgs: gfortran.cc.lib)
    "gfortran": {"libs": ["libgfortran.so.5", "libquadmath.so.0"]},
    # libgeos-dev
    "geos": {
        "libs": ["libgeos_c.so.1", "libgeos_c.so"],
        "include": ["geos_c.h", "geos.h", "geos"],
        "tools": ["geos-config"],
    },
    # libproj-dev, proj-bin, proj-data
    "proj": {
        "libs": ["libproj.so.25", "libproj.so"],
        "include": ["proj.h", "proj_constants.h", "proj_experimental.h", "proj_symbol_rename.h", "proj"],
        "share": ["proj"],
        "tools": ["proj", "projinfo"],
    },
    # libgdal-dev, gdal-bin, gdal-data
    "gdal": {
        "libs": ["libgdal.so.32", "libgdal.so"],
        "include": ["gdal/"],
        "share": ["gdal"],
        "tools": ["gdal-config"],
    },
    # libpq-dev
    "libpq": {"libs": ["libpq.so.5", "libpq.so"], "include": ["postgresql/"], "tools": ["pg_config"]},
}


def _host_packages() -> dict[str, dict]:
    """The HOST_PACKAGES present on this host, with the paths of their files."""
    found = {}
    for attr, spec in HOST_PACKAGES.items():
        libs = {so: _gcc_lib(so) for so in spec.get("libs", [])}
        if not all(libs.values()):
            continue
        found[attr] = {
            "libs": {so: path for so, path in libs.items() if path},
            "include": [p for p in (f"/usr/include/{i}" for i in spec.get("include", [])) if os.path.exists(p)],
            "share": [p for p in (f"/usr/share/{d}" for d in spec.get("share", [])) if os.path.isdir(p)],
            "tools": {t: os.path.realpath(shutil.which(t) or "") for t in spec.get("tools", []) if shutil.which(t)},
        }
    return found


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise SystemExit(f"configure: '{name}' is not installed on this host (apt-get install {name})")
    return os.path.realpath(path)


def describe_host() -> dict:
    """Collect everything the double needs to know about the host."""
    purelib = Path(sysconfig.get_paths(vars={"base": "/", "platbase": "/"})["purelib"])
    libs = {name: _gcc_lib(name) for name in ("libstdc++.so.6", "libgcc_s.so.1", "libgomp.so.1")}
    zlib = _gcc_lib("libz.so.1")
    return {
        "python": os.path.realpath(sys.executable),
        "pythonVersion": "{}.{}.{}".format(*sys.version_info[:3]),
        "sitePackages": str(purelib).lstrip("/"),
        "bash": _tool("bash"),
        "patchelf": _tool("patchelf"),
        "path": "/usr/local/bin:/usr/bin:/bin",
        "ccLibs": {k: v for k, v in libs.items() if v},
        "zlib": zlib,
        "packages": _host_packages(),
        "system": {"x86_64": "x86_64-linux", "aarch64": "aarch64-linux"}[os.uname().machine],
        # The host's glibc runs every binary the double builds: it is the double's glibc.
        "glibc": (os.confstr("CS_GNU_LIBC_VERSION") or "glibc 2.40").split()[-1],
    }


def main() -> int:
    target = Path(__file__).resolve().with_name("host.json")
    text = json.dumps(describe_host(), indent=2, sort_keys=True) + "\n"
    if not target.exists() or target.read_text() != text:
        tmp = target.with_suffix(".json.tmp")
        tmp.write_text(text)
        tmp.replace(target)
    print(target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
