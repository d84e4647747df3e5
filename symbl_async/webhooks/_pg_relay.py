"""Webhooks to whichever process waits: a relay through PostgreSQL (``LISTEN``/``NOTIFY``).

Several processes share one account and one public webhook URL (``uvicorn --workers 2``,
several pods behind a load balancer): a delivery reaches *a* process, not necessarily the
one whose waiter is watching the job. With ``WebhookReceiver(relay=PostgresRelay(url))``:

- a valid delivery (right token, a job status) for a job this process does not watch is
  recorded in the ``webhook_relay`` table (job id, status, the attempt tag), forward-only:
  a row never goes back (``in_progress`` never replaces ``completed`` or ``failed``), and
  the insert sends a ``NOTIFY`` at commit only when it moved the row forward;
- every process ``LISTEN``\\s on a dedicated connection and hands announced deliveries to
  its own receiver as if they had arrived there; the receiver then confirms a claimed end
  with ``GET /v1/job`` as usual before any waiter is released;
- a watch created after the delivery was relayed reads the table when it starts;
- a lost listener connection is opened again (growing backoff) and, once it is, the
  watched jobs are read from the table, which covers what was announced meanwhile; a
  hybrid wait's safety poll covers the rest (a delivery recorded while the database was
  away is lost to the relay, not to the waiter).

The relay is a hint channel like the webhooks themselves: nothing here releases a waiter
without the receiver's own rules. The secret token must be the same in every process
(give each ``WebhookReceiver(token=...)`` the same value from configuration), or
deliveries reaching another process get 404 before the relay sees them.

asyncpg is imported only when the relay starts (``pip install 'symbl_async[postgres]'``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import socket
from collections.abc import Callable
from typing import Any

from symbl_async.core._checks import is_database_url
from symbl_async.core._database import (
    is_connection_loss,
    is_database_error,
    reconnect_delay,
    scrub,
)
from symbl_async.core._jobs import JobStatus
from symbl_async.core._webhook import WebhookEvent
from symbl_async.errors import ValidationError

__all__ = ["PostgresRelay", "Relayed"]

log = logging.getLogger("symbl_async.webhooks.relay")

CHANNEL = "symbl_async_webhooks"
_DDL = """CREATE TABLE IF NOT EXISTS webhook_relay (
    job_id text PRIMARY KEY,
    status text NOT NULL,
    rank integer NOT NULL,
    attempt text,
    origin text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    woke text
)"""
_SCHEMA_LOCK = 0x53594D43  # one creator at a time (CREATE IF NOT EXISTS races itself)
# Forward-only: the row changes only for a higher rank; NOTIFY only when it did.
_RECORD = f"""WITH up AS (
    INSERT INTO webhook_relay AS r (job_id, status, rank, attempt, origin)
    VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT (job_id) DO UPDATE
        SET status = EXCLUDED.status, rank = EXCLUDED.rank, origin = EXCLUDED.origin,
            attempt = COALESCE(EXCLUDED.attempt, r.attempt), updated_at = now()
        WHERE r.rank < EXCLUDED.rank
    RETURNING job_id, status, attempt, origin)
