"""Builder of the double's python.buildEnv: merge packages into one venv-like tree.

Usage: python_env.py OUT INTERPRETER SITE_PACKAGES EXECUTABLE, with ``paths``,
``ignoreCollisions`` in the environment. Directories are created for real and
files symlinked (like nixpkgs' buildEnv/lndir). The same relative file from two
store paths is a collision, fatal unless the contents are identical or
``ignoreCollisions`` is set. ``bin/<python>`` plus ``pyvenv.cfg`` make the tree a
prefix whose interpreter sees the merged site-packages and not the host's;
Python scripts in ``bin/`` get that interpreter as their shebang.
"""

from __future__ import annotations

import filecmp
import os
import sys


def merge(paths: list[str], out: str, ignore_collisions: bool) -> None:
    owner: dict[str, str] = {}
    collisions = []
    for root in paths:
        for dirpath, dirs, files in os.walk(root, followlinks=True):
            rel_dir = os.path.relpath(dirpath, root)
            if rel_dir.split(os.sep)[0] == "nix-support":
                dirs[:] = []
                continue
            dirs.sort()
            os.makedirs(os.path.join(out, rel_dir), exist_ok=True)
            for name in sorted(files):
                rel = os.path.normpath(os.path.join(rel_dir, name))
                source = os.path.join(dirpath, name)
                target = os.path.join(out, rel)
                if rel in owner:
                    first = owner[rel]
                    if not filecmp.cmp(os.path.realpath(first), os.path.realpath(source), shallow=False):
                        collisions.append((rel, first, source))
                    continue
                owner[rel] = source
                os.symlink(os.path.realpath(source) if os.path.islink(source) else source, target)
    if collisions and not ignore_collisions:
        for _rel, first, second in collisions:
            print(f"collision between `{first}' and `{second}'", file=sys.stderr)
        print(
            f"buildEnv: {len(collisions)} file collision(s) in the environment; two store paths provide "
            "the same file (usually two versions of one package). Set `ignoreCollisions = true` to "
            "keep the first.",
            file=sys.stderr,
        )
        sys.exit(1)


def main() -> int:
    out, interpreter, site, executable = sys.argv[1:5]
    paths = [p for p in os.environ.get("paths", "").split() if p != interpreter]
    os.makedirs(out)
    merge(paths, out, os.environ.get("ignoreCollisions") == "1")
    bindir = os.path.join(out, "bin")
    os.makedirs(bindir, exist_ok=True)
    os.makedirs(os.path.join(out, site), exist_ok=True)
    host = os.path.realpath(os.path.join(interpreter, "bin", executable))
    with open(os.path.join(out, "pyvenv.cfg"), "w") as handle:
        handle.write(f"home = {os.path.dirname(host)}\ninclude-system-site-packages = false\n")
    for name in (executable, "python3", "python"):
        link = os.path.join(bindir, name)
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(host if name == executable else executable, link)
    env_python = os.path.join(bindir, executable)
    for name in sorted(os.listdir(bindir)):
        path = os.path.join(bindir, name)
        if name in (executable, "python3", "python") or not os.path.islink(path):
            continue
        real = os.path.realpath(path)
        with open(real, "rb") as handle:
            head = handle.readline()
            rest = handle.read()
        if head.startswith(b"#!") and b"python" in head:
            os.unlink(path)
            with open(path, "wb") as handle:
                handle.write(f"#!{env_python}\n".encode() + rest)
            os.chmod(path, 0o755)
    return 0


if __name__ == "__main__":
    sys.exit(main())
