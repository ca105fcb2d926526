"""The PyPI metadata database: its record types, on-disk format, reader and crawler.

The record types in :mod:`mach_nix.db.model` are the contract between the crawler
(which writes them), the reader (which the resolver uses) and ``mach-nix db info``.
:mod:`mach_nix.db.store` lists the modules of the format and re-exports their
entry points. The crawler is :mod:`mach_nix.db.crawl`, with :mod:`~mach_nix.db.scope`
(what is kept), :mod:`~mach_nix.db.extract` and :mod:`~mach_nix.db.pep517` (metadata
of one file) and :mod:`~mach_nix.db.http` (the HTTP client).

This file imports nothing.
"""
