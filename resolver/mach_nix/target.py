"""The *target* of a resolution: the interpreter and system the environment is for.

Everything that depends on where the packages will run — PEP 508 markers,
``Requires-Python`` and wheel tags — is computed from a :class:`Target`, never
from the machine running the resolver (which, inside a Nix builder, is often a
different Python on a different system).

Defaults (documented in ``docs/lock-format.md``):

* glibc baseline for ``manylinux`` wheels: :data:`DEFAULT_GLIBC` (today's nixpkgs);
* macOS deployment target: 11.0 on ``aarch64-darwin``, 10.12 on ``x86_64-darwin``;
* a Python given as ``3.11`` gets the patch level from
  :data:`mach_nix.platforms.DEFAULT_PATCH`.

The supported systems and Python minors are those of :mod:`mach_nix.platforms`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from packaging import tags as _tags
from packaging.version import Version

from mach_nix.errors import UsageError
from mach_nix.platforms import DEFAULT_PATCH, PYTHON_MINORS, SYSTEMS, marker_environment

#: glibc of today's nixpkgs (manylinux_2_X wheels with X above it are rejected).
DEFAULT_GLIBC = "2.40"

#: Default macOS deployment targets (nixpkgs' SDK defaults) per system.
DEFAULT_MACOS: dict[str, str] = {"aarch64-darwin": "11.0", "x86_64-darwin": "10.12"}

#: The oldest glibc minor with a manylinux tag, per architecture.
_MANYLINUX_FLOOR = {"x86_64": 5, "aarch64": 17}
#: Legacy manylinux aliases (PEP 513/571/599), by glibc minor.
_LEGACY_MANYLINUX = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}


def _parse_two(text: str, what: str, example: str) -> tuple[int, int]:
    """Parse ``"X.Y"`` or raise :class:`UsageError`.

    At most two ASCII digits each: far above any real glibc or macOS version, and a bound on
    the wheel tags a target enumerates (one per glibc or macOS version up to it).
    """
    match = re.fullmatch(r"([0-9]{1,2})\.([0-9]{1,2})", text.strip())
    if match is None:
        raise UsageError(f"invalid {what} {text!r}: expected MAJOR.MINOR, e.g. {example}")
    return int(match.group(1)), int(match.group(2))


#: A CPython version as a target: ``3.MINOR``, ``3.MINOR.PATCH``, or a pre-release ``3.MINOR.PATCHrcN``.
_PYTHON_VERSION = re.compile(r"3\.([0-9]{1,2})(?:\.([0-9]{1,2})((?:a|b|rc)[0-9]{1,2})?)?")


def parse_python_version(text: str) -> str:
    """Return the full ``X.Y.Z`` version for ``text`` (``3.11``, ``3.11.7`` or ``3.13.0rc1``).

    Raises:
        UsageError: not a CPython 3 version mach-nix can target.
    """
    match = _PYTHON_VERSION.fullmatch(text.strip())
    if match is None:
        if re.fullmatch(r"[0-9]+(\.[0-9]+)*", text.strip()) and not text.strip().startswith("3."):
            known = ", ".join(f"3.{m}" for m in PYTHON_MINORS)
            raise UsageError(f"unsupported Python version {text!r}: mach-nix targets {known}")
        raise UsageError(f"invalid Python version {text!r}: expected e.g. 3.11 or 3.11.7")
    minor = int(match.group(1))
    if minor not in PYTHON_MINORS:
        known = ", ".join(f"3.{m}" for m in PYTHON_MINORS)
        raise UsageError(f"unsupported Python version {text!r}: mach-nix targets {known}")
    patch = int(match.group(2)) if match.group(2) is not None else DEFAULT_PATCH[minor]
    return f"3.{minor}.{patch}{match.group(3) or ''}"


#: Targets made by :meth:`Target.create`, by value.
_INTERNED: dict = {}


@dataclass(frozen=True)
class Target:
    """Interpreter and system an environment is resolved for.

    Attributes:
        python: full Python version, e.g. ``"3.11.7"`` (see :func:`parse_python_version`).
        system: Nix system, one of :data:`SYSTEMS`.
        implementation: ``"cpython"`` (the only one supported).
        glibc: glibc baseline ``"2.X"`` for manylinux wheels (Linux only).
        macos: macOS deployment target ``"X.Y"`` (Darwin only).
    """

    python: str = "3.11.13"
    system: str = "x86_64-linux"
    implementation: str = "cpython"
    glibc: str | None = None
    macos: str | None = None

    @classmethod
    def create(
        cls,
        python: str = "3.11",
        system: str = "x86_64-linux",
        implementation: str = "cpython",
        glibc: str | None = None,
        macos: str | None = None,
    ) -> Target:
        """Validate user input and fill in the defaults for ``system``.

        Raises:
            UsageError: unknown system, implementation or malformed versions.
        """
        if system not in SYSTEMS:
            raise UsageError(f"unsupported system {system!r}: choose one of {', '.join(SYSTEMS)}")
        if implementation.lower() != "cpython":
            raise UsageError(f"unsupported implementation {implementation!r}: only cpython is supported")
        full = parse_python_version(python)
        is_linux = system.endswith("-linux")
        if is_linux:
            if macos is not None:
                raise UsageError("--macos-target only applies to *-darwin systems")
            glibc = glibc or DEFAULT_GLIBC
            major, minor = _parse_two(glibc, "glibc version", "2.40")
            if major != 2:
                raise UsageError(f"invalid glibc version {glibc!r}: expected 2.X, e.g. 2.40")
            glibc = f"2.{minor}"
        else:
            if glibc is not None:
                raise UsageError("--glibc only applies to *-linux systems")
            macos = macos or DEFAULT_MACOS[system]
            major, minor = _parse_two(macos, "macOS deployment target", "11.0")
            if major < 10:
                raise UsageError(f"invalid macOS deployment target {macos!r}: expected 10.X or later, e.g. 11.0")
            macos = f"{major}.{minor}"
        target = cls(python=full, system=system, implementation="cpython", glibc=glibc, macos=macos)
        # One object per distinct target, so that its derived values (tags,
        # marker environment) are computed once per process.
        return _INTERNED.setdefault(target, target)

    # -- derived values ----------------------------------------------------

    @cached_property
    def python_version(self) -> Version:
        """The full Python version as a :class:`~packaging.version.Version`."""
        return Version(self.python)

    @property
    def minor(self) -> tuple[int, int]:
        """``(3, minor)``."""
        release = self.python_version.release
        return release[0], release[1]

    def to_json(self) -> dict[str, str | None]:
        """The target as recorded in the lock file."""
        return {
            "python": self.python,
            "implementation": self.implementation,
            "system": self.system,
            "glibc": self.glibc,
            "macos": self.macos,
        }

    @cached_property
    def marker_environment(self) -> dict[str, str]:
        """The complete PEP 508 marker environment of the target.

        ``platform_release`` and ``platform_version`` are empty: they describe a
        kernel build, which a reproducible environment cannot depend on.
        """
        return {**marker_environment(self.python, self.system), "extra": ""}

    @cached_property
    def platforms(self) -> list[str]:
        """Platform tags the target accepts, best first (no ``linux_*`` tags)."""
        _sys_platform, _system, machine = SYSTEMS[self.system]
        if self.system.endswith("-linux"):
            assert self.glibc is not None
            top = int(self.glibc.split(".")[1])
            result = []
            for glibc_minor in range(top, _MANYLINUX_FLOOR[machine] - 1, -1):
                result.append(f"manylinux_2_{glibc_minor}_{machine}")
                legacy = _LEGACY_MANYLINUX.get(glibc_minor)
                if legacy is not None:
                    result.append(f"{legacy}_{machine}")
            return result
        assert self.macos is not None
        major, minor = _parse_two(self.macos, "macOS deployment target", "11.0")
        return list(_tags.mac_platforms((major, minor), machine))

    @cached_property
    def tag_ranks(self) -> dict[_tags.Tag, int]:
        """Every wheel tag the target accepts, mapped to its rank (0 = best)."""
        major, minor = self.minor
        version = (major, minor)
        ranked = list(_tags.cpython_tags(version, [f"cp{major}{minor}"], self.platforms))
        ranked += list(_tags.compatible_tags(version, f"cp{major}{minor}", self.platforms))
        ranks: dict[_tags.Tag, int] = {}
        for tag in ranked:
            ranks.setdefault(tag, len(ranks))
        return ranks

    def wheel_rank(self, wheel_tags: frozenset[_tags.Tag]) -> int | None:
        """Rank of the best tag of a wheel for this target, or ``None`` if incompatible."""
        ranks = self.tag_ranks
        best: int | None = None
        for tag in wheel_tags:
            rank = ranks.get(tag)
            if rank is not None and (best is None or rank < best):
                best = rank
        return best

    def describe(self) -> str:
        """A short human description, e.g. ``CPython 3.11.7 on x86_64-linux (glibc 2.40)``."""
        extra = f"glibc {self.glibc}" if self.glibc else f"macOS {self.macos}"
        return f"CPython {self.python} on {self.system} ({extra})"
