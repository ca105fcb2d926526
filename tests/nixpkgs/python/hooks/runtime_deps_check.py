"""Check a wheel's Requires-Dist against the distributions installed in the build env."""

import importlib.metadata
import sys
import zipfile
from email.parser import Parser

from packaging.requirements import Requirement


def main() -> int:
    wheel = sys.argv[1]
    with zipfile.ZipFile(wheel) as archive:
        meta_name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA") and n.count("/") == 1)
        metadata = Parser().parsestr(archive.read(meta_name).decode("utf-8"))
    errors = []
    for line in metadata.get_all("Requires-Dist") or []:
        requirement = Requirement(line)
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        try:
            version = importlib.metadata.version(requirement.name)
        except importlib.metadata.PackageNotFoundError:
            errors.append(f"- {requirement.name} not installed")
            continue
        if not requirement.specifier.contains(version, prereleases=True):
            errors.append(f"- {requirement.name}{requirement.specifier} not satisfied by version {version}")
    if errors:
        print(f"Checking runtime dependencies for {wheel.rsplit('/', 1)[-1]}", file=sys.stderr)
        print("\n".join(errors), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
