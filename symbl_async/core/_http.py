"""Pure protocol logic: decoding answers, mapping statuses to errors, Retry-After.

No I/O here (gidgethub's ``sansio`` habit): everything takes plain values, so it is
tested with plain data.
"""

from __future__ import annotations

import json
import time
from email.utils import parsedate_to_datetime
from typing import Any

from symbl_async.errors import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConcurrencyLimitError,
    NotFoundError,
    RequestInfo,
    ServerError,
)

__all__ = [
    "IDEMPOTENT_METHODS",
    "RETRYABLE_STATUSES",
    "decode_body",
    "error_for_status",
    "error_message",
    "is_submit",
    "parse_retry_after",
]

# Statuses worth another try on a request that is safe to repeat. 429 is here for
# reads only: on a submit it means "every job slot is busy" (REFERENCE.md, Limits)
# and is the caller's to handle (wait for a job to end), not the transport's.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})

_STATUS_ERRORS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    404: NotFoundError,
    429: ConcurrencyLimitError,
}


def is_submit(method: str, path: str) -> bool:
    """True for the ten job-creating calls (POST or PUT under ``/v1/process/``)."""
    return method.upper() in ("POST", "PUT") and path.startswith("/v1/process/")


def decode_body(raw: bytes) -> Any:
    """Decode a JSON answer; an empty body is ``None``, a non-JSON body its text."""
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


def error_message(body: Any, status: int) -> str:
    """The service's own message from an error body, else a short fallback."""
    if isinstance(body, dict):
        for key in ("message", "error", "detail"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value
    if isinstance(body, str) and body.strip():
        return body.strip()[:500]
    return f"HTTP {status} with no message"


def error_for_status(
    status: int,
    body: Any,
    *,
    request: RequestInfo | None = None,
    retry_after: float | None = None,
) -> APIStatusError:
    """The one mapping of an error status to its exception class."""
    cls = _STATUS_ERRORS.get(status)
    if cls is None:
        cls = ServerError if status >= 500 else APIStatusError
    return cls(
        status,
        error_message(body, status),
        request=request,
        body=body,
        retry_after=retry_after,
    )


def parse_retry_after(
    value: str | None, *, now: float | None = None, cap: float = 60.0
) -> float | None:
    """Seconds to wait from a ``Retry-After`` header, in either of its forms.

    Args:
        value: the header: delay-seconds (``"120"``) or an HTTP-date.
        now: the current Unix time (for tests); defaults to ``time.time()``.
        cap: the longest wait we accept; larger values are clamped to it.

    Returns:
        Seconds in ``[0, cap]``, or ``None`` when absent or unparseable.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    seconds: float
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), cap)
