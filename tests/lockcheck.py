"""An independent checker of mach-nix lock files.

Given a lock document, the root requirement strings, and the database records,
check that the lock is a valid installation for its target: every requirement
reachable from the roots (markers evaluated for the target, extras followed,
specifiers checked) is met by a package of the lock, every artifact exists in
the database with that hash, fits the target (tags, Requires-Python) and is not
yanked unless pinned, and nothing unreachable is in the lock.

Deliberately written **without** any of the resolver's code (no
``mach_nix.target``, ``mach_nix.resolution``…): only ``packaging`` and the DB
record types. The target's marker environment and wheel-tag rules are spelled
out again here, from the PEPs, so a bug in the resolver is not hidden by the
same bug in the check.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from types import SimpleNamespace
from typing import Any

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

_SYSTEMS = {
    "x86_64-linux": ("linux", "Linux", "x86_64"),
    "aarch64-linux": ("linux", "Linux", "aarch64"),
    "x86_64-darwin": ("darwin", "Darwin", "x86_64"),
    "aarch64-darwin": ("darwin", "Darwin", "arm64"),
}
_LEGACY = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}
_MAC_ARCHES = {
    "x86_64": {"x86_64", "intel", "fat64", "fat32", "universal", "universal2"},
    "arm64": {"arm64", "universal2"},
}


def marker_env(target: Mapping[str, Any]) -> dict[str, str]:
    """PEP 508 environment of a lock's target, built from the lock alone."""
    sys_platform, system, machine = _SYSTEMS[target["system"]]
    python = target["python"]
    major_minor = ".".join(python.split(".")[:2])
    return {
        "implementation_name": "cpython",
        "implementation_version": python,
        "os_name": "posix",
        "platform_machine": machine,
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_system": system,
        "platform_version": "",
        "python_full_version": python,
        "python_version": major_minor,
        "sys_platform": sys_platform,
        "extra": "",
    }


def tag_ok(target: Mapping[str, Any], interpreter: str, abi: str, platform: str) -> bool:
    """Is one wheel tag triple installable on the target? (PEP 425/600, by hand)."""
    major, minor = (int(x) for x in target["python"].split(".")[:2])
    cp = f"cp{major}{minor}"
    _sys, _system, machine = _SYSTEMS[target["system"]]
    # interpreter + abi
    if abi == cp:
        if interpreter != cp:
            return False
    elif abi == "abi3":
        match = re.fullmatch(r"cp3(\d+)", interpreter)
        if not match or int(match.group(1)) > minor:
            return False
    elif abi == "none":
        ok_interp = {cp, "py3", f"py{major}{minor}"} | {f"py3{m}" for m in range(0, minor + 1)}
        ok_interp |= {f"cp3{m}" for m in range(0, minor + 1)}
        if interpreter not in ok_interp:
            return False
    else:
        return False
    # platform
    if platform == "any":
        return True
    if target["system"].endswith("-linux"):
        glibc = tuple(int(x) for x in target["glibc"].split("."))
        match = re.fullmatch(r"manylinux_(\d+)_(\d+)_(\w+)", platform)
        if match:
            needed = (int(match.group(1)), int(match.group(2)))
            arch = match.group(3)
        else:
            match = re.fullmatch(r"(manylinux1|manylinux2010|manylinux2014)_(\w+)", platform)
            if not match:
                return False
            needed = _LEGACY[match.group(1)]
            arch = match.group(2)
        return arch == machine and needed <= glibc
    match = re.fullmatch(r"macosx_(\d+)_(\d+)_(\w+)", platform)
    if not match:
        return False
    wheel_os = (int(match.group(1)), int(match.group(2)))
    deployment = tuple(int(x) for x in target["macos"].split("."))
    if wheel_os[0] >= 11:
        wheel_os = (wheel_os[0], 0)
    if wheel_os > deployment:
        return False
    return match.group(3) in _MAC_ARCHES[machine]


def _find_release(db: Any, name: str, version: str):
    # Whole records (with sha256 and URL path): the on-disk reader's default
    # view carries only what resolution needs.
    try:
        project = db.project(name, details=True)
    except TypeError:  # in-memory sources keep whole records anyway
        project = db.project(name)
    if project is None:
        return None
    release = project.releases.get(version)
    if release is None:
        for candidate_version, candidate in project.releases.items():
            try:
                if Version(candidate_version) == Version(version):
                    return candidate
            except ValueError:
                continue
    return release


