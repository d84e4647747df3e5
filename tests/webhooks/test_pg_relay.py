"""The webhook relay through a real PostgreSQL server: receivers in one test process stand
for web workers (each with its own relay and listening connection, the same token)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from _polling import eventually
from _postgres import PostgresServer

from symbl_async.core._jobs import JobStatus
from symbl_async.errors import ValidationError
from symbl_async.webhooks import PostgresRelay, WebhookReceiver

WAIT = 20.0  # generous: the machine is shared; every wait ends on an event first
TOKEN = secrets.token_urlsafe(32)


def body(job_id: str, status: str) -> bytes:
    return json.dumps({"jobId": job_id, "status": status}).encode()


@contextlib.asynccontextmanager
async def worker(url: str, **relay: Any) -> AsyncIterator[WebhookReceiver]:
    """A receiver with its own relay, started (listening) like an app's lifespan does."""
    receiver = WebhookReceiver(token=TOKEN, relay=PostgresRelay(url, **relay))
    assert receiver._relay is not None
    await receiver._relay.start()
    try:
        yield receiver
    finally:
        await receiver.close()


async def relay_rows(url: str) -> dict[str, dict[str, Any]]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT job_id, status, origin, woke FROM webhook_relay")
    finally:
        await conn.close()
    return {r["job_id"]: dict(r) for r in rows}


async def kill_listeners(url: str) -> int:
    """End every connection that LISTENs (as a server restart or a proxy would)."""
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND query LIKE 'LISTEN%'"))
    finally:
        await conn.close()


async def test_a_delivery_to_one_worker_releases_the_other_workers_waiter(pg_url: str) -> None:
    async with worker(pg_url) as a, worker(pg_url) as b:
        watch = b.watch("job-1")
        assert await a.handle(TOKEN, body("job-1", "in_progress")) == 200
        assert await a.handle(TOKEN, body("job-1", "completed")) == 200
        # No confirm: the relayed terminal status ends the watch by itself.
        assert await watch.wait(WAIT) is JobStatus.COMPLETED
        assert a.stats.relayed_out == 2 and a.stats.unknown_jobs == 2
        assert b.stats.relayed_in >= 1 and b.stats.received == 0
        assert b._relay is not None
        origin = b._relay.origin
        await eventually(lambda: _woke(pg_url, "job-1", origin), timeout=WAIT)


async def _woke(url: str, job_id: str, origin: str) -> bool:
    row = (await relay_rows(url)).get(job_id)
    return row is not None and row["woke"] == origin


async def test_the_relay_table_only_moves_forward(pg_url: str) -> None:
    async with worker(pg_url) as a:
        await a.handle(TOKEN, body("job-2", "completed"))
        await eventually(lambda: _status(pg_url, "job-2", "completed"), timeout=WAIT)
        await a.handle(TOKEN, body("job-2", "in_progress"))
        await a.handle(TOKEN, body("job-2", "failed"))  # same rank: the first end stays
        await a.handle(TOKEN, body("job-3", "in_progress"))  # written after the two above
        await eventually(lambda: _status(pg_url, "job-3", "in_progress"), timeout=WAIT)
        assert a._relay is not None
        await eventually(lambda: not a._relay._tasks if a._relay else True, timeout=WAIT)
        assert (await relay_rows(pg_url))["job-2"]["status"] == "completed"


async def _status(url: str, job_id: str, status: str) -> bool:
    row = (await relay_rows(url)).get(job_id)
    return row is not None and row["status"] == status


async def test_a_waiter_that_starts_after_the_delivery_reads_the_table(pg_url: str) -> None:
    async with worker(pg_url) as a:
        await a.handle(TOKEN, body("job-4", "completed"))
        await eventually(lambda: _status(pg_url, "job-4", "completed"), timeout=WAIT)
    # A worker started later (it missed the announcement: it did not exist yet).
    async with worker(pg_url) as b:
        assert await b.watch("job-4").wait(WAIT) is JobStatus.COMPLETED
        assert b.stats.relayed_in == 1


async def test_the_listener_reconnects_and_catches_up_on_what_it_missed(pg_url: str) -> None:
    async with worker(pg_url) as a, worker(pg_url) as b:
        assert a._relay is not None and b._relay is not None
        watch = b.watch("job-5")
        # A delivery recorded with no announcement reaching b: as if sent while b's
        # listening connection was down.
        conn = await asyncpg.connect(pg_url)
        try:
            await conn.execute(
                "INSERT INTO webhook_relay (job_id, status, rank, origin)"
                " VALUES ('job-5', 'completed', $1, 'elsewhere')", JobStatus.COMPLETED.rank)
        finally:
            await conn.close()
        assert not watch.terminal
        assert await kill_listeners(pg_url) == 2
        # b opens a new connection and reads the table for the jobs it watches.
        assert await watch.wait(WAIT) is JobStatus.COMPLETED
        relay_b = b._relay
        await eventually(lambda: relay_b.connects >= 2, timeout=WAIT)
        # And it hears new announcements on the new connection.
        late = b.watch("job-6")
        await a.handle(TOKEN, body("job-6", "completed"))
        assert await late.wait(WAIT) is JobStatus.COMPLETED


