"""The resolver server: a background process that keeps the resolver imported and the
databases open, so that ``mach-nix lock``/``resolve`` cost little more than starting Python.

    client.py    where the server's socket is, the wire protocol, and the hand-over that
                 :mod:`mach_nix.entry` runs before every lock/resolve (standard library only)
    daemon.py    the server loop: it runs the ordinary command line for each request
    __main__.py  ``python -m mach_nix.server --idle N``: what ``mach-nix server start`` spawns

The command line (:mod:`mach_nix.commands.server`) reaches the daemon only by
starting this package's ``__main__`` as a process, never by importing it.

This file imports nothing, so that the client stays as light as it is.
"""
