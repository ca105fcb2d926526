#!/usr/bin/env python3
"""Resolution time: mach-nix (offline, local DB) vs pip --dry-run vs uv pip compile.

Usage::

    python bench/resolve_bench.py [--db tests/data/pypi-db] [--repeat 5] [--venv DIR]

What it does:

1. creates (once) a virtual environment for the benchmark (default
   ``$XDG_CACHE_HOME/mach-nix-bench/venv``) and installs into it, from PyPI,
   the latest ``pip``, ``uv`` and this checkout of mach-nix (non-editable);
2. warms pip's and uv's caches with one online run of every case;
3. times every case ``--repeat`` times with each tool, as a fresh process:

   * ``mach-nix resolve --format json --db DB -r reqs.txt`` (offline), twice:
     *cold* (``MACH_NIX_NO_SERVER=1``: interpreter start, imports, opening the
     DB, resolution, the lock) and *server* (``mach-nix server start`` first:
     the command hands its arguments to the warm resolver process and prints
     the answer, see ``mach_nix/server/``; same output bytes);
   * ``pip install --dry-run --ignore-installed --quiet --report FILE -r reqs.txt``
     (warm HTTP cache; pip still revalidates with PyPI where the cache says so);
   * ``uv pip compile --offline --quiet reqs.txt`` (warm cache, no network);

4. prints the median time of each, the ratios pip/mach-nix and uv/mach-nix per
   case for both mach-nix modes, and the median ratios. Ratios > 1 mean
   mach-nix is faster. A last column gives mach-nix's resolution alone, timed
   inside a running interpreter (imports done, DB opened per run), to separate
   resolver cost from process start-up.

All three resolve for the benchmark interpreter (the target defaults to the
venv's Python version on x86_64-linux for mach-nix). pip and uv resolve against
live PyPI while mach-nix uses the snapshot DB, so the chosen versions can differ;
the amount of work (the size of the closure) is similar.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

#: name -> requirements.txt content. Cases that the snapshot DB covers.
CASES: dict[str, str] = {
    "six": "six\n",
    "requests[socks]": "requests[socks,use-chardet-on-py3]\n",
    "flask==1.0": "flask==1.0\n",
    "black": "black\n",
    "names": "pdfminer.six\npython_dateutil\nzope.interface\nruamel.yaml\nPillow\n",
    "boto3": "boto3\n",
    "boto3+old-botocore": "boto3\nbotocore<1.30\n",
    "dask[complete]": "dask[complete]\n",
    "build-tools": "setuptools\nwheel\nresolvelib\npackaging\ndistlib\ninstaller\nbuild\n",
}


def default_venv() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "mach-nix-bench" / "venv"


def ensure_venv(venv: Path) -> Path:
    """Create the benchmark venv with pip, uv and mach-nix; return its python."""
    python = venv / "bin" / "python"
    marker = venv / ".mach-nix-bench-ready"
    if not marker.exists():
        print(f"creating {venv} (pip, uv, mach-nix from this checkout)", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "-U", "pip", "uv"], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", str(REPO)], check=True)
        marker.write_text("ok\n")
    # always benchmark the checkout as it is now
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", str(REPO)],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return python


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    """Run a command, return its wall time; raise with its stderr on failure."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return elapsed


