"""Size of a mach-nix database (format 2): the dependency graph and the file index, apart.

Usage::

    python bench/db_size.py [--db tests/data/pypi-db]
                            [--pypi-projects 700000] [--pypi-releases 7000000] [--pypi-files 14000000]
                            [--scope-share 1.0] [--synthetic DIR]

Measures, for the graph-only download (manifest.json, shards.json and the
graph shards: what ``mach-nix db slim`` produces), for the file index and for
the whole DB: bytes on disk (= unpacked: members stay compressed), as a
``tar.gz``, the content uncompressed, and per project, release and file.

Then estimates a full-PyPI database from the given counts:

* graph, snapshot model: the graph's bytes split into a per-project, a
  per-release and a per-file part (by re-encoding each project without its
  files, and without its releases), applied to the PyPI counts;
* graph, synthetic: measured on a synthetic full-size DB built by
  ``python bench/db_scale.py --keep DIR`` (pass ``--synthetic DIR``);
* file index: per-file bytes times files; its floor is the two 256-bit values
  every file carries (sha256, and the hash in its URL path), 64 bytes of
  entropy.

``--pypi-files`` counts all files on PyPI; the platform scope (docs/db-format.md
§5) drops Windows-only wheels, other architectures, binary wheels for Python <
3.8, eggs and installers. Without a measured share the estimate keeps them all
(``--scope-share 1.0``): an upper bound.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tarfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "resolver"))

from mach_nix.db import format as db_format  # noqa: E402
from mach_nix.db import store  # noqa: E402

#: The original mach-nix's data (nix-pypi-fetcher and pypi-deps-db), measured April 2022.
ORIGINAL_FETCHER_TGZ = 242e6
ORIGINAL_FETCHER_UNPACKED = 870e6
ORIGINAL_DEPS_UNPACKED = 1.3e9


class _Count(io.RawIOBase):
    """A write-only sink that counts bytes (tarballs are measured, not kept)."""

    def __init__(self) -> None:
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.size += len(data)
        return len(data)


def tar_gz_size(root: Path, files: list[Path]) -> int:
    """Size of a ``tar.gz`` (level 9) of ``files``, named relative to ``root``, in sorted order."""
    sink = _Count()
    with tarfile.open(fileobj=sink, mode="w:gz", compresslevel=9) as tar:
        for file in sorted(files):
            tar.add(file, arcname=str(file.relative_to(root)), recursive=False)
    return sink.size


def parts(db: Path) -> dict[str, list[Path]]:
    """The files of each part of the DB at ``db``: ``graph`` (the graph-only download) and ``files``."""
    manifest = store.read_manifest(db)
    generation = db / manifest["shards_dir"]
    graph = [db / db_format.MANIFEST, generation / db_format.SHARDS_TABLE]
    graph += [f for f in generation.iterdir() if f.suffix in (".idx", ".dat")]
    files_dir = generation / db_format.FILES_DIR
    files = [f for f in files_dir.iterdir() if f.suffix in (".idx", ".dat")] if files_dir.is_dir() else []
    return {"graph": graph, "files": files}


def graph_model(layer: store.DatabaseLayer) -> dict[str, float]:
    """Split the graph's bytes into per-project, per-release and per-file parts, and ``shards.json``.

    Each project's member is re-encoded with every release's file list emptied
    (the difference is the files' cost) and with no releases and empty
    requires/metadata tables (what is left, plus its shard index line, is the
    per-project cost: name, serial, framing). The rest is the releases' cost,
    including the tables they reference. ``shards.json`` is kept apart: it
    grows with the number of shards, not of projects.
    """
    full = without_files = bare = 0
    uncompressed = 0
    requires = metadata = 0
    for name in layer.names():
        data = layer.raw(name)
        assert data is not None
        text = db_format.dumps(data).encode()
        uncompressed += len(text)
        zdict = layer.zdict  # members are compressed against the DB's dictionary
        full += len(db_format.compress(text, zdict))
        stripped = dict(data, releases=[dict(r, f=[]) for r in data["releases"]])
        without_files += len(db_format.compress(db_format.dumps(stripped).encode(), zdict))
        bare += len(
            db_format.compress(db_format.dumps(dict(data, releases=[], requires=[], metadata=[])).encode(), zdict)
        )
        requires += len(data["requires"])
        metadata += len(data["metadata"])
    counts = layer.manifest["counts"]
    table = len((layer.path / layer.manifest["shards_dir"] / db_format.SHARDS_TABLE).read_bytes())
    index_lines = layer.manifest["bytes"]["graph"] - full
    shard_entries = sum(len(v) for v in layer.shard_table.values())
    return {
        "per_project": (bare + index_lines) / counts["projects"],
        "per_release": (without_files - bare) / counts["releases"],
        "per_file": (full - without_files) / counts["files"],
        "per_shard_entry": table / shard_entries,
        "shards_json": table,
        "uncompressed": uncompressed,
        "requires_lists": requires,
        "metadata_records": metadata,
    }


def files_uncompressed(layer: store.DatabaseLayer) -> int:
    """Bytes of the file index as text (all members decompressed)."""
    generation = layer.path / layer.manifest["shards_dir"] / db_format.FILES_DIR
    total = 0
    for key in layer.shard_table["files"]:
        dat = (generation / f"{key}.dat").read_bytes()
        idx = (generation / f"{key}.idx").read_text()
        for line in idx.splitlines():
            _name, offset, length = line.split("\t")
            total += len(db_format.decompress(dat[int(offset) : int(offset) + int(length)]))
    return total


def mb(value: float) -> str:
    """Bytes as MB with one decimal below 100 MB."""
    return f"{value / 1e6:.1f} MB" if value < 100e6 else f"{value / 1e6:.0f} MB"


def table(rows: list[list[str]]) -> str:
    """A Markdown table (first row: header)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["| " + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) + " |" for row in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def main() -> int:
    """Print the size report."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--db",
        type=Path,
        default=ROOT / "tests" / "data" / "pypi-db",
        help="a full database (graph and file index); default tests/data/pypi-db",
    )
    parser.add_argument("--pypi-projects", type=float, default=700_000, help="projects on PyPI (default 700000)")
    parser.add_argument("--pypi-releases", type=float, default=7_000_000, help="releases on PyPI (default 7000000)")
    parser.add_argument(
        "--pypi-files",
        type=float,
        default=14_000_000,
        help="files on PyPI, before the platform scope (default 14000000)",
    )
    parser.add_argument(
        "--scope-share",
        type=float,
        default=1.0,
        help="share of PyPI's files (and releases) inside the platform scope (default 1.0: an upper bound)",
    )
    parser.add_argument(
        "--synthetic",
        type=Path,
        help="a synthetic full-size DB kept by 'bench/db_scale.py --keep DIR': report its sizes",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON instead")
    args = parser.parse_args()

    layer = store.DatabaseLayer(args.db)
    manifest = layer.manifest
    counts = manifest["counts"]
    projects, releases, files = counts["projects"], counts["releases"], counts["files"]
    part_files = parts(args.db)
    if not part_files["files"]:
        parser.error(f"{args.db} is graph-only: pass the full database")
    model = graph_model(layer)
    measured: dict[str, dict[str, float]] = {}
    for part in ("graph", "files"):
        disk = sum(f.stat().st_size for f in part_files[part])
        measured[part] = {"disk": disk, "tar_gz": tar_gz_size(args.db, part_files[part])}
    measured["graph"]["uncompressed"] = model["uncompressed"]
    measured["files"]["uncompressed"] = files_uncompressed(layer)
    measured["total"] = {k: measured["graph"][k] + measured["files"][k] for k in ("disk", "uncompressed")}
    measured["total"]["tar_gz"] = tar_gz_size(args.db, part_files["graph"] + part_files["files"])

    scope = args.scope_share
    pypi_p, pypi_r, pypi_f = args.pypi_projects, args.pypi_releases * scope, args.pypi_files * scope
    file_index_per_file = measured["files"]["disk"] / files
    prefix = db_format.prefix_length_for(int(pypi_p))
    shard_entries = 16**prefix + 16 ** (prefix + db_format.FILES_PREFIX_EXTRA)
    shards_json = shard_entries * model["per_shard_entry"]
    estimate = {
        "graph_snapshot_model": pypi_p * model["per_project"]
        + pypi_r * model["per_release"]
        + pypi_f * model["per_file"]
        + shards_json,
        "graph_by_file": pypi_f * measured["graph"]["disk"] / files,
        "graph_by_release": pypi_r * measured["graph"]["disk"] / releases,
        "files": pypi_f * file_index_per_file,
        "files_floor": pypi_f * 64,
    }
    synthetic: dict[str, Any] | None = None
    if args.synthetic:
        syn = store.read_manifest(args.synthetic)
        syn_parts = parts(args.synthetic)
        synthetic = {
            "counts": syn["counts"],
            "bytes": syn["bytes"],
            "graph_download_disk": sum(f.stat().st_size for f in syn_parts["graph"]),
            "graph_download_tar_gz": tar_gz_size(args.synthetic, syn_parts["graph"]),
        }
    if args.json:
        print(
            json.dumps(
                {
                    "db": str(args.db),
                    "counts": counts,
                    "measured": measured,
                    "graph_model": model,
                    "estimate": estimate,
                    "synthetic": synthetic,
                },
                indent=1,
                sort_keys=True,
            )
        )
        return 0

    print(
        f"database {args.db}: {projects} projects, {releases} releases, {files} files "
        f"({files / releases:.2f} files/release); {model['metadata_records']} distinct metadata records, "
        f"{model['requires_lists']} distinct Requires-Dist lists\n"
    )
    rows = [["part", "on disk (= unpacked)", "tar.gz", "content uncompressed", "B/project", "B/release", "B/file"]]
    labels = {"graph": "graph-only download", "files": "file index", "total": "whole DB"}
    for part in ("graph", "files", "total"):
        m = measured[part]
        rows.append(
            [
                labels[part],
                f"{m['disk']:,}",
                f"{m['tar_gz']:,}",
                f"{m['uncompressed']:,}",
                f"{m['disk'] / projects:,.0f}",
                f"{m['disk'] / releases:.1f}",
                f"{m['disk'] / files:.1f}",
            ]
        )
    print(table(rows))
    print(
        f"\ngraph model (snapshot): {model['per_project']:.0f} B/project + {model['per_release']:.1f} B/release "
        f"+ {model['per_file']:.1f} B/file, + shards.json {model['per_shard_entry']:.0f} B/shard "
        f"(here {model['shards_json']:,} B)\n"
    )

    print(
        f"full PyPI: {pypi_p:,.0f} projects, {pypi_r:,.0f} releases, {pypi_f:,.0f} files"
        + (" (scope share 1.0: all files kept, an upper bound)" if scope == 1.0 else f" (scope share {scope})")
    )
    rows = [["estimate", "bytes (unpacked ~ tar.gz)", "how"]]
    rows.append(
        [
            "graph, snapshot model",
            mb(estimate["graph_snapshot_model"]),
            f"per project + per release + per file + shards.json ({shard_entries:,} shards: {mb(shards_json)})",
        ]
    )
    rows.append(
        [
            "graph, naive per file",
            mb(estimate["graph_by_file"]),
            "files x snapshot B/file (too low: no per-project cost for 700k small projects)",
        ]
    )
    rows.append(
        [
            "graph, naive per release",
            mb(estimate["graph_by_release"]),
            f"releases x snapshot B/release (at the snapshot's {files / releases:.1f} files/release)",
        ]
    )
    if synthetic is not None:
        c, b = synthetic["counts"], synthetic["bytes"]
        rows.append(
            [
                "graph, synthetic DB (measured)",
                mb(synthetic["graph_download_disk"]),
                f"{c['projects']:,} projects, {c['releases']:,} releases, {c['files']:,} files; "
                f"tar.gz {mb(synthetic['graph_download_tar_gz'])}",
            ]
        )
        rows.append(["file index, synthetic DB (measured)", mb(b["files"]), f"{b['files'] / c['files']:.1f} B/file"])
    rows.append(["file index", mb(estimate["files"]), f"files x {file_index_per_file:.1f} B/file"])
    rows.append(["file index floor", mb(estimate["files_floor"]), "files x 64 B (sha256 + URL hash)"])
    print(table(rows))

    original_unpacked = ORIGINAL_FETCHER_UNPACKED + ORIGINAL_DEPS_UNPACKED
    graph = synthetic["graph_download_disk"] if synthetic is not None else estimate["graph_snapshot_model"]
    graph_tgz = synthetic["graph_download_tar_gz"] if synthetic is not None else graph
    print(f"\nagainst the original mach-nix ({'synthetic graph' if synthetic else 'snapshot model'}):")
    rows = [["", "original", "graph-only download", "original / graph"]]
    rows.append(
        [
            "compressed download",
            f"{mb(ORIGINAL_FETCHER_TGZ)} (fetcher tar.gz) + dependency DB tar.gz",
            mb(graph_tgz),
            f"{ORIGINAL_FETCHER_TGZ / graph_tgz:.2f} + dependency DB share",
        ]
    )
    rows.append(
        ["unpacked", f"{mb(original_unpacked)} (870 MB + 1.3 GB)", mb(graph), f"{original_unpacked / graph:.1f}"]
    )
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
