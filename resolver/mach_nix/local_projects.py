"""Local, archive and VCS sources: what a project installs besides PyPI releases.

A requirements file may name the project itself and code next to it (``.``, ``-e .``,
``./lib``, ``name @ file:///…``), an archive on a web server (``name @ https://…/x.tar.gz#sha256=…``
the database does not know) or a git repository (``git+https://…@REV``).
:mod:`mach_nix.requirements` parses them into :class:`~mach_nix.requirements.LocalSpec`;
this module reads each one's metadata from its source and makes it a candidate:

* **metadata** (:func:`read_tree`): PEP 621 ``[project]`` of pyproject.toml when its name,
  version and dependencies are static; else setup.cfg's ``[metadata]`` and ``[options]``
  when static and there is no setup.py; else the project's PEP 517 hook
  (``prepare_metadata_for_build_wheel``) through the confined runner the crawler uses
  (:class:`~mach_nix.db.pep517.HookRunner`: its own sandbox, the build requirements
  installed from wheels by pip as the user configured it). A wheel file's METADATA is read
  directly. The build requirements are ``[build-system] requires`` (PEP 517's default
  ``setuptools>=40.8.0`` without one).
* **pins** (the lock's ``source``, ``docs/lock-format.md``): a local directory or file by
  its path *relative to the lock's directory* (never an absolute path of the machine); an
  archive URL by its sha256 (given, or computed from the download and then written); a git
  repository by the commit its revision resolved to.
* **hash-checking mode** (:func:`check_hashes`): when a line has ``--hash`` (or
  ``--require-hashes`` is given), every requirement line needs one (pip's rule) and the
  artifact the lock picks for it must have one of them; a local directory or git commit
  cannot be hashed by pip's rules and is pinned by path or commit instead.

Nothing here runs while parsing: :func:`materialize` is called by the commands after the
requirements are read and before the resolution, :func:`check_hashes` after it.
"""

from __future__ import annotations

import configparser
import hashlib
import io
import os
import re
import subprocess
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from mach_nix.db.extract import ExtractError, SdistContents, build_system, parse_core_metadata
from mach_nix.db.http import Client, NotFound
from mach_nix.db.model import DEFAULT_BUILD_REQUIRES, Metadata
from mach_nix.db.pep517 import HookRunner
from mach_nix.errors import MachNixError, NetworkError, UsageError
from mach_nix.requirements import LocalSpec, RequirementSet, RootRequirement, quote
from mach_nix.resolution.candidates import Candidate, Req
from mach_nix.resolution.resolve import LocalCandidates

#: Providers of local, archive and VCS sources (the lock's ``provider``).
SOURCE_PROVIDERS = ("local", "url", "vcs")

#: Directories never packed when a local tree goes to its PEP 517 hook, nor hashed.
SKIPPED_DIRS = frozenset(
    {".git", ".hg", ".svn", ".venv", "venv", ".tox", ".nox", "__pycache__", ".mypy_cache", ".pytest_cache",
     ".ruff_cache", "node_modules", ".mach-nix-venv", "result"}
)  # fmt: skip

#: The most a local tree or a downloaded archive may hold for metadata reading.
MAX_TREE_BYTES = 512 * 1024**2
MAX_TREE_FILES = 100_000

#: Archive suffixes of sources (a wheel is ``.whl``).
_ARCHIVES = (".tar.gz", ".tgz", ".tar.bz2", ".tbz", ".tar.xz", ".txz", ".tar", ".zip")


@dataclass(frozen=True)
class ProjectInfo:
    """A source's name, version and dependency metadata."""

    name: str
    version: str
    metadata: Metadata


class SourceError(UsageError):
    """A local, archive or VCS source cannot be read (the message names the line)."""


# --------------------------------------------------------------------------- metadata


