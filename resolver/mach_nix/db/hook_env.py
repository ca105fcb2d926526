"""Build environments of PEP 517 hooks: installed once per crawl, shared by every hook that needs them.

An environment is a ``pip install --target DIR --only-binary :all:`` of a set of build
requirements (wheels only, so installing runs no code), keyed by the sorted set and the hook
interpreter's version. The first hook that needs a set installs it; concurrent hooks that
need the same set wait for that install; the rest reuse it (a failed install is remembered
too). Hooks see an environment read-only (``/env`` in the sandbox).

pip reaches the index as the user configured it through the environment (``PIP_INDEX_URL``,
certificates, proxies; see :data:`PIP_NETWORK_ENV`); ``pip_args`` replace the index
arguments, e.g. ``("--no-index", "--find-links", DIR)`` for a local wheel directory (the
tests do this: they never use the network).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from mach_nix.db.extract import ExtractError

#: Environment variables pip needs to reach the index, passed through to the pip that
#: installs build requirements (everything else is cleared).
PIP_NETWORK_ENV = frozenset(
    {
        "PIP_CERT",
        "PIP_INDEX_URL",
        "PIP_EXTRA_INDEX_URL",
        "PIP_FIND_LINKS",
        "PIP_NO_INDEX",
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


class BuildEnvs:
    """The build environments of one crawl, under ``root``.

    Args:
        root: directory that holds them (deleted with the crawl's workspace).
        python_version: ``major.minor`` of the hook interpreter (wheels are chosen for it).
        pip_args: index arguments for pip (default: the user's index, via the environment).
        pip_python: the interpreter that runs pip (the crawler's own).
    """

    def __init__(
        self,
        root: Path,
        python_version: str,
        pip_args: Sequence[str] | None = None,
        pip_python: str = sys.executable,
    ) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.python_version = python_version
        self.pip_args = tuple(pip_args) if pip_args is not None else ()
        self.pip_python = pip_python
        self.installs = 0
        self._done: dict[str, Path | ExtractError] = {}
        self._lock = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    def key(self, requires: Sequence[str]) -> str:
        """The cache key of a requirement set (order and duplicates do not matter)."""
        text = self.python_version + "\n" + "\n".join(sorted(set(requires)))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def get(self, requires: Sequence[str]) -> Path:
        """The environment holding ``requires``, installed now if this crawl has not yet.

        Raises:
            ExtractError: kind ``hook-error`` when pip cannot install them (remembered).
        """
        key = self.key(requires)
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            done = self._done.get(key)
            if isinstance(done, ExtractError):
                raise done
            if done is not None:
                return done
            target = self.root / f"env-{key}"
            try:
                self._install(sorted(set(requires)), target)
            except ExtractError as error:
                self._done[key] = error
                raise
            self._done[key] = target
            return target

    def _install(self, requires: list[str], target: Path) -> None:
        if not requires:
            target.mkdir(mode=0o755)
            return
        cmd = [
            self.pip_python,
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
            *self.pip_args,
        ]
        if self.python_version != f"{sys.version_info[0]}.{sys.version_info[1]}":
            cmd += ["--python-version", self.python_version]
        cmd += requires
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.root),
            "PIP_CONFIG_FILE": os.devnull,
            "LANG": "C.UTF-8",
        }
        # How to reach the index (certificates, proxies, a mirror) is the user's to choose.
        if not self.pip_args:
            env.update({k: v for k, v in os.environ.items() if k in PIP_NETWORK_ENV})
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise ExtractError("hook-error", f"installing build requirements {requires} took over 900 s") from None
        self.installs += 1
        if proc.returncode != 0:
            lines = [line for line in proc.stderr.strip().splitlines() if not line.startswith("WARNING:")]
            last = (lines or ["pip failed"])[-1]
            raise ExtractError("hook-error", f"cannot install build requirements {requires}: {last[:300]}")
        os.chmod(target, 0o755)
