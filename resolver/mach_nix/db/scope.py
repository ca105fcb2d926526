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
from functools import lru_cache

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.tags import Tag
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

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


_POSSIBLE: dict[tuple[str, frozenset[str]], bool] = {}


def _marker_possible(marker: Marker, extras: frozenset[str]) -> bool:
    key = (str(marker), extras)
    cached = _POSSIBLE.get(key)
    if cached is not None:
        return cached
    result = False
    for env in target_environments():
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


def dependency_possible(requirement: Requirement, extras: Iterable[str]) -> bool:
    """True if ``requirement`` applies to some supported target with the given extras."""
    if requirement.marker is None:
        return True
    return _marker_possible(requirement.marker, frozenset(str(canonicalize_name(e)) for e in extras))
