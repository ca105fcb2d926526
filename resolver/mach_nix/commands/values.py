"""argparse value types of the commands' numeric options: each value is checked where it is
parsed, so that ``--concurrency 0`` or ``--idle nan`` is a one-line usage error (exit code 2)
naming the option, never a traceback or a hang later on.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def integer(low: int, high: int) -> Callable[[str], int]:
    """An argparse ``type``: an integer from ``low`` to ``high``."""

    def parse(text: str) -> int:
        try:
            value = int(text.strip(), 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number from {low} to {high}, not {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected a whole number from {low} to {high}, not {text!r}")
        return value

    return parse


def seconds(low: float, high: float) -> Callable[[str], float]:
    """An argparse ``type``: a finite number of seconds, more than ``low`` and at most ``high``."""

    def parse(text: str) -> float:
        try:
            value = float(text.strip())
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and low < value <= high):
            expected = f"expected seconds, more than {low:g} and at most {high:.0f}"
            raise argparse.ArgumentTypeError(f"{expected}, not {text!r}")
        return value

    return parse
