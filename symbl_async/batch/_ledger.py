"""The batch ledger: one SQLite row per item, so a rerun resumes and nothing is paid twice.

Each item moves through these states (:class:`ItemState`); any other move is refused with
:class:`IllegalTransitionError`::

    pending -> submitting -> submitted -> completed -> fetched
                  |  ^   |       ^   |         |   ^      |
                  |  |   v       |   |         |   +------+ reopen (its file is gone)
                  |  +- unknown -+   +---------+---> failed  (also from pending, submitting)
                  +--+ resend (429, 503, no connection: nothing was created)
    failed -> pending, or -> completed if the job had completed (reset_for_retry)

``submitting`` is the intent: it is committed, with the attempt's own ``name``, before the
submit is sent, so after a crash an item found in ``submitting`` may exist remotely and is
looked up by that name first. ``unknown``: the submit was sent and no answer says whether a
job was created; it is not a failure (``failed`` cannot be entered from it), and it leaves
only when a lookup by name finds the job (``submitted``) or, after the grace period, shows
that none exists (``submitting`` again, under a new attempt name).

Thread-safety: every call is one short transaction, a plain synchronous call. The
connection keeps sqlite3's default ``check_same_thread=True``: a call from another thread
fails loudly instead of racing. A batch makes its calls on one thread of its own
(:mod:`symbl_async.batch._sqlite_store`), several at a time inside :meth:`Ledger.group`.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from symbl_async.batch._records import (
    ALLOWED_FROM,
    COLUMNS,
    ItemState,
    LedgerItem,
    initialise,
    item_from_row,
    read_meta,
    select,
    undo,
    update,
    write_meta,
)
from symbl_async.errors import (
    ClientClosedError,
    IllegalTransitionError,
    LedgerError,
    ValidationError,
)

__all__ = ["IllegalTransitionError", "ItemState", "Ledger", "LedgerError", "LedgerItem"]

_PAGE = 500


class Ledger:
    """A batch's record of items, in one SQLite file (WAL mode). Use :meth:`open`."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        """Wrap an open, initialised connection; call :meth:`open` instead."""
        self._conn: sqlite3.Connection | None = conn
        self._path = path

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> Ledger:
        """Open (or create) the ledger at ``path``, creating missing parent folders.

        Args:
            path: the SQLite file.

        Returns:
            The open ledger.

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
            initialise(conn, path)
        except sqlite3.Error as exc:
            conn.close()
            raise ValidationError("ledger_path", f"cannot write {str(path)!r}: {exc}") from exc
        except BaseException:
            conn.close()
            raise
        return cls(conn, path)

    @property
    def path(self) -> Path:
        """The SQLite file."""
        return self._path

    def close(self) -> None:
        """Close the connection (idempotent); SQLite checkpoints the WAL into the file."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, key: str) -> LedgerItem | None:
        """Return the item with this key, or None.

        Raises:
            ClientClosedError: after :meth:`close`.
            LedgerError: when SQLite fails.
        """
        with self._tx(write=False) as conn:
            return select(conn, key)

    def each_key(self, visit: Callable[[str], object]) -> None:
        """Call ``visit`` with every item's key (a sole writer's filter of absent keys)."""
        with self._tx(write=False) as conn:
            for (key,) in conn.execute("SELECT key FROM items"):
                visit(key)

    def upsert_pending(
        self, key: str, source_repr: str, name: str, duration: float | None = None
    ) -> LedgerItem:
        """Record a new item as ``pending``; an existing item is left exactly as it is.

        Args:
            key: the item's stable key.
            source_repr: a human label of the source (path, URL).
            name: the unique ``name`` its submits carry.
            duration: expected media length in seconds, if known.

        Returns:
            The item as stored: the new one, or the existing one with its current state
            (which tells the runner to skip, wait for, or submit it).

        Raises:
            ClientClosedError: after :meth:`close`.
            LedgerError: when SQLite fails.
        """
        now = time.time()
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO items (key, source, name, state, duration, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING",
                (key, source_repr, name, ItemState.PENDING.value, duration, now, now),
            )
            item = select(conn, key)
        assert item is not None
        return item

    def mark_submitting(self, key: str, name: str | None = None) -> LedgerItem:
        """Record the intent to submit, committed (and fsynced) before this returns.

        Send the submit only after this call: a crash after it leaves the item in
        ``submitting``, and the rerun looks its ``name`` up before submitting again.
        Counts one more attempt and stamps ``attempt_at``.

        Args:
            key: the item.
            name: the ``name`` this attempt's submit carries (None: keep the current one).
                Give each attempt its own, so a lookup never matches an older attempt.

        Raises:
            IllegalTransitionError: unless the item is ``pending``, ``submitting`` or
                ``unknown``.
            ClientClosedError: after :meth:`close`.
            LedgerError: when SQLite fails; then do not submit.
        """
        fields: dict[str, object] = {"attempt_at": time.time(), "error": None}
        if name is not None:
            fields["name"] = name
        return self._move(key, ItemState.SUBMITTING, fields, count_attempt=True)

    def mark_unknown(self, key: str, reason: str | BaseException = "no answer") -> LedgerItem:
        """Record that the submit was sent but its outcome is unknown (the job may exist).

        Args:
            key: the item.
            reason: why the outcome is unknown (kept in ``error``; it is not a failure).

        Raises:
            IllegalTransitionError: unless the item is ``submitting``.
        """
        if isinstance(reason, BaseException):
            reason = f"{type(reason).__name__}: {reason}"
        return self._move(key, ItemState.UNKNOWN, {"error": reason})

    def reopen(self, key: str) -> LedgerItem:
        """Move a ``fetched`` item back to ``completed``: its insights must be fetched again.

        Raises:
            IllegalTransitionError: unless the item is ``fetched``.
        """
        # Only here may completed be entered from fetched: the file is gone, fetch again.
        return self._move(
            key, ItemState.COMPLETED, {"output_path": None}, allowed=frozenset({ItemState.FETCHED})
        )

    def mark_submitted(
        self, key: str, job_id: str | None, conversation_id: str | None
    ) -> LedgerItem:
        """Record that the service accepted the submit (or a lookup by name found it).

        Args:
            key: the item.
            job_id: the job's id (None when only a lookup by name found the conversation).
            conversation_id: the conversation's id.

        Raises:
            ValidationError: when both ids are None.
            IllegalTransitionError: unless the item is ``submitting`` or ``unknown``.
        """
        if job_id is None and conversation_id is None:
            raise ValidationError("job_id", "job_id or conversation_id is needed")
        fields = {"job_id": job_id, "conversation_id": conversation_id, "error": None}
        return self._move(key, ItemState.SUBMITTED, fields, stamp="submitted_at")

    def mark_completed(self, key: str) -> LedgerItem:
        """Record that the job's status is ``completed``: its results can be fetched.

        Raises:
            IllegalTransitionError: unless the item is ``submitted``.
        """
        return self._move(key, ItemState.COMPLETED, {}, stamp="completed_at")

    def mark_fetched(self, key: str, output_path: str | os.PathLike[str] | None) -> LedgerItem:
        """Record that the results were fetched and saved; the item is done for good.

        Args:
            key: the item.
            output_path: where the results were written, if anywhere.

        Raises:
            IllegalTransitionError: unless the item is ``completed``.
        """
        out = None if output_path is None else os.fspath(output_path)
        return self._move(key, ItemState.FETCHED, {"output_path": out}, stamp="fetched_at")

    def mark_failed(self, key: str, error: str | BaseException) -> LedgerItem:
        """Record that the item failed, with the reason.

        Mark a submit failed only when it definitely created no job (an error answer);
        when its outcome is unknown, leave it ``submitting`` so that it is looked up.

        Args:
            key: the item.
            error: the reason; an exception is stored as ``"TypeName: message"``.

        Raises:
            IllegalTransitionError: when the item is ``fetched`` or already ``failed``.
        """
        if isinstance(error, BaseException):
            error = f"{type(error).__name__}: {error}"
        return self._move(key, ItemState.FAILED, {"error": error})

    def reset_for_retry(self, key: str) -> LedgerItem:
        """Make a failed item eligible again.

        It goes back to ``completed`` when its job had completed (only the fetch failed:
        fetching again costs nothing, submitting again would be paid twice), else to
        ``pending`` with its job ids cleared.

        Raises:
            IllegalTransitionError: unless the item is ``failed``.
        """
        now = time.time()
        with self._tx() as conn:
            item = select(conn, key)
            if item is None or item.state is not ItemState.FAILED:
                raise IllegalTransitionError(
                    key, None if item is None else item.state, ItemState.PENDING
                )
            fields: dict[str, Any]
            if item.completed_at is not None:
                fields = {"state": ItemState.COMPLETED, "error": None}
            else:
                fields = {"state": ItemState.PENDING, "error": None, "job_id": None,
                          "conversation_id": None, "submitted_at": None}
            return update(conn, item, {**fields, "updated_at": now})

    def learn_job_id(self, key: str, job_id: str) -> LedgerItem:
        """Record the job id (a webhook named it) of a ``submitted`` item that had none."""
        if (row := self.get(key)) is not None and row.job_id is not None:
            raise IllegalTransitionError(key, row.state, ItemState.SUBMITTED)
        to = ItemState.SUBMITTED
        return self._move(key, to, {"job_id": job_id}, allowed=frozenset({to}))

    def get_meta(self, name: str) -> str | None:
        """A value stored with the batch (e.g. ``webhook_token``), or None."""
        with self._tx(write=False) as conn:
            return read_meta(conn, name)

    def set_meta(self, name: str, value: str) -> None:
        """Store a value with the batch (not ``schema_version``, which the ledger owns)."""
        if name == "schema_version":
            raise ValidationError("name", "schema_version belongs to the ledger")
        with self._tx() as conn:
            write_meta(conn, name, value)

    def counts(self) -> dict[str, int]:
        """Return the number of items in each state, every state present (zeros included)."""
        with self._tx(write=False) as conn:
            rows = conn.execute("SELECT state, COUNT(*) FROM items GROUP BY state").fetchall()
        counts = {state.value: 0 for state in ItemState}
        counts.update({state: n for state, n in rows})
        return counts

    def items(self, state: ItemState | str | None = None) -> Iterator[LedgerItem]:
        """Iterate over items in key order, optionally of one state.

        Reads in pages of 500 rows, so memory stays bounded and marks made meanwhile are
        safe (an item moved out of ``state`` may or may not still be seen).

        Args:
            state: only items in this state.
        """
        wanted = None if state is None else ItemState(state).value
        after = ""
        while True:
            with self._tx(write=False) as conn:
                sql = f"SELECT {', '.join(COLUMNS)} FROM items WHERE key > ?"
                args: list[object] = [after]
                if wanted is not None:
                    sql += " AND state = ?"
                    args.append(wanted)
                rows = conn.execute(sql + " ORDER BY key LIMIT ?", [*args, _PAGE]).fetchall()
            if not rows:
                return
            for row in rows:
                yield item_from_row(row)
            after = rows[-1][0]

    def _move(
        self,
        key: str,
        to: ItemState,
        fields: Mapping[str, object],
        *,
        stamp: str | None = None,
        count_attempt: bool = False,
        allowed: frozenset[ItemState] | None = None,
    ) -> LedgerItem:
        now = time.time()
        with self._tx() as conn:
            item = select(conn, key)
            if item is None or item.state not in (allowed or ALLOWED_FROM[to]):
                raise IllegalTransitionError(key, None if item is None else item.state, to)
            changes: dict[str, Any] = {**fields, "state": to, "updated_at": now}
            if stamp is not None:
                changes[stamp] = now
            if count_attempt:
                changes["attempts"] = item.attempts + 1
            return update(conn, item, changes)

    @contextlib.contextmanager
    def group(self) -> Iterator[None]:
        """Make the calls inside one transaction: one commit, one fsync. Each call is a
        savepoint of it: a call that fails (an illegal move) undoes only itself.

        Raises:
            LedgerError: when the commit fails; then none of the calls took effect.
        """
        with self._tx():
            yield

    @contextlib.contextmanager
    def _tx(self, *, write: bool = True) -> Iterator[sqlite3.Connection]:
        # One short transaction per call, or a savepoint inside group(). BEGIN IMMEDIATE
        # takes the write lock up front: a read-check-write cannot interleave with a writer.
        conn = self._conn
        if conn is None:
            raise ClientClosedError(f"ledger {str(self._path)!r} is closed; open it again")
        nested = conn.in_transaction
        try:
            conn.execute("SAVEPOINT op" if nested else "BEGIN IMMEDIATE" if write else "BEGIN")
            yield conn
            conn.execute("RELEASE op" if nested else "COMMIT")
        except sqlite3.Error as exc:
            undo(conn, nested)
            raise LedgerError(f"ledger {str(self._path)!r}: {exc}") from exc
        except BaseException:
            undo(conn, nested)
            raise

