"""Global job slots in PostgreSQL: claims never over-admit, under real concurrency (8 workers
on 8 connections to a real server), while a naive single-statement claim does; and the
shared 429-adaptive limit and cooldown."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from symbl_async.batch._pg_store import PostgresStore
from symbl_async.batch._records import ItemState, LedgerItem
from symbl_async.errors import LedgerError

LIMIT = 50
ITEMS = 300
WORKERS = 8
IN_FLIGHT_SQL = "state IN ('submitting', 'unknown', 'submitted')"
# Installed by the tests, not by the store: at each commit that changes an item's state,
# count the jobs in flight. The advisory lock queues those commits, so each count sees every
# earlier commit and the sequence of counts is the exact history of the total.
WATCH = f"""
CREATE TABLE watch (id int PRIMARY KEY, max_seen int NOT NULL, over int NOT NULL);
INSERT INTO watch VALUES (1, 0, 0);
CREATE FUNCTION watch_in_flight() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE n int;
BEGIN
    PERFORM pg_advisory_xact_lock(4242);
    SELECT count(*) INTO n FROM items WHERE {IN_FLIGHT_SQL};
    UPDATE watch SET max_seen = greatest(max_seen, n), over = over + (n > {LIMIT})::int;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER watch AFTER INSERT OR UPDATE OF state ON items
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION watch_in_flight();
"""
# The claim the issue warns about: one UPDATE whose subquery counts the slots, then the
# bookkeeping every claim does (the AIMD's count of claims since the last decrease).
NAIVE_CLAIM = f"""
UPDATE items SET state = 'submitting', owner = $1, attempts = attempts + 1
WHERE key IN (
    SELECT key FROM items WHERE state = 'pending'
    ORDER BY duration DESC NULLS LAST, key
    LIMIT greatest(0, least(1, {LIMIT} - (SELECT count(*) FROM items WHERE {IN_FLIGHT_SQL})))
    FOR UPDATE SKIP LOCKED)
RETURNING key"""


def name_for(row: LedgerItem) -> str:
    return f"{row.name}-a{row.attempts + 1}"


@pytest.fixture
async def workers(pg_url: str) -> AsyncIterator[list[PostgresStore]]:
    """8 stores (8 worker ids, 8 pools) on a ledger of 300 pending items, limit 50, with
    the watch trigger."""
    stores = list(await asyncio.gather(
        *(PostgresStore.connect(pg_url, worker_id=f"w{i}") for i in range(WORKERS))
    ))
    try:
        rng = random.Random(9)
        for i in range(ITEMS):
            await stores[0].upsert_pending(f"k{i:03d}", "s", f"n{i}", rng.uniform(1, 600))
        for store in stores:
            await store.join(max_limit=LIMIT, lease=60)
        await sql(pg_url, WATCH)
        yield stores
    finally:
        await asyncio.gather(*(store.aclose() for store in stores))


async def sql(url: str, statement: str) -> list[Any]:
    """Run SQL on a connection of its own; the rows, if any."""
    conn = await asyncpg.connect(url)
    try:
        if statement.lstrip().startswith("SELECT"):
            return list(await conn.fetch(statement))
        await conn.execute(statement)
        return []
    finally:
        await conn.close()


async def watched(url: str) -> tuple[int, int]:
    rows = await sql(url, "SELECT max_seen, over FROM watch")
    return int(rows[0]["max_seen"]), int(rows[0]["over"])


async def take(store: PostgresStore, keys: list[str], group: int) -> list[LedgerItem]:
    """One claim: of one candidate (``claim``), or of up to ``group`` items of the whole
    backlog in one transaction (``claim_many``, what the engine uses)."""
    if group == 1:
        item = await store.claim(keys, name_for)
        return [] if item is None else [item]
    return await store.claim_many(group, name_for)


@pytest.mark.parametrize("group", [1, 16])
async def test_eight_workers_claim_exactly_the_limit_longest_first(
    workers: list[PostgresStore], pg_url: str, group: int
) -> None:
    keys = [f"k{i:03d}" for i in range(ITEMS)]

    async def claim_until_full(store: PostgresStore) -> list[str]:
        got: list[str] = []
        for _ in range(ITEMS + 1):  # bounded: each claim takes one of 300 items or stops
            items = await take(store, keys, group)
            if not items:
                return got
            for item in items:
                assert (item.state, item.owner, item.attempts) == (ItemState.SUBMITTING,
                                                                  store.worker_id, 1)
                got.append(item.key)
        raise AssertionError("claims never stopped")

    claimed = await asyncio.gather(*(claim_until_full(store) for store in workers))
    everyone = [key for got in claimed for key in got]
    assert len(everyone) == len(set(everyone)) == LIMIT  # exactly the limit, no item twice
    assert await workers[0].in_flight() == LIMIT
    assert await watched(pg_url) == (LIMIT, 0)
    # Longest first across the whole backlog, whoever claimed.
    longest = await sql(pg_url, f"SELECT key FROM items ORDER BY duration DESC LIMIT {LIMIT}")
    assert set(everyone) == {r["key"] for r in longest}
    assert sum(1 for got in claimed if got) >= 2  # the claims really ran side by side


@pytest.mark.parametrize("group", [1, 16])
async def test_claiming_and_finishing_concurrently_never_exceeds_the_limit(
    workers: list[PostgresStore], pg_url: str, group: int
) -> None:
    keys = [f"k{i:03d}" for i in range(ITEMS)]

    async def work(store: PostgresStore, seed: int) -> int:
        rng, mine, done = random.Random(seed), list[str](), 0
        for _ in range(20 * ITEMS):  # bounded
            items = await take(store, keys, rng.randint(1, group) if group > 1 else 1)
            item = items[0] if items else None
            for claimed in items:
                mine.append(claimed.key)
                await store.mark_submitted(claimed.key, f"job-{claimed.key}", None)
            if mine and (item is None or rng.random() < 0.3):
                key = mine.pop(rng.randrange(len(mine)))
                await store.mark_completed(key)
                await store.mark_fetched(key, None)
                done += 1
            elif item is None:
                if (await store.counts())["pending"] == 0:
                    return done
                await store.wait_changed(0.05)
        raise AssertionError("the batch did not finish")

    done = await asyncio.gather(*(work(store, i) for i, store in enumerate(workers)))
    assert sum(done) == ITEMS
    counts = await workers[0].counts()
    assert counts["fetched"] == ITEMS
    max_seen, over = await watched(pg_url)
    assert over == 0 and 1 <= max_seen <= LIMIT
    attempts = await sql(pg_url, "SELECT DISTINCT attempts FROM items")
    assert [r["attempts"] for r in attempts] == [1]  # each item submitted once


async def test_a_naive_single_statement_claim_over_admits(
    workers: list[PostgresStore], pg_url: str
) -> None:
    """The same load through the claim the issue warns about: its subquery counts from the
    statement's snapshot, which the concurrent claims outdate before they commit."""
    conns = [await asyncpg.connect(pg_url) for _ in range(WORKERS)]

    async def naive(conn: Any, worker: str) -> int:
        n = 0
        for _ in range(ITEMS + 1):
            async with conn.transaction():
                got = await conn.fetch(NAIVE_CLAIM, worker)
                await conn.execute(
                    "UPDATE account SET since_decrease = since_decrease + 1 WHERE id = 1"
                )
            if not got:
                return n
            n += len(got)
        raise AssertionError("claims never stopped")

    try:
        admitted: list[int] = []
        for _ in range(20):  # bounded; it over-admitted in every round when measured
            await sql(pg_url, "UPDATE items SET state = 'pending', owner = NULL")
            counts = await asyncio.gather(*(naive(c, f"w{i}") for i, c in enumerate(conns)))
            admitted.append(sum(counts))
            if admitted[-1] > LIMIT:
                break
    finally:
        await asyncio.gather(*(c.close() for c in conns))
    assert max(admitted) > LIMIT, admitted
    assert (await watched(pg_url))[1] > 0  # the watch saw it too


