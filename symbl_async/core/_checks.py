"""Argument checks shared by the client and its configuration: pure, no I/O.

One rule for "a number of seconds" everywhere: a real ``int`` or ``float`` (not a
``bool``, not a string), finite (``nan`` and ``inf`` break every comparison a deadline or
a schedule makes), and above a bound. Each failure is a :class:`ValidationError` naming
the field, so attrs' own ``ValueError`` never reaches a caller.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any, TypeGuard
from urllib.parse import quote, urlsplit

from symbl_async.errors import ValidationError

__all__ = [
    "check_base_url", "check_ledger_url", "check_number", "is_database_url", "number_field",
    "path_segment", "redact_url",
]

# Path segments that belong to the API's own paths: a base_url ending in one of them
# would double it (``/v1/v1/job``) and every call would fail with a misleading 404/401.
_API_SEGMENTS = frozenset({"v1", "oauth2", "process", "job", "conversations"})


def check_number(
    value: object,
    field: str,
    *,
    minimum: float = 0.0,
    strict: bool = False,
    maximum: float | None = None,
    below: float | None = None,
    integer: bool = False,
) -> float:
    """Return ``value`` as a float if it is a finite number in range, else raise.

    Args:
        value: the value to check.
        field: the argument or attribute to blame.
        minimum: the lowest allowed value.
        strict: ``True`` for ``> minimum``, ``False`` for ``>= minimum``.
        maximum: the highest allowed value (inclusive), if any.
        below: a value it must stay under (exclusive), if any.
        integer: only whole ``int`` values are allowed.

    Returns:
        The value, as a float.

    Raises:
        ValidationError: not a number, not finite, or out of range.
    """
    kinds: tuple[type, ...] = (int,) if integer else (int, float)
    what = "an integer" if integer else "a finite number"
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise ValidationError(field, f"must be {what}, not {type(value).__name__}")
    number = float(value) if isinstance(value, (int, float)) else math.nan
    if not math.isfinite(number):
        raise ValidationError(field, f"must be {what}, not {value!r}")
    if number < minimum or (strict and number == minimum):
        relation = ">" if strict else ">="
        raise ValidationError(field, f"must be {relation} {minimum:g}, got {value!r}")
    if maximum is not None and number > maximum:
        raise ValidationError(field, f"must be <= {maximum:g}, got {value!r}")
    if below is not None and number >= below:
        raise ValidationError(field, f"must be < {below:g}, got {value!r}")
    return number


def number_field(
    field: str,
    *,
    minimum: float = 0.0,
    strict: bool = False,
    maximum: float | None = None,
    below: float | None = None,
    integer: bool = False,
    optional: bool = False,
) -> Callable[[Any, Any, Any], None]:
    """An attrs validator running :func:`check_number` (``None`` passes if ``optional``)."""

    def validate(_inst: object, _attr: object, value: object) -> None:
        if optional and value is None:
            return
        check_number(
            value,
            field,
            minimum=minimum,
            strict=strict,
            maximum=maximum,
            below=below,
            integer=integer,
        )

    return validate


def path_segment(value: object, field: str) -> str:
    """Check an id (job, conversation) and quote it as exactly one path segment.

    Quoting leaves ``.`` and ``..`` alone, and URL normalisation would then climb out
    of the path (``get_job("..")`` would become ``GET /v1/``), so they are refused, as
    the Conversation API's ids already are.

    Returns:
        The stripped id, percent-encoded (``/`` included).

    Raises:
        ValidationError: not a string, empty, ``.`` or ``..``.
    """
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(field, "must be a non-empty string")
    value = value.strip()
    if value in (".", ".."):
        raise ValidationError(field, "must not be '.' or '..'")
    return quote(value, safe="")


def check_base_url(value: object, source: str = "base_url") -> str:
    """Check an API root and return it without a trailing ``/``.

    An empty value is refused rather than read as "the real service": pointing at an
    emulator and silently paying Symbl instead is the worse surprise. Credentials in
    the URL are refused (the bearer token is the only authentication, and aiohttp cannot
    send both); a path ending in one of the API's own segments (``/v1``) is refused, as
    every call would then fail with a misleading 404 or "credentials refused". Another
    path (a reverse proxy's prefix) is the caller's to warn about.

    Args:
        value: the URL.
        source: where it came from, for the message (``"$SYMBL_BASE_URL"``).

    Raises:
        ValidationError: naming ``base_url``, with the URL redacted.
    """
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(
            "base_url",
            f"{source} must be a non-empty http(s) URL; leave it unset for the real service",
        )
    url = value.strip()
    if "@" in urlsplit(url).netloc:
        raise ValidationError(
            "base_url",
            f"must not carry credentials ({redact_url(url)}): the client authenticates "
            "with app_id/app_secret or access_token only",
        )
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError("base_url", "must be an absolute http(s) URL with a host")
    if parts.query or parts.fragment:
        raise ValidationError("base_url", "must not have a query string or fragment")
    url = url.rstrip("/")
    segments = [s for s in parts.path.split("/") if s]
    if segments and segments[-1].lower() in _API_SEGMENTS:
        root = f"{parts.scheme}://{parts.netloc}"
        raise ValidationError(
            "base_url",
            f"looks wrong: its path {parts.path!r} repeats the API's own paths; use the "
            f"API root, such as {root!r}",
        )
    return url


_DATABASE_SCHEMES = ("postgresql", "postgres")


def _scheme(value: str) -> str | None:
    head, sep, _ = value.partition("://")
    if not sep or not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", head):
        return None
    return head


def is_database_url(value: object) -> TypeGuard[str]:
    """Whether ``value`` names a PostgreSQL database: ``postgresql://`` or ``postgres://``,
    in any case (as libpq reads them)."""
    if not isinstance(value, str):
        return False
    scheme = _scheme(value)
    return scheme is not None and scheme.lower() in _DATABASE_SCHEMES


def check_ledger_url(value: str, field: str = "ledger") -> str:
    """Check a ``scheme://`` ledger location: a PostgreSQL URL we can hand to the driver.

    Args:
        value: the location as given.
        field: the field named in the error.

    Returns:
        The URL, its scheme lower-cased.

    Raises:
        ValidationError: for another scheme (``mysql://``, ``postgresql+asyncpg://``), or a
            password holding ``/``, ``?`` or ``#`` unencoded (the URL would be cut there and
            the rest taken for the host). The message never shows the password.
    """
    scheme = _scheme(value)
    if scheme is None or scheme.lower() not in _DATABASE_SCHEMES:
        raise ValidationError(
            field, f"{redact_url(value)!r}: only postgresql:// (or postgres://) URLs name a "
            "shared ledger; give a file path for a SQLite ledger"
        )
    rest = value.partition("://")[2]
    userinfo = rest.rpartition("@")[0]
    if any(c in userinfo for c in "/?#"):
        raise ValidationError(
            field, f"{redact_url(value)!r}: the password holds '/', '?' or '#': percent-encode "
            "them (%2F, %3F, %23), or give the password through PGPASSWORD or ~/.pgpass"
        )
    return scheme.lower() + value[len(scheme):]


def redact_url(url: str) -> str:
    """``url`` without secrets, for messages and logs: any ``user:password@`` (or a bare
    ``token@``) becomes ``***@``; a ``password=`` query value ``***``.

    Works on the text as given, whatever the password holds (``/``, ``?``, ``#``, ``@``):
    the credentials run to the last ``@``.
    """
    head, sep, rest = url.partition("://")
    if not sep:
        return url
    if "@" in rest:
        rest = "***@" + rest.rpartition("@")[2]
    rest = re.sub(r"([?&]password=)[^&#]*", r"\1***", rest, flags=re.IGNORECASE)
    return f"{head}{sep}{rest}"
