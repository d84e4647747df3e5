"""The ledger in PostgreSQL: one batch and one account's job slots shared by many workers.

The store contract (:mod:`symbl_async.batch._ledger._store`) over asyncpg. Each operation is
one transaction: it locks what it reads (``SELECT ... FOR UPDATE``), calls
:func:`~symbl_async.batch._ledger._states.advance` for each item it moves, and writes what that
returns. Claims lock the account row, so each counts the slots after the previous claim
committed (a single ``UPDATE ... WITH`` claim, without the lock, was measured admitting 57
jobs into 50 slots under concurrency). asyncpg is imported only when a store connects
(``import symbl_async`` must work without it).

Times are the database's (``now()``): leases, cooldowns and every time an item records, so
workers on machines whose clocks disagree still agree; :meth:`PostgresStore.clock` is this
machine's estimate of the database's clock.

Connection loss (a server restart, a failover, an administrator ending the session) is not
an error: each operation is retried with jittered backoff for ``reconnect_timeout`` seconds
(default five minutes), then fails with :class:`~symbl_async.errors.LedgerError`. A write
whose COMMIT answer was lost may have committed, so each write carries a fresh ``op`` id,
stored in what it changed: a retry that finds its own ``op`` returns that instead of
applying the write twice.

Outages and leases: the lease clock is the database's, and it runs on while the database
is unreachable, so after an outage every lease looks expired. A worker declares another dead
only if that worker had a whole lease, inside this worker's own time connected (and since
the server last started), to renew and did not; so an outage, a restart or a failover gives
every worker a full lease to reconnect before anyone adopts its items.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from symbl_async.batch._ledger._sqlite import default_worker_id
from symbl_async.batch._ledger._states import (
    COLUMNS,
    IN_FLIGHT,
    RELEASED,
    UNFINISHED,
    Advanced,
    Change,
    ItemState,
    LedgerItem,
    Pending,
    adopted,
    advance,
    claimed,
    held_fence,
    lapsed,
    reserved,
    unreserved,
)
from symbl_async.batch._ledger._store import check_join, fair_share
from symbl_async.core._checks import check_ledger_url, redact_url
from symbl_async.core._database import (
    is_connection_loss,
    is_database_error,
    reconnect_delay,
    scrub,
)
from symbl_async.errors import (
    ClientClosedError,
    IllegalTransitionError,
    LedgerError,
    ValidationError,
)

__all__ = ["CHANNEL", "PostgresStore", "batch_version", "is_connection_loss", "scrub"]

_log = logging.getLogger("symbl_async.batch.postgres")
_T = TypeVar("_T")

SCHEMA_VERSION = "3"
CHANNEL = "symbl_async_changed"
"""The LISTEN/NOTIFY channel: a slot may have been freed, an item added or finished."""
_RETRY_CAP = 2.0  # seconds at most between retries after a lost connection (see join)
_IDLE_TX_MS = "5000"  # a transaction left idle this long (ms) is ended by the server
_CONNECT_PATIENCE = 30.0  # seconds a first connection waits for a server that is starting
_PAGE = 500
# Taken while creating the schema, so that workers starting together do not race on
# CREATE TABLE IF NOT EXISTS (which is not atomic against itself in PostgreSQL).
_SCHEMA_LOCK = 0x53594D42
_TYPES = {
    "key": "text", "source": "text", "name": "text", "state": "text", "job_id": "text",
    "conversation_id": "text", "error": "text", "attempts": "integer",
    "duration": "float8", "created_at": "float8", "updated_at": "float8",
    "submitted_at": "float8", "completed_at": "float8", "fetched_at": "float8",
    "output_path": "text", "attempt_at": "float8", "attempt_name": "text",
    "grace_until": "float8", "spec": "text", "owner": "text", "fence": "int8",
    "outputs": "text",
}
assert tuple(_TYPES) == COLUMNS
_SELECT = f"SELECT {', '.join(COLUMNS)} FROM items"
_RETURNING = " RETURNING " + ", ".join(f"items.{c}" for c in COLUMNS)
_NOW = "extract(epoch FROM now())::float8"
_IN_FLIGHT = sorted(s.value for s in IN_FLIGHT)
_UNFINISHED = sorted(s.value for s in UNFINISHED)
# The account's jobs in flight (``$1``: _IN_FLIGHT), as the lock-free look and in_flight() count
# them; a claim counts the same rows, with this worker's share, in one statement.
_COUNT_IN_FLIGHT = "SELECT count(*) FROM items WHERE state = ANY($1::text[])"
_RELEASED = sorted(s.value for s in RELEASED)
_STATES = ", ".join(f"'{s.value}'" for s in ItemState)
_DDL = (
    "CREATE TABLE IF NOT EXISTS meta (key text PRIMARY KEY, value text NOT NULL)",
    f"""CREATE TABLE IF NOT EXISTS items (
        key text PRIMARY KEY,
        source text NOT NULL,
        name text NOT NULL,
        state text NOT NULL CHECK (state IN ({_STATES})),
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
        attempt_name text,
        grace_until double precision,
        spec text,
        owner text,
        fence bigint,
        outputs text,
        op uuid
    )""",
    # Version 2 had no record of what an item's insights file holds.
    "ALTER TABLE items ADD COLUMN IF NOT EXISTS outputs text",
    "CREATE INDEX IF NOT EXISTS items_state ON items (state)",
    # claim(): the longest pending item first.
    "CREATE INDEX IF NOT EXISTS items_pending ON items (duration DESC NULLS LAST, key)"
    " WHERE state = 'pending'",
    "CREATE INDEX IF NOT EXISTS items_op ON items (op)",
    # adopt(): the reservations of workers that are gone, without a scan of the backlog.
    "CREATE INDEX IF NOT EXISTS items_reserved ON items (owner)"
    " WHERE state = 'pending' AND owner IS NOT NULL",
    """CREATE TABLE IF NOT EXISTS workers (
        id text PRIMARY KEY,
        lease_seconds double precision NOT NULL,
        lease_until timestamptz NOT NULL,
        joined_at timestamptz NOT NULL DEFAULT now()
    )""",
    """CREATE TABLE IF NOT EXISTS account (
        id integer PRIMARY KEY CHECK (id = 1),
        max_limit integer NOT NULL CHECK (max_limit >= 1),
        lim integer NOT NULL CHECK (lim >= 1),
        successes integer NOT NULL DEFAULT 0,
        since_decrease integer NOT NULL DEFAULT 0,
        cooldown_until timestamptz,
        run_started double precision NOT NULL DEFAULT 0,
        op uuid
    )""",
    "CREATE SEQUENCE IF NOT EXISTS fences",
)
# Version 1: the attempt's name in ``name`` (compounding on resets), owners kept on items
# that are nobody's, no grace, no run start.
_MIGRATE_FROM_1 = (
    "ALTER TABLE items ADD COLUMN IF NOT EXISTS attempt_name text",
    "ALTER TABLE items ADD COLUMN IF NOT EXISTS grace_until double precision",
    "ALTER TABLE account ADD COLUMN IF NOT EXISTS run_started double precision NOT NULL"
    " DEFAULT 0",
    "UPDATE items SET attempt_name = name WHERE attempts > 0",
    "UPDATE items SET name = spec::json->>'name' WHERE spec IS NOT NULL"
    " AND spec::json->>'name' IS NOT NULL",
    "UPDATE items SET owner = NULL, fence = NULL WHERE state IN ('pending', 'fetched',"
    " 'failed')",
)


@functools.cache
def _connection_class() -> Any:
    """asyncpg's connection, without the reset query it sends on every release to the pool
    (one more round trip per ledger operation). The ledger's connections keep no session
    state to undo: no LISTEN (the listener has its own connection), no cursors or SET,
    advisory locks only within a transaction; an open transaction is still rolled back."""
    import asyncpg

    class Connection(asyncpg.Connection):  # type: ignore[misc]
        def get_reset_query(self) -> str:
            return ""

    return Connection


async def _create_pool(url: str, patience: float, settings: Mapping[str, str]) -> Any:
    """A connection pool on ``url``; a server that is starting is waited for ``patience``.

    Raises:
        ValidationError: (field ``ledger``) no asyncpg, no server, a refused login.
    """
    try:
        import asyncpg
    except ImportError as exc:
        raise ValidationError(
            "ledger",
            "a postgresql:// ledger needs asyncpg: pip install 'symbl_async[postgres]'",
        ) from exc
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience
    tries = 0
    while True:
        try:
            return await asyncpg.create_pool(
                url, min_size=1, max_size=4, timeout=10.0, command_timeout=60.0,
                server_settings=dict(settings), connection_class=_connection_class(),
            )
        except Exception as exc:
            # A server restarting ("not yet accepting connections") or failing over is
            # waited for a while; a wrong password or database is not.
            tries += 1
            if is_connection_loss(exc) and loop.time() < deadline:
                await asyncio.sleep(reconnect_delay(tries, cap=1.0))
                continue
            reason = scrub(f"{type(exc).__name__}: {exc}", url)
            raise ValidationError(
                "ledger", f"cannot connect to {redact_url(url)}: {reason}") from exc


async def batch_version(conn: Any) -> str | None:
    """The schema version of the batch in the connection's database; None when it holds
    no batch (the tables a first worker creates are not there). Reads only."""
    if await conn.fetchval("SELECT to_regclass('items') IS NULL OR to_regclass('meta') IS NULL"):
        return None
    version = await conn.fetchval("SELECT value FROM meta WHERE key = 'schema_version'")
    return None if version is None else str(version)


def _item(record: Mapping[str, Any]) -> LedgerItem:
    return LedgerItem(**{c: record[c] for c in COLUMNS})


def _notify(reason: str) -> str:
    assert re.fullmatch(r"[a-z_]+", reason)
    return f"SELECT pg_notify('{CHANNEL}', '{reason}')"


async def _initialise(conn: Any, location: str) -> None:
    """Create the schema if missing (one batch per database); migrate or refuse others."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK)
        await conn.execute(_DDL[0])
        fresh = await conn.fetchval("SELECT to_regclass('items') IS NULL")
        await conn.execute(
            "INSERT INTO meta (key, value) VALUES ('schema_version', $1)"
            " ON CONFLICT (key) DO NOTHING",
            SCHEMA_VERSION if fresh else "1",
        )
        version = await conn.fetchval("SELECT value FROM meta WHERE key = 'schema_version'")
        if version not in ("1", "2", SCHEMA_VERSION):
            raise ValidationError(
                "ledger",
                f"{location} has schema version {version}; this version reads "
                f"{SCHEMA_VERSION} (and migrates 1 and 2)",
            )
        for ddl in _DDL[1:]:
            await conn.execute(ddl)
        if version == "1":
            for statement in _MIGRATE_FROM_1:
                await conn.execute(statement)
        if version != SCHEMA_VERSION:
            await conn.execute("UPDATE meta SET value = $1 WHERE key = 'schema_version'",
                               SCHEMA_VERSION)


