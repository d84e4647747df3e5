"""The query string of ``GET /v1/conversations``, checked against the docs' rules.

Symbl docs, "GET All Conversations":

- ``limit``: 0 to 65536, default 20; ``0`` returns no conversation.
- ``offset``: items to skip first, default 0.
- ``order``: ``asc`` (default) or ``desc``, applied on the conversations' ``startTime``.
- ``startTime``/``endTime``: ISO 8601; ``endTime`` defaults to now and ``startTime`` to
  7 days before ``endTime``, so without them only the last week is listed.
- ``sort``: one or more fields, default ``conversation.startTime``; the direction is
  ``order``'s alone (a ``field,desc`` form is not documented).
- ``filter``: RSQL "without the OR operator" and "not more than 2 parameters": any
  number of comparisons, over at most two different fields.

Decision (the docs are silent): a naive ``datetime`` for ``start_time``/``end_time`` is
refused rather than taken as UTC or local time; either guess would shift the window by
hours without a word. Pass an aware datetime (``datetime.now(timezone.utc)``).
"""

from __future__ import annotations

import datetime as dt
import re

from symbl_async.core._isotime import format_iso
from symbl_async.errors import ValidationError

__all__ = [
    "LIST_LIMIT_MAX",
    "check_list_filter",
    "list_query",
    "rsql_quote",
]

LIST_LIMIT_MAX = 65536
"""The largest ``limit`` (and page size) ``GET /v1/conversations`` accepts."""

MAX_FILTER_FIELDS = 2

_ORDERS = ("asc", "desc")
# selector, then an RSQL comparison operator: ==, !=, =gt= style, or <, <=, >, >=.
_COMPARISON = re.compile(r"([A-Za-z_][\w.]*)\s*(==|!=|=[A-Za-z]+=|<=|>=|<|>)\s*")
_OR_WORD = re.compile(r"\s(or)\s", re.IGNORECASE)


def rsql_quote(value: str) -> str:
    """Quote a value for an RSQL comparison: double quotes, with ``\\`` and ``"`` escaped.

    Args:
        value: any string.

    Returns:
        The quoted value, e.g. ``"it's \\"new\\""``.
    """
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _blank_quotes(text: str) -> str:
    """``text`` with the inside of every quoted value replaced by ``_`` (same length).

    Commas, semicolons and parentheses inside quotes are data, not operators.
    """
    out = []
    quote: str | None = None
    escaped = False
    for char in text:
        if quote is None:
            out.append(char)
            if char in ("'", '"'):
                quote = char
        elif escaped:
            out.append("_")
            escaped = False
        elif char == "\\":
            out.append("_")
            escaped = True
        elif char == quote:
            out.append(char)
            quote = None
        else:
            out.append("_")
    if quote is not None:
        raise ValidationError("filter", "has a quoted value that is never closed")
    return "".join(out)


def _argument_spans(blanked: str) -> list[tuple[int, int]]:
    """Spans of the ``(a,b)`` argument lists of ``=in=``-style comparisons."""
    spans = []
    for match in _COMPARISON.finditer(blanked):
        start = match.end()
        if blanked[start : start + 1] == "(":
            end = blanked.find(")", start)
            if end < 0:
                raise ValidationError("filter", "has an argument list that is never closed")
            spans.append((start, end + 1))
    return spans


def check_list_filter(expression: str) -> frozenset[str]:
    """Check an RSQL filter against the docs' rules for listing conversations.

    Only what the docs forbid is refused (the service knows its own grammar best): an OR
    (``,`` or ``or`` outside quoted values and ``=in=(...)`` lists), more than two
    different fields, or text with no comparison at all.

    Args:
        expression: e.g. ``conversation.name=="Weekly sync";conversation.type==meeting``.

    Returns:
        The fields it compares, without a ``conversation.`` prefix.

    Raises:
        ValidationError: ``filter`` breaks one of those rules.
    """
    blanked = _blank_quotes(expression)
    spans = _argument_spans(blanked)
    outside = "".join(
        "_" if any(start <= i < end for start, end in spans) else char
        for i, char in enumerate(blanked)
    )
    if "," in outside or _OR_WORD.search(outside):
        raise ValidationError(
            "filter",
            "must not use OR (',' or 'or'): the conversation list does not support it; "
            "quote values that contain a comma",
        )
    fields = frozenset(
        match.group(1).removeprefix("conversation.") for match in _COMPARISON.finditer(outside)
    )
    if not fields:
        raise ValidationError("filter", 'must be RSQL, e.g. conversation.name=="Weekly sync"')
    if len(fields) > MAX_FILTER_FIELDS:
        raise ValidationError(
            "filter",
            f"compares {len(fields)} fields ({', '.join(sorted(fields))}); the conversation "
            f"list allows at most {MAX_FILTER_FIELDS} (name= counts as one)",
        )
    return fields


