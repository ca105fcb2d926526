"""Subcommand groups of the ``mach-nix`` CLI, one module each (listed in :mod:`mach_nix.cli`).

Each exposes ``register(subparsers)``. This file imports nothing.
"""
