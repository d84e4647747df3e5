"""Pure protocol logic: what an answer means and whether to send the request again.

No I/O here (gidgethub's ``sansio`` habit): everything takes plain values, so it is
tested with plain data. The transport sends a request, describes what happened as an
:class:`Answer` (status, headers, body) or a :class:`Failure` (a connection error, and
whether the body may have been sent), and :func:`decide` tells it what to do:
:class:`Done` (return the data), :class:`Fail` (raise this error), :class:`Retry` (send
again after the policy's wait, or raise the error when the retry budget is spent) or
:class:`Refresh` (a 401: get a new token and send once more).

The rules (Symbl docs, "Error Codes"; what they leave open, and our decisions, in
``docs/service-notes.md``, "Submit outcomes"):

* A request that is safe to repeat (GET, HEAD, PUT and DELETE outside ``/v1/process``,
  the token request) is retried on connection errors and 429/500/502/503/504.
* A submit (POST or PUT under ``/v1/process/``) creates a billed job and carries no
  idempotency key. Its job was **not created** only when the service said so: the
  connection never opened, a 4xx (400, 401, 403, 404, 413, 429, ...: the service
  refused the request), a 3xx (not handled at this URL) or a 503 (HTTP: not handled,
  so it is resent with backoff, bounded). Everything else after the body may have been
  sent is **unknown** (:class:`SubmitOutcomeUnknownError`): 500, 502, 504 and other 5xx,
  a 2xx without a ``jobId``, a timeout, a reset. The docs never say a 500 created
  nothing, so it is not retried and not reported as a plain failure.
* A submit cut off (reset, stall, timeout) before its last byte was handed to the
  connection was **not created** either (the service needs all ``Content-Length`` bytes):
  it is resent like one that never connected. Only a failure after the last byte is unknown.
* Other requests that are not safe to repeat (a POST such as ``.../transcript``) are
  resent only when nothing was sent or the answer was a 503.
* A 401 leads to one token refresh and one resend, never a loop: the service did not
  act on the request, so even a submit may be sent again.
* A 404 on a DELETE that is not the first attempt means the earlier attempt, whose
  answer was lost, deleted it: the wanted end state is reached, so it is a success.
* Redirects are never followed (a submit must not be replayed to another host): a 3xx
  is an error that names the target, which usually means ``base_url`` is wrong.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any, Union
from urllib.parse import urlsplit

import attrs

from symbl_async.core import _json
from symbl_async.core._checks import redact_url
from symbl_async.errors import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConcurrencyLimitError,
    NotFoundError,
    RequestInfo,
    ServerError,
    SubmitOutcomeUnknownError,
    SymblConnectionError,
    SymblError,
    SymblTimeoutError,
)

__all__ = [
    "IDEMPOTENT_METHODS",
    "RETRYABLE_STATUSES",
    "TOKEN_PATH",
    "Answer",
    "Call",
    "Decision",
    "Done",
    "Fail",
    "Failure",
    "FailureKind",
    "Refresh",
    "Retry",
    "decide",
    "decode_body",
    "error_for_status",
    "error_message",
    "is_submit",
    "parse_retry_after",
    "redact_url",
]

TOKEN_PATH = "/oauth2/token:generate"

# Statuses worth another try on a request that is safe to repeat. 429 is here for
# reads only: on a submit it means "every job slot is busy" (Symbl docs, "Error Codes")
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
        return _json.loads(raw)
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


class FailureKind(enum.Enum):
    """How a request failed without an answer."""

    NOT_CONNECTED = "not_connected"
    """The connection never opened: nothing was sent, so a resend is always safe."""
    TIMEOUT = "timeout"
    """No answer in time, after the body may have been sent."""
    BROKEN = "broken"
    """Reset, disconnect or a truncated answer, after the body may have been sent."""


@attrs.frozen(kw_only=True)
class Answer:
    """What the service answered: status, headers and the raw body."""

    status: int
    headers: Mapping[str, str] = attrs.field(factory=dict)
    body: bytes = b""


@attrs.frozen(kw_only=True)
class Failure:
    """A request that got no answer.

    Attributes:
        kind: when it failed (before or after the body may have been sent).
        detail: what the I/O layer said, for the message.
        cause: the I/O layer's exception, chained as the error's ``__cause__``.
        sent: bytes of the body handed to the connection (``None``: not counted).
        size: the body's ``Content-Length``, when ``sent`` is counted.
    """

    kind: FailureKind
    detail: str = ""
    cause: BaseException | None = attrs.field(default=None, eq=False)
    sent: int | None = None
    size: int | None = None


@attrs.frozen(kw_only=True)
class Call:
    """One logical request, as the rules need to see it.

    Attributes:
        method: the HTTP method, upper case.
        path: the path under the base URL.
        url: the full URL for messages (already redacted).
        idempotent: whether repeating it is safe; ``None`` derives it from the method.
        name: a submit's ``name``, carried by :class:`SubmitOutcomeUnknownError`.
        conversation_id: an append's conversation, carried by the same error.
    """

    method: str
    path: str
    url: str
    idempotent: bool | None = None
    name: str | None = None
    conversation_id: str | None = None

    @property
    def submit(self) -> bool:
        """Whether this call creates a billed job."""
        return is_submit(self.method, self.path)

    @property
    def safe(self) -> bool:
        """Whether it may be repeated after its body may have reached the service."""
        if self.submit:
            return False
        return self.method in IDEMPOTENT_METHODS if self.idempotent is None else self.idempotent

    @property
    def info(self) -> RequestInfo:
        return RequestInfo(method=self.method, url=self.url, name=self.name)


@attrs.frozen
class Done:
    """Return ``data`` (the decoded body) to the caller."""

    data: Any


@attrs.frozen
class Fail:
    """Raise ``error``; nothing more is sent."""

    error: SymblError


@attrs.frozen
class Retry:
    """Send again after a wait, if the retry budget allows; else raise ``error``.

    Attributes:
        error: what to raise when no attempt is left.
        retry_after: the wait the service asked for, when it said (already clamped).
    """

    error: SymblError
    retry_after: float | None = None


@attrs.frozen
class Refresh:
    """A 401: get a new token and send once more, or raise ``error`` if that cannot be."""

    error: APIStatusError


Decision = Union[Done, Fail, Retry, Refresh]  # noqa: UP007 (a runtime alias on 3.10)


def decide(
    call: Call,
    outcome: Answer | Failure,
    *,
    attempt: int = 1,
    refreshed: bool = False,
    retry_after_cap: float = 60.0,
    now: float | None = None,
) -> Decision:
    """What to do after one attempt of ``call`` (the rules are in the module docstring).

    Args:
        call: the request.
        outcome: the answer, or how the request failed without one.
        attempt: 1 for the first send, 2 for the first retry, ...
        refreshed: whether the token was already refreshed once for this call.
        retry_after_cap: the longest wait a ``Retry-After`` header may impose.
        now: the current Unix time, for ``Retry-After`` dates (tests).

    Returns:
        :class:`Done`, :class:`Fail`, :class:`Retry` or :class:`Refresh`.
    """
    if isinstance(outcome, Failure):
        return _decide_failure(call, outcome)
    status = outcome.status
    body = decode_body(outcome.body)
    if 200 <= status < 300:
        if call.submit and not (isinstance(body, Mapping) and body.get("jobId")):
            # Accepted, maybe: a job may exist that we cannot name by id.
            return Fail(_unknown(call, f"the answer (HTTP {status}) has no jobId: {body!r:.200}"))
        return Done(body)
    if 300 <= status < 400:
        return Fail(_redirect_error(call, outcome))
    retry_after = parse_retry_after(
        _header(outcome.headers, "Retry-After"), now=now, cap=retry_after_cap
    )
    error = error_for_status(status, body, request=call.info, retry_after=retry_after)
    if status == 404 and call.path == TOKEN_PATH:
        error = error_for_status(
            status,
            f"{error.message} (no token endpoint at {call.url}: the base URL should be the "
            "API root, such as https://api.symbl.ai, with no path)",
            request=call.info,
        )
    if status == 401:
        return Fail(error) if refreshed else Refresh(error)
    if status == 404 and call.method == "DELETE" and attempt > 1:
        # An earlier attempt's answer was lost; it may well have done the delete.
        return Done(None)
    if status == 503 or (call.safe and status in RETRYABLE_STATUSES):
        return Retry(error, retry_after)
    if call.submit and status >= 500:
        return Fail(_unknown(call, f"the service answered {status}", cause=error))
    return Fail(error)


def _decide_failure(call: Call, failure: Failure) -> Decision:
    detail = failure.detail or "no detail"
    error: SymblConnectionError
    # Cut off before the last byte of its body left: the service never had it whole.
    cut = failure.sent is not None and failure.size is not None and failure.sent < failure.size
    said = f" after {failure.sent} of {failure.size} bytes, so nothing was created" if cut else ""
    if failure.kind is FailureKind.NOT_CONNECTED:
        parts = urlsplit(call.url)
        where = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
        error = SymblConnectionError(f"cannot connect to {where}: {detail}", request=call.info)
    elif failure.kind is FailureKind.TIMEOUT:
        why = f": {failure.detail}" if failure.detail else ""
        error = SymblTimeoutError(f"{call.info} timed out{why}{said}", request=call.info)
    else:
        error = SymblConnectionError(f"{call.info} failed: {detail}{said}", request=call.info)
    error.__cause__ = failure.cause
    if failure.kind is FailureKind.NOT_CONNECTED or call.safe or cut:
        return Retry(error)
    if call.submit:
        return Fail(_unknown(call, f"no answer after the body may have been sent ({error})", error))
    return Fail(error)


def _unknown(call: Call, reason: str, cause: BaseException | None = None) -> SymblError:
    error = SubmitOutcomeUnknownError(
        f"{call.method} {call.path}: {reason}; the job may exist and was not submitted again.",
        name=call.name,
        conversation_id=call.conversation_id,
        request=call.info,
    )
    error.__cause__ = cause
    return error


def _redirect_error(call: Call, answer: Answer) -> APIStatusError:
    target = _header(answer.headers, "Location")
    where = f" to {redact_url(target)}" if target else ""
    message = (
        f"the service answered a redirect (HTTP {answer.status}{where}); redirects are not "
        "followed, so that a submit is never replayed elsewhere: check the base URL (the "
        "API root, such as https://api.symbl.ai, with https and no path)"
    )
    return APIStatusError(answer.status, message, request=call.info, body=decode_body(answer.body))


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        # Plain dicts in tests; aiohttp's CIMultiDict already ignores case.
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value