def _text(value: object, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(field, "must be a non-empty string")
    return value


def _count(value: object, field: str, high: int | None) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValidationError(field, "must be an integer")
    if value < 0 or (high is not None and value > high):
        bounds = f"0 to {high}" if high is not None else "at least 0"
        raise ValidationError(field, f"must be {bounds}, got {value}")
    return value


def _moment(value: object, field: str) -> dt.datetime | None:
    if value is None:
        return None
    if not isinstance(value, dt.datetime):
        raise ValidationError(field, "must be a datetime")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(
            field,
            "must be timezone-aware (e.g. datetime.now(timezone.utc)): a naive one is ambiguous",
        )
    return value


def _sort(value: object) -> str | None:
    sort = _text(value, "sort")
    if sort is None:
        return None
    for part in sort.split(","):
        part = part.strip()
        if part.lower() in _ORDERS or part.startswith(("-", "+")):
            raise ValidationError(
                "sort", "names fields only; the direction goes in order='asc'|'desc'"
            )
    return sort


def list_query(
    *,
    name: object = None,
    filter: object = None,
    sort: object = None,
    limit: object = None,
    offset: object = None,
    order: object = None,
    start_time: object = None,
    end_time: object = None,
) -> dict[str, str]:
    """Build the query string of ``GET /v1/conversations``, checking every argument.

    Arguments left ``None`` are not sent, so the service's defaults apply (see the module
    docstring: limit 20, ascending, the last 7 days).

    Args:
        name: only conversations with exactly this name (``conversation.name=="..."``).
        filter: an RSQL filter, joined to ``name`` by ``;`` (and).
        sort: fields to sort on, e.g. ``conversation.name``.
        limit: 0 to 65536.
        offset: at least 0.
        order: ``"asc"`` or ``"desc"``.
        start_time: an aware datetime, sent as ISO 8601 UTC ``startTime``.
        end_time: an aware datetime, sent as ISO 8601 UTC ``endTime``.

    Returns:
        The parameters, as strings.

    Raises:
        ValidationError: an argument of the wrong type or out of range, a filter that
            breaks the docs' rules, or ``start_time`` not before ``end_time``.
    """
    params: dict[str, str] = {}
    clauses = []
    checked_name = _text(name, "name")
    if checked_name is not None:
        clauses.append(f"conversation.name=={rsql_quote(checked_name)}")
    checked_filter = _text(filter, "filter")
    if checked_filter is not None:
        clauses.append(checked_filter.strip())
    if clauses:
        params["filter"] = ";".join(clauses)
        check_list_filter(params["filter"])
    checked_sort = _sort(sort)
    if checked_sort is not None:
        params["sort"] = checked_sort
    for field, value, high in (("limit", limit, LIST_LIMIT_MAX), ("offset", offset, None)):
        count = _count(value, field, high)
        if count is not None:
            params[field] = str(count)
    if order is not None:
        if not isinstance(order, str) or order.lower() not in _ORDERS:
            raise ValidationError("order", "must be 'asc' or 'desc'")
        params["order"] = order.lower()
    start = _moment(start_time, "start_time")
    end = _moment(end_time, "end_time")
    if start is not None and end is not None and start >= end:
        raise ValidationError("start_time", "must be before end_time")
    if start is not None:
        params["startTime"] = format_iso(start)
    if end is not None:
        params["endTime"] = format_iso(end)
    return params
