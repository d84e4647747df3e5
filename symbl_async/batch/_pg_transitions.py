"""The PostgreSQL ledger's item transitions: the SQLite ledger's state machine, fenced.

A mixin of :class:`~symbl_async.batch._pg_store.PostgresStore` (which provides the
transaction runner, the ownership check and the fences it holds). Each transition is one
transaction: lock the row, return it unchanged if it already carries this call's ``op`` (a
retry after a lost COMMIT), check the owner and fence, check ``_ALLOWED_FROM``, update.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from symbl_async.batch._pg_schema import PG_COLUMNS, SELECT_ITEM, item_from_record, notify_sql
from symbl_async.batch._records import ALLOWED_FROM as _ALLOWED_FROM
from symbl_async.batch._records import ItemState, LedgerItem
from symbl_async.batch._store import IN_FLIGHT
from symbl_async.errors import IllegalTransitionError, ValidationError

__all__ = ["Transitions"]

_S = ItemState
_T = TypeVar("_T")
_NEXT_FENCE = object()
"""A ``fence`` value meaning: the sequence's next number (the caller becomes the owner)."""
_RETURNING = " RETURNING " + ", ".join(PG_COLUMNS)
# Items that reach these are nobody's: a later run may retry (failed) or reopen (fetched).
_RELEASED = frozenset({_S.FETCHED, _S.FAILED})


class Transitions:
    """The :class:`~symbl_async.batch._store.ItemStore` transitions of a PostgreSQL store."""

    _worker_id: str

    async def _run(self, tx: Callable[[Any, bool], Awaitable[_T]]) -> _T:
        raise NotImplementedError

    def _check_owner(self, item: LedgerItem) -> None:
        raise NotImplementedError

    def _remember(self, item: LedgerItem) -> None:
        raise NotImplementedError

    async def mark_submitting(self, key: str, name: str | None = None) -> LedgerItem:
        """As :meth:`Ledger.mark_submitting` (committed before it returns)."""
        fields: dict[str, object] = {"attempt_at": time.time(), "error": None}
        if name is not None:
            fields["name"] = name
        return await self._move(key, _S.SUBMITTING, fields, count_attempt=True)

    async def mark_unknown(
        self, key: str, reason: str | BaseException = "no answer"
    ) -> LedgerItem:
        """As :meth:`Ledger.mark_unknown`."""
        if isinstance(reason, BaseException):
            reason = f"{type(reason).__name__}: {reason}"
        return await self._move(key, _S.UNKNOWN, {"error": reason})

    async def reopen(self, key: str) -> LedgerItem:
        """As :meth:`Ledger.reopen`; the caller becomes the item's owner (new fence)."""
        return await self._move(
            key, _S.COMPLETED, {"output_path": None, "owner": self._worker_id,
                                "fence": _NEXT_FENCE},
            allowed=frozenset({_S.FETCHED}),
        )

    async def mark_submitted(
        self, key: str, job_id: str | None, conversation_id: str | None
    ) -> LedgerItem:
        """As :meth:`Ledger.mark_submitted`."""
        if job_id is None and conversation_id is None:
            raise ValidationError("job_id", "job_id or conversation_id is needed")
        fields = {"job_id": job_id, "conversation_id": conversation_id, "error": None}
        return await self._move(key, _S.SUBMITTED, fields, stamp="submitted_at")

    async def mark_completed(self, key: str) -> LedgerItem:
        """As :meth:`Ledger.mark_completed`."""
        return await self._move(key, _S.COMPLETED, {}, stamp="completed_at")

    async def mark_fetched(
        self, key: str, output_path: str | os.PathLike[str] | None
    ) -> LedgerItem:
        """As :meth:`Ledger.mark_fetched`."""
        out = None if output_path is None else os.fspath(output_path)
        return await self._move(key, _S.FETCHED, {"output_path": out}, stamp="fetched_at")

    async def mark_failed(self, key: str, error: str | BaseException) -> LedgerItem:
        """As :meth:`Ledger.mark_failed`."""
        if isinstance(error, BaseException):
            error = f"{type(error).__name__}: {error}"
        return await self._move(key, _S.FAILED, {"error": error})

    async def reset_for_retry(self, key: str) -> LedgerItem:
        """As :meth:`Ledger.reset_for_retry`; the caller becomes the item's owner."""
        mine = {"owner": self._worker_id, "fence": _NEXT_FENCE, "error": None}

        def fields(item: LedgerItem) -> tuple[ItemState, dict[str, object]]:
            if item.completed_at is not None:
                return _S.COMPLETED, mine
            return _S.PENDING, {**mine, "job_id": None, "conversation_id": None,
                                "submitted_at": None}

        return await self._move(
            key, _S.PENDING, {}, allowed=frozenset({_S.FAILED}), choose=fields
        )

    async def learn_job_id(self, key: str, job_id: str) -> LedgerItem:
        """As :meth:`Ledger.learn_job_id`: only a ``submitted`` item without a job id."""
        return await self._move(
            key, _S.SUBMITTED, {"job_id": job_id}, allowed=frozenset({_S.SUBMITTED}),
            refuse=lambda item: item.job_id is not None,
        )

    async def _move(
        self,
        key: str,
        to: ItemState,
        fields: Mapping[str, object],
        *,
        stamp: str | None = None,
        count_attempt: bool = False,
        allowed: frozenset[ItemState] | None = None,
        refuse: Callable[[LedgerItem], bool] | None = None,
        choose: Callable[[LedgerItem], tuple[ItemState, dict[str, object]]] | None = None,
    ) -> LedgerItem:
        op = uuid.uuid4()
        now = time.time()

        async def tx(conn: Any, retry: bool) -> LedgerItem:
            row = await conn.fetchrow(SELECT_ITEM_OP + " WHERE key = $1 FOR UPDATE", key)
            if row is None:
                raise IllegalTransitionError(key, None, to)
            item = item_from_record(row)
            if row["op"] == op:  # this very call committed before its answer was lost
                return item
            self._check_owner(item)
            if item.state not in (allowed or _ALLOWED_FROM[to]) or (refuse and refuse(item)):
                raise IllegalTransitionError(key, item.state, to)
            target, changes = (to, dict(fields)) if choose is None else choose(item)
            changes.update(state=target.value, updated_at=now)
            if stamp is not None:
                changes[stamp] = now
            if count_attempt:
                changes["attempts"] = item.attempts + 1
            if target in _RELEASED:
                changes.update(owner=None, fence=None)
            new = await _update(conn, key, changes, op)
            if (item.state in IN_FLIGHT and target not in IN_FLIGHT) or target is _S.PENDING:
                await conn.execute(notify_sql("changed"))
            return new

        item = await self._run(tx)
        self._remember(item)
        return item


SELECT_ITEM_OP = SELECT_ITEM.replace(" FROM items", ", op FROM items")


async def _update(conn: Any, key: str, changes: Mapping[str, object], op: uuid.UUID) -> LedgerItem:
    # Column names come from this module, never from callers.
    sets, args = [], [key, op]
    for column, value in changes.items():
        assert column in PG_COLUMNS
        if value is _NEXT_FENCE:
            sets.append(f"{column} = nextval('fences')")
        else:
            args.append(value)
            sets.append(f"{column} = ${len(args)}")
    sql = f"UPDATE items SET {', '.join(sets)}, op = $2 WHERE key = $1" + _RETURNING
    return item_from_record(await conn.fetchrow(sql, *args))
