"""The PyPI metadata database: its record types, on-disk format, reader and crawler.

The record types in :mod:`mach_nix.db.model` are the contract between the crawler
(which writes them), the reader (which the resolver uses) and ``mach-nix db info``.
"""
