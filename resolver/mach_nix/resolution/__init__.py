"""Dependency resolution: the user's requirements to one package per name, for a target.

The modules, by role (each imports only those above it in this list)::

    candidates.py    the records: Candidate, Req, ResolvedPackage
    versions.py      a project's versions, newest first, and bisection windows over them
    artifacts.py     Finder: the wheel/sdist/nixpkgs candidates of a name for the target
    dependencies.py  Requires-Dist evaluated for the target, build requirements, root requirements
    preferences.py   which name resolvelib works on next
    agreement.py     versions preferred because another target of the lock chose them
    prefetch.py      what a database that fetches on demand is asked for ahead of the resolver
    explain.py       failures turned into messages a person can act on
    provider.py      ResolvelibProvider: the adapter resolvelib drives
    resolve.py       the entry: resolve_packages, complete_artifacts, resolve (-> Lock)

The word *provider* keeps its user-facing meaning here (``wheel``, ``sdist``,
``nixpkgs``: :mod:`mach_nix.providers`); resolvelib's provider object is the
:class:`~mach_nix.resolution.provider.ResolvelibProvider`, held in variables
named ``resolver_provider``.

This file imports nothing, so that importing one module of the package never
runs the others.
"""