async def _write(conn: Any, done: Sequence[Advanced], op: uuid.UUID) -> list[LedgerItem]:
    """Write the moves ``advance`` made: one UPDATE per set of changed columns."""
    groups: dict[tuple[str, ...], list[Advanced]] = {}
    for one in done:
        groups.setdefault(tuple(sorted(one.changes)), []).append(one)
    written: dict[str, LedgerItem] = {}
    for columns, moves in groups.items():
        # Column names come from the state machine's moves, never from callers.
        arrays: list[list[Any]] = [[m.item.key for m in moves]]
        for column in columns:
            assert column in _TYPES
            arrays.append([_value(m.changes[column]) for m in moves])
        unnest = ", ".join(f"${i + 2}::{_TYPES[c]}[]" for i, c in enumerate(("key", *columns)))
        sets = ", ".join(f"{c} = t.{c}" for c in columns)
        names = ", ".join(("key", *columns))
        rows = await conn.fetch(
            f"UPDATE items SET {sets}, op = $1 FROM unnest({unnest}) AS t({names})"
            " WHERE items.key = t.key" + _RETURNING,
            op, *arrays,
        )
        written.update((r["key"], _item(r)) for r in rows)
    return [written[one.item.key] for one in done]


def _value(value: Any) -> Any:
    return value.value if isinstance(value, ItemState) else value


