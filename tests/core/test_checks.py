"""Argument checks on plain values: numbers, ids as path segments, the API root."""

from __future__ import annotations

import math

import pytest

from symbl_async.core._checks import check_base_url, check_number, path_segment
from symbl_async.errors import ValidationError


@pytest.mark.parametrize(
    ("value", "kwargs", "rule"),
    [
        (math.nan, {}, "finite"),
        (math.inf, {}, "finite"),
        (-math.inf, {}, "finite"),
        ("10", {}, "not str"),
        (None, {}, "not NoneType"),
        (True, {}, "not bool"),
        (-1, {}, ">= 0"),
        (0, {"strict": True}, "> 0"),
        (0, {"minimum": 1}, ">= 1"),
        (2, {"maximum": 1}, "<= 1"),
        (1, {"below": 1}, "< 1"),
        (1.5, {"integer": True}, "integer"),
    ],
)
def test_check_number_refuses(value: object, kwargs: dict[str, object], rule: str) -> None:
    with pytest.raises(ValidationError) as info:
        check_number(value, "x", **kwargs)  # type: ignore[arg-type]
    assert info.value.field == "x" and rule in info.value.rule


def test_check_number_accepts() -> None:
    assert check_number(0, "x") == 0.0
    assert check_number(2.5, "x", strict=True, maximum=3) == 2.5
    assert check_number(3, "x", integer=True, minimum=1) == 3.0


@pytest.mark.parametrize(
    ("value", "quoted"),
    [("abc", "abc"), (" 12 ", "12"), ("a/b", "a%2Fb"), ("a b?", "a%20b%3F"), ("...", "...")],
)
def test_path_segment_quotes_one_segment(value: str, quoted: str) -> None:
    assert path_segment(value, "job_id") == quoted


@pytest.mark.parametrize("value", ["", " ", ".", "..", " .. ", None, 5])
def test_path_segment_refuses(value: object) -> None:
    with pytest.raises(ValidationError) as info:
        path_segment(value, "job_id")
    assert info.value.field == "job_id"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://api.symbl.ai", "https://api.symbl.ai"),
        ("https://api.symbl.ai/", "https://api.symbl.ai"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        (" https://gw.test/symbl/ ", "https://gw.test/symbl"),  # a proxy prefix
    ],
)
def test_check_base_url_accepts(url: str, expected: str) -> None:
    assert check_base_url(url) == expected


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("", "non-empty"),
        (None, "non-empty"),
        ("ftp://h.test", "http(s)"),
        ("http://", "http(s)"),
        ("h.test", "http(s)"),
        ("http://u:p@h.test", "credentials"),
        ("http://h.test/v1", "looks wrong"),
        ("http://h.test/V1/", "looks wrong"),
        ("http://h.test/gw/v1", "looks wrong"),
        ("http://h.test/oauth2", "looks wrong"),
        ("http://h.test/v1/job", "looks wrong"),
        ("http://h.test/?a=b", "query"),
        ("http://h.test/#x", "fragment"),
    ],
)
def test_check_base_url_refuses(url: object, rule: str) -> None:
    with pytest.raises(ValidationError) as info:
        check_base_url(url)
    assert info.value.field == "base_url" and rule in info.value.rule
    assert ":p@" not in str(info.value)
