"""The one place that sends requests; what an answer means is the core's to say.

A thin adapter over :func:`symbl_async.core._http.decide` (the retry, refresh and
"outcome unknown" rules are written down there): send one attempt, describe what
happened as an ``Answer`` or a ``Failure``, ask the core, act on its decision. The
retry loop (``backoff``, full-jitter waits, a bounded number of tries and a bounded
total time, ``Retry-After`` winning when the service sends it) is built once per
transport, not per request.

A submit's body goes out through :class:`~symbl_async.transport._body.SubmitBody`: at most
once per attempt (aiohttp would resend a PUT on its own), its bytes counted (a body cut
off before its last byte created nothing), an upload's stalls caught.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import random
import socket
import time
from collections.abc import AsyncIterable, Callable, Generator, Mapping
from json import dumps as json_dumps
from typing import Any, Protocol

import aiohttp
import attrs
import backoff
import yarl
from aiohttp.helpers import get_env_proxy_for_url

from symbl_async._version import __version__
from symbl_async.core._http import (
    Answer,
    Call,
    Done,
    Failure,
    FailureKind,
    Refresh,
    Retry,
    decide,
    is_submit,
    redact_url,
)
from symbl_async.errors import ClientClosedError, SymblError
from symbl_async.transport._auth import TOKEN_PATH, Credentials, TokenManager
from symbl_async.transport._body import ResendRefused, SubmitBody, UploadMeter, UploadProgress
from symbl_async.transport._config import RetryPolicy, Timeouts

__all__ = ["Requester", "RetryPolicy", "Timeouts", "Transport"]

log = logging.getLogger("symbl_async.transport._transport")

# Builds a fresh request body for each attempt (a stream cannot be replayed).
BodyFactory = Callable[[], AsyncIterable[bytes]]


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
            The decoded JSON body, or ``None`` when the body was empty (and for a
            DELETE retried after a lost answer that finds the resource gone).

        Raises:
            APIStatusError: (a subclass per status) when the service answered an error.
            SymblConnectionError: when the service could not be reached.
        """
        ...


