"""mach-nix: Python requirements to reproducible Nix-built environments.

The Python side of mach-nix: requirements parsing, the target environment, the
PyPI metadata database and its crawler, providers, the resolver, the lock file
and the command-line interface.
"""

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("mach-nix")
except _metadata.PackageNotFoundError:  # running from a source tree (e.g. a Nix builder)
    __version__ = "4.0.0.dev0"

__all__ = ["__version__"]
