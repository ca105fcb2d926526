"""Run an sdist's PEP 517 ``prepare_metadata_for_build_wheel`` hook, confined.

This executes untrusted code (the project's build backend and setup.py). The
confinement, documented in ``docs/db-format.md``:

* a fresh temporary directory is the child's cwd, HOME and TMPDIR; the sdist is
  unpacked there with tarfile's ``data`` filter (no absolute paths, links out,
  devices); nothing else is passed to it;
* the child runs ``python -I -S`` (no user site, no PYTHONPATH, no site-packages
  of the crawler's interpreter) with an emptied environment; only the build
  environment (``[build-system] requires`` installed by pip from PyPI with
  ``--only-binary :all:`` into a throwaway ``--target`` dir, so installing runs
  no code) is put on ``sys.path``;
* limits set with ``setrlimit`` before exec: address space (memory), CPU
  seconds, file size, open files; plus a wall-clock timeout after which the
  whole process group is killed;
* when available, ``unshare --net`` gives it a network namespace without any
  interface (no network), and when the crawler runs as root ``setpriv`` drops
  it to ``nobody`` (so it cannot write outside its temp dir);
* not confined: reading world-readable files of the machine. The strict form is
  the Nix derivation sketched in the format doc (the Nix sandbox).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path

from mach_nix.db.extract import ExtractError, build_system, parse_core_metadata, read_sdist
from mach_nix.db.model import Metadata

#: Code run in the child: import the backend, call the hook, print METADATA.
RUNNER = r"""
import importlib, json, os, site, sys
src, outdir, backend, backend_path, env_dir = sys.argv[1:6]
if env_dir:
    site.addsitedir(env_dir)
for p in json.loads(backend_path):
    sys.path.insert(0, os.path.join(src, p))
sys.path.insert(0, src) if backend.startswith("setuptools.build_meta:__legacy__") else None
os.chdir(src)
module, _, obj = backend.partition(":")
hooks = importlib.import_module(module)
for attr in filter(None, obj.split(".")):
    hooks = getattr(hooks, attr)
prepare = getattr(hooks, "prepare_metadata_for_build_wheel", None)
if prepare is not None:
    name = prepare(outdir, {})
    path = os.path.join(outdir, name, "METADATA")
    with open(path, "rb") as f:
        data = f.read()
