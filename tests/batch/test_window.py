"""longest_first: ordering within a bounded look-ahead window, and laziness."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterable, Iterator

import pytest

from symbl_async.batch._slots import LongestFirstWindow, longest_first
from symbl_async.errors import ValidationError


class Counting:
    """A sync iterator that counts how many items were pulled from it."""

    def __init__(self, items: Iterable[float | None]) -> None:
        self._it = iter(items)
        self.pulled = 0

    def __iter__(self) -> Iterator[float | None]:
        return self

    def __next__(self) -> float | None:
        item = next(self._it)
        self.pulled += 1
        return item


def ident(x: float | None) -> float | None:
    return x


async def take(it: AsyncIterator[float | None], n: int | None = None) -> list[float | None]:
    out: list[float | None] = []
    async for item in it:
        out.append(item)
        if n is not None and len(out) == n:
            break
    return out


async def test_longest_first_within_the_window() -> None:
    got = await take(longest_first([3, 1, 4, 1, 5, 9, 2, 6], duration=ident, window=3))
    # window [3,1,4] -> 4; [3,1,1] -> 3; [1,1,5] -> 5; [1,1,9] -> 9; [1,1,2] -> 2; ...
    assert got == [4, 3, 5, 9, 2, 6, 1, 1]


async def test_a_window_as_large_as_the_input_sorts_it() -> None:
    items = [7.0, 120.0, 3.5, 3600.0, 60.0]
    got = await take(longest_first(items, duration=ident, window=100))
    assert got == sorted(items, reverse=True)


async def test_window_of_one_keeps_the_input_order() -> None:
    assert await take(longest_first([1, 5, 2], duration=ident, window=1)) == [1, 5, 2]


async def test_ties_keep_the_input_order() -> None:
    items = [("a", 5.0), ("b", 5.0), ("c", 9.0), ("d", 5.0)]
    got = [
        name async for name, _ in longest_first(items, duration=lambda x: x[1], window=4)
    ]
    assert got == ["c", "a", "b", "d"]


async def test_unknown_durations_count_as_the_window_median() -> None:
    # When "?" enters, the window holds 10, 30 and 20: its median (20) ranks it; ties keep
    # the input order, so it comes after the known 20 that arrived earlier.
    items = [("a", 10.0), ("b", 30.0), ("c", 20.0), ("?", None), ("d", 5.0)]
    got = [n async for n, _ in longest_first(items, duration=lambda x: x[1], window=5)]
    assert got == ["b", "c", "?", "a", "d"]


async def test_unknown_durations_alone_keep_their_order() -> None:
    items = [("a", None), ("b", float("nan")), ("c", -1.0), ("d", 4.0)]
    got = [n async for n, _ in longest_first(items, duration=lambda x: x[1], window=2)]
    # [a, b] both count as 0 -> a; [b, c] -> b; [c, d] -> d (4 beats the median 0 of c); c.
    assert got == ["a", "b", "d", "c"]


async def test_never_reads_more_than_window_ahead() -> None:
    source = Counting(float(x % 17) for x in range(500))
    ahead = []
    yielded = 0
    async for _ in longest_first(source, duration=ident, window=8):
        yielded += 1
        ahead.append(source.pulled - yielded)
        assert source.pulled - yielded <= 7  # at most window items were pulled and not yielded
    assert yielded == 500
    assert max(ahead) == 7


async def test_an_endless_input_is_read_lazily() -> None:
    source = Counting(float(x % 5) for x in itertools.count())
    got = await take(longest_first(source, duration=ident, window=4), 12)
    assert len(got) == 12
    assert source.pulled == 12 + 3


async def test_async_iterables_are_accepted() -> None:
    pulled = 0

    async def gen() -> AsyncIterator[float]:
        nonlocal pulled
        for x in [2.0, 8.0, 1.0, 9.0, 3.0]:
            pulled += 1
            yield x

    it = longest_first(gen(), duration=ident, window=2)
    assert await anext(it) == 8.0
    assert pulled == 2
    assert await take(it) == [2.0, 9.0, 3.0, 1.0]


async def test_empty_input() -> None:
    assert await take(longest_first([], duration=ident, window=3)) == []


@pytest.mark.parametrize("window", [0, -1, 2.5, True])
async def test_window_must_be_a_positive_integer(window: object) -> None:
    with pytest.raises(ValidationError) as info:
        await take(longest_first([1.0], duration=ident, window=window))  # type: ignore[arg-type]
    assert info.value.field == "window"


def test_window_pops_longest_or_oldest() -> None:
    window: LongestFirstWindow[str] = LongestFirstWindow()
    for name, seconds in [("a", 5.0), ("b", 50.0), ("c", None), ("d", 20.0)]:
        window.push(name, seconds)
    assert len(window) == 4
    assert window.pop_oldest() == "a"
    assert window.pop_longest() == "b"
    # "c" entered with the median of {5, 50} = 27.5, so it outranks d (20).
    assert window.pop_longest() == "c"
    assert window.pop_oldest() == "d"
    with pytest.raises(IndexError):
        window.pop_oldest()
    with pytest.raises(IndexError):
        window.pop_longest()


def test_window_pop_oldest_keeps_the_heap_order() -> None:
    window: LongestFirstWindow[float] = LongestFirstWindow()
    for seconds in [3.0, 9.0, 1.0, 7.0, 5.0, 8.0]:
        window.push(seconds, seconds)
    assert window.pop_oldest() == 3.0
    assert window.pop_oldest() == 9.0
    assert [window.pop_longest() for _ in range(4)] == [8.0, 7.0, 5.0, 1.0]