class _Retry(Exception):
    """One attempt asks for another; only the backoff loop sees it."""

    def __init__(self, error: SymblError, retry_after: float | None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after  # read by RetryPolicy.waits


@attrs.define(kw_only=True)
class _Request:
    """One logical request and its state across attempts."""

    call: Call
    params: Mapping[str, str] | None
    json: Any
    body: BodyFactory | None
    headers: Mapping[str, str] | None
    skip_auto_headers: tuple[str, ...]
    upload_size: int | None
    progress: UploadProgress | None
    authenticate: bool
    attempt: int = 0
    refreshed: bool = False


class Transport:
    """Sends requests for a :class:`~symbl_async.SymblClient`; one per client.

    It implements :class:`Requester`. The session is borrowed when injected (never
    closed here) and created on first use otherwise (closed by :meth:`close`). Ours honours
    ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY`` (and a proxy's ``.netrc`` credentials), read
    once when the session is made: with aiohttp's ``trust_env=True`` every request read
    them again in two thread hops (~10 % of a batch's CPU), and a ``.netrc`` entry for the
    API's host made every request fail (aiohttp refuses its basic auth next to our Bearer).
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
        self._shown_url = redact_url(self.base_url)
        self._session = session
        self._owns_session = session is None
        self._proxy: dict[str, Any] = {}  # proxy= and proxy_auth= for our own session
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
        self.uploads = UploadMeter()  # the measured upload throughput
        # Built once: decorating per request cost 3-6% CPU in batches (issue 11).
        self._send_with_retries = backoff.on_exception(
            self._waits,
            _Retry,
            max_tries=self.retry.max_tries,
            max_time=self.retry.max_time,
            jitter=None,
            on_backoff=self._on_backoff,
            logger=None,
        )(self._attempt)

    def __repr__(self) -> str:
        return f"<Transport {self._shown_url}>"

    @property
    def closed(self) -> bool:
        return self._closed

    def _get_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise ClientClosedError("this SymblClient is closed; create a new one")
        if self._session is None:
            self._session = aiohttp.ClientSession(
                headers={"User-Agent": f"symbl_async/{__version__} aiohttp/{aiohttp.__version__}"},
            )
            with contextlib.suppress(LookupError):  # no proxy for this host
                proxy, auth = get_env_proxy_for_url(yarl.URL(self.base_url))
                self._proxy = {"proxy": proxy, "proxy_auth": auth}
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
        upload_size: int | None = None,
        progress: UploadProgress | None = None,
        authenticate: bool = True,
    ) -> Any:
        """Send one logical request, with the retries and refresh the core decides.

        Args:
            body: builds a raw body per attempt (uploads); excludes ``json``.
            submit_name: the submit's ``name``, carried by SubmitOutcomeUnknownError.
            conversation_id: for appends, carried by SubmitOutcomeUnknownError.
            upload_size: the body's size in bytes, for an upload (its ``Content-Length``;
                required with ``body`` on a submit): the upload timeouts apply to it
                (:class:`Timeouts`).
            progress: updated with an upload's bytes as they go (:class:`UploadProgress`).
            authenticate: send the bearer token (all calls but the token request).

        Returns:
            The decoded JSON body (``None`` if empty).

        Raises:
            SymblError: the error the core decided on (see :mod:`symbl_async.core._http`).
        """
        self._get_session()  # fail fast on a closed client
        if body is not None and upload_size is None and is_submit(method, path):
            raise ValueError("an upload's size (its Content-Length) must be given")
        request = _Request(
            call=Call(
                method=method.upper(),
                path=path,
                url=self._shown_url + path,
                idempotent=idempotent,
                name=submit_name,
                conversation_id=conversation_id,
            ),
            params=params,
            json=json,
            body=body,
            headers=headers,
            skip_auto_headers=skip_auto_headers,
            upload_size=upload_size,
            progress=progress,
            authenticate=authenticate,
        )
        try:
            return await self._send_with_retries(request)
        except _Retry as spent:
            # The retry budget is spent: raise what the last attempt decided.
            raise spent.error from spent.error.__cause__

    def _waits(self) -> Generator[float, Any, None]:
        return self.retry.waits(self._rng)

    def _on_backoff(self, details: Any) -> None:
        self.retries += 1
        call = details["args"][0].call
        log.info(
            "retrying %s %s in %.2f s (attempt %d): %s",
            call.method,
            call.path,
            details["wait"],
            details["tries"],
            details.get("exception"),
        )

    async def _attempt(self, request: _Request) -> Any:
        """One attempt (plus at most one resend after a token refresh)."""
        request.attempt += 1
        call = request.call
        while True:  # at most twice: decide() offers Refresh only while not refreshed
            token = await self.auth.token() if request.authenticate else None
            outcome = await self._exchange(request, token)
            decision = decide(
                call,
                outcome,
                attempt=request.attempt,
                refreshed=request.refreshed,
                retry_after_cap=self.retry.retry_after_cap,
            )
            if isinstance(decision, Done):
                return decision.data
            if isinstance(decision, Retry):
                raise _Retry(decision.error, decision.retry_after)
            can_refresh = isinstance(decision, Refresh) and token is not None
            if can_refresh and token is not None and await self.auth.invalidate(token):
                request.refreshed = True
                log.debug("401 on %s %s: refreshing the token once", call.method, call.path)
                continue
            raise decision.error

    async def _exchange(self, request: _Request, token: str | None) -> Answer | Failure:
        """Send once; describe the answer, or the failure, for the core."""
        session = self._get_session()
        call = request.call
        headers = {"Accept": "application/json", **(request.headers or {})}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        body = self._submit_body(request) if call.submit else None
        data: Any = body
        if body is None and request.body is not None:
            data = request.body()
        started = time.monotonic()
        self.requests_sent += 1
        try:
            async with session.request(
                call.method,
                self.base_url + call.path,
                params=request.params,
                json=request.json if data is None else None,
                data=data,
                headers=headers,
                skip_auto_headers=request.skip_auto_headers or None,
                timeout=self.timeouts.client_timeout(upload_size=request.upload_size),
                allow_redirects=False,
                **self._proxy,
            ) as response:
                answer = Answer(
                    status=response.status, headers=response.headers, body=await response.read()
                )
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            return _failure(FailureKind.NOT_CONNECTED, _connect_failure(exc), exc, body)
        except asyncio.TimeoutError as exc:
            return _failure(FailureKind.TIMEOUT, "", exc, body)
        except (aiohttp.ClientError, ResendRefused) as exc:
            return _failure(FailureKind.BROKEN, repr(exc), exc, body)
        finally:
            if body is not None:
                body.close()
        elapsed = time.monotonic() - started
        log.debug("%s %s -> %d in %.3f s", call.method, call.path, answer.status, elapsed)
        return answer

    def _submit_body(self, request: _Request) -> SubmitBody | None:
        """A submit's body for one attempt: sent at most once, its bytes counted."""
        if request.body is not None:
            assert request.upload_size is not None  # checked in send()
            return SubmitBody(
                request.body(),
                size=request.upload_size,
                progress=request.progress,
                meter=self.uploads,
                stall=self.timeouts.upload_stall,
            )
        if request.json is None:
            return None
        encoded = json_dumps(request.json).encode()
        return SubmitBody(encoded, size=len(encoded), content_type="application/json")

    async def _fetch_token(self, body: dict[str, str]) -> Any:
        # Generating a token is safe to repeat, so it gets the read retry rules.
        return await self.send("POST", TOKEN_PATH, json=body, idempotent=True, authenticate=False)


