"""Uploads keep a loose cap scaled with their size (``client.submit_deadline``), tested
against a real local server that accepts the connection and then never reads
(``sock_read`` does not apply while a body is written). The stall timeout normally ends
such an upload first (``test_upload_progress.py``); the cap bounds how long any upload's
outcome can stay open, and cut off mid-body it created nothing."""

from __future__ import annotations

import asyncio
import time
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from symbl_async import (
    RetryPolicy,
    SubmitOutcomeUnknownError,
    SymblClient,
    SymblTimeoutError,
    Timeouts,
)
from symbl_async.batch._worker import _not_created

SIZE = 8 * 1024 * 1024  # more than loopback socket buffers hold, so the writer blocks


@pytest.fixture
async def deaf_server() -> AsyncIterator[tuple[str, asyncio.Event]]:
    """A TCP server that accepts connections and never reads nor answers."""
    accepted = asyncio.Event()
    writers: list[asyncio.StreamWriter] = []
    hold = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        accepted.set()
        await hold.wait()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", accepted
    finally:
        hold.set()
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()


def big_wav(path: Path) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(b"\0" * SIZE)
    return path


def test_upload_deadline_scales_with_size() -> None:
    t = Timeouts()
    assert (t.upload_floor, t.upload_min_throughput, t.upload_stall) == (120.0, 10_000.0, 60.0)
    assert t.upload_deadline(0) == 120.0
    assert t.upload_deadline(10_000_000) == 1120.0
    assert t.client_timeout(upload_size=10_000_000).total == 1120.0
    assert t.client_timeout().total == t.total  # ordinary calls keep theirs
    scaled = Timeouts(upload_floor=5, upload_min_throughput=1_000)
    assert scaled.upload_deadline(2_000) == 7.0
    assert Timeouts(upload_total=30).upload_deadline(10**12) == 30  # a fixed one wins
    assert Timeouts(upload_min_throughput=None).upload_deadline(10**12) is None


async def test_a_server_that_stops_reading_fails_the_upload_by_its_cap(
    deaf_server: tuple[str, asyncio.Event], tmp_path: Path
) -> None:
    url, accepted = deaf_server
    # Nothing else could end this upload: no total, no read timeout, no stall timeout;
    # only the upload's cap (0.5 s + 8 MiB at 100 MB/s, about 0.58 s).
    timeouts = Timeouts(
        connect=10,
        read=None,
        total=None,
        upload_stall=None,
        upload_floor=0.5,
        upload_min_throughput=100e6,
    )
    deadline = timeouts.upload_deadline(SIZE)
    assert deadline is not None and 0.5 < deadline < 0.6
    media = big_wav(tmp_path / "long.wav")
    async with SymblClient(
        access_token="fixed", base_url=url, timeouts=timeouts, retry=RetryPolicy(max_tries=1)
    ) as client:
        started = time.monotonic()
        with pytest.raises(SymblTimeoutError) as info:
            # The outer bound only turns a regression into a failure instead of a hang.
            await asyncio.wait_for(client.submit_audio_file(media), timeout=120)
        elapsed = time.monotonic() - started
    assert accepted.is_set()
    # The server read nothing, so the body never left whole: no job, safe to resend.
    assert not isinstance(info.value, SubmitOutcomeUnknownError) and _not_created(info.value)
    assert elapsed >= 0.5  # it waited for the cap, not less
