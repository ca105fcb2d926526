"""What reading a native wheel's needed sonames costs (mach_nix.native_needs), against live PyPI.

    .venv/bin/python bench/native_needs.py torch tensorflow opencv-python numpy==2.3.5 scipy

For each project: the newest release's best CPython 3.11 manylinux x86_64 wheel, read by
range requests; prints the wheel's size, the bytes and requests the reader needed, the
time, and what the wheel needs from outside itself. Not part of the test suite (network).
"""

from __future__ import annotations

import json
import sys
import time
import urllib.parse
import urllib.request

from mach_nix.db.http import Client
from mach_nix.native_needs import read_wheel


def wheel_of(project: str, python: str = "cp311") -> tuple[str, int]:
    """URL and size of the Linux x86_64 wheel of ``name`` (newest) or ``name==version`` for ``python``
    (or abi3, or py3)."""
    name, _, version = project.partition("==")
    base = f"https://pypi.org/pypi/{name}/json"
    with urllib.request.urlopen(base) as answer:
        document = json.load(answer)
    files = document["releases"][version] if version else document["urls"]
    for preference in (f"-{python}-{python}-", "-abi3-", "-py3-none-"):
        for f in files:
            name = f["filename"]
            if preference in name and "manylinux" in name and "x86_64" in name and name.endswith(".whl"):
                return urllib.parse.urljoin(base, f["url"]), int(f["size"])
    raise SystemExit(f"{project}: no Linux x86_64 wheel for {python}")


def main(projects: list[str]) -> int:
    client = Client()
    print(f"{'wheel':60} {'size MB':>8} {'read MB':>8} {'share':>6} {'requests':>8} {'s':>6}  needs")
    for project in projects:
        url, size = wheel_of(project)
        requests = [0]

        def fetch(start: int, end: int, url: str = url, requests: list[int] = requests) -> bytes:
            requests[0] += 1
            return client.range(url, start, end)

        started = time.monotonic()
        facts = read_wheel(fetch, size)
        took = time.monotonic() - started
        name = url.rsplit("/", 1)[-1]
        print(
            f"{name[:60]:60} {size / 1e6:8.1f} {facts.fetched / 1e6:8.1f} {facts.fetched / size:6.0%} "
            f"{requests[0]:8} {took:6.1f}  {len(facts.provides)} shipped; {' '.join(facts.needed)}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