class Listener:
    """Wakes :meth:`wait` on every notification, and when its connection opens or is lost
    (notifications sent meanwhile were missed: a spurious wake-up is the safe side)."""

    def __init__(self, url: str, location: str, on_lost: Callable[[], None]) -> None:
        """Listen on ``url`` (``location``: it without its password, for logs)."""
        self._url = url
        self._location = location
        self._on_lost = on_lost
        self._conn: Any | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self._closed = False

    def start(self) -> None:
        """Open the connection in the background, unless it is open or opening."""
        if self._closed or (self._conn is not None and not self._conn.is_closed()):
            return
        if self._connecting is None or self._connecting.done():
            self._connecting = asyncio.create_task(self._connect())

    async def wait(self, timeout: float) -> None:
        """Return on a notification since the last return, or after ``timeout`` s."""
        self.start()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._changed.wait(), max(0.0, timeout))
        self._changed.clear()

    async def close(self) -> None:
        """Stop listening (idempotent)."""
        self._closed = True
        task = self._connecting
        if task is not None and not task.done():
            # Let a connect under way finish (it then closes itself): asyncpg cancelled in
            # mid-handshake leaves an orphan future behind. Cancel only a slow one.
            await asyncio.wait([task], timeout=2.0)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.terminate()

    async def _connect(self) -> None:
        # A dedicated connection (a pooled one would be handed to other queries), opened
        # apart from any wait so that a slow connect never stretches a wait's timeout.
        import asyncpg

        conn = None
        try:
            conn = await asyncpg.connect(self._url, timeout=10.0)
            await conn.add_listener(CHANNEL, self._notified)
        except BaseException as exc:  # cancelled by close() too: never leave it open
            if conn is not None:
                conn.terminate()
            if not isinstance(exc, Exception):
                raise
            _log.debug("ledger %s: not listening: %s", self._location,
                       scrub(f"{type(exc).__name__}: {exc}", self._url))
            return
        if self._closed:
            conn.terminate()
            return
        conn.add_termination_listener(self._lost)
        self._conn = conn
        self._changed.set()

    def _notified(self, *_: object) -> None:
        self._changed.set()

    def _lost(self, *_: object) -> None:
        self._conn = None
        self._on_lost()
        self._changed.set()


