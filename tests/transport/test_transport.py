"""Transport behaviour with aioresponses: retries, token refresh, no blind resubmit.

aioresponses answers before a body is written, so a submit whose answer is lost after
its body went out is tested against a real server (``test_submit_once.py``).
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Iterator
from typing import Any

import aiohttp
import backoff
import pytest
from _polling import eventually
from aiohttp.client_reqrep import ConnectionKey
from aioresponses import aioresponses

from symbl_async import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ClientClosedError,
    ConcurrencyLimitError,
    NotFoundError,
    ProcessingOptions,
    RetryPolicy,
    ServerError,
    SubmitOutcomeUnknownError,
    SymblClient,
    SymblConnectionError,
    SymblError,
    SymblTimeoutError,
)

BASE = "http://127.0.0.1:9"
TOKEN_URL = BASE + "/oauth2/token:generate"
JOB_URL = re.compile(re.escape(BASE) + r"/v1/job/.*")
SUBMIT_URL = BASE + "/v1/process/audio/url"
ACCEPTED = {"conversationId": "5815170693595136", "jobId": "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d"}
SECRET = "s3cr3t-app-secret"


def refused() -> aiohttp.ClientConnectorError:
    key = ConnectionKey("127.0.0.1", 9, False, True, None, None, None, None)
    return aiohttp.ClientConnectorError(key, OSError(111, "Connection refused"))


@pytest.fixture
def mocked() -> Iterator[aioresponses]:
    with aioresponses() as m:
        yield m


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record backoff waits instead of sleeping them (keeps tests fast, proves delays)."""
    recorded: list[float] = []
    real_sleep = asyncio.sleep

    async def fake_sleep(seconds: float, result: Any = None) -> Any:
        recorded.append(seconds)
        return await real_sleep(0, result)

    monkeypatch.setattr(asyncio, "sleep", fake_sleep)
    return recorded


@pytest.fixture
async def client() -> AsyncIterator[SymblClient]:
    async with SymblClient(
        app_id="app", app_secret=SECRET, base_url=BASE, retry=RetryPolicy(max_tries=4, base=0.5)
    ) as c:
        yield c


def calls(m: aioresponses, method: str, pattern: str) -> int:
    return sum(
        len(v) for (meth, url), v in m.requests.items() if meth == method and pattern in str(url)
    )


def token(m: aioresponses, value: str = "tok-1", expires: int = 86400) -> None:
    m.post(TOKEN_URL, payload={"accessToken": value, "expiresIn": expires})


async def test_read_retried_on_503_then_succeeds(
    client: SymblClient, mocked: aioresponses, sleeps: list[float]
) -> None:
    token(mocked)
    mocked.get(JOB_URL, status=503, payload={"message": "busy"})
    mocked.get(JOB_URL, status=502, body="<html>bad gateway</html>")
    mocked.get(JOB_URL, payload={"id": "j", "status": "in_progress"})
    info = await client.get_job("j")
    assert info.status.value == "in_progress"
    assert calls(mocked, "GET", "/v1/job/") == 3
    assert len(sleeps) == 2 and all(0 <= s <= 1.0 for s in sleeps)  # full jitter, base 0.5


async def test_read_gives_up_after_max_tries(
    client: SymblClient, mocked: aioresponses, sleeps: list[float]
) -> None:
    token(mocked)
    for _ in range(4):
        mocked.get(JOB_URL, status=500, payload={"message": "Something went wrong"})
    with pytest.raises(ServerError) as info:
        await client.get_job("j")
    assert info.value.status == 500
    assert info.value.message == "Something went wrong"
    assert calls(mocked, "GET", "/v1/job/") == 4


