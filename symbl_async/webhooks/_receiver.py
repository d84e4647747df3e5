"""Receive Symbl's job-status webhooks and turn them into confirmed job statuses.

With ``webhookUrl``, Symbl POSTs ``{"jobId": ..., "status": ...}`` on every status change
of a job (Symbl docs, "POST Text API", section "webhookUrl"; Symbl's blog shows ``{"id":
..., "status": ...}``; both are accepted). Nothing is signed and no retry policy is
documented (``docs/service-notes.md``, "Webhooks"), so a webhook is a hint: it may be
duplicated, lost or late. The rules here follow from that:

- the callback URL carries a random secret token, compared in constant time; any other
  path answers 404, a body over ``max_body`` 413, a body that is not a job status 400;
- a job's status only moves forward (``scheduled < in_progress < completed/failed``);
  duplicates and late (lower-ranked) webhooks are counted and dropped;
- ``completed`` or ``failed`` is confirmed with ``GET /v1/job/{jobId}`` (the ``confirm``
  callable) before any waiter is released; one confirmation per job at a time, asked
  again with a bounded backoff while the API still lags the webhook (``_confirm``);
- the receiver answers at once; the confirmation runs in a task afterwards;
- a webhook for a job nobody watches yet is acknowledged and remembered (bounded), so
  that a :meth:`WebhookReceiver.watch` created just after the submit answered still
  sees it.

Parts: :func:`parse_webhook` is pure (bytes in, :class:`WebhookEvent` out). The receiver
*has* a watch table (``_watches`` :class:`~symbl_async.webhooks._watches.WatchTable`: the
watches, forward-only statuses and remembered webhooks, with its confirmations,
``_confirm``), an attempt index (``_attempts``
:class:`~symbl_async.webhooks._attempts.AttemptIndex`: which job each submit attempt
created), counters shared by all of them (``_stats`` :class:`WebhookStats`), its own
server (``_server``) and, optionally, a relay to other processes (``_pg_relay``
:class:`PostgresRelay`; the receiver's side of it is here). :meth:`WebhookReceiver.handle`
/ :meth:`WebhookReceiver.handle_stream` (here) are the framework-neutral entry points
that return the HTTP status to answer; the receiver's own aiohttp server (``async
with``), :meth:`WebhookReceiver.add_routes` (``_server``) and
:func:`symbl_async.webhooks._fastapi.fastapi_router` are thin adapters.

The token is random unless given (``token=``): a batch that stores it with its ledger
can start a new receiver, after a crash, at the URL its earlier jobs still call.

The token is a credential: the own server runs without aiohttp's access log (it would
write the path, hence the token, in every line). When mounting the routes into your own
application, disable or filter its access log the same way, and do not log the
``webhookUrl`` you submit.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import AsyncIterable
from types import TracebackType

from aiohttp import web

from symbl_async.core._jobs import JobStatus
from symbl_async.core._webhook import WebhookEvent, parse_webhook
from symbl_async.errors import ClientClosedError, ValidationError, WaitTimeoutError
from symbl_async.webhooks._attempts import AttemptIndex
from symbl_async.webhooks._confirm import ConfirmFunc
from symbl_async.webhooks._pg_relay import PostgresRelay
from symbl_async.webhooks._server import (
    OwnServer,
    base_url,
    check_public_url,
    check_token,
    normalize_prefix,
    read_limited,
    routes_for,
)
from symbl_async.webhooks._stats import WebhookStats
from symbl_async.webhooks._watches import JobWatch, WatchTable

__all__ = [
    "ConfirmFunc",
    "JobWatch",
    "WebhookEvent",
    "WebhookReceiver",
    "WebhookStats",
    "parse_webhook",
]

logger = logging.getLogger("symbl_async.webhooks._receiver")

# Rejection reasons (keys of WebhookStats.rejected) for the fields parse_webhook checks.
_FIELD_REASONS = {"body": "invalid_body", "jobId": "invalid_job_id", "status": "invalid_status"}


class WebhookReceiver:
    """Receives Symbl's webhooks and releases waiters once a job's end is confirmed.

    Use it as its own server (``async with WebhookReceiver(...) as receiver``), or mount
    it into an existing application (:meth:`add_routes`, or
    :func:`symbl_async.webhooks._fastapi.fastapi_router`) and call :meth:`close` when done.
    Give Symbl :attr:`callback_url` as the submit's ``webhookUrl``.

    Args:
        host: address the own server binds.
        port: port the own server binds; 0 picks a free one (read :attr:`port`).
        public_url: base URL Symbl must call (``https://abc.example.net``) when it
            differs from the bound address (tunnel, reverse proxy, ``0.0.0.0``). The
            path prefix and token are appended to it.
        path_prefix: path under which the token is served.
        max_body: largest body accepted, in bytes; larger ones get 413.
        confirm: asks the API for a job's real status (``client.get_job`` fits: it may
            return a :class:`JobStatus` or a :class:`JobInfo`). ``None`` turns
            confirmation off: a terminal webhook then releases waiters by itself.
        max_recent: how many jobs nobody watches are remembered (their highest
            status), so that a watch created after the webhook arrived sees it; as
            many attempts are remembered (:meth:`job_for_attempt`).
        token: the secret path token; random by default. Give the one stored with a
            batch so that jobs it submitted earlier reach this receiver (32 to 256
            URL-safe characters, e.g. ``secrets.token_urlsafe(32)``).
        reconfirm_tries: how many times a confirmation that still lags (the API
            answers a non-terminal status) or raises is asked again; 0 never.
        reconfirm_delay: seconds before the first repeat; each next one waits twice
            as long, up to 30 times this.
        relay: shares deliveries with other processes behind one public URL (all with
            the same ``token``; :mod:`symbl_async.webhooks._pg_relay`); closed with this.

    Raises:
        ValidationError: a setting broke its rule.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        public_url: str | None = None,
        path_prefix: str = "/symbl/webhooks",
        max_body: int = 4096,
        confirm: ConfirmFunc | None = None,
        max_recent: int = 10_000,
        token: str | None = None,
        reconfirm_tries: int = 6,
        reconfirm_delay: float = 1.0,
        relay: PostgresRelay | None = None,
    ) -> None:
        if not isinstance(host, str) or not host:
            raise ValidationError("host", "must be a non-empty string")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValidationError("port", "must be an integer between 0 and 65535")
        if isinstance(max_body, bool) or not isinstance(max_body, int) or max_body < 1:
            raise ValidationError("max_body", "must be a positive integer (bytes)")
        self.stats = WebhookStats()
        self._table = WatchTable(
            self.stats,
            max_recent=max_recent,
            confirm=confirm,
            reconfirm_tries=reconfirm_tries,
            reconfirm_delay=reconfirm_delay,
        )
        self._attempts = AttemptIndex(max_attempts=max_recent)
        self._closed = False
        self._public_url = check_public_url(public_url) if public_url is not None else None
        self._path_prefix = normalize_prefix(path_prefix)
        self._max_body = max_body
        self._token = secrets.token_urlsafe(32) if token is None else check_token(token)
        self._token_bytes = self._token.encode("ascii")
        self._server = OwnServer(host, port)
        self._relay = relay
        if relay is not None:
            relay.attach(self._relayed, self._table.watched)

    def __repr__(self) -> str:
        # Never the token.
        bound = self._server.bound
        where = f"{bound[0]}:{bound[1]}" if bound else "not started"
        return f"<WebhookReceiver {where} watching={len(self._table)} closed={self._closed}>"

    # -- settings and addresses -------------------------------------------------------

    @property
    def token(self) -> str:
        """The secret path token of this receiver; treat it as a credential."""
        return self._token

    @property
    def relay(self) -> PostgresRelay | None:
        """The relay that passes deliveries between processes, if any."""
        return self._relay

    @property
    def path_prefix(self) -> str:
        """Path under which the token is served (no trailing slash)."""
        return self._path_prefix

    @property
    def max_body(self) -> int:
        """Largest body accepted, in bytes."""
        return self._max_body

    @property
    def confirm(self) -> ConfirmFunc | None:
        """How terminal webhooks are confirmed; ``None`` when confirmation is off."""
        return self._table.confirm

    def set_confirm(self, confirm: ConfirmFunc | None) -> None:
        """Change how terminal webhooks are confirmed (``SymblClient.attach_receiver`` does).

        Confirmations already running keep the function they started with.

        Args:
            confirm: as the constructor's ``confirm``; ``None`` turns confirmation off.
        """
        self._table.confirm = confirm

    @property
    def port(self) -> int | None:
        """Port the own server is bound to, once started."""
        bound = self._server.bound
        return bound[1] if bound is not None else None

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed

    @property
    def callback_url(self) -> str:
        """The URL to give Symbl as ``webhookUrl``: base + path prefix + ``/`` + token.

        The base is ``public_url`` when set (available at once, also for adapters),
        else the own server's bound address (available once started).

        Raises:
            RuntimeError: no ``public_url`` and the own server is not started.
        """
        base = base_url(self._public_url, self._server.bound)
        return f"{base}{self._path_prefix}/{self._token}"

    # -- own server -------------------------------------------------------------------

    async def __aenter__(self) -> WebhookReceiver:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self) -> None:
        """Start the own aiohttp server on ``host:port``.

        Raises:
            ClientClosedError: the receiver was closed; create a new one.
            RuntimeError: it is already started.
            OSError: the address could not be bound.
        """
        if self._closed:
            raise ClientClosedError("this WebhookReceiver was closed; create a new one")
        if self._server.started:
            raise RuntimeError("this WebhookReceiver is already started")
        await self._server.start(self.routes())

    async def close(self) -> None:
        """Stop the own server (if started), cancel confirmations and relay, wake waiters.

        Waiters still waiting get :class:`ClientClosedError`. Safe to call twice.
        """
        if self._closed:
            return
        self._closed = True
        await self._server.stop()
        await self._table.close()
        if self._relay is not None:
            await self._relay.close()
        self._attempts.close()

    # -- adapters ---------------------------------------------------------------------

    def routes(self, *, prefix: str | None = None) -> list[web.RouteDef]:
        """aiohttp route definitions for ``POST {prefix}/{token}``.

        Args:
            prefix: mount path; defaults to ``path_prefix``. :attr:`callback_url` is
                built from ``path_prefix``, so a different prefix means building the
                ``webhookUrl`` yourself.

        Returns:
            Routes for ``app.add_routes(...)``.

        Raises:
            ValidationError: ``prefix`` does not start with ``/``.
        """
        return routes_for(self, self._route_prefix(prefix))

    def add_routes(self, app: web.Application, *, prefix: str | None = None) -> None:
        """Mount the webhook route into an existing aiohttp application (before it starts).

        Args:
            app: the application.
            prefix: mount path; defaults to ``path_prefix`` (see :meth:`routes`).

        Raises:
            ValidationError: ``prefix`` does not start with ``/``.
        """
        app.add_routes(self.routes(prefix=prefix))

    def _route_prefix(self, prefix: str | None) -> str:
        return self._path_prefix if prefix is None else normalize_prefix(prefix, "prefix")

    # -- framework-neutral entry points -----------------------------------------------

    async def handle(self, path_token: str, body: bytes, *, attempt: str | None = None) -> int:
        """Handle one webhook whose body is already read.

        Answers at once; a confirmation it needs runs in a task afterwards.

        Args:
            path_token: the last path segment of the request.
            body: the raw request body.
            attempt: the URL's ``attempt`` query parameter, if any (see :meth:`job_for_attempt`).

        Returns:
            The HTTP status to answer: 200 (accepted, duplicate, stale or unknown job),
            400 (not a job status), 404 (wrong token), 413 (body over ``max_body``),
            503 (receiver closed).
        """
        early = self._precheck(path_token, len(body))
        if early is not None:
            return early
        return self._process(body, attempt)

    async def handle_stream(
        self,
        path_token: str,
        chunks: AsyncIterable[bytes],
        *,
        content_length: int | None = None,
        attempt: str | None = None,
    ) -> int:
        """Handle one webhook whose body is still to be read, never reading past the limit.

        The token and the declared ``Content-Length`` are checked before reading; the
        limit is enforced again while reading, since the header may be absent
        (chunked transfer) or wrong.

        Args:
            path_token: the last path segment of the request.
            chunks: the body, as it arrives.
            content_length: the declared length, if any.
            attempt: the URL's ``attempt`` query parameter, if any.

        Returns:
            The HTTP status to answer, as for :meth:`handle`.

        Raises:
            Exception: whatever ``chunks`` raises when the client goes away mid-body
                (counted as rejected ``incomplete_body``).
        """
        early = self._precheck(path_token, content_length)
        if early is not None:
            return early
        try:
            body = await read_limited(chunks, self._max_body)
        except Exception:
            # The client went away mid-body; there is nobody to answer.
            self.stats.rejected["incomplete_body"] += 1
            raise
        if body is None:
            return self._reject("too_large", 413)
        return self._process(body, attempt)

    def _precheck(self, path_token: str, length: int | None) -> int | None:
        self.stats.received += 1
        # Bytes: compare_digest refuses non-ASCII str. "replace" cannot forge a match,
        # since the token's alphabet has no "?".
        if not hmac.compare_digest(path_token.encode("utf-8", "replace"), self._token_bytes):
            return self._reject("bad_token", 404)
        if self._closed:
            return self._reject("closed", 503)
        if length is not None and length > self._max_body:
            return self._reject("too_large", 413)
        return None

    def _reject(self, reason: str, status: int) -> int:
        self.stats.rejected[reason] += 1
        logger.debug("webhook rejected: %s (%d)", reason, status)
        return status

    def _process(self, body: bytes, attempt: str | None) -> int:
        try:
            event = parse_webhook(body)
        except ValidationError as exc:
            return self._reject(_FIELD_REASONS[exc.field], 400)
        self._attempts.note(attempt, event.job_id)
        if self._relay is not None and not self._table.is_watching(event.job_id):
            # Another process behind the same URL may wait for it.
            self.stats.relayed_out += 1
            self._relay.ensure_started()
            self._relay.record(event, attempt)
        self._table.apply_webhook(event)
        return 200

    def _relayed(self, event: WebhookEvent, attempt: str | None, from_table: bool) -> bool:
        """A delivery another process received, from the relay (``from_table``: read when a
        watch began or the relay reconnected); True if it moved a watched job forward."""
        if self._closed:
            return False
        self._attempts.note(attempt, event.job_id)
        return self._table.apply_relayed(event)

    # -- watching -----------------------------------------------------------------------

    def watch(self, job_id: str) -> JobWatch:
        """Register interest in a job; call it right after the submit answers.

        A webhook that arrived before (the job was unknown then) is taken into account:
        a remembered terminal status starts its confirmation now. With a relay, its table
        is read for the job too (a delivery another process relayed before this watch
        began is there). Calling it again for the same job returns the same watch. The
        watch stays until :meth:`forget` (or a successful :meth:`wait_for`). Call it from
        inside the event loop.

        Args:
            job_id: the submit's ``jobId``.

        Returns:
            The job's watch.

        Raises:
            ClientClosedError: the receiver was closed.
            ValidationError: ``job_id`` is not a non-empty string.
        """
        if self._closed:
            raise ClientClosedError("this WebhookReceiver was closed; create a new one")
        watch, new = self._table.watch(job_id)
        if new and self._relay is not None:
            self._relay.ensure_started()
            self._relay.look_up([job_id])
        return watch

    async def wait_for(self, job_id: str, *, timeout: float | None) -> JobStatus:
        """Wait until a terminal status of the job is confirmed.

        On success the watch is retired (its end stays remembered, bounded, so waiting
        again returns at once). On timeout the job stays watched, and the error carries
        its id.

        Args:
            job_id: the submit's ``jobId``.
            timeout: seconds to wait; ``None`` waits without limit.

        Returns:
            The confirmed terminal status (``completed`` or ``failed``; a failed job is
            returned, not raised).

        Raises:
            WaitTimeoutError: the timeout passed first.
            ClientClosedError: the receiver was (or got) closed.
            ValidationError: ``job_id`` is not a non-empty string.
        """
        watch = self.watch(job_id)
        status = await watch.wait(timeout)
        if status is None:
            last = watch.status.value if watch.status is not None else None
            raise WaitTimeoutError(job_id, None, timeout or 0.0, last)
        self._table.retire(watch, status)
        return status

    def note_status(self, job_id: str, status: JobStatus | str) -> None:
        """Feed a status learned from the API itself (a poll): no confirmation needed.

        A terminal status releases the job's waiters at once. Statuses only move
        forward. For a job nobody watches, the status is remembered (bounded).

        Args:
            job_id: the job.
            status: its status, as ``GET /v1/job/{jobId}`` answered.

        Raises:
            ValueError: ``status`` is neither a :class:`JobStatus` nor a string.
        """
        self._table.note_status(job_id, status)

    def forget(self, job_id: str) -> None:
        """Stop watching a job and drop what is remembered of it.

        A confirmation in flight for it is cancelled. Coroutines still waiting on its
        watch are not woken (their own timeout ends them).

        Args:
            job_id: the job.
        """
        self._table.forget(job_id)

    def status_of(self, job_id: str) -> JobStatus | None:
        """Best-known status of a job, watched or remembered; ``None`` if unknown.

        Args:
            job_id: the job.

        Returns:
            The watched job's :attr:`JobWatch.status`, else the remembered status
            (which, for a job nobody watched, may be an unconfirmed webhook hint).
        """
        return self._table.status_of(job_id)

    def is_watching(self, job_id: str) -> bool:
        """True while the job has a watch (between :meth:`watch` and :meth:`forget`).

        Args:
            job_id: the job.

        Returns:
            Whether it is watched.
        """
        return self._table.is_watching(job_id)

    # -- submit attempts ----------------------------------------------------------------

    def job_for_attempt(self, attempt: str) -> str | None:
        """The job id a webhook for this attempt named, if one arrived (and is remembered).

        A batch submits each attempt with its own ``webhookUrl`` (this receiver's URL plus
        ``?attempt=<tag>``, :func:`symbl_async.core._webhook.with_attempt`); see
        :mod:`symbl_async.webhooks._attempts`.

        Args:
            attempt: the attempt's submit name, as given to ``with_attempt``.

        Returns:
            The job id, or ``None``.
        """
        return self._attempts.job_for(attempt)

    async def wait_job_for_attempt(self, attempt: str, timeout: float | None) -> str | None:
        """Wait until a webhook for this attempt names its job.

        Args:
            attempt: the attempt's submit name.
            timeout: seconds to wait; ``None`` waits without limit.

        Returns:
            The job id; ``None`` when the timeout passed first or the receiver closed.
        """
        return await self._attempts.wait_job_for(attempt, timeout)