SELECT pg_notify('{CHANNEL}', json_build_object(
    'job_id', job_id, 'status', status, 'attempt', attempt, 'origin', origin)::text) FROM up"""
_READ = "SELECT job_id, status, attempt FROM webhook_relay WHERE job_id = ANY($1::text[])"
_WOKE = "UPDATE webhook_relay SET woke = $2 WHERE job_id = $1"
_PRUNE = "DELETE FROM webhook_relay WHERE updated_at < now() - make_interval(secs => $1)"

Relayed = Callable[[WebhookEvent, "str | None", bool], bool]
"""What the relay calls with an announced delivery: ``(event, attempt, from_table)``;
returns True when it moved a watched job of this process forward."""


class PostgresRelay:
    """Relays webhook deliveries between processes through a PostgreSQL database.

    Give it to :class:`~symbl_async.webhooks._receiver.WebhookReceiver` (``relay=``); the
    receiver attaches itself, starts it on first use and closes it with itself. Call
    :meth:`start` at start-up to find a wrong URL at once.

    Args:
        url: ``postgresql://user:password@host:port/dbname``; the table is created if
            missing (it may be the batch ledger's database).
        keep: seconds a relayed delivery is kept in the table (for waiters that start
            late); older rows are deleted at start, then every quarter of it (at
            most hourly).
        check_every: seconds between checks that the listening connection still answers
            (a connection cut without a word from the server is found this way).

    Raises:
        ValidationError: the URL is not a ``postgresql://`` URL, or a setting is not > 0.
    """

    def __init__(self, url: str, *, keep: float = 86_400.0, check_every: float = 30.0) -> None:
        if not is_database_url(url):
            raise ValidationError("relay", "must be a postgresql:// URL")
        for name, value in (("keep", keep), ("check_every", check_every)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValidationError(name, "must be a number of seconds > 0")
        self._url = url
        self._keep = float(keep)
        self._check_every = float(check_every)
        self.origin = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        """This process's id in the table (``origin`` and ``woke`` columns)."""
        self._deliver: Relayed | None = None
        self._watched: Callable[[], list[str]] = list
        self._pool: Any | None = None
        self._ready: asyncio.Future[None] | None = None
        self._listening = asyncio.Event()  # set once the first LISTEN is in place
        self._supervisor: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False
        self._pruned = 0.0
        self.connects = 0
        """How many times the listening connection was opened (a reconnect adds one)."""
        self.errors = 0
        """Table reads and writes that failed (logged; the safety poll covers them)."""

    def __repr__(self) -> str:
        return f"<PostgresRelay origin={self.origin} connects={self.connects}>"

    def attach(self, deliver: Relayed, watched: Callable[[], list[str]]) -> None:
        """Called by the receiver: where announced deliveries go, and which jobs it watches."""
        self._deliver, self._watched = deliver, watched

    async def start(self) -> None:
        """Create the table if missing and start listening; returns once listening (or
        after 15 s of failed tries: the listener keeps trying in the background).

        Raises:
            ValidationError: asyncpg is missing, or the database cannot be reached
                (the message never holds the password).
        """
        await self._open()
        if not self._listening.is_set():
            # Bounded: the listener keeps trying in the background (and catches up then).
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._listening.wait()), 15.0)

    async def _open(self) -> None:
        """The pool and the table (once; again after a failure), and the listener task."""
        try:
            import asyncpg
        except ImportError as exc:
            raise ValidationError(
                "relay", "a PostgreSQL relay needs asyncpg: pip install 'symbl_async[postgres]'"
            ) from exc
        loop = asyncio.get_running_loop()
        ready = self._ready
        if ready is None:
            ready = self._ready = loop.create_future()
            pool = None
            try:
                pool = await asyncpg.create_pool(
                    self._url, min_size=0, max_size=2, timeout=10.0, command_timeout=30.0
                )
                async with pool.acquire() as conn, conn.transaction():
                    await conn.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK)
                    await conn.execute(_DDL)
                    await conn.execute(_PRUNE, self._keep)
            except Exception as exc:
                if pool is not None:
                    pool.terminate()
                reason = scrub(f"{type(exc).__name__}: {exc}", self._url)
                self._ready = None  # the next use tries again
                ready.set_exception(ValidationError("relay", f"cannot connect: {reason}"))
            else:
                self._pool = pool
                if self._closed:
                    pool.terminate()
                    self._pool = None
                else:
                    self._supervisor = loop.create_task(self._listen())
                ready.set_result(None)
        await asyncio.shield(ready)

    def ensure_started(self) -> None:
        """Start in the background (the receiver's first use); failures are logged."""
        if self._ready is None and not self._closed:
            self._spawn(self._start_quietly())

    async def close(self) -> None:
        """Stop listening and close the connections (idempotent)."""
        self._closed = True
        tasks = [*self._tasks, *([self._supervisor] if self._supervisor else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), 5.0)
            except Exception:
                pool.terminate()

    # -- the receiver's calls ------------------------------------------------------------

    def record(self, event: WebhookEvent, attempt: str | None) -> None:
        """Record a delivery for a job this process does not watch (in a task)."""
        self._spawn(self._record(event, attempt))

    def look_up(self, job_ids: list[str]) -> None:
        """Hand what the table holds for these jobs to the receiver (in a task)."""
        if job_ids:
            self._spawn(self._look_up(job_ids))

    # -- inside ------------------------------------------------------------------------

    def _spawn(self, coro: Any) -> None:
        if self._closed:
            coro.close()
            return
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _start_quietly(self) -> None:
        try:
            await self.start()
        except ValidationError as exc:
            log.warning("webhook relay not started: %s", exc)

    async def _query(self, sql: str, *args: object) -> list[Any]:
        """One statement on the pool; once more when the connection it got was dead (a
        pooled connection the server ended is only found out by using it)."""

        await self._open()
        for last in (False, True):
            pool = self._pool
            if pool is None:
                return []
            try:
                async with pool.acquire() as conn:
                    return list(await conn.fetch(sql, *args))
            except Exception as exc:
                if last or not is_connection_loss(exc):
                    raise
                log.debug("webhook relay: retrying after %s", type(exc).__name__)
                await asyncio.sleep(reconnect_delay(0))
        return []

    async def _record(self, event: WebhookEvent, attempt: str | None) -> None:
        status = event.status
        try:
            await self._query(_RECORD, event.job_id, status.value, status.rank, attempt,
                              self.origin)
        except Exception as exc:
            self.errors += 1
            log.warning("webhook relay: cannot record a delivery: %s",
                        scrub(f"{type(exc).__name__}: {exc}", self._url))

    async def _look_up(self, job_ids: list[str]) -> None:
        try:
            rows = await self._query(_READ, job_ids)
        except Exception as exc:
            self.errors += 1
            log.warning("webhook relay: cannot read relayed deliveries: %s",
                        scrub(f"{type(exc).__name__}: {exc}", self._url))
            return
        for row in rows:
            self._hand_over(row["job_id"], row["status"], row["attempt"], from_table=True)

    def _hand_over(self, job_id: str, status: str, attempt: str | None, *,
                   from_table: bool) -> None:
        if self._deliver is None or self._closed:
            return
        try:
            event = WebhookEvent(job_id=job_id, status=JobStatus(status))
        except ValueError:
            return
        if self._deliver(event, attempt, from_table):
            # Which process's waiter it moved: for operators (and the tests).
            self._spawn(self._note_woke(job_id))

    async def _note_woke(self, job_id: str) -> None:
        with contextlib.suppress(Exception):
            await self._query(_WOKE, job_id, self.origin)

    def _prune_now_and_then(self, now: float) -> None:
        # A long-lived service: rows past ``keep`` go, at most once an hour per process.
        if now - self._pruned >= min(3600.0, self._keep / 4):
            self._pruned = now
            self._spawn(self._prune())

    async def _prune(self) -> None:
        with contextlib.suppress(Exception):  # next time, then
            await self._query(_PRUNE, self._keep)

    def _notified(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        try:
            note = json.loads(payload)
            job_id, status, origin = note["job_id"], note["status"], note["origin"]
        except (ValueError, KeyError, TypeError):
            return
        if origin != self.origin:  # our own deliveries were applied here already
            self._hand_over(job_id, status, note.get("attempt"), from_table=False)

    async def _listen(self) -> None:
        """Keep one LISTEN connection open: reconnect with a growing backoff, catch up."""
        # Long by its one loop (connect, catch up, watch the connection, close); kept whole.
        import asyncpg

        tries = 0
        loop = asyncio.get_running_loop()
        self._pruned = loop.time()  # _open pruned
        while not self._closed:
            lost = asyncio.Event()
            conn = None
            try:
                conn = await asyncpg.connect(self._url, timeout=10.0)
                await conn.add_listener(CHANNEL, self._notified)
                conn.add_termination_listener(lambda _c, lost=lost: lost.set())
            except asyncio.CancelledError:
                if conn is not None:
                    conn.terminate()
                raise
            except Exception as exc:
                if conn is not None:
                    conn.terminate()
                delay = reconnect_delay(tries, cap=30.0)
                tries += 1
                log.warning("webhook relay: not listening (retrying in %.1f s): %s", delay,
                            scrub(f"{type(exc).__name__}: {exc}", self._url))
                await asyncio.sleep(delay)
                continue
            tries = 0
            self.connects += 1
            self._listening.set()
            try:
                # Announcements sent while no connection listened were missed: read the
                # table for every job watched here.
                self.look_up(self._watched())
                # Not only cancellation ends this loop: Python 3.11's wait_for may swallow
                # a cancel that comes as its wait times out (it returns instead), and the
                # relay's close() then waited forever for this task (seen under load with a
                # short check_every).
                while not lost.is_set() and not self._closed:
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(lost.wait(), self._check_every)
                    if not lost.is_set():
                        await asyncio.wait_for(conn.fetchval("SELECT 1"), 10.0)
                        self._prune_now_and_then(loop.time())
            except Exception as exc:
                # Whatever the connection's last words (InternalClientError included): it
                # is gone; listen again. Anything else is a bug: let it be seen.
                if not (is_connection_loss(exc) or is_database_error(exc)):
                    raise
                log.warning("webhook relay: listening connection lost: %s", type(exc).__name__)
            finally:
                conn.terminate()
