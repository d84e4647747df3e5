"""The PostgreSQL ledger through connection loss: server restarts (fast and immediate),
sessions ended by an administrator, a COMMIT whose answer never came back, an outage longer
than the reconnect window, and leases across a restart. Nothing is lost, nothing is applied
twice, and no worker is declared dead for an outage."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Literal, TypeVar

import asyncpg
import asyncpg.transaction
import pytest
from _polling import eventually
from _postgres import PASSWORD, PostgresServer

from symbl_async.batch._ledger import ItemState, Pending, PostgresStore
from symbl_async.batch._ledger._states import completed, fetched, resent, submitted
from symbl_async.errors import LedgerError

S = ItemState
_T = TypeVar("_T")


def pending(key: str, duration: float | None = 10.0) -> Pending:
    return Pending(key, f"{key}.wav", key, duration, None)


async def sql(url: str, statement: str, *args: object) -> list[Any]:
    conn = await asyncpg.connect(url)
    try:
        return list(await conn.fetch(statement, *args))
    finally:
        await conn.close()


class Lifecycles:
    """Items taken through their whole life, one move after another, until told to stop;
    counts the moves made."""

    def __init__(self, store: PostgresStore) -> None:
        self.store = store
        self.moves = 0
        self.stop = asyncio.Event()
        self.items = 0

    async def run(self) -> None:
        store = self.store
        await store.join(max_limit=5, lease=600.0)
        for i in range(10_000):  # bounded
            if self.stop.is_set():
                return
            key = f"item-{i:05d}"
            await store.add_pending([pending(key)])
            (row,) = await store.claim(1, [key])
            self.moves += 1
            for change in (submitted(f"job-{key}", None), completed(), fetched(None)):
                row = await store.apply(row, change)
                self.moves += 1
            self.items += 1
        raise AssertionError("never told to stop")

    def start(self) -> None:
        self.task = asyncio.create_task(self.run())

    async def made_more(self, than: int) -> bool:
        if self.task.done():
            self.task.result()  # its error, if any, is the test's failure
            raise AssertionError("the run ended early")
        return self.moves > than

    def advanced(self, by: int) -> Callable[[], Awaitable[bool]]:
        """A condition: ``by`` more moves than now."""
        than = self.moves + by
        return lambda: self.made_more(than)


async def check_nothing_lost_or_doubled(store: PostgresStore, items: int) -> None:
    counts = await store.counts()
    assert counts == {**{s.value: 0 for s in S}, "fetched": items}
    assert {row.attempts async for row in store.items()} == {1}  # submitting once each


@pytest.fixture
def retries(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="symbl_async.batch.postgres")
    return caplog


def retried(caplog: pytest.LogCaptureFixture) -> int:
    return sum("retrying after" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("mode", ["fast", "immediate"])
async def test_a_server_restart_mid_run_loses_and_doubles_nothing(
    own_postgres: PostgresServer, retries: pytest.LogCaptureFixture,
    mode: Literal["fast", "immediate"],
) -> None:
    url = await own_postgres.create_database()
    store = await PostgresStore.connect(url, reconnect_timeout=120)
    try:
        run = Lifecycles(store)
        run.start()
        await eventually(lambda: run.made_more(20), timeout=60)
        await asyncio.to_thread(own_postgres.stop, mode)
        # The run meets the outage (it retries) before the server comes back.
        await eventually(lambda: retried(retries) > 0, timeout=60)
        before = run.moves
        await asyncio.to_thread(own_postgres.start)
        await eventually(lambda: run.made_more(before + 20), timeout=120)
        run.stop.set()
        await run.task
        await check_nothing_lost_or_doubled(store, run.items)
        assert PASSWORD not in retries.text
    finally:
        await store.aclose()


async def test_sessions_ended_by_an_administrator_are_reconnected(
    postgres_server: PostgresServer, pg_url: str, retries: pytest.LogCaptureFixture
) -> None:
    store = await PostgresStore.connect(pg_url)
    try:
        run = Lifecycles(store)
        run.start()
        ended = 0
        for _ in range(5):
            await eventually(run.advanced(10), timeout=60)
            ended += await postgres_server.terminate_backends(pg_url.rsplit("/", 1)[1])
        await eventually(run.advanced(10), timeout=60)
        run.stop.set()
        await run.task
        assert ended >= 5 and retried(retries) > 0
        await check_nothing_lost_or_doubled(store, run.items)
    finally:
        await store.aclose()


@pytest.fixture
def lost_commits(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Each transaction COMMITs, then (while the list holds a 1) its answer is lost: the
    caller sees the connection drop, as when the network fails right after the commit."""
    armed = [0]
    original = asyncpg.transaction.Transaction.__aexit__

    async def commit_then_lose(self: Any, *exc_info: Any) -> Any:
        result = await original(self, *exc_info)
        if armed[0] and exc_info[0] is None:
            armed[0] = 0
            raise asyncpg.exceptions.ConnectionDoesNotExistError("the answer was lost")
        return result

    monkeypatch.setattr(asyncpg.transaction.Transaction, "__aexit__", commit_then_lose)
    return armed


