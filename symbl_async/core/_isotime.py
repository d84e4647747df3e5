"""ISO 8601 date-times, read and written the same way on every supported Python.

Python 3.10's ``datetime.fromisoformat`` takes neither a ``Z`` suffix nor a fraction of
other than 3 or 6 digits, yet the docs' own examples carry ``2020-07-21T16:04:19.99Z``
(Symbl docs, "POST Text API"). :func:`parse_iso` does not use it: one regular expression
takes any number of fractional digits (cut to microseconds), ``Z``/``z``, ``+hh:mm``,
``+hhmm`` or ``+hh`` offsets, ``T``, ``t`` or a space between date and time, and a bare
date. :func:`format_iso` writes the form the API sends: UTC with ``Z``.
"""

from __future__ import annotations

import datetime as dt
import re

__all__ = ["format_iso", "parse_iso"]

_PATTERN = re.compile(
    r"""
    (?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})
    (?:[Tt\ ]
        (?P<hour>\d{2}):(?P<minute>\d{2})
        (?::(?P<second>\d{2})(?:[.,](?P<fraction>\d+))?)?
        (?P<zone>[Zz]|[+-]\d{2}(?::?\d{2})?)?
    )?
    """,
    re.VERBOSE,
)


def parse_iso(text: str, *, default_tz: dt.tzinfo = dt.timezone.utc) -> dt.datetime:
    """Parse an ISO 8601 date or date-time into an aware ``datetime``.

    Args:
        text: e.g. ``2020-07-21T16:04:19.99Z``, ``2021-08-09T18:30:00+05:30``,
            ``2020-06-21 16:00:00`` or ``2021-08-09`` (midnight).
        default_tz: the zone of a value that names none (UTC: the API's times are UTC).

    Returns:
        An aware datetime, in the zone the text names (or ``default_tz``).

    Raises:
        ValueError: when ``text`` is not such a value, or names an impossible date, time
            or offset.
    """
    match = _PATTERN.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"not an ISO 8601 date-time: {text!r}")
    parts = match.groupdict()
    year, month, day = int(parts["year"]), int(parts["month"]), int(parts["day"])
    if parts["hour"] is None:
        return dt.datetime(year, month, day, tzinfo=default_tz)
    # Digits past the microsecond are cut, not rounded: rounding could carry into the
    # next second and reorder two stamps that the service wrote in order.
    micros = int((parts["fraction"] or "0")[:6].ljust(6, "0"))
    return dt.datetime(
        year,
        month,
        day,
        int(parts["hour"]),
        int(parts["minute"]),
        int(parts["second"] or 0),
        micros,
        tzinfo=_zone(parts["zone"], default_tz),
    )


def _zone(text: str | None, default_tz: dt.tzinfo) -> dt.tzinfo:
    if text is None:
        return default_tz
    if text in ("Z", "z"):
        return dt.timezone.utc
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
    if hours > 23 or minutes > 59:
        raise ValueError(f"not a time zone offset: {text!r}")
    return dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes))


def format_iso(value: dt.datetime) -> str:
    """Write an aware datetime as ISO 8601 UTC with ``Z``, with as many fraction digits as needed.

    Args:
        value: an aware datetime (a naive one is refused: its zone would be a guess).

    Returns:
        e.g. ``2021-08-09T18:30:00Z``, ``2021-08-09T18:30:00.250Z``.

    Raises:
        ValueError: if ``value`` is naive.
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"a naive datetime has no zone: {value.isoformat()}")
    value = value.astimezone(dt.timezone.utc)
    if value.microsecond == 0:
        timespec = "seconds"
    elif value.microsecond % 1000 == 0:
        timespec = "milliseconds"
    else:
        timespec = "microseconds"
    return value.replace(tzinfo=None).isoformat(timespec=timespec) + "Z"
