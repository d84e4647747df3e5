"""Command-line number types."""

import argparse

import pytest

from symbl_async.cli._argtypes import port, positive_float, positive_int, rate


def test_good_values() -> None:
    assert positive_int("3") == 3
    assert positive_float("0.5") == 0.5
    assert port("0") == 0 and port("65535") == 65535
    assert rate("0") == 0.0 and rate("1") == 1.0


@pytest.mark.parametrize(
    ("parse", "text", "message"),
    [
        (positive_int, "0", ">= 1"),
        (positive_int, "2.5", "not a whole number"),
        (positive_float, "0", "> 0.0"),
        (positive_float, "inf", "finite"),
        (positive_float, "nan", "finite"),
        (positive_float, "fast", "not a number"),
        (port, "70000", "<= 65535"),
        (port, "-1", ">= 0"),
        (rate, "1.5", "<= 1.0"),
    ],
)
def test_bad_values_name_the_rule(parse, text: str, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        parse(text)
