"""Uploads over a slow uplink: judged by progress, and "not created" when cut off early.

A real aiohttp server on 127.0.0.1 reads upload bodies as each test tells it: slowly
(throttled), up to a point and then no more (a stall), or up to a point and then it
cuts the connection. Its socket's receive buffer is small, so the client feels each
read; the client's own kernel buffer still takes about 4 MiB on loopback, so bodies are
8 MiB, which is more than both hold. (The throttle is the server sleeping between reads:
that is how slowly it reads, not a wait for state.)
"""

from __future__ import annotations

import asyncio
import socket
import sys
import time
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import attrs
import pytest
from _cli_support import write_wav
from _polling import eventually
from aiohttp import web

from symbl_async import (
    RetryPolicy,
    SubmitOutcomeUnknownError,
    SymblClient,
    SymblConnectionError,
    SymblTimeoutError,
    Timeouts,
)
from symbl_async.batch._worker import _not_created
from symbl_async.transport import UploadProgress

SIZE = 8 * 1024 * 1024
ACCEPTED = {"conversationId": "5815170693595136", "jobId": "9b1deb4d-3b7d-4bad-9bdd"}


@attrs.define(eq=False)
class Reader:
    """How the server reads each upload, and what it saw."""

    read_size: int = 64 * 1024
    pause: float = 0.0  # between two reads
    stop_after: int | None = None  # stop reading (and hold) after this many bytes
    cut_after: int | None = None  # abort the connection after this many bytes...
    cuts: int = 1  # ...for this many requests
    received: list[int] = attrs.field(factory=list)  # bytes read, per request
    stopped: asyncio.Event = attrs.field(factory=asyncio.Event)
    stopped_at: float | None = None
    release: asyncio.Event = attrs.field(factory=asyncio.Event)
    done: int = 0  # requests whose handler ended (answered, or saw the connection go)
    peers: list[object] = attrs.field(factory=list)  # each request's client address


READER = web.AppKey("reader", Reader)


async def upload(request: web.Request) -> web.StreamResponse:
    reader = request.app[READER]
    try:
        return await _read_upload(request, reader)
    finally:
        reader.done += 1


async def _read_upload(request: web.Request, reader: Reader) -> web.StreamResponse:
    assert request.transport is not None
    reader.peers.append(request.transport.get_extra_info("peername"))
    n = len(reader.received)
    reader.received.append(0)
    while True:
        got = reader.received[n]
        if reader.cut_after is not None and n < reader.cuts and got >= reader.cut_after:
            assert request.transport is not None
            request.transport.abort()
            return web.Response(status=500)  # never reaches the client
        if reader.stop_after is not None and got >= reader.stop_after:
            reader.stopped_at = time.monotonic()
            reader.stopped.set()
            await reader.release.wait()
            return web.Response(status=500)
        chunk = await request.content.read(reader.read_size)
        if not chunk:
            break
        reader.received[n] += len(chunk)
        if reader.pause:
            await asyncio.sleep(reader.pause)  # the throttle: how slowly this server reads
    return web.json_response(ACCEPTED, status=201)


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, Reader]]:
    reader = Reader()
    app = web.Application()
    app[READER] = reader
    app.router.add_post("/v1/process/audio", upload)
    app.router.add_post("/v1/process/audio/url", upload)
    runner = web.AppRunner(app, shutdown_timeout=1)
    await runner.setup()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    sock.bind(("127.0.0.1", 0))
    await web.SockSite(runner, sock).start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", reader
    finally:
        reader.release.set()
        await runner.cleanup()


@pytest.fixture
def media(tmp_path: Path) -> Path:
    path = tmp_path / "long.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(b"\0" * (SIZE - 44))
    assert path.stat().st_size == SIZE
    return path


def client_for(url: str, timeouts: Timeouts, tries: int = 1) -> SymblClient:
    return SymblClient(
        access_token="fixed",
        base_url=url,
        timeouts=timeouts,
        retry=RetryPolicy(max_tries=tries, base=0.01),
    )


