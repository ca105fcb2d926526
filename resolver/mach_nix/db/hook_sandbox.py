"""A sandbox of its own for every run of untrusted build code (the PEP 517 metadata hooks).

Contract of :meth:`Sandbox.run` (the threat model and what is *not* defended are in
``docs/security.md``):

* **Namespaces.** The command runs in new mount, PID, network, IPC and UTS namespaces
  (built by :mod:`mach_nix.db.hook_sandbox_init`). Run as root, the crawler needs nothing
  else; run as another user, it also creates a user namespace (unprivileged user
  namespaces must be allowed). If neither works, :class:`SandboxUnavailable` says how to fix
  it: hooks never run unconfined.
* **One uid per concurrent run** (root mode): uid ``UID_BASE + slot``, the slot held with a
  lock file for the run's duration (so concurrent crawls on one machine never share one)
  and never handed out while a process of that uid is alive. In user-namespace mode the
  run is uid :data:`~mach_nix.db.hook_sandbox_init.BUILDER_ID` of its own namespace.
* **File system.** A read-only tmpfs root with, read-only, ``/usr``, ``/etc`` (with its own
  ``passwd``/``group``/``hosts``), ``/nix`` and the merged-``/usr`` links, the hook
  interpreter's prefix and the caller's binds; read-write only the run's build directory
  (``/build``), which is also ``/tmp``, ``/var/tmp`` and ``/dev/shm``. A minimal ``/dev``,
  a ``/proc`` of its own PID namespace, no ``/sys``, ``/run``, ``/home``, ``/root``.
* **No sockets.** No network interface (not even loopback up), abstract Unix sockets are
  per network namespace, and no host directory that holds Unix sockets is visible.
* **Limits.** Wall time (enforced here: the process group is killed, whatever holds the
  output pipes), CPU seconds, address space, file size, open files, processes
  (``RLIMIT_NPROC`` of a uid no one else uses), no core dumps; ``PR_SET_NO_NEW_PRIVS``.
* **Nothing outlives the run.** When the command exits (or is killed), PID 1 of its
  namespace exits and the kernel kills every process left in it.
* **Output.** The result is read from a pipe only this run holds (fd 3 inside), capped;
  stdout and stderr share another pipe of which only the tail is kept.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mach_nix.db import hook_sandbox_init
from mach_nix.errors import UsageError

#: First uid (and gid) of the confinement users in root mode; slot ``n`` is ``UID_BASE + n``.
#: Inside the range systemd reserves for containers, away from Nix's auto-allocated uids.
UID_BASE = 0x4D4E0000
#: How many slots (concurrent runs on one machine) there are.
MAX_SLOTS = 256
#: Host directories bound read-only into every sandbox (when they exist); symlinks (merged
#: ``/usr``) are recreated as symlinks.
SYSTEM_DIRS = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc", "nix")
#: Where an interpreter that does not live in a system directory is bound.
PYTHON_INSIDE = "/python"
#: The build directory inside, and the directories that are really it.
BUILD_INSIDE = "/build"
TMP_INSIDE = ("/tmp", "/var/tmp", "/dev/shm")
INIT_SCRIPT = Path(hook_sandbox_init.__file__)


class SandboxUnavailable(UsageError):
    """Hooks cannot be confined on this machine (or with this interpreter); the message says why and what to do."""


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits of one run.

    Attributes:
        wall: seconds of wall time before the whole run is killed.
        memory: address-space bytes per process.
        file_size: largest file a process may write.
        open_files: file descriptors per process.
        processes: processes (and threads) of the run at once.
        log_bytes: how much of the end of stdout+stderr is kept.
        result_bytes: the most the result pipe may carry (more: the result is refused).
    """

    wall: float = 120.0
    memory: int = 2 * 1024**3
    file_size: int = 512 * 1024**2
    open_files: int = 256
    processes: int = 128
    log_bytes: int = 64 * 1024
    result_bytes: int = 16 * 1024**2


@dataclass
class SandboxResult:
    """What one run gave back."""

    returncode: int
    timed_out: bool
    log: bytes
    result: bytes
    result_overflow: bool
    seconds: float

    @property
    def setup_failed(self) -> bool:
        """True when the sandbox itself could not be built (the reason is in :attr:`log`)."""
        return self.returncode == hook_sandbox_init.SETUP_FAILED and b"mach-nix-sandbox:" in self.log

    @property
    def exec_failed(self) -> bool:
        """True when the interpreter could not be started inside (the reason is in :attr:`log`)."""
        return self.returncode == hook_sandbox_init.EXEC_FAILED and b"mach-nix-sandbox:" in self.log