async def test_a_429_lowers_the_limit_all_workers_see_once_per_burst(
    workers: list[PostgresStore], pg_url: str
) -> None:
    a, b = workers[0], workers[1]
    keys = [f"k{i:03d}" for i in range(ITEMS)]

    async def limit() -> int:
        return int((await sql(pg_url, "SELECT lim FROM account"))[0]["lim"])

    assert await a.claim(keys, name_for) is not None
    await a.on_rejected(cooldown=30.0)
    assert await limit() == LIMIT // 2
    await b.on_rejected(cooldown=30.0)  # the same burst: no claim since the decrease
    assert await limit() == LIMIT // 2
    # The cooldown holds every worker's claims, slots free or not.
    assert await b.claim(keys, name_for) is None and await a.claim(keys, name_for) is None
    await sql(pg_url, "UPDATE account SET cooldown_until = now()")  # as if 30 s had passed
    assert await b.claim(keys, name_for) is not None
    await b.on_rejected(cooldown=0.0)  # a new burst: a claim came since the last decrease
    assert await limit() == LIMIT // 4
    for _ in range(2 * LIMIT):
        await workers[2].on_accepted()  # +1 per two successes, up to the ceiling
    assert await limit() == LIMIT
    await workers[3].join(max_limit=10, lease=60)  # a lower ceiling applies at once
    assert await limit() == 10


async def test_claims_need_a_join_and_skip_what_is_not_pending(pg_url: str) -> None:
    store = await PostgresStore.connect(pg_url, worker_id="solo")
    try:
        await store.upsert_pending("short", "s", "short", 1.0)
        await store.upsert_pending("long", "s", "long", 9.0)
        await store.upsert_pending("unknown-length", "s", "u", None)
        await store.upsert_pending("elsewhere", "s", "e", 99.0)
        with pytest.raises(LedgerError, match="claim before join"):
            await store.claim(["short"], name_for)
        await store.join(max_limit=2, lease=60)
        assert await store.claim([], name_for) is None

        def broken(row: LedgerItem) -> str:
            raise KeyError(row.key)

        with pytest.raises(KeyError):  # the caller's error, as it is; nothing claimed
            await store.claim(["short"], broken)
        assert (await store.counts())["pending"] == 4
        order = [await store.claim(["short", "long", "unknown-length"], name_for)]
        await store.mark_failed("short", "gone")  # no longer pending: skipped
        order.append(await store.claim(["short", "long", "unknown-length"], name_for))
        assert [i.key if i else None for i in order] == ["long", "unknown-length"]
        assert await store.claim(["elsewhere"], name_for) is None  # both slots taken
        await store.mark_submitted("long", "j", None)
        await store.mark_completed("long")  # leaves the slots: one is free again
        got = await store.claim(["elsewhere"], name_for)
        assert got is not None and got.name == "e-a1" and got.error is None
    finally:
        await store.aclose()
