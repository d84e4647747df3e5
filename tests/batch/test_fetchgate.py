"""The batch's fetch gate: a few fetches at once, each after the refills under way (a claim,
then its items' submits on the wire), but never kept waiting longer than its bound."""

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


async def test_a_fetch_waits_from_a_refills_claim_to_its_submits_answer() -> None:
    # The claim's hold ends after the task it started has begun its submit: a fetch that
    # waited for the claim is not let through in between.
    gate = FetchGate(at_once=2, wait=30.0)
    order: list[str] = []
    claimed, answered = asyncio.Event(), asyncio.Event()

    async def submit() -> None:
        with gate.submitting():
            await answered.wait()
            order.append("submit answered")

    async def refill() -> asyncio.Future[None]:
        with gate.claiming():
            await claimed.wait()  # the claim in the ledger
            return asyncio.ensure_future(submit())  # the claimed item's task

    async def fetch() -> None:
        async with gate.fetching():
            order.append("fetch")

    refilling = asyncio.ensure_future(refill())
    await asyncio.sleep(0)
    assert gate.submits == 1
    fetching = asyncio.ensure_future(fetch())
    claimed.set()
    sending = await refilling
    for _ in range(10):  # turns of the loop: the claim's hold has passed to the submit
        await asyncio.sleep(0)
    assert order == [] and gate.submits == 1
    answered.set()
    await asyncio.gather(sending, fetching)
    assert order == ["submit answered", "fetch"] and gate.submits == 0


async def test_a_fetch_looks_after_the_tasks_woken_before_it() -> None:
    # A job's end gives its slot back, which wakes the dispatcher; the ended job's fetch
    # follows at once. The fetch looks one turn later: the claim holds the gate by then.
    gate = FetchGate(at_once=2, wait=30.0)
    order: list[str] = []
    slot_free, claimed = asyncio.get_running_loop().create_future(), asyncio.Event()

    async def dispatcher() -> None:
        await slot_free
        with gate.claiming():
            await claimed.wait()
            order.append("claimed")

    async def ended_job() -> None:
        slot_free.set_result(None)  # its slot given back, then its fetch in the same step
        async with gate.fetching():
            order.append("fetch")

    dispatching = asyncio.ensure_future(dispatcher())
    await asyncio.sleep(0)  # waiting for a slot
    fetching = asyncio.ensure_future(ended_job())
    for _ in range(10):
        await asyncio.sleep(0)
    assert order == [] and gate.submits == 1
    claimed.set()
    await asyncio.gather(dispatching, fetching)
    assert order == ["claimed", "fetch"] and gate.submits == 0
