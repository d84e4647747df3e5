"""The ledger in one SQLite file: the embedded default, off the event loop.

:class:`SqliteLedger` holds the connection and makes each operation of the store contract
(:mod:`symbl_async.batch._ledger._store`) one short transaction (``BEGIN IMMEDIATE``: a
read-check-write cannot interleave with another writer): load the rows, call
:func:`~symbl_async.batch._ledger._states.advance`, write what it returns. Its calls are
plain and synchronous; the connection keeps sqlite3's ``check_same_thread``, so a call from
another thread fails loudly instead of racing.

:class:`SqliteStore` is the async store the engine awaits. A commit fsyncs
(``synchronous=FULL``: a lost intent record is a job paid twice) unless each of its moves
is one a power cut may lose (``Move.durable``: the job's id, its end, the fetch; a rerun
redoes them for free), about one fsync per item: on
the event loop that would stall every other coroutine of the batch, so the store opens its
ledger on a thread of its own, which serves the calls in order. Group commit: the calls that
queue while the thread is busy are made in one transaction (each its own savepoint, so an
illegal move undoes only itself), and answered only after the commit that made them
durable: the intent before a submit is on disk when ``claim`` returns.

Schema version 3 (a version 1 or 2 file is migrated on open): ``items`` (one row per item,
the columns of :data:`~._states.COLUMNS`), ``meta``, ``account`` (the AIMD limit, the
cooldown, the run's start) and ``workers`` (leases). One process at a time writes a batch's
ledger (the batch takes a lock file beside it); the store keeps the shared rules all the
same, so that every store obeys one contract.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import secrets
import socket
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable, Collection, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

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
from symbl_async.core._durable import FULL_FSYNC
from symbl_async.errors import (
    ClientClosedError,
    IllegalTransitionError,
    LedgerError,
    ValidationError,
)

__all__ = ["SqliteLedger", "SqliteStore"]

SCHEMA_VERSION = 4
# Written in the SQLite header ("SYMB"): we refuse to adopt another program's database.
_APPLICATION_ID = 0x53594D42
_PAGE = 500
_GROUP = 256  # calls at most in one transaction
_STATES = ", ".join(f"'{s.value}'" for s in ItemState)
_IN_FLIGHT = ", ".join(f"'{s.value}'" for s in sorted(IN_FLIGHT))
_UNFINISHED = ", ".join(f"'{s.value}'" for s in sorted(UNFINISHED))
_RELEASED = ", ".join(f"'{s.value}'" for s in sorted(RELEASED))
_SELECT = f"SELECT {', '.join(COLUMNS)} FROM items"
_ITEMS = f"""
CREATE TABLE IF NOT EXISTS items (
    key TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    name TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ({_STATES})),
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
    attempt_at REAL,
    attempt_name TEXT,
    grace_until REAL,
    spec TEXT,
    owner TEXT,
    fence INTEGER,
    outputs TEXT
)"""
_TABLES = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    _ITEMS,
    "CREATE INDEX IF NOT EXISTS items_state ON items (state)",
    """CREATE TABLE IF NOT EXISTS workers (
        id TEXT PRIMARY KEY, lease_seconds REAL NOT NULL, lease_until REAL NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS account (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        max_limit INTEGER NOT NULL, lim INTEGER NOT NULL,
        successes INTEGER NOT NULL DEFAULT 0, since_decrease INTEGER NOT NULL DEFAULT 0,
        cooldown_until REAL NOT NULL DEFAULT 0, run_started REAL NOT NULL DEFAULT 0)""",
)
_V1_COLUMNS = ", ".join(COLUMNS[:15])
_V3_ADDED = (("attempt_name", "TEXT"), ("grace_until", "REAL"), ("spec", "TEXT"),
             ("owner", "TEXT"), ("fence", "INTEGER"))
_V4_ADDED = (("outputs", "TEXT"),)

_T = TypeVar("_T")
# A call for the ledger thread; a call without a function closes the ledger (the last).
# (the call, its answer, the loop to answer on, whether its commit must be durable)
_Call = tuple[
    "Callable[[], Any] | None", "asyncio.Future[Any]", asyncio.AbstractEventLoop, bool]
_Outcome = tuple["asyncio.Future[Any]", Any, "BaseException | None"]


def default_worker_id() -> str:
    """This process's worker id: host, process id and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class SqliteLedger:
    """A batch's ledger in one SQLite file (WAL mode), synchronous. Use :meth:`open`."""

    def __init__(
        self, conn: sqlite3.Connection, path: Path, worker_id: str, exclusive: bool,
        *, read_only: bool = False,
    ) -> None:
        """Wrap an open, initialised connection; call :meth:`open` instead."""
        self._conn: sqlite3.Connection | None = conn
        self._path = path
        self.worker_id = worker_id
        self.exclusive = exclusive
        self._read_only = read_only
        self._durable = True  # synchronous=FULL, as _initialise sets it
        self.at_ceiling = False
        """The last claim saw the limit at its ceiling (:meth:`SqliteStore.on_accepted`)."""
        self.over_share = False
        """The last claim within the share found it held (:attr:`SqliteStore.over_share`)."""
        self.share: int | None = None
        """This worker's share, as that claim counted it (:attr:`SqliteStore.share`)."""

    @classmethod
    def open(
        cls, path: str | os.PathLike[str], worker_id: str | None = None, *,
        exclusive: bool = False,
    ) -> SqliteLedger:
        """Open (or create) the ledger at ``path``, creating missing parent folders.

        Args:
            path: the SQLite file.
            worker_id: this worker's id (default: host, process id and a random part).
            exclusive: the caller holds the batch's lock file, so no other worker is alive:
                :meth:`adopt` takes every unfinished item not its own at once, whatever
                the leases say, and each :meth:`join` starts a new run.

        Raises:
            ValidationError: (field ``ledger_path``, naming the path) when the file cannot be
                created or written, is not a SQLite database, belongs to another program, has
                a newer schema, or its file system cannot do WAL.
        """
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.is_dir():
                raise IsADirectoryError(21, "is a folder")
            conn = sqlite3.connect(path, isolation_level=None, timeout=10.0)
        except (OSError, sqlite3.Error) as exc:
            raise ValidationError("ledger_path", f"cannot open {str(path)!r}: {exc}") from exc
        try:
            _initialise(conn, path)
        except sqlite3.Error as exc:
            conn.close()
            raise ValidationError("ledger_path", f"cannot write {str(path)!r}: {exc}") from exc
        except BaseException:
            conn.close()
            raise
        return cls(conn, path, worker_id or default_worker_id(), exclusive)

    @classmethod
    def open_read_only(cls, path: str | os.PathLike[str]) -> SqliteLedger:
        """Open an existing ledger to read it, creating and changing nothing.

        Looking at a batch (``symbl-async status``, a dry run) must not create files or
        folders, change the ledger, or wait on a run that holds it (WAL lets a reader in
        while the writer works). Every write through it fails.

        Raises:
            ValidationError: (field ``ledger_path``, naming the path) when there is no file
                there, or it is not a ledger this version reads.
        """
        path = Path(path)
        if not path.is_file():
            raise ValidationError("ledger_path", f"no ledger at {str(path)!r}")
        # mode=ro still creates the -shm (and -wal) files of a WAL database when they are
        # absent; immutable=1 creates nothing and is exact when there is no -wal (the last
        # run closed cleanly and checkpointed). With a -wal (a run going on, or killed), the
        # files already exist and mode=ro reads the latest commits through them.
        wal = path.with_name(path.name + "-wal")
        query = "mode=ro" if wal.exists() else "mode=ro&immutable=1"
        uri = "file:" + urllib.parse.quote(str(path.absolute())) + "?" + query
        try:
            conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=10.0)
        except sqlite3.Error as exc:
            raise ValidationError("ledger_path", f"cannot open {str(path)!r}: {exc}") from exc
        try:
            # A file that is not a ledger (or an older one) fails here, not halfway through.
            version = conn.execute(
                "SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if version is not None and version[0] == "3":
                # Version 3 lacked only ``outputs``: read it as if that were NULL (a view in
                # the connection's own temporary schema, which hides the table; the file
                # is not touched), so ``status`` works right after an upgrade.
                conn.execute("CREATE TEMP VIEW items AS SELECT *, NULL AS outputs"
                             " FROM main.items")
                version = (str(SCHEMA_VERSION),)
            if version is not None and version[0] == str(SCHEMA_VERSION):
                conn.execute(f"SELECT {', '.join(COLUMNS)} FROM items LIMIT 1").fetchall()
        except sqlite3.Error as exc:
            conn.close()
            raise ValidationError(
                "ledger_path", f"cannot read {str(path)!r} as a ledger: {exc}") from exc
        if version is None or version[0] != str(SCHEMA_VERSION):
            conn.close()
            raise ValidationError(
                "ledger_path", f"{str(path)!r} has schema version "
                f"{None if version is None else version[0]}; a run migrates it to "
                f"{SCHEMA_VERSION}, a read cannot")
        return cls(conn, path, worker_id="reader", exclusive=False, read_only=True)

    @property
    def path(self) -> Path:
        """The SQLite file."""
        return self._path

    def close(self) -> None:
        """Close the connection (idempotent); SQLite checkpoints the WAL into the file."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> SqliteLedger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the contract, one transaction each --------------------------------------------------

    def join(self, max_limit: int, lease: float) -> float:
        check_join(max_limit, lease)
        now = time.time()
        with self._tx() as conn:
            others = 0 if self.exclusive else conn.execute(
                "SELECT count(*) FROM workers WHERE lease_until > ? AND id <> ?",
                (now, self.worker_id),
            ).fetchone()[0]
            conn.execute(
                "INSERT INTO account (id, max_limit, lim) VALUES (1, ?, ?) ON CONFLICT (id) DO"
                " UPDATE SET max_limit = excluded.max_limit, lim = min(lim, excluded.max_limit)",
                (max_limit, max_limit),
            )
            if not others:
                conn.execute("UPDATE account SET run_started = ? WHERE id = 1", (now,))
            conn.execute(
                "INSERT INTO workers (id, lease_seconds, lease_until) VALUES (?, ?, ?) ON"
                " CONFLICT (id) DO UPDATE SET lease_seconds = excluded.lease_seconds,"
                " lease_until = excluded.lease_until",
                (self.worker_id, lease, now + lease),
            )
            started = conn.execute("SELECT run_started FROM account WHERE id = 1").fetchone()[0]
        return float(started)

    def heartbeat(self) -> bool:
        with self._tx() as conn:
            found = conn.execute(
                "UPDATE workers SET lease_until = ? + lease_seconds WHERE id = ?",
                (time.time(), self.worker_id),
            ).rowcount
        return bool(found)

    def leave(self) -> None:
        now = time.time()
        with self._tx() as conn:
            for row in conn.execute(
                    _SELECT + " WHERE state = 'pending' AND owner = ? ORDER BY key",
                    (self.worker_id,)).fetchall():
                item = _item(row)
                self._write(conn, item, unreserved(), now, item.fence)
            conn.execute("UPDATE workers SET lease_until = ?, lease_seconds = 0 WHERE id = ?",
                         (now, self.worker_id))

    def add_pending(self, items: Sequence[Pending]) -> list[LedgerItem]:
        now = time.time()
        with self._tx() as conn:
            # Looked up first, written only where new or pending: a rerun over finished
            # items (100,000 of them) then writes nothing, where an upsert of every row
            # cost twice the lookup.
            found = {row.key: row for row in _select_many(conn, [p.key for p in items])}
            write = [p for p in items
                     if p.key not in found or found[p.key].state is ItemState.PENDING]
            if write:
                conn.executemany(
                    "INSERT INTO items (key, source, name, state, duration, created_at,"
                    " updated_at, spec) VALUES (?, ?, ?, 'pending', ?, ?, ?, ?)"
                    " ON CONFLICT (key) DO UPDATE SET updated_at = excluded.updated_at"
                    " WHERE items.state = 'pending'",
                    [(p.key, p.source, p.name, p.duration, now, now, p.spec) for p in write],
                )
                found.update((row.key, row) for row in _select_many(
                    conn, list(dict.fromkeys(p.key for p in write))))
        return [found[p.key] for p in items]

    def get(self, key: str) -> LedgerItem | None:
        with self._tx(write=False) as conn:
            return _select(conn, key)

    def get_many(self, keys: Sequence[str], held_or_done: bool = False) -> list[LedgerItem]:
        with self._tx(write=False) as conn:
            if not held_or_done:
                return _select_many(conn, keys)
            return _select_many(conn, keys, f" AND (state IN ({_RELEASED}) OR owner = ?)",
                                (self.worker_id,))

    def claim(
        self, most: int, candidates: Sequence[str] | None, within_share: bool = False,
        reserved: Sequence[str] = (),
    ) -> list[LedgerItem]:
        now = time.time()
        with self._tx() as conn:
            return self._claim_in(conn, most, candidates, now, within_share=within_share,
                                  reserved=reserved)

    def _claim_in(
        self, conn: sqlite3.Connection, most: int, candidates: Sequence[str] | None,
        now: float, *, within_share: bool = False, reserved: Sequence[str] = (),
    ) -> list[LedgerItem]:
        """A claim's work, in the caller's transaction (see :meth:`claim`); with
        ``within_share``, only while this worker holds fewer jobs than its share."""
        self.over_share = False
        account = conn.execute("SELECT lim, cooldown_until, run_started, max_limit"
                               " FROM account WHERE id = 1").fetchone()
        if account is None:
            raise ValidationError("claim", "join the batch before claiming")
        self.at_ceiling = account[0] >= account[3]
        if account[1] > now or most <= 0:
            return []
        room = min(most, account[0] - _count(conn, _IN_FLIGHT))
        if room <= 0:
            return []
        if within_share:
            mine, share = self._count_share(conn, account[0], now)
            if mine >= share:
                self.over_share = True
                return []
        since, me = account[2], self.worker_id
        own = {r.key: r for r in _select_many(conn, list(dict.fromkeys(reserved)))}
        rows = [own[k] for k in dict.fromkeys(reserved)
                if k in own and own[k].owner == me and own[k].state is ItemState.PENDING
                and own[k].updated_at >= since][:room]
        if len(rows) < room:
            rows += self._pending(conn, candidates, since, room - len(rows))
        claimed_rows = [self._write(conn, row, claimed(), now, held_fence(row, me)).item
                        for row in rows]
        conn.execute("UPDATE account SET since_decrease = since_decrease + ? WHERE id = 1",
                     (len(claimed_rows),))
        return claimed_rows

    def _count_share(
        self, conn: sqlite3.Connection, limit: int, now: float
    ) -> tuple[int, int]:
        """This worker's jobs in flight, and its share of ``limit`` over the live workers
        (kept in :attr:`share`)."""
        live, mine = conn.execute(
            "SELECT (SELECT count(*) FROM workers WHERE lease_until > ?),"
            f" (SELECT count(*) FROM items WHERE owner = ? AND state IN ({_IN_FLIGHT}))",
            (now, self.worker_id)).fetchone()
        self.share = share = fair_share(limit, live)
        return int(mine), share

    @staticmethod
    def _pending(conn: sqlite3.Connection, candidates: Sequence[str] | None, since: float,
                 most: int) -> list[LedgerItem]:
        """Up to ``most`` pending items of this run nobody reserved: ``candidates`` in
        order, or the whole backlog longest first."""
        if candidates is None:
            return [_item(r) for r in conn.execute(
                _SELECT + " WHERE state = 'pending' AND updated_at >= ? AND owner IS NULL"
                " ORDER BY duration IS NULL, duration DESC, key LIMIT ?", (since, most))]
        found = {r.key: r for r in _select_many(conn, candidates)}
        return [found[k] for k in dict.fromkeys(candidates)
                if k in found and found[k].state is ItemState.PENDING
                and found[k].owner is None and found[k].updated_at >= since][:most]

    def next_pending(self) -> LedgerItem | None:
        with self._tx(write=False) as conn:
            account = conn.execute("SELECT run_started FROM account WHERE id = 1").fetchone()
            found = self._pending(conn, None, 0.0 if account is None else account[0], 1)
            return found[0] if found else None

    def reserve(self, key: str) -> LedgerItem | None:
        now = time.time()
        with self._tx() as conn:
            account = conn.execute("SELECT run_started, lim FROM account WHERE id = 1"
                                   ).fetchone()
            found = self._pending(conn, [key], 0.0 if account is None else account[0], 1)
            if not found or account is None:
                return None
            mine, share = self._count_share(conn, account[1], now)
            if mine > share:
                return None
            return self._write(conn, found[0], reserved(), now, None).item

    def apply(self, row: LedgerItem, change: Change) -> LedgerItem:
        now = time.time()
        with self._tx() as conn:
            return self._move_in(conn, row, change, now)

    def end_and_claim(
        self, row: LedgerItem, change: Change, reserved: Sequence[str] = ()
    ) -> tuple[LedgerItem, list[LedgerItem]]:
        now = time.time()
        with self._tx() as conn:
            ended = self._move_in(conn, row, change, now)
            return ended, self._claim_in(conn, 1, None, now, within_share=True,
                                         reserved=reserved)

    def _move_in(
        self, conn: sqlite3.Connection, row: LedgerItem, change: Change, now: float
    ) -> LedgerItem:
        """One move of an item (see :meth:`apply`), in the caller's transaction."""
        current = _select(conn, row.key)
        if current is None:
            raise IllegalTransitionError(row.key, None, change.move.target or ItemState.PENDING)
        return self._write(conn, current, change, now, row.fence).item

    def adopt(self) -> list[LedgerItem]:
        now = time.time()
        with self._tx() as conn:
            gone = "id <> ?" + ("" if self.exclusive else " AND lease_until <= ?")
            conn.execute(f"DELETE FROM workers WHERE {gone}",
                         (self.worker_id,) if self.exclusive else (self.worker_id, now))
            # Reservations of workers that are gone (owner NULL: not reserved).
            for row in conn.execute(
                    _SELECT + " WHERE state = 'pending' AND owner IS NOT ? AND owner NOT IN"
                    " (SELECT id FROM workers) ORDER BY key", (self.worker_id,)).fetchall():
                self._write(conn, _item(row), lapsed(), now, None)
            rows = [_item(r) for r in conn.execute(
                _SELECT + f" WHERE state IN ({_UNFINISHED}) AND owner IS NOT ? AND (owner IS"
                " NULL OR owner NOT IN (SELECT id FROM workers)) ORDER BY key",
                (self.worker_id,),
            )]
            return [self._write(conn, row, adopted(), now, None).item for row in rows]

    def on_rejected(self, cooldown: float) -> None:
        self.at_ceiling = False
        with self._tx() as conn:
            conn.execute(
                "UPDATE account SET"
                " lim = CASE WHEN since_decrease > 0 THEN max(1, lim / 2) ELSE lim END,"
                " since_decrease = 0, successes = 0,"
                " cooldown_until = max(cooldown_until, ?) WHERE id = 1",
                (time.time() + cooldown,),
            )

    def on_accepted(self) -> None:
        with self._tx() as conn:
            conn.execute(
                "UPDATE account SET successes = CASE WHEN successes + 1 >= 2 THEN 0"
                " ELSE successes + 1 END, lim = CASE WHEN successes + 1 >= 2 THEN"
                " min(max_limit, lim + 1) ELSE lim END WHERE id = 1"
            )

    def in_flight(self) -> int:
        with self._tx(write=False) as conn:
            return _count(conn, _IN_FLIGHT)

    def unfinished_elsewhere(self) -> int:
        with self._tx(write=False) as conn:
            return int(conn.execute(
                f"SELECT count(*) FROM items WHERE (state = 'pending' AND updated_at >="
                f" coalesce((SELECT run_started FROM account WHERE id = 1), 0)) OR (state IN"
                f" ({_UNFINISHED}) AND owner IS NOT ?)", (self.worker_id,),
            ).fetchone()[0])

    def get_meta(self, name: str) -> str | None:
        with self._tx(write=False) as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, name: str, value: str) -> None:
        if name in ("schema_version", "next_fence"):
            raise ValidationError("name", f"{name} belongs to the ledger")
        with self._tx() as conn:
            _write_meta(conn, name, value)

    def meta_default(self, name: str, value: str) -> str:
        if name in ("schema_version", "next_fence"):
            raise ValidationError("name", f"{name} belongs to the ledger")
        with self._tx() as conn:
            conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT DO NOTHING",
                         (name, value))
            return str(conn.execute("SELECT value FROM meta WHERE key = ?", (name,))
                       .fetchone()[0])

    def counts(self) -> dict[str, int]:
        with self._tx(write=False) as conn:
            rows = conn.execute("SELECT state, COUNT(*) FROM items GROUP BY state").fetchall()
        counts = {state.value: 0 for state in ItemState}
        counts.update({state: n for state, n in rows})
        return counts

    def page(self, state: ItemState | None, after: str, limit: int = _PAGE) -> list[LedgerItem]:
        """Up to ``limit`` items with keys after ``after``, in key order (optionally of one
        state): the pages :meth:`SqliteStore.items` reads."""
        sql, args = _SELECT + " WHERE key > ?", [after]
        if state is not None:
            sql += " AND state = ?"
            args.append(ItemState(state).value)
        with self._tx(write=False) as conn:
            return [_item(r) for r in conn.execute(sql + " ORDER BY key LIMIT ?",
                                                   [*args, limit])]

    def items(self, state: ItemState | None = None) -> Iterator[LedgerItem]:
        """Every item in key order (optionally of one state), read in pages."""
        after = ""
        while page := self.page(state, after):
            yield from page
            after = page[-1].key

    # -- the machinery -------------------------------------------------------------------

    def _write(
        self, conn: sqlite3.Connection, row: LedgerItem, change: Change, now: float,
        fence: int | None,
    ) -> Advanced:
        new_fence = _next_fence(conn) if change.move.takes_ownership else None
        done = advance(row, change, worker=self.worker_id, fence=fence, now=now,
                       new_fence=new_fence)
        if not isinstance(done, Advanced):
            raise done.error()
        _update(conn, row.key, done.changes)
        return done

    @contextlib.contextmanager
    def group(self, *, durable: bool = True) -> Iterator[None]:
        """Make the calls inside one transaction: one commit, one fsync. Each call is a
        savepoint of it: a call that fails (an illegal move) undoes only itself.

        Args:
            durable: fsync the commit (``synchronous=FULL``). False when every call is a
                move a power cut may lose (``Move.durable``): the commit is then in the
                OS's cache (it survives the process) and reaches the disk with the next
                durable commit, which fsyncs the WAL up to it (``synchronous=NORMAL``).

        Raises:
            LedgerError: when the commit fails; then none of the calls took effect.
        """
        with self._tx(write=not self._read_only, durable=durable):
            yield

    @contextlib.contextmanager
    def _tx(self, *, write: bool = True, durable: bool = True) -> Iterator[sqlite3.Connection]:
        conn = self._conn
        if conn is None:
            raise ClientClosedError(f"ledger {str(self._path)!r} is closed; open it again")
        nested = conn.in_transaction
        if not nested and durable is not self._durable:  # a pragma: outside transactions
            try:
                conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            except sqlite3.Error as exc:
                raise LedgerError(f"ledger {str(self._path)!r}: {exc}") from exc
            self._durable = durable
        try:
            conn.execute("SAVEPOINT op" if nested else "BEGIN IMMEDIATE" if write else "BEGIN")
            yield conn
            conn.execute("RELEASE op" if nested else "COMMIT")
        except sqlite3.Error as exc:
            _undo(conn, nested)
            raise LedgerError(f"ledger {str(self._path)!r}: {exc}") from exc
        except BaseException:
            _undo(conn, nested)
            raise