async def test_the_listener_survives_the_drivers_confused_state(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # asyncpg may report a connection ended in the middle of an operation as an
    # InternalClientError (its protocol state confused). The listener took it for a bug and
    # died for good: this process never heard relayed webhooks again.
    real_fetchval = asyncpg.Connection.fetchval
    broken = 0

    async def confused(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
        nonlocal broken
        if query == "SELECT 1" and broken == 0:
            broken += 1
            raise asyncpg.exceptions.InternalClientError("another operation is in progress")
        return await real_fetchval(self, query, *args, **kwargs)

    monkeypatch.setattr(asyncpg.Connection, "fetchval", confused)
    async with worker(pg_url, check_every=0.05) as a, worker(pg_url, check_every=0.05) as b:
        relays = [a._relay, b._relay]
        await eventually(lambda: broken == 1, timeout=WAIT)
        # The one whose check broke listens again (a second connection); both hear.
        await eventually(lambda: sum(r.connects for r in relays if r) == 3, timeout=WAIT)
        for here, there, job in ((a, b, "job-ice-1"), (b, a, "job-ice-2")):
            watch = there.watch(job)
            await here.handle(TOKEN, body(job, "completed"))
            assert await watch.wait(WAIT) is JobStatus.COMPLETED


async def test_the_relay_rides_out_a_database_restart(own_postgres: PostgresServer) -> None:
    url = await own_postgres.create_database()
    async with worker(url) as a, worker(url) as b:
        assert b._relay is not None
        relay_b = b._relay
        await asyncio.to_thread(own_postgres.stop, "immediate")
        # A delivery while the server is down: answered, its recording lost to the relay
        # (logged, counted); the waiter's safety poll would cover it.
        assert await a.handle(TOKEN, body("job-7", "completed")) == 200
        assert a._relay is not None
        relay_a = a._relay
        await eventually(lambda: relay_a.errors >= 1, timeout=WAIT)
        await asyncio.to_thread(own_postgres.start)
        await eventually(lambda: relay_b.connects >= 2, timeout=WAIT)
        watch = b.watch("job-8")
        assert await a.handle(TOKEN, body("job-8", "completed")) == 200
        assert await watch.wait(WAIT) is JobStatus.COMPLETED


async def test_old_rows_are_pruned_while_listening(pg_url: str) -> None:
    # keep=8: pruned every 2 s; the fresh row is far from 8 s old by then.
    async with worker(pg_url, keep=8.0, check_every=0.05) as a:
        await a.handle(TOKEN, body("job-new", "completed"))
        await eventually(lambda: _status(pg_url, "job-new", "completed"), timeout=WAIT)
        conn = await asyncpg.connect(pg_url)
        try:
            await conn.execute(
                "INSERT INTO webhook_relay (job_id, status, rank, origin, updated_at)"
                " VALUES ('job-old', 'completed', 2, 'elsewhere', now() - interval '1 hour')")
        finally:
            await conn.close()

        async def pruned() -> bool:
            return set(await relay_rows(pg_url)) == {"job-new"}

        await eventually(pruned, timeout=WAIT, interval=0.05)


async def test_a_wrong_url_is_refused_without_its_password(pg_url: str) -> None:
    with pytest.raises(ValidationError):
        PostgresRelay("sqlite:///x")
    relay = PostgresRelay("postgresql://u:hunter2-secret@127.0.0.1:1/db")
    with pytest.raises(ValidationError) as caught:
        await relay.start()
    assert "hunter2-secret" not in str(caught.value)
    await relay.close()


async def test_close_ends_the_listener_even_when_its_cancel_is_swallowed(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Python 3.11's wait_for may return instead of raising when a cancel comes as its wait
    # times out. The listener's check loop then went on, every check_every, and close()
    # waited for it forever (twice in full parallel runs: pytest's 180 s timeout).
    from symbl_async.webhooks import _pg_relay

    inside = swallowed = 0

    async def losing_cancels(aw: Any, timeout: float | None) -> Any:
        # It waits without the timeout, so that close()'s cancel always finds it waiting:
        # with the real wait_for and a 0.05 s timeout, a loaded host could run the timeout
        # and the cancel in one loop pass, and the real race ate the cancel before this
        # wrapper could count it (seen once in CI: swallowed == 0).
        nonlocal inside, swallowed
        inside += 1
        try:
            return await aw
        except asyncio.CancelledError:
            swallowed += 1
            return None  # as the race does: the cancel is gone
        finally:
            inside -= 1

    class Asyncio:
        wait_for = staticmethod(losing_cancels)

        def __getattr__(self, name: str) -> Any:
            return getattr(asyncio, name)

    async with worker(pg_url, check_every=0.05) as a:
        relay = a._relay
        assert relay is not None
        await eventually(lambda: relay.connects == 1, timeout=WAIT)
        monkeypatch.setattr(_pg_relay, "asyncio", Asyncio())
        # The listener waits in it now; close() cancels it before this task yields again.
        await eventually(lambda: inside == 1, timeout=WAIT)
        await asyncio.wait_for(relay.close(), WAIT)  # returned: the listener ended
        assert swallowed >= 1