async def test_submits_keep_their_connection_for_the_next_request(
    server: tuple[str, Reader], tmp_path: Path
) -> None:
    # A submit's write waited for the kernel to see its last bytes acknowledged; on
    # loopback the answer carried that acknowledgement and came first, so aiohttp
    # cancelled the write and closed the connection: a new connection per submit.
    url, reader = server
    small = tmp_path / "short.wav"
    write_wav(small, 20.0)
    async with client_for(url, Timeouts()) as client:
        for _ in range(3):
            await client.submit_audio_url("https://media.example/a.mp3")
            await client.submit_audio_file(small)
    assert len(reader.peers) == 6 and reader.done == 6
    assert len(set(reader.peers)) == 1  # one connection, kept alive throughout


async def test_an_upload_cut_off_midway_created_nothing(
    server: tuple[str, Reader], media: Path
) -> None:
    url, reader = server
    reader.cut_after = 1024 * 1024
    progress = UploadProgress()
    async with client_for(url, Timeouts(upload_stall=30)) as client:
        with pytest.raises(SymblConnectionError) as info:
            await client.submit_audio_file(media, progress=progress)
    error = info.value
    assert not isinstance(error, SubmitOutcomeUnknownError)
    assert _not_created(error)  # the batch releases the slot and sends it again
    assert len(reader.received) == 1 and reader.received[0] < SIZE
    assert progress.total == SIZE and 0 < progress.sent < SIZE
    assert f"after {progress.sent} of {SIZE} bytes, so nothing was created" in str(error)


async def test_the_transport_resends_an_upload_cut_off_before_its_last_byte(
    server: tuple[str, Reader], media: Path
) -> None:
    url, reader = server
    reader.cut_after = 1024 * 1024  # the first request only
    progress = UploadProgress()
    async with client_for(url, Timeouts(upload_stall=30), tries=2) as client:
        job = await client.submit_audio_file(media, progress=progress)
    assert job.job_id == ACCEPTED["jobId"]
    assert reader.received[0] < SIZE and reader.received[1:] == [SIZE]
    assert progress.attempts == 2 and progress.sent == progress.total == SIZE
    assert client.transport.uploads.bytes_sent > SIZE  # the cut attempt's bytes count too


async def test_the_stall_timeout_fires_when_no_byte_moves(
    server: tuple[str, Reader], media: Path
) -> None:
    url, reader = server
    reader.stop_after = 1024 * 1024
    stall = 0.4
    progress = UploadProgress()
    # No cap on the upload and no read timeout: only the stall timeout can end it.
    timeouts = Timeouts(upload_stall=stall, read=None, upload_min_throughput=None)
    async with client_for(url, timeouts) as client:
        with pytest.raises(SymblTimeoutError) as info:
            await client.submit_audio_file(media, progress=progress)
        failed_at = time.monotonic()
    assert reader.stopped.is_set() and reader.stopped_at is not None
    assert progress.moved_at is not None
    assert failed_at - progress.moved_at >= stall  # after a whole stall with no byte moving
    assert failed_at - reader.stopped_at >= stall
    assert not isinstance(info.value, SubmitOutcomeUnknownError) and _not_created(info.value)
    assert progress.sent < SIZE and len(reader.received) == 1
    assert f"no byte of the body accepted for {stall:g} s" in str(info.value)


@pytest.mark.skipif(not sys.platform.startswith("linux"),
                    reason="the kernel's send queue can be read on Linux only")
async def test_the_answers_timeout_counts_from_when_the_peer_took_the_last_byte(
    server: tuple[str, Reader], media: Path
) -> None:
    # Megabytes sit in the kernel's send queue once the last byte is handed over; at the
    # service's pace they take seconds to drain. The read timeout (0.5 s here) is for the
    # answer: counted from the hand-over, it cut the upload off before the service had it
    # whole (an unknown outcome) although every byte was moving.
    url, reader = server
    reader.read_size, reader.pause = 16 * 1024, 0.01  # at most ~1.6 MB/s
    progress = UploadProgress()
    timeouts = Timeouts(read=0.5, upload_stall=2.0, upload_min_throughput=None)
    async with client_for(url, timeouts) as client:
        job = await client.submit_audio_file(media, progress=progress)
    assert job.job_id == ACCEPTED["jobId"]
    assert reader.received == [SIZE] and progress.attempts == 1