@dataclass(frozen=True)
class Interpreter:
    """A Python interpreter as the crawler sees it and as the sandbox shows it."""

    host_prefix: str
    host_executable: str
    inside_executable: str
    version: str
    binds: tuple[tuple[str, str, bool], ...] = ()
    env: tuple[tuple[str, str], ...] = ()

    @property
    def inside_prefix(self) -> str:
        """``sys.prefix`` of the interpreter as seen inside the sandbox."""
        return PYTHON_INSIDE if self.binds else self.host_prefix


_DESCRIBE = (
    "import json, sys; print(json.dumps([sys.base_prefix, getattr(sys, '_base_executable', '') or sys.executable,"
    " sys.version]))"
)


def _inside_system_dirs(path: str) -> bool:
    parts = Path(path).parts
    return len(parts) > 1 and parts[1] in SYSTEM_DIRS and not os.path.islink("/" + parts[1])


def describe_interpreter(python: str) -> Interpreter:
    """Find the base interpreter of ``python`` (a venv's base too) and how the sandbox will show it.

    An interpreter under a system directory (``/usr``, ``/nix``) is used at its own path. Any
    other (pyenv under ``/root``, ``/opt/...``) has its prefix bound read-only at
    :data:`PYTHON_INSIDE`, so it runs even where the confinement user could not reach it
    and no path of the crawl machine shows in what the hook prints.
    """
    try:
        proc = subprocess.run(
            [python, "-I", "-S", "-c", _DESCRIBE], capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL
        )
        prefix, executable, version = json.loads(proc.stdout)
    except (OSError, subprocess.SubprocessError, ValueError) as error:
        raise SandboxUnavailable(
            f"cannot run the hook interpreter {python}: {error}; set MACH_NIX_HOOK_PYTHON to an interpreter that "
            "runs here (e.g. /usr/bin/python3), or unset it to use the crawler's own"
        ) from None
    prefix = os.path.realpath(prefix)
    executable = os.path.realpath(executable)
    if not executable.startswith(prefix.rstrip("/") + "/"):
        raise SandboxUnavailable(
            f"the hook interpreter {executable} does not live under its prefix {prefix}; "
            "set MACH_NIX_HOOK_PYTHON to an interpreter installed the usual way (e.g. /usr/bin/python3)"
        )
    if _inside_system_dirs(prefix):
        return Interpreter(prefix, executable, executable, version)
    inside = PYTHON_INSIDE + "/" + os.path.relpath(executable, prefix)
    env: tuple[tuple[str, str], ...] = ()
    if any(name.startswith("libpython") for name in _listdir(os.path.join(prefix, "lib"))):
        env = (("LD_LIBRARY_PATH", PYTHON_INSIDE + "/lib"),)  # its RUNPATH names the host path
    return Interpreter(prefix, executable, inside, version, ((prefix, PYTHON_INSIDE, False),), env)


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def remove_tree(path: Path) -> None:
    """Delete a directory a hook wrote to, whatever modes it left on it."""
    if not path.exists():
        return
    for dirpath, dirnames, _ in os.walk(path):
        for name in dirnames:
            full = os.path.join(dirpath, name)
            try:
                if not os.path.islink(full):
                    os.chmod(full, stat.S_IRWXU)
            except OSError:
                pass
    shutil.rmtree(path, ignore_errors=True)


def _processes_of(uid: int) -> bool:
    """True if a process of ``uid`` is alive on the machine."""
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if entry.stat(follow_symlinks=False).st_uid == uid:
                    return True
            except OSError:
                continue
    return False


class _Slot:
    """A confinement uid, held with a lock file until :meth:`release`."""

    def __init__(self, lock_dir: Path) -> None:
        for slot in range(MAX_SLOTS):
            uid = UID_BASE + slot
            handle = open(lock_dir / f"slot-{slot}.lock", "a+")  # noqa: SIM115 - held until release()
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                continue
            if _processes_of(uid):
                fcntl.flock(handle, fcntl.LOCK_UN)
                handle.close()
                continue
            self.uid = uid
            self._handle = handle
            return
        raise SandboxUnavailable(f"all {MAX_SLOTS} hook uids are in use; wait for other crawls to finish")

    def release(self) -> None:
        fcntl.flock(self._handle, fcntl.LOCK_UN)
        self._handle.close()


