"""The SQLite ledger as an :class:`~symbl_async.batch._store.ItemStore`, off the event loop.

Each commit of the SQLite :class:`~symbl_async.batch._ledger.Ledger` fsyncs (``synchronous=
FULL``: a lost intent record is a job paid twice), a few times per item: on the event loop,
that stalls every other coroutine of the batch (slot refills, webhook answers) for the
length of an fsync. So a store that opens its own ledger opens it on a thread of its own and
runs every call there, in order; the connection keeps sqlite3's ``check_same_thread``, so a
call from any other thread fails loudly instead of racing.

A ledger the caller opened (``process_many(ledger=Ledger.open(...))``) belongs to the
caller's thread: its calls run inline, as before.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import itertools
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TypeVar

from symbl_async.batch._ledger import Ledger
from symbl_async.batch._records import ItemState, LedgerItem

__all__ = ["SqliteStore"]

_T = TypeVar("_T")
_PAGE = 500


class SqliteStore:
    """An :class:`~symbl_async.batch._store.ItemStore` over a SQLite ledger file."""

    def __init__(
        self, ledger: Ledger, executor: concurrent.futures.ThreadPoolExecutor | None
    ) -> None:
        """Wrap an open ledger; use :meth:`open` or :meth:`borrow` instead."""
        self._ledger = ledger
        self._executor = executor
        self._owned = executor is not None

    @classmethod
    async def open(cls, path: str | os.PathLike[str]) -> SqliteStore:
        """Open (or create) the ledger at ``path`` on a thread of its own.

        Raises:
            ValidationError: as :meth:`Ledger.open`.
        """
        executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="symbl-ledger")
        try:
            loop = asyncio.get_running_loop()
            ledger = await loop.run_in_executor(executor, Ledger.open, path)
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return cls(ledger, executor)

    @classmethod
    def borrow(cls, ledger: Ledger) -> SqliteStore:
        """Use a ledger the caller opened (and will close), calling it inline."""
        store = cls(ledger, None)
        return store

    @property
    def ledger(self) -> Ledger:
        """The SQLite ledger underneath."""
        return self._ledger

    @property
    def path(self) -> Path:
        """The SQLite file."""
        return self._ledger.path

    @property
    def location(self) -> str:
        """The SQLite file, as text."""
        return str(self._ledger.path)

    async def _call(self, fn: Callable[..., _T], *args: object) -> _T:
        if self._executor is None:
            return fn(*args)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args))

    async def get(self, key: str) -> LedgerItem | None:
        return await self._call(self._ledger.get, key)

    async def upsert_pending(
        self, key: str, source_repr: str, name: str, duration: float | None = None,
        spec: str | None = None,
    ) -> LedgerItem:
        # spec: any worker may send the item only in shared stores; one process owns a
        # SQLite batch, and it holds the input.
        return await self._call(self._ledger.upsert_pending, key, source_repr, name, duration)

    async def mark_submitting(self, key: str, name: str | None = None) -> LedgerItem:
        return await self._call(self._ledger.mark_submitting, key, name)

    async def mark_unknown(
        self, key: str, reason: str | BaseException = "no answer"
    ) -> LedgerItem:
        return await self._call(self._ledger.mark_unknown, key, reason)

    async def reopen(self, key: str) -> LedgerItem:
        return await self._call(self._ledger.reopen, key)

    async def mark_submitted(
        self, key: str, job_id: str | None, conversation_id: str | None
    ) -> LedgerItem:
        return await self._call(self._ledger.mark_submitted, key, job_id, conversation_id)

    async def mark_completed(self, key: str) -> LedgerItem:
        return await self._call(self._ledger.mark_completed, key)

    async def mark_fetched(
        self, key: str, output_path: str | os.PathLike[str] | None
    ) -> LedgerItem:
        return await self._call(self._ledger.mark_fetched, key, output_path)

    async def mark_failed(self, key: str, error: str | BaseException) -> LedgerItem:
        return await self._call(self._ledger.mark_failed, key, error)

    async def reset_for_retry(self, key: str) -> LedgerItem:
        return await self._call(self._ledger.reset_for_retry, key)

    async def learn_job_id(self, key: str, job_id: str) -> LedgerItem:
        return await self._call(self._ledger.learn_job_id, key, job_id)

    async def get_meta(self, name: str) -> str | None:
        return await self._call(self._ledger.get_meta, name)

    async def set_meta(self, name: str, value: str) -> None:
        await self._call(self._ledger.set_meta, name, value)

    async def counts(self) -> dict[str, int]:
        return await self._call(self._ledger.counts)

    async def items(self, state: ItemState | str | None = None) -> AsyncIterator[LedgerItem]:
        # The ledger's generator reads in pages of its own; it is advanced a page at a time
        # on the ledger's thread.
        rows = self._ledger.items(state)
        while True:
            page = await self._call(lambda: list(itertools.islice(rows, _PAGE)))
            for row in page:
                yield row
            if len(page) < _PAGE:
                return

    async def aclose(self) -> None:
        """Close the ledger if this store opened it (idempotent)."""
        if not self._owned or self._executor is None:
            return
        executor, self._executor = self._executor, None
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(executor, self._ledger.close)
        finally:
            executor.shutdown(wait=False)
