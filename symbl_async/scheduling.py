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
from typing import TypeVar

from symbl_async.errors import ValidationError

__all__ = ["longest_first"]

T = TypeVar("T")


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

    An unknown duration (None, NaN, infinite or negative) counts as the median of the known
    durations in the window when the item enters it (0 if none is known). A guess in the
    middle neither lets it outrank measured long jobs nor sends it to the very end of the
    batch, where a recording that turns out long would run alone and stretch the batch.

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
    order = itertools.count()
    # Entries: (-expected duration, arrival order, known duration or None, item). The arrival
    # order breaks ties, so items themselves are never compared.
    heap: list[tuple[float, int, float | None, T]] = []
    pull = _puller(source)
    exhausted = False
    while True:
        while not exhausted and len(heap) < window:
            got = await pull()
            if got is _DONE:
                exhausted = True
                break
            item: T = got  # type: ignore[assignment]
            known = _known(duration(item))
            expected = known if known is not None else _median_known(heap)
            heapq.heappush(heap, (-expected, next(order), known, item))
        if not heap:
            return
        yield heapq.heappop(heap)[3]


_DONE = object()


def _puller(source: AsyncIterable[T] | Iterable[T]) -> Callable[[], Awaitable[object]]:
    if isinstance(source, AsyncIterable):
        ait = aiter(source)

        async def pull_async() -> object:
            return await anext(ait, _DONE)

        return pull_async
    it = iter(source)

    async def pull_sync() -> object:
        return next(it, _DONE)

    return pull_sync


def _known(value: float | None) -> float | None:
    if value is None or not math.isfinite(value) or value < 0:
        return None
    return float(value)


def _median_known(heap: list[tuple[float, int, float | None, T]]) -> float:
    known = [entry[2] for entry in heap if entry[2] is not None]
    return statistics.median(known) if known else 0.0
