"""The sandbox's first process: builds the namespaces and the file system, then runs the hook.

Run by :mod:`mach_nix.db.hook_sandbox` as ``python -I -S hook_sandbox_init.py CONFIG_JSON``
with the crawler's own interpreter and privileges (trusted code; the standard library only,
so it needs no site-packages). Everything here happens before any untrusted code runs:

1. ``unshare`` new mount, PID, network, IPC and UTS namespaces (plus a user namespace
   when the crawler is not root, mapping the crawler's uid to :data:`BUILDER_ID`);
2. fork: the child is PID 1 of the new PID namespace. It makes every mount private,
   mounts a tmpfs as the new root, binds into it read-only the system directories, the
   hook interpreter and the build environment, read-write only the hook's work directory
   (``/build``; also seen as ``/tmp``, ``/var/tmp`` and ``/dev/shm``), a minimal ``/dev``
   and a fresh ``/proc``, remounts the new root read-only and ``pivot_root``\\ s into it;
3. PID 1 forks the hook: a new session, ``setrlimit`` (CPU, address space, file size,
   open files, processes, no core dumps), the confinement uid (root mode) or no
   capabilities left (user-namespace mode), ``PR_SET_NO_NEW_PRIVS``, then ``execve``;
4. PID 1 reaps orphans until the hook exits, then exits with its status: the kernel then
   kills every process left in the namespace. PID 1 dies with its parent
   (``PR_SET_PDEATHSIG``), and the parent with the crawler, so nothing outlives a crawl.

Exit status: the hook's, ``128 + signal`` when a signal ended it, :data:`SETUP_FAILED` when
the sandbox could not be built (the reason is the last line written to stderr, prefixed
``mach-nix-sandbox:``).
"""

from __future__ import annotations

import ctypes
import json
import os
import platform
import resource
import signal
import sys

SETUP_FAILED = 125
#: Exit status when the hook's interpreter could not be started (``execve`` failed).
EXEC_FAILED = 126
#: uid and gid of the hook inside a user namespace (user-namespace mode).
BUILDER_ID = 1000

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_RELATIME = 1 << 21
MNT_DETACH = 2
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_NO_NEW_PRIVS = 38
#: pivot_root(2) has no libc wrapper; its number per architecture (chroot is the fallback).
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "arm64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}
#: statvfs flags that a bind remount must keep (the kernel refuses to clear locked ones).
_KEEP_FLAGS: tuple[tuple[int, int], ...] = (
    (os.ST_NOSUID, MS_NOSUID),
    (os.ST_NODEV, MS_NODEV),
    (os.ST_NOEXEC, MS_NOEXEC),
    (1024, MS_NOATIME),
    (2048, MS_NODIRATIME),
    (4096, MS_RELATIME),
)

libc = ctypes.CDLL(None, use_errno=True)


