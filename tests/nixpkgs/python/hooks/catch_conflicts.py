"""Find distributions provided by more than one store path in a package's runtime closure.

Walks ``$out/<site-packages>/*.dist-info`` and, recursively, every path listed in
``nix-support/propagated-build-inputs``, like nixpkgs' catch_conflicts.py.
"""

import os
import re
import sys


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def dist_names(path: str, site: str):
    directory = os.path.join(path, site)
    if not os.path.isdir(directory):
        return []
    names = []
    for entry in sorted(os.listdir(directory)):
        if entry.endswith(".dist-info"):
            meta = os.path.join(directory, entry, "METADATA")
            name = None
            if os.path.exists(meta):
                with open(meta, encoding="utf-8", errors="replace") as handle:
                    for line in handle:
                        if line.startswith("Name:"):
                            name = line.split(":", 1)[1].strip()
                            break
            names.append(normalise(name or entry.rsplit("-", 1)[0]))
    return names


def main() -> int:
    out, site = sys.argv[1], sys.argv[2]
    found: dict[str, dict[str, list[str]]] = {}  # name -> {store path: chain}
    seen: set[str] = set()
    stack = [(out, [out])]
    while stack:
        path, chain = stack.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in dist_names(path, site):
            found.setdefault(name, {}).setdefault(path, chain)
        prop = os.path.join(path, "nix-support", "propagated-build-inputs")
        if os.path.exists(prop):
            with open(prop) as handle:
                for dep in reversed(handle.read().split()):
                    stack.append((dep, chain + [dep]))
    conflicts = {name: paths for name, paths in found.items() if len(paths) > 1}
    for name, paths in sorted(conflicts.items()):
        print(f"Found duplicated packages in closure for dependency '{name}':", file=sys.stderr)
        for path, chain in sorted(paths.items()):
            print(f"  {path}", file=sys.stderr)
            print("    dependency chain:", file=sys.stderr)
            for i, link in enumerate(chain):
                print(f"    {'  ' * i}{'...depending on: ' if i else 'this derivation: '}{link}", file=sys.stderr)
    if conflicts:
        print(
            "\nPackage duplicates found in closure, see above. Usually this happens if two packages "
            "depend on different version of the same dependency.",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