def _item(row: Collection[Any]) -> LedgerItem:
    return LedgerItem(**dict(zip(COLUMNS, row, strict=True)))


def _select(conn: sqlite3.Connection, key: str) -> LedgerItem | None:
    row = conn.execute(_SELECT + " WHERE key = ?", (key,)).fetchone()
    return None if row is None else _item(row)


def _select_many(conn: sqlite3.Connection, keys: Sequence[str], where: str = "",
                 args: Sequence[object] = ()) -> list[LedgerItem]:
    """The rows of ``keys`` (and ``where``, a condition on them, with its ``args``)."""
    out: list[LedgerItem] = []
    for at in range(0, len(keys), _PAGE):  # SQLite's limit of bound parameters
        chunk = keys[at:at + _PAGE]
        marks = ", ".join("?" * len(chunk))
        out += [_item(r) for r in conn.execute(
            _SELECT + f" WHERE key IN ({marks})" + where, [*chunk, *args])]
    return out


def _count(conn: sqlite3.Connection, states: str) -> int:
    return int(conn.execute(f"SELECT count(*) FROM items WHERE state IN ({states})")
               .fetchone()[0])


def _update(conn: sqlite3.Connection, key: str, changes: Mapping[str, Any]) -> None:
    # Column names come from the state machine's moves, never from callers.
    values = {c: v.value if isinstance(v, ItemState) else v for c, v in changes.items()}
    conn.execute(f"UPDATE items SET {', '.join(f'{c} = ?' for c in values)} WHERE key = ?",
                 [*values.values(), key])