@pytest.fixture
async def store(pg_url: str) -> AsyncIterator[PostgresStore]:
    opened = await PostgresStore.connect(pg_url, worker_id="me")
    await opened.join(max_limit=4, lease=60)
    await opened.add_pending([pending("a", 1.0), pending("b", 2.0)])
    yield opened
    await opened.aclose()


async def test_a_lost_commit_answer_is_not_applied_twice(
    store: PostgresStore, lost_commits: list[int], pg_url: str
) -> None:
    async def lose_next_answer(call: Awaitable[_T]) -> _T:
        lost_commits[0] = 1
        result = await call
        assert lost_commits[0] == 0, "the fault never fired"
        return result

    (row,) = await lose_next_answer(store.claim(1))  # not two items
    assert (row.key, row.state, row.attempts) == ("b", S.SUBMITTING, 1)
    row = await lose_next_answer(store.apply(row, resent()))  # one more attempt, not two
    assert (row.state, row.attempts, row.attempt_name) == (S.SUBMITTING, 2, "b-2")
    row = await lose_next_answer(store.apply(row, submitted("job", None)))
    row = await lose_next_answer(store.apply(row, completed()))  # no "completed -> completed"
    assert row.state is S.COMPLETED and row.owner == "me"
    row = await lose_next_answer(store.apply(row, fetched(None)))  # its own, not "lost"
    assert row.state is S.FETCHED and row.owner is None
    await lose_next_answer(store.on_rejected(0.0))
    # An adoption whose answer is lost still hands over what it took.
    other = await PostgresStore.connect(pg_url, worker_id="other")
    try:
        await other.join(max_limit=4, lease=60)
        (left,) = await other.claim(1)
        await other.leave()
    finally:
        await other.aclose()
    taken = await lose_next_answer(store.adopt())
    assert [(r.key, r.owner, r.state) for r in taken] == [("a", "me", S.SUBMITTING)]
    assert taken[0].fence is not None and left.fence is not None
    assert taken[0].fence > left.fence
    (account,) = await sql(pg_url, "SELECT lim, since_decrease FROM account")
    assert (account["lim"], account["since_decrease"]) == (2, 1)  # halved once; a claim since
    assert await store.counts() == {**{s.value: 0 for s in S}, "fetched": 1, "submitting": 1}


async def test_a_lost_answer_to_a_jobs_end_and_refill_is_not_applied_twice(
    store: PostgresStore, lost_commits: list[int]
) -> None:
    (row,) = await store.claim(1)
    row = await store.apply(row, submitted("job-b", None))
    lost_commits[0] = 1
    ended, taken = await store.end_and_claim(row, completed())
    assert lost_commits[0] == 0, "the fault never fired"
    # The retry found what the commit made: not "completed -> completed", one claim.
    assert (ended.key, ended.state) == ("b", S.COMPLETED)
    assert [(r.key, r.state, r.attempts, r.owner) for r in taken] == [
        ("a", S.SUBMITTING, 1, "me")]
    assert await store.counts() == {**{s.value: 0 for s in S}, "completed": 1,
                                    "submitting": 1}


