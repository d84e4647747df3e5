"""The PostgreSQL ledger: a :class:`~symbl_async.batch._store.SharedStore` over asyncpg.

Many workers on many machines share one batch (one database) and one account's job slots;
see :mod:`symbl_async.batch._store` for the rules and :mod:`symbl_async.batch._pg_claims`
for the shared transactions. Item transitions obey the SQLite ledger's state machine
(:data:`symbl_async.batch._records.ALLOWED_FROM`) with the same field changes, each in one
short transaction that locks the row (``SELECT ... FOR UPDATE``).

Ownership: an item in a worker's hands carries ``owner`` and ``fence``; a transition of a
row with an owner needs this store's worker id and the fence it got for the item (from
:meth:`claim`, :meth:`adopt`, :meth:`reset_for_retry` or :meth:`reopen`), else
:class:`~symbl_async.errors.LeaseLostError`. Rows without an owner may be moved by anyone.
A row that reaches ``fetched`` or ``failed`` is nobody's again (so a later run may retry or
reopen it).

Connection loss (a server restart, an administrator ending the session, a failover) is not
an error: each operation is retried with jittered backoff for ``reconnect_timeout`` seconds,
then fails with :class:`~symbl_async.errors.LedgerError`. A write whose COMMIT answer was
lost may have committed, so each write carries a fresh ``op`` id, stored in the row: a retry
that finds its own ``op`` returns that row instead of applying the write twice.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import secrets
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from typing import Any, TypeVar

from symbl_async.batch import _pg_claims as shared
from symbl_async.batch._pg_listen import Listener
from symbl_async.batch._pg_schema import (
    SELECT_ITEM,
    initialise,
    is_connection_loss,
    is_database_error,
    item_from_record,
    notify_sql,
    redact,
    scrub,
)
from symbl_async.batch._pg_transitions import Transitions
from symbl_async.batch._records import ItemState, LedgerItem
from symbl_async.batch._store import Pending
from symbl_async.core._checks import is_database_url
from symbl_async.errors import ClientClosedError, LeaseLostError, LedgerError, ValidationError

__all__ = ["PostgresStore"]

_log = logging.getLogger("symbl_async.batch.postgres")
_T = TypeVar("_T")
_IDLE_TX_MS = "5000"  # a transaction left idle this long (ms) is ended by the server
_PAGE = 500


class PostgresStore(Transitions):
    """A batch ledger in a PostgreSQL database, shared by workers. Use :meth:`connect`."""

    def __init__(
        self, pool: Any, url: str, *, worker_id: str, reconnect_timeout: float
    ) -> None:
        """Wrap an open pool on an initialised database; call :meth:`connect` instead."""
        self._pool: Any | None = pool
        self._url = url
        self._location = redact(url)
        self._worker_id = worker_id
        self._reconnect_timeout = reconnect_timeout
        self._fences: dict[str, int] = {}
        self._at_ceiling = False  # the last claim_many saw the limit at its ceiling
        self._listener = Listener(url, self._location)

    @classmethod
    async def connect(
        cls, url: str, *, worker_id: str | None = None, reconnect_timeout: float = 60.0
    ) -> PostgresStore:
        """Connect to the ledger database at ``url``, creating its schema if missing.

        Args:
            url: ``postgresql://user:password@host:port/dbname`` (or ``postgres://``); one
                batch per database.
            worker_id: this worker's id (default: host, process id and a random part).
            reconnect_timeout: how long an operation keeps retrying after the connection
                is lost before it fails.

        Returns:
            The open store.

        Raises:
            ValidationError: (field ``ledger``, naming the URL without its password) when
                asyncpg is not installed, the URL is malformed, the server cannot be
                reached or refuses the login, or the database has another schema version.
        """
        location = redact(url)
        if not is_database_url(url):
            raise ValidationError("ledger", f"{location!r} is not a postgresql:// URL")
        if reconnect_timeout < 0:
            raise ValidationError("reconnect_timeout", "must be >= 0")
        try:
            import asyncpg
        except ImportError as exc:
            raise ValidationError(
                "ledger",
                "a postgresql:// ledger needs asyncpg: pip install 'symbl_async[postgres]'",
            ) from exc
        try:
            # A worker stopped inside a transaction would hold its row locks, and block the
            # adoption of its items, for as long as it stays stopped: the server ends it.
            pool = await asyncpg.create_pool(
                url, min_size=1, max_size=4, timeout=10.0, command_timeout=60.0,
                server_settings={"idle_in_transaction_session_timeout": _IDLE_TX_MS},
            )
        except Exception as exc:
            # asyncpg's messages name host and port, never the password.
            reason = scrub(f"{type(exc).__name__}: {exc}", url)
            raise ValidationError("ledger", f"cannot connect to {location}: {reason}") from exc
        try:
            async with pool.acquire() as conn:
                await initialise(conn, location)
        except ValidationError:
            await pool.close()
            raise
        except Exception as exc:
            await pool.close()
            reason = scrub(f"{type(exc).__name__}: {exc}", url)
            raise ValidationError("ledger", f"cannot set up {location}: {reason}") from exc
        if worker_id is None:
            worker_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        return cls(pool, url, worker_id=worker_id, reconnect_timeout=reconnect_timeout)

    @property
    def location(self) -> str:
        """The database URL without its password."""
        return self._location

    @property
    def worker_id(self) -> str:
        """This worker's id."""
        return self._worker_id

    def __repr__(self) -> str:
        return f"PostgresStore({self._location!r}, worker_id={self._worker_id!r})"

    async def aclose(self) -> None:
        """Close the connections (idempotent)."""
        pool, self._pool = self._pool, None
        await self._listener.close()
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), 10.0)
            except Exception:  # a dead server: do not wait for polite goodbyes
                pool.terminate()

    # -- plain reads and writes -------------------------------------------------------------

    async def get(self, key: str) -> LedgerItem | None:
        """As :meth:`Ledger.get`."""
        async def tx(conn: Any, retry: bool) -> LedgerItem | None:
            row = await conn.fetchrow(SELECT_ITEM + " WHERE key = $1", key)
            return None if row is None else item_from_record(row)

        return await self._run(tx)

    async def upsert_pending(
        self, key: str, source_repr: str, name: str, duration: float | None = None,
        spec: str | None = None,
    ) -> LedgerItem:
        """As :meth:`Ledger.upsert_pending`, keeping ``spec`` (the item's submit as JSON)."""
        now = time.time()

        async def tx(conn: Any, retry: bool) -> LedgerItem:
            inserted = await conn.fetchval(
                "INSERT INTO items (key, source, name, state, duration, created_at,"
                " updated_at, spec) VALUES ($1, $2, $3, 'pending', $4, $5, $5, $6)"
                " ON CONFLICT (key) DO NOTHING RETURNING true",
                key, source_repr, name, duration, now, spec,
            )
            if inserted:
                await conn.execute(notify_sql("pending"))
            return item_from_record(await conn.fetchrow(SELECT_ITEM + " WHERE key = $1", key))

        return await self._run(tx)

    async def add_pending(self, items: Sequence[Pending]) -> list[LedgerItem]:
        """Record many new items ``pending`` in one transaction (one NOTIFY); existing ones
        are left as they are. Returns every item as stored, in no particular order."""
        if not items:
            return []
        now = time.time()
        return await self._run(lambda conn, retry: shared.add_pending(conn, items, now=now))

    async def get_meta(self, name: str) -> str | None:
        """A value stored with the batch, or None."""
        async def tx(conn: Any, retry: bool) -> str | None:
            value = await conn.fetchval("SELECT value FROM meta WHERE key = $1", name)
            return None if value is None else str(value)

        return await self._run(tx)

    async def set_meta(self, name: str, value: str) -> None:
        """Store a value with the batch (not ``schema_version``, which the ledger owns)."""
        if name == "schema_version":
            raise ValidationError("name", "schema_version belongs to the ledger")

        async def tx(conn: Any, retry: bool) -> None:
            await conn.execute(
                "INSERT INTO meta (key, value) VALUES ($1, $2)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                name, value,
            )

        await self._run(tx)

    async def counts(self) -> dict[str, int]:
        """The number of items in each state, every state present (zeros included)."""
        async def tx(conn: Any, retry: bool) -> list[Any]:
            return list(await conn.fetch("SELECT state, count(*) AS n FROM items GROUP BY state"))

        counts = {state.value: 0 for state in ItemState}
        counts.update({r["state"]: int(r["n"]) for r in await self._run(tx)})
        return counts

    async def items(self, state: ItemState | str | None = None) -> AsyncIterator[LedgerItem]:
        """Items in key order, optionally of one state, read in pages of 500 rows."""
        wanted = None if state is None else ItemState(state).value
        after = ""
        while True:
            async def tx(conn: Any, retry: bool, after: str = after) -> list[Any]:
                sql = SELECT_ITEM + " WHERE key > $1 AND ($2::text IS NULL OR state = $2)"
                return list(await conn.fetch(sql + " ORDER BY key LIMIT $3", after, wanted, _PAGE))

            rows = await self._run(tx)
            if not rows:
                return
            for row in rows:
                yield item_from_record(row)
            after = rows[-1]["key"]

    # -- shared: slots, leases, adoption, AIMD ------------------------------------------------

    async def join(self, *, max_limit: int, lease: float) -> None:
        """Register this worker (lease of ``lease`` s) and set the account's ceiling."""
        if max_limit < 1:
            raise ValidationError("max_limit", "must be at least 1")
        if lease <= 0:
            raise ValidationError("lease", "must be > 0 seconds")
        me = self._worker_id
        await self._run(lambda conn, retry: shared.join(
            conn, me=me, max_limit=max_limit, lease=lease))
        self._listener.start()  # in the background: by the first wait_changed, it may be up

    async def heartbeat(self) -> bool:
        """Renew the lease; False when this worker was declared dead."""
        me = self._worker_id
        return await self._run(lambda conn, retry: shared.heartbeat(conn, me=me))

    async def leave(self) -> None:
        """End the lease now: another worker adopts what this one leaves in flight."""
        me = self._worker_id
        await self._run(lambda conn, retry: shared.leave(conn, me=me))

    async def claim(
        self, candidates: Collection[str] | None, name_for: Callable[[LedgerItem], str]
    ) -> LedgerItem | None:
        """Take one job slot and the longest pending candidate (of the whole backlog for
        None); None when none is free."""
        keys = None if candidates is None else list(candidates)
        me, op = self._worker_id, uuid.uuid4()
        if keys is not None and not keys:
            return None
        item = await self._run(lambda conn, retry: shared.claim(
            conn, me=me, candidates=keys, name_for=name_for, op=op, retry=retry))
        if item is not None:
            self._remember(item)
        return item

    async def claim_many(
        self, most: int, name_for: Callable[[LedgerItem], str]
    ) -> list[LedgerItem]:
        """Take up to ``most`` job slots and as many of the longest pending items, in one
        transaction; longest first."""
        me, op = self._worker_id, uuid.uuid4()
        items, at_ceiling = await self._run(lambda conn, retry: shared.claim_many(
            conn, me=me, most=most, name_for=name_for, op=op, retry=retry))
        self._at_ceiling = at_ceiling
        for item in items:
            self._remember(item)
        return items

    async def adopt(self) -> list[LedgerItem]:
        """Take over the unfinished items of workers whose lease ran out (or of none)."""
        me, op = self._worker_id, uuid.uuid4()
        items = await self._run(lambda conn, retry: shared.adopt(conn, me=me, op=op, retry=retry))
        for item in items:
            self._remember(item)
        return items

    async def on_rejected(self, cooldown: float) -> None:
        """A 429: halve the shared limit (once per burst), hold claims ``cooldown`` s."""
        self._at_ceiling = False
        op = uuid.uuid4()
        await self._run(lambda conn, retry: shared.on_rejected(conn, cooldown=cooldown, op=op))

    async def on_accepted(self) -> None:
        """A submit was accepted: raise the shared limit additively, up to the ceiling.

        Nothing to write while the last claim saw the limit at its ceiling: the account
        row is the claims' lock, and every write to it makes them queue."""
        if self._at_ceiling:
            return
        op = uuid.uuid4()
        await self._run(lambda conn, retry: shared.on_accepted(conn, op=op))

    async def unfinished_elsewhere(self) -> int:
        """Items pending, or unfinished in another worker's hands (or in none)."""
        me = self._worker_id
        return await self._run(lambda conn, retry: shared.unfinished_elsewhere(conn, me=me))

    async def in_flight(self) -> int:
        """Jobs in flight on the account, summed over all workers."""
        return await self._run(lambda conn, retry: shared.count_in_flight(conn))

    async def wait_changed(self, timeout: float) -> None:
        """Return on a notification from any worker, or after ``timeout`` s.

        A notification that came since the last call counts (the caller may have been busy
        when it came). The listening connection is opened in the background (by
        :meth:`join` or the first wait); when it opens, and when it is lost, waits return
        at once, since notifications may have been missed meanwhile. While the server is
        away, each wait runs its course and tries to listen again."""
        if self._pool is None:
            raise ClientClosedError(f"ledger {self._location} is closed; connect again")
        await self._listener.wait(timeout)

    # -- the machinery --------------------------------------------------------------------

    def _scrub(self, exc: BaseException) -> str:
        return scrub(f"{type(exc).__name__}: {exc}", self._url)

    def _remember(self, item: LedgerItem) -> None:
        if item.owner == self._worker_id and item.fence is not None:
            self._fences[item.key] = item.fence
        else:
            self._fences.pop(item.key, None)

    async def _run(self, tx: Callable[[Any, bool], Awaitable[_T]]) -> _T:
        """Run ``tx(conn, retry)`` in one transaction; after a lost connection, again (with
        ``retry`` True) until ``reconnect_timeout`` runs out."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._reconnect_timeout
        tries = 0
        while True:
            pool = self._pool
            if pool is None:
                raise ClientClosedError(f"ledger {self._location} is closed; connect again")
            try:
                async with pool.acquire() as conn:
                    try:
                        async with conn.transaction():
                            return await tx(conn, tries > 0)
                    except Exception as exc:
                        # After a loss asyncpg may hold a connection in a confused state:
                        # end it, so the pool replaces it instead of handing it out again.
                        if is_connection_loss(exc) and not conn.is_closed():
                            conn.terminate()
                        raise
            except LedgerError:
                raise
            except Exception as exc:
                if not is_connection_loss(exc):
                    if not is_database_error(exc):
                        raise  # a bug, or the caller's name_for: not the database's
                    raise LedgerError(f"ledger {self._location}: {self._scrub(exc)}") from exc
                tries += 1
                left = deadline - loop.time()
                if left <= 0:
                    raise LedgerError(
                        f"ledger {self._location}: no connection for"
                        f" {self._reconnect_timeout:g}s: {self._scrub(exc)}"
                    ) from exc
                delay = min(1.0, 0.02 * 2 ** min(tries, 10)) * random.uniform(0.5, 1.5)
                _log.debug("ledger %s: retrying after %s", self._location, self._scrub(exc))
                await asyncio.sleep(min(delay, left))

    # -- used by Transitions -------------------------------------------------------------------

    def _check_owner(self, item: LedgerItem) -> None:
        if item.owner is None:
            return
        if item.owner != self._worker_id or item.fence != self._fences.get(item.key):
            raise LeaseLostError(
                item.key,
                f"item {item.key!r} is in worker {item.owner!r}'s hands (fence {item.fence});"
                f" this worker ({self._worker_id!r}) lost it: its lease ran out",
            )
