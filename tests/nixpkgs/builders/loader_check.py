"""The dynamic loader of nixpkgs, simulated: every shared library an ELF file needs must be
on its RUNPATH.

The double runs the host's CPython with the host's loader, which also searches the host's
system library directories and so finds libraries (libstdc++, libgcc_s, libz) that
nixpkgs' glibc never looks for. Under nixpkgs an extension whose needed library is not on
its RUNPATH fails to import; here the same files fail this check instead (the env build, or
the imports check of the package that ships them).

Usage: loader_check.py PATCHELF ROOT… (every regular ELF file under each ROOT is checked).
"""

from __future__ import annotations

import os
import subprocess
import sys

#: Sonames of nixpkgs' glibc (libcrypt is libxcrypt's there, so it is not among them).
GLIBC = {
    "libc.so.6",
    "libm.so.6",
    "libdl.so.2",
    "librt.so.1",
    "libpthread.so.0",
    "libutil.so.1",
    "libresolv.so.2",
    "libnsl.so.1",
    "libanl.so.1",
    "libmvec.so.1",
    "libthread_db.so.1",
    "libBrokenLocale.so.1",
    "ld-linux-x86-64.so.2",
    "ld-linux-aarch64.so.1",
}


STORE = os.environ.get("NIX_STORE", "/nix/store")

#: Where NixOS puts the GPU driver's libraries (nixpkgs' addDriverRunpath.driverLink + /lib).
DRIVER_LINK = "/run/opengl-driver/lib"
#: The driver's own libraries (those nixpkgs never provides in the store).
DRIVER_LIBRARIES = ("libcuda.so", "libnvidia-", "libnvcuvid.so", "libcudadebugger.so")


def is_elf(path: str) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(4) == b"\x7fELF"
    except OSError:
        return False


def unresolved(patchelf: str, path: str) -> list[tuple[str, str]]:
    """(soname, runpath) of every needed library of ``path`` its RUNPATH does not provide."""
    try:
        needed = subprocess.run([patchelf, "--print-needed", path], capture_output=True, text=True, check=True)
        rpath = subprocess.run([patchelf, "--print-rpath", path], capture_output=True, text=True, check=True)
    except subprocess.CalledProcessError:
        return []  # not a dynamic object
    origin = os.path.dirname(os.path.realpath(path))
    dirs = [d.replace("$ORIGIN", origin).replace("${ORIGIN}", origin) for d in rpath.stdout.strip().split(":") if d]
    # Under nixpkgs a RUNPATH entry outside the store (/usr/lib/x86_64-linux-gnu, baked in by a
    # build that found the host's library) finds nothing: only store directories count.
    dirs = [d for d in dirs if d.startswith(STORE + "/") or d == DRIVER_LINK]
    missing = []
    for soname in needed.stdout.split():
        if soname in GLIBC or "/" in soname:
            continue
        if DRIVER_LINK in dirs and soname.startswith(DRIVER_LIBRARIES):
            # The GPU driver's directory (nixpkgs' addDriverRunpath.driverLink) is filled by
            # the machine the environment runs on, not by the build: as under nixpkgs, what
            # the RUNPATH's store directories lack may be found there at run time.
            continue
        if not any(os.path.exists(os.path.join(d, soname)) for d in dirs):
            missing.append((soname, rpath.stdout.strip()))
    return missing


def main() -> int:
    patchelf, roots = sys.argv[1], sys.argv[2:]
    failures = []
    seen: set[str] = set()
    for root in roots:
        for dirpath, _dirs, files in os.walk(root, followlinks=True):
            for name in sorted(files):
                path = os.path.join(dirpath, name)
                real = os.path.realpath(path)
                if real in seen or not os.path.isfile(real) or not is_elf(real):
                    continue
                seen.add(real)
                failures += [(real, soname, rpath) for soname, rpath in unresolved(patchelf, real)]
    for path, soname, rpath in failures:
        print(
            f"nixpkgs' loader would not find {soname} for {path}: it is not on its RUNPATH "
            f"({rpath or 'none'}), and nixpkgs' glibc searches no system directory "
            f"(ImportError: {soname}: cannot open shared object file)",
            file=sys.stderr,
        )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
