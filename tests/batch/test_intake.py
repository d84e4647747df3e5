"""How the engine reads its input: a synchronous input a group at a time (its files checked
together in a thread, each keeping its own verdict), and the next group read while one is
recorded in the ledger, within the look-ahead plus that group."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from _cli_support import write_wav
from _fake_client import InstantClient

from symbl_async.batch._api import BatchRun, process_many
from symbl_async.batch._inputs import UrlSource
from symbl_async.batch._ledger import MemoryStore
from symbl_async.batch._ledger._states import LedgerItem, Pending
from symbl_async.batch._results import BatchResult
from symbl_async.core._jobs import Job
from symbl_async.core._options import ProcessingOptions

LOOKAHEAD = 4


class FileClient(InstantClient):
    """The instant client, taking file submits too (without reading them)."""

    async def submit(  # type: ignore[override]
        self, kind: str, *, file: Any = None, url: str | None = None,
        options: ProcessingOptions | None = None, media_duration: float | None = None,
        **kwargs: Any,
    ) -> Job:
        where = os.fspath(file) if file is not None else str(url)
        return await self.submit_audio_url(where, options=options,
                                           media_duration=media_duration)


class HeldStore(MemoryStore):
    """A ledger whose first recording of a group waits until released."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.holding = asyncio.Event()
        self.groups = 0

    async def add_pending(self, items: Sequence[Pending]) -> list[LedgerItem]:
        self.groups += 1
        if self.groups == 1:
            self.holding.set()
            await self.release.wait()
        return await super().add_pending(items)


async def collect(run: BatchRun) -> list[BatchResult]:
    async with run:
        return sorted([r async for r in run], key=lambda r: r.index or 0)


async def test_the_next_inputs_are_read_while_a_group_is_recorded() -> None:
    read: list[int] = []
    beyond = asyncio.Event()

    def inputs() -> Iterator[UrlSource]:
        for i in range(12):
            read.append(i)
            if len(read) > LOOKAHEAD:
                beyond.set()
            yield UrlSource(f"https://media.test/r{i}.mp3", "audio", duration=60.0 + i)

    store = HeldStore()
    async with InstantClient() as client:
        run = process_many(client, inputs(), ledger=store, lookahead=LOOKAHEAD,
                           max_concurrent_jobs=2)
        results = asyncio.ensure_future(collect(run))
        try:
            await asyncio.wait_for(store.holding.wait(), 30)
            # The first group is held in its recording: the intake reads past it anyway.
            await asyncio.wait_for(beyond.wait(), 30)
            assert store.groups == 1 and not store.release.is_set()
        finally:
            store.release.set()
        done = await results
    assert [r.index for r in done] == list(range(12))
    assert [r.status for r in done] == ["fetched"] * 12
    assert client.submits == 12


async def test_files_checked_in_a_group_keep_each_its_own_verdict(tmp_path: Path) -> None:
    good = []
    for i in range(3):
        good.append(tmp_path / f"call{i}.wav")
        write_wav(good[-1], 1 + i)
    noise = tmp_path / "noise.mp4"  # a WAV named as a video: refused
    write_wav(noise, 1)
    gone = tmp_path / "gone.wav"
    inputs = [good[0], noise, good[1], gone, good[2], good[0],
              "https://media.test/u.mp3"]
    async with FileClient() as client:
        done = await collect(process_many(client, inputs, max_concurrent_jobs=2))
    assert [r.index for r in done] == list(range(7))
    assert [r.status for r in done] == ["fetched", "failed", "fetched", "failed", "fetched",
                                        "fetched", "fetched"]
    assert [r.duplicate for r in done] == [False] * 5 + [True, False]
    assert "noise.mp4" in (done[1].error or "") and "gone.wav" in (done[3].error or "")
    assert done[0].key == done[5].key and len({done[i].key for i in (0, 2, 4, 6)}) == 4
    assert client.submits == 4  # three files (one named twice) and the URL
