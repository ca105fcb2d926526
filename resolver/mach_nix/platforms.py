"""The targets mach-nix supports: Nix systems and CPython minors, and their marker environments.

The one list of both: the resolver's :class:`~mach_nix.target.Target` checks
user input against it, the crawler's ``--closure`` follows a dependency when its
marker holds on some supported target (:mod:`mach_nix.db.scope`), and the
``--help`` texts are rendered from it. Adding a Python minor or a system is an
edit here (and, for a system, its wheel platform tags in :mod:`mach_nix.db.scope`
and :mod:`mach_nix.target`).
"""

from __future__ import annotations

#: Nix systems, mapped to (``sys_platform``, ``platform_system``, ``platform_machine``).
SYSTEMS: dict[str, tuple[str, str, str]] = {
    "x86_64-linux": ("linux", "Linux", "x86_64"),
    "aarch64-linux": ("linux", "Linux", "aarch64"),
    "x86_64-darwin": ("darwin", "Darwin", "x86_64"),
    "aarch64-darwin": ("darwin", "Darwin", "arm64"),
}

#: CPython 3 minors, each with the patch level assumed when only ``3.x`` is given
#: (a recent release of each series).
DEFAULT_PATCH: dict[int, int] = {8: 20, 9: 23, 10: 18, 11: 13, 12: 11, 13: 7, 14: 0}

#: Python minor versions 3.x the resolver targets (and ``--closure`` considers).
PYTHON_MINORS: tuple[int, ...] = tuple(DEFAULT_PATCH)


def python_range() -> str:
    """``3.8 … 3.14``, for messages and help texts."""
    return f"3.{PYTHON_MINORS[0]} … 3.{PYTHON_MINORS[-1]}"


def marker_environment(python: str, system: str) -> dict[str, str]:
    """The PEP 508 marker environment of CPython ``python`` (``X.Y.Z``) on a Nix ``system``.

    ``platform_release`` and ``platform_version`` are empty: they describe a
    kernel build, which a reproducible environment cannot depend on. There is
    no ``extra`` key (callers add it).
    """
    sys_platform, platform_system, machine = SYSTEMS[system]
    major, minor = python.split(".")[:2]
    return {
        "implementation_name": "cpython",
        "implementation_version": python,
        "os_name": "posix",
        "platform_machine": machine,
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_system": platform_system,
        "platform_version": "",
        "python_full_version": python,
        "python_version": f"{major}.{minor}",
        "sys_platform": sys_platform,
    }
