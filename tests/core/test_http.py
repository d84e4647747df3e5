"""Pure protocol logic, tested with plain data."""

from datetime import datetime, timezone
from email.utils import format_datetime

import pytest

from symbl_async.core._http import (
    decode_body,
    error_for_status,
    error_message,
    is_submit,
    parse_retry_after,
)
from symbl_async.errors import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConcurrencyLimitError,
    NotFoundError,
    RequestInfo,
    ServerError,
)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (404, NotFoundError),
        (429, ConcurrencyLimitError),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
        (504, ServerError),
        (403, APIStatusError),
        (409, APIStatusError),
    ],
)
def test_status_maps_to_its_error_class(status: int, cls: type[APIStatusError]) -> None:
    info = RequestInfo(method="GET", url="https://api.symbl.ai/v1/job/x")
    err = error_for_status(status, {"message": "boom"}, request=info, retry_after=3.0)
    assert type(err) is cls
    assert err.status == status
    assert err.message == "boom"
    assert err.request is info
    assert err.retry_after == 3.0
    assert "boom" in str(err) and "GET https://api.symbl.ai/v1/job/x" in str(err)


def test_429_keeps_the_documented_body() -> None:
    body = {
        "statusCode": 429,
        "message": "This API has a limit of maximum of `2` number of concurrent jobs per account.",
    }
    err = error_for_status(429, body)
    assert isinstance(err, ConcurrencyLimitError)
    assert err.body == body
    assert "maximum of `2`" in err.message


def test_error_message_fallbacks() -> None:
    assert error_message({"message": "Token validation failed"}, 401) == "Token validation failed"
    assert error_message("plain text failure", 500) == "plain text failure"
    assert error_message(None, 503) == "HTTP 503 with no message"
    assert error_message({"other": 1}, 400) == "HTTP 400 with no message"


def test_decode_body() -> None:
    assert decode_body(b"") is None
    assert decode_body(b"  ") is None
    assert decode_body(b'{"a": 1}') == {"a": 1}
    assert decode_body(b"<html>bad gateway</html>") == "<html>bad gateway</html>"


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("POST", "/v1/process/audio", True),
        ("PUT", "/v1/process/text/123", True),
        ("post", "/v1/process/video/url", True),
        ("GET", "/v1/process/audio", False),
        ("POST", "/v1/conversations/1/transcript", False),
        ("PUT", "/v1/conversations/1/members/2", False),
    ],
)
def test_is_submit(method: str, path: str, expected: bool) -> None:
    assert is_submit(method, path) is expected


def test_retry_after_seconds_form() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 0.5 ") == 0.5
    assert parse_retry_after("-4") == 0.0
    assert parse_retry_after("3600", cap=60) == 60.0


def test_retry_after_http_date_form() -> None:
    now = datetime(2026, 11, 20, 12, 0, 0, tzinfo=timezone.utc)
    later = datetime(2026, 11, 20, 12, 0, 30, tzinfo=timezone.utc)
    header = format_datetime(later, usegmt=True)
    assert parse_retry_after(header, now=now.timestamp()) == pytest.approx(30.0)
    past = format_datetime(datetime(2020, 1, 1, tzinfo=timezone.utc), usegmt=True)
    assert parse_retry_after(past, now=now.timestamp()) == 0.0
    far = format_datetime(datetime(2030, 1, 1, tzinfo=timezone.utc), usegmt=True)
    assert parse_retry_after(far, now=now.timestamp(), cap=45) == 45.0


@pytest.mark.parametrize("value", [None, "", "soon", "nan", "Mon, 99 Foo 2020"])
def test_retry_after_unusable(value: str | None) -> None:
    assert parse_retry_after(value) is None
