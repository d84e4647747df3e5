"""Receive Symbl's job-status webhooks and turn them into confirmed job statuses.

With ``webhookUrl``, Symbl POSTs ``{"jobId": ..., "status": ...}`` on every status change
of a job (Symbl's blog shows ``{"id": ..., "status": ...}``; both are accepted). Nothing is
signed and no retry policy is documented (REFERENCE.md, "Webhooks"), so a webhook is a
hint: it may be duplicated, lost or late. The rules here follow from that:

- the callback URL carries a random secret token, compared in constant time; any other
  path answers 404, a body over ``max_body`` 413, a body that is not a job status 400;
- a job's status only moves forward (``scheduled < in_progress < completed/failed``);
  duplicates and late (lower-ranked) webhooks are counted and dropped;
- ``completed`` or ``failed`` is confirmed with ``GET /v1/job/{jobId}`` (the ``confirm``
  callable) before any waiter is released; one confirmation per job at a time;
- the receiver answers at once; the confirmation runs in a task afterwards;
- a webhook for a job nobody watches yet is acknowledged and remembered (bounded), so
  that a :meth:`WebhookReceiver.watch` created just after the submit answered still
  sees it.

Layers: :func:`parse_webhook` is pure (bytes in, :class:`WebhookEvent` out);
:meth:`WebhookReceiver.handle` / :meth:`WebhookReceiver.handle_stream` are the
framework-neutral entry points that return the HTTP status to answer; the receiver's own
aiohttp server (``async with``), :meth:`WebhookReceiver.add_routes` for an existing
aiohttp application and :func:`symbl_async.webhooks._fastapi.fastapi_router` are thin adapters.

The token is a credential: the own server runs without aiohttp's access log (it would
write the path, hence the token, in every line). When mounting the routes into your own
application, disable or filter its access log the same way, and do not log the
``webhookUrl`` you submit.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import hmac
import http
import logging
import secrets
import urllib.parse
from collections.abc import AsyncIterable, Awaitable, Callable
from types import TracebackType

import attrs
from aiohttp import web

from symbl_async.core._jobs import JobInfo, JobStatus
from symbl_async.core._webhook import WebhookEvent, parse_webhook
from symbl_async.errors import ClientClosedError, ValidationError, WaitTimeoutError

__all__ = [
    "ConfirmFunc",
    "JobWatch",
    "WebhookEvent",
    "WebhookReceiver",
    "WebhookStats",
    "parse_webhook",
]

logger = logging.getLogger("symbl_async.webhooks._receiver")

ConfirmFunc = Callable[[str], Awaitable["JobStatus | JobInfo"]]
"""Asks the API for a job's real status: ``GET /v1/job/{jobId}`` (``client.get_job``)."""

_TERMINAL_RANK = JobStatus.COMPLETED.rank
_READ_CHUNK = 1024

# Rejection reasons (keys of WebhookStats.rejected) for the fields parse_webhook checks.
_FIELD_REASONS = {"body": "invalid_body", "jobId": "invalid_job_id", "status": "invalid_status"}


@attrs.define
class WebhookStats:
    """Counters of a receiver; every request reaching it lands in exactly one of
    ``rejected``, ``unknown_jobs``, ``duplicates``, ``stale`` or ``accepted``.

    Attributes:
        received: requests that reached the receiver (right token or not).
        accepted: webhooks that moved a watched job forward.
        duplicates: webhooks repeating a watched job's status (or claiming an end
            already being confirmed), dropped.
        stale: webhooks ranked below what a watched job already reached, dropped.
        unknown_jobs: valid webhooks for jobs nobody watches; acknowledged, remembered.
        rejected: answered with an error status, by reason: ``bad_token`` (404),
            ``too_large`` (413), ``invalid_body`` / ``invalid_job_id`` /
            ``invalid_status`` (400), ``closed`` (503), ``incomplete_body`` (the
            client went away mid-body; nothing answered).
        confirmations: calls made to ``confirm``.
        confirmation_mismatches: confirmations where the API's status differed from
            the webhook's.
        confirmation_errors: confirmations that raised.
    """

    received: int = 0
    accepted: int = 0
    duplicates: int = 0
    stale: int = 0
    unknown_jobs: int = 0
    rejected: collections.Counter[str] = attrs.field(factory=collections.Counter)
    confirmations: int = 0
    confirmation_mismatches: int = 0
    confirmation_errors: int = 0


