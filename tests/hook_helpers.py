"""sdists built in the tests for the PEP 517 hook, and the local wheels their build environments use.

Tests never reach a registry: build requirements come from a wheel directory filled by
``scripts/install-deps`` (``pip download`` of the few pinned wheels in ``HOOK_WHEELS``), passed to
the hook runner as ``pip install --no-index --find-links DIR``. ``MACH_NIX_TEST_WHEELS`` names
another directory.
"""

from __future__ import annotations

import io
import os
import tarfile
import textwrap
from pathlib import Path

import pytest

from mach_nix.db.hook_sandbox import SandboxUnavailable
from mach_nix.db.pep517 import HookLimits, HookRunner

REPO = Path(__file__).resolve().parent.parent
WHEELS = Path(os.environ.get("MACH_NIX_TEST_WHEELS") or REPO / ".venv" / "hook-wheels")


def offline_pip_args() -> tuple[str, ...]:
    """pip arguments that install build requirements from :data:`WHEELS` only."""
    if not any(WHEELS.glob("setuptools-*.whl")):
        pytest.fail(f"no wheels in {WHEELS}: run `bash scripts/install-deps` (it fills it with pip download)")
    return ("--no-index", "--find-links", str(WHEELS))


def make_sdist(files: dict[str, str], top: str = "demo-1.0") -> bytes:
    """A .tar.gz sdist holding ``files`` (texts dedented) under ``top/``."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in sorted(files.items()):
            data = textwrap.dedent(text).encode()
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


#: An in-tree backend (``backend-path = ["."]``): ``prepare`` runs ``hook.py``'s ``run(outdir)``
#: and writes METADATA with the ``Requires-Dist`` lines it returns.
BACKEND = """
import os, sys
sys.path.insert(0, os.getcwd())
def prepare_metadata_for_build_wheel(outdir, config_settings=None):
    import hook
    requires = hook.run(outdir)
    d = os.path.join(outdir, "demo-1.0.dist-info")
    os.makedirs(d)
    with open(os.path.join(d, "METADATA"), "w") as f:
        f.write("Metadata-Version: 2.1\\nName: demo\\nVersion: 1.0\\n")
        for line in requires:
            f.write("Requires-Dist: %s\\n" % line)
    return "demo-1.0.dist-info"
"""


def backend_sdist(hook_code: str, **extra: str) -> bytes:
    """An sdist whose build backend runs ``hook_code`` (defining ``run(outdir) -> list[str]``)."""
    return make_sdist(
        {
            "pyproject.toml": '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n',
            "backend.py": BACKEND,
            "hook.py": hook_code,
            **extra,
        }
    )


def new_runner(limits: HookLimits | None = None, **kwargs: object) -> HookRunner:
    """A runner, or a failed test naming why hooks cannot be confined here."""
    try:
        return HookRunner(limits or HookLimits(timeout=10, memory_bytes=1024**3), **kwargs)  # type: ignore[arg-type]
    except SandboxUnavailable as error:
        pytest.fail(str(error))
