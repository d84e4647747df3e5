"""The one exception tree of ``symbl_async``.

Every failure a caller can see is a :class:`SymblError`; no aiohttp exception
escapes the package (they are chained as ``__cause__``)::

    SymblError
    ├── ValidationError              bad argument, raised before any network call
    ├── ClientClosedError            the client was closed and cannot be reused
    ├── SymblConnectionError         the service could not be reached
    │   └── SymblTimeoutError        a request took longer than its timeout
    ├── SubmitOutcomeUnknownError    a submit may have created a job: look it up by name
    ├── ResponseDecodeError          an answer did not have the documented shape
    ├── APIStatusError               the service answered with an error status
    │   ├── BadRequestError          400
    │   ├── AuthenticationError      401
    │   ├── NotFoundError            404
    │   ├── ConcurrencyLimitError    429: all of the account's job slots are busy
    │   └── ServerError              5xx (on a submit: only 503, after its retries)
    ├── JobFailedError               a job ended with status ``failed``
    ├── WaitTimeoutError             a wait gave up before the job ended
    └── LedgerError                  the batch ledger failed (``symbl_async.batch``)
        ├── IllegalTransitionError   an item state change that the ledger forbids
        └── LeaseLostError           a shared batch's item was taken over by another worker

What a submit's error says about its job (``docs/service-notes.md``, "Submit outcomes"):

* **not created**, safe to submit again: ``SymblConnectionError`` (the connection never
  opened), any ``APIStatusError`` (a 3xx, a 4xx such as 400/401/403/413/429, or a 503
  once its bounded retries are spent: HTTP says a 503 was not handled);
* **unknown**: ``SubmitOutcomeUnknownError`` for everything after the body may have
  been sent: a 500, 502, 504 or other 5xx, a 2xx without a ``jobId``, a timeout, a
  reset. Its ``__cause__`` says which.

Messages never contain secrets (app secret, access token, a password in a URL).
"""

from __future__ import annotations

import enum
from typing import Any

import attrs

__all__ = [
    "APIStatusError",
    "AuthenticationError",
    "BadRequestError",
    "ClientClosedError",
    "ConcurrencyLimitError",
    "IllegalTransitionError",
    "JobFailedError",
    "LeaseLostError",
    "LedgerError",
    "NotFoundError",
    "RequestInfo",
    "ResponseDecodeError",
    "ServerError",
    "SubmitOutcomeUnknownError",
    "SymblConnectionError",
    "SymblError",
    "SymblTimeoutError",
    "ValidationError",
    "WaitTimeoutError",
]


@attrs.frozen(kw_only=True)
class RequestInfo:
    """What was asked: enough to find the request in logs, never a credential."""

    method: str
    url: str
    name: str | None = None

    def __str__(self) -> str:
        return f"{self.method} {self.url}"


class SymblError(Exception):
    """Base class of every error raised by ``symbl_async``."""


class ValidationError(SymblError, ValueError):
    """An argument broke a documented rule; nothing was sent.

    Attributes:
        field: the argument or option at fault (``"confidence_threshold"``).
        rule: the rule it broke, in words (``"must be between 0.5 and 1.0"``).
    """

    def __init__(self, field: str, rule: str) -> None:
        self.field = field
        self.rule = rule
        super().__init__(f"{field}: {rule}")


class ClientClosedError(SymblError, RuntimeError):
    """The client was closed; create a new one."""


class SymblConnectionError(SymblError):
    """The service could not be reached, or the connection broke.

    Raised only where retrying was unsafe or retries ran out.
    """

    def __init__(self, message: str, *, request: RequestInfo | None = None) -> None:
        self.request = request
        super().__init__(message)


class SymblTimeoutError(SymblConnectionError):
    """A request took longer than its configured timeout."""


