"""Provider preferences: where each package may come from, in which order.

A provider is one of :data:`PROVIDERS`:

``wheel``
    a binary wheel from PyPI compatible with the target (ranked by ``packaging.tags``);
``sdist``
    a source distribution from PyPI, built by Nix;
``nixpkgs``
    the recipe nixpkgs already has (only the versions in the nixpkgs inventory).

The user gives a global order (``_default``) and per-package orders, e.g.
``_default=wheel,sdist,nixpkgs`` and ``numba=wheel``. The candidates of a package
are tried provider by provider, newest version first within a provider (the
original mach-nix semantics: with ``wheel,sdist`` every wheel version is
tried before any sdist).

Unlike the original (mach-nix issue #423), mach-nix has **no built-in
per-package orders**: a user's ``_default`` governs every package the user did
not name explicitly.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from packaging.utils import canonicalize_name

from mach_nix.errors import UsageError

#: Known providers.
PROVIDERS: tuple[str, ...] = ("wheel", "sdist", "nixpkgs")

#: The default global order when the user gives no ``_default``.
DEFAULT_ORDER: tuple[str, ...] = ("wheel", "sdist", "nixpkgs")

#: Key of the global order.
DEFAULT_KEY = "_default"

#: A valid project name (PEP 508, ASCII only).
_PROJECT_NAME = re.compile(r"[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9]")


def parse_order(value: str | Iterable[str], key: str = DEFAULT_KEY) -> tuple[str, ...]:
    """Parse ``"wheel,sdist"`` (or a list) into a tuple of providers.

    Raises:
        UsageError: empty, unknown or repeated provider names.
    """
    items = value.split(",") if isinstance(value, str) else list(value)
    order: list[str] = []
    for item in items:
        provider = item.strip().lower()
        if not provider:
            continue
        if provider not in PROVIDERS:
            hint = " (conda is not supported by this mach-nix)" if provider.startswith("conda") else ""
            shown = item.strip() if len(item.strip()) <= 100 else item.strip()[:100] + "…"
            raise UsageError(f"unknown provider {shown!r} for {key}: choose from {', '.join(PROVIDERS)}{hint}")
        if provider in order:
            raise UsageError(f"provider {provider!r} given twice for {key}")
        order.append(provider)
    if not order:
        raise UsageError(f"empty provider list for {key}")
    return tuple(order)


@dataclass(frozen=True)
class ProviderConfig:
    """The global order and the per-package orders (keys normalised).

    Attributes:
        default: the order for every package without its own entry.
        per_package: normalised name -> order.
    """

    default: tuple[str, ...] = DEFAULT_ORDER
    per_package: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, str | Iterable[str]]) -> ProviderConfig:
        """Build from ``{"_default": "wheel,sdist", "numpy": "nixpkgs"}`` (Nix ``providers`` style).

        Package keys may use any spelling (``Pillow``, ``ruamel_yaml``); two keys
        that normalise to the same name are an error.
        """
        default = DEFAULT_ORDER
        per_package: dict[str, tuple[str, ...]] = {}
        for key, value in mapping.items():
            if key == DEFAULT_KEY:
                default = parse_order(value, key)
                continue
            if not _PROJECT_NAME.fullmatch(key):
                shown = repr(key) if len(key) <= 100 else f"{key[:100]!r}…"
                raise UsageError(
                    f"invalid package name {shown} in provider settings: expected a PyPI project name "
                    f"(letters, digits, '.', '-', '_') or {DEFAULT_KEY}"
                )
            name = canonicalize_name(key)
            if name in per_package:
                raise UsageError(f"provider order for {name!r} given twice")
            per_package[name] = parse_order(value, key)
        return cls(default=default, per_package=dict(sorted(per_package.items())))

    @classmethod
    def from_options(cls, options: Iterable[str]) -> ProviderConfig:
        """Build from CLI options like ``_default=wheel,sdist`` and ``numba=wheel``.

        Raises:
            UsageError: an option without ``=`` or with a bad provider.
        """
        mapping: dict[str, str] = {}
        for option in options:
            key, sep, value = option.partition("=")
            if not sep or not key.strip():
                raise UsageError(f"invalid --provider {option!r}: expected NAME=PROVIDER[,PROVIDER…]")
            key = key.strip()
            if key in mapping:
                raise UsageError(f"--provider {key} given twice")
            mapping[key] = value
        return cls.from_mapping(mapping)

    def order_for(self, name: str) -> tuple[str, ...]:
        """The provider order for the (normalised) package ``name``."""
        return self.per_package.get(name, self.default)

    def to_json(self) -> dict[str, list[str]]:
        """The configuration as a JSON object (for the inputs hash)."""
        result = {DEFAULT_KEY: list(self.default)}
        result.update({name: list(order) for name, order in self.per_package.items()})
        return result
