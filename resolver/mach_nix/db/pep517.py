"""Run an sdist's PEP 517 ``prepare_metadata_for_build_wheel`` hook, confined, retrying known failures.

This executes untrusted code (the project's build backend and setup.py). Every run is a
sandbox of its own (:mod:`mach_nix.db.hook_sandbox`: namespaces, its own uid, a read-only
file system but for its build directory, no sockets, limits, nothing outlives it); the
threat model and what is not defended are in ``docs/security.md``. Inside:

* the hook interpreter (the crawler's base interpreter, or ``MACH_NIX_HOOK_PYTHON``) runs
  ``-I -S`` (no user site, no ``PYTHONPATH``, no site-packages) with an emptied environment;
  the build environment (``[build-system] requires``, :mod:`mach_nix.db.hook_env`) is the
  only thing added to ``sys.path``;
* the sdist is unpacked by the crawler with tarfile's ``data`` filter into ``/build/src``;
  the METADATA comes back through the run's own result pipe, nothing else is read back.

As pip does, the backend is first asked for its own build requirements
(``get_requires_for_build_wheel``, optional); those its environment lacks are installed (a
second environment, :mod:`mach_nix.db.hook_env`) and the hook runs again on it before
``prepare_metadata_for_build_wheel``; ones that cannot be installed are still recorded. The
recorded ``build_requires`` are the static ones followed by the backend's
(:func:`merge_requirements`), but for those naming a distribution a retry added.

:meth:`HookRunner.metadata` runs the hook up to :data:`~mach_nix.db.hook_retry.MAX_ATTEMPTS`
times, each retry fixing the last failure's known cause (:mod:`mach_nix.db.hook_retry`:
an older setuptools, a missing build requirement, placeholder README/LICENSE files,
``collections`` ABC aliases). Python-2-only code is reported as kind ``python2-only``. When
the hook still fails for want of something of the build machine, a static read of the
sdist (:func:`~mach_nix.db.extract.static_metadata`) stands in, with source ``"static"``.
No path of the crawl machine appears in a recorded reason: inside the sandbox everything
has a fixed path, and the interpreter's standard library is written ``<stdlib>``.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import sys
import tarfile
import tempfile
import weakref
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from mach_nix.db.extract import ExtractError, build_system, parse_core_metadata, read_sdist, static_metadata
from mach_nix.db.hook_env import BuildEnvs
from mach_nix.db.hook_retry import (
    MAX_ATTEMPTS,
    Attempt,
    environmental,
    error_line,
    local_modules,
    next_attempt,
    python2_only,
)
from mach_nix.db.hook_sandbox import (
    BUILD_INSIDE,
    PYTHON_INSIDE,
    Sandbox,
    SandboxLimits,
    SandboxUnavailable,
    remove_tree,
)
from mach_nix.db.model import Metadata

__all__ = ["HookLimits", "HookRunner", "SandboxUnavailable"]

#: Code run in the sandbox: import the backend, ask it for its build requirements
#: (``get_requires_for_build_wheel``, optional: default ``[]``), call the metadata hook, write
#: the result to fd 3 as one JSON header line (``{"requires": [...], "metadata": bool}``)
#: followed by the METADATA bytes. With ``stop`` set and a requirement whose distribution the
#: build environment lacks (by canonical name; versions and markers are left to pip), it stops
#: before the metadata hook, so that they can be installed first, as pip does.
RUNNER = r"""
import importlib, importlib.metadata, json, os, re, site, sys
src, outdir, backend, backend_path, env_dir, compat, stop = sys.argv[1:8]
if env_dir:
    site.addsitedir(env_dir)
if compat == "1":
    import collections, collections.abc
    for name in collections.abc.__all__:
        if not hasattr(collections, name):
            setattr(collections, name, getattr(collections.abc, name))
for p in json.loads(backend_path):
    sys.path.insert(0, os.path.join(src, p))