class SetupError(Exception):
    """The sandbox could not be built (not the hook's fault)."""


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise SetupError(f"{what}: {os.strerror(err)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = [None if x is None else x.encode() for x in (source, target, fstype, data)]
    _check(libc.mount(enc[0], enc[1], enc[2], ctypes.c_ulong(flags), enc[3]), f"mount {source} on {target}")


def _kept_flags(path: str) -> int:
    flags = 0
    have = os.statvfs(path).f_flag
    for st, ms in _KEEP_FLAGS:
        if have & st:
            flags |= ms
    return flags


def _bind(source: str, target: str, writable: bool, device: bool = False) -> None:
    if os.path.isdir(source):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.exists(target):
            with open(target, "wb"):
                pass
    _mount(source, target, None, MS_BIND | MS_REC)
    flags = MS_BIND | MS_REMOUNT | MS_NOSUID | (0 if device else MS_NODEV) | _kept_flags(target)
    if not writable:
        flags |= MS_RDONLY
    _mount(None, target, None, flags)


def _write(path: str, text: str) -> None:
    with open(path, "w") as handle:
        handle.write(text)


def _build_root(cfg: dict) -> None:
    """Mount the hook's file system at ``cfg["root"]`` and make it ``/``."""
    root = cfg["root"]
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=8m")
    for name in cfg["system_links"]:
        os.symlink(os.readlink("/" + name), os.path.join(root, name))
    for source, inside, writable in cfg["binds"]:
        _bind(source, root + inside, writable)
    # /etc/passwd and /etc/group that name the hook's user (a tmpfs file bound over the host's)
    meta = os.path.join(root, ".sandbox")
    os.mkdir(meta, 0o755)
    uid, gid = cfg["inner_uid"], cfg["inner_gid"]
    _write(f"{meta}/passwd", f"root:x:0:0::/:/bin/false\nbuilder:x:{uid}:{gid}::/build:/bin/sh\n")
    _write(f"{meta}/group", f"root:x:0:\nbuilder:x:{gid}:\n")
    _write(f"{meta}/hosts", "127.0.0.1 localhost\n::1 localhost\n")
    if os.path.isdir(root + "/etc"):
        for name in ("passwd", "group", "hosts"):
            if os.path.exists(f"{root}/etc/{name}"):
                _bind(f"{meta}/{name}", f"{root}/etc/{name}", False)
    dev = root + "/dev"
    os.makedirs(dev, exist_ok=True)
    _mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k")
    for name in ("null", "zero", "full", "random", "urandom"):
        _bind("/dev/" + name, f"{dev}/{name}", True, device=True)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0")):
        os.symlink(target, f"{dev}/{name}")
    os.symlink("/proc/self/fd/1", f"{dev}/stdout")
    os.symlink("/proc/self/fd/2", f"{dev}/stderr")
    for inside in cfg["tmp_dirs"]:
        _bind(cfg["tmp_source"], root + inside, True)
    os.makedirs(root + "/proc", exist_ok=True)
    _mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    _mount(None, root, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    os.chdir(root)
    number = SYS_PIVOT_ROOT.get(platform.machine())
    if number is not None and libc.syscall(ctypes.c_long(number), b".", b".") == 0:
        _check(libc.umount2(b".", MNT_DETACH), "detach the old root")
    else:
        os.chroot(".")
    os.chdir("/")


def _exec_hook(cfg: dict) -> None:
    """In the forked child of PID 1: drop everything, then exec the hook (never returns)."""
    try:
        os.setsid()
        limits = cfg["limits"]
        for name, value in (
            ("RLIMIT_CPU", limits["cpu"]),
            ("RLIMIT_AS", limits["memory"]),
            ("RLIMIT_FSIZE", limits["file_size"]),
            ("RLIMIT_NOFILE", limits["open_files"]),
            ("RLIMIT_NPROC", limits["processes"]),
            ("RLIMIT_CORE", 0),
        ):
            resource.setrlimit(getattr(resource, name), (value, value))
        if cfg["mode"] == "root":
            os.setgroups([])
            os.setresgid(cfg["inner_gid"], cfg["inner_gid"], cfg["inner_gid"])
            os.setresuid(cfg["inner_uid"], cfg["inner_uid"], cfg["inner_uid"])
        # user-namespace mode: the uid is already BUILDER_ID (not 0), so execve drops every capability
        _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "PR_SET_NO_NEW_PRIVS")
        fd = cfg["result_fd"]
        if fd != 3:
            os.dup2(fd, 3)
            os.close(fd)
        os.set_inheritable(3, True)
        os.closerange(4, 65536)
        null = os.open("/dev/null", os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        os.chdir(cfg["cwd"])
        os.execve(cfg["argv"][0], cfg["argv"], cfg["env"])
    except OSError as error:
        os.write(2, f"\nmach-nix-sandbox: cannot start the hook: {error}\n".encode())
        os._exit(EXEC_FAILED)
    except BaseException as error:  # noqa: BLE001 - report any failure to start, then die
        os.write(2, f"\nmach-nix-sandbox: cannot start the hook: {error}\n".encode())
    os._exit(SETUP_FAILED)


def _status(status: int) -> int:
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def _pid1(cfg: dict) -> int:
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    try:
        _build_root(cfg)
        libc.sethostname(b"mach-nix-hook", 13)
    except (SetupError, OSError) as error:
        os.write(2, f"\nmach-nix-sandbox: {error}\n".encode())
        return SETUP_FAILED
    # the init of a PID namespace ignores signals it has no handler for: give it these
    signal.signal(signal.SIGALRM, lambda *_: os._exit(128 + signal.SIGALRM))
    signal.signal(signal.SIGTERM, lambda *_: os._exit(128 + signal.SIGTERM))
    signal.alarm(int(cfg["limits"]["wall"]) + 2)
    hook = os.fork()
    if hook == 0:
        _exec_hook(cfg)
    os.close(cfg["result_fd"])
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return SETUP_FAILED
        if pid == hook:
            return _status(status)


def _map_ids(uid: int, gid: int) -> None:
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{BUILDER_ID} {uid} 1\n")
    _write("/proc/self/gid_map", f"{BUILDER_ID} {gid} 1\n")


def main() -> int:
    """Build the sandbox described by the JSON config in ``argv[1]``, run the hook, return its status."""
    cfg = json.loads(sys.argv[1])
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != cfg["parent"]:
        return SETUP_FAILED  # the crawler is already gone
    flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS
    uid, gid = os.getuid(), os.getgid()
    try:
        if cfg["mode"] == "userns":
            flags |= CLONE_NEWUSER
        _check(libc.unshare(flags), "unshare (new namespaces)")
        if cfg["mode"] == "userns":
            _map_ids(uid, gid)
    except (SetupError, OSError) as error:
        os.write(2, f"\nmach-nix-sandbox: {error}\n".encode())
        return SETUP_FAILED
    child = os.fork()
    if child == 0:
        os._exit(_pid1(cfg))
    os.close(cfg["result_fd"])
    # stay until PID 1 exits; the crawler kills this process group on timeout
    _, status = os.waitpid(child, 0)
    return _status(status)


if __name__ == "__main__":
    sys.exit(main())