def _next_fence(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM meta WHERE key = 'next_fence'").fetchone()
    fence = 1 if row is None else int(row[0])
    _write_meta(conn, "next_fence", str(fence + 1))
    return fence


def _write_meta(conn: sqlite3.Connection, name: str, value: str) -> None:
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (name, value),
    )


def _undo(conn: sqlite3.Connection, nested: bool) -> None:
    if nested:
        conn.execute("ROLLBACK TO op")
        conn.execute("RELEASE op")
    elif conn.in_transaction:
        conn.execute("ROLLBACK")


def _initialise(conn: sqlite3.Connection, path: Path) -> None:
    mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise ValidationError(
            "ledger_path", f"{str(path)!r}: SQLite cannot use WAL mode there (got {mode})"
        )
    # FULL, not NORMAL. In WAL mode both survive a crash or SIGKILL of this process: a commit
    # is in the OS's page cache once COMMIT returns. NORMAL skips the fsync at commit, so a
    # power cut may drop the last transactions, and a lost `submitting` intent whose submit
    # was sent is a job paid twice. FULL fsyncs the WAL at each commit; the store sets
    # NORMAL only for transactions of moves a power cut may lose (SqliteLedger.group).
    conn.execute("PRAGMA synchronous=FULL")
    if FULL_FSYNC:
        # macOS: fsync leaves the data in the drive's cache (core._durable); SQLite flushes
        # it (F_FULLFSYNC) only when told to. Slower commits, for the promise.
        conn.execute("PRAGMA fullfsync=ON")
        conn.execute("PRAGMA checkpoint_fullfsync=ON")
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
        conn.execute(_TABLES[0])
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('schema_version', ?) ON CONFLICT DO NOTHING",
            (str(SCHEMA_VERSION) if not tables else "1",),
        )
        version = conn.execute(
            "SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]
        if version not in ("1", "2", "3", str(SCHEMA_VERSION)):
            raise ValidationError(
                "ledger_path",
                f"{str(path)!r} has schema version {version}; this version reads "
                f"{SCHEMA_VERSION} (and migrates 1, 2 and 3)",
            )
        if version != str(SCHEMA_VERSION):
            _migrate(conn, version)
        for ddl in _TABLES[1:]:
            conn.execute(ddl)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _migrate(conn: sqlite3.Connection, version: str) -> None:
    """Version 1, 2 or 3 -> 4, in the caller's transaction.

    Version 1 had no 'unknown' state (SQLite cannot alter a CHECK: the table is copied) and
    no ``attempt_at``; version 2 kept the attempt's own name in ``name`` and had no spec,
    owner, fence or grace. Now ``name`` is the item's name and the attempt's name
    (``<name>-<attempt>``) is ``attempt_name``. Version 3 had no ``outputs``.
    """
    has_items = conn.execute(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'items'"
    ).fetchone()[0]
    if has_items and version == "1":
        conn.execute("ALTER TABLE items RENAME TO items_v1")
        conn.execute("DROP INDEX IF EXISTS items_state")
        conn.execute(_ITEMS)
        conn.execute(f"INSERT INTO items ({_V1_COLUMNS}) SELECT {_V1_COLUMNS} FROM items_v1")
        conn.execute("DROP TABLE items_v1")
    elif has_items:
        added = (*_V3_ADDED, *_V4_ADDED) if version == "2" else _V4_ADDED
        for column, kind in added:
            conn.execute(f"ALTER TABLE items ADD COLUMN {column} {kind}")
    if has_items and version != "3":
        conn.execute(
            "UPDATE items SET attempt_name = name,"
            " name = substr(name, 1, length(name) - length('-' || attempts))"
            " WHERE attempts > 0 AND substr(name, -length('-' || attempts)) = '-' || attempts"
        )
    conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))