def check_lock(
    lock: Mapping[str, Any],
    roots: Sequence[str],
    db: Any,
    constraints: Iterable[str] = (),
    local_requires: Mapping[str, Sequence[str]] | None = None,
) -> list[str]:
    """Return every problem found in ``lock`` (an empty list means valid).

    Args:
        lock: the lock document (parsed JSON).
        roots: the root requirement strings (PEP 508) that were locked.
        db: a ProjectSource (``project(name) -> Project | None``).
        constraints: constraint strings that were applied.
        local_requires: the Requires-Dist lines of the lock's local, archive and VCS sources,
            by name, as the test knows them from the source's own files (not in the database).
    """
    problems: list[str] = []
    if lock.get("version") != 2:
        return [f"lock format version {lock.get('version')!r}, not 2"]
    target = lock["target"]
    env = marker_env(target)
    packages: Mapping[str, Mapping[str, Any]] = lock["packages"]
    python = Version(target["python"])

    def holds(marker: Marker | None, extra: str = "") -> bool:
        return marker is None or marker.evaluate({**env, "extra": extra})

    def require(req: Requirement, who: str, extras_needed: Iterable[str] = ()) -> str | None:
        name = canonicalize_name(req.name)
        entry = packages.get(name)
        if entry is None:
            problems.append(f"{who}: requires {req} but {name} is not in the lock")
            return None
        if req.url is None and not req.specifier.contains(Version(entry["version"]), prereleases=True):
            problems.append(f"{who}: requires {req} but the lock has {name} {entry['version']}")
        for extra in req.extras:
            if canonicalize_name(extra) not in entry.get("extras", []):
                problems.append(f"{who}: requires {req} but extra {extra!r} of {name} is not active")
        return name

    # 1. roots
    reachable: set[str] = set()
    active_extras: dict[str, set[str]] = {}
    work: list[str] = []
    root_names = set()
    for text in roots:
        req = Requirement(text)
        if not holds(req.marker):
            continue
        name = require(req, f"root {text}")
        if name:
            root_names.add(name)
            active_extras.setdefault(name, set()).update(canonicalize_name(e) for e in req.extras)
            work.append(name)
    if sorted(root_names) != sorted(lock.get("roots", [])):
        problems.append(f"roots field {lock.get('roots')} != active roots {sorted(root_names)}")
    for text in constraints:
        req = Requirement(text)
        name = canonicalize_name(req.name)
        if (
            holds(req.marker)
            and name in packages
            and not req.specifier.contains(Version(packages[name]["version"]), prereleases=True)
        ):
            problems.append(f"constraint {text} violated by {name} {packages[name]['version']}")

    # 2. every package: artifact, and each of its requirements for its active extras
    checked: set[tuple[str, frozenset[str]]] = set()
    while work:
        name = work.pop()
        entry = packages[name]
        extras = frozenset(active_extras.get(name, set()))
        if (name, extras) in checked:
            continue
        checked.add((name, extras))
        reachable.add(name)
        who = f"{name} {entry['version']}"
        if entry.get("root") != (name in root_names):
            problems.append(f"{who}: root flag is {entry.get('root')}")
        if not extras <= set(entry.get("extras", [])):
            problems.append(f"{who}: needed extras {sorted(extras)} not all listed in {entry.get('extras')}")
        release = _find_release(db, name, entry["version"])
        metas = []
        if entry["provider"] in ("wheel", "sdist"):
            artifact = entry.get("artifact") or {}
            if release is None:
                problems.append(f"{who}: version not in the database")
                continue
            dist = next((f for f in release.files if f.filename == artifact.get("filename")), None)
            if dist is None:
                problems.append(f"{who}: artifact {artifact.get('filename')} not in the database")
                continue
            if dist.sha256 != artifact.get("sha256"):
                problems.append(f"{who}: sha256 of {dist.filename} differs from the database")
            if not artifact.get("url", "").endswith("/" + dist.filename):
                problems.append(f"{who}: url does not point at {dist.filename}")
            if dist.is_wheel != (entry["provider"] == "wheel"):
                problems.append(f"{who}: provider {entry['provider']} but artifact {dist.filename}")
            if dist.is_wheel:
                wheel_name, wheel_version, _build, tags = parse_wheel_filename(dist.filename)
                if wheel_name != name or wheel_version != Version(entry["version"]):
                    problems.append(f"{who}: wheel {dist.filename} is for another project/version")
                if not any(tag_ok(target, t.interpreter, t.abi, t.platform) for t in tags):
                    problems.append(f"{who}: wheel {dist.filename} does not fit the target")
            if dist.yanked is not None and not entry.get("yanked"):
                problems.append(f"{who}: {dist.filename} is yanked but not marked so")
            meta = release.metadata_of(dist)
            if meta is None:
                problems.append(f"{who}: {dist.filename} has no metadata")
                continue
            for spec in (dist.requires_python, meta.requires_python):
                if spec and not SpecifierSet(spec).contains(python, prereleases=True):
                    problems.append(f"{who}: Requires-Python {spec} excludes {python}")
            metas = [meta]
        elif entry["provider"] == "nixpkgs":
            if not entry.get("nixpkgs_attr"):
                problems.append(f"{who}: nixpkgs package without nixpkgs_attr")
            if release is not None:
                metas = [m for m in release.metadata]
            if not entry.get("dependencies_known", True):
                metas = []
        elif entry["provider"] in ("local", "url", "vcs"):
            source = entry.get("source") or {}
            path = source.get("path", "")
            if entry["provider"] == "local" and (not path or path.startswith("/")):
                problems.append(f"{who}: local source path {path!r} is not relative to the lock")
            if entry["provider"] == "vcs" and len(source.get("rev", "")) != 40:
                problems.append(f"{who}: vcs source without a full commit")
            if entry["provider"] == "url" and len(source.get("sha256", "")) != 64:
                problems.append(f"{who}: url source without its sha256")
            if local_requires is None or name not in local_requires:
                problems.append(f"{who}: no Requires-Dist given for the local source")
                continue
            metas = [SimpleNamespace(requires_dist=tuple(local_requires[name]))]
        else:
            problems.append(f"{who}: unknown provider {entry['provider']!r}")
            continue
        # requirements: any metadata variant that is fully satisfied is fine (nixpkgs may use any)
        best: list[str] | None = None
        best_deps: list[tuple[str, frozenset[str]]] = []
        for meta in metas or [None]:
            local: list[str] = []
            deps: list[tuple[str, frozenset[str]]] = []
            saved = problems[:]
            problems.clear()
            for text in meta.requires_dist if meta else ():
                try:
                    req = Requirement(text)
                except ValueError:
                    continue
                if not (holds(req.marker) or any(holds(req.marker, e) for e in extras)):
                    continue
                dep = require(req, who)
                if dep:
                    if dep != name and dep not in entry.get("dependencies", []):
                        problems.append(f"{who}: dependency {dep} missing from its 'dependencies'")
                    deps.append((dep, frozenset(canonicalize_name(e) for e in req.extras)))
            local = problems[:]
            problems[:] = saved
            if best is None or len(local) < len(best):
                best, best_deps = local, deps
            if not local:
                break
        problems.extend(best or [])
        for dep, dep_extras in best_deps:
            before = frozenset(active_extras.get(dep, set()))
            active_extras.setdefault(dep, set()).update(dep_extras)
            if dep not in reachable or frozenset(active_extras[dep]) != before:
                work.append(dep)  # self-references with new extras (dask[complete]) re-check too
        for dep in entry.get("dependencies", []):
            if dep not in packages:
                problems.append(f"{who}: dependency {dep} is not in the lock")
    # 3. nothing extra
    for name in packages:
        if name not in reachable:
            problems.append(f"{name}: in the lock but not required by anything")
    problems.extend(check_build_systems(lock, db))
    return problems


