"""The batch ledger: one state machine, three stores.

``_states`` (the items, their states, the moves and the owner/fencing rule, pure: the one
place the exactly-once rule is written), ``_store`` (the contract every store keeps),
``_sqlite`` (one SQLite file, the default), ``_postgres`` (a batch shared by workers),
``_memory`` (in memory, for tests of the engine).

May import: :mod:`symbl_async.core`, :mod:`symbl_async.errors`.
"""

from __future__ import annotations

from symbl_async.batch._ledger._memory import MemoryLedger, MemoryStore
from symbl_async.batch._ledger._postgres import PostgresStore
from symbl_async.batch._ledger._sqlite import SqliteLedger, SqliteStore
from symbl_async.batch._ledger._states import (
    IN_FLIGHT,
    RELEASED,
    UNFINISHED,
    ItemState,
    LedgerItem,
    Pending,
    attempt_name,
)
from symbl_async.batch._ledger._store import ItemStore

__all__ = [
    "IN_FLIGHT",
    "RELEASED",
    "UNFINISHED",
    "ItemState",
    "ItemStore",
    "LedgerItem",
    "MemoryLedger",
    "MemoryStore",
    "Pending",
    "PostgresStore",
    "SqliteLedger",
    "SqliteStore",
    "attempt_name",
]
