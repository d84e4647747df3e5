"""The ledger in memory: the store contract over a dict, for tests of the engine at full speed.

Procrastinate's ``InMemoryConnector`` is the model: the same rules as the database stores
(the moves come from :func:`~symbl_async.batch._ledger._states.advance`; claims, leases,
adoption and the account's AIMD limit as :mod:`symbl_async.batch._ledger._store` describes),
none of the I/O. Several :class:`MemoryStore` workers may share one :class:`MemoryLedger`
(one event loop), which stands for the database; its clock can be replaced to test leases.
Nothing survives the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence

import attrs

from symbl_async.batch._ledger._states import (
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
    new_item,
    reserved,
    unreserved,
)
from symbl_async.batch._ledger._store import check_join, fair_share, longest_first_key
from symbl_async.errors import ClientClosedError, IllegalTransitionError, ValidationError

__all__ = ["MemoryLedger", "MemoryStore"]


@attrs.define
class _Account:
    max_limit: int
    limit: int
    successes: int = 0
    since_decrease: int = 0
    cooldown_until: float = 0.0
    run_started: float = 0.0


class MemoryLedger:
    """What several :class:`MemoryStore` workers share: items, meta, leases, the account."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        """An empty ledger on ``clock`` (Unix seconds; replace it to test leases)."""
        self.clock = clock
        self.items: dict[str, LedgerItem] = {}
        self.meta: dict[str, str] = {}
        self.leases: dict[str, tuple[float, float]] = {}  # worker -> (until, seconds)
        self.account: _Account | None = None
        self._fences = itertools.count(1)
        self._listeners: list[asyncio.Event] = []

    def next_fence(self) -> int:
        """A new fencing token."""
        return next(self._fences)

    def listen(self) -> asyncio.Event:
        """An event set whenever another worker may want to look again."""
        event = asyncio.Event()
        self._listeners.append(event)
        return event

    def wake(self) -> None:
        """Set every listener's event."""
        for event in self._listeners:
            event.set()

    def alive(self, worker: str | None, now: float) -> bool:
        """Whether ``worker`` holds a lease now."""
        lease = None if worker is None else self.leases.get(worker)
        return lease is not None and lease[0] > now


