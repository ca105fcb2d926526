"""Size of a mach-nix database per release and per file, extrapolated to all of PyPI.

Usage::

    python bench/db_size.py [--db tests/data/pypi-db] [--pypi-projects 700000]
                            [--pypi-releases 7000000] [--pypi-files 14000000]

Prints the DB's bytes (on disk = unpacked, since shards are stored compressed;
and as a ``tar.xz``/``tar.gz`` for download), bytes per project, release and
file, and what the same per-unit costs give for PyPI's totals. The per-file
cost has a floor: every file carries two 256-bit hashes (its sha256, and the
blake2b path of its URL), 64 bytes of incompressible entropy.
"""

from __future__ import annotations

import argparse
import io
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "resolver"))

from mach_nix.db import store  # noqa: E402


def tar_size(path: Path, mode: str) -> int:
    """Size of a tarball of the DB directory compressed with ``mode`` (``w:gz`` / ``w:xz``)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:
        for file in sorted(path.rglob("*")):
            if file.is_file() and ".partial" not in file.parts:
                tar.add(file, arcname=str(file.relative_to(path)), recursive=False)
    return len(buf.getvalue())


def main() -> int:
    """Print the size report."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, default=ROOT / "tests" / "data" / "pypi-db")
    parser.add_argument("--pypi-projects", type=float, default=700_000)
    parser.add_argument("--pypi-releases", type=float, default=7_000_000)
    parser.add_argument("--pypi-files", type=float, default=14_000_000,
                        help="all files on PyPI (before our platform scope)")
    args = parser.parse_args()

    layer = store.DatabaseLayer(args.db)
    counts = layer.manifest["counts"]
    on_disk = sum(f.stat().st_size for f in (args.db / layer.manifest["shards_dir"]).iterdir())
    raw_json = 0
    metadata_records = 0
    requires_lists = 0
    for name in layer.names():
        data = layer.raw(name)
        assert data is not None
        raw_json += len(store.dumps(data).encode())
        metadata_records += len(data["metadata"])
        requires_lists += len(data["requires"])
    projects, releases, files = counts["projects"], counts["releases"], counts["files"]
    gz = tar_size(args.db, "w:gz")
    print(f"database {args.db}: {projects} projects, {releases} releases, {files} files (in scope)")
    print(f"  distinct metadata records {metadata_records}, distinct Requires-Dist lists {requires_lists}")
    print(f"  on disk (= unpacked) {on_disk} bytes; as tar.gz {gz} bytes; the JSON uncompressed {raw_json} bytes")
    per_release = on_disk / releases
    per_file = on_disk / files
    print(f"  {on_disk / projects:.0f} B/project, {per_release:.0f} B/release, {per_file:.0f} B/file "
          f"({files / releases:.2f} files/release in scope)")
    by_release = per_release * args.pypi_releases
    print(f"extrapolation to PyPI ({args.pypi_projects:.0f} projects, {args.pypi_releases:.0f} releases, "
          f"{args.pypi_files:.0f} files):")
    print(f"  by releases: {by_release / 1e6:.0f} MB (this sample's files/release)")
    print(f"  by files: {per_file * args.pypi_files / 1e6:.0f} MB if every PyPI file were in scope")
    print(f"  hash floor: {64 * args.pypi_files / 1e6:.0f} MB for two 32-byte hashes per file")
    return 0


if __name__ == "__main__":
    sys.exit(main())
