"""setuppy-only: a test project (tests/data/local/README.md)."""

NAME = "setuppy-only"
