"""JobSlots: the account's concurrent jobs, FIFO fairness, AIMD after 429s, backoff."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

import pytest

from symbl_async.batch._slots import PLAN_LIMITS, JobSlots
from symbl_async.errors import ValidationError


async def yield_until(predicate: Callable[[], bool], turns: int = 1000) -> None:
    """Let other tasks run (no timer) until ``predicate`` holds."""
    for _ in range(turns):
        if predicate():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never became true")


class RecordingRandom(random.Random):
    """Records the range of every ``uniform`` and returns its top (the slowest draw)."""

    def __init__(self) -> None:
        super().__init__(0)
        self.ranges: list[tuple[float, float]] = []

    def uniform(self, a: float, b: float) -> float:
        self.ranges.append((a, b))
        return b


def test_plan_limits_and_presets() -> None:
    assert dict(PLAN_LIMITS) == {"trial": 2, "free": 5, "paid": 50}
    assert JobSlots().max_limit == 50
    slots = JobSlots.for_plan("free")
    assert (slots.max_limit, slots.limit, slots.in_use, slots.rejections) == (5, 5, 0, 0)
    with pytest.raises(ValidationError) as info:
        JobSlots.for_plan("gold")
    assert info.value.field == "plan"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_concurrent_jobs": 0}, "max_concurrent_jobs"),
        ({"max_concurrent_jobs": True}, "max_concurrent_jobs"),
        ({"max_concurrent_jobs": 2.5}, "max_concurrent_jobs"),
        ({"min_limit": 0}, "min_limit"),
        ({"max_concurrent_jobs": 2, "min_limit": 3}, "min_limit"),
        ({"increase_every": 0}, "increase_every"),
        ({"decrease_factor": 1.0}, "decrease_factor"),
        ({"decrease_factor": 0}, "decrease_factor"),
        ({"backoff_base": 0}, "backoff_base"),
        ({"backoff_base": float("nan")}, "backoff_base"),
        ({"backoff_base": 2.0, "backoff_cap": 1.0}, "backoff_cap"),
        ({"backoff_cap": float("inf")}, "backoff_cap"),
    ],
)
def test_arguments_are_validated(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        JobSlots(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == field


async def test_never_more_than_the_limit_in_use() -> None:
    slots = JobSlots(7)
    inside: set[int] = set()
    peak = 0
    entered: asyncio.Queue[tuple[int, asyncio.Event]] = asyncio.Queue()

    async def worker(i: int) -> None:
        nonlocal peak
        await slots.acquire()
        inside.add(i)
        peak = max(peak, len(inside))
        assert slots.in_use <= slots.limit
        done = asyncio.Event()
        await entered.put((i, done))
        await done.wait()
        inside.discard(i)
        slots.release()

    tasks = [asyncio.create_task(worker(i)) for i in range(60)]
    await yield_until(lambda: slots.waiting == 60 - 7)
    assert slots.in_use == 7
    rng = random.Random(1)
    held: list[asyncio.Event] = []
    for _ in range(60):
        _, done = await entered.get()
        held.append(done)
        if len(held) == 7:
            # Release the held jobs in a random order, the way real jobs end.
            rng.shuffle(held)
            held.pop().set()
    while held:
        held.pop().set()
    await asyncio.gather(*tasks)
    assert peak == 7
    assert slots.in_use == 0


async def test_waiters_are_served_first_come_first_served() -> None:
    slots = JobSlots(1)
    await slots.acquire()
    order: list[str] = []

    async def take(name: str) -> None:
        await slots.acquire()
        order.append(name)

    first = [asyncio.create_task(take(n)) for n in "abc"]
    await yield_until(lambda: slots.waiting == 3)
    slots.release()  # the slot goes to "a" at once
    late = asyncio.create_task(take("late"))  # arrives while "b" and "c" wait
    await yield_until(lambda: order == ["a"])
    for served in (2, 3, 4):
        slots.release()
        await yield_until(lambda: len(order) == served)  # noqa: B023 (awaited in the loop)
    assert order == ["a", "b", "c", "late"]
    await asyncio.gather(*first, late)
    assert slots.in_use == 1


async def test_a_newcomer_does_not_overtake_a_granted_waiter() -> None:
    slots = JobSlots(1)
    await slots.acquire()
    waiter = asyncio.create_task(slots.acquire())
    await yield_until(lambda: slots.waiting == 1)
    slots.release()
    # The slot is handed to the waiter at release time, before it even runs again.
    assert slots.in_use == 1
    newcomer = asyncio.create_task(slots.acquire())
    await waiter
    await yield_until(lambda: slots.waiting == 1)
    assert not newcomer.done()
    slots.release()
    await newcomer


async def test_cancelled_waiter_does_not_leak_a_slot() -> None:
    slots = JobSlots(1)
    await slots.acquire()
    doomed = asyncio.create_task(slots.acquire())
    survivor = asyncio.create_task(slots.acquire())
    await yield_until(lambda: slots.waiting == 2)
    doomed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await doomed
    assert slots.waiting == 1
    slots.release()
    await survivor
    assert slots.in_use == 1


async def test_release_without_a_slot_is_an_error() -> None:
    slots = JobSlots(2)
    with pytest.raises(RuntimeError, match="release"):
        slots.release()
    with pytest.raises(RuntimeError, match="on_rejected"):
        slots.on_rejected()


async def test_rejections_halve_the_limit_down_to_min_limit() -> None:
    slots = JobSlots(50, min_limit=3, backoff_base=0.001, backoff_cap=0.001)
    seen = []
    for _ in range(6):
        await slots.acquire()
        slots.on_rejected()
        seen.append(slots.limit)
    assert seen == [25, 12, 6, 3, 3, 3]
    assert slots.rejections == 6
    assert slots.in_use == 0


async def test_the_limit_never_drops_below_one() -> None:
    slots = JobSlots(5, decrease_factor=0.1)
    for _ in range(3):
        await slots.acquire()
        slots.on_rejected()
    assert slots.limit == 1
    await slots.acquire()  # still room for one: other programs hold the rest
    assert slots.in_use == 1


async def test_one_burst_of_429s_lowers_the_limit_once() -> None:
    slots = JobSlots(8)
    for _ in range(8):
        await slots.acquire()
    for _ in range(5):  # five submits sent under the old limit are refused together
        slots.on_rejected()
    assert slots.limit == 4
    assert slots.rejections == 5
    assert slots.in_use == 3
    await slots.acquire()  # a submit under the new limit, refused again: now it counts
    slots.on_rejected()
    assert slots.limit == 2


async def test_successes_raise_the_limit_back_slowly_up_to_max() -> None:
    slots = JobSlots(4, increase_every=3)
    await slots.acquire()
    slots.on_rejected()
    assert slots.limit == 2
    limits = []
    for _ in range(9):
        slots.on_accepted()
        limits.append(slots.limit)
    assert limits == [2, 2, 3, 3, 3, 4, 4, 4, 4]


async def test_a_rejection_restarts_the_success_streak() -> None:
    slots = JobSlots(10, increase_every=2)
    await slots.acquire()
    slots.on_rejected()  # 5
    slots.on_accepted()
    await slots.acquire()
    slots.on_rejected()  # 2; the one success above no longer counts
    slots.on_accepted()
    assert slots.limit == 2
    slots.on_accepted()
    assert slots.limit == 3


async def test_raising_the_limit_wakes_a_waiter() -> None:
    slots = JobSlots(4, increase_every=1)
    await slots.acquire()
    slots.on_rejected()  # limit 2
    await slots.acquire()
    await slots.acquire()
    waiter = asyncio.create_task(slots.acquire())
    await yield_until(lambda: slots.waiting == 1)
    slots.on_accepted()  # limit 3: room for the waiter
    await waiter
    assert (slots.limit, slots.in_use) == (3, 3)


async def test_wait_after_rejection_returns_at_the_next_release() -> None:
    slots = JobSlots(2, backoff_base=3600, backoff_cap=3600)  # only a release can wake it
    await slots.acquire()
    await slots.acquire()
    slots.on_rejected()
    waiting = asyncio.create_task(slots.wait_after_rejection())
    await yield_until(lambda: len(slots._release_waiters) == 1)
    assert not waiting.done()
    slots.release()
    assert await asyncio.wait_for(waiting, timeout=5) is True


async def test_each_release_wakes_one_waiter_oldest_first() -> None:
    slots = JobSlots(3, backoff_base=3600, backoff_cap=3600)
    for _ in range(3):
        await slots.acquire()
    first = asyncio.create_task(slots.wait_after_rejection())
    await yield_until(lambda: len(slots._release_waiters) == 1)
    second = asyncio.create_task(slots.wait_after_rejection())
    await yield_until(lambda: len(slots._release_waiters) == 2)
    slots.release()
    assert await asyncio.wait_for(first, timeout=5) is True
    assert not second.done()
    slots.release()
    assert await asyncio.wait_for(second, timeout=5) is True


async def test_wait_after_rejection_times_out_after_the_backoff() -> None:
    slots = JobSlots(2, backoff_base=0.001, backoff_cap=0.002)
    await slots.acquire()
    slots.on_rejected()
    assert await asyncio.wait_for(slots.wait_after_rejection(), timeout=5) is False
    assert not slots._release_waiters


async def test_backoff_grows_with_rejections_is_capped_and_resets_on_success() -> None:
    rng = RecordingRandom()
    slots = JobSlots(50, backoff_base=0.001, backoff_cap=0.004, rng=rng)
    for _ in range(4):
        await slots.acquire()
        slots.on_rejected()
        assert await slots.wait_after_rejection() is False
    slots.on_accepted()
    await slots.acquire()
    slots.on_rejected()
    await slots.wait_after_rejection()
    # Full jitter: uniform over [0, min(cap, base * 2**(n-1))], n = 429s since a success.
    assert rng.ranges == [(0.0, 0.001), (0.0, 0.002), (0.0, 0.004), (0.0, 0.004), (0.0, 0.001)]
