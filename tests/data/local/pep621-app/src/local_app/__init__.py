"""local-app: a test project (tests/data/local/README.md)."""

import six

GREETING = "hello from local-app"


def main() -> None:
    print(GREETING, six.__name__)
