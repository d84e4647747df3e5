"""Leases, adoption and fencing in the PostgreSQL ledger, and the notifications that wake
waiting workers: two or three stores (worker ids, pools) on one real database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable

import asyncpg
import pytest
from _polling import eventually
from _postgres import PostgresServer

from symbl_async.batch._pg_store import PostgresStore
from symbl_async.batch._records import ItemState, LedgerItem
from symbl_async.errors import LeaseLostError

S = ItemState


def name_for(row: LedgerItem) -> str:
    return f"{row.name}-a{row.attempts + 1}"


@pytest.fixture
async def trio(pg_url: str) -> AsyncIterator[tuple[PostgresStore, PostgresStore, PostgresStore]]:
    a, b, c = await asyncio.gather(
        *(PostgresStore.connect(pg_url, worker_id=w) for w in ("A", "B", "C"))
    )
    try:
        for key in ("k1", "k2", "k3"):
            await a.upsert_pending(key, "s", key, 10.0)
        yield a, b, c
    finally:
        await asyncio.gather(a.aclose(), b.aclose(), c.aclose())


async def lease_over(url: str, worker: str) -> bool:
    """The server's own clock says the worker's lease is over."""
    conn = await asyncpg.connect(url)
    try:
        return bool(await conn.fetchval(
            "SELECT lease_until <= now() FROM workers WHERE id = $1", worker))
    finally:
        await conn.close()


async def test_a_worker_past_its_lease_loses_its_items_to_an_adopter(
    trio: tuple[PostgresStore, PostgresStore, PostgresStore], pg_url: str
) -> None:
    a, b, _ = trio
    await a.join(max_limit=5, lease=0.5)
    await b.join(max_limit=5, lease=60)
    claimed = await a.claim(["k1"], name_for)
    assert claimed is not None and claimed.owner == "A"
    assert await b.adopt() == []  # A's lease still runs: nothing to take
    await eventually(lambda: lease_over(pg_url, "A"), timeout=30)  # A is paused, say
    adopted = await b.adopt()
    assert [(i.key, i.state, i.owner) for i in adopted] == [("k1", S.SUBMITTING, "B")]
    assert adopted[0].fence is not None and claimed.fence is not None
    assert adopted[0].fence > claimed.fence
    # A comes back: its writes are refused, its heartbeat says it is dead.
    with pytest.raises(LeaseLostError) as exc:
        await a.mark_unknown("k1", "no answer")
    assert exc.value.key == "k1" and "'B'" in str(exc.value)
    with pytest.raises(LeaseLostError):
        await a.mark_failed("k1", "giving up")
    assert await a.heartbeat() is False
    row = await b.get("k1")
    assert row == adopted[0]  # B's state, untouched by A
    assert (await b.mark_submitted("k1", "job", None)).owner == "B"
    assert await b.heartbeat() is True
    assert await b.in_flight() == 1  # the slot stays counted across the change of hands


async def test_a_live_lease_keeps_items_and_leave_hands_them_over_at_once(
    trio: tuple[PostgresStore, PostgresStore, PostgresStore],
) -> None:
    a, b, _ = trio
    await a.join(max_limit=5, lease=60)
    await b.join(max_limit=5, lease=60)
    for key in ("k1", "k2"):
        assert await a.claim([key], name_for) is not None
    await a.mark_submitted("k2", "j2", None)
    await a.mark_completed("k2")  # completed: still A's to fetch, still adoptable
    assert await a.heartbeat() is True
    assert await b.adopt() == []
    await a.leave()
    adopted = await b.adopt()
    assert [(i.key, i.state) for i in adopted] == [("k1", S.SUBMITTING), ("k2", S.COMPLETED)]
    assert await b.adopt() == []  # B's own now
    assert await a.adopt() == []  # and a worker that left cannot take them back silently
    with pytest.raises(LeaseLostError):
        await a.mark_fetched("k2", None)


async def test_adopters_racing_take_each_item_once_and_only_unfinished_ones(
    trio: tuple[PostgresStore, PostgresStore, PostgresStore], pg_url: str
) -> None:
    a, b, c = trio
    for key in ("k4", "k5", "k6", "k7"):
        await a.upsert_pending(key, "s", key)
    # A non-shared run's leftovers (no owner) and a dead worker's, in every state.
    await a.mark_submitting("k1")
    await a.mark_submitting("k2")
    await a.mark_unknown("k2")
    await a.mark_failed("k3", "bad")
    await a.join(max_limit=9, lease=0.2)
    for key in ("k4", "k5", "k6"):
        assert await a.claim([key], name_for) is not None
    await a.mark_submitted("k5", "j5", None)
    await a.mark_submitted("k6", "j6", None)
    await a.mark_completed("k6")
    await a.mark_fetched("k6", None)
    await b.join(max_limit=9, lease=60)
    await c.join(max_limit=9, lease=60)
    await eventually(lambda: lease_over(pg_url, "A"), timeout=30)
    got_b, got_c = await asyncio.gather(b.adopt(), c.adopt())
    taken = sorted(i.key for i in got_b + got_c)
    assert taken == ["k1", "k2", "k4", "k5"]  # not pending k7, failed k3, fetched k6
    owners = {i.key: i.owner for i in got_b + got_c}
    for key in taken:
        row = await a.get(key)
        assert row is not None and row.owner == owners[key]


async def test_wait_changed_wakes_on_a_freed_slot_or_a_new_item(
    trio: tuple[PostgresStore, PostgresStore, PostgresStore],
    postgres_server: PostgresServer, pg_url: str,
) -> None:
    a, b, _ = trio
    loop = asyncio.get_running_loop()
    await b.join(max_limit=5, lease=60)
    await b.claim(["k1", "k2"], name_for)
    await b.claim(["k1", "k2"], name_for)
    await b.mark_submitted("k1", "j", None)
    await asyncio.wait_for(a.wait_changed(60), 30)  # returns once its listener is up
    await a.wait_changed(0)  # forgets what came before

    async def woken_by(action: Awaitable[object]) -> None:
        waiter = asyncio.create_task(a.wait_changed(60))
        await action
        await asyncio.wait_for(waiter, 30)  # long before its own 60 s

    await woken_by(b.mark_completed("k1"))  # a slot is free
    await woken_by(b.upsert_pending("k9", "s", "k9"))  # a new item
    # submitting -> submitted frees nothing: the wait runs its course.
    started = loop.time()
    waiter = asyncio.create_task(a.wait_changed(0.3))
    await b.mark_submitted("k2", "j2", None)
    await waiter
    assert loop.time() - started >= 0.3
    # The listener's connection ends: the next wait reconnects and returns at once, since
    # notifications may have been missed meanwhile.
    assert await postgres_server.terminate_backends(pg_url.rsplit("/", 1)[1]) >= 1
    await asyncio.wait_for(a.wait_changed(60), 30)
    await asyncio.wait_for(a.wait_changed(60), 30)  # listening again: returns once more
    await woken_by(b.mark_failed("k2", "bad"))


async def test_a_worker_stopped_inside_a_transaction_does_not_block_adoption(
    trio: tuple[PostgresStore, PostgresStore, PostgresStore], pg_url: str
) -> None:
    # Seen in a CI run: a worker SIGSTOPped in the middle of one of its transactions held
    # its item and worker rows locked, and the others' adoption waited for as long as it
    # stayed stopped. The store's connections ask the server to end such a transaction.
    a, b, _ = trio
    await a.join(max_limit=5, lease=0.5)
    await b.join(max_limit=5, lease=60)
    claimed = await a.claim(["k1"], name_for)
    assert claimed is not None
    pool = a._pool
    assert pool is not None
    async with pool.acquire() as conn:  # A's own connection, as A left it when stopped
        stuck = conn.transaction()
        await stuck.start()
        await conn.execute("SELECT 1 FROM items WHERE key = 'k1' FOR UPDATE")
        await conn.execute("SELECT 1 FROM workers WHERE id = 'A' FOR UPDATE")
        await eventually(lambda: lease_over(pg_url, "A"), timeout=30)
        adopted = await asyncio.wait_for(b.adopt(), timeout=30)
        assert [(i.key, i.owner) for i in adopted] == [("k1", "B")]
        # The server ended A's transaction and its connection; asyncpg reports that as
        # whichever of these the terminated socket's state gives (InternalClientError
        # when its read of the termination notice was still in progress: seen under load).
        with pytest.raises((asyncpg.PostgresError, asyncpg.InterfaceError,
                            asyncpg.InternalClientError, OSError)):
            await conn.execute("SELECT 1")