sys.path.insert(0, src) if backend.startswith("setuptools.build_meta:__legacy__") else None
os.chdir(src)
module, _, obj = backend.partition(":")
hooks = importlib.import_module(module)
for attr in filter(None, obj.split(".")):
    hooks = getattr(hooks, attr)
get_requires = getattr(hooks, "get_requires_for_build_wheel", None)
requires = [str(r) for r in get_requires({})] if get_requires is not None else []
def dist(text):
    return re.sub(r"[-_.]+", "-", re.match(r"\s*([\w.-]*)", text).group(1)).lower()
have = {dist(d.metadata["Name"] or "") for d in importlib.metadata.distributions(path=[env_dir])}
if stop == "1" and any(dist(r) not in have for r in requires):
    with os.fdopen(3, "wb") as result:
        result.write(json.dumps({"requires": requires, "metadata": False}).encode() + b"\n")
    sys.exit(0)
prepare = getattr(hooks, "prepare_metadata_for_build_wheel", None)
if prepare is not None:
    name = prepare(outdir, {})
    with open(os.path.join(outdir, name, "METADATA"), "rb") as f:
        data = f.read()
else:
    import zipfile
    whl = hooks.build_wheel(outdir, {})
    with zipfile.ZipFile(os.path.join(outdir, whl)) as z:
        name = next(n for n in z.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA"))
        data = z.read(name)
with os.fdopen(3, "wb") as result:
    result.write(json.dumps({"requires": requires, "metadata": True}).encode() + b"\n" + data)
"""

#: The most requirements, and the longest one, that a backend's ``get_requires_for_build_wheel``
#: may return (more: the run's result is refused as malformed).
MAX_HOOK_REQUIRES = 100
MAX_REQUIREMENT_CHARS = 1000

#: The sdist's top directory inside the sandbox (its name is the archive's own top directory).
SRC_INSIDE = BUILD_INSIDE + "/src"
ENV_INSIDE = "/env"


@dataclass
class HookLimits:
    """Resource limits of one hook run (see :class:`~mach_nix.db.hook_sandbox.SandboxLimits`)."""

    timeout: float = 120.0
    memory_bytes: int = 2 * 1024**3
    file_bytes: int = 512 * 1024**2
    processes: int = 128

    def sandbox(self) -> SandboxLimits:
        """These limits as the sandbox takes them."""
        return SandboxLimits(
            wall=self.timeout, memory=self.memory_bytes, file_size=self.file_bytes, processes=self.processes
        )


class HookRunner:
    """Runs PEP 517 metadata hooks, each in a sandbox of its own; safe to call from many threads.

    Build environments are installed once per runner (one crawl) and shared; :meth:`close`
    (or leaving the ``with`` block) deletes them.

    Args:
        limits: per-run limits.
        python: the interpreter hooks run on (default ``MACH_NIX_HOOK_PYTHON``, else the
            crawler's own base interpreter).
        pip_args: index arguments for installing build requirements (default: the user's
            index); e.g. ``("--no-index", "--find-links", DIR)``.

    Raises:
        SandboxUnavailable: hooks cannot be confined here, or the interpreter does not run
            as the confinement user on its own standard library (the message says the fix).
    """

    def __init__(
        self, limits: HookLimits | None = None, python: str | None = None, pip_args: Sequence[str] | None = None
    ) -> None:
        self.limits = limits or HookLimits()
        self.workspace = Path(tempfile.mkdtemp(prefix="mach-nix-hooks-"))
        try:
            self.sandbox = Sandbox(
                python or os.environ.get("MACH_NIX_HOOK_PYTHON") or sys.executable, self.workspace / "runs"
            )
            self.sandbox.probe()
        except BaseException:
            remove_tree(self.workspace)
            raise
        version = self.sandbox.interpreter.version.split()[0]
        self.envs = BuildEnvs(self.workspace / "envs", ".".join(version.split(".")[:2]), pip_args)
        self.runs = 0
        # a runner never closed (an abandoned crawl) still leaves no workspace behind
        self._cleanup = weakref.finalize(self, remove_tree, self.workspace)

    def close(self) -> None:
        """Delete the workspace and the build environments."""
        self._cleanup()

    def __enter__(self) -> HookRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def metadata(self, filename: str, data: bytes) -> Metadata:
        """The :class:`Metadata` of sdist ``filename`` (its bytes), from its build backend.

        Raises:
            ExtractError: kind ``hook-error``, ``python2-only``, ``timeout``, ``memory`` or ``invalid``.
        """
        return self.core_metadata(filename, data)[0]

    def core_metadata(self, filename: str, data: bytes) -> tuple[Metadata, bytes | None]:
        """:meth:`metadata`, and the METADATA document the hook wrote (``None`` when a static
        read stood in): its ``Name`` and ``Version`` name a local project.

        Raises:
            ExtractError: see :meth:`metadata`.
        """
        contents = read_sdist(filename, data)
        requires, backend, backend_path = build_system(contents)
        if backend is None:
            backend = "setuptools.build_meta:__legacy__"
        attempt: Attempt | None = Attempt(requires)
        failure = ExtractError("hook-error", "the PEP 517 hook did not run")
        last_log = ""
        for _ in range(MAX_ATTEMPTS):
            assert attempt is not None
            try:
                return self._run(filename, data, attempt, backend, backend_path, requires)
            except _Failed as failed:
                if failed.install and attempt.notes:
                    break  # the retry's environment cannot be installed: the last run's error says more
                failure, last_log = failed.error, failed.log
                if failure.kind != "hook-error":
                    break
                evidence = python2_only(failed.log, SRC_INSIDE)
                if evidence is not None:
                    raise ExtractError(
                        "python2-only", f"the sdist's build code is Python 2 only ({evidence[:200]})"
                    ) from None
                attempt = next_attempt(attempt, failed.log, failed.local, failed.src_inside, backend)
                if attempt is None:
                    break
        if failure.kind == "hook-error" and environmental(last_log or failure.reason):
            meta = static_metadata(contents, requires)
            if meta is not None:
                return meta, None
        raise failure

    def _run(
        self,
        filename: str,
        data: bytes,
        attempt: Attempt,
        backend: str,
        backend_path: tuple[str, ...],
        requires: tuple[str, ...],
    ) -> tuple[Metadata, bytes]:
        """One attempt: the backend's own build requirements first (installed when they are
        missing, as pip does, and run without them when they cannot be), then its METADATA."""
        try:
            env_dir = self.envs.get(attempt.requires)
        except ExtractError as error:
            raise _Failed(error, error.reason, frozenset(), SRC_INSIDE, install=True) from None
        build = self.sandbox.new_build_dir()
        try:
            src = self._unpack(filename, data, build / "src")
            inside = SRC_INSIDE + ("/" + src.name if src != build / "src" else "")
            for rel in attempt.placeholders:
                target = src / rel
                if not target.exists() and src.resolve() in target.resolve().parents:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.touch()
            (build / "out").mkdir()
            hook_requires, document = self._sandboxed(build, src, inside, env_dir, attempt, backend, backend_path)
            if document is None:  # the backend asked for requirements its environment lacks
                wider = merge_requirements(attempt.requires, hook_requires)
                try:
                    env_dir = self.envs.get(wider)
                except ExtractError:
                    pass  # not installable: the hook runs without them, and they are recorded all the same
                hook_requires, document = self._sandboxed(
                    build, src, inside, env_dir, attempt, backend, backend_path, stop=False
                )
            if document is None:
                log = "get_requires_for_build_wheel's requirements were not taken"
                raise _Failed(ExtractError("hook-error", f"the PEP 517 hook failed: {log}"), log, frozenset(), inside)
            # a distribution a retry put in the environment (the wheel an older setuptools asks for) is
            # the retry's choice, not the sdist's: the lock builds it with its static requirements
            added = _names(attempt.requires) - _names(requires)
            own = [r for r in hook_requires if _names([r]).isdisjoint(added)]
            meta, _, _ = parse_core_metadata(document, "pep517", merge_requirements(requires, own))
            return meta, document
        finally:
            remove_tree(build)

    def _sandboxed(
        self,
        build: Path,
        src: Path,
        inside: str,
        env_dir: Path,
        attempt: Attempt,
        backend: str,
        backend_path: tuple[str, ...],
        stop: bool = True,
    ) -> tuple[tuple[str, ...], bytes | None]:
        """Run :data:`RUNNER` once in ``build`` on environment ``env_dir``: the backend's build
        requirements, and the METADATA (``None`` when, with ``stop``, it stopped for
        requirements the environment lacks)."""
        env = {
            "HOME": BUILD_INSIDE,
            "TMPDIR": "/tmp",
            "PATH": "/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
            "SETUPTOOLS_USE_DISTUTILS": "local",
        }
        args = ["-I", "-S", "-c", RUNNER, inside, BUILD_INSIDE + "/out", backend, json.dumps(list(backend_path))]
        args += [ENV_INSIDE, "1" if attempt.compat else "0"]
        args += ["1" if stop else "0"]
        result = self.sandbox.run(build, args, env, inside, ((str(env_dir), ENV_INSIDE, False),), self.limits.sandbox())
        self.runs += 1
        log = self._scrub(result.log.decode("utf-8", "replace"))
        if result.setup_failed or result.exec_failed:
            raise SandboxUnavailable(f"the hook sandbox broke down: {log.strip().splitlines()[-1]}")
        if result.timed_out:
            late = ExtractError("timeout", f"the PEP 517 hook ran longer than {self.limits.timeout:g}s")
            raise _Failed(late, log, frozenset(), inside)
        if result.returncode != 0 or not result.result or result.result_overflow:
            raise _Failed(self._failure(result.returncode, log, attempt), log, local_modules(src), inside)
        try:
            return parse_result(result.result)
        except ValueError as error:
            failed = ExtractError("hook-error", f"the PEP 517 hook failed: {error}")
            raise _Failed(failed, log, frozenset(), inside) from None

    def _scrub(self, text: str) -> str:
        """``text`` without the interpreter's own paths (they differ between crawl machines)."""
        interpreter = self.sandbox.interpreter
        version = ".".join(interpreter.version.split()[0].split(".")[:2])
        text = text.replace(f"{interpreter.inside_prefix}/lib/python{version}", "<stdlib>")
        text = text.replace(interpreter.inside_executable, "<python>")
        if interpreter.inside_prefix == PYTHON_INSIDE:  # a system prefix (/usr) holds much else
            text = text.replace(PYTHON_INSIDE + "/", "<python>/")
        return text

    def _failure(self, returncode: int, log: str, attempt: Attempt) -> ExtractError:
        lines = log.strip().splitlines()
        if returncode in (128 + signal.SIGXCPU, 128 + signal.SIGKILL):
            return ExtractError("timeout", f"the PEP 517 hook exceeded its CPU limit (exit {returncode})")
        if any("MemoryError" in line for line in lines[-5:]):
            return ExtractError("memory", f"the PEP 517 hook exceeded {self.limits.memory_bytes} bytes")
        last = error_line(log) or (f"exit status {returncode}" if returncode else "no METADATA came back")
        retried = f" (retried with {', '.join(attempt.notes)})" if attempt.notes else ""
        return ExtractError("hook-error", f"the PEP 517 hook failed: {last[:300]}{retried}")

    @staticmethod
    def _unpack(filename: str, data: bytes, dest: Path) -> Path:
        """Unpack the sdist into ``dest`` (at most :data:`MAX_UNPACKED_BYTES` in :data:`MAX_MEMBERS` members)."""
        dest.mkdir(parents=True)
        try:
            if filename.endswith(".zip"):
                with zipfile.ZipFile(io.BytesIO(data)) as archive:
                    infos = archive.infolist()
                    _check_size(len(infos), sum(m.file_size for m in infos))
                    archive.extractall(dest)
            else:
                with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
                    members = archive.getmembers()
                    _check_size(len(members), sum(m.size for m in members if m.isfile()))
                    _extract_tar(archive, dest)
        except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError) as error:
            raise ExtractError("invalid", f"cannot unpack the sdist: {error}") from None
        entries = [p for p in dest.iterdir()]
        if len(entries) == 1 and entries[0].is_dir():
            return entries[0]
        return dest


