"""Rewrite Requires-Dist in a wheel: relax ("1" = all) or remove the named requirements.

As newest nixpkgs' python-relax-deps-hook.py, the METADATA is read with
``packaging.metadata`` and *validated* (``Metadata.from_raw``): a wheel whose metadata is
not valid (e.g. ``Metadata-Version: 2.0``, written by old bdist_wheel) fails the build.
Names are compared as written (nixpkgs does not normalise them). The wheel is rewritten
with a fresh RECORD (nixpkgs unpacks and repacks it with ``wheel``).
"""

import base64
import email.parser
import email.policy
import hashlib
import re
import sys
import zipfile

from packaging.metadata import Metadata, parse_email


def relaxed_metadata(data: bytes, relax: list[str], remove: list[str]) -> bytes:
    raw, _unparsed = parse_email(data)
    metadata = Metadata.from_raw(raw)  # raises on invalid metadata, as nixpkgs' hook does
    requirements = []
    for requirement in metadata.requires_dist or []:
        if remove == ["1"] or requirement.name in remove:
            continue
        if relax == ["1"] or requirement.name in relax:
            requirement.specifier = type(requirement.specifier)("")
        requirements.append(requirement)
    message = email.parser.BytesParser(policy=email.policy.compat32.clone(max_line_length=None)).parsebytes(data)
    del message["Requires-Dist"]
    for requirement in requirements:
        message.set_raw("Requires-Dist", str(requirement))
    return message.as_bytes()


def main() -> int:
    wheel, relax, remove = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
    with zipfile.ZipFile(wheel) as archive:
        items = [(info, archive.read(info.filename)) for info in archive.infolist()]
    out = []
    for info, data in items:
        if info.filename.endswith(".dist-info/METADATA") and info.filename.count("/") == 1:
            data = relaxed_metadata(data, relax, remove)
        out.append((info, data))
    record_lines = []
    record_name = None
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
