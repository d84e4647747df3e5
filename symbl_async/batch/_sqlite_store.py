"""The SQLite ledger as an :class:`~symbl_async.batch._store.ItemStore`, off the event loop.

Each commit of the SQLite :class:`~symbl_async.batch._ledger.Ledger` fsyncs (``synchronous=
FULL``: a lost intent record is a job paid twice), a few times per item: on the event loop,
that stalls every other coroutine of the batch (slot refills, webhook answers) for the
length of an fsync. So a store that opens its own ledger opens it on a thread of its own,
which serves the calls in order; the connection keeps sqlite3's ``check_same_thread``, so a
call from any other thread fails loudly instead of racing.

Group commit: the calls that queue up while the thread is busy are made together in one
transaction (:meth:`Ledger.group`, each call its own savepoint), so a busy batch pays one
fsync for many transitions. A call's answer is given only after the commit that made it
durable: the intent record before a submit is on disk when ``mark_submitting`` returns.

A ledger the caller opened (``process_many(ledger=Ledger.open(...))``) belongs to the
caller's thread: its calls run inline, as before.

Reads without a hop: a store that opened its ledger holds the lock file, so no one else
adds items. It puts the keys there in a Bloom filter at open, and each key it upserts, so
:meth:`SqliteStore.get` answers ``None`` for a key it has never seen without a trip to the
thread (a batch's intake asks that once per input; most inputs are new). A false positive
(about 1 in 400) only costs the trip; the filter takes 2 bytes per key, not a set's ~70.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import queue
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

from symbl_async.batch._ledger import Ledger
from symbl_async.batch._records import ItemState, LedgerItem
from symbl_async.errors import LedgerError

__all__ = ["SqliteStore"]

_T = TypeVar("_T")
_PAGE = 500
_GROUP = 256  # calls at most in one transaction
# A call for the ledger thread; a call without a function closes the ledger (the last).
_Call = tuple["Callable[[], Any] | None", "asyncio.Future[Any]", asyncio.AbstractEventLoop]
_Outcome = tuple["asyncio.Future[Any]", Any, "BaseException | None"]


class SqliteStore:
    """An :class:`~symbl_async.batch._store.ItemStore` over a SQLite ledger file."""

    def __init__(
        self, ledger: Ledger, calls: queue.SimpleQueue[_Call] | None,
        known: KeyFilter | None = None,
    ) -> None:
        """Wrap an open ledger; use :meth:`open` or :meth:`borrow` instead."""
        self._ledger = ledger
        self._calls = calls
        # Every key in the ledger, when this store is its only writer.
        self._known = known

    @classmethod
    async def open(cls, path: str | os.PathLike[str]) -> SqliteStore:
        """Open (or create) the ledger at ``path`` on a thread of its own.

        Raises:
            ValidationError: as :meth:`Ledger.open`.
        """
        loop = asyncio.get_running_loop()
        opened: asyncio.Future[Ledger] = loop.create_future()
        calls: queue.SimpleQueue[_Call] = queue.SimpleQueue()
        thread = threading.Thread(
            target=_serve, args=(path, calls, opened, loop), name="symbl-ledger", daemon=True
        )
        thread.start()
        ledger = await opened
        store = cls(ledger, calls)
        store._known = await store._call(KeyFilter.of, ledger)
        return store

    @classmethod
    def borrow(cls, ledger: Ledger) -> SqliteStore:
        """Use a ledger the caller opened (and will close), calling it inline."""
        return cls(ledger, None)

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
        if self._calls is None:
            return fn(*args)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[_T] = loop.create_future()
        self._calls.put((lambda: fn(*args), future, loop))
        return await future

    async def get(self, key: str) -> LedgerItem | None:
        if self._known is not None and key not in self._known:
            return None
        return await self._call(self._ledger.get, key)

    async def upsert_pending(
        self, key: str, source_repr: str, name: str, duration: float | None = None,
        spec: str | None = None,
    ) -> LedgerItem:
        # spec: any worker may send the item only in shared stores; one process owns a
        # SQLite batch, and it holds the input.
        if self._known is not None:  # before the write: a get meanwhile must ask the ledger
            self._known.add(key)
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
        """Close the ledger if this store opened it (idempotent), after the queued calls."""
        calls, self._calls = self._calls, None
        if calls is None:
            return
        loop = asyncio.get_running_loop()
        closed: asyncio.Future[None] = loop.create_future()
        calls.put((None, closed, loop))
        await closed


class KeyFilter:
    """A scalable Bloom filter of keys: ``key in f`` is never wrong when it says no.

    Layers of doubling capacity, 16 bits and 4 probes per key (false positives ~0.24 % per
    layer); a new layer starts when the current one is full, so memory follows the keys at
    2 bytes each and the false-positive rate stays bounded.
    """

    _BITS, _PROBES = 16, 4

    def __init__(self, capacity: int = 1 << 16) -> None:
        """An empty filter whose first layer holds ``capacity`` keys."""
        self._layers: list[bytearray] = []
        self._capacity = capacity
        self._count = 0
        self._grow()

    @classmethod
    def of(cls, ledger: Ledger) -> KeyFilter:
        """A filter of every key in ``ledger`` (on the ledger's own thread)."""
        found = cls()
        ledger.each_key(found.add)
        return found

    def _grow(self) -> None:
        if self._layers:
            self._capacity *= 2
        self._layers.append(bytearray(self._capacity * self._BITS // 8))
        self._count = 0

    @classmethod
    def _probes(cls, key: str, size: int) -> list[int]:
        h = hash(key) & 0xFFFFFFFFFFFFFFFF
        h1, h2 = h & 0xFFFFFFFF, (h >> 32) | 1  # double hashing: h1 + i * h2
        return [(h1 + i * h2) % size for i in range(cls._PROBES)]

    def add(self, key: str) -> None:
        """Add ``key``."""
        if self._count >= self._capacity:
            self._grow()
        layer = self._layers[-1]
        for bit in self._probes(key, len(layer) * 8):
            layer[bit >> 3] |= 1 << (bit & 7)
        self._count += 1

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        for layer in self._layers:
            bits = self._probes(key, len(layer) * 8)
            if all(layer[bit >> 3] & (1 << (bit & 7)) for bit in bits):
                return True
        return False


def _serve(
    path: str | os.PathLike[str],
    calls: queue.SimpleQueue[_Call],
    opened: asyncio.Future[Ledger],
    loop: asyncio.AbstractEventLoop,
) -> None:
    """The ledger's thread: open it, then make the queued calls, many per transaction."""
    try:
        ledger = Ledger.open(path)
    except BaseException as exc:
        _settle_soon(loop, opened, None, exc)
        return
    _settle_soon(loop, opened, ledger, None)
    closing: _Call | None = None
    while closing is None:
        batch: list[_Call] = []
        call = calls.get()
        while True:
            if call[0] is None:
                closing = call
                break
            batch.append(call)
            if len(batch) >= _GROUP:
                break
            try:
                call = calls.get_nowait()
            except queue.Empty:
                break
        if batch:
            _run_group(ledger, batch)
    ledger.close()
    _, closed, loop = closing
    _settle_soon(loop, closed, None, None)


def _run_group(ledger: Ledger, batch: list[_Call]) -> None:
    done: list[_Outcome] = []
    try:
        with ledger.group():
            for fn, future, _ in batch:
                assert fn is not None
                try:
                    done.append((future, fn(), None))
                except Exception as exc:  # an illegal move: its savepoint is undone
                    done.append((future, None, exc))
    except LedgerError as exc:  # the commit failed: none of them took effect
        done = [(future, None, exc) for _, future, _ in batch]
    by_loop: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
    for (_, _, loop), outcome in zip(batch, done, strict=True):
        by_loop.setdefault(loop, []).append(outcome)
    for loop, outcomes in by_loop.items():
        if not loop.is_closed():
            loop.call_soon_threadsafe(_settle, outcomes)


def _settle_soon(
    loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any], value: Any,
    exc: BaseException | None,
) -> None:
    outcomes: list[_Outcome] = [(future, value, exc)]
    loop.call_soon_threadsafe(_settle, outcomes)


def _settle(outcomes: list[_Outcome]) -> None:
    for future, value, exc in outcomes:
        if future.done():  # its caller was cancelled meanwhile
            continue
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(value)
