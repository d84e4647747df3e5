"""A submit's request body: sent at most once per attempt, its bytes counted, stalls caught.

What aiohttp does not give us on every supported version (3.10 and later):

* **At most once.** aiohttp sends a request whose method is idempotent (PUT among them)
  a second time when its connection drops (``ClientOSError``, ``ServerDisconnectedError``),
  even after the server read the whole body (``ClientSession._request``,
  ``retry_persistent_connection``; a session switch for it, ``_retry_connection``, is
  private and absent from 3.10). For an append that is a second billed job. 3.10-3.13
  rebuild the request from the same ``data``: a JSON body goes out whole again, a spent
  stream as a request line with no body. 3.14 skips the resend only when the payload
  says it is ``consumed``. So a submit's ``data`` is a :class:`SubmitBody`: aiohttp turns
  it into a payload through its payload registry each time it builds a request, and the
  second build raises :class:`ResendRefused` before anything is written (3.10-3.13); the
  payload says it is consumed from the start, which stops 3.14 one step earlier.
* **How much left.** ``sent`` counts the bytes handed to aiohttp. A body cut off before its
  last byte was handed over cannot have reached the service whole (it needs all
  ``Content-Length`` bytes): :func:`symbl_async.core._http.decide` calls that "not created".
* **A held tail.** ``progress.hold``, when set, is awaited before the last kilobyte is
  handed over, once the peer has taken the rest (where the kernel's queue can be read):
  the service has every byte but those, so no job exists yet, and the go leaves it one
  kilobyte to read; cancelled there, the upload is cut off (not created). The wait is
  neither a stall nor sending time.
* **A fence.** A body made inside ``symbl_async.core._fence.submit_fence`` awaits the
  fence right before its last bytes are handed over, once the peer has taken the rest,
  with nothing awaited between the fence's return and that write (a shared batch checks
  its worker's lease there). What the fence raises cuts the body off (nothing created)
  and is raised to the caller as it is.
* **Stalls.** An upload's deadline comes from progress: when no byte moves for ``stall``
  seconds (no chunk handed over, and nothing written left asyncio's buffer or, on
  Linux, the kernel's send queue), the connection is aborted. The kernel's queue counts:
  it holds megabytes (4 MiB on loopback), which drain at the peer's pace while asyncio's
  buffer waits for a third of it to free up. One timer per upload, checked four times per
  ``stall`` period; nothing per chunk but two counters and a clock read.
"""

from __future__ import annotations

import asyncio
import math
import struct
import sys
import time
from collections.abc import AsyncIterable, Awaitable, Callable
from typing import Any

from aiohttp import payload
from aiohttp.abc import AbstractStreamWriter

from symbl_async.core._fence import current_fence
from symbl_async.core._upload import UploadProgress

__all__ = ["ResendRefused", "SubmitBody", "UploadMeter", "UploadProgress"]

try:  # the kernel's send queue of a socket, where it can be read (Linux's SIOCOUTQ)
    import fcntl
    import termios

    _OUTQ: int | None = termios.TIOCOUTQ if sys.platform.startswith("linux") else None
except ImportError:  # pragma: no cover - Windows
    _OUTQ = None


_TAIL = 1024  # bytes of a held upload kept back for the go: the service's wait for them
_DRAINS_FAST = 64 * 1024  # left in the send queue when an upload's answer is awaited: at
# 10 kB/s this drains in 7 s, well inside the read timeout (60 s by default)


class ResendRefused(Exception):
    """aiohttp tried to send a submit's body again after its connection dropped."""


class UploadMeter:
    """The transport's measured upload throughput, over all the uploads it sends.

    Attributes:
        bytes_sent: upload bytes handed to the connection, in all.
        in_flight: uploads whose body is being sent now.
    """

    _SAMPLE = 1.0  # seconds of sending per sample
    _HORIZON = 10.0  # the moving average's time constant

    def __init__(self) -> None:
        self.bytes_sent = 0
        self.in_flight = 0
        self._rate: float | None = None
        self._bucket = 0  # bytes of the sample under way
        self._busy = 0.0  # seconds of sending in it, idle time left out
        self._since: float | None = None  # when sending resumed, while any upload runs

    def __repr__(self) -> str:
        return f"<UploadMeter {self.in_flight} in flight, {self.bytes_sent} bytes>"

    @property
    def rate(self) -> float | None:
        """Bytes per second while uploads run (a ~10 s moving average; ``None`` until
        one second of sending is measured). Time with no upload running is left out."""
        if self._since is not None:
            self._fold(time.monotonic())
        return self._rate

    def _started(self, now: float) -> None:
        if self.in_flight == 0:
            self._since = now
        self.in_flight += 1

    def _add(self, size: int, now: float) -> None:
        self.bytes_sent += size
        self._bucket += size
        if self._since is not None and self._busy + now - self._since >= self._SAMPLE:
            self._fold(now)

    def _stopped(self, now: float) -> None:
        self.in_flight -= 1
        if self.in_flight == 0 and self._since is not None:
            self._busy += now - self._since
            self._since = None

    def _fold(self, now: float) -> None:
        assert self._since is not None
        busy = self._busy + now - self._since
        if busy < self._SAMPLE:
            return
        sample = self._bucket / busy
        weight = 1.0 - math.exp(-busy / self._HORIZON)
        self._rate = sample if self._rate is None else self._rate + weight * (sample - self._rate)
        self._bucket, self._busy, self._since = 0, 0.0, now


