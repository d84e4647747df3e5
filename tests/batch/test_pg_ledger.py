"""The PostgreSQL ledger's own part, against a real server: connecting (the schema, the
refusals, the password never shown), the migration of a version 1 database, the job slots
under real concurrency (8 workers on 8 pools), notifications, and a worker stopped inside a
transaction. The moves, claims, leases and reads every store shares are in
``test_store_contract.py``; connection loss is in ``test_pg_reconnect.py``."""

from __future__ import annotations

import asyncio
import random
import sys
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import asyncpg
import pytest
from _polling import eventually
from _postgres import PASSWORD, PostgresServer

from symbl_async.batch._ledger import ItemState, LedgerItem, Pending, PostgresStore
from symbl_async.batch._ledger._states import (
    completed,
    failed,
    fetched,
    reopened,
    submitted,
)
from symbl_async.errors import ClientClosedError, LedgerError, ValidationError

S = ItemState


def pending(key: str, duration: float | None = 10.0, spec: str | None = None) -> Pending:
    return Pending(key, f"{key}.wav", f"{key}-name", duration, spec)


async def sql(url: str, statement: str, *args: object) -> list[Any]:
    """Run SQL on a connection of its own; the rows, if any."""
    conn = await asyncpg.connect(url)
    try:
        if statement.lstrip().startswith("SELECT"):
            return list(await conn.fetch(statement, *args))
        await conn.execute(statement, *args)
        return []
    finally:
        await conn.close()


# -- connecting --------------------------------------------------------------------------------


async def test_connect_creates_the_schema_once_and_hides_the_password(pg_url: str) -> None:
    # Together: the schema's creation is serialised (CREATE ... IF NOT EXISTS races alone).
    first, second = await asyncio.gather(*(PostgresStore.connect(pg_url) for _ in range(2)))
    try:
        assert PASSWORD not in first.location and PASSWORD not in repr(first)
        assert first.location == pg_url.replace(f"postgres:{PASSWORD}@", "***@")
        assert first.worker_id != second.worker_id
        await first.add_pending([pending("k")])
        assert await second.get("k") == await first.get("k")
        assert await first.get_meta("schema_version") == "3"
    finally:
        await first.aclose()
        await second.aclose()


async def test_a_read_only_connection_creates_nothing_and_writes_nothing(pg_url: str) -> None:
    # An empty database holds no batch: said, and no table created.
    assert await PostgresStore.connect_read_only(pg_url) is None
    assert await sql(pg_url, "SELECT to_regclass('items') IS NULL AS none") == [(True,)]
    writer = await PostgresStore.connect(pg_url)
    try:
        await writer.add_pending([pending("k")])
    finally:
        await writer.aclose()
    reader = await PostgresStore.connect_read_only(pg_url)
    assert reader is not None
    try:
        assert PASSWORD not in repr(reader)
        assert [row.key for row in await reader.get_many(["k", "nope"])] == ["k"]
        assert (await reader.counts())["pending"] == 1
        with pytest.raises(LedgerError, match="read-only transaction"):
            await reader.set_meta("x", "y")
    finally:
        await reader.aclose()
    assert await sql(pg_url, "SELECT value FROM meta WHERE key = 'x'") == []


