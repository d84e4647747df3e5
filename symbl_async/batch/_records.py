"""The ledger's records and its SQLite schema: states, rows, and the low-level row access.

Internal to :mod:`symbl_async.batch._ledger`, which owns the transitions.
"""

from __future__ import annotations

import enum
import sqlite3
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import attrs

from symbl_async.errors import ValidationError

__all__ = [
    "ALLOWED_FROM",
    "COLUMNS",
    "ItemState",
    "LedgerItem",
    "initialise",
    "item_from_row",
    "select",
    "timings",
    "undo",
    "update",
]

SCHEMA_VERSION = 2
# Version 1 had no 'unknown' state and no attempt_at column; it is migrated on open.
# Written in the SQLite header ("SYMB"): we refuse to adopt another program's database.
_APPLICATION_ID = 0x53594D42


class ItemState(str, enum.Enum):
    """Where an item of the batch stands."""

    PENDING = "pending"
    SUBMITTING = "submitting"
    UNKNOWN = "unknown"
    SUBMITTED = "submitted"
    COMPLETED = "completed"
    FETCHED = "fetched"
    FAILED = "failed"


COLUMNS = (
    "key", "source", "name", "state", "job_id", "conversation_id", "error", "attempts",
    "duration", "created_at", "updated_at", "submitted_at", "completed_at", "fetched_at",
    "output_path", "attempt_at",
)
_META = "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
_ITEMS = f"""
CREATE TABLE IF NOT EXISTS items (
    key TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    name TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ({", ".join(f"'{s.value}'" for s in ItemState)})),
    job_id TEXT,
    conversation_id TEXT,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    duration REAL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    submitted_at REAL,
    completed_at REAL,
    fetched_at REAL,
    output_path TEXT,
    attempt_at REAL
)"""
_INDEX = "CREATE INDEX IF NOT EXISTS items_state ON items (state)"
_V1_COLUMNS = ", ".join(c for c in COLUMNS if c != "attempt_at")


@attrs.frozen(kw_only=True)
class LedgerItem:
    """One row of the ledger. Times are Unix seconds (``time.time()``)."""

    key: str
    source: str
    name: str
    state: ItemState = attrs.field(converter=ItemState)
    job_id: str | None
    conversation_id: str | None
    error: str | None
    attempts: int
    duration: float | None
    created_at: float
    updated_at: float
    submitted_at: float | None
    completed_at: float | None
    fetched_at: float | None
    output_path: str | None
    attempt_at: float | None = None
    """When the current attempt was sent (its intent committed); None in version-1 rows."""
    spec: str | None = None
    """The item's submit as JSON, so any worker can send it (shared stores only)."""
    owner: str | None = None
    """The worker whose hands the item is in (shared stores only)."""
    fence: int | None = None
    """The owner's fencing token for this item (shared stores only)."""


# Target state -> the states it may be entered from.
ALLOWED_FROM: Mapping[ItemState, frozenset[ItemState]] = {
    # From submitting: another attempt after a 429 (or 503, or no connection); from unknown:
    # a lookup by name showed, after the grace period, that the attempt created no job.
    ItemState.SUBMITTING: frozenset({ItemState.PENDING, ItemState.SUBMITTING, ItemState.UNKNOWN}),
    ItemState.UNKNOWN: frozenset({ItemState.SUBMITTING}),
    ItemState.SUBMITTED: frozenset({ItemState.SUBMITTING, ItemState.UNKNOWN}),
    ItemState.COMPLETED: frozenset({ItemState.SUBMITTED}),
    ItemState.FETCHED: frozenset({ItemState.COMPLETED}),
    ItemState.FAILED: frozenset(
        {ItemState.PENDING, ItemState.SUBMITTING, ItemState.SUBMITTED, ItemState.COMPLETED}
    ),
}

def timings(row: LedgerItem | None) -> dict[str, float]:
    """The Unix times a ledger row recorded: created, submitted, completed, fetched."""
    out: dict[str, float] = {}
    if row is not None:
        for name in ("created", "submitted", "completed", "fetched"):
            value = getattr(row, f"{name}_at")
            if value is not None:
                out[name] = value
    return out


def initialise(conn: sqlite3.Connection, path: Path) -> None:
    mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise ValidationError(
            "ledger_path", f"{str(path)!r}: SQLite cannot use WAL mode there (got {mode})"
        )
    # FULL, not NORMAL. In WAL mode both survive a crash or SIGKILL of this process: a commit
    # is in the OS's page cache once COMMIT returns. NORMAL skips the fsync at commit, so a
    # power cut may drop the last transactions, and a lost `submitting` intent whose submit
    # was sent is a job paid twice. FULL fsyncs the WAL at each commit: a few per job, which
    # is noise next to jobs that take minutes.
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("BEGIN IMMEDIATE")
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        tables = conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]
        if app_id != _APPLICATION_ID and (app_id != 0 or tables):
            raise ValidationError(
                "ledger_path", f"{str(path)!r} is a SQLite database of another program"
            )
        if app_id == 0:
            conn.execute(f"PRAGMA application_id={_APPLICATION_ID}")
        conn.execute(_META)
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('schema_version', ?) ON CONFLICT DO NOTHING",
            (str(SCHEMA_VERSION) if not tables else "1",),
        )
        version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if version[0] == "1":
            _migrate_from_1(conn)
        elif version[0] != str(SCHEMA_VERSION):
            raise ValidationError(
                "ledger_path",
                f"{str(path)!r} has schema version {version[0]}; this version reads "
                f"{SCHEMA_VERSION}",
            )
        conn.execute(_ITEMS)
        conn.execute(_INDEX)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _migrate_from_1(conn: sqlite3.Connection) -> None:
    """Version 1 -> 2, in the caller's transaction: the state CHECK gains 'unknown' (SQLite
    cannot alter a CHECK, so the table is copied) and ``attempt_at`` is added (NULL)."""
    has_items = conn.execute(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'items'"
    ).fetchone()[0]
    if has_items:
        conn.execute("ALTER TABLE items RENAME TO items_v1")
        conn.execute("DROP INDEX IF EXISTS items_state")
        conn.execute(_ITEMS)
        conn.execute(f"INSERT INTO items ({_V1_COLUMNS}) SELECT {_V1_COLUMNS} FROM items_v1")
        conn.execute("DROP TABLE items_v1")
    conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))


def select(conn: sqlite3.Connection, key: str) -> LedgerItem | None:
    row = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM items WHERE key = ?", (key,)).fetchone()
    return None if row is None else item_from_row(row)


def item_from_row(row: Collection[Any]) -> LedgerItem:
    return LedgerItem(**dict(zip(COLUMNS, row, strict=True)))


def update(conn: sqlite3.Connection, item: LedgerItem, changes: Mapping[str, Any]) -> LedgerItem:
    # Column names come from this module, never from callers.
    values = {c: v.value if isinstance(v, ItemState) else v for c, v in changes.items()}
    conn.execute(
        f"UPDATE items SET {', '.join(f'{c} = ?' for c in values)} WHERE key = ?",
        [*values.values(), item.key],
    )
    return attrs.evolve(item, **changes)


def read_meta(conn: sqlite3.Connection, name: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (name,)).fetchone()
    return None if row is None else str(row[0])


def write_meta(conn: sqlite3.Connection, name: str, value: str) -> None:
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (name, value),
    )


def undo(conn: sqlite3.Connection, nested: bool) -> None:
    if nested:
        conn.execute("ROLLBACK TO op")
        conn.execute("RELEASE op")
    elif conn.in_transaction:
        conn.execute("ROLLBACK")


