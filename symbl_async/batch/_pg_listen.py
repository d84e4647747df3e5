"""The PostgreSQL ledger's wake-ups: a LISTEN on a dedicated connection.

Internal to :mod:`symbl_async.batch._pg_store`: every transaction that frees a job slot,
adds a pending item or changes the account row sends a NOTIFY on :data:`CHANNEL` at
commit, and :class:`Listener` turns those into returns from
:meth:`~symbl_async.batch._pg_store.PostgresStore.wait_changed`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from symbl_async.batch._pg_schema import CHANNEL, scrub

__all__ = ["Listener"]

_log = logging.getLogger("symbl_async.batch.postgres")


class Listener:
    """Wakes :meth:`wait` on every notification, and when its connection opens or is lost
    (notifications sent meanwhile were missed: a spurious wake-up is the safe side)."""

    def __init__(self, url: str, location: str) -> None:
        self._url = url
        self._location = location
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
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self.start()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._changed.wait(), max(0.0, deadline - loop.time()))
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
        self._changed.set()