def _connect_failure(exc: BaseException) -> str:
    """What stopped a connection, in words (aiohttp's text names its internals: for a
    plain http URL it says ``ssl:default``)."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return f"its TLS certificate was not accepted ({exc.certificate_error})"
    if isinstance(exc, aiohttp.ClientConnectorSSLError):
        return f"the TLS handshake failed ({exc.os_error})"
    if isinstance(exc, aiohttp.ClientConnectorError):
        error = exc.os_error
        if isinstance(error, socket.gaierror):
            return f"its host name was not found ({error.strerror or error})"
        if isinstance(error, ConnectionRefusedError) or error.errno == errno.ECONNREFUSED:
            return "the connection was refused (nothing listens at that address and port)"
        if error.strerror:
            return str(error.strerror)
        if error.errno is not None:
            return os.strerror(error.errno)
        return str(error) or type(error).__name__
    return "no connection within the connect timeout"


def _failure(
    kind: FailureKind, detail: str, cause: BaseException, body: SubmitBody | None
) -> Failure:
    """Describe a failure; for a submit, with how much of its body left.

    Raises:
        Exception: what the caller's fence raised (``submit_fence``), when it cut the body
            off: the caller's own refusal, raised as it is, not a failure to retry.
    """
    if body is None:
        return Failure(kind=kind, detail=detail, cause=cause)
    if body.fenced is not None:
        raise body.fenced
    if body.stalled:
        kind, detail = FailureKind.TIMEOUT, f"no byte of the body accepted for {body.stall:g} s"
    elif isinstance(cause, ResendRefused):
        # aiohttp 3.10-3.13 saw the connection drop and tried to send the body again.
        detail = "the connection dropped" + (f" ({body.error!r})" if body.error else "")
    elif body.error is not None and not isinstance(body.error, asyncio.CancelledError):
        detail = f"{detail} (writing the body: {body.error!r})"
    return Failure(kind=kind, detail=detail, cause=cause, sent=body.sent, size=body.size)