def check_build_systems(lock: Mapping[str, Any], db: Any) -> list[str]:
    """Problems of the lock's build systems (format 2): every package built from source has
    ``build_system`` (or ``build_system_unlocked``); each ``build_system`` is a set of
    ``build_packages`` keys, one version per project, that meets the sdist's
    ``build_requires`` and its members' own requirements for the target;
    every build package is a fitting wheel of the database, with its hash, whose own
    requirements are met inside every closure it belongs to; no build package is unused."""
    problems: list[str] = []
    target = lock["target"]
    env = marker_env(target)
    build: Mapping[str, Mapping[str, Any]] = lock.get("build_packages", {})
    used: set[str] = set()
    for key, entry in build.items():
        who = f"build package {key}"
        if key != f"{entry.get('name')}=={entry.get('version')}":
            problems.append(f"{who}: key is not name==version")
            continue
        for dep in entry.get("dependencies", []):
            if dep not in build:
                problems.append(f"{who}: dependency {dep} is not a key of build_packages")
        release = _find_release(db, entry["name"], entry["version"])
        artifact = entry.get("artifact") or {}
        dist = (
            None
            if release is None
            else next((f for f in release.files if f.filename == artifact.get("filename")), None)
        )
        if dist is None:
            problems.append(f"{who}: artifact {artifact.get('filename')} not in the database")
            continue
        if dist.sha256 != artifact.get("sha256") or not dist.is_wheel:
            problems.append(f"{who}: artifact is not the database's wheel {dist.filename} with its sha256")
        _name, _version, _build, tags = parse_wheel_filename(dist.filename)
        if not any(tag_ok(target, t.interpreter, t.abi, t.platform) for t in tags):
            problems.append(f"{who}: wheel {dist.filename} does not fit the target")
    for name, entry in lock["packages"].items():
        from_source = entry["provider"] == "sdist" or (
            entry["provider"] in ("local", "url", "vcs") and not (entry.get("source") or {}).get("wheel")
        )
        who = f"{name} {entry['version']}"
        if not from_source:
            if "build_system" in entry:
                problems.append(f"{who}: build_system on a package not built from source")
            continue
        if entry.get("build_system_unlocked"):
            continue
        if "build_system" not in entry:
            problems.append(f"{who}: built from source without build_system or build_system_unlocked")
            continue
        closure = set(entry["build_system"])
        used |= closure
        missing = sorted(closure - set(build))
        if missing:
            problems.append(f"{who}: build_system names {missing}, not keys of build_packages")
            continue
        versions = {build[k]["name"]: Version(build[k]["version"]) for k in closure}
        if len(versions) != len(closure):
            problems.append(f"{who}: build_system has two versions of one project")
        wanted = [(text, who) for text in entry.get("build_requires", [])]
        for key in sorted(closure):
            release = _find_release(db, build[key]["name"], build[key]["version"])
            dist = (
                None
                if release is None
                else next((f for f in release.files if f.filename == build[key]["artifact"]["filename"]), None)
            )
            meta = None if dist is None else release.metadata_of(dist)
            wanted += [(text, f"build package {key}") for text in (meta.requires_dist if meta else ())]
        for text, requirer in wanted:
            req = Requirement(text)
            if req.marker is not None and not req.marker.evaluate(env):
                continue
            dep = canonicalize_name(req.name)
            if dep not in versions:
                problems.append(f"{who}: {requirer} requires {req}, which its build_system lacks")
            elif not req.specifier.contains(versions[dep], prereleases=True):
                problems.append(f"{who}: {requirer} requires {req}, its build_system has {versions[dep]}")
    for key in sorted(set(build) - used):
        problems.append(f"build package {key}: used by no build_system")
    return problems


