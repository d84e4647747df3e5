"""Every ledger a batch can run on, for behaviour tests that must hold on all of them.

``ledgers`` is parametrized over SQLite (the default), PostgreSQL (a fresh database on the
session's server, started only when a test asks) and memory. ``ledgers.arg()`` is what to
pass as ``process_many(ledger=...)``; each call stands for a new process on the same ledger
(a rerun), so a memory ledger gets a new worker on the same state. ``ledgers.open()`` gives a
worker of the same ledger for a test to seed or read it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import attrs
import pytest

from symbl_async.batch.ledger import (
    ItemStore,
    MemoryLedger,
    MemoryStore,
    PostgresStore,
    SqliteStore,
)

__all__ = ["KINDS", "Ledgers", "ledger_where", "ledgers"]

KINDS = ["sqlite", "postgres", "memory"]


class Ledgers:
    """One ledger of one kind, for the runs of one test."""

    def __init__(self, kind: str, where: str) -> None:
        self.kind = kind
        self.where = where
        self.memory = MemoryLedger()
        self._open: list[ItemStore] = []

    @property
    def shared(self) -> bool:
        return self.kind == "postgres"

    def arg(self) -> ItemStore | str | Path:
        """The ``ledger=`` of one run (a new process on the same ledger)."""
        if self.kind == "sqlite":
            return Path(self.where)
        if self.kind == "postgres":
            return self.where
        return MemoryStore(self.memory)

    async def open(self) -> ItemStore:
        """A worker on the ledger, for the test itself (closed at the end)."""
        store: ItemStore
        if self.kind == "sqlite":
            store = await SqliteStore.open(self.where)
        elif self.kind == "postgres":
            store = await PostgresStore.connect(self.where)
        else:
            store = MemoryStore(self.memory)
        self._open.append(store)
        return store

    async def counts(self) -> dict[str, int]:
        """Items per state, read now."""
        store = await self.open()
        try:
            return await store.counts()
        finally:
            await store.aclose()

    async def state_of(self, key: str | None = None) -> str | None:
        """The state of the item with ``key`` (or of the only item), read now; None before
        the run has recorded it."""
        store = await self.open()
        try:
            rows = [row async for row in store.items()]
        finally:
            await store.aclose()
        rows = [row for row in rows if key is None or row.key == key]
        return rows[0].state.value if rows else None

    async def shift_times(self, seconds: float) -> None:
        """Move every item's attempt and submit times ``seconds`` into the past, as if the
        earlier run had been that long ago (its records, not the rules, changed)."""
        if self.kind == "memory":
            for key, row in list(self.memory.items.items()):
                self.memory.items[key] = attrs.evolve(
                    row, attempt_at=None if row.attempt_at is None else row.attempt_at - seconds,
                    submitted_at=None if row.submitted_at is None
                    else row.submitted_at - seconds)
            return
        sql = ("UPDATE items SET attempt_at = attempt_at - {0}, "
               "submitted_at = submitted_at - {0}")
        if self.kind == "sqlite":
            conn = sqlite3.connect(self.where)
            with conn:
                conn.execute(sql.format("?"), (seconds, seconds))
            conn.close()
        else:
            pg = await asyncpg.connect(self.where)
            try:
                await pg.execute(sql.format("$1"), seconds)
            finally:
                await pg.close()

    async def close(self) -> None:
        for store in self._open:
            await store.aclose()


@pytest.fixture(params=KINDS)
def ledger_where(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """The kind of ledger and where it is (PostgreSQL started only when asked)."""
    kind = request.param
    if kind == "postgres":
        return kind, str(request.getfixturevalue("pg_url"))
    return kind, str(tmp_path / "ledger.sqlite3")


@pytest.fixture
async def ledgers(ledger_where: tuple[str, str]) -> AsyncIterator[Ledgers]:
    """A ledger of each kind, in turn."""
    ledger = Ledgers(*ledger_where)
    try:
        yield ledger
    finally:
        await ledger.close()