class SubmitBody:
    """One attempt's body for a submit: aiohttp's ``data``, writable once.

    Args:
        chunks: the bytes, whole or as an async iterator of chunks.
        size: the ``Content-Length``; at most this many bytes are sent.
        content_type: the payload's type (``None``: ``application/octet-stream``).
        progress: updated as bytes go out (a new attempt restarts it).
        meter: the transport's throughput meter, for uploads.
        stall: abort the connection when no byte is accepted for this many seconds.
    """

    def __init__(
        self,
        chunks: AsyncIterable[bytes] | bytes,
        *,
        size: int,
        content_type: str | None = None,
        progress: UploadProgress | None = None,
        meter: UploadMeter | None = None,
        stall: float | None = None,
    ) -> None:
        self.size = size
        self.content_type = content_type
        self.progress = progress if progress is not None else UploadProgress()
        self.stalled = False
        self.stall = stall
        self.error: BaseException | None = None  # what broke the write, if anything did
        self.fenced: Exception | None = None  # what the fence raised, if it refused
        self._fence = current_fence()  # the submit's caller's, made inside submit_fence
        self._chunks = chunks
        self._meter = meter
        self._claimed = False
        self._transport: asyncio.Transport | None = None
        self._accepted = 0  # bytes that left our buffers, at the last check
        self._timer: asyncio.TimerHandle | None = None
        self.progress.begin(size, time.monotonic())
        if stall is not None:
            self._tick = max(stall / 4, 0.01)
            self._timer = asyncio.get_running_loop().call_later(self._tick, self._check)

    @property
    def sent(self) -> int:
        """Bytes handed to aiohttp so far."""
        return self.progress.sent

    def claim(self) -> None:
        """Called for each request aiohttp builds from this body; only the first may go."""
        if self._claimed:
            raise ResendRefused("aiohttp tried to resend a submit after its connection dropped")
        self._claimed = True

    def close(self) -> None:
        """The attempt is over: stop watching for stalls."""
        self._stop_watching()

    async def write(self, writer: AbstractStreamWriter, limit: int | None) -> None:
        """Hand the body to aiohttp's writer, counting the bytes as they go."""
        self._transport = getattr(writer, "transport", None)
        left = self.size if limit is None else min(limit, self.size)
        meter = self._meter
        progress = self.progress
        if meter is not None:
            meter._started(time.monotonic())
        chunks = self._chunks
        try:
            if isinstance(chunks, bytes):
                chunks = _once(chunks)
            async for chunk in chunks:
                if len(chunk) > left:
                    chunk = chunk[:left]
                if len(chunk) == left and (progress.hold is not None or self._fence is not None):
                    # The last chunk: all but its tail goes now; once the peer has taken
                    # it, the tail waits for the caller's go (then only it is left), and
                    # the fence checks, just before the tail is written (no await between).
                    head, chunk = chunk[:-_TAIL], chunk[-_TAIL:]
                    if head:
                        left -= len(head)
                        await self._hand_over(writer, head, progress, meter)
                    await self._until_taken()
                    if progress.hold is not None:
                        await self._pause(progress.hold, progress, meter)
                    if self._fence is not None:
                        try:
                            await self._pause(self._fence, progress, meter)
                        except Exception as exc:
                            self.fenced = exc
                            raise
                left -= len(chunk)
                await self._hand_over(writer, chunk, progress, meter)
                if not left:
                    break
            if left:
                raise ValueError(
                    f"the media ended after {progress.sent} of {self.size} bytes "
                    "(did the file change while it was sent?)"
                )
            # All handed over. Where the kernel's send queue can be read, wait until the
            # peer has taken all but the last few kilobytes (still watched for stalls):
            # aiohttp's read timeout starts when this returns, and megabytes queued behind
            # a slow uplink would spend it before the service has the whole body (an
            # upload cut off there is an unknown outcome: a held slot, a lookup, a
            # resend). What is left drains in well under the read timeout; waiting for
            # it too made the answer (sent as the last bytes are acknowledged) come first:
            # aiohttp then cancelled this write and closed the connection, a new one for
            # every submit.
            await self._until_taken(leave=_DRAINS_FAST)
            self._stop_watching()  # the answer's wait has its own timeout
        except BaseException as exc:
            self.error = exc
            raise
        finally:
            if meter is not None:
                meter._stopped(time.monotonic())
            closing = getattr(chunks, "aclose", None)
            if closing is not None:
                await closing()

    async def _hand_over(
        self, writer: AbstractStreamWriter, chunk: bytes, progress: UploadProgress,
        meter: UploadMeter | None,
    ) -> None:
        # Counted before the write: once handed over, it may be on the wire.
        now = time.monotonic()
        progress.sent += len(chunk)
        progress.moved_at = now
        if meter is not None:
            meter._add(len(chunk), now)
        await writer.write(chunk)

    async def _pause(
        self, wait: Callable[[], Awaitable[None]], progress: UploadProgress,
        meter: UploadMeter | None,
    ) -> None:
        """Wait on ``progress.hold``, or the fence, before the last chunk: not a stall,
        not sending time."""
        began = time.monotonic()
        progress.holding = True
        if meter is not None:
            meter._stopped(began)
        try:
            await wait()
        finally:
            now = time.monotonic()
            progress.holding = False
            progress.held_for += now - began
            progress.moved_at = now
            if meter is not None:
                meter._started(now)

    async def _until_taken(self, leave: int = 0) -> None:
        """Wait while more than ``leave`` bytes of the body sit in the kernel's send queue
        (Linux; on other systems nothing here can see that queue). Bounded by the stall
        timer, which aborts the connection when the queue stops draining."""
        transport = self._transport
        if _OUTQ is None or transport is None:
            return
        pause = 0.005
        while not transport.is_closing() and _waiting(transport) > leave:
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.25)

    def _check(self) -> None:
        """The stall timer: abort the connection when no byte moved for ``stall`` s."""
        assert self.stall is not None
        now = time.monotonic()
        transport = self._transport
        if transport is not None and not transport.is_closing():
            accepted = self.progress.sent - _waiting(transport)
            if accepted > self._accepted:
                self._accepted = accepted
                self.progress.moved_at = now
            if self.progress.holding:  # waiting for the caller's go, not stalled
                self.progress.moved_at = now
            moved_at = self.progress.moved_at or now
            if now - moved_at >= self.stall:
                self.stalled = True
                self._timer = None
                transport.abort()  # aiohttp sees a dropped connection; we know why
                return
        self._timer = asyncio.get_running_loop().call_later(self._tick, self._check)

    def _stop_watching(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def _waiting(transport: asyncio.Transport) -> int:
    """Bytes written but not yet taken by the peer: asyncio's buffer, and where it can be
    read, the kernel's send queue (not sent, or not acknowledged)."""
    waiting = transport.get_write_buffer_size()
    request = _OUTQ
    sock = transport.get_extra_info("socket") if request is not None else None
    if request is not None and sock is not None:
        try:
            queued = fcntl.ioctl(sock.fileno(), request, b"\0\0\0\0")
            waiting += struct.unpack("i", queued)[0]
        except (OSError, ValueError):  # closed meanwhile: the next check sees it
            pass
    return waiting


async def _once(data: bytes) -> AsyncIterable[bytes]:
    yield data


@payload.payload_type(SubmitBody)
class _SubmitPayload(payload.Payload):
    """aiohttp's view of a :class:`SubmitBody`; building a second one refuses the resend."""

    _autoclose = True  # holds nothing to close (aiohttp 3.13 warns about payloads that do)

    def __init__(self, value: SubmitBody, *args: Any, **kwargs: Any) -> None:
        value.claim()  # the registry's arguments (a form field's disposition) do not apply
        super().__init__(value, content_type=value.content_type)
        self._size = value.size
        self._consumed = True  # never replayed: aiohttp 3.14 checks this before a resend
        self._body = value

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        raise TypeError("a submit's body is streamed once and cannot be decoded")

    async def write(self, writer: AbstractStreamWriter) -> None:
        await self._body.write(writer, None)

    async def write_with_length(
        self, writer: AbstractStreamWriter, content_length: int | None
    ) -> None:
        await self._body.write(writer, content_length)
