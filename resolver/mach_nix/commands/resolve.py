"""Subcommands: resolve (placeholder until its issue lands)."""

from __future__ import annotations


def register(subparsers) -> None:
    """Add this module's subcommands to the CLI (none yet)."""
