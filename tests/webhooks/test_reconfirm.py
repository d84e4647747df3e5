"""Confirmations that lag are asked again (bounded); a receiver's token can be given.

The confirm functions here are scripted: they answer ``in_progress`` (or raise) a given
number of times, then ``completed``, so the lag is exact and nothing depends on time.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets

import aiohttp
import pytest

from symbl_async.core._jobs import JobStatus
from symbl_async.errors import ClientClosedError, SymblConnectionError, ValidationError
from symbl_async.webhooks._receiver import WebhookReceiver

WAIT = 10.0  # upper bound for things that should happen at once; never slept
FAST = 0.001  # backoff of the repeats: the test is about how many, not how long


class LaggingAPI:
    """``GET /v1/job`` that answers ``lag`` (a status, or an exception) ``times`` times,
    then ``completed``."""

    def __init__(self, times: int, lag: JobStatus | Exception = JobStatus.IN_PROGRESS) -> None:
        self.times = times
        self.lag = lag
        self.calls = 0
        self.answered = asyncio.Event()  # set after every answer; cleared by the test

    async def __call__(self, job_id: str) -> JobStatus:
        self.calls += 1
        try:
            if self.calls <= self.times:
                if isinstance(self.lag, Exception):
                    raise self.lag
                return self.lag
            return JobStatus.COMPLETED
        finally:
            self.answered.set()

    async def answers(self, count: int) -> None:
        while self.calls < count:
            self.answered.clear()
            await asyncio.wait_for(self.answered.wait(), WAIT)


def body(job_id: str, status: str) -> bytes:
    return json.dumps({"jobId": job_id, "status": status}).encode()


@pytest.mark.parametrize("lags", [1, 3, 6])
async def test_a_lagging_confirmation_is_asked_again_until_the_api_agrees(lags: int) -> None:
    api = LaggingAPI(lags)
    r = WebhookReceiver(confirm=api, reconfirm_tries=6, reconfirm_delay=FAST)
    watch = r.watch("j")
    # One completed webhook, never repeated: before, this stranded the job.
    assert await r.handle(r.token, body("j", "completed")) == 200
    assert await watch.wait(WAIT) is JobStatus.COMPLETED
    assert api.calls == lags + 1
    assert r.stats.confirmations == lags + 1
    assert r.stats.reconfirmations == lags
    assert r.stats.confirmation_mismatches == lags
    assert r.stats.accepted == 1
    await r.close()


async def test_a_failing_confirmation_is_asked_again_too(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    api = LaggingAPI(2, SymblConnectionError("reset"))
    r = WebhookReceiver(confirm=api, reconfirm_delay=FAST)
    watch = r.watch("j")
    await r.handle(r.token, body("j", "completed"))
    assert await watch.wait(WAIT) is JobStatus.COMPLETED
    assert api.calls == 3
    assert r.stats.confirmation_errors == 2
    messages = [rec.getMessage() for rec in caplog.records]
    assert len(messages) == 2
    assert all("SymblConnectionError" in m and "asking again in" in m for m in messages)
    await r.close()


async def test_re_confirmation_is_bounded_and_a_later_webhook_still_ends_the_job(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    api = LaggingAPI(3)
    r = WebhookReceiver(confirm=api, reconfirm_tries=2, reconfirm_delay=FAST)
    watch = r.watch("j")
    await r.handle(r.token, body("j", "completed"))
    await api.answers(3)
    # The third answer was the last try: applied, then the task gave up in that step.
    assert not watch.terminal
    assert watch.status is JobStatus.IN_PROGRESS
    assert "after 3 confirmation(s)" in caplog.text
    # A duplicate while confirming is dropped; here nothing is confirming any more, so a
    # new completed webhook is accepted and confirmed (the API agrees by now).
    assert await r.handle(r.token, body("j", "completed")) == 200
    assert await watch.wait(WAIT) is JobStatus.COMPLETED
    assert api.calls == 4
    assert r.stats.accepted == 2 and r.stats.duplicates == 0
    await r.close()


async def test_webhooks_during_the_backoff_are_duplicates_and_forget_cancels_it() -> None:
    api = LaggingAPI(1)
    r = WebhookReceiver(confirm=api, reconfirm_delay=1000.0)  # the repeat never comes
    watch = r.watch("j")
    await r.handle(r.token, body("j", "completed"))
    await api.answers(1)
    assert await r.handle(r.token, body("j", "completed")) == 200
    assert r.stats.duplicates == 1 and api.calls == 1
    r.forget("j")
    await r.close()  # awaits the cancelled backoff: no hang, no second call
    assert api.calls == 1 and not watch.terminal


async def test_close_during_the_backoff_wakes_waiters_without_a_second_call() -> None:
    api = LaggingAPI(5)
    r = WebhookReceiver(confirm=api, reconfirm_delay=1000.0)
    watch = r.watch("j")
    await r.handle(r.token, body("j", "completed"))
    await api.answers(1)
    waiter = asyncio.create_task(watch.wait(None))
    await r.close()
    with pytest.raises(ClientClosedError):
        await waiter
    assert api.calls == 1


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"reconfirm_tries": -1}, "reconfirm_tries"),
        ({"reconfirm_tries": 101}, "reconfirm_tries"),
        ({"reconfirm_tries": True}, "reconfirm_tries"),
        ({"reconfirm_tries": 1.5}, "reconfirm_tries"),
        ({"reconfirm_delay": 0}, "reconfirm_delay"),
        ({"reconfirm_delay": -1.0}, "reconfirm_delay"),
        ({"reconfirm_delay": float("nan")}, "reconfirm_delay"),
        ({"reconfirm_delay": float("inf")}, "reconfirm_delay"),
        ({"reconfirm_delay": "1"}, "reconfirm_delay"),
        ({"token": "short"}, "token"),
        ({"token": "a" * 31}, "token"),
        ({"token": "a" * 257}, "token"),
        ({"token": "a" * 40 + "/x"}, "token"),
        ({"token": "a" * 40 + "?x"}, "token"),
        ({"token": "é" * 40}, "token"),
        ({"token": 1234}, "token"),
        ({"token": ""}, "token"),
    ],
)
def test_bad_settings_are_refused(settings: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        WebhookReceiver(**settings)  # type: ignore[arg-type]
    assert info.value.field == field
    token = settings.get("token")
    if isinstance(token, str) and len(token) >= 32:
        assert token not in str(info.value)  # a near-miss secret is not echoed


@pytest.mark.integration
async def test_a_given_token_lets_a_new_receiver_take_over_the_old_url() -> None:
    """A rerun of a batch: its jobs still call the old URL; a new receiver answers it."""
    token = secrets.token_urlsafe(32)
    api = LaggingAPI(0)
    async with aiohttp.ClientSession() as session:
        async with WebhookReceiver(token=token, confirm=api) as old:
            url = old.callback_url
            port = old.port
        assert port is not None
        # The old receiver is gone (a crash); a new one on the same address and token.
        async with WebhookReceiver(port=port, token=token, confirm=api) as new:
            assert new.callback_url == url and new.token == token
            watch = new.watch("j")
            async with session.post(url, data=body("j", "completed")) as answer:
                assert answer.status == 200
            assert await watch.wait(WAIT) is JobStatus.COMPLETED
            # Another receiver's (random) token gets nothing.
            other = WebhookReceiver()
            wrong = url.replace(token, other.token)
            async with session.post(wrong, data=body("j", "completed")) as answer:
                assert answer.status == 404
            await other.close()
        assert new.stats.accepted == 1 and new.stats.rejected["bad_token"] == 1


def test_a_given_token_never_appears_in_the_repr() -> None:
    token = secrets.token_urlsafe(32)
    r = WebhookReceiver(token=token, public_url="https://hooks.example.net")
    assert r.callback_url == f"https://hooks.example.net/symbl/webhooks/{token}"
    assert token not in repr(r)