class MemoryStore:
    """One worker's view of a :class:`MemoryLedger` (see the module docstring)."""

    def __init__(
        self, ledger: MemoryLedger | None = None, *, worker_id: str | None = None,
        shared: bool = False,
    ) -> None:
        """A worker on ``ledger`` (default: a new one of its own).

        Args:
            ledger: the shared state; give the same to several stores to have workers.
            worker_id: this worker's id (default: a random one).
            shared: whether the batch treats the ledger as shared by workers. A store that is
                not is exclusive, as a SQLite ledger under its lock file: it adopts every
                unfinished item not its own, whatever the leases say, and each join starts
                a new run.
        """
        self._ledger = ledger if ledger is not None else MemoryLedger()
        self._worker_id = worker_id or f"memory:{secrets.token_hex(4)}"
        self._shared = shared
        self._over_share = False  # the last claim within the share found it held
        self._share: int | None = None  # this worker's share, as that claim counted it
        self._changed = self._ledger.listen()
        self._closed = False

    @property
    def ledger(self) -> MemoryLedger:
        """The shared state."""
        return self._ledger

    @property
    def location(self) -> str:
        """``memory``."""
        return "memory"

    @property
    def worker_id(self) -> str:
        """This worker's id."""
        return self._worker_id

    @property
    def shared(self) -> bool:
        """Whether the batch treats the ledger as shared."""
        return self._shared

    def clock(self) -> float:
        """The ledger's time now."""
        return self._ledger.clock()

    def _open(self) -> MemoryLedger:
        if self._closed:
            raise ClientClosedError("the memory ledger store is closed")
        return self._ledger

    async def join(self, *, max_limit: int, lease: float) -> float:
        check_join(max_limit, lease)
        db, now = self._open(), self.clock()
        others = self._shared and any(
            db.alive(w, now) for w in db.leases if w != self._worker_id)
        if db.account is None:
            db.account = _Account(max_limit=max_limit, limit=max_limit)
        else:
            db.account.max_limit = max_limit
            db.account.limit = min(db.account.limit, max_limit)
        if not others:
            db.account.run_started = now
        db.leases[self._worker_id] = (now + lease, lease)
        db.wake()
        return db.account.run_started

    async def heartbeat(self) -> bool:
        db = self._open()
        lease = db.leases.get(self._worker_id)
        if lease is None:
            return False
        db.leases[self._worker_id] = (self.clock() + lease[1], lease[1])
        return True

    async def leave(self) -> None:
        db, now = self._open(), self.clock()
        for row in sorted(db.items.values(), key=lambda r: r.key):
            if row.state is ItemState.PENDING and row.owner == self._worker_id:
                self._write(row, unreserved(), now, new_fence=None, fence=row.fence)
        lease = db.leases.get(self._worker_id)
        if lease is not None:  # over now, and no lease to wait out: adopt at once
            db.leases[self._worker_id] = (now, 0.0)

    async def add_pending(self, items: Sequence[Pending]) -> list[LedgerItem]:
        db, now = self._open(), self.clock()
        out, added = [], False
        for pending in items:
            row = db.items.get(pending.key)
            if row is None:
                row = db.items[pending.key] = new_item(pending, now)
                added = True
            elif row.state is ItemState.PENDING:  # named again: wanted in this run
                row = db.items[pending.key] = attrs.evolve(row, updated_at=now)
                added = True
            out.append(row)
        if added:
            db.wake()
        return out

    async def get(self, key: str) -> LedgerItem | None:
        return self._open().items.get(key)

    async def get_many(
        self, keys: Sequence[str], *, held_or_done: bool = False
    ) -> list[LedgerItem]:
        items, me = self._open().items, self._worker_id
        rows = [items[k] for k in dict.fromkeys(keys) if k in items]
        if held_or_done:
            rows = [r for r in rows if r.state in RELEASED or r.owner == me]
        return rows

    async def claim(
        self, most: int, candidates: Sequence[str] | None = None, *,
        within_share: bool = False, reserved: Sequence[str] = (),
    ) -> list[LedgerItem]:
        return self._claim_now(most, candidates, within_share=within_share,
                               reserved=reserved)

    @property
    def over_share(self) -> bool:
        return self._over_share

    @property
    def share(self) -> int | None:
        return self._share

    def _claim_now(
        self, most: int, candidates: Sequence[str] | None, *, within_share: bool = False,
        reserved: Sequence[str] = (),
    ) -> list[LedgerItem]:
        """A claim's work (see :meth:`claim`), with nothing awaited: atomic in the loop."""
        self._over_share = False
        db, now = self._open(), self.clock()
        account = db.account
        if account is None:
            raise ValidationError("claim", "join the batch before claiming")
        if account.cooldown_until > now or most <= 0:
            return []
        room = min(most, account.limit - self._count(IN_FLIGHT))
        if room <= 0:
            return []
        if within_share:
            self._share = fair_share(account.limit, self._live(now))
            if self._mine() >= self._share:
                self._over_share = True
                return []
        chosen: list[LedgerItem] = []
        since, me = account.run_started, self._worker_id
        own = (db.items.get(k) for k in dict.fromkeys(reserved))
        for row in itertools.chain(
                (r for r in own if r is not None and r.owner == me and _wanted(r, since)),
                self._pending(candidates, since)):
            if len(chosen) >= room:
                break
            chosen.append(self._write(row, claimed(), now, new_fence=db.next_fence(),
                                      fence=held_fence(row, me)).item)
        account.since_decrease += len(chosen)
        return chosen

    def _pending(self, candidates: Sequence[str] | None, since: float) -> Iterable[LedgerItem]:
        """Pending items of this run nobody reserved: ``candidates`` in order, or all of
        them longest first. Lazy: a claim stops at its room."""
        items = self._ledger.items
        if candidates is not None:
            rows = (items.get(k) for k in dict.fromkeys(candidates))
            return (r for r in rows
                    if r is not None and r.owner is None and _wanted(r, since))
        return sorted((r for r in items.values() if r.owner is None and _wanted(r, since)),
                      key=longest_first_key)

    async def next_pending(self) -> LedgerItem | None:
        db = self._open()
        since = 0.0 if db.account is None else db.account.run_started
        return next(iter(self._pending(None, since)), None)

    async def reserve(self, key: str) -> LedgerItem | None:
        db, now = self._open(), self.clock()
        row = db.items.get(key)
        since = 0.0 if db.account is None else db.account.run_started
        if (db.account is None or row is None or row.owner is not None
                or not _wanted(row, since)):
            return None
        self._share = fair_share(db.account.limit, self._live(now))
        if self._mine() > self._share:
            return None
        return self._write(row, reserved(), now, new_fence=db.next_fence()).item

    def _live(self, now: float) -> int:
        db = self._ledger
        return sum(1 for worker in db.leases if db.alive(worker, now))

    def _mine(self) -> int:
        """This worker's jobs in flight."""
        return sum(1 for r in self._ledger.items.values()
                   if r.owner == self._worker_id and r.state in IN_FLIGHT)

    async def apply(self, row: LedgerItem, change: Change) -> LedgerItem:
        db, now = self._open(), self.clock()
        current = db.items.get(row.key)
        if current is None:
            raise IllegalTransitionError(row.key, None, change.move.target or ItemState.PENDING)
        fence = db.next_fence() if change.move.takes_ownership else None
        return self._write(current, change, now, new_fence=fence, fence=row.fence).item

    async def end_and_claim(
        self, row: LedgerItem, change: Change, *, reserved: Sequence[str] = ()
    ) -> tuple[LedgerItem, list[LedgerItem]]:
        ended = await self.apply(row, change)  # awaits nothing: one step with the claim
        return ended, self._claim_now(1, None, within_share=True, reserved=reserved)

    def _write(
        self, row: LedgerItem, change: Change, now: float, *, new_fence: int | None,
        fence: int | None = None,
    ) -> Advanced:
        done = advance(row, change, worker=self._worker_id, fence=fence, now=now,
                       new_fence=new_fence)
        if not isinstance(done, Advanced):
            raise done.error()
        self._ledger.items[row.key] = done.item
        if done.wakes:
            self._ledger.wake()
        return done

    async def adopt(self) -> list[LedgerItem]:
        db, now = self._open(), self.clock()
        for worker, (until, _) in list(db.leases.items()):
            if worker != self._worker_id and (until <= now or not self._shared):
                del db.leases[worker]
        taken = []
        for row in sorted(db.items.values(), key=lambda r: r.key):
            if row.owner == self._worker_id or db.alive(row.owner, now):
                continue
            if row.state in UNFINISHED:
                done = self._write(row, adopted(), now, new_fence=db.next_fence())
                taken.append(done.item)
            elif row.state is ItemState.PENDING and row.owner is not None:
                self._write(row, lapsed(), now, new_fence=None)
        return taken

    async def on_rejected(self, cooldown: float) -> None:
        account = self._open().account
        if account is None:
            return
        if account.since_decrease > 0:
            account.limit = max(1, account.limit // 2)
        account.since_decrease = account.successes = 0
        account.cooldown_until = max(account.cooldown_until, self.clock() + cooldown)
        self._ledger.wake()

    async def on_accepted(self) -> None:
        account = self._open().account
        if account is None:
            return
        account.successes += 1
        if account.successes >= 2:
            account.successes = 0
            if account.limit < account.max_limit:
                account.limit += 1
                self._ledger.wake()

    def _count(self, states: frozenset[ItemState]) -> int:
        return sum(1 for row in self._ledger.items.values() if row.state in states)

    async def in_flight(self) -> int:
        self._open()
        return self._count(IN_FLIGHT)

    async def unfinished_elsewhere(self) -> int:
        db, me = self._open(), self._worker_id
        since = 0.0 if db.account is None else db.account.run_started
        return sum(
            1 for row in db.items.values()
            if _wanted(row, since) or (row.state in UNFINISHED and row.owner != me)
        )

    async def wait_changed(self, timeout: float) -> None:
        self._open()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout)
        self._changed.clear()

    async def get_meta(self, name: str) -> str | None:
        return self._open().meta.get(name)

    async def set_meta(self, name: str, value: str) -> None:
        if name == "schema_version":
            raise ValidationError("name", "schema_version belongs to the ledger")
        self._open().meta[name] = value

    async def meta_default(self, name: str, value: str) -> str:
        if name == "schema_version":
            raise ValidationError("name", "schema_version belongs to the ledger")
        return self._open().meta.setdefault(name, value)

    async def counts(self) -> dict[str, int]:
        counts = {state.value: 0 for state in ItemState}
        for row in self._open().items.values():
            counts[row.state.value] += 1
        return counts

    async def items(self, state: ItemState | None = None) -> AsyncIterator[LedgerItem]:
        wanted = None if state is None else ItemState(state)
        for key in sorted(self._open().items):
            row = self._ledger.items.get(key)
            if row is not None and (wanted is None or row.state is wanted):
                yield row

    async def aclose(self) -> None:
        self._closed = True


def _wanted(row: LedgerItem, since: float) -> bool:
    """A pending item an input of this run named (or that went back to pending in it)."""
    return row.state is ItemState.PENDING and row.updated_at >= since
