#!/usr/bin/env python3
"""Locking real requirements files from an empty cache: mach-nix vs uv vs pip, against live PyPI.

Usage::

    python bench/cold_lock.py [--cases bench/cases/real-world] [--only s3fs.txt,ctfd.txt]
                              [--warm-repeat 3] [--no-pip] [--json FILE]

For each file of ``bench/cases/real-world`` (``cases.json`` gives its Python), in one run:

* **cold**, each tool from an empty cache of its own (a fresh ``XDG_CACHE_HOME``):

  * ``mach-nix lock -r FILE --python X`` with no ``--db`` (``MACH_NIX_NO_SERVER=1``): the
    cache of fetched metadata is the only database, everything comes from PyPI; the HTTP
    requests it made are read from its ``fetched … (N requests)`` line;
  * ``uv pip compile --no-cache --python-version X FILE``; its requests are counted from
    ``RUST_LOG=uv_client=debug`` (``Sending … request`` lines: pages and ``HEAD``s; the range
    reads that follow a ``HEAD`` are not logged, so this is a lower bound);
  * ``pip install --dry-run --ignore-installed --no-cache-dir --report - -r FILE``, with
    ``--python-version X --only-binary=:all:`` when X is not pip's own interpreter (pip
    cannot build sdists for another Python);

* **warm**: the second ``mach-nix lock`` of the same file (offline by construction: it must
  make no request; checked, and its lock must be byte-identical to the cold one), against
  ``uv pip compile --offline`` with uv's cache filled by one online run; then the same
  ``mach-nix lock`` handed to a running ``mach-nix server start`` (medians of
  ``--warm-repeat`` runs).

Prints one row per file (seconds, requests, ratios) and the medians; ratios > 1 mean mach-nix
is faster. Goals (issue 10): cold median ≤ 1.5x uv's cold time and ≥ 5x faster than pip's;
warm with the server ≤ uv's warm time. The machine's load average is printed with the table:
on a shared machine, compare ratios of the same run, not seconds across runs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CASES = REPO / "bench" / "cases" / "real-world"
MACH_NIX = [sys.executable, "-m", "mach_nix"]


def run(argv: list[str], env: dict[str, str], timeout: float) -> tuple[float, subprocess.CompletedProcess[str] | None]:
    """Run ``argv``; its wall time and result (``None``: timed out)."""
    start = time.perf_counter()
    try:
        result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return time.perf_counter() - start, None
    return time.perf_counter() - start, result


def base_env(cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MACH_NIX_", "UV_", "PIP_"))}
    env["XDG_CACHE_HOME"] = str(cache)
    env["PYTHONPATH"] = str(REPO / "resolver")
    env["MACH_NIX_NO_SERVER"] = "1"
    return env


def mach_nix_lock(file: Path, python: str, env: dict[str, str], out: Path, timeout: float) -> dict:
    seconds, result = run([*MACH_NIX, "lock", "-r", str(file), "--python", python, "-o", str(out)], env, timeout)
    requests = 0
    if result is not None:
        found = re.search(r"\((\d+) requests\)", result.stderr)
        requests = int(found.group(1)) if found else 0
    ok = result is not None and result.returncode == 0
    return {
        "seconds": seconds,
        "ok": ok,
        "requests": requests,
        "error": None if ok else (result.stderr.strip()[-400:] if result else "timed out"),
    }


def uv_compile(uv: str, file: Path, python: str, env: dict[str, str], extra: list[str], timeout: float) -> dict:
    env = dict(env, RUST_LOG="uv_client=debug")
    argv = [uv, "pip", "compile", "--python-version", python, str(file), "-o", os.devnull, *extra]
    seconds, result = run(argv, env, timeout)
    ok = result is not None and result.returncode == 0
    requests = len(re.findall(r"Sending (?:fresh |cached )?\w+ request", result.stderr)) if result else 0
    return {"seconds": seconds, "ok": ok, "requests": requests, "error": None if ok else _tail(result)}


def pip_report(pip_python: str, file: Path, python: str, env: dict[str, str], timeout: float) -> dict:
    own = f"{sys.version_info[0]}.{sys.version_info[1]}"
    argv = [pip_python, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--no-cache-dir", "-q"]
    argv += ["--report", os.devnull, "-r", str(file)]
    if python != own:
        argv += ["--python-version", python, "--only-binary=:all:"]
    seconds, result = run(argv, env, timeout)
    ok = result is not None and result.returncode == 0
    return {"seconds": seconds, "ok": ok, "error": None if ok else _tail(result)}


def _tail(result: subprocess.CompletedProcess[str] | None) -> str:
    return "timed out" if result is None else (result.stderr or result.stdout).strip()[-400:]


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a and b else "-"


def seconds(item: dict | None) -> str:
    if item is None:
        return "-"
    text = f"{item['seconds']:.1f}"
    return text if item.get("ok", True) else text + " (failed)"


def bench_case(name: str, python: str, args: argparse.Namespace, work: Path) -> dict:
    file = args.cases / name
    row: dict = {"case": name, "python": python}
    # cold: each tool in a cache of its own, nothing in it
    mach_cache = work / name / "mach-nix"
    mach_env = base_env(mach_cache)
    cold_lock = work / name / "cold.lock.json"
    row["mach_cold"] = mach_nix_lock(file, python, mach_env, cold_lock, args.timeout)
    print(f"  {name}: mach-nix cold {seconds(row['mach_cold'])} s", file=sys.stderr)
    if args.uv:
        row["uv_cold"] = uv_compile(
            args.uv, file, python, base_env(work / name / "uv-cold"), ["--no-cache"], args.timeout
        )
        print(f"  {name}: uv cold {seconds(row['uv_cold'])} s", file=sys.stderr)
    if not args.no_pip:
        row["pip_cold"] = pip_report(args.pip_python, file, python, base_env(work / name / "pip"), args.timeout)
        print(f"  {name}: pip cold {seconds(row['pip_cold'])} s", file=sys.stderr)
    # warm: mach-nix again (no request, same bytes), uv offline on a filled cache, mach-nix through the server
    if row["mach_cold"]["ok"]:
        runs = []
        for index in range(args.warm_repeat):
            out = work / name / f"warm{index}.lock.json"
            result = mach_nix_lock(file, python, mach_env, out, args.timeout)
            result["identical"] = out.read_bytes() == cold_lock.read_bytes() if result["ok"] else False
            runs.append(result)
        row["mach_warm"] = {
            "seconds": statistics.median(r["seconds"] for r in runs),
            "ok": all(r["ok"] for r in runs),
            "requests": max(r["requests"] for r in runs),
            "identical": all(r["identical"] for r in runs),
        }
        server_env = dict(mach_env)
        del server_env["MACH_NIX_NO_SERVER"]
        subprocess.run([*MACH_NIX, "server", "start"], env=server_env, capture_output=True, timeout=60)
        mach_nix_lock(file, python, server_env, work / name / "served-first.json", args.timeout)  # first request
        served = [
            mach_nix_lock(file, python, server_env, work / name / f"served{i}.json", args.timeout)
            for i in range(args.warm_repeat)
        ]
        subprocess.run([*MACH_NIX, "server", "stop"], env=server_env, capture_output=True, timeout=60)
        row["mach_server"] = {
            "seconds": statistics.median(r["seconds"] for r in served),
            "ok": all(r["ok"] for r in served),
            "identical": all(
                (work / name / f"served{i}.json").read_bytes() == cold_lock.read_bytes()
                for i in range(args.warm_repeat)
            ),
        }
    if args.uv:
        uv_cache = base_env(work / name / "uv-warm")
        uv_compile(args.uv, file, python, uv_cache, [], args.timeout)  # fills its cache
        warm = [
            uv_compile(args.uv, file, python, uv_cache, ["--offline"], args.timeout) for _ in range(args.warm_repeat)
        ]
        row["uv_warm"] = {"seconds": statistics.median(r["seconds"] for r in warm), "ok": all(r["ok"] for r in warm)}
    return row


def table(rows: list[dict]) -> str:
    header = (
        "| file | Python | mach-nix cold (requests) | uv cold (requests) | pip cold | mach-nix / uv | pip / mach-nix"
        " | mach-nix warm | mach-nix + server | uv warm (offline) | server / uv warm |"
    )
    lines = [header, "|" + "---|" * 11]
    for row in rows:
        mach, uv, pip = row.get("mach_cold"), row.get("uv_cold"), row.get("pip_cold")
        warm, served, uv_warm = row.get("mach_warm"), row.get("mach_server"), row.get("uv_warm")
        lines.append(
            f"| {row['case']} | {row['python']} | {seconds(mach)} ({mach['requests'] if mach else '-'})"
            f" | {seconds(uv)} ({uv['requests'] if uv else '-'}+) | {seconds(pip)}"
            f" | {ratio(_ok(mach), _ok(uv))} | {ratio(_ok(pip), _ok(mach))}"
            f" | {seconds(warm)}{'' if not warm or (warm['requests'] == 0 and warm['identical']) else ' (!)'}"
            f" | {seconds(served)} | {seconds(uv_warm)} | {ratio(_ok(served), _ok(uv_warm))} |"
        )

    def median_ratio(a: str, b: str) -> str:
        values = [_ok(r.get(a)) / _ok(r.get(b)) for r in rows if _ok(r.get(a)) and _ok(r.get(b))]  # type: ignore[operator]
        return f"{statistics.median(values):.2f}x" if values else "-"

    def median_seconds(key: str) -> str:
        values = [_ok(r.get(key)) for r in rows if _ok(r.get(key))]
        return f"{statistics.median(values):.1f}" if values else "-"  # type: ignore[type-var]

    lines.append(
        f"| **median** | | {median_seconds('mach_cold')} | {median_seconds('uv_cold')} | {median_seconds('pip_cold')}"
        f" | **{median_ratio('mach_cold', 'uv_cold')}** | **{median_ratio('pip_cold', 'mach_cold')}**"
        f" | {median_seconds('mach_warm')} | {median_seconds('mach_server')} | {median_seconds('uv_warm')}"
        f" | **{median_ratio('mach_server', 'uv_warm')}** |"
    )
    return "\n".join(lines)


def _ok(item: dict | None) -> float | None:
    return item["seconds"] if item and item.get("ok", True) else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=Path, default=CASES, help="directory with the files and cases.json")
    parser.add_argument("--only", default="", help="comma-separated file names to run (default: all)")
    parser.add_argument("--uv", default=shutil.which("uv"), help="the uv executable (default: from PATH)")
    parser.add_argument("--pip-python", default=sys.executable, help="the interpreter whose pip is measured")
    parser.add_argument("--no-pip", action="store_true", help="leave pip out (it takes minutes)")
    parser.add_argument("--warm-repeat", type=int, default=3, help="warm runs per tool (median)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per command")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = parser.parse_args()
    cases = json.loads((args.cases / "cases.json").read_text())
    names = [n for n in sorted(cases) if not args.only or n in args.only.split(",")]
    rows = []
    with tempfile.TemporaryDirectory(prefix="mach-nix-cold-") as tmp:
        for name in names:
            rows.append(bench_case(name, cases[name]["python"], args, Path(tmp)))
    load = os.getloadavg()
    print(table(rows))
    print(f"\nload average at the end: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {os.cpu_count()} CPUs")
    for row in rows:
        for key in ("mach_cold", "uv_cold", "pip_cold"):
            if row.get(key) and not row[key]["ok"]:
                print(f"{row['case']}: {key} failed: {row[key]['error']}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
