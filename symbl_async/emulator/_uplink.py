"""A slow uplink: request bodies, of all requests together, read at most so many bytes a
second (``EmulatorConfig.upload_bandwidth``), so that benchmarks can measure uploads of
real-sized files against a real-sized link.

One shared schedule (a token bucket with no burst: each chunk read books the link for
``len(chunk) / rate`` seconds after the previous booking) paces every body. A handler
waits for its booking before it reads on; meanwhile aiohttp's buffer fills and stops
reading the socket, so the client's send slows down as it would on a slow link. The wait
is a plain ``await``: other requests (status GETs) are served meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

__all__ = ["Uplink", "Uploads", "body_chunks"]

_CHUNK = 64 * 1024


class Uplink:
    """The client's uplink: at most ``rate`` bytes a second, shared by every request body.

    Args:
        rate: bytes per second (real seconds: a network, not the emulated service).
        closing: set when the emulator shuts down; waits end at once then.
    """

    def __init__(self, rate: float, closing: asyncio.Event) -> None:
        self.rate = rate
        self._closing = closing
        self._free_at = 0.0  # loop time at which the link has carried every booked byte
        self.bytes_read = 0

    async def carry(self, size: int) -> None:
        """Wait until ``size`` more bytes have crossed the link, after those booked before."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        self._free_at = max(self._free_at, now) + size / self.rate
        self.bytes_read += size
        delay = self._free_at - now
        if delay > 0 and not self._closing.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._closing.wait(), delay)


class Uploads:
    """What the emulator saw of media uploads (the bodies of file submits), for benchmarks:
    how many were read at once, their bytes (resends included), those cut off, and those
    begun while every job slot of the account was taken (a client uploading ahead)."""

    def __init__(self) -> None:
        self.reading = 0
        self.max_reading = 0
        self.bytes = 0
        self.whole = 0
        self.cut = 0
        self.begun_while_full = 0

    async def read(
        self, request: web.Request, uplink: Uplink | None, *, full: bool = False
    ) -> AsyncIterator[bytes]:
        """The upload's chunks (:func:`body_chunks`), counted; ``full``: every job slot
        was taken when it began."""
        self.reading += 1
        self.begun_while_full += full
        self.max_reading = max(self.max_reading, self.reading)
        whole = False
        try:
            async for chunk in body_chunks(request, uplink):
                self.bytes += len(chunk)
                yield chunk
            whole = True
        finally:
            self.reading -= 1
            if whole:
                self.whole += 1
            else:
                self.cut += 1


async def body_chunks(request: web.Request, uplink: Uplink | None) -> AsyncIterator[bytes]:
    """The request's body, chunk by chunk, at the uplink's pace (as it comes without one)."""
    async for chunk in request.content.iter_chunked(_CHUNK):
        if uplink is not None:
            await uplink.carry(len(chunk))
        yield chunk
