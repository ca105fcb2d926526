"""autoPatchelf for the nixpkgs double: resolve each ELF file's needed sonames.

Like nixpkgs' auto-patchelf, a soname is looked up first in the package's own
library directories (e.g. the ``*.libs/`` folder of an auditwheel wheel), then in
``lib/`` of the build inputs; glibc's own libraries come from the toolchain. The
RUNPATH of each file is set to the directories used. A soname found nowhere
fails the build unless it matches a glob of ``autoPatchelfIgnoreMissingDeps``.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import subprocess
import sys

# Provided by the C library of the toolchain (glibc), never searched for. (libcrypt is
# libxcrypt's in nixpkgs, so it is not among them.)
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
    "ld-linux-x86-64.so.2",
    "ld-linux-aarch64.so.1",
    "libBrokenLocale.so.1",
    "libthread_db.so.1",
}


def is_elf(path: str) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(4) == b"\x7fELF"
    except OSError:
        return False


def elf_files(roots: list[str]) -> list[str]:
    found = []
    for root in roots:
        for dirpath, _dirs, files in os.walk(root):
            for name in sorted(files):
                path = os.path.join(dirpath, name)
                if not os.path.islink(path) and is_elf(path):
                    found.append(path)
    return sorted(found)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patchelf", required=True)
    parser.add_argument("--paths", nargs="*", default=[])
    parser.add_argument("--libs", nargs="*", default=[])
    parser.add_argument("--runtime-dependencies", nargs="*", default=[])
    parser.add_argument("--append-runpaths", nargs="*", default=[])
    parser.add_argument("--ignore-missing", nargs="*", default=[])
    args = parser.parse_args()

    files = elf_files(args.paths)
    own_dirs = sorted({os.path.dirname(f) for f in files if ".so" in os.path.basename(f)})
    search = own_dirs + [d for d in args.libs if os.path.isdir(d)]
    missing = []
    for path in files:
        try:
            needed = subprocess.run(
                [args.patchelf, "--print-needed", path], capture_output=True, text=True, check=True
            ).stdout.split()
        except subprocess.CalledProcessError:
            continue  # not a dynamic object
        rpath = []
        for soname in needed:
            if soname in GLIBC:
                continue
            hit = next((d for d in search if os.path.exists(os.path.join(d, soname))), None)
            if hit is None:
                if any(fnmatch.fnmatch(soname, pattern) for pattern in args.ignore_missing):
                    print(f"auto-patchelf: ignoring missing {soname} wanted by {path}")
                    continue
                missing.append((soname, path))
                continue
            if hit not in rpath:
                rpath.append(hit)
        rpath += [f"{d}/lib" for d in args.runtime_dependencies] + list(args.append_runpaths)
        if rpath:
            os.chmod(path, os.stat(path).st_mode | 0o200)
            subprocess.run([args.patchelf, "--set-rpath", ":".join(rpath), path], check=True)
            print(f"auto-patchelf: {path}: RUNPATH={':'.join(rpath)}")
    if missing:
        for soname, path in missing:
            print(f"auto-patchelf could not satisfy dependency {soname} wanted by {path}", file=sys.stderr)
        print(
            "auto-patchelf failed to find all the required dependencies.\n"
            "Add the missing dependencies to --libs or use `autoPatchelfIgnoreMissingDeps = [ ... ];`.",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