def check_targets(
    container: Mapping[str, Any],
    roots: Sequence[str],
    db: Any,
    constraints: Iterable[str] = (),
) -> list[str]:
    """Return every problem of a lock for several targets (``mach-nix lock`` with several
    ``--python``/``--system``; docs/lock-format.md "Several targets"): each target's lock checked
    by :func:`check_lock` (its problems prefixed by its key), and the container's own consistency:
    ``kind``, ``version``, ``order`` naming every key of ``targets`` once, each key equal to its
    lock's ``<python>-<system>``, and ``differences`` listing exactly the names whose version (or
    presence) differs between the targets, with those versions and a reason."""
    problems: list[str] = []
    if container.get("kind") != "mach-nix-targets":
        problems.append(f"kind is {container.get('kind')!r}, not 'mach-nix-targets'")
    if container.get("version") != 1:
        problems.append(f"version is {container.get('version')!r}, not 1")
    targets: Mapping[str, Mapping[str, Any]] = container.get("targets") or {}
    order = list(container.get("order") or [])
    if len(order) < 2:
        problems.append(f"order lists {len(order)} targets: a single target is written as a plain lock")
    if len(set(order)) != len(order) or set(order) != set(targets):
        problems.append(f"order {order} does not name each key of targets {sorted(targets)} once")
    for key, lock in sorted(targets.items()):
        target = lock.get("target", {})
        if key != f"{target.get('python')}-{target.get('system')}":
            problems.append(f"targets.{key} is the lock of {target.get('python')}-{target.get('system')}")
        problems.extend(f"{key}: {problem}" for problem in check_lock(lock, roots, db, constraints))
    expected = {}
    for name in sorted({n for lock in targets.values() for n in lock.get("packages", {})}):
        versions = {
            key: lock["packages"][name]["version"] if name in lock["packages"] else None
            for key, lock in targets.items()
        }
        if len(set(versions.values())) > 1:
            expected[name] = versions
    listed = {item.get("name"): item for item in container.get("differences", [])}
    names = [item.get("name") for item in container.get("differences", [])]
    if names != sorted(names):
        problems.append(f"differences are not sorted by name: {names}")
    for name in sorted(set(expected) | set(listed)):
        if name not in listed:
            problems.append(f"differences lack {name}, whose versions differ: {expected[name]}")
        elif name not in expected:
            problems.append(f"differences list {name}, whose version is the same on every target")
        else:
            if listed[name].get("versions") != expected[name]:
                problems.append(
                    f"differences: {name} has versions {listed[name].get('versions')}, not {expected[name]}"
                )
            if not isinstance(listed[name].get("reason"), str) or not listed[name]["reason"]:
                problems.append(f"differences: {name} has no reason")
    return problems