async def test_connect_refuses_with_the_url_but_not_the_password(
    postgres_server: PostgresServer, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = pg_url.replace(PASSWORD, "not-the-password-123")
    no_server = f"postgresql://postgres:{PASSWORD}@127.0.0.1:1/db"
    host = f"127.0.0.1:{postgres_server.port}/db"
    for url, words in [
        (wrong, "password authentication failed"),
        (no_server, r"cannot connect to postgresql://\*\*\*@127.0.0.1:1/db"),
        ("mysql://u:p4ssw0rd@h/db", "only postgresql://"),
        # Unencoded, these cut the URL: the rest of the password would be taken for a host.
        (f"postgresql://postgres:pw/{PASSWORD}@{host}", "holds '/', '\\?' or '#'"),
        (f"postgresql://postgres:pw#{PASSWORD}@{host}", "percent-encode"),
        (f"postgresql://postgres:pw?{PASSWORD}@{host}", "PGPASSWORD"),
    ]:
        with pytest.raises(ValidationError, match=words) as exc:
            # No patience for a server that may be starting: the refusal at once.
            await PostgresStore.connect(url, reconnect_timeout=0.0)
        assert exc.value.field == "ledger"
        shown = str(exc.value)
        assert PASSWORD not in shown and "not-the-password" not in shown
        assert "p4ssw0rd" not in shown
    await PostgresStore.aclose(await PostgresStore.connect(pg_url))
    await sql(pg_url, "UPDATE meta SET value = '7' WHERE key = 'schema_version'")
    with pytest.raises(ValidationError, match="schema version 7; this version reads 3"):
        await PostgresStore.connect(pg_url)
    monkeypatch.setitem(sys.modules, "asyncpg", None)
    with pytest.raises(ValidationError, match=r"pip install 'symbl_async\[postgres\]'"):
        await PostgresStore.connect(pg_url)


async def test_sql_errors_are_ledger_errors_without_the_password(pg_url: str) -> None:
    store = await PostgresStore.connect(pg_url)
    try:
        await sql(pg_url, "ALTER TABLE items RENAME TO items_gone")
        with pytest.raises(LedgerError, match='relation "items" does not exist') as exc:
            await store.get("k")
        assert PASSWORD not in str(exc.value) and store.location in str(exc.value)
    finally:
        await store.aclose()
    with pytest.raises(ClientClosedError):
        await store.get("k")


# Version 1's schema, as it was written: the attempt's name in ``name``, no attempt_name or
# grace_until, no run start; an owner and fence left on items that are nobody's.
V1_SCHEMA = """
CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE items (
    key text PRIMARY KEY,
    source text NOT NULL,
    name text NOT NULL,
    state text NOT NULL CHECK (state IN ('pending', 'submitting', 'unknown', 'submitted',
                                         'completed', 'fetched', 'failed')),
    job_id text,
    conversation_id text,
    error text,
    attempts integer NOT NULL DEFAULT 0,
    duration double precision,
    created_at double precision NOT NULL,
    updated_at double precision NOT NULL,
    submitted_at double precision,
    completed_at double precision,
    fetched_at double precision,
    output_path text,
    attempt_at double precision,
    spec text,
    owner text,
    fence bigint,
    op uuid
);
CREATE INDEX items_state ON items (state);
CREATE INDEX items_pending ON items (duration DESC NULLS LAST, key) WHERE state = 'pending';
CREATE TABLE workers (
    id text PRIMARY KEY,
    lease_seconds double precision NOT NULL,
    lease_until timestamptz NOT NULL,
    joined_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE account (
    id integer PRIMARY KEY CHECK (id = 1),
    max_limit integer NOT NULL CHECK (max_limit >= 1),
    lim integer NOT NULL CHECK (lim >= 1),
    successes integer NOT NULL DEFAULT 0,
    since_decrease integer NOT NULL DEFAULT 0,
    cooldown_until timestamptz,
    op uuid
);
CREATE SEQUENCE fences;
SELECT setval('fences', 40);
INSERT INTO meta VALUES ('schema_version', '1'), ('webhook_token', 'tok');
INSERT INTO account (id, max_limit, lim) VALUES (1, 7, 3);
INSERT INTO items (key, source, name, state, attempts, created_at, updated_at, attempt_at,
                   spec, owner, fence) VALUES
    ('sent', 's.wav', 'base-s-1-2', 'submitting', 2, 1, 2, 2, '{"name": "base-s"}',
     'old-worker', 40),
    ('done', 'd.wav', 'base-d-1', 'fetched', 1, 1, 3, 1, '{"name": "base-d"}',
     'old-worker', 39),
    ('new', 'n.wav', 'base-n', 'pending', 0, 1, 1, NULL, '{"name": "base-n"}', NULL, NULL),
    ('bare', 'b.wav', 'base-b-1', 'submitted', 1, 1, 2, 1, NULL, 'old-worker', 38);
"""


async def test_a_version_1_database_is_migrated_on_connect(pg_url: str) -> None:
    await sql(pg_url, V1_SCHEMA)
    store = await PostgresStore.connect(pg_url, worker_id="me")
    try:
        rows = {r.key: r for r in await store.get_many(["sent", "done", "new", "bare"])}
        got = {k: (r.state, r.name, r.attempt_name, r.owner, r.fence) for k, r in rows.items()}
        assert got == {
            # The item's own name comes back from its spec; the attempt's name is kept.
            "sent": (S.SUBMITTING, "base-s", "base-s-1-2", "old-worker", 40),
            "done": (S.FETCHED, "base-d", "base-d-1", None, None),  # nobody's now
            "new": (S.PENDING, "base-n", None, None, None),
            "bare": (S.SUBMITTED, "base-b-1", "base-b-1", "old-worker", 38),  # no spec
        }
        assert await store.get_meta("schema_version") == "3"
        assert await store.get_meta("webhook_token") == "tok"
        # The account (its limit too) and the fences go on; the columns of version 2 work.
        await store.join(max_limit=7, lease=30.0)
        await store.add_pending([pending("new")])  # named again by this run
        (claimed,) = await store.claim(5, ["new"])
        assert (claimed.attempt_name, claimed.fence) == ("base-n-1", 41)
        assert claimed.grace_until is None
        taken = await store.adopt()  # the old worker is unknown to the workers table
        assert [(r.key, r.owner) for r in taken] == [("bare", "me"), ("sent", "me")]
        assert await store.in_flight() == 3
        assert [r["lim"] for r in await sql(pg_url, "SELECT lim FROM account")] == [3]
    finally:
        await store.aclose()
    again = await PostgresStore.connect(pg_url)  # connects again as version 2
    await again.aclose()


# -- the job slots under real concurrency ------------------------------------------------------

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
# A claim without the account's lock: one UPDATE whose subquery counts the slots, then the
# bookkeeping every claim does (the AIMD's count of claims since the last decrease).
NAIVE_CLAIM = f"""
UPDATE items SET state = 'submitting', owner = $1, attempts = attempts + 1
WHERE key IN (
    SELECT key FROM items WHERE state = 'pending'
    ORDER BY duration DESC NULLS LAST, key
    LIMIT greatest(0, least(1, {LIMIT} - (SELECT count(*) FROM items WHERE {IN_FLIGHT_SQL})))
    FOR UPDATE SKIP LOCKED)
RETURNING key"""


@pytest.fixture
async def workers(pg_url: str) -> AsyncIterator[list[PostgresStore]]:
    """8 stores (8 worker ids, 8 pools) on a ledger of 300 pending items, limit 50, with
    the watch trigger."""
    stores = list(await asyncio.gather(
        *(PostgresStore.connect(pg_url, worker_id=f"w{i}") for i in range(WORKERS))
    ))
    try:
        for store in stores:
            await store.join(max_limit=LIMIT, lease=60)
        rng = random.Random(9)
        await stores[0].add_pending([pending(f"k{i:03d}", rng.uniform(1, 600))
                                     for i in range(ITEMS)])
        await sql(pg_url, WATCH)
        yield stores
    finally:
        await asyncio.gather(*(store.aclose() for store in stores))


async def watched(url: str) -> tuple[int, int]:
    rows = await sql(url, "SELECT max_seen, over FROM watch")
    return int(rows[0]["max_seen"]), int(rows[0]["over"])


@pytest.mark.parametrize("most", [1, 16])
async def test_eight_workers_claim_exactly_the_limit_longest_first(
    workers: list[PostgresStore], pg_url: str, most: int
) -> None:
    async def claim_until_full(store: PostgresStore) -> list[str]:
        got: list[str] = []
        for _ in range(ITEMS + 1):  # bounded: each claim takes one of 300 items or stops
            rows = await store.claim(most)
            if not rows:
                return got
            for row in rows:
                assert (row.state, row.owner, row.attempts) == (S.SUBMITTING,
                                                                store.worker_id, 1)
                got.append(row.key)
        raise AssertionError("claims never stopped")

    # The eight first claims are made to contend: the account row's lock (every claim's
    # first lock) is held until all eight wait on it. Left to the scheduler, one worker
    # could make its four claims of 16 before the others' first reached the server (seen
    # in a CI run under load), and the test would prove nothing about contention.
    holder = await asyncpg.connect(pg_url)
    claiming: asyncio.Future[list[list[str]]] | None = None
    try:
        gate = holder.transaction()
        await gate.start()
        await holder.execute("SELECT 1 FROM account WHERE id = 1 FOR UPDATE")
        claiming = asyncio.gather(*(claim_until_full(store) for store in workers))

        async def all_waiting() -> bool:
            (row,) = await sql(pg_url, "SELECT count(*) AS n FROM pg_stat_activity"
                               " WHERE datname = current_database() AND wait_event_type = 'Lock'")
            return int(row["n"]) == WORKERS

        await eventually(all_waiting, timeout=30, message="8 claims never waited together")
        await gate.rollback()
        claimed = await asyncio.wait_for(claiming, timeout=60)
    finally:
        await holder.close()
        if claiming is not None and not claiming.done():
            claiming.cancel()
            await asyncio.gather(claiming, return_exceptions=True)
    everyone = [key for got in claimed for key in got]
    assert len(everyone) == len(set(everyone)) == LIMIT  # exactly the limit, no item twice
    assert await workers[0].in_flight() == LIMIT
    assert await watched(pg_url) == (LIMIT, 0)
    # Longest first across the whole backlog, whoever claimed.
    longest = await sql(pg_url, f"SELECT key FROM items ORDER BY duration DESC LIMIT {LIMIT}")
    assert set(everyone) == {r["key"] for r in longest}
    # Eight claims queued on one lock: at least the first two in line found room.
    assert sum(1 for got in claimed if got) >= 2


@pytest.mark.parametrize("most", [1, 16])
async def test_claiming_and_finishing_concurrently_never_exceeds_the_limit(
    workers: list[PostgresStore], pg_url: str, most: int
) -> None:
    async def work(store: PostgresStore, seed: int) -> int:
        rng, mine, done = random.Random(seed), list[LedgerItem](), 0
        for _ in range(20 * ITEMS):  # bounded
            rows = await store.claim(rng.randint(1, most))
            for row in rows:
                mine.append(await store.apply(row, submitted(f"job-{row.key}", None)))
            if mine and (not rows or rng.random() < 0.3):
                row = mine.pop(rng.randrange(len(mine)))
                await store.apply(await store.apply(row, completed()), fetched(None))
                done += 1
            elif not rows:
                if (await store.counts())["pending"] == 0:
                    return done
                await store.wait_changed(0.05)
        raise AssertionError("the batch did not finish")

    done = await asyncio.gather(*(work(store, i) for i, store in enumerate(workers)))
    assert sum(done) == ITEMS
    assert (await workers[0].counts())["fetched"] == ITEMS
    max_seen, over = await watched(pg_url)
    assert over == 0 and 1 <= max_seen <= LIMIT
    attempts = await sql(pg_url, "SELECT DISTINCT attempts FROM items")
    assert [r["attempts"] for r in attempts] == [1]  # each item submitted once


async def test_a_naive_single_statement_claim_over_admits(
    workers: list[PostgresStore], pg_url: str
) -> None:
    """Why claims lock the account row: the same load through one UPDATE that counts the
    slots in its subquery over-admits (the count comes from the statement's snapshot, which
    the concurrent claims outdate before they commit)."""
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


# -- notifications and locks ---------------------------------------------------------------


@pytest.fixture
async def pair(pg_url: str) -> AsyncIterator[tuple[PostgresStore, PostgresStore]]:
    a, b = await asyncio.gather(
        *(PostgresStore.connect(pg_url, worker_id=w) for w in ("A", "B")))
    try:
        yield a, b
    finally:
        await asyncio.gather(a.aclose(), b.aclose())


async def test_add_pending_records_many_at_once_with_one_notification(
    pair: tuple[PostgresStore, PostgresStore], pg_url: str
) -> None:
    store = pair[0]
    await store.join(max_limit=5, lease=60)
    listener = await asyncpg.connect(pg_url)
    heard: list[str] = []
    await listener.add_listener("symbl_async_changed", lambda *a: heard.append(a[-1]))
    try:
        items = [pending(f"k{i}", float(i), f'{{"i": {i}}}') for i in range(300)]
        rows = await store.add_pending(items)
        assert [r.key for r in rows] == [p.key for p in items]
        assert rows[7].state is S.PENDING and rows[7].spec == '{"i": 7}'
        # One wake-up for the whole group, not one per item: a later transaction's
        # notification comes right after it (they are delivered in commit order).
        await store.on_rejected(0.0)
        await eventually(lambda: "account" in heard)
        assert heard == ["pending", "account"]
    finally:
        await listener.close()


async def test_a_key_given_twice_in_one_call_is_recorded_once(
    pair: tuple[PostgresStore, PostgresStore],
) -> None:
    # As the SQLite and memory stores do (and this store did before pending items' times
    # were refreshed): the item once, and each place that named it gets its row.
    store = pair[0]
    await store.join(max_limit=5, lease=60)
    await store.add_pending([pending("old")])
    rows = await store.add_pending([pending("x"), pending("old"), pending("x")])
    assert [r.key for r in rows] == ["x", "old", "x"] and rows[0] == rows[2]
    assert (await store.counts())["pending"] == 2


async def test_wait_changed_hears_other_workers_and_its_listener_reconnects(
    pair: tuple[PostgresStore, PostgresStore], postgres_server: PostgresServer, pg_url: str,
) -> None:
    a, b = pair
    loop = asyncio.get_running_loop()
    await a.join(max_limit=5, lease=60)
    await b.join(max_limit=5, lease=60)
    await b.add_pending([pending("k1"), pending("k2")])
    one, two = await b.claim(2, ["k1", "k2"])
    one = await b.apply(one, submitted("j", None))
    await asyncio.wait_for(a.wait_changed(60), 30)  # returns once its listener is up
    await a.wait_changed(0)  # forgets what came before

    async def woken_by(action: Awaitable[object]) -> None:
        waiter = asyncio.create_task(a.wait_changed(60))
        await action
        await asyncio.wait_for(waiter, 30)  # long before its own 60 s

    await woken_by(b.apply(one, completed()))  # a slot is free
    await woken_by(b.add_pending([pending("k9")]))  # a new item
    # submitting -> submitted frees nothing: the wait runs its course.
    started = loop.time()
    waiter = asyncio.create_task(a.wait_changed(0.3))
    two = await b.apply(two, submitted("j2", None))
    await waiter
    assert loop.time() - started >= 0.3
    # The listener's connection ends: the next wait reconnects and returns at once, since
    # notifications may have been missed meanwhile.
    assert await postgres_server.terminate_backends(pg_url.rsplit("/", 1)[1]) >= 1
    await asyncio.wait_for(a.wait_changed(60), 30)
    await asyncio.wait_for(a.wait_changed(60), 30)  # listening again: returns once more
    await woken_by(b.apply(two, failed("bad")))


async def lease_over(url: str, worker: str) -> bool:
    """The server's own clock says the worker's lease is over."""
    rows = await sql(url, "SELECT lease_until <= now() AS over FROM workers WHERE id = $1",
                     worker)
    return bool(rows and rows[0]["over"])


async def test_a_worker_stopped_inside_a_transaction_does_not_block_adoption(
    pair: tuple[PostgresStore, PostgresStore], pg_url: str
) -> None:
    # Seen in a CI run: a worker SIGSTOPped in the middle of one of its transactions held
    # its item and worker rows locked, and the others' adoption waited for as long as it
    # stayed stopped. The store's connections ask the server to end such a transaction.
    a, b = pair
    await a.join(max_limit=5, lease=0.5)
    await b.join(max_limit=5, lease=60)
    await a.add_pending([pending("k1")])
    assert [r.key for r in await a.claim(1)] == ["k1"]
    pool = a._pool
    assert pool is not None
    async with pool.acquire() as conn:  # A's own connection, as A left it when stopped
        stuck = conn.transaction()
        await stuck.start()
        await conn.execute("SELECT 1 FROM items WHERE key = 'k1' FOR UPDATE")
        await conn.execute("SELECT 1 FROM workers WHERE id = 'A' FOR UPDATE")
        await eventually(lambda: lease_over(pg_url, "A"), timeout=30)
        adopted = await asyncio.wait_for(b.adopt(), timeout=30)
        assert [(r.key, r.owner) for r in adopted] == [("k1", "B")]
        # The server ended A's transaction and its connection; asyncpg reports that as
        # whichever of these the terminated socket's state gives (InternalClientError
        # when its read of the termination notice was still in progress: seen under load).
        with pytest.raises((asyncpg.PostgresError, asyncpg.InterfaceError,
                            asyncpg.InternalClientError, OSError)):
            await conn.execute("SELECT 1")


async def test_a_version_2_database_gets_the_outputs_record_on_connect(pg_url: str) -> None:
    store = await PostgresStore.connect(pg_url, worker_id="me")
    try:
        await store.join(max_limit=5, lease=30.0)
        await store.add_pending([pending("done")])
        (row,) = await store.claim(5, None)
        for change in (submitted("j", "c"), completed(), fetched("/out/d.json", None)):
            row = await store.apply(row, change)
    finally:
        await store.aclose()
    await sql(pg_url, "ALTER TABLE items DROP COLUMN outputs")  # as version 2 had it
    await sql(pg_url, "UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    with pytest.raises(ValidationError, match="a run migrates it to 3, a read cannot"):
        await PostgresStore.connect_read_only(pg_url)
    store = await PostgresStore.connect(pg_url, worker_id="me")
    try:
        assert await store.get_meta("schema_version") == "3"
        (row,) = await store.get_many(["done"])
        assert (row.state, row.output_path, row.outputs) == (S.FETCHED, "/out/d.json", None)
        row = await store.apply(row, reopened())
        row = await store.apply(row, fetched("/out/d.json", '{"size":1}'))
        assert (await store.get_many(["done"]))[0].outputs == '{"size":1}'
    finally:
        await store.aclose()
