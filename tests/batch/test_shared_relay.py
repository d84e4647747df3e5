"""A shared batch hears the webhooks of jobs it adopted from a worker that is gone.

Two workers in this test process, each with its own receiver and a relay through the
ledger's PostgreSQL database, the batch's one token; a load balancer stands for a shared
public URL: the first worker's jobs call the second's receiver. The first worker submits
every item and leaves; the second adopts them: their ends come to it as webhooks, as fast
as any of its own (before, adopted jobs were always polled).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

from _polling import eventually

from symbl_async.batch._api import process_many
from symbl_async.batch._inputs import UrlSource
from symbl_async.batch._ledger import PostgresStore
from symbl_async.batch._rerun import shared_webhook_token
from symbl_async.batch._results import BatchResult
from symbl_async.batch._slots import JobSlots
from symbl_async.client._client import SymblClient
from symbl_async.client._waiting import PollSchedule
from symbl_async.emulator import Emulator
from symbl_async.webhooks import PostgresRelay, WebhookReceiver

SCALE = 2000.0
ITEMS = 3


def url(i: int) -> UrlSource:
    # ~1.5 s of processing here: still running when the first worker is gone.
    return UrlSource(f"https://media.test/relay{i}.mp3?emulator_duration=12000", "audio",
                     duration=12000.0)


@contextlib.asynccontextmanager
async def worker(emu: Emulator, pg_url: str, token: str,
                 **receiver: Any) -> AsyncIterator[tuple[SymblClient, WebhookReceiver]]:
    hooks = WebhookReceiver(token=token, relay=PostgresRelay(pg_url),
                            reconfirm_delay=1.0 / SCALE, **receiver)
    async with hooks, SymblClient(app_id=emu.app_id, app_secret=emu.app_secret,
                                  base_url=emu.url, poll=PollSchedule(time_scale=SCALE),
                                  receiver=hooks) as client:
        assert hooks.relay is not None
        await hooks.relay.start()
        yield client, hooks


async def test_an_adopted_job_is_heard_through_the_relay(pg_url: str) -> None:
    token = await shared_webhook_token(pg_url)
    assert await shared_webhook_token(pg_url) == token  # every worker gets the same
    sources = [url(i) for i in range(ITEMS)]
    async with Emulator(time_scale=SCALE, concurrency_limit=5) as emu, \
            worker(emu, pg_url, token) as (second, second_hooks):
        parts = urlsplit(second_hooks.callback_url)
        public = f"{parts.scheme}://{parts.netloc}"  # the load balancer
        async with worker(emu, pg_url, token, public_url=public) as (first, _):
            run = process_many(first, sources, ledger=pg_url, slots=JobSlots(5),
                               wait_mode="webhook", lease=1.0)

            async def submitted() -> bool:
                store = await PostgresStore.connect(pg_url)
                try:
                    return (await store.counts())["submitted"] == ITEMS
                finally:
                    await store.aclose()

            consumer = asyncio.ensure_future(_collect(run))
            await eventually(submitted, timeout=30)
            run.stop()  # the first worker is gone; its jobs run on
            assert await consumer == []
        # The second worker has no input of its own: it adopts the first one's jobs.
        again = process_many(second, [], ledger=pg_url, slots=JobSlots(5),
                             wait_mode="hybrid", lease=1.0)
        results = await asyncio.wait_for(_collect(again), 60)
        stats = emu.stats()
        heard = second_hooks.stats
    store = await PostgresStore.connect(pg_url)
    try:
        counts = await store.counts()
    finally:
        await store.aclose()
    assert counts["fetched"] == ITEMS and stats["jobs_submitted"] == ITEMS, (counts, again.summary)
    assert results == []  # not this worker's inputs: the first worker's report them
    # Each adopted job's end was heard as a webhook (directly, or from the relay's table),
    # not found by polling alone.
    assert heard.accepted + heard.relayed_in >= ITEMS, heard


async def _collect(run: Any) -> list[BatchResult]:
    async with run:
        return [result async for result in run]