@attrs.frozen
class _Seen:
    """What is remembered about a job nobody watches (yet, or any more)."""

    status: JobStatus
    confirmed: bool


class JobWatch:
    """Interest in one job: its best-known status, and an event set when it ended.

    Created by :meth:`WebhookReceiver.watch`; many coroutines may share one.

    Attributes:
        job_id: the job watched.
        done: set once a terminal status is confirmed (by ``confirm``, by
            :meth:`WebhookReceiver.note_status`, or by a webhook when confirmation is
            off). Never cleared.
    """

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self.done = asyncio.Event()
        self._status: JobStatus | None = None
        # Set when done is set or when the receiver closes: what wait() sleeps on.
        self._wakeup = asyncio.Event()

    def __repr__(self) -> str:
        status = self._status.value if self._status is not None else None
        return f"<JobWatch {self.job_id} status={status} terminal={self.terminal}>"

    @property
    def status(self) -> JobStatus | None:
        """Best-known status: the highest non-terminal one seen, or the confirmed end.

        A terminal status claimed by a webhook but not (yet) confirmed is not shown.
        """
        return self._status

    @property
    def terminal(self) -> bool:
        """True once a terminal status is confirmed."""
        return self.done.is_set()

    async def wait(self, timeout: float | None = None) -> JobStatus | None:
        """Wait until the job's end is confirmed, or the timeout passes.

        The watch stays registered either way, so this can be called again (a hybrid
        waiter alternates it with its own polls, fed back through
        :meth:`WebhookReceiver.note_status`).

        Args:
            timeout: seconds to wait; ``None`` waits without limit.

        Returns:
            The confirmed terminal status, or ``None`` when the timeout passed first.

        Raises:
            ClientClosedError: the receiver was closed before the job ended; poll
                ``GET /v1/job/{jobId}`` instead.
        """
        if not self._wakeup.is_set():
            try:
                await asyncio.wait_for(self._wakeup.wait(), timeout)
            except asyncio.TimeoutError:
                return None
        if self.done.is_set():
            return self._status
        raise ClientClosedError(
            f"the webhook receiver was closed before job {self.job_id} ended; "
            "poll GET /v1/job/{jobId} instead"
        )

    def _advance(self, status: JobStatus) -> None:
        """Record a non-terminal status if it moves the job forward."""
        if self._status is None or status.rank > self._status.rank:
            self._status = status

    def _finish(self, status: JobStatus) -> None:
        self._status = status
        self.done.set()
        self._wakeup.set()

    def _close(self) -> None:
        self._wakeup.set()


def _normalize_prefix(prefix: str, field: str = "path_prefix") -> str:
    prefix = prefix.rstrip("/")
    if prefix and not prefix.startswith("/"):
        raise ValidationError(field, "must start with '/' (or be empty)")
    if "{" in prefix or "}" in prefix:
        raise ValidationError(field, "must not contain '{' or '}'")
    return prefix