def read_tree(path: Path, origin: str, hooks: Callable[[], Any] | None = None) -> ProjectInfo:
    """The metadata of the project in directory ``path`` (module docstring, "metadata").

    Args:
        hooks: makes the :class:`~mach_nix.db.pep517.HookRunner` used when the metadata
            is not static (``None``: a project that needs its hook is refused).

    Raises:
        SourceError: not a Python project, or its metadata cannot be read.
    """
    pyproject = _read(path / "pyproject.toml")
    setup_cfg = _read(path / "setup.cfg")
    setup_py = _read(path / "setup.py")
    if pyproject is None and setup_cfg is None and setup_py is None:
        raise SourceError(
            f"{origin}: {path.name or path} is not a Python project (no pyproject.toml, setup.cfg or setup.py)"
        )
    contents = SdistContents(pyproject=pyproject, setup_cfg=setup_cfg, setup_py=setup_py)
    requires, _backend, _path = build_system(contents)
    static = _pep621(pyproject, requires, origin) if pyproject is not None else None
    if static is None and setup_cfg is not None and (setup_py is None or _trivial_setup_py(setup_py)):
        static = _setup_cfg(setup_cfg, requires)
    if static is not None:
        return static
    if hooks is None:
        raise SourceError(
            f"{origin}: the metadata of {path.name or path} is not static (dynamic fields or a setup.py), and its"
            " PEP 517 hook cannot run here"
        )
    data = pack_tree(path)
    try:
        meta, document = hooks().core_metadata("project.tar.gz", data)
    except ExtractError as error:
        raise SourceError(f"{origin}: cannot read the metadata of {path.name or path}: {error.reason}") from None
    except MachNixError as error:  # the sandbox is unavailable
        raise SourceError(f"{origin}: cannot run the PEP 517 hook of {path.name or path}: {error}") from None
    if document is None:
        raise SourceError(
            f"{origin}: the PEP 517 hook of {path.name or path} failed (its name and version are unknown)"
        )
    name, version = _name_version(document)
    if not name or not version:
        raise SourceError(f"{origin}: the PEP 517 hook of {path.name or path} gave no Name and Version")
    return ProjectInfo(canonicalize_name(name), version, meta)


def _trivial_setup_py(data: bytes) -> bool:
    """Whether a setup.py only calls ``setup()`` without arguments (its metadata is setup.cfg's)."""
    import ast

    try:
        tree = ast.parse(data)
    except (SyntaxError, ValueError):
        return False
    calls = 0
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            func = node.value.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if name == "setup" and not node.value.args and not node.value.keywords:
                calls += 1
                continue
        return False
    return calls == 1


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes() if path.is_file() else None
    except OSError:
        return None


def _name_version(document: bytes) -> tuple[str, str]:
    import email.parser

    msg = email.parser.HeaderParser().parsestr(document.decode("utf-8", "replace"))
    return str(msg.get("Name") or "").strip(), str(msg.get("Version") or "").strip()


def _pep621(data: bytes, requires: tuple[str, ...], origin: str) -> ProjectInfo | None:
    """The static PEP 621 metadata of a pyproject.toml, or ``None`` (no ``[project]``, or a
    dynamic name, version, dependency or optional-dependency field)."""
    import tomllib

    try:
        document = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise SourceError(f"{origin}: its pyproject.toml is not valid TOML: {error}") from None
    project = document.get("project")
    if not isinstance(project, dict):
        return None
    dynamic = project.get("dynamic", [])
    if not isinstance(dynamic, list):
        return None
    if {"name", "version", "dependencies", "optional-dependencies"} & set(dynamic):
        return None
    name, version = project.get("name"), project.get("version")
    if not isinstance(name, str) or not isinstance(version, str):
        return None
    lines = _strings(project.get("dependencies", []), f"{origin}: [project] dependencies")
    optional = project.get("optional-dependencies", {})
    if not isinstance(optional, dict):
        raise SourceError(f"{origin}: [project.optional-dependencies] must be a table")
    extras = []
    for extra, items in sorted(optional.items()):
        extras.append(canonicalize_name(extra))
        for item in _strings(items, f"{origin}: [project.optional-dependencies] {extra}"):
            lines.append(_with_extra(item, canonicalize_name(extra)))
    python = project.get("requires-python")
    meta = Metadata(
        requires_dist=tuple(lines),
        requires_python=python if isinstance(python, str) else None,
        provides_extras=tuple(sorted(set(extras))),
        build_requires=requires,
        source="pyproject",
    )
    return ProjectInfo(canonicalize_name(name), version, meta)