else:
    import zipfile
    whl = hooks.build_wheel(outdir, {})
    with zipfile.ZipFile(os.path.join(outdir, whl)) as z:
        name = next(n for n in z.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA"))
        data = z.read(name)
sys.stdout.write("\n@@MACH-NIX-METADATA@@\n" + data.decode("utf-8", "replace"))
"""

MARKER = "\n@@MACH-NIX-METADATA@@\n"


def _probe(cmd: list[str]) -> bool:
    try:
        return subprocess.run(cmd, capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


#: Environment variables pip needs to reach the index, passed through to the pip that
#: installs build requirements (everything else is cleared).
_PIP_NETWORK_ENV = frozenset(
    {
        "PIP_CERT",
        "PIP_INDEX_URL",
        "PIP_EXTRA_INDEX_URL",
        "PIP_TRUSTED_HOST",
        "PIP_DEFAULT_TIMEOUT",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
        "NIX_SSL_CERT_FILE",
        "http_proxy",
        "https_proxy",
        "no_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "all_proxy",
        "ALL_PROXY",
    }
)


@dataclass
class HookLimits:
    """Resource limits of one hook run."""

    timeout: float = 120.0
    memory_bytes: int = 2 * 1024**3
    file_bytes: int = 512 * 1024**2


class HookRunner:
    """Runs PEP 517 metadata hooks in confined child processes.

    Build environments are cached per distinct set of build requirements for
    the runner's lifetime; call :meth:`close` (or use as a context manager) to
    delete them.
    """

    def __init__(self, limits: HookLimits | None = None, python: str = sys.executable) -> None:
        """Create a runner with a private workspace in the system temp dir."""
        self.limits = limits or HookLimits()
        self.python = python
        self.workspace = Path(tempfile.mkdtemp(prefix="mach-nix-hooks-"))
        os.chmod(self.workspace, 0o755)
        self._envs: dict[str, Path | ExtractError] = {}
        self._lock = threading.Lock()
        self._env_locks: dict[str, threading.Lock] = {}
        self.wrap: list[str] = []
        if shutil.which("unshare") and _probe(["unshare", "--net", "true"]):
            self.wrap += ["unshare", "--net"]
        if os.geteuid() == 0 and shutil.which("setpriv"):
            cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
            if _probe(cmd + ["true"]):
                self.wrap += cmd
                self.drop_to_nobody = True
            else:
                self.drop_to_nobody = False
        else:
            self.drop_to_nobody = False

    def close(self) -> None:
        """Delete the workspace and cached build environments."""
        shutil.rmtree(self.workspace, ignore_errors=True)

    def __enter__(self) -> HookRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def build_env(self, requires: tuple[str, ...]) -> Path:
        """Install ``requires`` (wheels only, from PyPI) into a cached target dir."""
        key = hashlib.sha256("\n".join(sorted(requires)).encode()).hexdigest()[:16]
        with self._lock:
            lock = self._env_locks.setdefault(key, threading.Lock())
        with lock:
            cached = self._envs.get(key)
            if isinstance(cached, ExtractError):
                raise cached
            if cached is not None:
                return cached
            target = self.workspace / f"env-{key}"
            if not requires:
                target.mkdir(mode=0o755)
                self._envs[key] = target
                return target
            cmd = [
                self.python,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-input",
                "--only-binary",
                ":all:",
                "--no-cache-dir",
                "--target",
                str(target),
                *requires,
            ]
            env = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "HOME": str(self.workspace),
                "PIP_CONFIG_FILE": os.devnull,
                "LANG": "C.UTF-8",
            }
            # How to reach the index (certificates, proxies, a mirror) is the user's to choose.
            env.update({k: v for k, v in os.environ.items() if k in _PIP_NETWORK_ENV})
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
            if proc.returncode != 0:
                last = (proc.stderr.strip().splitlines() or ["pip failed"])[-1]
                error = ExtractError("hook-error", f"cannot install build requirements {list(requires)}: {last}")
                self._envs[key] = error
                raise error
            os.chmod(target, 0o755)
            self._envs[key] = target
            return target

    def _limits(self) -> None:  # runs in the child, before exec
        os.setsid()
        cpu = int(self.limits.timeout) + 1
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
        resource.setrlimit(resource.RLIMIT_AS, (self.limits.memory_bytes, self.limits.memory_bytes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (self.limits.file_bytes, self.limits.file_bytes))
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))

    def metadata(self, filename: str, data: bytes) -> Metadata:
        """Extract the :class:`Metadata` of sdist ``filename`` (its bytes) via its build backend.

        Raises:
            ExtractError: kind ``hook-error``, ``timeout``, ``memory`` or ``invalid``.
        """
        contents = read_sdist(filename, data)
        requires, backend, backend_path = build_system(contents)
        if backend is None:
            backend = "setuptools.build_meta:__legacy__"
        env_dir = self.build_env(requires)
        work = Path(tempfile.mkdtemp(prefix="sdist-", dir=self.workspace))
        try:
            src = self._unpack(filename, data, work / "src")
            out = work / "out"
            out.mkdir()
            if self.drop_to_nobody:
                for path in [work, *work.rglob("*")]:
                    try:
                        os.lchown(path, 65534, 65534)
                    except OSError:
                        pass
            env = {
                "HOME": str(work),
                "TMPDIR": str(work),
                "PATH": "/usr/bin:/bin",
                "LANG": "C.UTF-8",
                "PYTHONDONTWRITEBYTECODE": "1",
                "SETUPTOOLS_USE_DISTUTILS": "local",
            }
            cmd = [
                *self.wrap,
                self.python,
                "-I",
                "-S",
                "-c",
                RUNNER,
                str(src),
                str(out),
                backend,
                json.dumps(list(backend_path)),
                str(env_dir),
            ]
            proc = subprocess.Popen(
                cmd, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=self._limits
            )
            try:
                stdout, stderr = proc.communicate(timeout=self.limits.timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.communicate()
                raise ExtractError("timeout", f"the PEP 517 hook ran longer than {self.limits.timeout:g}s") from None
            text = stdout.decode("utf-8", "replace")
            if proc.returncode != 0 or MARKER not in text:
                err = stderr.decode("utf-8", "replace").strip().splitlines()
                if proc.returncode == -signal.SIGXCPU or proc.returncode == -signal.SIGKILL:
                    raise ExtractError("timeout", f"the PEP 517 hook exceeded its CPU limit (exit {proc.returncode})")
                if any("MemoryError" in line for line in err[-5:]):
                    raise ExtractError("memory", f"the PEP 517 hook exceeded {self.limits.memory_bytes} bytes")
                last = err[-1] if err else f"exit status {proc.returncode}"
                raise ExtractError("hook-error", f"the PEP 517 hook failed: {last[:300]}")
            meta, _, _ = parse_core_metadata(text.split(MARKER, 1)[1], "pep517", requires)
            return meta
        finally:
            shutil.rmtree(work, ignore_errors=True)

    @staticmethod
    def _unpack(filename: str, data: bytes, dest: Path) -> Path:
        dest.mkdir(parents=True)
        try:
            if filename.endswith(".zip"):
                with zipfile.ZipFile(io.BytesIO(data)) as archive:
                    archive.extractall(dest)
            else:
                with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
                    _extract_tar(archive, dest)
        except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError) as error:
            raise ExtractError("invalid", f"cannot unpack the sdist: {error}") from None
        entries = [p for p in dest.iterdir()]
        if len(entries) == 1 and entries[0].is_dir():
            return entries[0]
        return dest


def _extract_tar(archive: tarfile.TarFile, dest: Path) -> None:
    """Unpack ``archive`` into ``dest`` with PEP 706's ``data`` filter.

    Python 3.11.4+ (and 3.12+) have the filter; on older interpreters (Debian 12's 3.11.2)
    the same rules are applied here: regular files and directories only (links and devices
    are skipped), every path inside ``dest``, no permission bits beyond the owner's rwx.
    """
    if hasattr(tarfile, "data_filter"):
        archive.extractall(dest, filter="data")
        return
    root = dest.resolve()
    for member in archive.getmembers():
        target = (root / member.name).resolve()
        if target != root and root not in target.parents:
            raise tarfile.TarError(f"{member.name!r} would be written outside the sdist's directory")
        if member.isdir():
            target.mkdir(parents=True, exist_ok=True)
        elif member.isfile():
            target.parent.mkdir(parents=True, exist_ok=True)
            source = archive.extractfile(member)
            if source is None:
                continue
            with source, open(target, "wb") as out:
                shutil.copyfileobj(source, out)
            target.chmod(0o755 if member.mode & 0o100 else 0o644)
