"""core._isotime: ISO 8601 on every supported Python, on plain strings."""

from __future__ import annotations

import datetime as dt

import pytest

from symbl_async.core import format_iso, parse_iso

UTC = dt.timezone.utc


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # The docs' own example: 2 fractional digits, which 3.10's fromisoformat refuses.
        ("2020-07-21T16:04:19.99Z", dt.datetime(2020, 7, 21, 16, 4, 19, 990000, tzinfo=UTC)),
        ("2020-07-21T16:04:19.9Z", dt.datetime(2020, 7, 21, 16, 4, 19, 900000, tzinfo=UTC)),
        ("2020-07-21T16:04:19.1234Z", dt.datetime(2020, 7, 21, 16, 4, 19, 123400, tzinfo=UTC)),
        ("2020-07-21T16:04:19.12345678Z", dt.datetime(2020, 7, 21, 16, 4, 19, 123456, tzinfo=UTC)),
        ("2020-07-21T16:04:19,5z", dt.datetime(2020, 7, 21, 16, 4, 19, 500000, tzinfo=UTC)),
        ("2020-07-21T16:04:19Z", dt.datetime(2020, 7, 21, 16, 4, 19, tzinfo=UTC)),
        ("2020-07-21T16:04Z", dt.datetime(2020, 7, 21, 16, 4, tzinfo=UTC)),
        ("2020-07-21t16:04:19", dt.datetime(2020, 7, 21, 16, 4, 19, tzinfo=UTC)),
        # The follow-up example's datetimerange entity: a space, no zone.
        ("2020-06-21 16:00:00", dt.datetime(2020, 6, 21, 16, 0, tzinfo=UTC)),
        ("2021-08-09", dt.datetime(2021, 8, 9, tzinfo=UTC)),
        (" 2021-08-09T18:30:00.000Z ", dt.datetime(2021, 8, 9, 18, 30, tzinfo=UTC)),
    ],
)
def test_parse_iso_takes_every_form_the_api_writes(text: str, expected: dt.datetime) -> None:
    parsed = parse_iso(text)

    assert parsed == expected
    assert parsed.utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize(
    ("text", "offset"),
    [
        ("2021-08-09T18:30:00+05:30", dt.timedelta(hours=5, minutes=30)),
        ("2021-08-09T18:30:00+0530", dt.timedelta(hours=5, minutes=30)),
        ("2021-08-09T18:30:00-07", dt.timedelta(hours=-7)),
        ("2021-08-09T18:30:00.5-03:30", dt.timedelta(hours=-3, minutes=-30)),
    ],
)
def test_parse_iso_keeps_the_offset_it_reads(text: str, offset: dt.timedelta) -> None:
    parsed = parse_iso(text)

    assert parsed.utcoffset() == offset
    assert parsed.replace(tzinfo=None).hour == 18


def test_parse_iso_uses_the_default_zone_only_when_none_is_named() -> None:
    tz = dt.timezone(dt.timedelta(hours=2))

    assert parse_iso("2021-08-09T18:30:00", default_tz=tz).utcoffset() == dt.timedelta(hours=2)
    assert parse_iso("2021-08-09T18:30:00Z", default_tz=tz).utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "yesterday",
        "2021-13-01T00:00:00Z",
        "2021-02-30",
        "2021-08-09T25:00:00Z",
        "2021-08-09T18:30:00+24:00",
        "2021-08-09T18:30:00ZZ",
        "2021-08-09T18:30:00.Z",
        "20210809T183000Z",
        "12:00:00",
    ],
)
def test_parse_iso_refuses_what_is_not_iso(text: str) -> None:
    with pytest.raises(ValueError, match=r"ISO 8601|out of range|must be in|offset"):
        parse_iso(text)


def test_parse_iso_refuses_non_strings() -> None:
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_iso(1594379781)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (dt.datetime(2021, 8, 9, 18, 30, tzinfo=UTC), "2021-08-09T18:30:00Z"),
        (dt.datetime(2021, 8, 9, 18, 30, 0, 250000, tzinfo=UTC), "2021-08-09T18:30:00.250Z"),
        (dt.datetime(2021, 8, 9, 18, 30, 0, 7, tzinfo=UTC), "2021-08-09T18:30:00.000007Z"),
        (
            dt.datetime(2021, 8, 10, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))),
            "2021-08-09T18:30:00Z",
        ),
    ],
)
def test_format_iso_writes_utc_with_z(value: dt.datetime, expected: str) -> None:
    assert format_iso(value) == expected
    assert parse_iso(format_iso(value)) == value


def test_format_iso_refuses_a_naive_datetime() -> None:
    with pytest.raises(ValueError, match="naive"):
        format_iso(dt.datetime(2021, 8, 9, 18, 30))
