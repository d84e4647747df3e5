"""A batch that runs for months keeps its memory flat: the engine's own collections are
bounded whatever the number of items that went through it (a service worker, an input that
never ends). Over a fake client and a SQLite ledger on disk, so that what grows with the
items is only the ledger's file."""

from __future__ import annotations

import asyncio
import collections
import gc
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path

from _fake_client import InstantClient
from _polling import eventually

from symbl_async.batch import _engine
from symbl_async.batch._api import process_many
from symbl_async.batch._inputs import UrlSource
from symbl_async.batch._ledger import MemoryLedger, MemoryStore
from symbl_async.batch._results import BatchResult
from symbl_async.batch._slots import JobSlots

ITEMS = 12_000


def url(i: int) -> UrlSource:
    return UrlSource(f"https://media.test/s{i}.mp3", "audio", duration=60.0 + i % 7)


async def test_a_service_worker_keeps_its_memory_flat(
    tmp_path: Path, monkeypatch: object
) -> None:
    queue: asyncio.Queue[UrlSource] = asyncio.Queue()

    async def inputs() -> AsyncIterator[UrlSource]:
        while True:
            yield await queue.get()

    import pytest

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    monkeypatch.setattr(_engine, "_SEEN_KEPT", 1000)  # forget sooner, to see it forget
    done: collections.Counter[str] = collections.Counter()
    heap: dict[int, int] = {}
    client = InstantClient(remember=False)
    async with client:
        run = process_many(client, inputs(), slots=JobSlots(20), ledger=tmp_path / "l.db",
                           lookahead=64)

        async def consume() -> None:
            async with run:
                async for result in run:
                    done[result.status] += 1  # counted, not kept: the test's own memory
                    if done.total() in (ITEMS // 4, ITEMS):
                        gc.collect()
                        heap[done.total()] = tracemalloc.get_traced_memory()[0]

        tracemalloc.start()
        consumer = asyncio.create_task(consume())
        try:
            for i in range(ITEMS):
                await queue.put(url(i))
                if queue.qsize() > 200:
                    await eventually(lambda: queue.qsize() < 100, timeout=60)
            await eventually(lambda: done.total() == ITEMS, timeout=300)
            engine = run._engine
            # What the engine keeps per item is bounded, not one entry per item ever seen.
            assert len(engine._seen) == 1000
            assert not engine._recovered and len(engine._awaiting) <= 64 + 2 * 20 + 16
            assert len(engine._live) == 0 and len(engine._window) == 0
            assert len(engine._delivery.failures) == 0
        finally:
            run.stop()
            await consumer
            tracemalloc.stop()
    assert done == {"fetched": ITEMS}
    assert client.submits == ITEMS  # one submit per item (every key is another)
    # From a quarter of the items to all of them: the heap did not grow with them.
    growth = heap[ITEMS] - heap[ITEMS // 4]
    assert growth < 2 * 2**20, f"{growth / 2**20:.1f} MB more after {ITEMS * 3 // 4} items"


async def test_a_shared_run_keeps_nothing_for_other_workers_items() -> None:
    # Items another worker's input named, adopted from a worker that is gone, are not kept
    # for an input of this worker that will never name them (months of them, in a service).
    ledger = MemoryLedger()
    gone = MemoryStore(ledger, shared=True)
    await gone.join(max_limit=10, lease=30.0)
    from symbl_async.batch._items import prepare_item, spec_of
    from symbl_async.batch._ledger import Pending

    items = [prepare_item(url(i), None) for i in range(5)]
    await gone.add_pending([Pending(i.key, i.label, i.name, i.duration, spec_of(i))
                            for i in items if not isinstance(i, BatchResult)])
    await gone.claim(5)
    await gone.leave()
    client = InstantClient()
    async with client:
        run = process_many(client, [url(99)], slots=JobSlots(10), lookup_grace=0,
                           ledger=MemoryStore(ledger, shared=True))
        async with run:
            results = [r async for r in run]
        assert [r.status for r in results] == ["fetched"]
        assert not run._engine._recovered
    counts = {state: n for state, n in (await gone.counts()).items() if n}
    assert counts == {"fetched": 6}