def parse_result(result: bytes) -> tuple[tuple[str, ...], bytes | None]:
    """The backend's build requirements and the METADATA (``None``: the run stopped before the
    metadata hook) from what :data:`RUNNER` wrote to its result pipe.

    Raises:
        ValueError: the result is not of that form, or a requirement is not a PEP 508 one
            (at most :data:`MAX_HOOK_REQUIRES` of at most :data:`MAX_REQUIREMENT_CHARS` characters).
    """
    head, newline, document = result.partition(b"\n")
    try:
        header = json.loads(head.decode("utf-8")) if newline else None
    except (UnicodeDecodeError, ValueError):
        header = None
    if not isinstance(header, dict) or not isinstance(header.get("metadata"), bool):
        raise ValueError("its result is malformed")
    listed = header.get("requires")
    if not isinstance(listed, list) or len(listed) > MAX_HOOK_REQUIRES:
        raise ValueError("get_requires_for_build_wheel did not return a list of at most 100 requirements")
    requires: list[str] = []
    for item in listed:
        if not isinstance(item, str) or len(item) > MAX_REQUIREMENT_CHARS:
            raise ValueError("get_requires_for_build_wheel returned a requirement that is not a short string")
        try:
            Requirement(item)
        except InvalidRequirement:
            raise ValueError(f"get_requires_for_build_wheel returned an invalid requirement {item[:100]!r}") from None
        requires.append(item.strip())
    if header["metadata"] and not document:
        raise ValueError("no METADATA came back")
    return tuple(requires), document if header["metadata"] else None


