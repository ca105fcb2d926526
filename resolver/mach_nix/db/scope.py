"""What the database covers: platforms of wheels, and targets for marker evaluation.

Kept: sdists, pure wheels (platform ``any``), and wheels with at least one tag
for Linux on x86_64/aarch64 (``manylinux*``, ``musllinux*``, ``linux``) or macOS
on x86_64/arm64 (``x86_64``, ``arm64``, ``universal2``, and the older fat
``intel``/``universal`` tags, which contain x86_64), when their interpreter tag
can serve CPython (or PyPy) 3.8 or newer (``cp38``..., ``cp3X-abi3``, ``py3``).
Everything else (Windows, i686, ppc64le, s390x, armv7l, riscv64, Android, iOS,
binary wheels only for Python 2.7-3.7, ...) is left out.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache, lru_cache

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import Version

from mach_nix.db.model import SDIST_SUFFIXES
from mach_nix.platforms import PYTHON_MINORS, SYSTEMS, marker_environment

_LINUX_ARCHES = ("x86_64", "aarch64")
_MAC_ARCHES = ("x86_64", "arm64", "universal2", "intel", "universal")


def platform_in_scope(platform: str) -> bool:
    """True if a wheel platform tag (e.g. ``manylinux_2_17_x86_64``) is kept."""
    if platform == "any":
        return True
    if platform.startswith(("manylinux", "musllinux", "linux_")):
        return platform.endswith(_LINUX_ARCHES)
    if platform.startswith("macosx_"):
        return platform.split("_", 3)[-1] in _MAC_ARCHES
    return False


#: Oldest Python 3 minor the resolver targets; binary wheels only for older ones are left out.
MIN_MINOR = min(PYTHON_MINORS)


def interpreter_in_scope(interpreter: str, abi: str) -> bool:
    """True if a binary wheel's interpreter tag can serve some CPython/PyPy 3.8+.

    ``cp311`` yes, ``cp36`` only with ``abi3`` (stable ABI, forward compatible),
    ``cp27``/``pp27`` no, ``py3``-style generic tags yes.
    """
    for prefix in ("cp", "pp"):
        if interpreter.startswith(prefix):
            digits = interpreter[len(prefix) :]
            if not digits.isdigit() or digits[0] != "3":
                return False
            minor = int(digits[1:] or 0)
            return minor >= MIN_MINOR or (abi == "abi3" and prefix == "cp")
    if interpreter.startswith("py"):
        return interpreter[2:3] == "3"
    return False


def tag_in_scope(tag: Tag) -> bool:
    """True if one wheel tag is kept (see the module docstring)."""
    if tag.platform == "any":
        return True  # pure wheels are always kept
    return platform_in_scope(tag.platform) and interpreter_in_scope(tag.interpreter, tag.abi)


def is_sdist(filename: str) -> bool:
    """True if ``filename`` looks like a source distribution we keep."""
    return filename.endswith(SDIST_SUFFIXES)


def file_in_scope(filename: str) -> bool:
    """True if the database keeps this file (an sdist or an in-scope wheel).

    Eggs, ``.exe``/``.msi`` installers and unparseable wheel names are left out.
    """
    if filename.endswith(".whl"):
        try:
            _, _, _, tags = parse_wheel_filename(filename)
        except InvalidWheelFilename:
            return False
        return any(tag_in_scope(tag) for tag in tags)
    return is_sdist(filename)


@lru_cache(maxsize=1)
def target_environments() -> tuple[dict[str, str], ...]:
    """Marker environments of every supported target (:mod:`mach_nix.platforms`: Python minors x systems)."""
    return tuple(marker_environment(f"3.{minor}.0", system) for minor in PYTHON_MINORS for system in SYSTEMS)


#: Patch levels a target's interpreter is assumed to span: markers and ``Requires-Python``
#: are tried at both ends (``python_full_version >= "3.8.1"`` holds for some 3.8).
_PATCHES = (0, 99)


@cache
def _environments_of(minors: frozenset[int]) -> tuple[dict[str, str], ...]:
    return tuple(
        marker_environment(f"3.{minor}.{patch}", system)
        for minor in sorted(minors)
        for patch in _PATCHES
        for system in SYSTEMS
    )


ALL_MINORS = frozenset(PYTHON_MINORS)


@lru_cache(maxsize=4096)
def python_minors(requires_python: str | None) -> frozenset[int]:
    """The supported Python 3 minors some patch release of which satisfies ``requires_python``.

    An empty or unparseable value admits every minor (a crawl errs on the side of following).
    """
    if not requires_python:
        return ALL_MINORS
    try:
        spec = SpecifierSet(requires_python)
    except InvalidSpecifier:
        return ALL_MINORS
    return frozenset(
        minor
        for minor in PYTHON_MINORS
        if any(spec.contains(Version(f"3.{minor}.{patch}"), prereleases=True) for patch in _PATCHES)
    )


_POSSIBLE: dict[tuple[str, frozenset[str], frozenset[int]], bool] = {}


def _marker_possible(marker: Marker, extras: frozenset[str], minors: frozenset[int] = ALL_MINORS) -> bool:
    key = (str(marker), extras, minors)
    cached = _POSSIBLE.get(key)
    if cached is not None:
        return cached
    result = False
    for env in _environments_of(minors):
        for extra in extras or {""}:
            try:
                if marker.evaluate({**env, "extra": extra}):
                    result = True
            except Exception:  # an unevaluable marker: keep the dependency, be safe
                result = True
            if result:
                break
        if result:
            break
    _POSSIBLE[key] = result
    return result


def dependency_possible(requirement: Requirement, extras: Iterable[str], minors: frozenset[int] = ALL_MINORS) -> bool:
    """True if ``requirement`` applies to some supported target with the given extras.

    Args:
        extras: the extras the requiring project is wanted with (the base
            dependencies, without extra, always count).
        minors: the Python minors the requiring release can run on
            (:func:`python_minors` of its ``Requires-Python``); default all.
    """
    if requirement.marker is None:
        return bool(minors)
    names = frozenset(str(canonicalize_name(e)) for e in extras) | {""}
    return _marker_possible(requirement.marker, names, minors)