async def test_retry_after_is_honoured(
    client: SymblClient, mocked: aioresponses, sleeps: list[float]
) -> None:
    token(mocked)
    mocked.get(JOB_URL, status=503, headers={"Retry-After": "7"})
    mocked.get(JOB_URL, status=429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    mocked.get(JOB_URL, payload={"id": "j", "status": "completed"})
    await client.get_job("j")
    assert sleeps == [7.0, 0.0]  # seconds form, then a date in the past


async def test_retry_after_is_clamped(mocked: aioresponses, sleeps: list[float]) -> None:
    policy = RetryPolicy(max_tries=2, base=0, retry_after_cap=5)
    async with SymblClient(app_id="a", app_secret="b", base_url=BASE, retry=policy) as c:
        token(mocked)
        mocked.get(JOB_URL, status=503, headers={"Retry-After": "86400"})
        mocked.get(JOB_URL, payload={"id": "j", "status": "completed"})
        await c.get_job("j")
    assert sleeps == [5.0]


def test_wait_generator_uses_retry_after_then_exponential() -> None:
    import random

    policy = RetryPolicy(base=1, cap=8)
    gen = policy.waits(random.Random(3))
    gen.send(None)
    err = ServerError(503, "x", retry_after=4.0)
    assert gen.send(err) == 4.0
    waits = [gen.send(ServerError(503, "x")) for _ in range(6)]
    bounds = [2, 4, 8, 8, 8, 8]  # attempt counts on, capped at 8
    assert all(0 <= w <= b for w, b in zip(waits, bounds, strict=True))


async def test_connection_errors_on_reads_are_retried_and_mapped(
    client: SymblClient, mocked: aioresponses, sleeps: list[float]
) -> None:
    token(mocked)
    mocked.get(JOB_URL, exception=aiohttp.ServerDisconnectedError())
    mocked.get(JOB_URL, exception=refused())
    mocked.get(JOB_URL, exception=asyncio.TimeoutError())
    mocked.get(JOB_URL, exception=asyncio.TimeoutError())
    with pytest.raises(SymblTimeoutError) as info:
        await client.get_job("j")
    assert isinstance(info.value, SymblConnectionError)
    assert not isinstance(info.value, aiohttp.ClientError)
    assert calls(mocked, "GET", "/v1/job/") == 4


async def test_submit_resent_when_connection_never_opened(
    client: SymblClient, mocked: aioresponses, sleeps: list[float]
) -> None:
    token(mocked)
    mocked.post(SUBMIT_URL, exception=refused())
    mocked.post(SUBMIT_URL, payload=ACCEPTED, status=201)
    job = await client.submit_audio_url("https://example.com/a.wav")
    assert job.job_id == ACCEPTED["jobId"] and job.conversation_id == ACCEPTED["conversationId"]
    assert calls(mocked, "POST", "/v1/process/") == 2


@pytest.mark.parametrize(
    ("cause", "said"),
    [
        (refused(), "the connection was refused (nothing listens at that address and port)"),
        (aiohttp.ClientConnectorError(
            ConnectionKey("nohost.invalid", 80, False, True, None, None, None, None),
            socket.gaierror(-2, "Name or service not known")),
         "its host name was not found (Name or service not known)"),
    ],
)
async def test_a_server_never_reached_is_said_in_words_naming_the_url(
    client: SymblClient, mocked: aioresponses, sleeps: list[float],
    cause: aiohttp.ClientConnectorError, said: str,
) -> None:
    # aiohttp's own text ("Cannot connect to host 127.0.0.1:9 ssl:default [...]") names
    # its internals: "ssl:default" for a plain http URL.
    mocked.post(TOKEN_URL, exception=cause, repeat=True)
    with pytest.raises(SymblConnectionError) as info:
        await client.get_job("j")
    assert str(info.value) == f"cannot connect to {BASE}: {said}"
    assert "ssl" not in str(info.value)


@pytest.mark.parametrize(
    ("status", "error"),
    [
        # The service said no job was created: refused, nothing to look up.
        (400, BadRequestError),
        (401, AuthenticationError),  # with a fixed token: no refresh possible
        (403, APIStatusError),
        (404, NotFoundError),
        (413, APIStatusError),
        (429, ConcurrencyLimitError),
        # The job may exist: never resent, reported as unknown, to be looked up.
        (500, SubmitOutcomeUnknownError),
        (502, SubmitOutcomeUnknownError),
        (504, SubmitOutcomeUnknownError),
    ],
)
async def test_submit_error_statuses_are_not_retried(
    mocked: aioresponses, sleeps: list[float], status: int, error: type
) -> None:
    async with SymblClient(access_token="fixed", base_url=BASE) as client:
        mocked.post(SUBMIT_URL, status=status, payload={"statusCode": status, "message": "no"})
        mocked.post(SUBMIT_URL, payload=ACCEPTED, status=201)
        with pytest.raises(error) as info:
            await client.submit_audio_url("https://example.com/a.wav")
    assert calls(mocked, "POST", "/v1/process/") == 1
    assert sleeps == []
    if error is SubmitOutcomeUnknownError:
        assert isinstance(info.value, SubmitOutcomeUnknownError)
        assert info.value.name is not None and info.value.name in str(info.value)
        assert not isinstance(info.value, APIStatusError)
    else:
        assert not isinstance(info.value, SubmitOutcomeUnknownError)


async def test_submit_503_is_resent_with_backoff(
    client: SymblClient, mocked: aioresponses, sleeps: list[float]
) -> None:
    token(mocked)
    mocked.post(SUBMIT_URL, status=503, payload={"message": "unavailable"})
    mocked.post(SUBMIT_URL, status=503, headers={"Retry-After": "3"})
    mocked.post(SUBMIT_URL, payload=ACCEPTED, status=201)
    job = await client.submit_audio_url("https://example.com/a.wav")
    assert job.job_id == ACCEPTED["jobId"]
    assert calls(mocked, "POST", "/v1/process/") == 3
    assert len(sleeps) == 2 and 0 <= sleeps[0] <= 0.5 and sleeps[1] == 3.0


async def test_submit_503_until_the_budget_is_spent_is_a_server_error(
    client: SymblClient, mocked: aioresponses, sleeps: list[float]
) -> None:
    token(mocked)
    for _ in range(4):
        mocked.post(SUBMIT_URL, status=503, payload={"message": "unavailable"})
    mocked.post(SUBMIT_URL, payload=ACCEPTED, status=201)  # beyond max_tries=4
    with pytest.raises(ServerError) as info:
        await client.submit_audio_url("https://example.com/a.wav")
    assert info.value.status == 503
    assert not isinstance(info.value, SubmitOutcomeUnknownError)
    assert calls(mocked, "POST", "/v1/process/") == 4


@pytest.mark.parametrize("answer", [{}, {"conversationId": "1"}, {"jobId": ""}, "ok", None])
async def test_submit_accepted_without_a_job_id_is_outcome_unknown(
    client: SymblClient, mocked: aioresponses, answer: Any
) -> None:
    token(mocked)
    if answer is None:
        mocked.post(SUBMIT_URL, status=201, body=b"")
    elif isinstance(answer, str):
        mocked.post(SUBMIT_URL, status=201, body=answer)
    else:
        mocked.post(SUBMIT_URL, status=201, payload=answer)
    opts = ProcessingOptions(name="call-7")
    with pytest.raises(SubmitOutcomeUnknownError) as info:
        await client.submit_audio_url("https://example.com/a.wav", options=opts)
    assert info.value.name == "call-7"
    assert "no jobId" in str(info.value)
    assert calls(mocked, "POST", "/v1/process/") == 1


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_redirect_is_a_clear_error_and_not_followed(
    client: SymblClient, mocked: aioresponses, method: str
) -> None:
    token(mocked)
    target = "https://user:pw@elsewhere.test/v1/job/j"
    call: Awaitable[object]
    if method == "GET":
        mocked.get(JOB_URL, status=301, headers={"Location": target})
        call = client.get_job("j")
    else:
        mocked.post(SUBMIT_URL, status=307, headers={"Location": target})
        call = client.submit_audio_url("https://example.com/a.wav")
    with pytest.raises(APIStatusError) as info:
        await call
    assert not isinstance(info.value, SubmitOutcomeUnknownError)
    assert "redirect" in str(info.value) and "the base URL" in str(info.value)
    assert "elsewhere.test" in str(info.value) and "pw" not in str(info.value)
    assert "no status" not in str(info.value)
    assert not any("elsewhere" in str(url) for _, url in mocked.requests)


async def test_delete_whose_answer_was_lost_then_404_is_a_success(
    client: SymblClient, mocked: aioresponses, sleeps: list[float]
) -> None:
    token(mocked)
    url = BASE + "/v1/conversations/c1"
    mocked.delete(url, exception=aiohttp.ServerDisconnectedError())  # it did delete
    mocked.delete(url, status=404, payload={"message": "The conversationId is either invalid"})
    assert await client.conversations.delete("c1") is None
    assert calls(mocked, "DELETE", "/v1/conversations/c1") == 2


async def test_delete_404_on_the_first_attempt_is_not_found(
    client: SymblClient, mocked: aioresponses
) -> None:
    token(mocked)
    url = BASE + "/v1/conversations/c1"
    mocked.delete(url, status=404, payload={"message": "The conversationId is either invalid"})
    with pytest.raises(NotFoundError):
        await client.conversations.delete("c1")


async def test_retry_machinery_is_built_once_per_transport(
    client: SymblClient, mocked: aioresponses, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[object] = []
    real = backoff.on_exception

    def counting(*args: Any, **kwargs: Any) -> Any:
        built.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(backoff, "on_exception", counting)
    token(mocked)
    mocked.get(JOB_URL, payload={"id": "j", "status": "completed"}, repeat=True)
    for _ in range(5):
        await client.get_job("j")
    assert built == []
    assert client.transport.requests_sent == 6  # the token, then five reads


async def test_token_endpoint_404_says_the_base_url_looks_wrong(mocked: aioresponses) -> None:
    async with SymblClient(app_id="a", app_secret="b", base_url=BASE + "/api") as c:
        mocked.post(BASE + "/api/oauth2/token:generate", status=404, body="Cannot POST")
        with pytest.raises(NotFoundError) as info:
            await c.get_job("j")
    assert "the base URL" in str(info.value) and "API root" in str(info.value)


async def test_401_refreshes_once_and_retries_once(
    client: SymblClient, mocked: aioresponses
) -> None:
    token(mocked, "old")
    token(mocked, "new")
    mocked.get(
        JOB_URL, status=401, payload={"message": "Token validation failed for provided token."}
    )
    mocked.get(JOB_URL, payload={"id": "j", "status": "scheduled"})
    info = await client.get_job("j")
    assert info.status.value == "scheduled"
    auth_headers = [
        call.kwargs["headers"]["Authorization"]
        for (meth, url), reqs in mocked.requests.items()
        if "/v1/job/" in str(url)
        for call in reqs
    ]
    assert auth_headers == ["Bearer old", "Bearer new"]
    assert client.transport.auth.refreshes == 2


async def test_401_twice_raises_without_looping(client: SymblClient, mocked: aioresponses) -> None:
    token(mocked, "a")
    token(mocked, "b")
    token(mocked, "c")
    for _ in range(3):
        mocked.get(
            JOB_URL, status=401, payload={"message": "Token validation failed for provided token."}
        )
    with pytest.raises(AuthenticationError) as info:
        await client.get_job("j")
    assert info.value.message == "Token validation failed for provided token."
    assert calls(mocked, "POST", "token:generate") == 2
    assert calls(mocked, "GET", "/v1/job/") == 2


async def test_401_on_submit_is_resent_once(client: SymblClient, mocked: aioresponses) -> None:
    token(mocked, "old")
    token(mocked, "new")
    mocked.post(
        SUBMIT_URL, status=401, payload={"message": "Token validation failed for provided token."}
    )
    mocked.post(SUBMIT_URL, status=201, payload=ACCEPTED)
    job = await client.submit_audio_url("https://example.com/a.wav")
    assert job.job_id == ACCEPTED["jobId"]
    assert calls(mocked, "POST", "/v1/process/") == 2


async def test_static_token_is_not_refreshed(mocked: aioresponses) -> None:
    async with SymblClient(access_token="fixed", base_url=BASE) as c:
        mocked.get(
            JOB_URL, status=401, payload={"message": "Token validation failed for provided token."}
        )
        with pytest.raises(AuthenticationError):
            await c.get_job("j")
    assert calls(mocked, "POST", "token:generate") == 0


async def test_bad_credentials_surface_the_service_message(mocked: aioresponses) -> None:
    mocked.post(TOKEN_URL, status=401, payload={"message": "Invalid appId or appSecret"})
    async with SymblClient(app_id="a", app_secret="wrong", base_url=BASE) as c:
        with pytest.raises(AuthenticationError, match="Invalid appId or appSecret"):
            await c.get_job("j")
    assert calls(mocked, "GET", "/v1/job/") == 0


async def test_many_coroutines_cause_one_token_request(
    client: SymblClient, mocked: aioresponses
) -> None:
    gate = asyncio.Event()

    async def slow_token(url: Any, **kwargs: Any) -> None:
        await gate.wait()

    mocked.post(TOKEN_URL, payload={"accessToken": "t", "expiresIn": 86400}, callback=slow_token)
    mocked.get(JOB_URL, payload={"id": "j", "status": "completed"}, repeat=True)
    tasks = [asyncio.ensure_future(client.get_job(f"j{i}")) for i in range(50)]
    await eventually(lambda: calls(mocked, "POST", "token:generate") > 0)
    gate.set()
    results = await asyncio.gather(*tasks)
    assert len(results) == 50
    assert calls(mocked, "POST", "token:generate") == 1


async def test_closed_client_refuses(mocked: aioresponses) -> None:
    c = SymblClient(app_id="a", app_secret="b", base_url=BASE)
    async with c:
        pass
    assert c.closed
    with pytest.raises(ClientClosedError):
        await c.get_job("j")
    with pytest.raises(ClientClosedError):
        async with c:
            pass
    assert not mocked.requests


async def test_injected_session_is_borrowed_not_closed(mocked: aioresponses) -> None:
    async with aiohttp.ClientSession() as session:
        async with SymblClient(app_id="a", app_secret="b", base_url=BASE, session=session) as c:
            token(mocked)
            mocked.get(JOB_URL, payload={"id": "j", "status": "completed"})
            await c.get_job("j")
        assert not session.closed
    assert session.closed


async def test_secrets_never_logged_or_shown(
    client: SymblClient, mocked: aioresponses, caplog: pytest.LogCaptureFixture, sleeps: list[float]
) -> None:
    caplog.set_level(logging.DEBUG, logger="symbl_async")
    token(mocked, "tok-very-secret")
    mocked.get(JOB_URL, status=503)
    mocked.get(JOB_URL, payload={"id": "j", "status": "completed"})
    await client.get_job("j")
    assert "GET /v1/job/j" in caplog.text
    for secret in (SECRET, "tok-very-secret"):
        assert secret not in caplog.text
        assert secret not in repr(client) and secret not in repr(client.transport.auth)


async def test_every_error_is_a_symbl_error(
    client: SymblClient, mocked: aioresponses, sleeps: list[float]
) -> None:
    token(mocked)
    for _ in range(4):
        mocked.get(JOB_URL, exception=aiohttp.ClientPayloadError("truncated"))
    with pytest.raises(SymblError) as info:
        await client.get_job("j")
    assert isinstance(info.value, SymblConnectionError)
    assert isinstance(info.value.__cause__, aiohttp.ClientPayloadError)


async def test_token_failure_during_submit_is_not_outcome_unknown(
    client: SymblClient, mocked: aioresponses, sleeps: list[float]
) -> None:
    for _ in range(4):
        mocked.post(TOKEN_URL, exception=aiohttp.ServerDisconnectedError())
    with pytest.raises(SymblConnectionError) as info:
        await client.submit_audio_url("https://example.com/a.wav")
    assert not isinstance(info.value, SubmitOutcomeUnknownError)
    assert calls(mocked, "POST", "/v1/process/") == 0
    assert calls(mocked, "POST", "token:generate") == 4  # its own retries, not multiplied


async def test_token_gateway_error_during_submit_is_not_outcome_unknown(
    client: SymblClient, mocked: aioresponses, sleeps: list[float]
) -> None:
    for _ in range(4):
        mocked.post(TOKEN_URL, status=504)
    with pytest.raises(ServerError) as info:
        await client.submit_audio_url("https://example.com/a.wav")
    assert info.value.status == 504
    assert calls(mocked, "POST", "/v1/process/") == 0