def merge_requirements(first: Sequence[str], then: Sequence[str]) -> tuple[str, ...]:
    """``first`` followed by those of ``then`` not already there, compared as normalised
    requirements (name canonicalised, extras sorted, specifiers and markers as packaging
    writes them); order kept, each written as it came. Unparsable ones compare by spelling."""
    seen: set[str] = set()
    out: list[str] = []
    for item in (*first, *then):
        try:
            req = Requirement(item)
            req.name = canonicalize_name(req.name)
            req.extras = {canonicalize_name(e) for e in req.extras}
            key = str(req)
        except InvalidRequirement:
            key = "".join(item.split()).lower()
        if key not in seen:
            seen.add(key)
            out.append(item)
    return tuple(out)


def _names(requires: Sequence[str]) -> set[str]:
    """The canonical distribution names of ``requires`` (unparsable ones left out)."""
    names = set()
    for item in requires:
        try:
            names.add(str(canonicalize_name(Requirement(item).name)))
        except InvalidRequirement:
            pass
    return names


#: Unpacking limits: a small archive may inflate to much more (it is unpacked before the sandbox).
MAX_UNPACKED_BYTES = 2 * 1024**3
MAX_MEMBERS = 200_000


def _check_size(members: int, size: int) -> None:
    if members > MAX_MEMBERS or size > MAX_UNPACKED_BYTES:
        raise ExtractError(
            "invalid", f"the sdist unpacks to {members} files and {size} bytes, over the limits of the hook"
        )


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


class _Failed(Exception):
    """One attempt failed: its error, its output, the sdist's own module names, its directory inside."""

    def __init__(
        self, error: ExtractError, log: str, local: frozenset[str], src_inside: str, install: bool = False
    ) -> None:
        super().__init__(error.reason)
        self.install = install
        self.error = error
        self.log = log
        self.local = local
        self.src_inside = src_inside
