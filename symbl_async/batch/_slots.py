"""Job slots, and the order they are filled in: longest first, within a look-ahead window.

The account's concurrent-job limit (trial 2, paid 50, more on request: Symbl docs,
"Frequently Asked Questions"; "free 5" is just another number here) is the real bottleneck
of a batch. A slot is taken before a submit and held until the
job is known to be ``completed`` or ``failed``: a job holds an account slot for its whole life,
not just for the HTTP call, so ``acquire()`` and ``release()`` are separate calls.

A 429 on submit is not a failure: another program may share the account. The slot we held is
given back (:meth:`JobSlots.on_rejected`), the effective limit drops multiplicatively, and the
caller waits for the next release of one of our own jobs or a jittered backoff, whichever comes
first (:meth:`JobSlots.wait_after_rejection`); a release by another program is invisible to us,
hence the backoff. Successful submits raise the limit back additively (AIMD, as TCP does).

Typical use::

    await slots.acquire()
    try:
        job = await client.submit(...)
    except ConcurrencyLimitError:
        slots.on_rejected()              # the slot is given back
        await slots.wait_after_rejection()
        ...                              # acquire again and retry
    else:
        slots.on_accepted()
        ...                              # wait for the job, then:
        slots.release()

Order: with every slot busy, the batch ends when its last job ends; starting the long
recordings first keeps a 4-hour file from starting last and running alone (the LPT rule).
The input may be huge or endless, so a batch whose ledger one process owns orders locally
(:class:`LongestFirstWindow`: only a window of items read ahead); a shared batch's claims
take the longest pending item of the whole backlog (``ItemStore.claim``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import heapq
import itertools
import math
import random
import statistics
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any, Generic, TypeVar

from symbl_async.errors import ValidationError

__all__ = ["DONE", "PLAN_LIMITS", "JobSlots", "LongestFirstWindow", "Slot", "longest_first",
           "puller"]

PLAN_LIMITS: Mapping[str, int] = MappingProxyType({"trial": 2, "free": 5, "paid": 50})
"""Concurrent jobs per account for each Symbl plan (Symbl docs, "Frequently Asked
Questions": trial 2, paid 50)."""


class JobSlots:
    """An adaptive, FIFO-fair limiter of the jobs this program holds on the account.

    Attributes are read through properties: :attr:`in_use`, :attr:`limit` (effective),
    :attr:`max_limit`, :attr:`min_limit`, :attr:`waiting` and :attr:`rejections`.

    All methods must be called from the one event loop that runs the batch.
    """

    def __init__(
        self,
        max_concurrent_jobs: int = 50,
        *,
        min_limit: int = 1,
        increase_every: int = 2,
        decrease_factor: float = 0.5,
        backoff_base: float = 1.0,
        backoff_cap: float = 30.0,
        rng: random.Random | None = None,
    ) -> None:
        """Create the limiter; the effective limit starts at ``max_concurrent_jobs``.

        Args:
            max_concurrent_jobs: the account's concurrent-job limit (see :data:`PLAN_LIMITS`);
                the effective limit never goes above it.
            min_limit: the effective limit never goes below it. At least 1, so that we keep
                making progress even when other programs hold all the other slots.
            increase_every: the effective limit grows by 1 after this many consecutive
                accepted submits. A 429 costs one HTTP call and no job, while an idle slot
                costs wall time on the batch's bottleneck, so the default (2) probes upward
                briskly.
            decrease_factor: on a 429 the effective limit is multiplied by this (0 < f < 1).
            backoff_base: seconds; upper bound of the first backoff after a 429.
            backoff_cap: seconds; the backoff's upper bound never exceeds it.
            rng: random source for the jitter (inject a seeded one in tests).

        Raises:
            ValidationError: when an argument is out of range (names the argument).
        """
        _check_int("max_concurrent_jobs", max_concurrent_jobs, 1)
        _check_int("min_limit", min_limit, 1)
        if min_limit > max_concurrent_jobs:
            raise ValidationError("min_limit", "must not exceed max_concurrent_jobs")
        _check_int("increase_every", increase_every, 1)
        if not _is_real(decrease_factor) or not 0 < decrease_factor < 1:
            raise ValidationError("decrease_factor", "must be a number between 0 and 1, exclusive")
        if not _is_real(backoff_base) or not 0 < backoff_base < math.inf:
            raise ValidationError("backoff_base", "must be a positive number of seconds")
        if not _is_real(backoff_cap) or not backoff_base <= backoff_cap < math.inf:
            raise ValidationError("backoff_cap", "must be a number of seconds >= backoff_base")
        self._max = max_concurrent_jobs
        self._min = min_limit
        self._limit = max_concurrent_jobs
        self._increase_every = increase_every
        self._decrease_factor = float(decrease_factor)
        self._backoff_base = float(backoff_base)
        self._backoff_cap = float(backoff_cap)
        self._rng = rng if rng is not None else random.Random()
        self._in_use = 0
        self._rejections = 0
        self._consecutive_rejections = 0
        self._successes = 0
        # Slots handed out since the last decrease. A burst of submits sent under the old
        # limit answers with a burst of 429s; like TCP (one decrease per window), only the
        # first of them lowers the limit, otherwise one burst would collapse it to min_limit.
        self._acquired_since_decrease = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._release_waiters: collections.deque[asyncio.Future[bool]] = collections.deque()

    @classmethod
    def for_plan(cls, plan: str, **kwargs: Any) -> JobSlots:
        """Create a limiter sized for a Symbl plan.

        Args:
            plan: ``"trial"``, ``"free"`` or ``"paid"`` (see :data:`PLAN_LIMITS`).
            **kwargs: the keyword arguments of :class:`JobSlots`.

        Returns:
            A limiter whose ``max_limit`` is the plan's concurrent-job limit.

        Raises:
            ValidationError: for an unknown plan or a bad keyword argument.
        """
        if plan not in PLAN_LIMITS:
            raise ValidationError("plan", f"must be one of {', '.join(PLAN_LIMITS)}")
        return cls(PLAN_LIMITS[plan], **kwargs)

    def __repr__(self) -> str:
        return (
            f"JobSlots(in_use={self._in_use}, limit={self._limit}/{self._max}, "
            f"waiting={self.waiting}, rejections={self._rejections})"
        )

    @property
    def in_use(self) -> int:
        """Slots held now: acquired and not yet released or given back."""
        return self._in_use

    @property
    def limit(self) -> int:
        """The effective limit: ``acquire()`` waits while ``in_use >= limit``."""
        return self._limit

    @property
    def max_limit(self) -> int:
        """The account's limit, the ceiling of the effective limit."""
        return self._max

    @property
    def min_limit(self) -> int:
        """The floor of the effective limit."""
        return self._min

    @property
    def waiting(self) -> int:
        """Coroutines queued in ``acquire()``."""
        return sum(1 for fut in self._waiters if not fut.done())

    @property
    def rejections(self) -> int:
        """How many submits were answered 429 (calls of :meth:`on_rejected`)."""
        return self._rejections

    async def acquire(self) -> None:
        """Take a slot, waiting first-come first-served while ``in_use >= limit``.

        A newcomer never overtakes a queued waiter, even when a slot is free.

        Raises:
            asyncio.CancelledError: when cancelled while waiting; no slot is then held.
        """
        if not self._waiters and self._in_use < self._limit:
            self._take()
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                # The slot was handed to us just before the cancellation: pass it on.
                self._in_use -= 1
                self._grant()
            else:
                with contextlib.suppress(ValueError):  # already skipped by _grant
                    self._waiters.remove(fut)
            raise

    def release(self) -> None:
        """Give a slot back: its job ended, or its submit definitely created no job.

        Call it when the job reached ``completed`` or ``failed``, or its submit got an error
        answer other than 429 (for a 429 call :meth:`on_rejected` instead). Keep the slot
        while a submit's outcome is unknown (the job may be running) until a lookup by name
        has settled it. Wakes the oldest :meth:`wait_after_rejection`.

        Raises:
            RuntimeError: when no slot is held (a double release is a bug that would let
                us exceed the account's limit).
        """
        self._give_back("release")
        self._grant()
        while self._release_waiters:
            fut = self._release_waiters.popleft()
            if not fut.done():
                fut.set_result(True)
                break

    def on_rejected(self) -> None:
        """Record a 429 on submit: give the held slot back and lower the effective limit.

        The limit is multiplied by ``decrease_factor`` (never below ``min_limit``, itself at
        least 1), once per burst: further 429s for submits sent before the decrease do not
        lower it again. The backoff of :meth:`wait_after_rejection` grows.

        Raises:
            RuntimeError: when no slot is held.
        """
        self._give_back("on_rejected")
        self._rejections += 1
        self._consecutive_rejections += 1
        self._successes = 0
        if self._acquired_since_decrease > 0:
            self._limit = max(self._min, math.floor(self._limit * self._decrease_factor))
            self._acquired_since_decrease = 0
        self._grant()

    def on_accepted(self) -> None:
        """Record an accepted submit (201): the job now holds its slot until released.

        Every ``increase_every`` consecutive acceptances raise the effective limit by 1, up
        to ``max_limit``; the backoff after a 429 starts over.
        """
        self._consecutive_rejections = 0
        self._successes += 1
        if self._successes >= self._increase_every:
            self._successes = 0
            if self._limit < self._max:
                self._limit += 1
                self._grant()

    def backoff_bound(self) -> float:
        """Upper bound in seconds of the next backoff: ``min(cap, base * 2**(n-1))``.

        ``n`` counts 429s since the last accepted submit (at least 1).
        """
        exponent = max(self._consecutive_rejections - 1, 0)
        # Cap the exponent before computing: 2**1100 would overflow a float.
        return min(self._backoff_cap, self._backoff_base * 2.0 ** min(exponent, 64))

    def backoff_for(self, failures: int) -> float:
        """Upper bound in seconds of a backoff after ``failures`` failures in a row (>= 1)."""
        return min(self._backoff_cap, self._backoff_base * 2.0 ** min(max(failures - 1, 0), 64))

    async def wait_after_rejection(self) -> bool:
        """Wait after a 429 until the next :meth:`release` or a backoff, whichever first.

        The backoff is drawn uniformly from ``[0, backoff_bound()]`` ("full jitter"), so that
        many rejected submitters do not come back in lockstep. Each release wakes one waiter
        (the oldest): one finished job frees one slot.

        Returns:
            True when woken by a release, False when the backoff ran out.
        """
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[bool] = loop.create_future()
        self._release_waiters.append(fut)
        delay = self._rng.uniform(0.0, self.backoff_bound())
        timer = loop.call_later(delay, _resolve, fut, False)
        try:
            return await fut
        finally:
            timer.cancel()
            if fut in self._release_waiters:
                self._release_waiters.remove(fut)

    def _take(self) -> None:
        self._in_use += 1
        self._acquired_since_decrease += 1

    def _give_back(self, what: str) -> None:
        if self._in_use <= 0:
            raise RuntimeError(f"{what}() called with no slot held")
        self._in_use -= 1

    def _grant(self) -> None:
        # Hand free slots to queued waiters in order; the slot is counted as taken at hand-off,
        # so a newcomer cannot grab it before the woken waiter runs.
        while self._waiters and self._in_use < self._limit:
            fut = self._waiters.popleft()
            if fut.done():  # cancelled while queued
                continue
            self._take()
            fut.set_result(None)


def _resolve(fut: asyncio.Future[bool], value: bool) -> None:
    if not fut.done():
        fut.set_result(value)


def _is_real(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_int(field: str, value: object, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValidationError(field, f"must be an integer >= {minimum}")


class Slot:
    """One account slot an item holds; releasing twice is harmless.

    Attributes:
        ends_at: when its job may end, early (``time.monotonic()``; the learned model's
            16th percentile), while it holds a job the service accepted; else ``None``.
            A batch times an upload ahead of the slot it will take by it
            (``StagedUpload``).
    """

    def __init__(self, slots: JobSlots, held: bool) -> None:
        """Wrap ``slots``; ``held``: whether this item already holds one of them."""
        self._slots = slots
        self.held = held
        self.ends_at: float | None = None

    async def acquire(self) -> None:
        """Wait for a slot and hold it."""
        await self._slots.acquire()
        self.held = True

    def release(self) -> None:
        """Give the slot back, if held."""
        self.ends_at = None
        if self.held:
            self.held = False
            self._slots.release()

    def rejected(self) -> None:
        """The submit got a 429: give the slot back and let the limiter adapt."""
        self.held, self.ends_at = False, None
        self._slots.on_rejected()

    def transfer(self) -> Slot:
        """Hand the slot (if held) to a new owner; this one holds nothing after."""
        held, self.held = self.held, False
        slot = Slot(self._slots, held)
        slot.ends_at, self.ends_at = self.ends_at, None
        return slot


T = TypeVar("T")


class LongestFirstWindow(Generic[T]):
    """The look-ahead window of a dispatcher: pop the longest item, or the oldest on demand.

    The caller decides when to refill (see :func:`longest_first` for the usual loop) and may
    take the oldest item instead of the longest, e.g. to bound a reorder buffer. An unknown
    duration counts as the median of the known durations in the window when the item
    enters it (0 if none is known): a guess in the middle neither lets it outrank measured
    long jobs nor sends it to the very end of the batch, where a recording that turns out
    long would run alone and stretch the batch.
    """

    def __init__(self) -> None:
        """Create an empty window."""
        self._order = itertools.count()
        # Entries: (-expected duration, arrival order, known duration or None, item). The
        # arrival order breaks ties, so items themselves are never compared.
        self._heap: list[tuple[float, int, float | None, T]] = []

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, item: T, duration: float | None) -> None:
        """Add an item with its expected processing time in seconds (None if unknown)."""
        known = _known(duration)
        expected = known if known is not None else _median_known(self._heap)
        heapq.heappush(self._heap, (-expected, next(self._order), known, item))

    def pop_longest(self) -> T:
        """Remove and return the longest item; equal ones leave in arrival order.

        Raises:
            IndexError: when the window is empty.
        """
        return heapq.heappop(self._heap)[3]

    def peek_longest(self) -> T:
        """The item :meth:`pop_longest` would return, left in the window.

        Raises:
            IndexError: when the window is empty.
        """
        return self._heap[0][3]

    def pop_oldest(self) -> T:
        """Remove and return the item that arrived first (linear in the window's size).

        Raises:
            IndexError: when the window is empty.
        """
        if not self._heap:
            raise IndexError("pop from an empty window")
        at = min(range(len(self._heap)), key=lambda i: self._heap[i][1])
        entry = self._heap[at]
        last = self._heap.pop()
        if at < len(self._heap):
            self._heap[at] = last
            heapq.heapify(self._heap)
        return entry[3]


async def longest_first(
    source: AsyncIterable[T] | Iterable[T],
    *,
    duration: Callable[[T], float | None],
    window: int,
) -> AsyncIterator[T]:
    """Yield items longest first, reading at most ``window`` items ahead of the consumer.

    Before each yield the window is refilled from ``source`` (lazily, one item per item
    yielded once full) and its longest item is yielded; equal keys keep their input order.
    Memory is bounded by ``window`` whatever the input's length, and an endless input works.
    Unknown durations (None, NaN, infinite or negative) rank as the median of the known
    ones (see :class:`LongestFirstWindow`).

    Args:
        source: the items, a sync or async iterable; read only as needed.
        duration: seconds of processing an item is expected to take, or None if unknown.
        window: how many items may be read ahead (at least 1; 1 keeps the input order).

    Yields:
        Every item of ``source`` exactly once.

    Raises:
        ValidationError: when ``window`` is not a positive integer (on the first ``anext``,
            as this is an async generator).
    """
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ValidationError("window", "must be an integer >= 1")
    pending: LongestFirstWindow[T] = LongestFirstWindow()
    pull = puller(source)
    exhausted = False
    while True:
        while not exhausted and len(pending) < window:
            got = await pull()
            if got is DONE:
                exhausted = True
                break
            item: T = got  # type: ignore[assignment]
            pending.push(item, duration(item))
        if not pending:
            return
        yield pending.pop_longest()


DONE = object()
"""What :func:`puller`'s function returns once the source is exhausted."""


def puller(source: AsyncIterable[T] | Iterable[T]) -> Callable[[], Awaitable[object]]:
    """Return an async function that pulls the next item of ``source``, or :data:`DONE`.

    Args:
        source: a sync or async iterable; it is read one item per call, no further.
    """
    if isinstance(source, AsyncIterable):
        ait = aiter(source)

        async def pull_async() -> object:
            return await anext(ait, DONE)

        return pull_async
    it = iter(source)

    async def pull_sync() -> object:
        return next(it, DONE)

    return pull_sync


def _known(value: float | None) -> float | None:
    if value is None or not math.isfinite(value) or value < 0:
        return None
    return float(value)


def _median_known(heap: list[tuple[float, int, float | None, T]]) -> float:
    known = [entry[2] for entry in heap if entry[2] is not None]
    return statistics.median(known) if known else 0.0
