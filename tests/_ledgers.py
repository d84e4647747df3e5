"""Every ledger a batch can run on, for behaviour tests that must hold on all of them.

``ledgers`` is parametrized over SQLite (the default), PostgreSQL (a fresh database on the
session's server, started only when a test asks) and memory. ``ledgers.arg()`` is what to
pass as ``process_many(ledger=...)``; each call stands for a new process on the same ledger
(a rerun), so a memory ledger gets a new worker on the same state. ``ledgers.open()`` gives a
worker of the same ledger for a test to seed or read it.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import asyncpg
import attrs
import pytest

from symbl_async.batch._ledger import (
    ItemState,
    ItemStore,
    MemoryLedger,
    MemoryStore,
    PostgresStore,
    SqliteStore,
)

__all__ = ["KINDS", "CliLedger", "Ledgers", "cli_ledger", "ledger_where", "ledgers"]

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

    async def reserved(self) -> list[str]:
        """The keys of pending items a worker holds (reserved for an upload ahead)."""
        store = await self.open()
        try:
            return [row.key async for row in store.items(ItemState.PENDING)
                    if row.owner is not None]
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


def _params(kinds: Sequence[str]) -> list[Any]:
    """The kinds as parameters; PostgreSQL's is in the system tier (tests/_tiers.py cannot
    see the server it starts through ``getfixturevalue``)."""
    return [pytest.param(kind, marks=pytest.mark.system) if kind == "postgres" else kind
            for kind in kinds]


@pytest.fixture(params=_params(KINDS))
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


@attrs.frozen
class CliLedger:
    """The ledger a ``symbl-async process`` run of a test uses: its flags, and its rows as
    another program reads them (read-only; empty while there are none yet)."""

    kind: str
    url: str | None = None

    def args(self) -> list[str]:
        """The flags that choose it (a short lease: a killed worker's items are adopted
        after two seconds, not thirty)."""
        if self.url is None:
            return []
        return ["--ledger", self.url, "--lease", "2"]

    def rows(self, out: Path) -> list[dict[str, Any]]:
        """Every item, as a plain dict of its columns."""
        if self.url is None:
            path = out / "ledger.sqlite3"
            if not path.exists():
                return []
            try:
                conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)
                conn.row_factory = sqlite3.Row
                try:
                    return [dict(r) for r in conn.execute("SELECT * FROM items")]
                finally:
                    conn.close()
            except sqlite3.Error:
                return []
        url = self.url

        async def read() -> list[dict[str, Any]]:
            conn = await asyncpg.connect(url)
            try:
                return [dict(r) for r in await conn.fetch("SELECT * FROM items")]
            except asyncpg.UndefinedTableError:
                return []
            finally:
                await conn.close()

        return asyncio.run(read())

    def counts(self, out: Path) -> dict[str, int]:
        """Items per state, and ``ever_submitted``: items that ever had a job."""
        rows = self.rows(out)
        counts: dict[str, int] = {}
        for row in rows:
            counts[row["state"]] = counts.get(row["state"], 0) + 1
        return {**counts, "ever_submitted": sum(1 for r in rows if r["submitted_at"])}


@pytest.fixture(params=_params(("sqlite", "postgres")))
def cli_ledger(request: pytest.FixtureRequest) -> CliLedger:
    """Each ledger a CLI run can use (PostgreSQL started only when asked)."""
    if request.param == "postgres":
        return CliLedger("postgres", str(request.getfixturevalue("pg_url")))
    return CliLedger("sqlite")
