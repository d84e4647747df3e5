"""Dispatch order: longest jobs first, within a bounded look-ahead window.

With every account slot busy, the batch ends when its last job ends; starting the long
recordings first keeps a 4-hour file from starting last and running alone (the LPT rule).
The input may be huge or endless, so ordering is local: only ``window`` items are read ahead.
"""

from __future__ import annotations

import heapq
import itertools
import math
import statistics
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from typing import Generic, TypeVar

from symbl_async.errors import ValidationError

__all__ = ["DONE", "LongestFirstWindow", "longest_first", "puller"]

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
