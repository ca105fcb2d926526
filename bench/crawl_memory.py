"""Peak memory and requests of ``db crawl`` against a loopback mirror of the test snapshot.

The loopback registry (``tests/fakeregistry.py``) serves the 293 projects of
``tests/data/pypi-db`` (21,125 releases, 89,666 files, their real hashes), each wheel
with metadata as a PEP 658 file; wheels and sdists themselves are not served. Every
project is crawled as a root (all releases), one crawl per child process, and the child's
peak RSS (``ru_maxrss``) is reported with the crawl's summary.

    python3 bench/crawl_memory.py                        # this checkout
    python3 bench/crawl_memory.py --source OLD/resolver  # another checkout's crawler, same registry

``--source`` runs the crawler of another checkout (e.g. one from before the spool)
against the same registry, so the two figures compare like with like.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
source, tests, db_dir, index_url, files_url, names = sys.argv[1:7]
sys.path[:0] = [source]
from packaging.requirements import Requirement
from mach_nix.db import crawl, http, model
from mach_nix.db.crawl import Crawler, CrawlOptions
try:
    client = http.Client(index_url=index_url, files_url=files_url, backoff=0.01)
except TypeError:  # a crawler from before mirrors had their own files host
    http.SIMPLE_URL = index_url
    model.FILES_HOST = crawl.FILES_HOST = files_url
    client = http.Client(backoff=0.01)
start = time.monotonic()
options = CrawlOptions(progress=False, concurrency=8, hooks="never")
roots = [Requirement(n) for n in names.split(",")]
summary = Crawler(db_dir, options, client=client).run(roots, closure=False)
print(json.dumps({"seconds": round(time.monotonic() - start, 1), "requests": client.requests,
                  "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                  "files": summary.files, "releases": summary.releases, "failures": summary.failures}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", default=str(REPO / "resolver"), help="the resolver/ directory whose crawler runs")
    parser.add_argument("--projects", type=int, default=293, help="how many snapshot projects (default all 293)")
    args = parser.parse_args()
    sys.path[:0] = [str(REPO / "resolver"), str(REPO / "tests")]
    from fakeregistry import FakeRegistry
    from mach_nix.db.reader import DatabaseLayer

    layer = DatabaseLayer(REPO / "tests" / "data" / "pypi-db")
    names = layer.names()[: args.projects]
    registry = FakeRegistry().add_from_database(layer, names)
    with registry.serve() as server, tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-c", CHILD, args.source, str(REPO / "tests"), str(Path(tmp) / "db")]
        cmd += [server.index_url, server.files_url, ",".join(names)]
        env = {**os.environ, "PYTHONPATH": args.source}
        start = time.monotonic()
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        if out.returncode:
            sys.exit(out.stderr)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        result["wall_seconds"] = round(time.monotonic() - start, 1)
        result["source"] = args.source
        print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
