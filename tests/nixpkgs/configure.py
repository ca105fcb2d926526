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
