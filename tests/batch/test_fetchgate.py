"""The batch's fetch gate: a few fetches at once, each after the submits on the wire (but
never kept waiting longer than its bound)."""

from __future__ import annotations

import asyncio

from symbl_async.batch._worker import FetchGate


async def test_a_fetch_waits_for_the_submits_on_the_wire() -> None:
    gate = FetchGate(at_once=2, wait=30.0)
    order: list[str] = []
    answered = asyncio.Event()

    async def submit() -> None:
        with gate.submitting():
            await answered.wait()
            order.append("submit answered")

    async def fetch() -> None:
        async with gate.fetching():
            order.append("fetch")

    sending = asyncio.ensure_future(submit())
    await asyncio.sleep(0)  # the submit is on the wire
    assert gate.submits == 1
    fetching = asyncio.ensure_future(fetch())
    await asyncio.sleep(0)
    assert order == []  # held behind the submit
    answered.set()
    await asyncio.gather(sending, fetching)
    assert order == ["submit answered", "fetch"] and gate.submits == 0


async def test_a_fetch_waits_at_most_its_bound_and_at_most_n_run_at_once() -> None:
    gate = FetchGate(at_once=2, wait=0.01)
    inside = 0
    most = 0
    release, two_in = asyncio.Event(), asyncio.Event()

    async def fetch() -> None:
        nonlocal inside, most
        async with gate.fetching():
            inside += 1
            most = max(most, inside)
            if inside == 2:
                two_in.set()
            await release.wait()
            inside -= 1

    with gate.submitting():  # a submit that never settles during the fetches
        tasks = [asyncio.ensure_future(fetch()) for _ in range(5)]
        # The first two pass after their bounded wait, though the submit is still out.
        await asyncio.wait_for(two_in.wait(), timeout=30)
        assert most == 2
        release.set()
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=30)
    assert most == 2
