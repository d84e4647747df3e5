"""Every submit goes out at most once per call, whatever aiohttp would do on its own.

aiohttp resends a request whose method is idempotent (PUT among them) once when its
connection drops, even after the server read the whole body: for an append, that is a
second billed job. The server here is real (127.0.0.1) and counts what reached it: it
answers GETs on a keep-alive connection, then takes a submit on that same, reused
connection, reads its whole body and closes without answering. Each of the ten submit
calls must send exactly one request and raise ``SubmitOutcomeUnknownError``. The same
server can also hold the answer back (a timeout) or cut it short.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Literal

import attrs
import pytest
from _polling import eventually

from symbl_async import (
    ProcessingOptions,
    RetryPolicy,
    SubmitOutcomeUnknownError,
    SymblClient,
    SymblConnectionError,
    TextMessage,
    Timeouts,
)
from symbl_async.batch._worker import _not_created
from symbl_async.core._fence import submit_fence
from symbl_async.core._upload import UploadProgress

DEMO = Path(__file__).resolve().parents[2] / "symbl_async" / "demo_data"
CONVERSATION = "5815170693595136"
MEDIA_URL = "https://example.com/a.wav"
JOB = b'{"id": "j", "status": "in_progress"}'


@attrs.define
class Seen:
    """One request line that reached the server, and how much of its body it read."""

    connection: int
    method: str
    path: str
    length: int
    read: int = 0


@attrs.define(eq=False)
class ClosingServer:
    """Raw HTTP/1.1 on 127.0.0.1: GETs answered (keep-alive); any other request's whole
    body read, then the connection closed without an answer (or, as ``after_body``
    says, the answer held back, or cut short)."""

    url: str = ""
    after_body: Literal["close", "hold", "truncate"] = "close"
    held: asyncio.Event = attrs.field(factory=asyncio.Event)
    requests: list[Seen] = attrs.field(factory=list)
    _ids: itertools.count[int] = attrs.field(factory=itertools.count)
    _writers: list[asyncio.StreamWriter] = attrs.field(factory=list)

    @property
    def gets(self) -> list[Seen]:
        return [r for r in self.requests if r.method == "GET"]

    @property
    def submits(self) -> list[Seen]:
        return [r for r in self.requests if r.method != "GET"]

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = next(self._ids)
        self._writers.append(writer)
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
                request_line, *lines = head.split("\r\n")
                method, target, _ = request_line.split(" ")
                fields = dict(line.split(":", 1) for line in lines if line)
                headers = {k.strip().lower(): v.strip() for k, v in fields.items()}
                seen = Seen(
                    connection, method, target.split("?")[0], int(headers["content-length"])
                    if "content-length" in headers else 0
                )
                self.requests.append(seen)
                body = await reader.readexactly(seen.length)
                seen.read = len(body)
                if method != "GET" and self.after_body == "hold":
                    await self.held.wait()  # set at teardown
                if method != "GET" and self.after_body == "truncate":
                    writer.write(b"HTTP/1.1 201 Created\r\nContent-Length: 100\r\n\r\n{")
                    await writer.drain()
                if method != "GET":
                    return  # the whole body read; no (whole) answer
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    + b"Content-Length: %d\r\n\r\n" % len(JOB)
                    + JOB
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()


@pytest.fixture
async def server() -> AsyncIterator[ClosingServer]:
    state = ClosingServer()
    tcp = await asyncio.start_server(state.handle, "127.0.0.1", 0)
    state.url = f"http://127.0.0.1:{tcp.sockets[0].getsockname()[1]}"
    try:
        yield state
    finally:
        state.held.set()
        for writer in state._writers:
            writer.close()
        tcp.close()
        await tcp.wait_closed()


Call = Callable[[SymblClient], Awaitable[object]]
WAV = DEMO / "meeting.wav"
MP4 = DEMO / "meeting.mp4"
TEXT = [TextMessage(content="hello")]

# The ten job-creating calls (REFERENCE.md, "Submitting work"): method, path, call.
SUBMITS: list[tuple[str, str, Call]] = [
    ("POST", "/v1/process/audio", lambda c: c.submit_audio_file(WAV)),
    ("POST", "/v1/process/video", lambda c: c.submit_video_file(MP4)),
    ("POST", "/v1/process/audio/url", lambda c: c.submit_audio_url(MEDIA_URL)),
    ("POST", "/v1/process/video/url", lambda c: c.submit_video_url(MEDIA_URL)),
    ("POST", "/v1/process/text", lambda c: c.submit_text(TEXT)),
    ("PUT", f"/v1/process/audio/{CONVERSATION}", lambda c: c.append_audio_file(CONVERSATION, WAV)),
    ("PUT", f"/v1/process/video/{CONVERSATION}", lambda c: c.append_video_file(CONVERSATION, MP4)),
    (
        "PUT",
        f"/v1/process/audio/url/{CONVERSATION}",
        lambda c: c.append_audio_url(CONVERSATION, MEDIA_URL),
    ),
    (
        "PUT",
        f"/v1/process/video/url/{CONVERSATION}",
        lambda c: c.append_video_url(CONVERSATION, MEDIA_URL),
    ),
    ("PUT", f"/v1/process/text/{CONVERSATION}", lambda c: c.append_text(CONVERSATION, TEXT)),
]


@pytest.mark.parametrize(("method", "path", "call"), SUBMITS, ids=[s[1] for s in SUBMITS])
async def test_a_submit_whose_connection_drops_after_its_body_goes_out_once(
    server: ClosingServer, method: str, path: str, call: Call
) -> None:
    # Short timeouts turn a resend that hangs (an empty replayed body) into a failure.
    timeouts = Timeouts(connect=5, read=5, total=10, upload_total=10)
    async with SymblClient(
        access_token="fixed", base_url=server.url, timeouts=timeouts, retry=RetryPolicy()
    ) as client:
        await client.transport.request("GET", "/v1/job/j")  # opens the keep-alive connection
        with pytest.raises(SubmitOutcomeUnknownError) as info:
            await call(client)
    assert [(s.method, s.path) for s in server.submits] == [(method, path)]
    [submit] = server.submits
    assert submit.read == submit.length > 0  # the server had the whole body
    assert submit.connection == server.gets[0].connection  # on the reused connection
    assert not _not_created(info.value)  # the batch looks it up, never resends blindly
    assert isinstance(info.value.__cause__, SymblConnectionError)


async def test_a_submit_whose_answer_never_comes_is_unknown_and_named(
    server: ClosingServer,
) -> None:
    server.after_body = "hold"
    async with SymblClient(
        access_token="fixed", base_url=server.url, timeouts=Timeouts(read=0.2)
    ) as client:
        with pytest.raises(SubmitOutcomeUnknownError) as info:
            await client.submit_audio_url(MEDIA_URL)
    assert len(server.submits) == 1 and server.submits[0].read == server.submits[0].length
    name = info.value.name
    assert name is not None and name.startswith("symbl-async-") and name in str(info.value)
    assert isinstance(info.value.__cause__, SymblConnectionError)
    assert "timed out" in str(info.value)


async def test_a_submit_whose_answer_is_cut_short_is_unknown(server: ClosingServer) -> None:
    server.after_body = "truncate"
    async with SymblClient(access_token="fixed", base_url=server.url) as client:
        with pytest.raises(SubmitOutcomeUnknownError) as info:
            await client.submit_audio_url(MEDIA_URL, options=ProcessingOptions(name="call-42"))
    assert len(server.submits) == 1
    assert info.value.name == "call-42" and "call-42" in str(info.value)
    assert isinstance(info.value.__cause__, SymblConnectionError)
    assert type(info.value.__cause__.__cause__).__module__.startswith("aiohttp")


class Refused(Exception):
    """What the tests' fence raises."""


