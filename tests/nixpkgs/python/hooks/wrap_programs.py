"""Rewrite Python scripts in $out/bin: interpreter shebang plus their site directories."""

import os
import sys


def closure(roots):
    seen, order, stack = set(), [], list(reversed(roots))
    while stack:
        path = stack.pop()
        if path in seen:
            continue
        seen.add(path)
        order.append(path)
        prop = os.path.join(path, "nix-support", "propagated-build-inputs")
        if os.path.exists(prop):
            with open(prop) as handle:
                stack.extend(reversed(handle.read().split()))
    return order


def main() -> int:
    out, site, interpreter, deps = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    dirs = [d for d in (os.path.join(p, site) for p in closure([out] + deps)) if os.path.isdir(d)]
    line = (
        "import sys;import site;import functools;sys.argv[0] = %r;"
        "functools.reduce(lambda k, p: site.addsitedir(p, k), %r, site._init_pathinfo())\n"
    )
    bindir = os.path.join(out, "bin")
    for name in sorted(os.listdir(bindir)):
        path = os.path.join(bindir, name)
        if os.path.islink(path) or not os.path.isfile(path):
            continue
        with open(path, "rb") as handle:
            head = handle.readline()
            rest = handle.read()
        if not (head.startswith(b"#!") and b"python" in head):
            continue
        os.chmod(path, 0o755)
        with open(path, "wb") as handle:
            handle.write(f"#!{interpreter}\n".encode())
            handle.write((line % (path, dirs)).encode())
            handle.write(rest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