def _strings(items: object, where: str) -> list[str]:
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise SourceError(f"{where} must be an array of requirement strings")
    return [item.strip() for item in items]


def _with_extra(text: str, extra: str) -> str:
    """A requirement of an extra, as its Requires-Dist line (``x; (marker) and extra == "e"``)."""
    base, _, marker = text.partition(";")
    condition = f'extra == "{extra}"'
    return f"{base.strip()}; ({marker.strip()}) and {condition}" if marker.strip() else f"{base.strip()}; {condition}"


def _setup_cfg(data: bytes, requires: tuple[str, ...]) -> ProjectInfo | None:
    """The static metadata of a setup.cfg without setup.py, or ``None`` (no literal name and version)."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(data.decode("utf-8", "replace"))
    except configparser.Error:
        return None
    name = parser.get("metadata", "name", fallback="").strip()
    version = parser.get("metadata", "version", fallback="").strip()
    if not name or not version or version.startswith(("attr:", "file:")):
        return None
    lines = _cfg_lines(parser.get("options", "install_requires", fallback=""))
    extras = []
    if parser.has_section("options.extras_require"):
        for extra, value in sorted(parser.items("options.extras_require")):
            extras.append(canonicalize_name(extra))
            lines += [_with_extra(item, canonicalize_name(extra)) for item in _cfg_lines(value)]
    python = parser.get("options", "python_requires", fallback="").strip() or None
    meta = Metadata(
        requires_dist=tuple(lines),
        requires_python=python,
        provides_extras=tuple(sorted(set(extras))),
        build_requires=requires,
        source="setup.cfg",
    )
    return ProjectInfo(canonicalize_name(name), version, meta)


def _cfg_lines(value: str) -> list[str]:
    return [line.split("#", 1)[0].strip() for line in value.splitlines() if line.split("#", 1)[0].strip()]


def _walk(root: Path) -> Iterator[Path]:
    """The files of a tree, sorted, without :data:`SKIPPED_DIRS` and ``*.egg-info``."""
    for directory, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and not d.endswith(".egg-info"))
        for name in sorted(files):
            yield Path(directory) / name


def pack_tree(root: Path) -> bytes:
    """The tree as a .tar.gz with one top directory (what the PEP 517 runner unpacks).

    Raises:
        SourceError: larger than :data:`MAX_TREE_BYTES` or :data:`MAX_TREE_FILES`.
    """
    buf = io.BytesIO()
    total = count = 0
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path in _walk(root):
            if path.is_symlink() or not path.is_file():
                continue
            count += 1
            total += path.stat().st_size
            if count > MAX_TREE_FILES or total > MAX_TREE_BYTES:
                raise SourceError(f"{root} is larger than {MAX_TREE_BYTES >> 20} MiB or {MAX_TREE_FILES} files")
            info = tar.gettarinfo(str(path), "project/" + path.relative_to(root).as_posix())
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            with open(path, "rb") as handle:
                tar.addfile(info, handle)
    return buf.getvalue()


def read_archive(filename: str, data: bytes, origin: str, hooks: Callable[[], Any] | None) -> ProjectInfo:
    """The metadata of a wheel (its METADATA) or a source archive (unpacked, then :func:`read_tree`).

    Raises:
        SourceError: not a wheel or source archive, or unreadable.
    """
    if filename.endswith(".whl"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                member = next(n for n in archive.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA"))
                document = archive.read(member)
        except (zipfile.BadZipFile, StopIteration, OSError) as error:
            raise SourceError(f"{origin}: {filename} is not a wheel with a METADATA file ({error})") from None
        meta, _, _ = parse_core_metadata(document, "wheel", ())
        name, version = _name_version(document)
        return ProjectInfo(canonicalize_name(name), version, meta)
    if not filename.endswith(_ARCHIVES):
        raise SourceError(f"{origin}: {filename} is neither a wheel nor a source archive ({', '.join(_ARCHIVES)})")
    with tempfile.TemporaryDirectory(prefix="mach-nix-source-") as tmp:
        try:
            top = HookRunner._unpack(filename, data, Path(tmp) / "src")
        except ExtractError as error:
            raise SourceError(f"{origin}: {error.reason}") from None
        return read_tree(top, origin, hooks)


# --------------------------------------------------------------------------- sources


class Materializer:
    """Turns :class:`~mach_nix.requirements.LocalSpec` entries into requirements and candidates.

    Args:
        lock_dir: the directory of the lock being written: local paths are written relative to it.
        offline: nothing may be downloaded or cloned from the network.
        hooks: makes the PEP 517 runner (made once, on first use).
        download: fetches an archive URL's bytes (default: :class:`mach_nix.db.http.Client`).
    """

    def __init__(
        self,
        lock_dir: Path,
        offline: bool = False,
        hooks: Callable[[], Any] | None = None,
        download: Callable[[str], bytes] | None = None,
    ) -> None:
        self.lock_dir = Path(os.path.abspath(lock_dir))
        self.offline = offline
        self._make_hooks = hooks
        self._hooks: Any = None
        self._download = download
        self.candidates: dict[str, Candidate] = {}

    def hooks(self) -> Any:
        """The PEP 517 runner, made on first use. With ``$MACH_NIX_HOOK_ENV`` (a directory of
        installed build tools: the Nix side's evaluation-time resolution, which has no
        network, passes the interpreter's setuptools) hooks use that directory as their
        build environment instead of installing their build requirements with pip."""
        if self._hooks is None:
            if self._make_hooks is not None:
                self._hooks = self._make_hooks()
            else:
                self._hooks = HookRunner()
                fixed = os.environ.get("MACH_NIX_HOOK_ENV")
                if fixed:
                    self._hooks.envs = _FixedEnv(Path(fixed))
        return self._hooks

    def close(self) -> None:
        """Remove the PEP 517 runner's workspace."""
        if self._hooks is not None and hasattr(self._hooks, "close"):
            self._hooks.close()

    def fetch(self, url: str, origin: str) -> bytes:
        """An archive URL's bytes (``file:`` URLs read locally)."""
        if self.offline and not url.startswith("file:"):
            raise SourceError(f"{origin}: --offline: cannot download {url}; lock once without --offline")
        if self._download is not None:
            return self._download(url)
        try:
            return Client(retries=2, hint="check the URL and the network").request(url, max_bytes=MAX_TREE_BYTES).body
        except NotFound:
            raise SourceError(f"{origin}: {url} does not exist (HTTP 404)") from None
        except NetworkError as error:
            raise SourceError(f"{origin}: {error}") from None

    # -- one spec -----------------------------------------------------------

    def add(self, spec: LocalSpec) -> RootRequirement:
        """Read ``spec``'s source; register its candidate; return its root requirement."""
        if spec.kind == "local":
            info, source, url = self._local(spec)
        elif spec.kind == "vcs":
            info, source, url = self._vcs(spec)
        else:
            return self._url_requirement(spec)
        if spec.name is not None and spec.name != info.name:
            raise SourceError(f"{spec.origin}: the project at {quote(spec.location)} is {info.name}, not {spec.name}")
        if spec.editable:
            source["editable"] = True
        self.candidates[url] = _candidate(info, spec.kind, url, source, spec.origin)
        return self._requirement(info.name, spec, url)

    def _requirement(self, name: str, spec: LocalSpec, url: str) -> RootRequirement:
        extras = f"[{','.join(sorted(spec.extras))}]" if spec.extras else ""
        marker = f" ; {spec.marker}" if spec.marker is not None else ""
        return RootRequirement(Requirement(f"{name}{extras} @ {url}{marker}"), spec.origin, spec.sha256, spec.hashes)

    def _local(self, spec: LocalSpec) -> tuple[ProjectInfo, dict[str, Any], str]:
        path = Path(os.path.abspath(spec.location))
        if spec.subdirectory:
            path = path / spec.subdirectory
        relative = self.relative(path)
        source: dict[str, Any] = {"path": relative}
        if path.is_dir():
            info = read_tree(path, spec.origin, self.hooks)
        elif path.is_file():
            try:
                data = path.read_bytes()
            except OSError as error:
                raise SourceError(f"{spec.origin}: cannot read {spec.location}: {error.strerror}") from None
            digest = hashlib.sha256(data).hexdigest()
            if spec.sha256 and spec.sha256 != digest:
                raise SourceError(f"{spec.origin}: {spec.location} has sha256 {digest}, not {spec.sha256}")
            info = read_archive(path.name, data, spec.origin, self.hooks)
            source["sha256"] = digest
            if path.name.endswith(".whl"):
                source["wheel"] = True
        else:
            raise SourceError(f"{spec.origin}: {spec.location} does not exist (paths are relative to the file)")
        return info, source, "file:" + relative

    def relative(self, path: Path) -> str:
        """``path`` relative to the lock's directory, POSIX spelling (``.``, ``lib``, ``../shared``)."""
        relative = os.path.relpath(os.path.abspath(path), self.lock_dir)
        return Path(relative).as_posix()

    def _vcs(self, spec: LocalSpec) -> tuple[ProjectInfo, dict[str, Any], str]:
        url = spec.location
        if self.offline and not url.startswith("file:"):
            raise SourceError(f"{spec.origin}: --offline: cannot clone {url}; lock once without --offline")
        with tempfile.TemporaryDirectory(prefix="mach-nix-git-") as tmp:
            checkout = Path(tmp) / "checkout"
            _git(["clone", "--quiet", "--no-checkout", "--", url, str(checkout)], spec.origin, None)
            commit = _resolve_rev(checkout, spec.rev, spec.origin)
            _git(["-c", "advice.detachedHead=false", "checkout", "--quiet", commit], spec.origin, checkout)
            tree = checkout / spec.subdirectory if spec.subdirectory else checkout
            if not tree.is_dir():
                raise SourceError(f"{spec.origin}: {url}@{commit} has no directory {spec.subdirectory}")
            info = read_tree(tree, spec.origin, self.hooks)
        source: dict[str, Any] = {"url": url, "rev": commit}
        if spec.rev and spec.rev != commit:
            source["ref"] = spec.rev
        if spec.subdirectory:
            source["subdirectory"] = spec.subdirectory
        return info, source, f"git+{url}@{commit}" + (f"#subdirectory={spec.subdirectory}" if spec.subdirectory else "")

    def _url_requirement(self, spec: LocalSpec) -> RootRequirement:
        """A bare archive URL: a direct reference, named from its file name (or ``#egg=``)."""
        filename = spec.location.rstrip("/").rsplit("/", 1)[-1]
        name = spec.name or _name_from_filename(filename)
        if name is None:
            raise SourceError(
                f"{spec.origin}: cannot tell the project of {spec.location}: write 'name @ {spec.location}'"
            )
        fragment = f"#sha256={spec.sha256}" if spec.sha256 else ""
        extras = f"[{','.join(sorted(spec.extras))}]" if spec.extras else ""
        marker = f" ; {spec.marker}" if spec.marker is not None else ""
        requirement = Requirement(f"{name}{extras} @ {spec.location}{fragment}{marker}")
        return RootRequirement(requirement, spec.origin, spec.sha256, spec.hashes)

    def url_fallback(self, req: Req) -> Candidate | None:
        """The candidate of ``name @ https://…`` the database does not know: the archive is
        downloaded, checked against its ``#sha256=`` (and ``--hash``), and read."""
        assert req.url is not None
        url = req.url.split("#", 1)[0]
        if not url.startswith(("https://", "http://")):
            return None
        origin = req.origin or req.text
        data = self.fetch(url, origin)
        digest = hashlib.sha256(data).hexdigest()
        if req.sha256 and req.sha256 != digest:
            raise SourceError(f"{origin}: {url} has sha256 {digest}, not {req.sha256} as its '#sha256=' says")
        filename = url.rstrip("/").rsplit("/", 1)[-1]
        info = read_archive(filename, data, origin, self.hooks)
        if info.name != req.name:
            raise SourceError(f"{origin}: the archive at {url} is {info.name}, not {req.name}")
        source: dict[str, Any] = {"url": url, "sha256": digest, "filename": filename}
        if filename.endswith(".whl"):
            source["wheel"] = True
        candidate = _candidate(info, "url", url, source, origin)
        self.candidates[url] = candidate
        return candidate


class _FixedEnv:
    """A build environment that is one given directory, whatever the requirements (``$MACH_NIX_HOOK_ENV``)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def get(self, requires: Sequence[str]) -> Path:
        """The directory (the requirements are the build tools it holds, or the hook fails naming them)."""
        return self.path


def _name_from_filename(filename: str) -> str | None:
    try:
        if filename.endswith(".whl"):
            return str(parse_wheel_filename(filename)[0])
        return str(parse_sdist_filename(filename)[0])
    except (InvalidSdistFilename, InvalidWheelFilename, InvalidVersion):
        return None


def _candidate(info: ProjectInfo, provider: str, url: str, source: dict[str, Any], origin: str) -> Candidate:
    try:
        version = Version(info.version)
    except InvalidVersion:
        raise SourceError(
            f"{origin}: {info.name} has the version {info.version!r}, which is not a PEP 440 version"
        ) from None
    meta = info.metadata
    if source.get("wheel"):
        meta = Metadata(meta.requires_dist, meta.requires_python, meta.provides_extras, (), meta.source)
    elif meta.build_requires is None:
        meta = Metadata(
            meta.requires_dist, meta.requires_python, meta.provides_extras, DEFAULT_BUILD_REQUIRES, meta.source
        )
    return Candidate(info.name, version, info.version, provider, None, meta, url=url, source=source)


def _git(args: Sequence[str], origin: str, cwd: Path | None) -> str:
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0", GIT_ASKPASS="true", LC_ALL="C")
    try:
        result = subprocess.run(
            ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
        )
    except FileNotFoundError:
        raise SourceError(f"{origin}: git is not installed; it is needed to read git sources") from None
    except subprocess.TimeoutExpired:
        raise SourceError(f"{origin}: git {args[0]} took longer than 10 minutes") from None
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or [f"exit status {result.returncode}"])[-1]
        raise SourceError(f"{origin}: git {args[0]} failed: {last}")
    return result.stdout.strip()


def _resolve_rev(checkout: Path, rev: str | None, origin: str) -> str:
    """The commit of ``rev`` (a commit, tag or branch; ``None``: the default branch)."""
    for candidate in [rev, f"origin/{rev}", f"refs/tags/{rev}"] if rev else ["HEAD"]:
        try:
            return _git(["rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}"], origin, checkout)
        except SourceError:
            continue
    raise SourceError(f"{origin}: the repository has no commit, tag or branch {rev!r}")


def materialize(
    requirements: RequirementSet,
    lock_dir: Path,
    *,
    offline: bool = False,
    hooks: Callable[[], Any] | None = None,
    download: Callable[[str], bytes] | None = None,
) -> tuple[LocalCandidates, Materializer]:
    """Read every local, archive and VCS source of ``requirements`` (appending their root
    requirements, in input order after the others) and return what the resolution needs.

    Raises:
        SourceError: a source cannot be read (every failing line named).
    """
    materializer = Materializer(lock_dir, offline, hooks, download)
    problems: list[str] = []
    for spec in requirements.local:
        try:
            requirements.requirements.append(materializer.add(spec))
        except UsageError as error:
            problems.append(error.message)
    if problems:
        materializer.close()
        raise SourceError("; ".join(problems))
    return LocalCandidates(dict(materializer.candidates), materializer.url_fallback), materializer


# --------------------------------------------------------------------------- hashes


def check_hashes(requirements: RequirementSet, packages: dict[str, dict[str, Any]]) -> None:
    """pip's hash-checking mode against the lock's packages (module docstring).

    Raises:
        UsageError: a requirement line without ``--hash`` while another has one, a lock
            entry whose artifact matches none of its line's hashes, or a package of the lock
            no hashed line names (every problem at once).
    """
    if not requirements.require_hashes:
        return
    problems: list[str] = []
    hashed: dict[str, list[RootRequirement]] = {}
    local_names = {entry["name"] for entry in packages.values() if entry.get("provider") in ("local", "vcs")}
    for root in requirements.requirements:
        name = canonicalize_name(root.requirement.name)
        if not root.hashes:
            if name in local_names:
                continue  # pinned by path or commit instead
            problems.append(
                f"{root.origin}: {root.requirement} has no --hash, but hash-checking mode is on"
                " (another line has --hash, or --require-hashes): add --hash=sha256:… for every file"
                " it may install (pip-compile --generate-hashes writes them)"
            )
            continue
        hashed.setdefault(name, []).append(root)
    for key, entry in sorted(packages.items()):
        roots = hashed.get(key)
        provider = entry.get("provider")
        if provider in ("local", "vcs") and not (entry.get("source") or {}).get("sha256"):
            continue
        if roots is None:
            problems.append(
                f"{key} {entry.get('version')} is in the lock but no requirement line with --hash names it:"
                " in hash-checking mode every package needs one (pip-compile --generate-hashes lists all)"
            )
            continue
        if provider == "nixpkgs":
            problems.append(
                f"{roots[0].origin}: {key} comes from nixpkgs, whose sources --hash cannot check:"
                f" choose PyPI's files with --provider {key}=wheel,sdist"
            )
            continue
        digest = (entry.get("artifact") or entry.get("source") or {}).get("sha256")
        for root in roots:
            if digest not in root.hashes:
                problems.append(
                    f"{root.origin}: the lock's {key} {entry.get('version')} file"
                    f" ({(entry.get('artifact') or entry.get('source') or {}).get('filename', '?')}, sha256"
                    f" {digest}) matches none of the line's --hash values: the file changed, or the line"
                    " was generated for another platform or Python; regenerate it"
                )
    if problems:
        raise UsageError(
            "; ".join(problems[:20]) + (f"; (and {len(problems) - 20} more)" if len(problems) > 20 else "")
        )


def provider_options(requirements: RequirementSet) -> list[str]:
    """``--only-binary`` / ``--no-binary`` lines as provider orders (``NAME=ORDER``, ``:all:`` as ``_default``)."""
    options = []
    for name in sorted(requirements.only_binary):
        options.append(f"{'_default' if name == ':all:' else name}=wheel")
    for name in sorted(requirements.no_binary):
        options.append(f"{'_default' if name == ':all:' else name}=sdist,nixpkgs")
    return options


_INDEX_NORMAL = re.compile(r"/+$")


def check_index_urls(requirements: RequirementSet, registry: str) -> None:
    """Every ``--index-url`` must be the registry in use (honoured), else an error naming the line.

    Raises:
        UsageError: another index (what to do).
    """
    problems = []
    for where, url in requirements.index_urls:
        if _INDEX_NORMAL.sub("", url) != _INDEX_NORMAL.sub("", registry):
            problems.append(
                f"{where}: --index-url {url}: mach-nix reads {registry}; set MACH_NIX_INDEX_URL={url} to read that"
                " registry instead, or remove the line"
            )
    if problems:
        raise UsageError("; ".join(problems))
