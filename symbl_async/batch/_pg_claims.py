"""The shared parts of the PostgreSQL ledger: the backlog, job slots, leases, adoption, AIMD.

Each function is the body of one transaction, run (and retried after a lost connection) by
:class:`~symbl_async.batch._pg_store.PostgresStore`; ``conn`` is an asyncpg connection in a
transaction. Times of leases and cooldowns are the server's (``now()``), never a worker's.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from symbl_async.batch._pg_schema import SELECT_ITEM, item_from_record, notify_sql
from symbl_async.batch._records import ItemState, LedgerItem
from symbl_async.batch._store import IN_FLIGHT, Pending
from symbl_async.errors import LedgerError

__all__ = [
    "ADOPTABLE",
    "adopt",
    "claim",
    "count_in_flight",
    "heartbeat",
    "join",
    "leave",
    "on_accepted",
    "on_rejected",
]

IN_FLIGHT_VALUES = sorted(s.value for s in IN_FLIGHT)
ADOPTABLE = sorted(
    s.value
    for s in (ItemState.SUBMITTING, ItemState.UNKNOWN, ItemState.SUBMITTED, ItemState.COMPLETED)
)
_RETURNING = " RETURNING " + SELECT_ITEM.removeprefix("SELECT ").removesuffix(" FROM items")


async def count_in_flight(conn: Any) -> int:
    n = await conn.fetchval(
        "SELECT count(*) FROM items WHERE state = ANY($1::text[])", IN_FLIGHT_VALUES
    )
    return int(n)


async def claim(
    conn: Any,
    *,
    me: str,
    candidates: Sequence[str] | None,
    name_for: Callable[[LedgerItem], str],
    op: uuid.UUID,
    retry: bool,
) -> LedgerItem | None:
    """Lock the account row, count the jobs in flight, take the longest pending candidate.

    The lock is the point: claims queue on it, so each one counts the slots after the
    previous claim committed (READ COMMITTED: each statement sees the latest commits). A
    claim without it counts a snapshot that concurrent claims have already outdated.
    """
    if retry:
        # The COMMIT of an earlier try may have been lost with the connection: if an item
        # carries this op, that claim happened.
        row = await conn.fetchrow(SELECT_ITEM + " WHERE op = $1", op)
        if row is not None:
            return item_from_record(row)
    account = await conn.fetchrow(
        "SELECT lim, coalesce(cooldown_until > now(), false) AS cooling"
        " FROM account WHERE id = 1 FOR UPDATE"
    )
    if account is None:
        raise LedgerError("claim before join: the ledger has no account row yet")
    if account["cooling"] or await count_in_flight(conn) >= account["lim"]:
        return None
    order = " ORDER BY duration DESC NULLS LAST, key LIMIT 1 FOR UPDATE SKIP LOCKED"
    if candidates is None:  # the whole backlog, longest first (the partial index)
        row = await conn.fetchrow(SELECT_ITEM + " WHERE state = 'pending'" + order)
    else:
        row = await conn.fetchrow(
            SELECT_ITEM + " WHERE key = ANY($1::text[]) AND state = 'pending'" + order,
            list(candidates),
        )
    if row is None:
        return None
    name = name_for(item_from_record(row))
    now = time.time()
    # The same field changes as mark_submitting, plus the ownership.
    new = await conn.fetchrow(
        "UPDATE items SET state = 'submitting', attempts = attempts + 1, attempt_at = $2,"
        " updated_at = $2, name = $3, error = NULL, owner = $4, fence = nextval('fences'),"
        " op = $5 WHERE key = $1" + _RETURNING,
        row["key"], now, name, me, op,
    )
    await conn.execute("UPDATE account SET since_decrease = since_decrease + 1 WHERE id = 1")
    return item_from_record(new)


async def claim_many(
    conn: Any,
    *,
    me: str,
    most: int,
    name_for: Callable[[LedgerItem], str],
    op: uuid.UUID,
    retry: bool,
) -> tuple[list[LedgerItem], bool]:
    """:func:`claim` for up to ``most`` items at once (a burst of freed slots refilled in
    one transaction, under the same lock); the longest pending of the whole backlog.

    Returns:
        The items claimed, and whether the account's limit is at its ceiling (then an
        accepted submit cannot raise it).
    """
    if retry:
        rows = await conn.fetch(SELECT_ITEM + " WHERE op = $1", op)
        if rows:
            return [item_from_record(r) for r in rows], False
    account = await conn.fetchrow(
        "SELECT lim, max_limit, coalesce(cooldown_until > now(), false) AS cooling"
        " FROM account WHERE id = 1 FOR UPDATE"
    )
    if account is None:
        raise LedgerError("claim before join: the ledger has no account row yet")
    at_ceiling = account["lim"] >= account["max_limit"]
    if account["cooling"]:
        return [], at_ceiling
    room = min(most, account["lim"] - await count_in_flight(conn))
    if room <= 0:
        return [], at_ceiling
    rows = await conn.fetch(
        SELECT_ITEM + " WHERE state = 'pending' ORDER BY duration DESC NULLS LAST, key"
        " LIMIT $1 FOR UPDATE SKIP LOCKED",
        room,
    )
    if not rows:
        return [], at_ceiling
    items = [item_from_record(r) for r in rows]
    names = [name_for(item) for item in items]
    # The same field changes as mark_submitting, plus the ownership.
    new = await conn.fetch(
        "UPDATE items SET state = 'submitting', attempts = attempts + 1, attempt_at = $3,"
        " updated_at = $3, name = t.n, error = NULL, owner = $4, fence = nextval('fences'),"
        " op = $5 FROM unnest($1::text[], $2::text[]) AS t(k, n) WHERE key = t.k"
        + _RETURNING,
        [item.key for item in items], names, time.time(), me, op,
    )
    await conn.execute(
        "UPDATE account SET since_decrease = since_decrease + $1 WHERE id = 1", len(new)
    )
    claimed = sorted((item_from_record(r) for r in new),
                     key=lambda item: (-(item.duration or 0.0), item.key))
    return claimed, at_ceiling


async def add_pending(conn: Any, items: Sequence[Pending], *, now: float) -> list[LedgerItem]:
    """Insert new items ``pending`` (existing ones untouched), one NOTIFY if any was new;
    every item as stored."""
    keys = [i.key for i in items]
    inserted = await conn.fetchval(
        "WITH new AS (INSERT INTO items (key, source, name, state, duration,"
        " created_at, updated_at, spec) SELECT k, s, n, 'pending', d, $6, $6, p FROM"
        " unnest($1::text[], $2::text[], $3::text[], $4::float8[], $5::text[])"
        " AS t(k, s, n, d, p) ON CONFLICT (key) DO NOTHING RETURNING 1)"
        " SELECT count(*) FROM new",
        keys, [i.source for i in items], [i.name for i in items],
        [i.duration for i in items], [i.spec for i in items], now,
    )
    if inserted:
        await conn.execute(notify_sql("pending"))
    rows = await conn.fetch(SELECT_ITEM + " WHERE key = ANY($1::text[])", keys)
    return [item_from_record(r) for r in rows]


async def unfinished_elsewhere(conn: Any, *, me: str) -> int:
    """Items pending, or unfinished in the hands of another worker (or of none)."""
    return int(await conn.fetchval(
        "SELECT count(*) FROM items WHERE state = 'pending' OR (state IN"
        " ('submitting', 'unknown', 'submitted', 'completed') AND owner IS DISTINCT FROM $1)",
        me,
    ))


async def join(conn: Any, *, me: str, max_limit: int, lease: float) -> None:
    await conn.execute(
        "INSERT INTO account (id, max_limit, lim) VALUES (1, $1, $1) ON CONFLICT (id) DO"
        " UPDATE SET max_limit = $1, lim = least(account.lim, $1)",
        max_limit,
    )
    await conn.execute(
        "INSERT INTO workers (id, lease_seconds, lease_until)"
        " VALUES ($1, $2, now() + $2 * interval '1 second') ON CONFLICT (id) DO UPDATE"
        " SET lease_seconds = $2, lease_until = now() + $2 * interval '1 second'",
        me, lease,
    )
    await conn.execute(notify_sql("account"))


async def heartbeat(conn: Any, *, me: str) -> bool:
    found = await conn.fetchval(
        "UPDATE workers SET lease_until = now() + lease_seconds * interval '1 second'"
        " WHERE id = $1 RETURNING true",
        me,
    )
    return bool(found)


async def leave(conn: Any, *, me: str) -> None:
    # now() and not a deletion: the row says this worker existed until now; the next
    # adopt() (whose now() is later) finds its lease over and takes its items.
    await conn.execute("UPDATE workers SET lease_until = now() WHERE id = $1", me)


async def adopt(conn: Any, *, me: str, op: uuid.UUID, retry: bool) -> list[LedgerItem]:
    """Delete the workers whose lease is over, then take every unfinished item that no live
    worker owns (new owner, new fence)."""
    if retry:
        rows = await conn.fetch(SELECT_ITEM + " WHERE op = $1 AND owner = $2", op, me)
        if rows:
            return [item_from_record(r) for r in rows]
    await conn.execute("DELETE FROM workers WHERE lease_until <= now() AND id <> $1", me)
    # A concurrent adopter that took a row first makes this statement re-check it (READ
    # COMMITTED): its owner is then a live worker and the row is left to it.
    rows = await conn.fetch(
        "UPDATE items SET owner = $1, fence = nextval('fences'), op = $2"
        " WHERE state = ANY($3::text[]) AND owner IS DISTINCT FROM $1 AND (owner IS NULL"
        " OR NOT EXISTS (SELECT 1 FROM workers w WHERE w.id = items.owner))" + _RETURNING,
        me, op, ADOPTABLE,
    )
    return sorted((item_from_record(r) for r in rows), key=lambda i: i.key)


async def on_rejected(conn: Any, *, cooldown: float, op: uuid.UUID) -> None:
    """Halve the limit once per burst (only if a claim came since the last decrease); hold
    every claim for ``cooldown`` seconds."""
    await conn.execute(
        "UPDATE account SET"
        " lim = CASE WHEN since_decrease > 0 THEN greatest(1, lim / 2) ELSE lim END,"
        " since_decrease = 0, successes = 0,"
        " cooldown_until = greatest(cooldown_until, now() + $1 * interval '1 second'),"
        " op = $2 WHERE id = 1 AND op IS DISTINCT FROM $2",
        cooldown, op,
    )
    await conn.execute(notify_sql("account"))


async def on_accepted(conn: Any, *, op: uuid.UUID) -> None:
    """One more success; every second one raises the limit by one, up to the ceiling."""
    raised = await conn.fetchval(
        "UPDATE account SET successes = CASE WHEN successes + 1 >= 2 THEN 0"
        " ELSE successes + 1 END,"
        " lim = CASE WHEN successes + 1 >= 2 THEN least(max_limit, lim + 1) ELSE lim END,"
        " op = $1 WHERE id = 1 AND op IS DISTINCT FROM $1 RETURNING successes = 0",
        op,
    )
    if raised:
        await conn.execute(notify_sql("account"))
