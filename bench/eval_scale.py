"""Evaluation cost of mkPython against a package set of nixpkgs' real size.

A real ``python3.pkgs`` has ~9,000 attributes; the test double has ~40. This script adds
``tests/nixpkgs/scale.nix`` (9,000 synthetic buildPythonPackage recipes plus 450 aliases)
to the double and times ``nix-instantiate`` of ``mkPython`` for one requirements file:

* nixpkgs leading ``_default`` (``nixpkgs,wheel,sdist``): the inventory is probed for the
  names the database can reach;
* nixpkgs last (the default ``wheel,sdist,nixpkgs``);
* a typo among the requirements (the resolution fails; no retry unless nixpkgs has one
  of the names the failed resolution could reach);
* lock mode (no resolution, no inventory).

Each is measured cold (a fresh comment line in the requirements: the resolver runs
again) and warm (the same expression again), with and without the 9,000 attributes, and
set against one full enumeration of the set (``nixpkgsInventory``), which is what
``_default = "nixpkgs…"`` and any failed resolution cost before. Run:

    python bench/eval_scale.py [--requirements bench/cases/1-small.txt] [--count 9000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
import nixhelpers  # noqa: E402


def timed(cmd: list[str], *, fails: bool = False) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=nixhelpers.nix_env(), capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if (proc.returncode != 0) != fails:
        raise SystemExit(
            f"unexpected {'success' if fails else 'failure'}: {' '.join(cmd[:3])} …\n{proc.stderr[-3000:]}"
        )
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requirements", default=str(REPO / "bench" / "cases" / "1-small.txt"))
    parser.add_argument("--db", default=str(REPO / "tests" / "data" / "pypi-db"))
    parser.add_argument("--count", type=int, default=9000, help="synthetic attributes (default: 9000)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    nixhelpers.configure_double()
    db = Path(args.db).resolve()
    requirements = Path(args.requirements).read_text()
    sets = {
        "double": f"(import {REPO}/tests/nixpkgs {{ }})",
        f"+{args.count}": f"(import {REPO}/tests/nixpkgs {{ overlays = [ "
        f"(import {REPO}/tests/nixpkgs/scale.nix {{ count = {args.count}; }}) ]; }})",
    }
    size = json.loads(
        subprocess.run(
            [
                "nix-instantiate",
                "--eval",
                "--json",
                "-E",
                f"builtins.length (builtins.attrNames {sets[f'+{args.count}']}.python3.pkgs)",
            ],
            env=nixhelpers.nix_env(),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    print(f"requirements {Path(args.requirements).name}, db {db}; the scaled python3.pkgs has {size} attributes")

    def lib(pkgs: str) -> str:
        return f"(import {REPO} {{ pkgs = {pkgs}; pypiData = {db}; }})"

    med = statistics.median
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        lock_path = Path(tmp) / "lock.json"
        lock = subprocess.run(
            [
                "nix-instantiate",
                "--eval",
                "--strict",
                "--json",
                "--read-write-mode",
                "-E",
                f"({lib(sets['double'])}.mkPython {{ requirements = {json.dumps(requirements)}; }}).lock",
            ],
            env=nixhelpers.nix_env(),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        lock_path.write_text(lock)
        cases = {
            "nixpkgs leading": ('providers._default = "nixpkgs,wheel,sdist";', requirements, False),
            "nixpkgs last": ("", requirements, False),
            "typo": ("", requirements + "\nreqeusts\n", True),
        }
        for label, (extra, text, fails) in cases.items():
            row = [label]
            for pkgs in sets.values():
                cold, warm = [], []
                for _ in range(args.repeat):
                    body = json.dumps(text + f"\n# {uuid.uuid4()}\n")
                    expr = f"({lib(pkgs)}.mkPython {{ requirements = {body}; {extra} }}).drvPath"
                    cmd = ["nix-instantiate", "--eval", "--read-write-mode", "-E", expr]
                    cold.append(timed(cmd, fails=fails))
                    warm.append(timed(cmd, fails=fails))
                row += [med(cold), med(warm)]
            rows.append(row)
        row = ["lock mode"]
        for pkgs in sets.values():
            expr = f"({lib(pkgs)}.mkPython {{ lock = {lock_path}; }}).drvPath"
            cmd = ["nix-instantiate", "--eval", "--option", "allow-import-from-derivation", "false", "-E", expr]
            times = [timed(cmd) for _ in range(args.repeat)]
            row += [med(times), med(times)]
        rows.append(row)
        full = [
            timed(["nix-instantiate", "--eval", "-E", f"builtins.length ({lib(pkgs)}.nixpkgsInventory {{ }})"])
            for pkgs in sets.values()
            for _ in range(args.repeat)
        ]
    heads = [f"{name} {kind}" for name in sets for kind in ("cold", "warm")]
    print(f"{'case':<17}" + "".join(f"{h:>14}" for h in heads))
    for row in rows:
        print(f"{row[0]:<17}" + "".join(f"{value:>13.2f}s" for value in row[1:]))
    half = len(full) // 2
    print(
        f"one full enumeration (nixpkgsInventory): double {med(full[:half]):.2f}s, "
        f"+{args.count} {med(full[half:]):.2f}s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
