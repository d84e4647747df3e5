"""ISO 8601 date-times, parsed the same on every supported Python.

Python 3.10's ``datetime.fromisoformat`` takes neither a ``Z`` suffix nor a
fraction of other than 3 or 6 digits, yet the docs' own examples carry
``2020-07-21T16:04:19.99Z``. :func:`parse_iso` takes any number of fractional
digits (rounded to microseconds), ``Z``/``z``, ``+hh:mm``, ``+hhmm`` or ``+hh``
offsets, a ``T`` or a space between date and time, and a bare date.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

__all__ = ["parse_iso"]

_PATTERN = re.compile(
    r"""
    (?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})
    (?:[Tt ]
        (?P<hour>\d{2}):(?P<minute>\d{2})
        (?::(?P<second>\d{2})(?:[.,](?P<fraction>\d+))?)?
        (?P<zone>[Zz]|[+-]\d{2}(?::?\d{2})?)?
    )?
    """,
    re.VERBOSE,
)


def parse_iso(text: str, *, default_tz: timezone = timezone.utc) -> datetime:
    """Parse an ISO 8601 date or date-time into an aware ``datetime``.

    Args:
        text: e.g. ``2020-07-21T16:04:19.99Z``, ``2021-08-09T18:30:00+05:30``, ``2021-08-09``.
        default_tz: the zone of a value that names none (UTC).

    Raises:
        ValueError: when ``text`` is not such a value (or names an impossible date).
    """
    match = _PATTERN.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"not an ISO 8601 date-time: {text!r}")
    parts = match.groupdict()
    day = date(int(parts["year"]), int(parts["month"]), int(parts["day"]))
    if parts["hour"] is None:
        return datetime(day.year, day.month, day.day, tzinfo=default_tz)
    fraction = parts["fraction"] or "0"
    micros = (
        round(int(fraction) * 10 ** (6 - len(fraction)))
        if len(fraction) <= 6
        else round(int(fraction[:7]) / 10)
    )
    moment = datetime(
        day.year,
        day.month,
        day.day,
        int(parts["hour"]),
        int(parts["minute"]),
        int(parts["second"] or 0),
        tzinfo=_zone(parts["zone"], default_tz),
    )
    return moment + timedelta(microseconds=micros)  # 999999.5 rounds into the next second


def _zone(text: str | None, default_tz: timezone) -> timezone:
    if text is None:
        return default_tz
    if text in ("Z", "z"):
        return timezone.utc
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
    if hours > 23 or minutes > 59:
        raise ValueError(f"not a time zone offset: {text!r}")
    return timezone(sign * timedelta(hours=hours, minutes=minutes))
