"""Evaluation time of mkPython: cold and warm, IFD mode and lock mode.

For each case (a small, a ~50-package and a 100+-package environment, from the
requirements in bench/cases/), this script measures `nix-instantiate` of
`mkPython`:

* IFD cold:  requirements changed (a fresh comment line), so the resolver runs again;
* IFD warm:  the same expression again (the lock comes from the store);
* lock cold/warm: `mkPython { lock = …; }` with allow-import-from-derivation off.

It prints seconds and the ratios to the original's 5-6 s re-evaluation of an
unchanged three-package environment (its issue #523). Run:

    python bench/eval_bench.py [--db tests/data/pypi-db] [--nixpkgs PATH] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
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

CASES = REPO / "bench" / "cases"


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=nixhelpers.nix_env(), capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd[:3])} …\n{proc.stderr[-3000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default=str(REPO / "tests" / "data" / "pypi-db"))
    parser.add_argument("--nixpkgs", help="a real nixpkgs checkout (default: the test double)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.nixpkgs:
        os.environ["MACH_NIX_TEST_NIXPKGS"] = args.nixpkgs
    else:
        nixhelpers.configure_double()
    pkgs = nixhelpers.nixpkgs_expr()
    version = json.loads(
        subprocess.run(
            ["nix-instantiate", "--eval", "--json", "-E", f"({pkgs}).python3.version"],
            env=nixhelpers.nix_env(),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    db = Path(args.db).resolve()
    print(f"python {version}, db {db}, nixpkgs {'double' if not args.nixpkgs else args.nixpkgs}")
    print(
        f"{'case':<10}{'packages':>9}{'IFD cold':>10}{'IFD warm':>10}"
        f"{'lock cold':>11}{'lock warm':>11}{'warm vs 5.5 s':>15}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for case in sorted(CASES.glob("*.txt")):
            requirements = case.read_text()
            lock_path = Path(tmp) / f"{case.stem}.lock.json"
            subprocess.run(
                ["mach-nix", "lock", "-r", str(case), "--python", version, "--db", str(db), "-o", str(lock_path)],
                check=True,
                capture_output=True,
            )
            count = len(json.loads(lock_path.read_text())["packages"])

            def ifd_expr(text: str) -> str:
                return (
                    f"(import {REPO} {{ pkgs = {pkgs}; pypiData = {db}; }}).mkPython "
                    f"{{ requirements = {json.dumps(text)}; }}"
                )

            lock_expr = f"(import {REPO} {{ pkgs = {pkgs}; pypiData = {db}; }}).mkPython {{ lock = {lock_path}; }}"
            cold, warm, lcold, lwarm = [], [], [], []
            for _ in range(args.repeat):
                text = requirements + f"\n# {uuid.uuid4()}\n"
                cold.append(timed(["nix-instantiate", "-E", ifd_expr(text)]))
                warm.append(timed(["nix-instantiate", "-E", ifd_expr(text)]))
                lcold.append(
                    timed(["nix-instantiate", "--option", "allow-import-from-derivation", "false", "-E", lock_expr])
                )
                lwarm.append(
                    timed(["nix-instantiate", "--option", "allow-import-from-derivation", "false", "-E", lock_expr])
                )
            if os.environ.get("BENCH_DEBUG"):
                print(cold, warm, lcold, lwarm)
            med = statistics.median
            print(
                f"{case.stem:<10}{count:>9}{med(cold):>10.2f}{med(warm):>10.2f}{med(lcold):>11.2f}{med(lwarm):>11.2f}"
                f"{5.5 / med(warm):>14.1f}x"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