def _drain(fd: int, cap: int, tail: bool, out: list[bytes], overflow: list[bool], stop: threading.Event) -> None:
    """Read ``fd`` to EOF keeping at most ``cap`` bytes (the last ones if ``tail``)."""
    kept = bytearray()
    try:
        while not stop.is_set():
            ready, _, _ = select.select([fd], [], [], 0.2)
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            kept += chunk
            if len(kept) > cap:
                overflow.append(True)
                if tail:
                    del kept[: len(kept) - cap]
                else:
                    del kept[cap:]
    except OSError:
        pass
    out.append(bytes(kept))


@dataclass
class Sandbox:
    """Runs commands confined; one instance serves any number of concurrent runs.

    Args:
        python: the interpreter hooks run on (its base interpreter when it is a venv's).
        workspace: where run directories are made (a private temp dir by default).
    """

    python: str = field(default_factory=lambda: os.environ.get("MACH_NIX_HOOK_PYTHON") or sys.executable)
    workspace: Path | None = None

    def __post_init__(self) -> None:
        self.mode = "root" if os.geteuid() == 0 else "userns"
        self.interpreter = describe_interpreter(self.python)
        if self.workspace is None:
            self.workspace = Path(tempfile.mkdtemp(prefix="mach-nix-sandbox-"))
        self.workspace.mkdir(parents=True, exist_ok=True)
        os.chmod(self.workspace, 0o700)
        if self.mode == "root" and os.path.isdir("/run") and os.access("/run", os.W_OK):
            self.lock_dir = Path("/run/mach-nix-hooks")
        else:
            self.lock_dir = Path(tempfile.gettempdir()) / f"mach-nix-hooks-{os.geteuid()}"
        self.lock_dir.mkdir(mode=0o700, exist_ok=True)
        if self.lock_dir.stat().st_uid != os.geteuid():
            raise SandboxUnavailable(f"{self.lock_dir} belongs to another user; remove it")
        self._system_links = tuple(n for n in SYSTEM_DIRS if os.path.islink("/" + n))
        self._system_binds = tuple(
            ("/" + n, "/" + n, False) for n in SYSTEM_DIRS if os.path.isdir("/" + n) and not os.path.islink("/" + n)
        )

    def new_build_dir(self) -> Path:
        """A fresh directory for one run (becomes ``/build``); the caller fills and later removes it."""
        assert self.workspace is not None
        path = Path(tempfile.mkdtemp(prefix="build-", dir=self.workspace))
        (path / "tmp").mkdir()
        return path

    def close(self) -> None:
        """Delete the workspace."""
        if self.workspace is not None:
            remove_tree(self.workspace)

    def probe(self) -> None:
        """Run the interpreter in a sandbox as the confinement user; raise if it is not itself there.

        Checks that the sandbox can be built, that the interpreter starts as the confinement
        user, and that it runs on its own standard library (``sys.prefix`` and version as on
        the host) — not on another interpreter's that happens to be readable.
        """
        code = (
            "import collections.abc, encodings, json, os, sys; "
            "print(json.dumps([sys.prefix, sys.version, os.getuid(), os.access('/', os.W_OK)]))"
        )
        build = self.new_build_dir()
        try:
            result = self.run(
                build, ["-I", "-S", "-c", code], {"PATH": "/usr/bin:/bin"}, BUILD_INSIDE, (), SandboxLimits(wall=60)
            )
        finally:
            remove_tree(build)
        tail = result.log.decode("utf-8", "replace").strip().splitlines()
        if result.setup_failed:
            raise SandboxUnavailable(self._no_namespaces(tail[-1] if tail else ""))
        try:
            if result.exec_failed:
                raise ValueError(tail[-1])
            prefix, version, uid, root_writable = json.loads(result.log.decode().strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise SandboxUnavailable(
                f"the hook interpreter {self.interpreter.host_executable} does not start in the sandbox as the "
                f"confinement user: {tail[-1] if tail else f'exit status {result.returncode}'}; make its prefix "
                f"{self.interpreter.host_prefix} readable by all (chmod -R a+rX), or set MACH_NIX_HOOK_PYTHON to "
                "another interpreter (e.g. /usr/bin/python3)"
            ) from None
        if prefix != self.interpreter.inside_prefix or version != self.interpreter.version:
            raise SandboxUnavailable(
                f"the hook interpreter {self.interpreter.host_executable} ran on another standard library in the "
                f"sandbox (sys.prefix {prefix}, Python {version.split()[0]}); set MACH_NIX_HOOK_PYTHON to an "
                "interpreter whose files are all under its prefix"
            )
        if uid == 0 or root_writable:
            raise SandboxUnavailable("the sandbox did not drop privileges (the hook ran as root); this is a bug")

    def _no_namespaces(self, reason: str) -> str:
        how = (
            "run the crawl as root"
            if self.mode == "userns"
            else "the machine refuses new namespaces even to root (a container without CAP_SYS_ADMIN?)"
        )
        return (
            f"cannot confine PEP 517 hooks on this machine ({reason.removeprefix('mach-nix-sandbox: ')}): {how}, or "
            "allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, or "
            "kernel.apparmor_restrict_unprivileged_userns=0), or crawl with --hooks never"
        )

    def run(
        self,
        build: Path,
        args: Sequence[str],
        env: dict[str, str],
        cwd: str,
        binds: Sequence[tuple[str, str, bool]],
        limits: SandboxLimits,
    ) -> SandboxResult:
        """Run the interpreter with ``args`` confined, ``build`` as ``/build``; wait at most ``limits.wall``.

        ``binds`` are extra ``(host path, path inside, writable)`` mounts. The command finds
        the result pipe on fd 3.
        """
        slot = _Slot(self.lock_dir) if self.mode == "root" else None
        try:
            if slot is not None:
                for path in [build, *build.rglob("*")]:
                    os.lchown(path, slot.uid, slot.uid)
            os.chmod(build, 0o700)
            return self._run(build, args, env, cwd, binds, limits, slot.uid if slot else None)
        finally:
            if slot is not None:
                slot.release()

    def _run(
        self,
        build: Path,
        args: Sequence[str],
        env: dict[str, str],
        cwd: str,
        binds: Sequence[tuple[str, str, bool]],
        limits: SandboxLimits,
        uid: int | None,
    ) -> SandboxResult:
        assert self.workspace is not None
        root = Path(tempfile.mkdtemp(prefix="root-", dir=self.workspace))
        log_r, log_w = os.pipe()
        result_r, result_w = os.pipe()
        inner = uid if uid is not None else hook_sandbox_init.BUILDER_ID
        config = {
            "mode": self.mode,
            "parent": os.getpid(),
            "root": str(root),
            "system_links": list(self._system_links),
            "binds": [
                *self._system_binds,
                *self.interpreter.binds,
                *binds,
                (str(build), BUILD_INSIDE, True),
            ],
            "tmp_source": str(build / "tmp"),
            "tmp_dirs": list(TMP_INSIDE),
            "inner_uid": inner,
            "inner_gid": inner,
            "cwd": cwd,
            "argv": [self.interpreter.inside_executable, *args],
            "env": {**env, **dict(self.interpreter.env)},
            "result_fd": result_w,
            "limits": {
                "wall": limits.wall,
                "cpu": int(limits.wall) + 1,
                "memory": limits.memory,
                "file_size": limits.file_size,
                "open_files": limits.open_files,
                "processes": limits.processes,
            },
        }
        start = time.monotonic()
        stop = threading.Event()
        logs: list[bytes] = []
        results: list[bytes] = []
        log_overflow: list[bool] = []
        result_overflow: list[bool] = []
        try:
            try:
                proc = subprocess.Popen(
                    [sys.executable, "-I", "-S", str(INIT_SCRIPT), json.dumps(config)],
                    stdin=subprocess.DEVNULL,
                    stdout=log_w,
                    stderr=log_w,
                    pass_fds=(result_w,),
                    start_new_session=True,
                    env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
                )
            finally:
                os.close(log_w)
                os.close(result_w)
            readers = [
                threading.Thread(target=_drain, args=(log_r, limits.log_bytes, True, logs, log_overflow, stop)),
                threading.Thread(
                    target=_drain, args=(result_r, limits.result_bytes, False, results, result_overflow, stop)
                ),
            ]
            for reader in readers:
                reader.start()
            timed_out = False
            try:
                returncode = proc.wait(timeout=limits.wall)
            except subprocess.TimeoutExpired:
                timed_out = True
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                returncode = proc.wait()
            # PID 1 is gone, so is every process of the run: the pipes are at EOF
            for reader in readers:
                reader.join(timeout=5)
            stop.set()
            for reader in readers:
                reader.join()
        finally:
            os.close(log_r)
            os.close(result_r)
            shutil.rmtree(root, ignore_errors=True)
        return SandboxResult(
            returncode=returncode,
            timed_out=timed_out,
            log=logs[0] if logs else b"",
            result=results[0] if results else b"",
            result_overflow=bool(result_overflow),
            seconds=time.monotonic() - start,
        )
