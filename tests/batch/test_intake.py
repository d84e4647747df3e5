"""How the engine reads its input: a synchronous input a group at a time (its files checked
together in a thread, each keeping its own verdict), an asynchronous one an input at a
time."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from _cli_support import write_wav
from _fake_client import InstantClient

from symbl_async.batch._api import BatchRun, process_many
from symbl_async.batch._inputs import UrlSource
from symbl_async.batch._results import BatchResult
from symbl_async.core._jobs import Job
from symbl_async.core._options import ProcessingOptions

LOOKAHEAD = 4


class FileClient(InstantClient):
    """The instant client, taking file submits too (without reading them)."""

    async def submit(
        self, kind: str, *, file: Any = None, url: str | None = None,
        options: ProcessingOptions | None = None, media_duration: float | None = None,
        **kwargs: Any,
    ) -> Job:
        where = os.fspath(file) if file is not None else str(url)
        return await self.submit_audio_url(where, options=options,
                                           media_duration=media_duration)


async def collect(run: BatchRun) -> list[BatchResult]:
    async with run:
        return sorted([r async for r in run], key=lambda r: r.index or 0)


async def test_an_asynchronous_input_is_not_held_back_for_the_next_one() -> None:
    # A service's queue: its next input comes when it comes. The first is processed and
    # reported meanwhile (a synchronous input is read a group at a time; this is not).
    more = asyncio.Event()

    async def inputs() -> AsyncIterator[UrlSource]:
        yield UrlSource("https://media.test/a0.mp3", "audio", duration=60.0)
        await more.wait()
        for i in range(1, 3):
            yield UrlSource(f"https://media.test/a{i}.mp3", "audio", duration=60.0)

    client = InstantClient()
    async with client:
        run = process_many(client, inputs(), lookahead=LOOKAHEAD, max_concurrent_jobs=2)
        async with run:
            first = await asyncio.wait_for(anext(run), 30)
            assert first.index == 0 and first.status == "fetched"
            more.set()
            rest = [r async for r in run]
    assert sorted(r.index or 0 for r in rest) == [1, 2]
    assert client.submits == 3


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
    client = FileClient()
    async with client:
        done = await collect(process_many(client, inputs, max_concurrent_jobs=2))
    assert [r.index for r in done] == list(range(7))
    assert [r.status for r in done] == ["fetched", "failed", "fetched", "failed", "fetched",
                                        "fetched", "fetched"]
    assert [r.duplicate for r in done] == [False] * 5 + [True, False]
    assert "noise.mp4" in (done[1].error or "") and "gone.wav" in (done[3].error or "")
    assert done[0].key == done[5].key and len({done[i].key for i in (0, 2, 4, 6)}) == 4
    assert client.submits == 4  # three files (one named twice) and the URL