@pytest.mark.parametrize(("method", "path", "call"), SUBMITS, ids=[s[1] for s in SUBMITS])
async def test_a_submit_its_fence_refuses_never_has_its_last_bytes_sent(
    server: ClosingServer, method: str, path: str, call: Call
) -> None:
    # A shared batch's worker checks its lease right before a submit's last bytes go
    # (core/_fence.py): refused there, the service never has the whole body (no job), and
    # the caller gets the fence's own error, not a connection failure to retry.
    asked = 0

    async def fence() -> None:
        nonlocal asked
        asked += 1
        await asyncio.sleep(0)  # a fence may await (a lease renewal)
        raise Refused("lease lost")

    async with SymblClient(access_token="fixed", base_url=server.url) as client:
        with submit_fence(fence), pytest.raises(Refused, match="lease lost"):
            await call(client)
        # The client dropped the connection: the server has read all that was sent.
        await eventually(lambda: all(w.is_closing() for w in server._writers))
    assert asked == 1  # once: not retried by the transport
    assert all(s.read < s.length for s in server.submits)  # never the whole body
    assert all((s.method, s.path) == (method, path) for s in server.submits)


async def test_a_fence_runs_after_all_but_the_last_bytes_and_a_passing_one_lets_them_go(
    server: ClosingServer,
) -> None:
    progress = UploadProgress()
    seen: list[tuple[int, int | None]] = []

    async def fence() -> None:
        await asyncio.sleep(0)
        seen.append((progress.sent, progress.total))

    async with SymblClient(access_token="fixed", base_url=server.url) as client:
        with submit_fence(fence), pytest.raises(SubmitOutcomeUnknownError):
            await client.submit_audio_file(WAV, progress=progress)  # the server keeps mum
        with pytest.raises(SubmitOutcomeUnknownError):  # outside the block: no fence
            await client.submit_audio_url(MEDIA_URL)
    size = WAV.stat().st_size
    assert seen == [(size - 1024, size)]  # once, with only the last kilobyte left
    assert [s.read for s in server.submits] == [s.length for s in server.submits]
    assert len(server.submits) == 2 and server.submits[0].length == size
