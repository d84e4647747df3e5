"""Argument types for the ``symbl-async`` command line: numbers within bounds."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from symbl_async.core._checks import is_database_url

__all__ = ["bounded", "non_negative_float", "port", "positive_float", "positive_int", "rate"]

N = TypeVar("N", int, float)


def bounded(
    cast: Callable[[str], N],
    what: str,
    *,
    low: N | None = None,
    high: N | None = None,
    above: N | None = None,
) -> Callable[[str], N]:
    """An argparse ``type=`` that parses with ``cast`` and checks the bounds.

    Args:
        cast: ``int`` or ``float``.
        what: the kind of value, for the message (``"a whole number"``).
        low: smallest allowed value; ``high``: largest; ``above``: values must exceed it.
    """

    def parse(text: str) -> N:
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
        if low is not None and value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {text}")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"must be <= {high}, got {text}")
        if above is not None and not value > above:
            raise argparse.ArgumentTypeError(f"must be > {above}, got {text}")
        return value

    return parse


positive_int = bounded(int, "a whole number", low=1)
positive_float = bounded(float, "a number", above=0.0)
non_negative_float = bounded(float, "a number", low=0.0)
port = bounded(int, "a port number", low=0, high=65535)
rate = bounded(float, "a number", low=0.0, high=1.0)


def ledger_arg(text: str) -> Path | str:
    """``--ledger``: a SQLite file, or a ``postgresql://`` URL kept as given."""
    if is_database_url(text):
        return text
    return Path(text)
