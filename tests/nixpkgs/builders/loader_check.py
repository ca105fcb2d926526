"""The dynamic loader of nixpkgs, simulated: every shared library a loaded ELF file needs
must be on its RUNPATH.

The double runs the host's CPython with the host's loader, which also searches the host's
system library directories and so finds libraries (libstdc++, libgcc_s, libz) that
nixpkgs' glibc never looks for. Under nixpkgs an extension whose needed library is not on
its RUNPATH fails to import; here the same files fail this check instead (the env build, or
the imports check of the package that ships them).

What the loader loads: Python extension modules (``*.cpython-*.so``, ``*.abi3.so``, and
plain ``*.so`` modules exporting ``PyInit_<name>``) and executables, then, transitively,
every library they need, found through the RUNPATH of the file that needs it. Those are
checked; a plugin nothing links (NVSHMEM's MPI bootstrap, a Qt platform plugin) is opened
with dlopen only when its feature is used, and is not (autoPatchelf and mach-nix's own
check still see every ELF file).

Usage: loader_check.py PATCHELF ROOT… (what is loaded from under each ROOT is checked).
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


def _run(patchelf: str, option: str, path: str) -> str | None:
    proc = subprocess.run([patchelf, option, path], capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else None


def is_entry(patchelf: str, path: str) -> bool:
    """An extension module Python imports, or an executable."""
    name = os.path.basename(path)
    if ".cpython-" in name or name.endswith(".abi3.so"):
        return name.endswith(".so")
    stem = name.split(".", 1)[0]
    if name.endswith(".so") and stem.isidentifier() and not stem.startswith("lib"):
        try:
            if os.path.getsize(path) < 64 * 1024 * 1024:
                with open(path, "rb") as handle:
                    if f"PyInit_{stem}".encode() in handle.read():
                        return True
        except OSError:
            pass
    return _run(patchelf, "--print-interpreter", path) is not None


def search_dirs(patchelf: str, path: str) -> tuple[list[str], str]:
    """The store directories of ``path``'s RUNPATH ($ORIGIN resolved), and the RUNPATH itself."""
    rpath = _run(patchelf, "--print-rpath", path) or ""
    origin = os.path.dirname(os.path.realpath(path))
    dirs = [d.replace("$ORIGIN", origin).replace("${ORIGIN}", origin) for d in rpath.split(":") if d]
    # Under nixpkgs a RUNPATH entry outside the store (/usr/lib/x86_64-linux-gnu, baked in by a
    # build that found the host's library) finds nothing: only store directories count.
    return [d for d in dirs if d.startswith(STORE + "/") or d == DRIVER_LINK], rpath


def main() -> int:
    patchelf, roots = sys.argv[1], sys.argv[2:]
    failures = []
    queue: list[str] = []
    seen: set[str] = set()
    for root in roots:
        for dirpath, _dirs, files in os.walk(root, followlinks=True):
            for name in sorted(files):
                real = os.path.realpath(os.path.join(dirpath, name))
                if real not in seen and os.path.isfile(real) and is_elf(real) and is_entry(patchelf, real):
                    seen.add(real)
                    queue.append(real)
    while queue:
        path = queue.pop()
        needed = _run(patchelf, "--print-needed", path)
        if needed is None:
            continue  # not a dynamic object
        dirs, rpath = search_dirs(patchelf, path)
        for soname in needed.split():
            if soname in GLIBC or "/" in soname:
                continue
            if DRIVER_LINK in dirs and soname.startswith(DRIVER_LIBRARIES):
                # The GPU driver's directory (nixpkgs' addDriverRunpath.driverLink) is filled by
                # the machine the environment runs on, not by the build: as under nixpkgs, what
                # the RUNPATH's store directories lack may be found there at run time.
                continue
            hit = next((os.path.join(d, soname) for d in dirs if os.path.exists(os.path.join(d, soname))), None)
            if hit is None:
                failures.append((path, soname, rpath))
                continue
            real = os.path.realpath(hit)
            # A host library behind a store symlink stands in for a nixpkgs package (zlib,
            # libGL, gdal): nixpkgs resolves its own dependencies, so it is not followed.
            if real not in seen and real.startswith(STORE + "/"):
                seen.add(real)
                queue.append(real)
    for path, soname, rpath in sorted(failures):
        print(
            f"nixpkgs' loader would not find {soname} for {path}: it is not on its RUNPATH "
            f"({rpath or 'none'}), and nixpkgs' glibc searches no system directory "
            f"(ImportError: {soname}: cannot open shared object file)",
            file=sys.stderr,
        )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
