"""A shared batch as a service runs it: an input that never ends (a queue), on PostgreSQL.

The run must keep taking work while its input is open, say when each input is durably in the
shared backlog (the ``queued`` event a service answers its client on), and end when stopped.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from _polling import eventually

from symbl_async.batch._api import process_many
from symbl_async.batch._inputs import UrlSource
from symbl_async.batch._results import BatchEvent, BatchResult
from symbl_async.client._client import SymblClient
from symbl_async.client._waiting import PollSchedule
from symbl_async.emulator import Emulator

SCALE = 2000.0
WAIT = 60.0


def url(i: int) -> UrlSource:
    seconds = 60.0 * (1 + i % 4)
    return UrlSource(f"https://media.test/q{i}.mp3?emulator_duration={seconds:g}", "audio",
                     duration=seconds)


async def test_a_never_ending_input_keeps_the_shared_run_going_until_stopped(
    pg_url: str,
) -> None:
    queue: asyncio.Queue[UrlSource] = asyncio.Queue()
    events: list[BatchEvent] = []
    results: list[BatchResult] = []

    async def inputs() -> AsyncIterator[UrlSource]:
        while True:
            yield await queue.get()

    emu = Emulator(time_scale=SCALE, concurrency_limit=3)
    await emu.start()
    try:
        async with SymblClient(app_id=emu.app_id, app_secret=emu.app_secret, base_url=emu.url,
                               poll=PollSchedule(time_scale=SCALE)) as client:
            run = process_many(client, inputs(), ledger=pg_url, max_concurrent_jobs=3,
                               on_event=events.append, lease=5.0)

            async def consume() -> None:
                async with run:
                    async for result in run:
                        results.append(result)

            consumer = asyncio.create_task(consume())
            for i in range(5):
                queue.put_nowait(url(i))
            await eventually(lambda: len(results) == 5, timeout=WAIT)
            # The input is still open: the run waits for more instead of ending.
            assert run.summary is None and not consumer.done()
            queue.put_nowait(url(5))
            await eventually(lambda: len(results) == 6, timeout=WAIT)
            run.stop()
            await asyncio.wait_for(consumer, WAIT)
        assert run.summary is not None
        assert {r.status for r in results} == {"fetched"}
        queued = [e.key for e in events if e.kind == "queued"]
        assert sorted(queued) == sorted(r.key for r in results)
        # Each queued before its result.
        order = [(e.kind, e.key) for e in events if e.kind in ("queued", "result")]
        for key in queued:
            assert order.index(("queued", key)) < order.index(("result", key))
        stats = emu.stats()
        assert len(emu.jobs()) == 6 and not stats["duplicate_names"]
        assert stats["max_concurrent_jobs"] <= 3
    finally:
        await emu.close()