async def test_retries_after_a_loss_come_several_times_a_lease(
    pg_url: str, lost_commits: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A worker backing off longer than its lease once the database is back would be taken
    # for dead by the workers that reconnected first: they adopt its items and it stops
    # (seen with a 2 s lease, whose retries backed off up to 3 s under load).
    from symbl_async.core._database import reconnect_delay

    caps: list[float] = []

    def recorded(tries: int, cap: float = 2.0) -> float:
        caps.append(cap)
        return reconnect_delay(tries, cap)

    monkeypatch.setattr("symbl_async.batch._ledger._postgres.reconnect_delay", recorded)
    store = await PostgresStore.connect(pg_url, worker_id="short")
    try:
        await store.join(max_limit=4, lease=1.0)
        lost_commits[0] = 1
        assert await store.heartbeat()
        assert lost_commits[0] == 0 and caps == [0.25]
    finally:
        await store.aclose()


async def test_an_outage_longer_than_the_reconnect_timeout_is_a_ledger_error(
    own_postgres: PostgresServer,
) -> None:
    url = await own_postgres.create_database()
    store = await PostgresStore.connect(url, reconnect_timeout=0.5)
    try:
        await store.join(max_limit=5, lease=600.0)
        await store.add_pending([pending("k")])
        await asyncio.to_thread(own_postgres.stop, "fast")
        with pytest.raises(LedgerError, match=r"no connection for 0.5s") as exc:
            await store.claim(1)
        assert PASSWORD not in str(exc.value) and "127.0.0.1" in str(exc.value)
        await asyncio.to_thread(own_postgres.start)
        (row,) = await store.claim(1)  # the same store goes on once it is back
        assert (row.state, row.attempts) == (S.SUBMITTING, 1)
    finally:
        await store.aclose()


LEASE = 3.0


async def test_after_a_restart_a_lapsed_lease_gets_a_whole_lease_to_renew(
    own_postgres: PostgresServer,
) -> None:
    """The lease clock is the database's and runs on through an outage: a worker whose
    lease ran out while the server was down is not dead, it could not renew. Another worker
    adopts its items only after a whole lease since the restart; a worker that left, at
    once."""
    url = await own_postgres.create_database()
    silent, leaving, adopter = [
        await PostgresStore.connect(url, worker_id=w, reconnect_timeout=60)
        for w in ("silent", "leaving", "adopter")]
    try:
        await adopter.join(max_limit=5, lease=600.0)
        for worker, key in ((silent, "s"), (leaving, "l")):
            await worker.join(max_limit=5, lease=LEASE)
            await worker.add_pending([pending(key)])
            assert [r.key for r in await worker.claim(1, [key])] == [key]
        (lapse,) = await sql(url, "SELECT extract(epoch FROM max(lease_until))::float8 AS t"
                                  " FROM workers WHERE lease_seconds = $1", LEASE)
        await asyncio.to_thread(own_postgres.stop, "fast")
        await eventually(lambda: time.time() > lapse["t"] + 0.2, timeout=30)  # down meanwhile
        await asyncio.to_thread(own_postgres.start)
        await leaving.leave()  # back in time to say it is going
        taken = await adopter.adopt()
        (since,) = await sql(url, "SELECT extract(epoch FROM now() - pg_postmaster_start_time())"
                                  "::float8 AS up, bool_and(lease_until < now()) AS lapsed"
                                  " FROM workers WHERE id = 'silent'")
        assert since["lapsed"]  # the silent worker's lease is over by the database's clock
        assert since["up"] < LEASE, "too slow to see the restart's grace (test machine)"
        assert [(r.key, r.owner) for r in taken] == [("l", "adopter")]  # not "s" yet
        late: list[Any] = []

        async def adopted() -> bool:
            late.extend(await adopter.adopt())
            return bool(late)

        await eventually(adopted, timeout=60)
        assert [(r.key, r.owner) for r in late] == [("s", "adopter")]
        (started,) = await sql(url, "SELECT extract(epoch FROM pg_postmaster_start_time())"
                                    "::float8 AS t")
        assert late[0].updated_at >= started["t"] + LEASE  # a whole lease after the restart
        assert not await silent.heartbeat()  # declared dead now: it must stop
    finally:
        for store in (silent, leaving, adopter):
            await store.aclose()


@pytest.mark.parametrize("fault", ["terminated", "restart"])
async def test_a_connection_lost_while_setting_up_is_waited_out(
    own_postgres: PostgresServer, fault: str
) -> None:
    """A worker that starts just as the database goes away (a failover, an administrator)
    sets up again once it is back instead of dying: its set-up transaction is held on the
    schema lock, then its session is ended (or the server restarted) under it."""
    from symbl_async.batch._ledger._postgres import _SCHEMA_LOCK

    url = await own_postgres.create_database()
    holder = await asyncpg.connect(url)
    try:
        await holder.execute("SELECT pg_advisory_lock($1)", _SCHEMA_LOCK)
        connecting = asyncio.create_task(PostgresStore.connect(url, reconnect_timeout=60))

        async def waiting_on_the_lock() -> bool:
            (row,) = await sql(url, "SELECT count(*) AS n FROM pg_locks"
                               " WHERE locktype = 'advisory' AND NOT granted")
            return bool(row["n"])

        await eventually(waiting_on_the_lock, timeout=30)
        if fault == "terminated":
            (row,) = await sql(url, "SELECT count(pg_terminate_backend(l.pid)) AS n"
                               " FROM pg_locks l WHERE locktype = 'advisory' AND NOT granted")
            assert row["n"] == 1
            await holder.execute("SELECT pg_advisory_unlock($1)", _SCHEMA_LOCK)
        else:
            await asyncio.to_thread(own_postgres.stop, "immediate")
            await asyncio.to_thread(own_postgres.start)
        store = await asyncio.wait_for(connecting, timeout=60)
    finally:
        if not holder.is_closed():
            await holder.close()
    try:
        await store.join(max_limit=5, lease=600.0)
        await store.add_pending([pending("k")])
        (row,) = await store.claim(1)
        assert (row.key, row.state) == ("k", S.SUBMITTING)
    finally:
        await store.aclose()