class SqliteStore:
    """The async store over a :class:`SqliteLedger`, its calls on a thread of its own."""

    def __init__(self, ledger: SqliteLedger, calls: queue.SimpleQueue[_Call] | None) -> None:
        """Wrap an open ledger; use :meth:`open` instead."""
        self._ledger = ledger
        self._calls = calls
        self._changed = asyncio.Event()

    @classmethod
    async def open(
        cls, path: str | os.PathLike[str], *, worker_id: str | None = None,
        exclusive: bool = False,
    ) -> SqliteStore:
        """Open (or create) the ledger at ``path`` on a thread of its own.

        Args:
            path: the SQLite file.
            worker_id: this worker's id.
            exclusive: the caller holds the batch's lock file (see :meth:`SqliteLedger.open`).

        Raises:
            ValidationError: as :meth:`SqliteLedger.open`.
        """
        return await cls._start(lambda: SqliteLedger.open(path, worker_id, exclusive=exclusive))

    @classmethod
    async def open_read_only(cls, path: str | os.PathLike[str]) -> SqliteStore:
        """Open an existing ledger to read it (:meth:`SqliteLedger.open_read_only`).

        Raises:
            ValidationError: as :meth:`SqliteLedger.open_read_only`.
        """
        return await cls._start(lambda: SqliteLedger.open_read_only(path))

    @classmethod
    async def _start(cls, opener: Callable[[], SqliteLedger]) -> SqliteStore:
        loop = asyncio.get_running_loop()
        opened: asyncio.Future[SqliteLedger] = loop.create_future()
        calls: queue.SimpleQueue[_Call] = queue.SimpleQueue()
        thread = threading.Thread(
            target=_serve, args=(opener, calls, opened, loop), name="symbl-ledger", daemon=True,
        )
        thread.start()
        return cls(await opened, calls)

    @property
    def path(self) -> Path:
        """The SQLite file."""
        return self._ledger.path

    @property
    def location(self) -> str:
        """The SQLite file, as text."""
        return str(self._ledger.path)

    @property
    def worker_id(self) -> str:
        """This worker's id."""
        return self._ledger.worker_id

    @property
    def shared(self) -> bool:
        """False: one process at a time writes a SQLite batch (it holds a lock file)."""
        return False

    def clock(self) -> float:
        """This machine's time: the ledger's writes stamp it."""
        return time.time()

    async def _call(
        self, fn: Callable[..., _T], *args: object, wakes: bool = False, durable: bool = True
    ) -> _T:
        calls = self._calls
        if calls is None:
            raise ClientClosedError(f"ledger {self.location!r} is closed; open it again")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[_T] = loop.create_future()
        calls.put((lambda: fn(*args), future, loop, durable))
        result = await future
        if wakes:
            self._changed.set()
        return result

    async def join(self, *, max_limit: int, lease: float) -> float:
        check_join(max_limit, lease)
        return await self._call(self._ledger.join, max_limit, lease, wakes=True)

    async def heartbeat(self) -> bool:
        return await self._call(self._ledger.heartbeat)

    async def leave(self) -> None:
        await self._call(self._ledger.leave)

    async def add_pending(self, items: Sequence[Pending]) -> list[LedgerItem]:
        if not items:
            return []
        return await self._call(self._ledger.add_pending, list(items), wakes=True)

    async def get(self, key: str) -> LedgerItem | None:
        return await self._call(self._ledger.get, key)

    async def get_many(
        self, keys: Sequence[str], *, held_or_done: bool = False
    ) -> list[LedgerItem]:
        return await self._call(self._ledger.get_many, list(keys), held_or_done)

    async def claim(
        self, most: int, candidates: Sequence[str] | None = None, *,
        within_share: bool = False, reserved: Sequence[str] = (),
    ) -> list[LedgerItem]:
        keys = None if candidates is None else list(candidates)
        return await self._call(self._ledger.claim, most, keys, within_share, list(reserved))

    @property
    def over_share(self) -> bool:
        return self._ledger.over_share

    @property
    def share(self) -> int | None:
        return self._ledger.share

    async def apply(self, row: LedgerItem, change: Change) -> LedgerItem:
        return await self._call(self._ledger.apply, row, change, wakes=True,
                                durable=change.move.durable)

    async def end_and_claim(
        self, row: LedgerItem, change: Change, *, reserved: Sequence[str] = ()
    ) -> tuple[LedgerItem, list[LedgerItem]]:
        return await self._call(self._ledger.end_and_claim, row, change, list(reserved),
                                wakes=True)

    async def next_pending(self) -> LedgerItem | None:
        return await self._call(self._ledger.next_pending)

    async def reserve(self, key: str) -> LedgerItem | None:
        return await self._call(self._ledger.reserve, key)

    async def adopt(self) -> list[LedgerItem]:
        return await self._call(self._ledger.adopt)

    async def on_rejected(self, cooldown: float) -> None:
        self._ledger.at_ceiling = False  # at once: an on_accepted queued after it counts
        await self._call(self._ledger.on_rejected, cooldown, wakes=True)

    async def on_accepted(self) -> None:
        # Nothing to write while the last claim saw the limit at its ceiling (as the
        # PostgreSQL store): the limit cannot rise, and the success count matters only
        # below it (a 429 resets it). It saves each submit a call on the ledger's thread
        # and a commit.
        if self._ledger.at_ceiling:
            return
        await self._call(self._ledger.on_accepted, wakes=True)

    async def in_flight(self) -> int:
        return await self._call(self._ledger.in_flight)

    async def unfinished_elsewhere(self) -> int:
        return await self._call(self._ledger.unfinished_elsewhere)

    async def wait_changed(self, timeout: float) -> None:
        """Return after a write of this store (another process's cannot be heard), or after
        ``timeout`` seconds."""
        if self._calls is None:
            raise ClientClosedError(f"ledger {self.location!r} is closed; open it again")
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout)
        self._changed.clear()

    async def get_meta(self, name: str) -> str | None:
        return await self._call(self._ledger.get_meta, name)

    async def set_meta(self, name: str, value: str) -> None:
        await self._call(self._ledger.set_meta, name, value)

    async def meta_default(self, name: str, value: str) -> str:
        return await self._call(self._ledger.meta_default, name, value)

    async def counts(self) -> dict[str, int]:
        return await self._call(self._ledger.counts)

    async def items(self, state: ItemState | None = None) -> AsyncIterator[LedgerItem]:
        after = ""
        while page := await self._call(self._ledger.page, state, after):
            for row in page:
                yield row
            after = page[-1].key

    async def aclose(self) -> None:
        """Close the ledger (idempotent), after the calls queued before."""
        calls, self._calls = self._calls, None
        if calls is None:
            return
        loop = asyncio.get_running_loop()
        closed: asyncio.Future[None] = loop.create_future()
        calls.put((None, closed, loop, True))
        await closed


