"""A batch shared by several workers (processes, machines) through a :class:`SharedStore`.

What changes from a run that owns its ledger (:mod:`symbl_async.batch._run`):

* **Intake.** Every worker reads the same input; each new item is recorded ``pending`` with
  its submit (``spec``), so any worker can send it, and a ``queued`` event says so (a
  service answers its client then: the item is durable). Nothing is queued locally.
* **Dispatch.** A worker takes work only through :meth:`SharedStore.claim`: one of the
  account's job slots and the longest pending item of the whole backlog, in one transaction
  under the account row's lock. Slots are counted from the items in flight in the database,
  whoever owns them, so the workers together never exceed the account's limit, and a dead
  worker's jobs keep their slots until their end is seen.
* **Leases.** A worker renews its lease every third of it. Every half lease, and at start,
  it adopts the unfinished items of workers whose lease ran out (and a non-shared run's):
  an attempt without an answer is looked up by name (after the grace period) before any
  resend, a job is waited for by polling (its webhooks go to the dead worker's receiver), a
  completed job is fetched. A worker that finds its own lease gone (it was paused past it)
  stops: its items are someone else's, and the fencing tokens refuse its late writes.
* **The end.** A worker leaves once the input is read, its own items are done, and nothing
  is left that another worker could still drop: no pending item, nothing unfinished in
  another worker's hands. Until then it keeps adopting, so a worker that dies late is
  still covered. It gives its lease back on the way out. An input that never ends (a
  service's queue) keeps the worker in the batch until it is stopped.

Results: a worker yields the items it finished (with no input index: the backlog is
shared); the others' are in their results files and in the ledger.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from symbl_async.batch._delivery import Changes, Delivery
from symbl_async.batch._intake import Entry, Flow, InFlight, RunConfig
from symbl_async.batch._items import PreparedItem, item_from_spec, spec_of
from symbl_async.batch._names import attempt_name
from symbl_async.batch._records import ItemState, LedgerItem
from symbl_async.batch._slots import Slot
from symbl_async.batch._store import Pending, SharedStore
from symbl_async.errors import IllegalTransitionError, LeaseLostError, SymblError

__all__ = ["LEASE", "SharedRun"]

log = logging.getLogger("symbl_async.batch._api")

LEASE = 30.0
"""Seconds a worker's lease lasts without renewal: after that, others adopt its items."""
_IDLE_WAIT = 1.0
_CLAIM_GROUP = 64  # items claimed at most in one transaction
_FILL_WAIT = 2.0  # at most this long for the input to be read before the first claim
_ADD_GROUP = 500  # new items recorded per transaction
_ADD_DELAY = 0.05  # seconds a new item may wait for its group


