"""Real-world packages through the nixpkgs double (issue 12): native libraries by need,
curated overrides, the rodeo, nixpkgs-first providers.

Resolution reads ``tests/data/pypi-db-realworld`` (a crawl of these projects' closure,
command in tests/data/README.md); builds fetch the real PyPI files once into the Nix store,
which every test of a run shares. C libraries of sdists come from the host through the
double (``tests/nixpkgs/configure.py``, installed by ``scripts/install-deps``); the double's
loader only counts store RUNPATHs, so a library found outside the declared inputs fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import nixhelpers
from nixhelpers import CLI, REPO

pytestmark = pytest.mark.nix

DATA = REPO / "tests" / "data"
SNAPSHOT = DATA / "pypi-db"
REALWORLD = DATA / "pypi-db-realworld"
#: Facts of wheels recorded by `mach-nix lock` (cache layout of mach_nix.native_needs), so
#: that a lock records `needed` without the network.
NEEDS = DATA / "native-needs"

needs_realworld = pytest.mark.skipif(not (REALWORLD / "manifest.json").exists(), reason="no realworld DB")


def machnix(pkgs_expr: str, body: str, db: Path = REALWORLD) -> str:
    return nixhelpers.machnix(pkgs_expr, body, db)


def run_python(env: str, code: str) -> str:
    proc = subprocess.run([f"{env}/bin/python", "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def lock_with_needs(tmp_path: Path, *requirements: str, providers: tuple[str, ...] = ()) -> Path:
    """`mach-nix lock` against the realworld DB, with the recorded wheel facts as its cache."""
    cache = tmp_path / "cache"
    shutil.copytree(NEEDS, cache / "native")
    out = tmp_path / "mach-nix.lock.json"
    env = {**os.environ, "MACH_NIX_CACHE": str(cache), "MACH_NIX_NATIVE_NEEDS": "cache"}
    python = "{}.{}.{}".format(*sys.version_info[:3])  # the interpreter the double wraps
    argv = [*CLI, "lock", *requirements, "--db", str(REALWORLD), "--python", python, "-o", str(out)]
    for option in providers:
        argv += ["--provider", option]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return out


# --------------------------------------------------------------------------- nixpkgs first


def test_nixpkgs_first_keeps_the_sets_derivations(nix, pkgs_expr):
    """providers._default = "nixpkgs,wheel,sdist": what the set has at a matching version and
    with matching dependencies is the set's own derivation (same drvPath: binary-cache hits);
    what it lacks comes from PyPI."""
    facts = nix.eval_json(
        machnix(
            pkgs_expr,
            """
      let r = machNix.mkPython { requirements = "requests\\npysocks"; providers._default = "nixpkgs,wheel,sdist"; };
          names = builtins.attrNames r.lock.packages; in {
        providers = builtins.listToAttrs (map (n: { name = n; value = r.lock.packages.${n}.provider; }) names);
        same = builtins.listToAttrs (map
          (n: { name = n; value = r.python.pkgs.${n}.drvPath == python.pkgs.${n}.drvPath; })
          (builtins.filter (n: r.lock.packages.${n}.provider == "nixpkgs") names));
      }""",
            db=SNAPSHOT,
        )
    )
    assert facts["providers"]["pysocks"] == "wheel"
    nixpkgs = {name for name, provider in facts["providers"].items() if provider == "nixpkgs"}
    assert {"requests", "idna", "urllib3", "certifi", "charset-normalizer"} <= nixpkgs
    assert facts["same"] == {name: True for name in nixpkgs}
    env = nix.build(
        machnix(
            pkgs_expr,
            'machNix.mkPython { requirements = "requests\\npysocks"; providers._default = "nixpkgs,wheel,sdist"; }',
            db=SNAPSHOT,
        )
    )
    assert run_python(env, "import requests, socks; print(requests.__version__)")


# --------------------------------------------------------------------------- sdists with C libraries


SDISTS = {
    # requirement: (import and print, what the print must contain)
    "psycopg2==2.9.13": ("import psycopg2; print(psycopg2.__libpq_version__)", "15"),
    "shapely==2.0.7": ("import shapely; print(shapely.geos_version_string)", "3.11"),
    "pyproj==3.6.1": ("import pyproj; print(pyproj.proj_version_str)", "9.1"),
    "fiona==1.10.1": ("import fiona; print(fiona.__gdal_version__)", "3.6"),
    "gdal==3.6.2": ("from osgeo import gdal; print(gdal.__version__)", "3.6.2"),
    # cartopy >= 0.20 compiles only its own Cython module (GEOS and PROJ come with shapely and pyproj)
    "cartopy==0.24.1": ("import cartopy.crs as ccrs; print(ccrs.PlateCarree().proj4_params['proj'])", "eqc"),
    # needs setuptools >= 77 (PEP 639), newer than the double's set has: only its locked build system builds it
    "cartopy==0.26.0": ("import cartopy, cartopy.trace; print(cartopy.__version__, cartopy.trace.__file__)", "0.26.0 "),
}


@needs_realworld
@pytest.mark.parametrize("requirement", sorted(SDISTS))
def test_sdist_builds_against_its_c_library(nix, pkgs_expr, requirement):
    name = requirement.split("==")[0]
    args = f'requirements = "{requirement}"; providers.{name} = "sdist";'
    entry = nix.eval_json(machnix(pkgs_expr, f"(machNix.mkPython {{ {args} }}).lock.packages.{name}"))
    assert entry["provider"] == "sdist"
    # Built with exactly the tools its sdist declares, locked from wheels (the database read the
    # sdists of these releases: tests/data/README.md), not the set's.
    assert "build_system_unlocked" not in entry
    declared = {r.split(">")[0].split("<")[0].split("~")[0].split("=")[0] for r in entry["build_requires"]}
    assert declared <= {key.split("==")[0] for key in entry["build_system"]}
    if name in ("shapely", "pyproj", "fiona", "cartopy"):
        assert "cython" in declared
    env = nix.build(machnix(pkgs_expr, f"machNix.mkPython {{ {args} }}"))
    code, expected = SDISTS[requirement]
    assert expected in run_python(env, code)


@needs_realworld
def test_sdist_without_its_library_fails_instead_of_finding_the_hosts(nix, pkgs_expr):
    """The double does not become lenient: without the curated input psycopg2 still compiles
    (the host has libpq's headers), but its extension has no store RUNPATH to libpq, which
    nixpkgs' loader would not find."""
    args = (
        'requirements = "psycopg2==2.9.13"; providers.psycopg2 = "sdist"; '
        "_.psycopg2.buildInputs = [ ]; _.psycopg2.nativeBuildInputs = [ ];"
    )
    proc = nix.build(machnix(pkgs_expr, f"machNix.mkPython {{ {args} }}"), check=False)
    assert proc.returncode != 0
    assert "would not find libpq.so.5" in proc.stderr


# --------------------------------------------------------------------------- native wheels


@needs_realworld
def test_opencv_wheel_gets_its_libraries_from_the_lock(nix, pkgs_expr, tmp_path):
    lock = lock_with_needs(tmp_path, "opencv-python==5.0.0.93")
    entry = json.loads(lock.read_text())["packages"]["opencv-python"]
    assert {"libGL.so.1", "libglib-2.0.so.0", "libX11.so.6"} <= set(entry["artifact"]["needed"])
    env = nix.build(machnix(pkgs_expr, f"machNix.mkPython {{ lock = {lock}; }}"))
    assert run_python(env, "import cv2; print(cv2.__version__)").startswith("5.")


@needs_realworld
def test_opencv_wheel_without_needs_gets_the_curated_libraries(nix, pkgs_expr):
    """Evaluation-time resolution cannot read the wheel: the lock has no `needed`, and the
    curated fix gives opencv-python what its wheels link."""
    body = 'machNix.mkPython { requirements = "opencv-python==5.0.0.93"; }'
    assert nix.eval_json(machnix(pkgs_expr, f"({body}).lock.packages.opencv-python.artifact ? needed")) is False
    env = nix.build(machnix(pkgs_expr, body))
    assert run_python(env, "import cv2; print(cv2.__version__)").startswith("5.")


@needs_realworld
def test_unknown_soname_names_it_the_package_and_the_fix(nix, pkgs_expr, tmp_path):
    """A soname the lock lists that no input provides (here: libGL taken away with `_`)."""
    lock = lock_with_needs(tmp_path, "opencv-python==5.0.0.93")
    proc = nix.build(
        machnix(pkgs_expr, f"machNix.mkPython {{ lock = {lock}; _.opencv-python.buildInputs = [ ]; }}"),
        check=False,
    )
    assert proc.returncode != 0
    assert "libGL.so.1 (needed by" in proc.stderr
    assert "_.opencv-python.buildInputs.add = [ pkgs.<library> ];" in proc.stderr


@needs_realworld
def test_torch_with_its_nvidia_wheels_imports_on_cpu(nix, pkgs_expr, tmp_path):
    """torch's libraries come from its nvidia-* wheels (needed_from: their site-packages on
    autoPatchelf's search path), libcuda.so.1 from the machine's driver directory; the
    environment imports and computes on a machine without a GPU."""
    lock = lock_with_needs(tmp_path, "torch==2.15.0")
    torch = json.loads(lock.read_text())["packages"]["torch"]["artifact"]
    assert {"nvidia-cublas", "nvidia-cuda-runtime", "nvidia-cudnn-cu13"} <= set(torch["needed_from"])
    assert "libcuda.so.1" in torch["needed"] and not any("cublas" in so for so in torch["needed"])
    env = nix.build(machnix(pkgs_expr, f"machNix.mkPython {{ lock = {lock}; }}"))
    out = run_python(
        env, "import torch; print(torch.__version__, torch.cuda.is_available(), (torch.ones(3) * 2).sum().item())"
    )
    assert out.split()[1:] == ["False", "6.0"]
    site = Path(env) / "lib" / "python3.11" / "site-packages"
    rpath = subprocess.run(
        ["patchelf", "--print-rpath", str((site / "torch" / "lib" / "libtorch_cuda.so").resolve())],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "nvidia-cublas" in rpath and "/run/opengl-driver/lib" in rpath


@needs_realworld
def test_tensorflow_and_tensorboard_share_bin_tensorboard(nix, pkgs_expr, tmp_path):
    """tensorflow 2.20 and its dependency tensorboard both install bin/tensorboard (nixpkgs'
    tensorflow-bin deletes its own): the dependency's is kept, with a note, instead of a
    buildEnv collision."""
    lock = lock_with_needs(tmp_path, "tensorflow==2.20.0")
    env = nix.build(machnix(pkgs_expr, f"machNix.mkPython {{ lock = {lock}; }}"))
    outs = nix.eval_json(
        machnix(
            pkgs_expr,
            f"let ps = (machNix.mkPython {{ lock = {lock}; }}).python.pkgs; in "
            "{ tensorflow = ps.tensorflow.outPath; tensorboard = ps.tensorboard.outPath; }",
        )
    )
    tensorflow = outs["tensorflow"]
    assert os.path.exists(f"{env}/bin/tensorboard") and os.path.exists(f"{outs['tensorboard']}/bin/tensorboard")
    assert not os.path.exists(f"{tensorflow}/bin/tensorboard")
    assert os.path.exists(f"{tensorflow}/bin/saved_model_cli"), "tensorflow's other scripts stay"
    assert run_python(env, "import tensorflow as tf; print(tf.__version__)") == "2.20.0"
    # without the policy (tensorflow's preFixup emptied), the environment fails on the collision
    proc = nix.build(
        machnix(pkgs_expr, f'machNix.mkPython {{ lock = {lock}; _.tensorflow.preFixup = ""; }}'), check=False
    )
    assert proc.returncode != 0 and "collision between" in proc.stderr and "bin/tensorboard" in proc.stderr


# --------------------------------------------------------------------------- the rodeo


@needs_realworld
def test_rodeo_cartopy_tensorflow_docrep(nix, pkgs_expr):
    """The rodeo: resolved at evaluation time (no `needed`: the defaults and the build-time
    check), built through the double, all three import."""
    body = 'machNix.mkPython { requirements = "cartopy\\ntensorflow\\ndocrep"; }'
    lock = nix.eval_json(machnix(pkgs_expr, f"({body}).lock"))
    assert {"cartopy", "tensorflow", "docrep"} <= set(lock["packages"])
    assert lock["packages"]["docrep"]["provider"] == "sdist"
    env = nix.build(machnix(pkgs_expr, body))
    out = run_python(
        env,
        "import cartopy, tensorflow as tf, docrep; "
        "print(cartopy.__version__, tf.__version__, tf.reduce_sum(tf.constant([1, 2, 3])).numpy())",
    )
    assert out.split()[-1] == "6"