def _check_public_url(public_url: str) -> str:
    try:
        url = urllib.parse.urlsplit(public_url)
        host = url.hostname
    except (TypeError, ValueError, AttributeError) as exc:
        raise ValidationError("public_url", "must be an http(s) URL") from exc
    if url.scheme not in ("http", "https") or not host:
        raise ValidationError("public_url", "must be an absolute http(s) URL")
    if url.query or url.fragment:
        raise ValidationError("public_url", "must not have a query or fragment")
    return public_url.rstrip("/")


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
            status), so that a watch created after the webhook arrived sees it.

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
    ) -> None:
        if not isinstance(host, str) or not host:
            raise ValidationError("host", "must be a non-empty string")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValidationError("port", "must be an integer between 0 and 65535")
        if isinstance(max_body, bool) or not isinstance(max_body, int) or max_body < 1:
            raise ValidationError("max_body", "must be a positive integer (bytes)")
        if isinstance(max_recent, bool) or not isinstance(max_recent, int) or max_recent < 0:
            raise ValidationError("max_recent", "must be a non-negative integer")
        self._host = host
        self._port = port
        self._public_url = _check_public_url(public_url) if public_url is not None else None
        self._path_prefix = _normalize_prefix(path_prefix)
        self._max_body = max_body
        self._confirm = confirm
        self._max_recent = max_recent
        self._token = secrets.token_urlsafe(32)
        self._token_bytes = self._token.encode("ascii")
        self.stats = WebhookStats()
        self._watches: dict[str, JobWatch] = {}
        self._recent: collections.OrderedDict[str, _Seen] = collections.OrderedDict()
        self._confirming: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: web.AppRunner | None = None
        self._bound: tuple[str, int] | None = None
        self._closed = False

    def __repr__(self) -> str:
        # Never the token.
        where = f"{self._bound[0]}:{self._bound[1]}" if self._bound else "not started"
        return f"<WebhookReceiver {where} watching={len(self._watches)} closed={self._closed}>"

    # -- settings and addresses -------------------------------------------------------

    @property
    def token(self) -> str:
        """The secret path token of this receiver; treat it as a credential."""
        return self._token

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
        return self._confirm

    def set_confirm(self, confirm: ConfirmFunc | None) -> None:
        """Change how terminal webhooks are confirmed (``SymblClient.attach_receiver`` does).

        Confirmations already running keep the function they started with.

        Args:
            confirm: as the constructor's ``confirm``; ``None`` turns confirmation off.
        """
        self._confirm = confirm

    @property
    def port(self) -> int | None:
        """Port the own server is bound to, once started."""
        return self._bound[1] if self._bound is not None else None

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
        if self._public_url is not None:
            base = self._public_url
        elif self._bound is not None:
            host, port = self._bound
            if ":" in host:
                host = f"[{host}]"
            base = f"http://{host}:{port}"
        else:
            raise RuntimeError(
                "callback_url is known once the receiver is started (async with), "
                "or when public_url is set"
            )
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
        if self._runner is not None:
            raise RuntimeError("this WebhookReceiver is already started")
        app = web.Application()
        self.add_routes(app)
        # access_log=None: the access log would write the path, which holds the token.
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self._host, self._port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        address = runner.addresses[0]
        self._bound = (str(address[0]), int(address[1]))
        logger.debug("webhook receiver listening on %s:%s", *self._bound)

    async def close(self) -> None:
        """Stop the own server (if started), cancel confirmations, wake waiters.

        Waiters still waiting get :class:`ClientClosedError`. Safe to call twice.
        """
        if self._closed:
            return
        self._closed = True
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._confirming.clear()
        for watch in self._watches.values():
            watch._close()

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
        path = self._route_prefix(prefix) + "/{token}"
        return [web.post(path, self._aiohttp_handler)]

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
        return self._path_prefix if prefix is None else _normalize_prefix(prefix, "prefix")

    async def _aiohttp_handler(self, request: web.Request) -> web.Response:
        status = await self.handle_stream(
            request.match_info["token"],
            request.content.iter_chunked(_READ_CHUNK),
            content_length=request.content_length,
        )
        return web.Response(status=status, text=f"{status}: {http.HTTPStatus(status).phrase}")

    # -- framework-neutral entry points -----------------------------------------------

    async def handle(self, path_token: str, body: bytes) -> int:
        """Handle one webhook whose body is already read.

        Answers at once; a confirmation it needs runs in a task afterwards.

        Args:
            path_token: the last path segment of the request.
            body: the raw request body.

        Returns:
            The HTTP status to answer: 200 (accepted, duplicate, stale or unknown job),
            400 (not a job status), 404 (wrong token), 413 (body over ``max_body``),
            503 (receiver closed).
        """
        early = self._precheck(path_token, len(body))
        if early is not None:
            return early
        return self._process(body)

    async def handle_stream(
        self,
        path_token: str,
        chunks: AsyncIterable[bytes],
        *,
        content_length: int | None = None,
    ) -> int:
        """Handle one webhook whose body is still to be read, never reading past the limit.

        The token and the declared ``Content-Length`` are checked before reading; the
        limit is enforced again while reading, since the header may be absent
        (chunked transfer) or wrong.

        Args:
            path_token: the last path segment of the request.
            chunks: the body, as it arrives.
            content_length: the declared length, if any.

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
            body = await self._read_limited(chunks)
        except Exception:
            # The client went away mid-body; there is nobody to answer.
            self.stats.rejected["incomplete_body"] += 1
            raise
        if body is None:
            return self._reject("too_large", 413)
        return self._process(body)

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

    async def _read_limited(self, chunks: AsyncIterable[bytes]) -> bytes | None:
        """Read at most ``max_body`` bytes; ``None`` when the body is longer."""
        buffer = bytearray()
        iterator = aiter(chunks)
        try:
            async for chunk in iterator:
                buffer += chunk
                if len(buffer) > self._max_body:
                    return None
        finally:
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None:
                await aclose()
        return bytes(buffer)

    def _reject(self, reason: str, status: int) -> int:
        self.stats.rejected[reason] += 1
        logger.debug("webhook rejected: %s (%d)", reason, status)
        return status

    def _process(self, body: bytes) -> int:
        try:
            event = parse_webhook(body)
        except ValidationError as exc:
            return self._reject(_FIELD_REASONS[exc.field], 400)
        self._apply_webhook(event)
        return 200

    # -- state ------------------------------------------------------------------------

    def _apply_webhook(self, event: WebhookEvent) -> None:
        # Synchronous on purpose: classifying is a few dict look-ups, and doing it inline
        # keeps the order of arrival; only the confirmation (a request) runs in a task.
        job_id, status = event.job_id, event.status
        watch = self._watches.get(job_id)
        if watch is None:
            self.stats.unknown_jobs += 1
            self._remember(job_id, status, confirmed=False)
            logger.debug("webhook for unwatched job %s: %s (remembered)", job_id, status.value)
            return
        reached = watch.status.rank if watch.status is not None else -1
        if watch.terminal or job_id in self._confirming:
            reached = _TERMINAL_RANK
        if status.rank < reached:
            self.stats.stale += 1
            logger.debug("stale webhook for job %s: %s", job_id, status.value)
        elif status.rank == reached:
            self.stats.duplicates += 1
            logger.debug("duplicate webhook for job %s: %s", job_id, status.value)
        else:
            self.stats.accepted += 1
            logger.debug("webhook for job %s: %s", job_id, status.value)
            if status.is_terminal:
                self._claim_end(watch, status)
            else:
                watch._advance(status)

    def _claim_end(self, watch: JobWatch, claimed: JobStatus) -> None:
        """A webhook says the job ended: confirm it (in a task) or, if off, believe it."""
        if self._confirm is None:
            watch._finish(claimed)
            return
        task = asyncio.get_running_loop().create_task(
            self._confirmation(watch.job_id, claimed, self._confirm),
            name=f"symbl-webhook-confirm-{watch.job_id}",
        )
        self._confirming[watch.job_id] = task
        self._tasks.add(task)
        task.add_done_callback(functools.partial(self._confirmation_done, watch.job_id))

    def _confirmation_done(self, job_id: str, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if self._confirming.get(job_id) is task:
            del self._confirming[job_id]

    async def _confirmation(self, job_id: str, claimed: JobStatus, confirm: ConfirmFunc) -> None:
        self.stats.confirmations += 1
        try:
            answer = await confirm(job_id)
            actual = answer.status if isinstance(answer, JobInfo) else JobStatus(answer)
        except Exception as exc:
            # Never crash the receiver, never release on a hint alone: a later webhook or
            # the caller's safety poll finishes the job.
            self.stats.confirmation_errors += 1
            logger.warning(
                "could not confirm that job %s is %s (%s: %s); its waiters stay waiting",
                job_id,
                claimed.value,
                type(exc).__name__,
                exc,
            )
            return
        if actual != claimed:
            self.stats.confirmation_mismatches += 1
            logger.info(
                "webhook said job %s is %s, the API says %s", job_id, claimed.value, actual.value
            )
        watch = self._watches.get(job_id)
        if watch is not None:
            self._apply_confirmed(watch, actual)

    def _apply_confirmed(self, watch: JobWatch, status: JobStatus) -> None:
        if watch.terminal:
            return
        if status.is_terminal:
            watch._finish(status)
        else:
            watch._advance(status)

    def _remember(self, job_id: str, status: JobStatus, *, confirmed: bool) -> None:
        if self._max_recent == 0:
            return
        old = self._recent.get(job_id)
        if (
            old is None
            or status.rank > old.status.rank
            or (status.rank == old.status.rank and confirmed and not old.confirmed)
        ):
            self._recent[job_id] = _Seen(status, confirmed)
        self._recent.move_to_end(job_id)
        while len(self._recent) > self._max_recent:
            self._recent.popitem(last=False)

    # -- watching ---------------------------------------------------------------------

    def watch(self, job_id: str) -> JobWatch:
        """Register interest in a job; call it right after the submit answers.

        A webhook that arrived before (the job was unknown then) is taken into account:
        a remembered terminal status starts its confirmation now. Calling it again for
        the same job returns the same watch. The watch stays until :meth:`forget` (or a
        successful :meth:`wait_for`). Call it from inside the event loop.

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
        if not isinstance(job_id, str) or not job_id:
            raise ValidationError("job_id", "must be a non-empty string")
        watch = self._watches.get(job_id)
        if watch is not None:
            return watch
        watch = self._watches[job_id] = JobWatch(job_id)
        seen = self._recent.pop(job_id, None)
        if seen is not None:
            if seen.confirmed:
                self._apply_confirmed(watch, seen.status)
            elif seen.status.is_terminal:
                self._claim_end(watch, seen.status)
            else:
                watch._advance(seen.status)
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
        if self._watches.get(job_id) is watch:
            del self._watches[job_id]
            self._remember(job_id, status, confirmed=True)
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
        status = JobStatus(status)
        watch = self._watches.get(job_id)
        if watch is None:
            self._remember(job_id, status, confirmed=True)
        else:
            self._apply_confirmed(watch, status)

    def forget(self, job_id: str) -> None:
        """Stop watching a job and drop what is remembered of it.

        A confirmation in flight for it is cancelled. Coroutines still waiting on its
        watch are not woken (their own timeout ends them).

        Args:
            job_id: the job.
        """
        self._watches.pop(job_id, None)
        self._recent.pop(job_id, None)
        task = self._confirming.pop(job_id, None)
        if task is not None:
            task.cancel()  # stays in self._tasks until done, so close() still awaits it

    def status_of(self, job_id: str) -> JobStatus | None:
        """Best-known status of a job, watched or remembered; ``None`` if unknown.

        Args:
            job_id: the job.

        Returns:
            The watched job's :attr:`JobWatch.status`, else the remembered status
            (which, for a job nobody watched, may be an unconfirmed webhook hint).
        """
        watch = self._watches.get(job_id)
        if watch is not None:
            return watch.status
        seen = self._recent.get(job_id)
        return seen.status if seen is not None else None

    def is_watching(self, job_id: str) -> bool:
        """True while the job has a watch (between :meth:`watch` and :meth:`forget`).

        Args:
            job_id: the job.

        Returns:
            Whether it is watched.
        """
        return job_id in self._watches
