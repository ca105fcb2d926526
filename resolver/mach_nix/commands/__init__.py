"""Subcommand groups of the ``mach-nix`` CLI, one module each."""

from mach_nix.commands import db, env, resolve, server

#: Modules whose ``register(subparsers)`` adds subcommands, in ``--help`` order.
ALL_COMMAND_MODULES = (resolve, env, db, server)