#: Times the resolution alone (imports done, DB opened per run) inside one process.
IN_PROCESS = """
import statistics, sys, time
from mach_nix.db.store import open_database
from mach_nix.requirements import parse_requirements_file
from mach_nix.resolution.resolve import resolve
from mach_nix.target import Target
db_path, reqs_path, version, repeat = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
times = []
for _ in range(repeat):
    start = time.perf_counter()
    resolve(parse_requirements_file(reqs_path), Target.create(version), None, open_database([db_path]))
    times.append(time.perf_counter() - start)
print(statistics.median(times))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default=str(REPO / "tests" / "data" / "pypi-db"))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--venv", type=Path, default=default_venv())
    parser.add_argument("--case", action="append", help="only these cases (repeatable)")
    args = parser.parse_args()

    python = ensure_venv(args.venv)
    bindir = python.parent
    uv = str(bindir / "uv")
    version = subprocess.run(
        [str(python), "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    cases = {k: v for k, v in CASES.items() if not args.case or k in args.case}
    work = Path(tempfile.mkdtemp(prefix="mach-nix-bench-"))
    db = str(Path(args.db).resolve())
    results = []
    try:
        commands = {}
        for name, text in cases.items():
            case_dir = work / name.replace("/", "_")
            case_dir.mkdir()
            (case_dir / "reqs.txt").write_text(text)
            commands[name] = {
                "cold": [
                    str(bindir / "mach-nix"),
                    "resolve",
                    "--format",
                    "json",
                    "--db",
                    db,
                    "--python",
                    version,
                    "--system",
                    "x86_64-linux",
                    "-r",
                    "reqs.txt",
                ],
                "pip": [
                    str(python),
                    "-m",
                    "pip",
                    "install",
                    "--dry-run",
                    "--ignore-installed",
                    "--quiet",
                    "--report",
                    "report.json",
                    "-r",
                    "reqs.txt",
                ],
                "uv": [
                    uv,
                    "pip",
                    "compile",
                    "--offline",
                    "--quiet",
                    "--python",
                    str(python),
                    "reqs.txt",
                    "-o",
                    "uv.txt",
                ],
            }
            commands[name]["server"] = commands[name]["cold"]
        print("warming caches (one online run of pip and uv per case)", file=sys.stderr)
        runtime = Path(tempfile.mkdtemp(prefix="mn-bench-", dir="/tmp"))  # short: Unix socket path
        cold_env = dict(env, MACH_NIX_NO_SERVER="1", XDG_RUNTIME_DIR=str(runtime))
        server_env = dict(env, XDG_RUNTIME_DIR=str(runtime))
        envs = {"cold": cold_env, "server": server_env, "pip": env, "uv": env}
        run([str(bindir / "mach-nix"), "server", "start", "--idle", "600"], work, server_env)
        for name, cmds in commands.items():
            case_dir = work / name.replace("/", "_")
            run(cmds["pip"], case_dir, env)
            online_uv = [c for c in cmds["uv"] if c != "--offline"]
            run(online_uv, case_dir, env)
            run(cmds["cold"], case_dir, cold_env)
            run(cmds["server"], case_dir, server_env)
        for name, cmds in commands.items():
            case_dir = work / name.replace("/", "_")
            times: dict[str, list[float]] = {tool: [] for tool in cmds}
            for _ in range(args.repeat):
                for tool, cmd in cmds.items():
                    times[tool].append(run(cmd, case_dir, envs[tool]))
            med = {tool: statistics.median(values) for tool, values in times.items()}
            inproc = subprocess.run(
                [str(python), "-c", IN_PROCESS, db, str(case_dir / "reqs.txt"), version, str(args.repeat)],
                capture_output=True,
                text=True,
                check=True,
                env=env,
            )
            med["in-process"] = float(inproc.stdout.strip())
            results.append((name, med))
        run([str(bindir / "mach-nix"), "server", "stop"], work, server_env)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(
        f"\nmedian of {args.repeat} runs, seconds (Python {version}); ratio = tool / mach-nix;"
        " cold = a plain run, server = with 'mach-nix server start'\n"
    )
    header = (
        f"{'case':20} {'cold':>7} {'server':>7} {'pip':>7} {'uv':>7} {'pip/cold':>9} {'pip/server':>11}"
        f" {'uv/cold':>8} {'uv/server':>10} {'resolve only':>13}"
    )
    print(header)
    print("-" * len(header))
    ratios: dict[str, list[float]] = {"pip/cold": [], "pip/server": [], "uv/cold": [], "uv/server": []}
    for name, med in results:
        row = {f"{tool}/{mode}": med[tool] / med[mode] for tool in ("pip", "uv") for mode in ("cold", "server")}
        for key, value in row.items():
            ratios[key].append(value)
        print(
            f"{name:20} {med['cold']:7.3f} {med['server']:7.3f} {med['pip']:7.3f} {med['uv']:7.3f}"
            f" {row['pip/cold']:9.1f} {row['pip/server']:11.1f} {row['uv/cold']:8.2f} {row['uv/server']:10.2f}"
            f" {med['in-process']:13.3f}"
        )
    print("-" * len(header))
    medians = {key: statistics.median(values) for key, values in ratios.items()}
    mins = {key: min(values) for key, values in ratios.items()}
    print(
        f"{'median ratio':20} {'':7} {'':7} {'':7} {'':7} {medians['pip/cold']:9.1f} {medians['pip/server']:11.1f}"
        f" {medians['uv/cold']:8.2f} {medians['uv/server']:10.2f}"
    )
    print(
        f"{'min ratio':20} {'':7} {'':7} {'':7} {'':7} {mins['pip/cold']:9.1f} {mins['pip/server']:11.1f}"
        f" {mins['uv/cold']:8.2f} {mins['uv/server']:10.2f}"
    )
    bare = statistics.median(run([str(python), "-c", "pass"], REPO) for _ in range(max(5, args.repeat)))
    import_cost = statistics.median(m["cold"] - m["in-process"] for _n, m in results) - bare
    print(
        f"\nbare interpreter start ('python -c pass'): {bare:.3f} s; importing what a cold run needs "
        f"(packaging, resolvelib, mach-nix) adds ~{import_cost:.3f} s"
    )
    for mode in ("cold", "server"):
        pip_ok = mins[f"pip/{mode}"] >= 10
        uv_ok = medians[f"uv/{mode}"] >= 1
        print(
            f"goal ({mode}): >= 10x faster than pip on every case: {'met' if pip_ok else 'NOT met'}; "
            f"no slower than uv on the median: {'met' if uv_ok else 'NOT met'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