class SubmitOutcomeUnknownError(SymblError):
    """A submit's body may have reached the service, and no answer says what became of it.

    Raised for a 500, 502, 504 or other 5xx (except 503), a 2xx without a ``jobId``,
    a timeout or a dropped connection after the body may have been sent. The job may
    exist. It was not sent again, to avoid paying twice: look it up by ``name``
    (``client.conversations.list(name=...)``) before resubmitting.

    Attributes:
        name: the submit's conversation name (the key of the lookup).
        conversation_id: for an append, the conversation it was appended to.
        request: the request.
    """

    def __init__(
        self,
        message: str,
        *,
        name: str | None,
        conversation_id: str | None = None,
        request: RequestInfo | None = None,
    ) -> None:
        self.name = name
        self.conversation_id = conversation_id
        self.request = request
        hint = f" Look it up by name {name!r} before submitting again." if name else ""
        super().__init__(message + hint)


class ResponseDecodeError(SymblError):
    """An answer could not be read as the documented model (the cause says why)."""


class APIStatusError(SymblError):
    """The service answered with an error status.

    Attributes:
        status: the HTTP status code.
        message: the service's own ``message`` (or the raw body when it had none).
        request: the request that got this answer.
        body: the decoded JSON body, when there was one.
        retry_after: seconds the service asked us to wait, if it said.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        request: RequestInfo | None = None,
        body: Any = None,
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.message = message
        self.request = request
        self.body = body
        self.retry_after = retry_after
        where = f" ({request})" if request is not None else ""
        super().__init__(f"HTTP {status}: {message}{where}")


class BadRequestError(APIStatusError):
    """400: the service rejected the request's content."""


class AuthenticationError(APIStatusError):
    """401: credentials or token were refused; check SYMBL_APP_ID/SYMBL_APP_SECRET."""


class NotFoundError(APIStatusError):
    """404: no such conversation, job or member."""


class ConcurrencyLimitError(APIStatusError):
    """429: every concurrent-job slot of the account is busy; submit after a job ends."""


class ServerError(APIStatusError):
    """5xx: the service failed.

    Requests that are safe to repeat get it after their retries. A submit gets it only
    for a 503 (not handled, so resent with backoff until the retry budget is spent);
    its other 5xx answers are :class:`SubmitOutcomeUnknownError`.
    """


class JobFailedError(SymblError):
    """A job ended with status ``failed``; the service gives no reason."""

    def __init__(self, job_id: str, conversation_id: str | None = None) -> None:
        self.job_id = job_id
        self.conversation_id = conversation_id
        super().__init__(f"job {job_id} (conversation {conversation_id}) failed")


class WaitTimeoutError(SymblError):
    """A wait gave up; the job may still be running and still holds an account slot.

    Wait again with the same ``job_id`` to pick it up.
    """

    def __init__(
        self, job_id: str, conversation_id: str | None, timeout: float, last_status: str | None
    ) -> None:
        self.job_id = job_id
        self.conversation_id = conversation_id
        self.timeout = timeout
        self.last_status = last_status
        super().__init__(
            f"job {job_id} (conversation {conversation_id}) not finished after {timeout:g} s "
            f"(last status: {last_status}); it may still be running"
        )


class LedgerError(SymblError):
    """The batch ledger could not be read or written (disk full, file damaged, ...)."""


class IllegalTransitionError(LedgerError):
    """A ledger state change the item's current state forbids (or an unknown key).

    Attributes:
        key: the item.
        current: its state (a ``symbl_async.batch.ItemState``), or None when no item has
            this key.
        wanted: the state that was asked for.
    """

    def __init__(self, key: str, current: enum.Enum | None, wanted: enum.Enum) -> None:
        self.key = key
        self.current = current
        self.wanted = wanted
        if current is None:
            message = f"no ledger item with key {key!r} (wanted {wanted.value})"
        else:
            message = f"item {key!r} cannot go from {current.value} to {wanted.value}"
        super().__init__(message)


class LeaseLostError(LedgerError):
    """A shared batch's item is no longer this worker's: its lease ran out and another
    worker adopted the item (a newer fencing token), so this worker must leave it alone.

    Attributes:
        key: the item (None when the whole worker was declared dead).
    """

    def __init__(self, key: str | None, message: str) -> None:
        self.key = key
        super().__init__(message)