class PostgresStore:
    """A batch ledger in a PostgreSQL database, shared by workers. Use :meth:`connect`."""

    def __init__(
        self, pool: Any, url: str, *, worker_id: str, reconnect_timeout: float
    ) -> None:
        """Wrap an open pool on an initialised database; call :meth:`connect` instead."""
        self._pool: Any | None = pool
        self._url = url
        self._location = redact_url(url)
        self._worker_id = worker_id
        self._reconnect_timeout = reconnect_timeout
        self._offset = 0.0  # the database's clock minus this machine's
        self._since: float | None = None  # connected without a loss since (database time)
        self._at_ceiling = False  # the last claim saw the limit at its ceiling
        self._over_share = False  # the last claim within the share found it held
        self._share: int | None = None  # this worker's share, as that claim counted it
        # Retries after a lost connection come at least four times a lease: one backing off
        # longer could wait past its own lease once the database is back, and the workers
        # that reconnected first would adopt a live worker's items (it then stops).
        self._retry_cap = _RETRY_CAP
        self._listener = Listener(url, self._location, self._lost)

    @classmethod
    async def connect(
        cls, url: str, *, worker_id: str | None = None, reconnect_timeout: float = 300.0
    ) -> PostgresStore:
        """Connect to the ledger database at ``url``, creating its schema if missing.

        Args:
            url: ``postgresql://user:password@host:port/dbname`` (or ``postgres://``); one
                batch per database. Give the password through ``PGPASSWORD`` or
                ``~/.pgpass`` rather than in the URL.
            worker_id: this worker's id (default: host, process id and a random part).
            reconnect_timeout: how long an operation keeps retrying after the connection
                is lost (an outage, a failover) before it fails.

        Raises:
            ValidationError: (field ``ledger``, naming the URL without its password) when
                asyncpg is not installed, the URL is malformed, the server cannot be
                reached or refuses the login, or the database has another schema version.
        """
        url = check_ledger_url(url)
        location = redact_url(url)
        if isinstance(reconnect_timeout, bool) or not reconnect_timeout >= 0:
            raise ValidationError("reconnect_timeout", "must be a number of seconds >= 0")
        # A worker stopped inside a transaction would hold its row locks, and block the
        # adoption of its items, for as long as it stays stopped: the server ends it.
        pool = await _create_pool(url, min(reconnect_timeout, _CONNECT_PATIENCE),
                                  {"idle_in_transaction_session_timeout": _IDLE_TX_MS})
        store = cls(pool, url, worker_id=worker_id or default_worker_id(),
                    reconnect_timeout=float(reconnect_timeout))

        async def set_up(conn: Any, _retry: bool) -> float:
            await _initialise(conn, location)
            return float(await conn.fetchval(f"SELECT {_NOW}"))

        try:
            # Through _run: the server answered a moment ago, so a connection lost while
            # setting up (a failover just as the worker starts) is an outage like any
            # other, waited out for ``reconnect_timeout``; the set-up is one transaction.
            db_now = await store._run(set_up)
        except ValidationError:
            await pool.close()
            raise
        except Exception as exc:
            await pool.close()
            cause = exc.__cause__ if isinstance(exc, LedgerError) and exc.__cause__ else exc
            reason = scrub(f"{type(cause).__name__}: {cause}", url)
            raise ValidationError("ledger", f"cannot set up {location}: {reason}") from exc
        store._set_clock(db_now)
        store._since = store.clock()
        return store

    @classmethod
    async def connect_read_only(cls, url: str) -> PostgresStore | None:
        """Connect to read the batch in the database at ``url``, creating and changing
        nothing (every transaction is read-only: a write fails).

        Returns:
            The store, or None when the database holds no batch (no worker has set it up).

        Raises:
            ValidationError: (field ``ledger``) as :meth:`connect`, and when the batch was
                written by an older version (a run migrates it; a read cannot).
        """
        url = check_ledger_url(url)
        location = redact_url(url)
        pool = await _create_pool(url, _CONNECT_PATIENCE,
                                  {"default_transaction_read_only": "on"})
        try:
            async with pool.acquire() as conn:
                version = await batch_version(conn)
                if version is not None and version != SCHEMA_VERSION:
                    raise ValidationError(
                        "ledger", f"{location} has schema version {version}; a run migrates "
                        f"it to {SCHEMA_VERSION}, a read cannot")
                store = None if version is None else cls(
                    pool, url, worker_id="reader", reconnect_timeout=_CONNECT_PATIENCE)
                if store is not None:
                    store._set_clock(await conn.fetchval(f"SELECT {_NOW}"))
        except ValidationError:
            await pool.close()
            raise
        except Exception as exc:
            await pool.close()
            reason = scrub(f"{type(exc).__name__}: {exc}", url)
            raise ValidationError("ledger", f"cannot read {location}: {reason}") from exc
        if store is None:
            await pool.close()
        return store

    @property
    def over_share(self) -> bool:
        return self._over_share

    @property
    def share(self) -> int | None:
        return self._share

    @property
    def location(self) -> str:
        """The database URL without its password."""
        return self._location

    @property
    def worker_id(self) -> str:
        """This worker's id."""
        return self._worker_id

    @property
    def shared(self) -> bool:
        """True: any number of workers share the batch."""
        return True

    def __repr__(self) -> str:
        return f"PostgresStore({self._location!r}, worker_id={self._worker_id!r})"

    def clock(self) -> float:
        """This machine's estimate of the database's clock."""
        return time.time() + self._offset

    def _set_clock(self, db_now: float) -> None:
        self._offset = float(db_now) - time.time()

    def _lost(self) -> None:
        self._since = None

    async def aclose(self) -> None:
        """Close the connections (idempotent)."""
        pool, self._pool = self._pool, None
        await self._listener.close()
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), 10.0)
            except Exception:  # a dead server: do not wait for polite goodbyes
                pool.terminate()

    # -- workers ------------------------------------------------------------------------------

    async def join(self, *, max_limit: int, lease: float) -> float:
        check_join(max_limit, lease)
        me = self._worker_id
        self._retry_cap = min(_RETRY_CAP, lease / 4)

        async def tx(conn: Any, retry: bool) -> float:
            others = await conn.fetchval(
                "SELECT count(*) FROM workers WHERE id <> $1 AND lease_until > now()", me)
            await conn.execute(
                "INSERT INTO account (id, max_limit, lim) VALUES (1, $1, $1) ON CONFLICT (id)"
                " DO UPDATE SET max_limit = $1, lim = least(account.lim, $1)",
                max_limit,
            )
            if not others:
                await conn.execute(f"UPDATE account SET run_started = {_NOW} WHERE id = 1")
            await conn.execute(
                "INSERT INTO workers (id, lease_seconds, lease_until)"
                " VALUES ($1, $2, now() + $2 * interval '1 second') ON CONFLICT (id) DO UPDATE"
                " SET lease_seconds = $2, lease_until = now() + $2 * interval '1 second'",
                me, float(lease),
            )
            await conn.execute(_notify("account"))
            return float(await conn.fetchval("SELECT run_started FROM account WHERE id = 1"))

        started = await self._run(tx)
        self._listener.start()  # in the background: by the first wait_changed, it may be up
        return started

    async def heartbeat(self) -> bool:
        me = self._worker_id

        async def tx(conn: Any, retry: bool) -> float | None:
            db_now = await conn.fetchval(
                "UPDATE workers SET lease_until = now() + lease_seconds * interval '1 second'"
                f" WHERE id = $1 RETURNING {_NOW}", me,
            )
            return None if db_now is None else float(db_now)

        db_now = await self._run(tx)
        if db_now is None:
            return False
        self._set_clock(db_now)
        return True

    async def leave(self) -> None:
        me, op = self._worker_id, uuid.uuid4()

        async def tx(conn: Any, retry: bool) -> None:
            # Its reservations given back (a retry finds none left: idempotent).
            rows = await conn.fetch(
                _SELECT + " WHERE state = 'pending' AND owner = $1 ORDER BY key FOR UPDATE",
                me)
            if rows:
                now = float(await conn.fetchval(f"SELECT {_NOW}"))
                await _write(conn, [self._advance(item, unreserved(), now, item.fence, None)
                                    for item in map(_item, rows)], op)
                await conn.execute(_notify("changed"))
            # now() and not a deletion: the row says this worker existed until now; the
            # next adopt() finds its lease over and takes its items at once (no lease to
            # wait out: a worker that says it is gone is not waited for, as one unheard
            # may be).
            await conn.execute(
                "UPDATE workers SET lease_until = now(), lease_seconds = 0 WHERE id = $1", me)

        await self._run(tx)

    # -- items --------------------------------------------------------------------------------

    async def add_pending(self, items: Sequence[Pending]) -> list[LedgerItem]:
        if not items:
            return []
        keys = [p.key for p in items]
        # One row per key: an INSERT ... ON CONFLICT DO UPDATE may not touch a row twice.
        items = list({p.key: p for p in reversed(items)}.values())[::-1]

        async def tx(conn: Any, retry: bool) -> list[LedgerItem]:
            # A pending item named again is wanted in this run: its time is refreshed (a
            # shared run claims only what this run's inputs named); others stay as they are.
            inserted = await conn.fetchval(
                "WITH new AS (INSERT INTO items (key, source, name, state, duration,"
                f" created_at, updated_at, spec) SELECT k, s, n, 'pending', d, {_NOW},"
                f" {_NOW}, p FROM unnest($1::text[], $2::text[], $3::text[], $4::float8[],"
                " $5::text[]) AS t(k, s, n, d, p) ON CONFLICT (key) DO UPDATE SET updated_at"
                " = excluded.updated_at WHERE items.state = 'pending' RETURNING 1)"
                " SELECT count(*) FROM new",
                [p.key for p in items], [p.source for p in items], [p.name for p in items],
                [p.duration for p in items], [p.spec for p in items],
            )
            if inserted:
                await conn.execute(_notify("pending"))
            rows = await conn.fetch(_SELECT + " WHERE key = ANY($1::text[])", keys)
            found = {r["key"]: _item(r) for r in rows}
            return [found[k] for k in keys]

        return await self._run(tx)

    async def get(self, key: str) -> LedgerItem | None:
        async def tx(conn: Any, retry: bool) -> LedgerItem | None:
            row = await conn.fetchrow(_SELECT + " WHERE key = $1", key)
            return None if row is None else _item(row)

        return await self._read(tx)

    async def get_many(
        self, keys: Sequence[str], *, held_or_done: bool = False
    ) -> list[LedgerItem]:
        wanted = list(dict.fromkeys(keys))

        async def tx(conn: Any, retry: bool) -> list[LedgerItem]:
            if held_or_done:
                rows = await conn.fetch(
                    _SELECT + " WHERE key = ANY($1::text[]) AND (state = ANY($2::text[])"
                    " OR owner = $3)", wanted, _RELEASED, self._worker_id)
            else:
                rows = await conn.fetch(_SELECT + " WHERE key = ANY($1::text[])", wanted)
            return [_item(r) for r in rows]

        return await self._read(tx) if wanted else []

    async def claim(
        self, most: int, candidates: Sequence[str] | None = None, *,
        within_share: bool = False, reserved: Sequence[str] = (),
    ) -> list[LedgerItem]:
        op = uuid.uuid4()
        keys = None if candidates is None else list(dict.fromkeys(candidates))
        own = list(dict.fromkeys(reserved))
        self._over_share = False
        if most <= 0 or (keys is not None and not keys and not own):
            return []
        if await self._looks_full():
            return []

        async def tx(conn: Any, retry: bool) -> list[LedgerItem]:
            if retry:
                # The COMMIT of an earlier try may have been lost with the connection: items
                # carrying this op were claimed by it.
                rows = await conn.fetch(_SELECT + " WHERE op = $1", op)
                if rows:
                    return sorted((_item(r) for r in rows), key=_claim_order(keys, own))
            return await self._claim_in(conn, most, keys, op, within_share=within_share,
                                        reserved=own)

        return await self._run(tx)

    async def _claim_in(
        self, conn: Any, most: int, keys: list[str] | None, op: uuid.UUID, *,
        within_share: bool = False, reserved: list[str] | None = None,
    ) -> list[LedgerItem]:
        """A claim's work, in the caller's transaction (see :meth:`claim`); with
        ``within_share``, only while this worker holds fewer jobs than its share."""
        self._over_share = False
        account = await conn.fetchrow(
            f"SELECT lim, max_limit, coalesce(cooldown_until > now(), false) AS cooling,"
            f" run_started, since_decrease, {_NOW} AS now FROM account WHERE id = 1"
            " FOR UPDATE"
        )
        if account is None:
            raise ValidationError("claim", "join the batch before claiming")
        self._at_ceiling = account["lim"] >= account["max_limit"]
        if account["cooling"]:
            return []
        # Counted after the account's lock, in a snapshot of its own: what another claim
        # committed while this one waited for the lock is in it.
        # Within the share, this worker's own jobs and the live workers in the same
        # statement: no round trip more on the refill's way.
        held = await conn.fetchrow(
            "SELECT count(*) AS in_flight, count(*) FILTER (WHERE owner = $2) AS mine,"
            " (SELECT count(*) FROM workers WHERE lease_until > now()) AS live"
            " FROM items WHERE state = ANY($1::text[])", _IN_FLIGHT, self._worker_id)
        room = min(most, account["lim"] - held["in_flight"])
        if room <= 0:
            return []
        if within_share:
            self._share = fair_share(account["lim"], held["live"])
            if held["mine"] >= self._share:
                self._over_share = True
                return []
        # Only what this run's inputs named: a pending item an earlier run left behind
        # waits for an input to name it again. This worker's reservations first; then
        # what nobody reserved.
        rows: list[Any] = []
        if reserved:
            rows = await conn.fetch(
                _SELECT + " WHERE key = ANY($1::text[]) AND state = 'pending' AND owner = $4"
                " AND updated_at >= $3 ORDER BY array_position($1::text[], key) LIMIT $2"
                " FOR UPDATE SKIP LOCKED", reserved, room, account["run_started"],
                self._worker_id)
        left = room - len(rows)
        if left and keys is None:  # the whole backlog, longest first (the partial index)
            rows += await conn.fetch(
                _SELECT + " WHERE state = 'pending' AND updated_at >= $2 AND owner IS NULL"
                " ORDER BY duration DESC NULLS LAST, key LIMIT $1 FOR UPDATE SKIP LOCKED",
                left, account["run_started"])
        elif left:
            rows += await conn.fetch(
                _SELECT + " WHERE key = ANY($1::text[]) AND state = 'pending' AND"
                " owner IS NULL AND updated_at >= $3 ORDER BY array_position($1::text[], key)"
                " LIMIT $2 FOR UPDATE SKIP LOCKED", keys, left, account["run_started"])
        if not rows:
            return []
        fences = await conn.fetch(
            "SELECT nextval('fences') AS f FROM generate_series(1, $1)", len(rows))
        me = self._worker_id
        done = [self._advance(item, claimed(), account["now"], held_fence(item, me), f["f"])
                for item, f in zip(map(_item, rows), fences, strict=True)]
        if account["since_decrease"] == 0:  # only "a claim since the decrease" is read
            await conn.execute(
                "UPDATE account SET since_decrease = since_decrease + $1 WHERE id = 1",
                len(done))
        return await _write(conn, done, op)

    async def _looks_full(self) -> bool:
        """Whether the account has no room (or cools down after a 429), at a look without
        the account row's lock. With the account full (most of a batch), every worker woken
        by a finished item asks, and a locked count would make the one refilling the slot
        queue behind them. A slot freed after this look notifies again: a claim that
        returns on it misses nothing."""
        room = await self._read(lambda conn, retry: conn.fetchrow(
            "SELECT lim >= max_limit AS ceiling, coalesce(cooldown_until > now(), false)"
            f" OR lim <= ({_COUNT_IN_FLIGHT}) AS full"
            " FROM account WHERE id = 1", _IN_FLIGHT))
        if room is None or not room["full"]:
            return False
        self._at_ceiling = room["ceiling"]
        return True

    async def apply(self, row: LedgerItem, change: Change) -> LedgerItem:
        op = uuid.uuid4()

        async def tx(conn: Any, retry: bool) -> LedgerItem:
            new, wakes = await self._move_in(conn, row, change, op)
            if wakes:
                await conn.execute(_notify("changed"))
            return new

        return await self._run(tx)

    async def _move_in(
        self, conn: Any, row: LedgerItem, change: Change, op: uuid.UUID
    ) -> tuple[LedgerItem, bool]:
        """One move of an item (see :meth:`apply`), in the caller's transaction: the item
        after it, and whether it may have freed a slot (other workers are to be woken)."""
        rec = await conn.fetchrow(
            _SELECT.replace(" FROM", f", op, {_NOW} AS now FROM")
            + " WHERE key = $1 FOR UPDATE", row.key)
        if rec is None:
            raise IllegalTransitionError(
                row.key, None, change.move.target or ItemState.PENDING)
        if rec["op"] == op:  # this very call committed before its answer was lost
            return _item(rec), False
        fence = None
        if change.move.takes_ownership:
            fence = await conn.fetchval("SELECT nextval('fences')")
        done = self._advance(_item(rec), change, rec["now"], row.fence, fence)
        (new,) = await _write(conn, [done], op)
        return new, done.wakes

    async def end_and_claim(
        self, row: LedgerItem, change: Change, *, reserved: Sequence[str] = ()
    ) -> tuple[LedgerItem, list[LedgerItem]]:
        op, key, own = uuid.uuid4(), row.key, list(dict.fromkeys(reserved))

        async def tx(conn: Any, retry: bool) -> tuple[LedgerItem, list[LedgerItem]]:
            if retry:
                # An earlier try committed before its answer was lost: its rows carry op.
                rows = [_item(r) for r in await conn.fetch(_SELECT + " WHERE op = $1", op)]
                ended = [r for r in rows if r.key == key]
                if ended:
                    return ended[0], [r for r in rows if r.key != key]
            new, wakes = await self._move_in(conn, row, change, op)
            # The item's lock, then the account's: no transaction holds the account's and
            # waits for an item (claims skip locked items), so this cannot deadlock.
            taken = await self._claim_in(conn, 1, None, op, within_share=True, reserved=own)
            if wakes and not taken:  # the slot is free for any worker
                await conn.execute(_notify("changed"))
            return new, taken

        return await self._run(tx)

    def _advance(
        self, row: LedgerItem, change: Change, now: float, fence: int | None,
        new_fence: int | None,
    ) -> Advanced:
        done = advance(row, change, worker=self._worker_id, fence=fence, now=now,
                       new_fence=new_fence)
        if not isinstance(done, Advanced):
            raise done.error()
        return done

    async def next_pending(self) -> LedgerItem | None:
        async def tx(conn: Any, retry: bool) -> LedgerItem | None:
            row = await conn.fetchrow(
                _SELECT + " WHERE state = 'pending' AND owner IS NULL AND updated_at >="
                " (SELECT run_started FROM account WHERE id = 1)"
                " ORDER BY duration DESC NULLS LAST, key LIMIT 1")
            return None if row is None else _item(row)

        return await self._read(tx)

    async def reserve(self, key: str) -> LedgerItem | None:
        op = uuid.uuid4()

        async def tx(conn: Any, retry: bool) -> LedgerItem | None:
            rec = await conn.fetchrow(
                _SELECT.replace(" FROM", f", op, {_NOW} AS now FROM") + " WHERE key = $1 AND"
                " state = 'pending' AND (owner IS NULL OR op = $2) AND updated_at >="
                " (SELECT run_started FROM account WHERE id = 1) FOR UPDATE SKIP LOCKED",
                key, op)
            if rec is None:
                return None
            if rec["op"] == op:  # this very call committed before its answer was lost
                return _item(rec)
            held = await conn.fetchrow(
                "SELECT (SELECT lim FROM account WHERE id = 1) AS lim, (SELECT count(*) FROM"
                " workers WHERE lease_until > now()) AS live, count(*) AS mine FROM items"
                " WHERE owner = $1 AND state = ANY($2::text[])", self._worker_id, _IN_FLIGHT)
            self._share = fair_share(held["lim"], held["live"])
            if held["mine"] > self._share:
                return None
            fence = await conn.fetchval("SELECT nextval('fences')")
            (new,) = await _write(
                conn, [self._advance(_item(rec), reserved(), rec["now"], None, fence)], op)
            return new

        return await self._run(tx)

    async def adopt(self) -> list[LedgerItem]:
        me, op = self._worker_id, uuid.uuid4()

        async def tx(conn: Any, retry: bool) -> list[LedgerItem]:
            if retry:
                rows = await conn.fetch(_SELECT + " WHERE op = $1 AND owner = $2", op, me)
                if rows:
                    return sorted((_item(r) for r in rows), key=lambda i: i.key)
            now = float(await conn.fetchval(f"SELECT {_NOW}"))
            if self._since is None:
                self._since = now  # connected (again): nobody is declared dead for a lease
            # Dead: had a whole lease, while this worker was connected and since the server
            # started, to renew, and did not (see the module docstring).
            await conn.execute(
                "DELETE FROM workers WHERE id <> $1 AND now() >= greatest(lease_until,"
                " greatest(to_timestamp($2), pg_postmaster_start_time())"
                " + lease_seconds * interval '1 second')",
                me, self._since,
            )
            # The reservations of workers that are gone lapse (owner NULL: not reserved).
            lapsing = await conn.fetch(
                _SELECT + " WHERE state = 'pending' AND owner <> $1 AND NOT EXISTS (SELECT 1"
                " FROM workers w WHERE w.id = items.owner) ORDER BY key"
                " FOR UPDATE SKIP LOCKED", me)
            if lapsing:
                await _write(conn, [self._advance(_item(r), lapsed(), now, None, None)
                                    for r in lapsing], op)
                await conn.execute(_notify("changed"))
            rows = await conn.fetch(
                _SELECT + " WHERE state = ANY($1::text[]) AND owner IS DISTINCT FROM $2 AND"
                " (owner IS NULL OR NOT EXISTS (SELECT 1 FROM workers w WHERE w.id ="
                " items.owner)) ORDER BY key FOR UPDATE SKIP LOCKED",
                _UNFINISHED, me,
            )
            if not rows:
                return []
            fences = await conn.fetch(
                "SELECT nextval('fences') AS f FROM generate_series(1, $1)", len(rows))
            done = [self._advance(_item(r), adopted(), now, None, f["f"])
                    for r, f in zip(rows, fences, strict=True)]
            return await _write(conn, done, op)

        return await self._run(tx)

    # -- the account -------------------------------------------------------------------------

    async def on_rejected(self, cooldown: float) -> None:
        self._at_ceiling = False
        op = uuid.uuid4()

        async def tx(conn: Any, retry: bool) -> None:
            # Halve the limit once per burst (only if a claim came since the last decrease).
            await conn.execute(
                "UPDATE account SET"
                " lim = CASE WHEN since_decrease > 0 THEN greatest(1, lim / 2) ELSE lim END,"
                " since_decrease = 0, successes = 0,"
                " cooldown_until = greatest(cooldown_until, now() + $1 * interval '1 second'),"
                " op = $2 WHERE id = 1 AND op IS DISTINCT FROM $2",
                cooldown, op,
            )
            await conn.execute(_notify("account"))

        await self._run(tx)

    async def on_accepted(self) -> None:
        # Nothing to write while the last claim saw the limit at its ceiling: the account
        # row is the claims' lock, and every write to it makes them queue.
        if self._at_ceiling:
            return
        op = uuid.uuid4()

        async def tx(conn: Any, retry: bool) -> None:
            raised = await conn.fetchval(
                "UPDATE account SET successes = CASE WHEN successes + 1 >= 2 THEN 0"
                " ELSE successes + 1 END,"
                " lim = CASE WHEN successes + 1 >= 2 THEN least(max_limit, lim + 1) ELSE lim"
                " END, op = $1 WHERE id = 1 AND op IS DISTINCT FROM $1 RETURNING successes = 0",
                op,
            )
            if raised:
                await conn.execute(_notify("account"))

        await self._run(tx)

    async def in_flight(self) -> int:
        return int(await self._read(lambda conn, retry: conn.fetchval(
            _COUNT_IN_FLIGHT, _IN_FLIGHT)))

    async def unfinished_elsewhere(self) -> int:
        me = self._worker_id
        return int(await self._read(lambda conn, retry: conn.fetchval(
            "SELECT count(*) FROM items WHERE (state = 'pending' AND updated_at >= coalesce("
            "(SELECT run_started FROM account WHERE id = 1), 0)) OR (state = ANY($1::text[])"
            " AND owner IS DISTINCT FROM $2)", _UNFINISHED, me)))

    async def wait_changed(self, timeout: float) -> None:
        """Return on a notification from any worker, or after ``timeout`` s.

        A notification that came since the last call counts (the caller may have been busy
        when it came). The listening connection is opened in the background (by
        :meth:`join` or the first wait); when it opens, and when it is lost, waits return
        at once, since notifications may have been missed meanwhile."""
        if self._pool is None:
            raise ClientClosedError(f"ledger {self._location} is closed; connect again")
        await self._listener.wait(timeout)

    # -- meta and reads ------------------------------------------------------------------------

    async def get_meta(self, name: str) -> str | None:
        value = await self._read(lambda conn, retry: conn.fetchval(
            "SELECT value FROM meta WHERE key = $1", name))
        return None if value is None else str(value)

    async def set_meta(self, name: str, value: str) -> None:
        if name == "schema_version":
            raise ValidationError("name", "schema_version belongs to the ledger")
        await self._run(lambda conn, retry: conn.execute(
            "INSERT INTO meta (key, value) VALUES ($1, $2)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value", name, value))

    async def meta_default(self, name: str, value: str) -> str:
        if name == "schema_version":
            raise ValidationError("name", "schema_version belongs to the ledger")

        async def tx(conn: Any, retry: bool) -> str:
            await conn.execute("INSERT INTO meta (key, value) VALUES ($1, $2)"
                               " ON CONFLICT (key) DO NOTHING", name, value)
            return str(await conn.fetchval("SELECT value FROM meta WHERE key = $1", name))

        return await self._run(tx)

    async def counts(self) -> dict[str, int]:
        rows = await self._read(lambda conn, retry: conn.fetch(
            "SELECT state, count(*) AS n FROM items GROUP BY state"))
        counts = {state.value: 0 for state in ItemState}
        counts.update({r["state"]: int(r["n"]) for r in rows})
        return counts

    async def items(self, state: ItemState | None = None) -> AsyncIterator[LedgerItem]:
        wanted = None if state is None else ItemState(state).value
        after = ""
        while True:
            async def page(conn: Any, retry: bool, after: str = after) -> list[Any]:
                return list(await conn.fetch(
                    _SELECT + " WHERE key > $1 AND ($2::text IS NULL OR state = $2)"
                    " ORDER BY key LIMIT $3", after, wanted, _PAGE))

            rows = await self._read(page)
            if not rows:
                return
            for row in rows:
                yield _item(row)
            after = rows[-1]["key"]

    # -- the machinery ---------------------------------------------------------------------

    async def _read(self, statement: Callable[[Any, bool], Awaitable[_T]]) -> _T:
        """Run one statement (``statement(conn, retry)``): atomic by itself, so without
        a transaction's two more round trips; retried as :meth:`_run` retries."""
        return await self._run(statement, atomic=False)

    async def _run(self, tx: Callable[[Any, bool], Awaitable[_T]], *, atomic: bool = True) -> _T:
        """Run ``tx(conn, retry)`` in one transaction (or none, not ``atomic``: one
        statement); after a lost connection, again (with ``retry`` True) until
        ``reconnect_timeout`` runs out."""
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
                        if not atomic:
                            return await tx(conn, tries > 0)
                        async with conn.transaction():
                            return await tx(conn, tries > 0)
                    except Exception as exc:
                        # After a loss asyncpg may hold a connection in a confused state:
                        # end it, so the pool replaces it instead of handing it out again.
                        if is_connection_loss(exc) and not conn.is_closed():
                            conn.terminate()
                        raise
            except (LedgerError, ValidationError):
                raise
            except Exception as exc:
                if not is_connection_loss(exc):
                    if not is_database_error(exc):
                        raise  # a bug: not the database's
                    raise LedgerError(f"ledger {self._location}: {self._scrub(exc)}") from exc
                self._since = None
                tries += 1
                left = deadline - loop.time()
                if left <= 0:
                    raise LedgerError(
                        f"ledger {self._location}: no connection for"
                        f" {self._reconnect_timeout:g}s: {self._scrub(exc)}"
                    ) from exc
                delay = reconnect_delay(tries, cap=self._retry_cap)
                _log.debug("ledger %s: retrying after %s", self._location, self._scrub(exc))
                await asyncio.sleep(min(delay, left))

    def _scrub(self, exc: BaseException) -> str:
        return scrub(f"{type(exc).__name__}: {exc}", self._url)


def _claim_order(keys: list[str] | None, reserved: list[str]) -> Callable[[LedgerItem], Any]:
    """The order a claim returns its items in: the reservations, then the rest."""
    first = {k: n for n, k in enumerate(reserved)}
    if keys is None:
        return lambda i: (first.get(i.key, len(first)), i.duration is None,
                          -(i.duration or 0.0), i.key)
    at = {k: n for n, k in enumerate(keys)}
    return lambda i: (first.get(i.key, len(first)), at.get(i.key, len(at)))
