"""mach-nix: Python requirements to reproducible Nix-built environments.

The Python side of mach-nix: requirements parsing, the target environment, the
PyPI metadata database and its crawler, providers, the resolver, the lock file
and the command-line interface.
"""

#: The version of mach-nix (also in the repository's VERSION file, read by the Nix library;
#: a test keeps the two equal). A plain string: reading package metadata at import time
#: would cost every command tens of milliseconds.
__version__ = "4.0.0.dev0"

__all__ = ["__version__"]
