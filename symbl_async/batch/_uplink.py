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

Ahead of a slot (:class:`StagedUpload`): while the account is full, a job slot stands
empty for as long as the upload that refills it takes, on every refill (at 5 slots and a
10 MB/s link, 300 s WAVs: 1.22 x the lower bound). So a file's upload starts before its
slot is free, when a running job may end (early: the learned model's 16th percentile)
by the time the upload would, and its last kilobyte waits for the slot, once the service
has taken the rest: it creates a job only from a whole body, so a held upload has created
nothing, and the account's limit is never passed (a 429 there would cost the upload
again). The claim is recorded before the last bytes go, as for any submit. Timed early,
as a slot freed before its refill is uploaded stands empty, while an upload done before
its slot only waits. A hold is bounded (:data:`HOLD_LIMIT`): a server drops a request whose
body stops moving (nginx's ``client_body_timeout``, a load balancer's idle timeout: 60 s
by default); past it the upload is cut off (nothing created) and its input goes back to
the queue. On a ledger shared by workers, the item is reserved in the ledger before its
upload starts (``ItemStore.reserve``): no other worker's claim takes it meanwhile.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import heapq
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from symbl_async.core._jobs import Job
from symbl_async.core._upload import UploadProgress
from symbl_async.errors import ValidationError

__all__ = ["HOLD_LIMIT", "UPLOADS_AT_ONCE", "StagedUpload", "Uplink"]

UPLOADS_AT_ONCE = 2
"""Uploads in flight at once by default. One leaves the link idle for a round trip or two
at each upload's start and end; two fill it; more only share it (and finish later)."""

_RATE_WINDOW = 10.0  # seconds of samples the shown rate spans

HOLD_LIMIT = 15.0
"""Seconds an upload ahead of its slot may wait with its last bytes held, at most: well
inside the minute a server waits for a body's next bytes."""

_MIN_SAMPLE = 256 * 1024  # bytes of an upload for its rate to count (smaller ones: latency)


class StagedUpload:
    """A file's upload started ahead of its job slot: every byte but the last chunk's is
    sent, and those wait for :meth:`send` (or the upload is cut off by :meth:`cancel`).

    Attributes:
        key: the item's ledger key.
        name: the attempt name its submit carries (the next attempt's, recorded by the
            claim before :meth:`send`).
        task: the submit; its result is the job (or its error).
        held_since: ``time.monotonic()`` when its last bytes began to wait, if they do.
        progress: the upload's progress, once its turn came.
    """

    def __init__(self, key: str, name: str) -> None:
        self.key, self.name = key, name
        self.task: asyncio.Task[Job] | None = None
        self.held_since: float | None = None
        self.progress: UploadProgress | None = None
        self._go = asyncio.Event()

    def __repr__(self) -> str:
        state = "sent" if self._go.is_set() else "held" if self.held_since else "uploading"
        return f"<StagedUpload {self.key} {state}>"

    @property
    def released(self) -> bool:
        """Its last bytes were let go (the job may exist from here on)."""
        return self._go.is_set()

    @property
    def failed(self) -> bool:
        """It ended before its last bytes were let go: cut off, or refused early; either
        way nothing was created."""
        return self.task is not None and self.task.done() and not self.released

    @property
    def sent(self) -> int:
        """Bytes handed to the connection so far."""
        return 0 if self.progress is None else self.progress.sent

    async def _hold(self) -> None:
        self.held_since = time.monotonic()
        await self._go.wait()

    async def send(self) -> Job:
        """Let the last bytes go and wait for the answer (the submit's outcome). Call it
        only once the attempt's intent is recorded: the job may exist from here on."""
        assert self.task is not None
        self._go.set()
        return await self.task

    def cancel(self) -> None:
        """Cut the upload off if its last bytes have not gone: nothing is created."""
        if self.task is not None and not self.released:
            self.task.cancel()


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
        self._upload_rate: float | None = None  # bytes/s one upload moves, sharing the link
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
            self._learn(progress)
            self._done_bytes += progress.sent
            self._taken -= 1
            self._ended += 1
            self._wake()

    @property
    def upload_rate(self) -> float | None:
        """Bytes per second one upload moves, as it shares the link with the others
        (a moving average over the uploads that went whole; their held time left out);
        ``None`` until one has."""
        return self._upload_rate

    def _learn(self, progress: UploadProgress) -> None:
        if (progress.started_at is None or progress.total is None
                or progress.sent < max(progress.total, _MIN_SAMPLE)):
            return
        busy = time.monotonic() - progress.started_at - progress.held_for
        if busy <= 0:
            return
        sample = progress.sent / busy
        old = self._upload_rate
        self._upload_rate = sample if old is None else old + 0.3 * (sample - old)

    def stage(
        self, key: str, name: str, duration: float | None,
        send: Callable[[UploadProgress], Awaitable[Job]],
    ) -> StagedUpload:
        """Start an upload ahead of its slot: its turn on the link, then ``send`` with a
        progress whose last bytes wait for :meth:`StagedUpload.send`."""
        staged = StagedUpload(key, name)

        async def run() -> Job:
            # The turn is kept while the last bytes wait (a short wait: they go as soon as
            # the slot is free): it bounds the uploads ahead, and the bytes a cut costs.
            async with self.turn(duration) as progress:
                progress.hold = staged._hold
                staged.progress = progress
                return await send(progress)

        staged.task = asyncio.ensure_future(run())
        return staged

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
