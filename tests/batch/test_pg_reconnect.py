"""The PostgreSQL ledger through connection loss: server restarts (fast and immediate),
sessions ended by an administrator, and a COMMIT whose answer never came back. Nothing is
lost, nothing is applied twice."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Literal

import asyncpg
import asyncpg.transaction
import pytest
from _polling import eventually
from _postgres import PASSWORD, PostgresServer

from symbl_async.batch import _pg_claims
from symbl_async.batch._pg_store import PostgresStore
from symbl_async.batch._records import ItemState, LedgerItem
from symbl_async.errors import LedgerError

S = ItemState


def name_for(row: LedgerItem) -> str:
    return f"{row.name}-a{row.attempts + 1}"


class Lifecycles:
    """Items taken through their whole life, one transition after another, until told to
    stop; counts the transitions made."""

    def __init__(self, store: PostgresStore) -> None:
        self.store = store
        self.transitions = 0
        self.stop = asyncio.Event()
        self.items = 0

    async def run(self) -> None:
        for i in range(10_000):  # bounded
            if self.stop.is_set():
                return
            key = f"item-{i:05d}"
            await self.store.upsert_pending(key, "s", key)
            for move in self._moves(key):
                await move()
                self.transitions += 1
            self.items += 1
        raise AssertionError("never told to stop")

    def _moves(self, key: str) -> list[Callable[[], Awaitable[LedgerItem]]]:
        store = self.store
        return [
            lambda: store.mark_submitting(key, f"{key}-a1"),
            lambda: store.mark_submitted(key, f"job-{key}", None),
            lambda: store.mark_completed(key),
            lambda: store.mark_fetched(key, None),
        ]

    def start(self) -> None:
        self.task = asyncio.create_task(self.run())

    async def made_more(self, than: int) -> bool:
        if self.task.done():
            self.task.result()  # its error, if any, is the test's failure
            raise AssertionError("the run ended early")
        return self.transitions > than

    def advanced(self, by: int) -> Callable[[], Awaitable[bool]]:
        """A condition: ``by`` more transitions than now."""
        than = self.transitions + by
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
        before = run.transitions
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
        assert ended >= 5
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
    for key in ("a", "b"):
        await opened.upsert_pending(key, "s", key, 1.0 if key == "a" else 2.0)
    yield opened
    await opened.aclose()


async def test_a_lost_commit_answer_is_not_applied_twice(
    store: PostgresStore, lost_commits: list[int], pg_url: str
) -> None:
    async def lose_next_answer(call: Any) -> Any:
        lost_commits[0] = 1
        result = await call
        assert lost_commits[0] == 0, "the fault never fired"
        return result

    claimed = await lose_next_answer(store.claim(["a", "b"], name_for))
    assert (claimed.key, claimed.state, claimed.attempts) == ("b", S.SUBMITTING, 1)
    again = await lose_next_answer(store.mark_submitting("b", "b-a2"))
    assert (again.state, again.attempts, again.name) == (S.SUBMITTING, 2, "b-a2")
    await lose_next_answer(store.mark_submitted("b", "job", None))
    done = await lose_next_answer(store.mark_completed("b"))  # no "completed -> completed"
    assert done.state is S.COMPLETED and done.owner == "me"
    await lose_next_answer(store.on_rejected(0.0))
    conn = await asyncpg.connect(pg_url)
    try:
        account = await conn.fetchrow("SELECT lim, since_decrease FROM account")
        assert (account["lim"], account["since_decrease"]) == (2, 0)  # halved once
        assert await conn.fetchval("SELECT state FROM items WHERE key = 'a'") == "pending"
    finally:
        await conn.close()


async def test_the_same_claim_run_twice_takes_one_item(store: PostgresStore, pg_url: str) -> None:
    op = uuid.uuid4()
    conn = await asyncpg.connect(pg_url)
    try:
        results = []
        for _ in range(2):
            async with conn.transaction():
                results.append(await _pg_claims.claim(
                    conn, me="me", candidates=["a", "b"], name_for=name_for, op=op, retry=True
                ))
        assert results[0] == results[1] and results[0] is not None
        assert await conn.fetchval("SELECT count(*) FROM items WHERE state = 'pending'") == 1
    finally:
        await conn.close()


async def test_an_outage_longer_than_the_reconnect_timeout_is_a_ledger_error(
    own_postgres: PostgresServer,
) -> None:
    url = await own_postgres.create_database()
    store = await PostgresStore.connect(url, reconnect_timeout=0.5)
    try:
        await store.upsert_pending("k", "s", "k")
        await asyncio.to_thread(own_postgres.stop, "fast")
        with pytest.raises(LedgerError, match=r"no connection for 0.5s") as exc:
            await store.mark_submitting("k")
        assert PASSWORD not in str(exc.value) and "127.0.0.1" in str(exc.value)
        await asyncio.to_thread(own_postgres.start)
        item = await store.mark_submitting("k")  # the same store goes on once it is back
        assert (item.state, item.attempts) == (S.SUBMITTING, 1)
    finally:
        await store.aclose()
