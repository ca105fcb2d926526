"""setupcfg-lib: a test project (tests/data/local/README.md)."""

VALUE = 42