async def test_a_slow_but_moving_upload_never_times_out(
    server: tuple[str, Reader], media: Path
) -> None:
    url, reader = server
    reader.read_size, reader.pause = 16 * 1024, 0.01  # at most ~1.6 MB/s, often less
    stall = 1.0
    progress = UploadProgress()
    samples: list[int] = []
    timeouts = Timeouts(upload_stall=stall, upload_min_throughput=None)
    async with client_for(url, timeouts) as client:
        started = time.monotonic()
        submit = asyncio.create_task(client.submit_audio_file(media, progress=progress))
        while not submit.done():
            samples.append(progress.sent)
            await asyncio.wait({submit}, timeout=0.05)
        job = submit.result()
        elapsed = time.monotonic() - started
        rate = client.transport.uploads.rate
    assert job.job_id == ACCEPTED["jobId"]
    assert reader.received == [SIZE]
    assert elapsed > 3 * stall  # far longer than the stall timeout, yet never cut off
    assert progress.sent == progress.total == SIZE and progress.attempts == 1
    assert samples == sorted(samples)  # readable while it ran, and only growing
    assert any(0 < s < SIZE for s in samples)
    # Bytes handed over per second: a burst fills the kernel's buffer first, so only roughly.
    assert rate is not None and SIZE / elapsed / 10 < rate < SIZE / elapsed * 10
    assert client.transport.uploads.in_flight == 0


async def test_a_held_upload_keeps_its_last_bytes_until_let_go(
    server: tuple[str, Reader], media: Path
) -> None:
    """A batch uploads ahead of its job slot: every byte but the last chunk's goes, and
    those wait for the go. Meanwhile the service cannot have the whole body (no job), and
    the wait is not a stall, however long it is."""
    url, reader = server
    stall = 0.3
    holding, go = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        holding.set()
        await go.wait()

    progress = UploadProgress(hold=hold)
    async with client_for(url, Timeouts(upload_stall=stall)) as client:
        submit = asyncio.create_task(client.submit_audio_file(media, progress=progress))
        await asyncio.wait_for(holding.wait(), 10)
        assert progress.holding and progress.sent < SIZE
        # What is under test is that time passes with no stall: three stall periods.
        await asyncio.sleep(3 * stall)
        assert not submit.done() and progress.holding
        assert reader.received[0] <= progress.sent < SIZE  # never the whole body
        if sys.platform.startswith("linux"):  # where the kernel's queue can be read
            # The service has all but the last kilobyte: the go leaves it that to read.
            await eventually(lambda: reader.received[0] == SIZE - 1024,
                             message="the server never had all but the last kilobyte")
        go.set()
        job = await asyncio.wait_for(submit, 10)
    assert job.job_id == ACCEPTED["jobId"]
    assert reader.received == [SIZE] and progress.attempts == 1
    assert not progress.holding and progress.held_for >= 3 * stall


async def test_a_held_upload_cancelled_created_nothing(
    server: tuple[str, Reader], media: Path
) -> None:
    url, reader = server
    holding = asyncio.Event()

    async def hold() -> None:
        holding.set()
        await asyncio.Event().wait()  # never let go

    progress = UploadProgress(hold=hold)
    async with client_for(url, Timeouts(upload_stall=5)) as client:
        submit = asyncio.create_task(client.submit_audio_file(media, progress=progress))
        await asyncio.wait_for(holding.wait(), 10)
        submit.cancel()
        with pytest.raises(asyncio.CancelledError):
            await submit
        # The server sees the connection go with the body short of its length: it never
        # answered (the job is created only from a whole body).
        await eventually(lambda: reader.done >= 1, message="the server never saw the end")
    assert reader.received[0] < SIZE
