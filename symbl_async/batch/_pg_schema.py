"""The PostgreSQL ledger's schema, rows and connection errors.

Internal to :mod:`symbl_async.batch._pg_store`. asyncpg is never imported at module level
(``import symbl_async`` must work without it): functions that need it import it.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Mapping
from typing import Any

from symbl_async.batch._records import COLUMNS, ItemState, LedgerItem
from symbl_async.errors import ValidationError

__all__ = [
    "CHANNEL",
    "PG_COLUMNS",
    "SELECT_ITEM",
    "initialise",
    "is_connection_loss",
    "is_database_error",
    "item_from_record",
    "notify_sql",
    "redact",
    "scrub",
]

SCHEMA_VERSION = "1"
CHANNEL = "symbl_async_changed"
"""The LISTEN/NOTIFY channel: a slot may have been freed, or an item was added."""
PG_COLUMNS = (*COLUMNS, "spec", "owner", "fence")
SELECT_ITEM = f"SELECT {', '.join(PG_COLUMNS)} FROM items"
# Taken while creating the schema, so that workers starting together do not race on
# CREATE TABLE IF NOT EXISTS (which is not atomic against itself in PostgreSQL).
_SCHEMA_LOCK = 0x53594D42
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
        spec text,
        owner text,
        fence bigint,
        op uuid
    )""",
    "CREATE INDEX IF NOT EXISTS items_state ON items (state)",
    # claim(): the longest pending item first.
    "CREATE INDEX IF NOT EXISTS items_pending ON items (duration DESC NULLS LAST, key)"
    " WHERE state = 'pending'",
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
        op uuid
    )""",
    "CREATE SEQUENCE IF NOT EXISTS fences",
)


def notify_sql(reason: str) -> str:
    """The statement that wakes every :meth:`wait_changed` (sent at commit)."""
    assert re.fullmatch(r"[a-z_]+", reason)
    return f"SELECT pg_notify('{CHANNEL}', '{reason}')"


async def initialise(conn: Any, location: str) -> None:
    """Create the schema if missing (one batch per database); refuse another version."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK)
        for ddl in _DDL:
            await conn.execute(ddl)
        await conn.execute(
            "INSERT INTO meta (key, value) VALUES ('schema_version', $1)"
            " ON CONFLICT (key) DO NOTHING",
            SCHEMA_VERSION,
        )
        version = await conn.fetchval("SELECT value FROM meta WHERE key = 'schema_version'")
    if version != SCHEMA_VERSION:
        raise ValidationError(
            "ledger",
            f"{location} has schema version {version}; this version reads {SCHEMA_VERSION}",
        )


def item_from_record(record: Mapping[str, Any]) -> LedgerItem:
    return LedgerItem(**{c: record[c] for c in PG_COLUMNS})


def redact(url: str) -> str:
    """The URL without its password (``postgresql://user@host/db``)."""
    url = re.sub(r"^([a-z]+://[^:@/?#]*):[^/?#]*@", r"\1@", url)
    return re.sub(r"([?&]password=)[^&#]*", r"\1***", url)


def scrub(text: str, url: str) -> str:
    """``text`` (an error message) without the URL's password, wherever it appears."""
    from urllib.parse import unquote, urlsplit

    with contextlib.suppress(ValueError):
        password = urlsplit(url).password
        for secret in {password, unquote(password or "")} - {None, ""}:
            text = text.replace(str(secret), "***")
    return text.replace(url, redact(url))


def is_database_error(exc: BaseException) -> bool:
    """True for asyncpg's errors (the server's answers and the client's own)."""
    import asyncpg

    return isinstance(exc, (asyncpg.PostgresError, asyncpg.InterfaceError,
                            asyncpg.exceptions.InternalClientError))


def is_connection_loss(exc: BaseException) -> bool:
    """True when ``exc`` means the connection (or the server) went away, or the transaction
    was rolled back for a conflict: the operation may be run again (see the ``op`` check)."""
    import asyncpg

    if isinstance(exc, (OSError, TimeoutError, asyncio.TimeoutError)):
        return True
    if isinstance(
        exc,
        (
            asyncpg.PostgresConnectionError,  # class 08, incl. ConnectionDoesNotExistError
            asyncpg.exceptions.OperatorInterventionError,  # 57: shut-down, terminated, starting
            asyncpg.exceptions.TransactionRollbackError,  # 40: serialization, deadlock
        ),
    ):
        return True
    # asyncpg's own "connection is closed" / "connection was closed in the middle of
    # operation" come as InterfaceError; a connection ended by the server in the middle of
    # a COMMIT may leave its protocol confused ("another operation is in progress"). Either
    # way the outcome is unknown, which every operation's retry handles (the op check).
    if isinstance(exc, asyncpg.exceptions.InternalClientError):
        return True
    return isinstance(exc, asyncpg.InterfaceError) and "closed" in str(exc)
