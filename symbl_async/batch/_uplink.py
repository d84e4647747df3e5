"""The uplink: how many uploads a batch sends at once, in which order, and what they moved.

A batch of local media over an office uplink (20-50 Mbit/s, 2.5-6 MB/s) is bound by its
bytes as much as by the account's job slots. When every free slot starts its upload at
once, 20-50 uploads share the link, none finishes early, every slot waits for the slowest,
no job starts until the whole wave has crawled through, and a slow upload may run into its
deadline while its bytes still move (an unknown outcome: a held slot, a lookup, a resend).
A few at a time (:data:`UPLOADS_AT_ONCE`) keep the link full (one upload's first and last
round trips overlap another's bytes) while each finishes as soon as the link allows: the
first job starts after its own bytes, not after everyone's, and the slots fill one by one.

Order: among the submits waiting for the link, the longest recording goes first (its job
runs longest: the LPT rule of :mod:`~symbl_async.batch._slots`), then the first come.

The run's first upload goes alone: with a second beside it from the start, the two share
the link and the first job is created only after twice its own bytes' time; alone, it
starts after its own bytes, and the second turn opens when it ends. (At worst, over a link
one connection cannot fill, that first upload leaves part of the link idle: once a run.)

An upload's time is judged by its progress (the transport's stall timeout), never by a
deadline the client divides among the uploads sharing the link.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import heapq
import itertools
import time
from collections.abc import AsyncIterator

from symbl_async.core._upload import UploadProgress
from symbl_async.errors import ValidationError

__all__ = ["UPLOADS_AT_ONCE", "Uplink"]

UPLOADS_AT_ONCE = 2
"""Uploads in flight at once by default. One leaves the link idle for a round trip or two
at each upload's start and end; two fill it; more only share it (and finish later)."""

_RATE_WINDOW = 10.0  # seconds of samples the shown rate spans


class Uplink:
    """Lets a bounded number of uploads go at once, longest recording first.

    Use::

        async with uplink.turn(duration) as progress:
            await client.submit("audio", file=path, progress=progress)
    """

    def __init__(self, at_once: int | None = UPLOADS_AT_ONCE) -> None:
        """Args:
            at_once: uploads in flight at most (``None``: no bound, every submit at once).

        Raises:
            ValidationError: ``at_once`` is not a positive int.
        """
        if at_once is not None and (
            isinstance(at_once, bool) or not isinstance(at_once, int) or at_once < 1
        ):
            raise ValidationError("uploads_at_once", "must be a positive int or None")
        self.at_once = at_once
        self._active: set[UploadProgress] = set()
        self._taken = 0  # turns granted and not given back (granted, maybe not yet resumed)
        self._ended = 0  # turns given back: none yet, the first upload goes alone
        self._waiters: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._done_bytes = 0  # bytes of the uploads that ended
        self._marks: collections.deque[tuple[float, int]] = collections.deque()
        self.uploads = 0
        """Uploads started, in all."""

    def __repr__(self) -> str:
        return f"<Uplink {len(self._active)}/{self.at_once} in flight, {self.queued} queued>"

    @property
    def in_flight(self) -> int:
        """Uploads whose turn it is now."""
        return len(self._active)

    @property
    def queued(self) -> int:
        """Submits waiting for their turn."""
        return sum(1 for *_, fut in self._waiters if not fut.done())

    @property
    def bytes_sent(self) -> int:
        """Upload bytes handed to the connection so far, resends included."""
        return self._done_bytes + sum(p.sent for p in self._active)

    @property
    def bytes_in_flight(self) -> tuple[int, int]:
        """``(sent, total)`` bytes of the uploads in flight now."""
        return (sum(p.sent for p in self._active),
                sum(p.total or 0 for p in self._active))

    def rate(self) -> float | None:
        """Bytes per second over the last ten seconds or so (``None`` until it can be told,
        and while nothing is being uploaded)."""
        now, sent = time.monotonic(), self.bytes_sent
        marks = self._marks
        if not marks or now - marks[-1][0] >= 0.25:  # bounded however often it is read
            marks.append((now, sent))
        while len(marks) > 2 and now - marks[1][0] >= _RATE_WINDOW:
            marks.popleft()
        if not self._active:
            return None
        then, before = marks[0]
        return (sent - before) / (now - then) if now - then >= 0.5 else None

    @contextlib.asynccontextmanager
    async def turn(self, duration: float | None = None) -> AsyncIterator[UploadProgress]:
        """Wait for an upload's turn; yield the progress the upload updates.

        Args:
            duration: the recording's expected length in seconds (longer goes first).
        """
        await self._wait(duration)
        progress = UploadProgress()
        self._active.add(progress)
        self.uploads += 1
        try:
            yield progress
        finally:
            self._active.discard(progress)
            self._done_bytes += progress.sent
            self._taken -= 1
            self._ended += 1
            self._wake()

    def _room(self) -> bool:
        """Whether the link takes one more upload now (the first goes alone)."""
        if self.at_once is None:
            return True
        return self._taken < (self.at_once if self._ended else 1)

    def immediate(self) -> bool:
        """Whether an upload would start now, without waiting."""
        return self.at_once is None or (self._room() and not self.queued)

    async def _wait(self, duration: float | None) -> None:
        if self.immediate():
            self._taken += 1
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (-(duration or 0.0), next(self._order), fut))
        try:
            await fut
        except BaseException:
            if fut.done() and not fut.cancelled():  # granted as it was cancelled: pass it on
                self._taken -= 1
                self._wake()
            raise

    def _wake(self) -> None:
        """Grant turns while the link has room (a turn counts from its grant, so two
        releases never grant the same room twice); cancelled waiters are dropped."""
        while self._waiters and self._room():
            _, _, fut = heapq.heappop(self._waiters)
            if fut.done():
                continue
            fut.set_result(None)
            self._taken += 1
