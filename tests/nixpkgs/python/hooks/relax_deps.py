"""Rewrite Requires-Dist in a wheel: relax ("1" = all) or remove the named requirements."""

import base64
import hashlib
import re
import sys
import zipfile

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name


def main() -> int:
    wheel, relax, remove = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
    relax_all = relax == ["1"]
    relax_names = {canonicalize_name(n) for n in relax if n != "1"}
    remove_names = {canonicalize_name(n) for n in remove if n != "1"}
    with zipfile.ZipFile(wheel) as archive:
        items = [(info, archive.read(info.filename)) for info in archive.infolist()]
    out = []
    for info, data in items:
        if info.filename.endswith(".dist-info/METADATA") and info.filename.count("/") == 1:
            lines = []
            for line in data.decode("utf-8").split("\n"):
                if line.startswith("Requires-Dist:"):
                    requirement = Requirement(line.split(":", 1)[1].strip())
                    name = canonicalize_name(requirement.name)
                    if name in remove_names:
                        continue
                    if relax_all or name in relax_names:
                        requirement.specifier = type(requirement.specifier)("")
                        line = f"Requires-Dist: {requirement}"
                lines.append(line)
            data = "\n".join(lines).encode("utf-8")
        out.append((info, data))
    record_lines = []
    for info, data in out:
        if re.search(r"\.dist-info/RECORD$", info.filename):
            record_name = info.filename
            continue
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record_lines.append(f"{info.filename},sha256={digest},{len(data)}")
    record_lines.append(f"{record_name},,")
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for info, data in out:
            if info.filename == record_name:
                data = ("\n".join(record_lines) + "\n").encode()
            archive.writestr(info, data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