def _serve(
    opener: Callable[[], SqliteLedger],
    calls: queue.SimpleQueue[_Call],
    opened: asyncio.Future[SqliteLedger],
    loop: asyncio.AbstractEventLoop,
) -> None:
    """The ledger's thread: open it, then make the queued calls, many per transaction."""
    try:
        ledger = opener()
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
    _, closed, loop, _ = closing
    _settle_soon(loop, closed, None, None)


def _run_group(ledger: SqliteLedger, batch: list[_Call]) -> None:
    done: list[_Outcome] = []
    try:
        with ledger.group(durable=any(call[3] for call in batch)):
            for fn, future, _, _ in batch:
                assert fn is not None
                try:
                    done.append((future, fn(), None))
                except Exception as exc:  # an illegal move: its savepoint is undone
                    done.append((future, None, exc))
    except LedgerError as exc:  # the commit failed: none of them took effect
        done = [(future, None, exc) for _, future, _, _ in batch]
    by_loop: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
    for (_, _, loop, _), outcome in zip(batch, done, strict=True):
        by_loop.setdefault(loop, []).append(outcome)
    for loop, outcomes in by_loop.items():
        if not loop.is_closed():
            loop.call_soon_threadsafe(_settle, outcomes)


def _settle_soon(
    loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any], value: Any,
    exc: BaseException | None,
) -> None:
    loop.call_soon_threadsafe(_settle, [(future, value, exc)])


def _settle(outcomes: list[_Outcome]) -> None:
    for future, value, exc in outcomes:
        if future.done():  # its caller was cancelled meanwhile
            continue
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(value)