class SharedRun:
    """The shared-batch parts of one worker's run; see the module docstring."""

    def __init__(
        self,
        *,
        store: SharedStore,
        config: RunConfig,
        flow: Flow,
        inflight: InFlight,
        changes: Changes,
        delivery: Delivery,
        start: Callable[[Entry, Slot], None],
        resume: Callable[[LedgerItem, int | None, str], None],
        abort: Callable[[BaseException], None],
        lease: float = LEASE,
    ) -> None:
        """Share the engine's parts; ``start``, ``resume`` and ``abort`` are the engine's."""
        self._store = store
        self._config = config
        self._flow = flow
        self._inflight = inflight
        self._changes = changes
        self._delivery = delivery
        self._start = start
        self._resume = resume
        self._abort = abort
        self._lease = lease
        self._tasks: list[asyncio.Task[None]] = []
        self._renewed = time.monotonic()  # the last renewal of this worker's lease
        self._buffer: list[Pending] = []
        self._flushing = asyncio.Lock()
        self._flush_timer: asyncio.TimerHandle | None = None
        self._flushes: set[asyncio.Task[None]] = set()

    async def begin(self) -> None:
        """Join the batch, adopt what dead workers left, start the lease and adoption loops."""
        await self._store.join(max_limit=self._config.slots.max_limit, lease=self._lease)
        self._renewed = time.monotonic()
        await self.adopt()
        self._tasks = [asyncio.create_task(self._keep_lease()),
                       asyncio.create_task(self._keep_adopting())]

    async def end(self) -> None:
        """Stop the loops and give the lease back (others adopt what is left in flight)."""
        if self._flush_timer is not None:
            self._flush_timer.cancel()
        tasks = [*self._tasks, *self._flushes]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(SymblError):
            await self._store.leave()

    # -- intake ------------------------------------------------------------------------

    async def admit(self, prepared: PreparedItem) -> None:
        """Record one input in the shared backlog, in groups: one transaction (and one
        wake-up of every worker) per group, not per item."""
        self._buffer.append(Pending(prepared.key, prepared.label, prepared.name,
                                    prepared.duration, spec_of(prepared)))
        if len(self._buffer) >= _ADD_GROUP:
            await self.flush()
        elif self._flush_timer is None:
            self._flush_timer = asyncio.get_running_loop().call_later(
                _ADD_DELAY, self._flush_later
            )

    def _flush_later(self) -> None:
        self._flush_timer = None
        task = asyncio.ensure_future(self._flush_or_abort())
        self._flushes.add(task)
        task.add_done_callback(self._flushes.discard)

    async def _flush_or_abort(self) -> None:
        try:
            await self.flush()
        except SymblError as exc:
            self._abort(exc)

    async def flush(self) -> None:
        """Record the buffered inputs (and take failed ones back with ``retry_failed``)."""
        async with self._flushing:
            items, self._buffer = self._buffer, []
            if not items:
                return
            rows = await self._store.add_pending(items)
        for item in items:
            # Durable now: a service may answer its client (any worker can take it from here).
            self._delivery.event("queued", key=item.key)
        self._changes.notify()
        if not self._config.retry_failed:
            return
        for row in rows:
            if row.state is not ItemState.FAILED:
                continue
            # Whoever comes first takes it back; the others then find it pending or done.
            with contextlib.suppress(IllegalTransitionError, LeaseLostError):
                row = await self._store.reset_for_retry(row.key)
                if row.state is ItemState.COMPLETED:
                    self._resume(row, None, row.source)

    # -- dispatch ----------------------------------------------------------------------

    async def dispatch(self) -> None:
        """Claim and start items until the shared backlog has nothing left for anyone."""
        cfg, flow = self._config, self._flow
        try:
            # Longest first from the first claim: let the input be read (bounded, in case
            # it is slow or endless) and recorded before choosing.
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(
                    self._changes.wait_for(lambda: flow.intake_done or flow.stopping),
                    _FILL_WAIT,
                )
            await self.flush()
            while not flow.stopping:
                await self._changes.wait_for(
                    lambda: flow.stopping or len(flow.live) < cfg.max_tasks
                )
                if flow.stopping:
                    return
                held = await self._local_slots()
                try:
                    rows = await self._store.claim_many(len(held), self._name_for)
                except BaseException:
                    for slot in held:
                        slot.release()
                    raise
                for row, slot in zip(rows, held[:len(rows)], strict=True):
                    self._start_claimed(row, slot)
                for slot in held[len(rows):]:
                    slot.release()
                if rows:
                    continue
                if flow.intake_done:
                    await self.flush()
                    if await self._nothing_left():
                        return
                await self._idle()
        except SymblError as exc:
            self._abort(exc)
        finally:
            flow.dispatch_done = True
            self._changes.notify()

    async def _local_slots(self) -> list[Slot]:
        """This worker's own slots for the next claim (its bound; the account's is the
        claim's): one, waited for, then as many more as are free at once, so a burst of
        ended jobs is refilled by one claim."""
        cfg, slots = self._config, self._config.slots
        await slots.acquire()
        held = [Slot(slots, held=True)]
        while (len(held) < _CLAIM_GROUP and slots.waiting == 0 and slots.in_use < slots.limit
               and len(self._flow.live) + len(held) < cfg.max_tasks):
            await slots.acquire()  # free: returns at once
            held.append(Slot(slots, held=True))
        return held

    @staticmethod
    def _name_for(row: LedgerItem) -> str:
        return attempt_name(row.name, row.attempts + 1)

    def _start_claimed(self, row: LedgerItem, slot: Slot) -> None:
        if row.spec is None:
            log.error("item %s has no submit recorded; it cannot be sent", row.key)
            slot.release()
            return
        self._start(self._entry(row, fresh=True), slot)

    def _entry(self, row: LedgerItem, *, fresh: bool) -> Entry:
        """This worker's entry for a claimed or adopted row, its submit rebuilt from the
        row's ``spec`` (any worker may have recorded it)."""
        item = None if row.spec is None else item_from_spec(row.spec)
        future = asyncio.get_running_loop().create_future()
        # No input index: any worker may finish any item of the shared backlog.
        entry = Entry(key=row.key, label=row.source, index=None, future=future, claimed=True,
                      item=item, row=row, fresh=fresh)
        self._inflight.entries[row.key] = entry
        return entry

    async def _nothing_left(self) -> bool:
        """Whether no item is pending and none is unfinished in another worker's hands
        (one that may still die and leave it to us)."""
        return await self._store.unfinished_elsewhere() == 0

    async def _idle(self) -> None:
        """Wait for a slot or an item to appear (any worker's notification), bounded."""
        waiter = asyncio.ensure_future(self._store.wait_changed(_IDLE_WAIT))
        local = asyncio.ensure_future(self._changes.wait_for(lambda: self._flow.stopping))
        try:
            await asyncio.wait({waiter, local}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (waiter, local):
                task.cancel()
            await asyncio.gather(waiter, local, return_exceptions=True)

    # -- leases and adoption -------------------------------------------------------------

    async def adopt(self) -> None:
        """Take over the unfinished items of workers whose lease ran out, and finish them."""
        for row in await self._store.adopt():
            if row.key in self._inflight.entries:
                continue
            log.warning("adopting %s (%s) from a worker that is gone", row.source,
                        row.state.value)
            if row.state in (ItemState.SUBMITTED, ItemState.COMPLETED):
                self._resume(row, None, row.source)
                continue
            # submitting or unknown: the worker's item task looks it up by name, after the
            # grace period, before any resend.
            self._start(self._entry(row, fresh=False), Slot(self._config.slots, held=False))
        self._changes.notify()

    async def may_send(self) -> bool:
        """Whether this worker may still send a submit: its lease was renewed lately, or is
        renewed now. A worker paused past its lease must not send what a claim gave it
        (the adopter looks the attempt up by name and may send it again)."""
        deadline = time.monotonic() + self._lease
        while time.monotonic() - self._renewed >= self._lease / 2:
            try:
                alive = await self._store.heartbeat()
            except SymblError as exc:  # the database is away: retry within one lease
                if time.monotonic() >= deadline:
                    log.warning("cannot renew this worker's lease: %s", exc)
                    return False
                await asyncio.sleep(min(1.0, self._lease / 10))
                continue
            if alive:
                self._renewed = time.monotonic()
            return alive
        return True

    async def _keep_lease(self) -> None:
        while True:
            await asyncio.sleep(self._lease / 3)
            try:
                alive = await self._store.heartbeat()
            except SymblError as exc:
                log.warning("cannot renew this worker's lease yet: %s", exc)
                continue
            if alive:
                self._renewed = time.monotonic()
            else:
                self._abort(LeaseLostError(
                    None, "this worker's lease ran out (was it paused?) and other workers "
                    "adopted its items; it stops. Run it again to rejoin the batch"))
                return

    async def _keep_adopting(self) -> None:
        while True:
            await asyncio.sleep(self._lease / 2)
            try:
                await self.adopt()
            except SymblError as exc:
                log.warning("cannot adopt other workers' items yet: %s", exc)

