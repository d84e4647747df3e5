"""Webhook receiver: pure parsing, the state rules, and real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from symbl_async.core._jobs import JobInfo, JobStatus
from symbl_async.errors import (
    ClientClosedError,
    SymblConnectionError,
    ValidationError,
    WaitTimeoutError,
)
from symbl_async.webhooks._receiver import WebhookEvent, WebhookReceiver, parse_webhook

COMPLETED = JobStatus.COMPLETED
IN_PROGRESS = JobStatus.IN_PROGRESS
SCHEDULED = JobStatus.SCHEDULED
FAILED = JobStatus.FAILED
WAIT = 5.0  # upper bound for things that should happen at once; never slept


class FakeAPI:
    """A scripted ``confirm``: answers ``GET /v1/job/{jobId}`` from a dict.

    ``finished`` is set in the same step in which the answer (or error) is handed to the
    receiver, which processes it before any other coroutine runs; so once a test has
    awaited ``finished``, the receiver has applied the answer.
    """

    def __init__(self, default: JobStatus = COMPLETED) -> None:
        self.default = default
        self.statuses: dict[str, JobStatus] = {}
        self.calls: list[str] = []
        self.called = asyncio.Event()
        self.finished = asyncio.Event()
        self.gate: asyncio.Event | None = None
        self.error: Exception | None = None
        self.cancelled = False

    async def __call__(self, job_id: str) -> JobStatus:
        self.calls.append(job_id)
        self.called.set()
        try:
            if self.gate is not None:
                await self.gate.wait()
            if self.error is not None:
                raise self.error
            return self.statuses.get(job_id, self.default)
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        finally:
            self.finished.set()

    async def next_answer(self) -> None:
        """Wait for the current confirmation to be answered and applied, then re-arm."""
        await asyncio.wait_for(self.finished.wait(), WAIT)
        self.finished.clear()


def body(job_id: str, status: str, key: str = "jobId") -> bytes:
    return json.dumps({key: job_id, "status": status}).encode()


def assert_counts_add_up(receiver: WebhookReceiver) -> None:
    s = receiver.stats
    assert s.received == (
        sum(s.rejected.values()) + s.unknown_jobs + s.duplicates + s.stale + s.accepted
    )


@pytest.fixture
def api() -> FakeAPI:
    return FakeAPI()


@pytest.fixture
async def receiver(api: FakeAPI) -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver(confirm=api) as r:
        yield r
    assert_counts_add_up(r)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def post(session: aiohttp.ClientSession, url: str, data: Any) -> int:
    async with session.post(url, data=data) as response:
        await response.read()
        return response.status


# -- pure parsing -------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["jobId", "id"])
def test_parse_accepts_both_id_keys(key: str) -> None:
    event = parse_webhook(body("j-1", "in_progress", key))
    assert event == WebhookEvent(job_id="j-1", status=IN_PROGRESS)


def test_parse_prefers_job_id_and_ignores_extra_keys() -> None:
    raw = json.dumps({"jobId": "a", "id": "b", "status": "completed", "extra": [1]}).encode()
    assert parse_webhook(raw) == WebhookEvent(job_id="a", status=COMPLETED)


def test_parse_keeps_unknown_status_ranked_with_scheduled() -> None:
    event = parse_webhook(body("j", "queued_somewhere"))
    assert event.status.value == "queued_somewhere"
    assert event.status.rank == SCHEDULED.rank
    assert not event.status.is_terminal


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b"not json", "body"),
        (b"", "body"),
        (b"\xff\xfe\x00garbage", "body"),
        (b"[" * 5000, "body"),
        (b'["jobId", "status"]', "body"),
        (b'"completed"', "body"),
        (b"null", "body"),
        (b'{"status": "completed"}', "jobId"),
        (b'{"jobId": "", "status": "completed"}', "jobId"),
        (b'{"jobId": 12, "status": "completed"}', "jobId"),
        (b'{"jobId": "j"}', "status"),
        (b'{"jobId": "j", "status": ""}', "status"),
        (b'{"jobId": "j", "status": 2}', "status"),
    ],
)
def test_parse_rejects(raw: bytes, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_webhook(raw)
    assert info.value.field == field


# -- configuration ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"port": -1}, "port"),
        ({"port": 70000}, "port"),
        ({"max_body": 0}, "max_body"),
        ({"max_recent": -1}, "max_recent"),
        ({"host": ""}, "host"),
        ({"path_prefix": "symbl"}, "path_prefix"),
        ({"public_url": "ftp://x.example"}, "public_url"),
        ({"public_url": "/relative"}, "public_url"),
        ({"public_url": "https://x.example/?a=1"}, "public_url"),
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        WebhookReceiver(**kwargs)
    assert info.value.field == field


def test_each_receiver_has_its_own_long_token() -> None:
    a, b = WebhookReceiver(), WebhookReceiver()
    assert a.token != b.token
    assert len(a.token) >= 40
    assert a.token not in repr(a)


def test_public_url_is_reflected_in_callback_url_before_start() -> None:
    r = WebhookReceiver(public_url="https://hooks.example.net/base/")
    assert r.callback_url == f"https://hooks.example.net/base/symbl/webhooks/{r.token}"
    r2 = WebhookReceiver(public_url="https://hooks.example.net", path_prefix="/in/")
    assert r2.callback_url == f"https://hooks.example.net/in/{r2.token}"


def test_callback_url_needs_a_start_or_a_public_url() -> None:
    with pytest.raises(RuntimeError, match="public_url"):
        _ = WebhookReceiver().callback_url


# -- the framework-neutral entry point, no server ----------------------------------------


async def test_handle_without_a_server(api: FakeAPI) -> None:
    r = WebhookReceiver(confirm=api)
    watch = r.watch("j")
    assert await r.handle(r.token, body("j", "in_progress")) == 200
    assert watch.status is IN_PROGRESS
    assert await r.handle(r.token, body("j", "completed", key="id")) == 200
    assert await watch.wait(WAIT) is COMPLETED
    assert api.calls == ["j"]
    assert await r.handle("wrong", body("j", "completed")) == 404
    assert await r.handle(r.token, b"x" * 4097) == 413
    assert await r.handle(r.token, b"{") == 400
    assert r.stats.rejected == {"bad_token": 1, "too_large": 1, "invalid_body": 1}
    await r.close()
    assert await r.handle(r.token, body("j", "completed")) == 503
    assert_counts_add_up(r)


async def test_handle_stream_checks_declared_length_before_reading() -> None:
    r = WebhookReceiver(max_body=100)

    async def must_not_be_read() -> AsyncIterator[bytes]:
        raise AssertionError("the body was read")
        yield b""  # pragma: no cover

    assert await r.handle_stream(r.token, must_not_be_read(), content_length=101) == 413
    assert await r.handle_stream("nope", must_not_be_read(), content_length=5) == 404
    await r.close()


async def test_handle_stream_does_not_trust_a_lying_length() -> None:
    r = WebhookReceiver(max_body=100)
    reads = 0
    closed = False

    async def endless() -> AsyncIterator[bytes]:
        nonlocal reads, closed
        try:
            while reads < 1000:  # bounded, so a broken limit fails instead of hanging
                reads += 1
                yield b"x" * 30
        finally:
            closed = True

    assert await r.handle_stream(r.token, endless(), content_length=10) == 413
    assert reads == 4  # stopped at the first chunk past the limit
    assert closed
    assert r.stats.rejected["too_large"] == 1
    await r.close()


# -- real HTTP against the own server ------------------------------------------------------


@pytest.mark.integration
async def test_right_token_releases_watcher_after_confirmation(
    receiver: WebhookReceiver, api: FakeAPI, session: aiohttp.ClientSession
) -> None:
    assert receiver.port is not None and receiver.port > 0
    assert receiver.callback_url == (
        f"http://127.0.0.1:{receiver.port}/symbl/webhooks/{receiver.token}"
    )
    api.gate = asyncio.Event()
    watch = receiver.watch("job-1")
    assert await post(session, receiver.callback_url, body("job-1", "completed")) == 200
    # Answered before the confirmation: the gate still holds it.
    await asyncio.wait_for(api.called.wait(), WAIT)
    assert not watch.terminal
    assert watch.status is None
    api.gate.set()
    assert await watch.wait(WAIT) is COMPLETED
    assert watch.done.is_set()
    assert api.calls == ["job-1"]
    assert receiver.stats.accepted == 1
    assert receiver.stats.confirmations == 1


@pytest.mark.integration
async def test_id_key_is_accepted_over_http(
    receiver: WebhookReceiver, session: aiohttp.ClientSession
) -> None:
    watch = receiver.watch("job-2")
    assert await post(session, receiver.callback_url, body("job-2", "failed", key="id")) == 200
    receiver_status = await watch.wait(WAIT)
    assert receiver_status is COMPLETED  # the API's word wins: FakeAPI says completed
    assert receiver.stats.confirmation_mismatches == 1


@pytest.mark.integration
async def test_wrong_token_and_other_paths_get_404(
    receiver: WebhookReceiver, api: FakeAPI, session: aiohttp.ClientSession
) -> None:
    base = f"http://127.0.0.1:{receiver.port}"
    watch = receiver.watch("j")
    payload = body("j", "completed")
    assert await post(session, f"{base}/symbl/webhooks/{'A' * 43}", payload) == 404
    assert await post(session, f"{base}/symbl/webhooks/{receiver.token[:-1]}", payload) == 404
    assert await post(session, f"{base}/symbl/webhooks/%C3%A9t%C3%A9", payload) == 404
    assert await post(session, f"{base}/symbl/webhooks", payload) == 404
    assert await post(session, f"{base}/symbl/webhooks/", payload) == 404
    assert await post(session, f"{base}/other/{receiver.token}", payload) == 404
    assert await post(session, f"{receiver.callback_url}/extra", payload) == 404
    assert await post(session, f"{base}/", payload) == 404
    assert receiver.stats.rejected["bad_token"] == 3  # the rest never reached it
    assert not watch.terminal
    assert api.calls == []


@pytest.mark.integration
async def test_body_over_limit_with_honest_length_gets_413(
    receiver: WebhookReceiver, session: aiohttp.ClientSession
) -> None:
    watch = receiver.watch("j")
    padded = json.dumps({"jobId": "j", "status": "completed", "pad": "x" * 5000}).encode()
    async with session.post(receiver.callback_url, data=padded) as response:
        assert response.request_info.headers.get("Content-Length") == str(len(padded))
        assert response.status == 413
    # Just under the limit passes.
    small = json.dumps({"jobId": "j", "status": "in_progress", "pad": "x" * 3900}).encode()
    assert len(small) <= 4096
    assert await post(session, receiver.callback_url, small) == 200
    assert receiver.stats.rejected["too_large"] == 1
    assert watch.status is IN_PROGRESS


@pytest.mark.integration
async def test_chunked_body_over_limit_gets_413(
    receiver: WebhookReceiver, api: FakeAPI, session: aiohttp.ClientSession
) -> None:
    watch = receiver.watch("j")
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b'{"jobId": "j", "status": "completed", "pad": "'
        for _ in range(16):
            sent += 1024
            yield b"x" * 1024
        yield b'"}'

    async with session.post(receiver.callback_url, data=chunks()) as response:
        assert response.request_info.headers.get("Transfer-Encoding") == "chunked"
        assert "Content-Length" not in response.request_info.headers
        assert response.status == 413
    assert receiver.stats.rejected["too_large"] == 1
    assert api.calls == []
    assert not watch.terminal

    async def small_chunks() -> AsyncIterator[bytes]:
        yield b'{"jobId": "j", '
        yield b'"status": "in_progress"}'

    assert await post(session, receiver.callback_url, small_chunks()) == 200
    assert watch.status is IN_PROGRESS


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "invalid_body"),
        (b"[1, 2]", "invalid_body"),
        (b'"completed"', "invalid_body"),
        (b'{"status": "completed"}', "invalid_job_id"),
        (b'{"jobId": "j"}', "invalid_status"),
    ],
)
@pytest.mark.integration
async def test_bad_bodies_get_400(
    receiver: WebhookReceiver,
    api: FakeAPI,
    session: aiohttp.ClientSession,
    raw: bytes,
    reason: str,
) -> None:
    watch = receiver.watch("j")
    assert await post(session, receiver.callback_url, raw) == 400
    assert receiver.stats.rejected == {reason: 1}
    assert watch.status is None
    assert api.calls == []


@pytest.mark.integration
async def test_unknown_job_is_acknowledged_and_ignored(
    receiver: WebhookReceiver, api: FakeAPI, session: aiohttp.ClientSession
) -> None:
    other = receiver.watch("mine")
    assert await post(session, receiver.callback_url, body("stranger", "completed")) == 200
    assert receiver.stats.unknown_jobs == 1
    assert receiver.stats.accepted == 0
    assert api.calls == []  # no request spent on a job nobody asked about
    assert not receiver.is_watching("stranger")
    assert not other.terminal


@pytest.mark.integration
async def test_duplicates_are_dropped_and_counted(
    receiver: WebhookReceiver, api: FakeAPI, session: aiohttp.ClientSession
) -> None:
    watch = receiver.watch("j")
    for _ in range(3):
        assert await post(session, receiver.callback_url, body("j", "in_progress")) == 200
    assert receiver.stats.accepted == 1
    assert receiver.stats.duplicates == 2
    assert await post(session, receiver.callback_url, body("j", "completed")) == 200
    assert await watch.wait(WAIT) is COMPLETED
    assert await post(session, receiver.callback_url, body("j", "completed")) == 200
    assert receiver.stats.duplicates == 3
    assert api.calls == ["j"]


@pytest.mark.integration
async def test_out_of_order_never_moves_backwards(
    receiver: WebhookReceiver, api: FakeAPI, session: aiohttp.ClientSession
) -> None:
    watch = receiver.watch("j")
    api.gate = asyncio.Event()
    assert await post(session, receiver.callback_url, body("j", "completed")) == 200
    # While the end is being confirmed, a late in_progress is stale.
    assert await post(session, receiver.callback_url, body("j", "in_progress")) == 200
    assert receiver.stats.stale == 1
    api.gate.set()
    assert await watch.wait(WAIT) is COMPLETED
    for late in ("in_progress", "scheduled"):
        assert await post(session, receiver.callback_url, body("j", late)) == 200
    assert watch.status is COMPLETED
    assert receiver.stats.stale == 3

    # Without any end: in_progress then scheduled stays in_progress.
    other = receiver.watch("k")
    assert await post(session, receiver.callback_url, body("k", "in_progress")) == 200
    assert await post(session, receiver.callback_url, body("k", "scheduled")) == 200
    assert other.status is IN_PROGRESS
    assert receiver.stats.stale == 4


@pytest.mark.integration
async def test_completed_webhook_is_not_trusted_when_api_says_in_progress(
    api: FakeAPI, session: aiohttp.ClientSession
) -> None:
    # Without re-confirmation, so that the later webhook is what finishes it (the
    # repeats are tested in test_reconfirm.py).
    async with WebhookReceiver(confirm=api, reconfirm_tries=0) as receiver:
        await _not_trusted_while_api_says_in_progress(receiver, api, session)
    assert_counts_add_up(receiver)


async def _not_trusted_while_api_says_in_progress(
    receiver: WebhookReceiver, api: FakeAPI, session: aiohttp.ClientSession
) -> None:
    api.statuses["j"] = IN_PROGRESS
    watch = receiver.watch("j")
    assert await post(session, receiver.callback_url, body("j", "completed")) == 200
    await api.next_answer()
    assert not watch.terminal
    assert await watch.wait(0) is None
    assert watch.status is IN_PROGRESS  # the API's status is recorded
    assert receiver.stats.confirmation_mismatches == 1
    # A later webhook, once the API agrees, finishes it.
    api.statuses["j"] = COMPLETED
    assert await post(session, receiver.callback_url, body("j", "completed")) == 200
    assert await watch.wait(WAIT) is COMPLETED
    assert api.calls == ["j", "j"]
    assert receiver.stats.accepted == 2


@pytest.mark.integration
async def test_concurrent_duplicate_ends_cause_one_confirmation(
    receiver: WebhookReceiver, api: FakeAPI, session: aiohttp.ClientSession
) -> None:
    api.gate = asyncio.Event()
    watch = receiver.watch("j")
    statuses = await asyncio.gather(
        *(post(session, receiver.callback_url, body("j", "completed")) for _ in range(25))
    )
    assert statuses == [200] * 25
    await asyncio.wait_for(api.called.wait(), WAIT)
    api.gate.set()
    assert await watch.wait(WAIT) is COMPLETED
    assert api.calls == ["j"]
    assert receiver.stats.accepted == 1
    assert receiver.stats.duplicates == 24


@pytest.mark.integration
async def test_confirm_raising_does_not_release_or_crash(
    api: FakeAPI, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    # Without re-confirmation: the next webhook is what confirms again here.
    async with WebhookReceiver(confirm=api, reconfirm_tries=0) as receiver:
        await _raising_confirm(receiver, api, session, caplog)
    assert_counts_add_up(receiver)


async def _raising_confirm(
    receiver: WebhookReceiver,
    api: FakeAPI,
    session: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    api.error = SymblConnectionError("service unreachable")
    watch = receiver.watch("j")
    assert await post(session, receiver.callback_url, body("j", "completed")) == 200
    await api.next_answer()
    assert not watch.terminal
    assert receiver.stats.confirmation_errors == 1
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "j" in warnings[0].getMessage()
    assert "SymblConnectionError" in warnings[0].getMessage()
    # Still serving; the next webhook is confirmed again and succeeds.
    api.error = None
    assert await post(session, receiver.callback_url, body("j", "completed")) == 200
    assert await watch.wait(WAIT) is COMPLETED
    assert api.calls == ["j", "j"]
    assert receiver.token not in caplog.text


@pytest.mark.integration
async def test_webhook_before_watch_is_still_seen(
    receiver: WebhookReceiver, api: FakeAPI, session: aiohttp.ClientSession
) -> None:
    assert await post(session, receiver.callback_url, body("early", "in_progress")) == 200
    assert await post(session, receiver.callback_url, body("early", "completed")) == 200
    assert await post(session, receiver.callback_url, body("early", "scheduled")) == 200
    assert receiver.stats.unknown_jobs == 3
    assert receiver.status_of("early") is COMPLETED  # unconfirmed hint, remembered
    assert api.calls == []
    watch = receiver.watch("early")  # the submit answered only now
    assert await watch.wait(WAIT) is COMPLETED
    assert api.calls == ["early"]

    assert await post(session, receiver.callback_url, body("early2", "in_progress")) == 200
    assert receiver.watch("early2").status is IN_PROGRESS


@pytest.mark.integration
async def test_all_cleaned_up_on_exit(api: FakeAPI, session: aiohttp.ClientSession) -> None:
    api.gate = asyncio.Event()  # never opened: the confirmation hangs
    async with WebhookReceiver(confirm=api) as r:
        url = r.callback_url
        watch = r.watch("j")
        waiter = asyncio.create_task(watch.wait(None))
        assert await post(session, url, body("j", "completed")) == 200
        await asyncio.wait_for(api.called.wait(), WAIT)
    assert r.closed
    assert api.cancelled
    with pytest.raises(ClientClosedError):
        await waiter
    with pytest.raises(aiohttp.ClientConnectionError):
        await post(session, url, body("j", "completed"))
    with pytest.raises(ClientClosedError):
        r.watch("k")
    with pytest.raises(ClientClosedError):
        await r.start()
    await r.close()  # twice is fine


@pytest.mark.integration
async def test_start_twice_is_refused() -> None:
    async with WebhookReceiver() as r:
        with pytest.raises(RuntimeError, match="already started"):
            await r.start()


@pytest.mark.integration
async def test_nothing_logged_contains_the_token(
    api: FakeAPI, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with WebhookReceiver(confirm=api) as r:
        watch = r.watch("j")
        await post(session, r.callback_url, body("j", "completed"))
        await post(session, r.callback_url, b"{")
        await post(session, r.callback_url[:-2] + "zz", b"{}")
        await watch.wait(WAIT)
        token = r.token
    assert caplog.records  # debug lines were written...
    assert token not in caplog.text  # ...none with the token (no access log either)


# -- state rules without HTTP -------------------------------------------------------------


async def test_confirmation_off_trusts_terminal_webhooks() -> None:
    r = WebhookReceiver()
    watch = r.watch("j")
    assert await r.handle(r.token, body("j", "failed")) == 200
    assert watch.terminal
    assert await watch.wait(0) is FAILED
    assert r.stats.confirmations == 0
    await r.close()


async def test_confirm_may_return_job_info() -> None:
    async def get_job(job_id: str) -> JobInfo:
        return JobInfo(id=job_id, status=FAILED)

    r = WebhookReceiver(confirm=get_job)
    watch = r.watch("j")
    await r.handle(r.token, body("j", "completed"))
    assert await watch.wait(WAIT) is FAILED
    assert r.stats.confirmation_mismatches == 1
    await r.close()


async def test_note_status_feeds_without_confirmation(api: FakeAPI) -> None:
    r = WebhookReceiver(confirm=api)
    watch = r.watch("j")
    r.note_status("j", IN_PROGRESS)
    assert watch.status is IN_PROGRESS
    r.note_status("j", "scheduled")
    assert watch.status is IN_PROGRESS
    r.note_status("j", COMPLETED)
    assert await watch.wait(0) is COMPLETED
    r.note_status("j", FAILED)  # terminal is final
    assert watch.status is COMPLETED
    # A poll learned the end of a job not yet watched: the late watch is done at once.
    r.note_status("polled", FAILED)
    assert r.watch("polled").terminal
    assert api.calls == []
    await r.close()


async def test_note_status_releases_while_confirmation_is_in_flight(api: FakeAPI) -> None:
    api.gate = asyncio.Event()
    r = WebhookReceiver(confirm=api)
    watch = r.watch("j")
    await r.handle(r.token, body("j", "completed"))
    await asyncio.wait_for(api.called.wait(), WAIT)
    r.note_status("j", COMPLETED)
    assert await watch.wait(0) is COMPLETED
    api.gate.set()
    await api.next_answer()
    assert watch.status is COMPLETED
    await r.close()


async def test_wait_for_timeout_keeps_the_registration(api: FakeAPI) -> None:
    r = WebhookReceiver(confirm=api)
    with pytest.raises(WaitTimeoutError) as info:
        await r.wait_for("j", timeout=0)
    assert info.value.job_id == "j"
    assert r.is_watching("j")
    await r.handle(r.token, body("j", "in_progress"))
    with pytest.raises(WaitTimeoutError) as info:
        await r.wait_for("j", timeout=0)
    assert info.value.last_status == "in_progress"
    await r.handle(r.token, body("j", "completed"))
    assert await r.wait_for("j", timeout=WAIT) is COMPLETED
    # Retired, but its end is remembered: waiting again answers at once, no new request.
    assert not r.is_watching("j")
    assert await r.wait_for("j", timeout=0) is COMPLETED
    assert api.calls == ["j"]
    await r.close()


async def test_watch_returns_the_same_object_and_forget_drops_it(api: FakeAPI) -> None:
    api.gate = asyncio.Event()
    r = WebhookReceiver(confirm=api)
    watch = r.watch("j")
    assert r.watch("j") is watch
    await r.handle(r.token, body("j", "completed"))
    await asyncio.wait_for(api.called.wait(), WAIT)
    r.forget("j")
    await api.next_answer()
    assert api.cancelled  # the in-flight confirmation was cancelled
    assert not r.is_watching("j")
    assert r.status_of("j") is None
    assert r.watch("j") is not watch
    await r.close()


async def test_recent_events_are_bounded(api: FakeAPI) -> None:
    r = WebhookReceiver(confirm=api, max_recent=2)
    for job_id in ("a", "b", "c"):
        await r.handle(r.token, body(job_id, "in_progress"))
    assert r.status_of("a") is None  # evicted, oldest first
    assert r.status_of("b") is IN_PROGRESS
    assert r.status_of("c") is IN_PROGRESS
    assert r.watch("a").status is None
    await r.close()


# -- the aiohttp adapter ------------------------------------------------------------------


async def test_routes_mounted_into_an_existing_application(
    api: FakeAPI, session: aiohttp.ClientSession
) -> None:
    async def health(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    receiver = WebhookReceiver(public_url="https://hooks.example.net", confirm=api)
    app = web.Application()
    app.router.add_get("/health", health)
    receiver.add_routes(app)
    app.add_routes(receiver.routes(prefix="/elsewhere/"))
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        base = f"http://127.0.0.1:{port}"
        assert receiver.callback_url == (
            f"https://hooks.example.net/symbl/webhooks/{receiver.token}"
        )
        watch = receiver.watch("j")
        url = f"{base}/symbl/webhooks/{receiver.token}"
        assert await post(session, url, body("j", "in_progress")) == 200
        assert watch.status is IN_PROGRESS
        alt = f"{base}/elsewhere/{receiver.token}"
        assert await post(session, alt, body("j", "completed")) == 200
        assert await watch.wait(WAIT) is COMPLETED
        assert await post(session, f"{base}/symbl/webhooks/nope", b"{}") == 404
        async with session.get(f"{base}/health") as response:
            assert await response.text() == "ok"
    finally:
        await runner.cleanup()
        await receiver.close()
    assert_counts_add_up(receiver)


def test_bad_route_prefix_is_refused() -> None:
    with pytest.raises(ValidationError):
        WebhookReceiver().routes(prefix="no-slash")


def test_fastapi_module_imports_without_fastapi_and_explains(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "fastapi", None)  # as if not installed
    from symbl_async.webhooks._fastapi import fastapi_router

    with pytest.raises(ImportError, match=r"pip install 'symbl_async\[fastapi\]'"):
        fastapi_router(WebhookReceiver())


async def test_body_broken_off_is_counted_and_reraised() -> None:
    r = WebhookReceiver()

    async def broken() -> AsyncIterator[bytes]:
        yield b'{"jobId": '
        raise ConnectionResetError("peer went away")

    with pytest.raises(ConnectionResetError):
        await r.handle_stream(r.token, broken())
    assert r.stats.rejected == {"incomplete_body": 1}
    assert_counts_add_up(r)
    await r.close()


async def test_a_waker_is_resolved_when_the_end_is_confirmed_or_the_receiver_closes() -> None:
    # One future for a wait that also sleeps on other things (a hybrid safety poll).
    receiver = WebhookReceiver()
    loop = asyncio.get_running_loop()
    ended, kept = receiver.watch("a"), receiver.watch("b")
    on_end: asyncio.Future[object] = loop.create_future()
    forgotten: asyncio.Future[object] = loop.create_future()
    ended.add_waker(on_end)
    ended.add_waker(forgotten)
    ended.remove_waker(forgotten)
    receiver.note_status("a", JobStatus.IN_PROGRESS)
    assert not on_end.done()  # not an end
    receiver.note_status("a", JobStatus.COMPLETED)
    assert on_end.done() and on_end.result() is None
    assert not forgotten.done()
    late: asyncio.Future[object] = loop.create_future()
    ended.add_waker(late)  # already ended: at once
    assert late.done()
    on_close: asyncio.Future[object] = loop.create_future()
    kept.add_waker(on_close)
    await receiver.close()
    assert on_close.done()
    with pytest.raises(ClientClosedError):
        await kept.wait(0)
