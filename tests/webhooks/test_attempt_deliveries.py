"""The attempt in the webhook URL: the receiver learns which job a submit attempt created."""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from typing import Any

import aiohttp
import pytest

from symbl_async.client._client import SymblClient
from symbl_async.client._waiting import PollSchedule
from symbl_async.core._options import ProcessingOptions
from symbl_async.core._webhook import ATTEMPT_PARAM, attempt_tag, with_attempt
from symbl_async.emulator import Emulator
from symbl_async.webhooks._receiver import WebhookReceiver

SCALE = 2000.0


def test_the_attempt_travels_as_a_short_tag_and_replaces_an_older_one() -> None:
    name = "ü" * 500  # the longest name, all 2-byte UTF-8: the tag stays 32 characters
    url = with_attempt("https://hooks.test/symbl/webhooks/tok?x=1", name)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    assert query == {"x": ["1"], ATTEMPT_PARAM: [attempt_tag(name)]}
    assert len(attempt_tag(name)) == 32 and attempt_tag(name) != attempt_tag(name + "x")
    again = with_attempt(url, "other")
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(again).query)[ATTEMPT_PARAM] == [
        attempt_tag("other")
    ]


@pytest.mark.integration
async def test_a_delivery_to_an_attempt_url_names_its_job() -> None:
    async with WebhookReceiver() as receiver, aiohttp.ClientSession() as session:
        url = with_attempt(receiver.callback_url, "item-1")
        body = json.dumps({"jobId": "job-1", "status": "in_progress"})
        waiter = asyncio.ensure_future(receiver.wait_job_for_attempt("item-1", timeout=30))
        async with session.post(url, data=body) as response:
            assert response.status == 200
        assert await waiter == "job-1"
        assert receiver.job_for_attempt("item-1") == "job-1"
        # A second job claimed for the same attempt never replaces the first.
        other = json.dumps({"jobId": "job-2", "status": "completed"})
        async with session.post(url, data=other) as response:
            assert response.status == 200
        assert receiver.job_for_attempt("item-1") == "job-1"
        # A wrong token teaches nothing; neither does a URL without the attempt.
        bad = url.replace(receiver.token, "x" * 43)
        async with session.post(with_attempt(bad, "item-2"), data=body) as response:
            assert response.status == 404
        async with session.post(receiver.callback_url, data=body) as response:
            assert response.status == 200
        assert receiver.job_for_attempt("item-2") is None
        assert await receiver.wait_job_for_attempt("item-2", timeout=0.01) is None


@pytest.mark.integration
async def test_closing_the_receiver_wakes_attempt_waiters() -> None:
    receiver = WebhookReceiver()
    await receiver.start()
    waiter = asyncio.ensure_future(receiver.wait_job_for_attempt("never", timeout=None))
    await asyncio.sleep(0)
    await receiver.close()
    assert await asyncio.wait_for(waiter, 30) is None


@pytest.mark.parametrize("drop", [False, True])
async def test_the_emulator_calls_the_url_with_its_query(drop: bool) -> None:
    # Submits through the client carry the attempt's URL; the emulator posts to it, query
    # included, so the receiver learns the job id (unless every delivery is dropped).
    config: dict[str, Any] = (
        {"webhook_drop_rate": 1.0} if drop else {"webhook_duplicate_rate": 1.0}
    )
    async with Emulator(time_scale=SCALE, **config) as emu, WebhookReceiver() as receiver, \
            SymblClient(app_id=emu.app_id, app_secret=emu.app_secret, base_url=emu.url,
                        poll=PollSchedule(time_scale=SCALE), receiver=receiver) as client:
        url = client.webhook_url_for("attempt-a")
        assert url is not None and attempt_tag("attempt-a") in url
        options = ProcessingOptions(name="attempt-a", webhook_url=url)
        job = await client.submit_audio_url(
            "https://media.test/a.mp3?emulator_duration=30", options=options
        )
        await client.wait(job, mode="poll")
        await emu.wait_idle()
        learned = await client.job_id_for_attempt("attempt-a", timeout=0 if drop else 30)
        assert client.webhook_token == receiver.token
    assert learned == (None if drop else job.job_id)


async def test_without_a_receiver_there_is_no_attempt_url() -> None:
    async with SymblClient(app_id="id", app_secret="secret") as client:
        assert client.webhook_url_for("a") is None and client.webhook_token is None
        assert await client.job_id_for_attempt("a", timeout=None) is None
