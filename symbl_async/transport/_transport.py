"""The one place that sends requests, maps answers to errors and decides retries.

Retry rules (REFERENCE.md, "Limits and errors"):

* A request that is safe to repeat (GET, PUT and DELETE outside ``/v1/process``, the
  token request) is retried on connection errors and 429/500/502/503/504, with
  exponential full-jitter waits, a bounded number of tries and a bounded total time.
  ``Retry-After`` wins over the computed wait when the service sends it (clamped).
* A submit (POST or PUT under ``/v1/process/``) creates a billed job and carries no
  idempotency key, so it is resent only when the connection failed before anything
  was sent. Once its body may have reached the service and no answer came back
  (timeout, dropped connection, 502/504 from a gateway), it raises
  :class:`SubmitOutcomeUnknownError` carrying the submit's ``name`` for a lookup.
* A 401 leads to one token refresh and one retry, never a loop.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Generator, Mapping
from typing import Any, Protocol

import aiohttp
import attrs
import backoff

from symbl_async._version import __version__
from symbl_async.core._http import (
    IDEMPOTENT_METHODS,
    RETRYABLE_STATUSES,
    decode_body,
    error_for_status,
    is_submit,
    parse_retry_after,
)
from symbl_async.errors import (
    APIStatusError,
    AuthenticationError,
    ClientClosedError,
    RequestInfo,
    ServerError,
    SubmitOutcomeUnknownError,
    SymblConnectionError,
    SymblError,
    SymblTimeoutError,
)
from symbl_async.transport._auth import TOKEN_PATH, Credentials, TokenManager

__all__ = ["Requester", "RetryPolicy", "Timeouts", "Transport"]


def _from_token(exc: BaseException) -> bool:
    return bool(getattr(exc, "from_token_request", False))


log = logging.getLogger("symbl_async.transport._transport")

# Builds a fresh request body for each attempt (a stream cannot be replayed).
BodyFactory = Callable[[], Any]


class Requester(Protocol):
    """What resource namespaces (``client.conversations``) need from the transport."""

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        idempotent: bool | None = None,
    ) -> Any:
        """Send an authenticated request and return the decoded JSON body.

        Args:
            method: HTTP method.
            path: path under the base URL, starting with ``/``.
            params: query string values, already strings.
            json: a JSON body.
            idempotent: whether repeating the request is safe (it is then retried on
                connection errors and 5xx); ``None`` derives it from the method
                (GET, HEAD, PUT and DELETE are, POST is not).

        Returns:
            The decoded JSON body, or ``None`` when the body was empty.

        Raises:
            APIStatusError: (a subclass per status) when the service answered an error.
            SymblConnectionError: when the service could not be reached.
        """
        ...


@attrs.frozen(kw_only=True)
class Timeouts:
    """Request timeouts in seconds (``None``: no limit).

    ``total`` bounds a whole ordinary call; uploads use ``upload_total`` instead (a
    large file may take long to send) and are bounded by ``read`` between bytes.
    """

    connect: float | None = 10.0
    read: float | None = 60.0
    total: float | None = 120.0
    upload_total: float | None = None

    def client_timeout(self, *, upload: bool = False) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(
            total=self.upload_total if upload else self.total,
            sock_connect=self.connect,
            sock_read=self.read,
        )


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How requests that are safe to repeat are retried.

    Attributes:
        max_tries: attempts in all, the first included.
        max_time: no new attempt starts after this many seconds.
        base: first wait's upper bound; it doubles per attempt (full jitter).
        cap: the longest computed wait.
        retry_after_cap: the longest wait a ``Retry-After`` header may impose.
    """

    max_tries: int = attrs.field(default=5, validator=attrs.validators.ge(1))
    max_time: float = attrs.field(default=60.0, validator=attrs.validators.gt(0))
    base: float = attrs.field(default=0.5, validator=attrs.validators.ge(0))
    cap: float = attrs.field(default=10.0, validator=attrs.validators.ge(0))
    retry_after_cap: float = attrs.field(default=60.0, validator=attrs.validators.ge(0))

    def waits(self, rng: random.Random) -> Generator[float, Any, None]:
        """Wait generator for ``backoff``: it is sent each failure and yields the wait."""
        attempt = 0
        # backoff primes the generator with send(None); what it yields then is unused.
        exc = yield 0.0
        while True:
            retry_after = getattr(exc, "retry_after", None)
            if retry_after is not None:
                delay = min(float(retry_after), self.retry_after_cap)
            else:
                delay = rng.uniform(0.0, min(self.cap, self.base * 2**attempt))
            attempt += 1
            exc = yield delay


