"""The double's cc-wrapper: the host's gcc/g++ with nixpkgs' compiler and linker flags.

nixpkgs' cc-wrapper adds ``NIX_CFLAGS_COMPILE`` (``-isystem <input>/include`` of every
input) to each compilation and ``NIX_LDFLAGS`` (``-L<input>/lib``) to each link, and its
ld-wrapper writes a RUNPATH entry for each library directory in the store that provided a
library linked with ``-l``, and the compiler's runtime (libstdc++, libgcc_s). That
RUNPATH is how the built extension finds its C library under nixpkgs' loader; a library
found elsewhere (the host's /usr/lib) gets none, and the double's loader check then fails
the import, as nixpkgs would.

Usage: cc_wrapper.py REAL-COMPILER ARGS…
"""

from __future__ import annotations

import os
import sys

STORE = os.environ.get("NIX_STORE", "/nix/store")


def outside_sandbox(directory: str) -> bool:
    """A library directory of the host (/usr/lib/…): absent from nixpkgs' build sandbox."""
    build = os.environ.get("NIX_BUILD_TOP") or os.getcwd()
    return os.path.isabs(directory) and not directory.startswith((STORE + "/", build, "/tmp"))


def main() -> int:
    real, args = sys.argv[1], sys.argv[2:]
    # -L of a host directory (a build's setup.py adds sysconfig's /usr/lib/x86_64-linux-gnu)
    # finds nothing in nixpkgs' sandbox: dropped, so that the inputs' libraries win as there.
    args = [a for a in args if not (a.startswith("-L") and outside_sandbox(a[2:]))]
    cflags = os.environ.get("NIX_CFLAGS_COMPILE", "").split()
    ldflags = os.environ.get("NIX_LDFLAGS", "").split()
    command = [real, *cflags, *args]
    if not any(arg in ("-c", "-S", "-E", "-M", "-MM") for arg in args):
        dirs = [a[2:] for a in args + ldflags if a.startswith("-L") and len(a) > 2]
        rpath: list[str] = []
        for arg in args + ldflags:
            if not arg.startswith("-l") or len(arg) < 3:
                continue
            name = arg[3:] if arg[2] == ":" else f"lib{arg[2:]}.so"
            hit = next((d for d in dirs if os.path.exists(os.path.join(d, name))), None)
            if hit is not None and hit.startswith(STORE + "/") and hit not in rpath:
                rpath.append(hit)
        # GCC's runtime (libstdc++, libgcc_s, which the driver links itself): nixpkgs' wrapper
        # puts the compiler's lib output on the RUNPATH too.
        if os.environ.get("NIX_CC_LIB"):
            rpath.append(os.environ["NIX_CC_LIB"])
        command += ldflags + [f"-Wl,-rpath,{d}" for d in rpath]
    os.execv(real, command)
    return 1


if __name__ == "__main__":
    sys.exit(main())