class Transport:
    """Sends requests for a :class:`~symbl_async.SymblClient`; one per client.

    It implements :class:`Requester`. The session is borrowed when injected (never
    closed here) and created on first use otherwise (closed by :meth:`close`).
    """

    def __init__(
        self,
        *,
        base_url: str,
        credentials: Credentials | None,
        access_token: str | None,
        session: aiohttp.ClientSession | None = None,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        token_skew: float = 300.0,
        rng: random.Random | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeouts = timeouts or Timeouts()
        self.retry = retry or RetryPolicy()
        self._session = session
        self._owns_session = session is None
        self._closed = False
        self._rng = rng or random.Random()
        self.auth = TokenManager(
            self._fetch_token,
            credentials=credentials,
            access_token=access_token,
            skew=token_skew,
        )
        self.requests_sent = 0
        self.retries = 0

    @property
    def closed(self) -> bool:
        return self._closed

    def _get_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise ClientClosedError("this SymblClient is closed; create a new one")
        if self._session is None:
            self._session = aiohttp.ClientSession(
                headers={"User-Agent": f"symbl_async/{__version__} aiohttp/{aiohttp.__version__}"}
            )
        return self._session

    async def close(self) -> None:
        """Close the session if we created it; the transport cannot be used again."""
        self._closed = True
        if self._owns_session and self._session is not None:
            await self._session.close()
        self._session = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        idempotent: bool | None = None,
    ) -> Any:
        """Send an authenticated JSON request (see :class:`Requester`)."""
        return await self.send(method, path, params=params, json=json, idempotent=idempotent)

    async def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        body: BodyFactory | None = None,
        headers: Mapping[str, str] | None = None,
        skip_auto_headers: tuple[str, ...] = (),
        idempotent: bool | None = None,
        submit_name: str | None = None,
        conversation_id: str | None = None,
        upload: bool = False,
        authenticate: bool = True,
    ) -> Any:
        """Send one logical request, with the retries and refresh described above.

        Args:
            body: builds a raw body per attempt (uploads); excludes ``json``.
            submit_name: the submit's ``name``, carried by SubmitOutcomeUnknownError.
            conversation_id: for appends, carried by SubmitOutcomeUnknownError.
            upload: use the upload timeouts.
            authenticate: send the bearer token (all calls but the token request).

        Returns:
            The decoded JSON body (``None`` if empty).
        """
        self._get_session()  # fail fast on a closed client
        method = method.upper()
        submit = is_submit(method, path)
        safe = (not submit) and (method in IDEMPOTENT_METHODS if idempotent is None else idempotent)
        info = RequestInfo(method=method, url=self.base_url + path, name=submit_name)
        refreshed = False

        def send_with(token: str | None) -> Any:
            return self._send_once(
                method, path, info, token, params, json, body, headers, skip_auto_headers, upload
            )

        async def attempt() -> Any:
            nonlocal refreshed
            token = await self._token_for(authenticate)
            try:
                return await send_with(token)
            except AuthenticationError:
                # One refresh and one retry: a 401 means the service did not act on
                # the request, so even a submit may be sent again.
                if token is None or refreshed or not await self.auth.invalidate(token):
                    raise
                refreshed = True
                log.debug("401 on %s %s: refreshing the token once", method, path)
                return await send_with(await self._token_for(authenticate))

        def give_up(exc: Exception) -> bool:
            if getattr(exc, "from_token_request", False):
                return True  # the token request already had its own retries
            if isinstance(exc, SymblConnectionError):
                return not (safe or not getattr(exc, "body_sent", True))
            if isinstance(exc, APIStatusError):
                return not (safe and exc.status in RETRYABLE_STATUSES)
            return True

        def on_backoff(details: Any) -> None:
            self.retries += 1
            log.info(
                "retrying %s %s in %.2f s (attempt %d): %s",
                method,
                path,
                details["wait"],
                details["tries"],
                details.get("exception"),
            )

        retrying = backoff.on_exception(
            lambda: self.retry.waits(self._rng),
            SymblError,
            max_tries=self.retry.max_tries,
            max_time=self.retry.max_time,
            jitter=None,
            giveup=give_up,
            on_backoff=on_backoff,
            logger=None,
        )(attempt)
        try:
            return await retrying()
        except (SymblConnectionError, ServerError) as exc:
            if not submit or _from_token(exc):
                raise
            if isinstance(exc, SymblConnectionError) and getattr(exc, "body_sent", True):
                reason = f"no answer after the body may have been sent ({exc})"
            elif isinstance(exc, ServerError) and exc.status in (502, 504):
                # A gateway's 502/504 says nothing about whether the service made the job.
                reason = f"gateway answered {exc.status}"
            else:
                raise
            raise SubmitOutcomeUnknownError(
                f"{method} {path}: {reason}; the job may exist and was not submitted again.",
                name=submit_name,
                conversation_id=conversation_id,
                request=info,
            ) from exc

    async def _token_for(self, authenticate: bool) -> str | None:
        if not authenticate:
            return None
        try:
            return await self.auth.token()
        except SymblError as exc:
            # Nothing of the calling request was sent: a failed token request must
            # not pass for a submit of unknown outcome, nor be retried a second time.
            exc.from_token_request = True  # type: ignore[attr-defined]
            raise

    async def _send_once(
        self,
        method: str,
        path: str,
        info: RequestInfo,
        token: str | None,
        params: Mapping[str, str] | None,
        json: Any,
        body: BodyFactory | None,
        headers: Mapping[str, str] | None,
        skip_auto_headers: tuple[str, ...],
        upload: bool,
    ) -> Any:
        session = self._get_session()
        all_headers = {"Accept": "application/json", **(headers or {})}
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        started = time.monotonic()
        self.requests_sent += 1
        try:
            async with session.request(
                method,
                self.base_url + path,
                params=params,
                json=json if body is None else None,
                data=body() if body is not None else None,
                headers=all_headers,
                skip_auto_headers=skip_auto_headers or None,
                timeout=self.timeouts.client_timeout(upload=upload),
                allow_redirects=False,
            ) as response:
                raw = await response.read()
                status = response.status
                retry_after_header = response.headers.get("Retry-After")
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            # Nothing was sent: safe to try again, even for a submit.
            err = SymblConnectionError(f"cannot connect to {self.base_url}: {exc}", request=info)
            err.body_sent = False  # type: ignore[attr-defined]
            raise err from exc
        except asyncio.TimeoutError as exc:
            raise SymblTimeoutError(f"{info} timed out", request=info) from exc
        except aiohttp.ClientError as exc:
            raise SymblConnectionError(f"{info} failed: {exc!r}", request=info) from exc
        elapsed = time.monotonic() - started
        log.debug("%s %s -> %d in %.3f s", method, path, status, elapsed)
        decoded = decode_body(raw)
        if status >= 400:
            raise error_for_status(
                status,
                decoded,
                request=info,
                retry_after=parse_retry_after(retry_after_header, cap=self.retry.retry_after_cap),
            )
        return decoded

    async def _fetch_token(self, body: dict[str, str]) -> Any:
        # Generating a token is safe to repeat, so it gets the read retry rules.
        return await self.send("POST", TOKEN_PATH, json=body, idempotent=True, authenticate=False)
