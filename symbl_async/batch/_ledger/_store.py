"""What the batch engine needs from a ledger: one contract, three stores.

* :class:`~symbl_async.batch._ledger._sqlite.SqliteStore`: the embedded default, one SQLite
  file; its calls run on a thread of their own (each commit fsyncs), grouped into one
  transaction when they queue up. One process at a time (the batch takes a lock file).
* :class:`~symbl_async.batch._ledger._postgres.PostgresStore` (``pip install
  'symbl_async[postgres]'``, a ``postgresql://`` URL): many workers on many machines share
  one batch and one account.
* :class:`~symbl_async.batch._ledger._memory.MemoryStore`: the same in a dict, for tests of
  the engine at full speed (several "workers" may share one).

Every store loads an item, calls :func:`~symbl_async.batch._ledger._states.advance` and
writes the result: the state machine, the fields each move sets and the owner/fencing rule
are written once there. One contract test suite (``tests/batch/test_store_contract.py``)
runs on all three.

The rules the stores keep together:

* **A slot belongs to a remote job**, not to a worker: the jobs in flight are the items in
  ``submitting``, ``unknown`` or ``submitted`` (:data:`~._states.IN_FLIGHT`), whoever owns
  them, alive or dead. The count comes from that durable state, never from a lease.
* :meth:`ItemStore.claim` is the only way from ``pending`` to ``submitting``: one
  transaction that locks the account, counts the jobs in flight and, while one is free (and
  no 429 cooldown runs), takes pending items, longest first (or the candidates given, in
  their order), under the caller's ownership with new fences.
  :meth:`ItemStore.end_and_claim` makes the same claim (of one item, within the worker's
  share) in the transaction that records a job's end.
* A pending item may be **reserved** (:meth:`ItemStore.reserve`): a shared batch's worker
  uploads its file ahead of a slot. Claims over the whole backlog leave reserved items;
  the reserving worker takes its own with ``reserved=`` first. Nothing is created remotely
  before a claim, so a reservation is only a promise of bandwidth.
* Workers keep a lease (:meth:`ItemStore.heartbeat`); the unfinished items of a worker whose
  lease ran out are taken over by :meth:`ItemStore.adopt` (new owner, new fence) and
  finished: looked up by name, waited for, fetched; never submitted again without a lookup.
  Its reservations lapse in the same pass (pending, nobody's again).
* The 429-adaptive limit (AIMD) and its cooldown live with the account: one worker's 429
  slows every worker (:meth:`ItemStore.on_rejected`, :meth:`ItemStore.on_accepted`).
* Times are the ledger's clock (:meth:`ItemStore.clock`): a shared ledger's database clock,
  so that workers whose machines disagree on the time still agree on leases and graces.

Errors: :class:`~symbl_async.errors.IllegalTransitionError` (the state forbids the move),
:class:`~symbl_async.errors.LeaseLostError` (the item, or the worker, is no longer the
caller's), :class:`~symbl_async.errors.LedgerError` (the database failed),
:class:`~symbl_async.errors.ClientClosedError` (after :meth:`ItemStore.aclose`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Protocol, runtime_checkable

from symbl_async.batch._ledger._states import Change, ItemState, LedgerItem, Pending
from symbl_async.errors import ValidationError

__all__ = ["ItemStore", "check_join", "fair_share", "longest_first_key"]


@runtime_checkable
class ItemStore(Protocol):
    """A batch ledger; see the module docstring."""

    @property
    def location(self) -> str:
        """Where the ledger is, for messages: a path, or a URL without its password."""

    @property
    def worker_id(self) -> str:
        """This worker's id (unique per process and run)."""

    @property
    def shared(self) -> bool:
        """Whether other workers may use the ledger at the same time (then the batch takes
        work from the whole backlog and keeps its lease renewed)."""

    def clock(self) -> float:
        """The ledger's time now (Unix seconds), as its writes stamp it."""

    async def join(self, *, max_limit: int, lease: float) -> float:
        """Register this worker with a lease of ``lease`` seconds and set the account's
        ceiling to ``max_limit`` (creating the account if missing).

        Returns:
            When the batch's run started (ledger time): now, unless other workers are alive
            in it (a worker joining late, or restarted, is part of their run).
        """

    async def heartbeat(self) -> bool:
        """Renew the lease. False when this worker was declared dead (its lease ran out and
        another adopted its items): it must stop touching them."""

    async def leave(self) -> None:
        """End the lease now, so that another worker adopts what this one leaves in flight,
        and give back this worker's reservations in the same step (``unreserved()``): one
        whose answer a stop cancelled (made, but never known to the run) would otherwise
        wait for the next adoption pass."""

    async def add_pending(self, items: Sequence[Pending]) -> list[LedgerItem]:
        """Record new items ``pending``; an input of this run names them. Existing items are
        left exactly as they are, but for the time of a pending one (``updated_at``: named
        again, it is wanted in this run: only such items are claimed).

        Returns:
            Every item as stored, in the order given.
        """

    async def get(self, key: str) -> LedgerItem | None:
        """The item with this key, or None."""

    async def get_many(
        self, keys: Sequence[str], *, held_or_done: bool = False
    ) -> list[LedgerItem]:
        """The items with these keys (absent ones left out), in no particular order.

        ``held_or_done``: only those done for this run (``RELEASED``) or owned by this
        worker: what a shared run asks about its inputs twice a second, while most of them
        are pending or in other workers' hands (rows it would read and drop)."""

    async def claim(
        self, most: int, candidates: Sequence[str] | None = None, *,
        within_share: bool = False, reserved: Sequence[str] = (),
    ) -> list[LedgerItem]:
        """Take up to ``most`` job slots and as many pending items, atomically.

        Only pending items an input of this run named (or that went back to pending in it:
        ``updated_at`` since the run started) are taken: what an earlier run left pending
        waits until an input names it again. Items another worker reserved are left.

        Args:
            most: how many at most (this worker's free local slots).
            candidates: keys this worker may take, in the order to take them (those not
                pending are skipped); None: the whole backlog, longest first.
            within_share: take nothing while this worker holds its share of the jobs in
                flight or more (:func:`fair_share`; :attr:`over_share` then says so).
            reserved: keys this worker reserved (:meth:`reserve`), taken first, in this
                order (those no longer pending in its hands are skipped).

        Returns:
            The items, now ``submitting`` (their first attempt's intent committed) and this
            worker's; fewer (or none) when the account's slots are taken, a 429 cooldown
            runs, or nothing is pending.
        """

    async def apply(self, row: LedgerItem, change: Change) -> LedgerItem:
        """Make one move of an item, committed before this returns.

        Args:
            row: the item as the caller last saw it: its key, and the fence the caller holds
                (``row.fence``; None for an item that is nobody's).
            change: the move (``claimed()``, ``submitted(...)``... of ``_states``).

        Returns:
            The item after the move.
        """

    @property
    def over_share(self) -> bool:
        """Whether the last claim made ``within_share`` took nothing because this worker
        held its share or more while the account had room."""

    @property
    def share(self) -> int | None:
        """This worker's share (:func:`fair_share`) as last counted: by a claim made
        ``within_share`` that found the account with room (refills included), or by
        :meth:`reserve`; None before either. A worker holding more jobs than this does not
        refill its own freed slot, so it does not upload ahead of one."""

    async def end_and_claim(
        self, row: LedgerItem, change: Change, *, reserved: Sequence[str] = ()
    ) -> tuple[LedgerItem, list[LedgerItem]]:
        """Record a job's end and refill its slot in the same transaction.

        Makes the move (as :meth:`apply`; one that takes the item out of the jobs in
        flight: ``completed()``, ``failed(...)``), then claims as :meth:`claim` does over
        the whole backlog (``candidates`` None), one item at most, and only while this
        worker holds fewer jobs in flight than its share (:func:`fair_share`). A shared
        batch's worker refills the slot its job freed without a second transaction, and
        without waking the other workers for it; a worker that holds less than its share
        (one that joined late) gets the slots the others leave. ``reserved``: as for
        :meth:`claim`, taken before the backlog.

        Returns:
            The item after the move, and the claimed items (none or one).
        """

    async def next_pending(self) -> LedgerItem | None:
        """The item a claim over the whole backlog would take next (the longest pending
        item of this run that nobody reserved), without taking it; None if there is none."""

    async def reserve(self, key: str) -> LedgerItem | None:
        """Reserve a pending item of this run that nobody holds, for this worker's upload
        ahead of a slot (``reserved()``: it stays pending, in this worker's hands, with a
        new fence); None when it is not such an item (any more), or when this worker holds
        more jobs in flight than its share (:attr:`share`, counted afresh): its jobs' ends
        would not refill their slots, and the upload would wait for one in vain.

        Claims over the whole backlog leave it; this worker takes it with
        ``claim(..., reserved=[key])`` or gives it up with ``apply(row, unreserved())``;
        it lapses when this worker's lease runs out (:meth:`adopt`)."""

    async def adopt(self) -> list[LedgerItem]:
        """Take over the unfinished items (``submitting``, ``unknown``, ``submitted``,
        ``completed``) of workers whose lease ran out (or of none: a finished run's), and
        free their reservations (``lapsed()``: those items are not returned)."""

    async def on_rejected(self, cooldown: float) -> None:
        """A submit got 429: halve the account's effective limit (once per burst) and hold
        every worker's claims for ``cooldown`` seconds."""

    async def on_accepted(self) -> None:
        """A submit was accepted: raise the effective limit additively, up to the ceiling."""

    async def in_flight(self) -> int:
        """Jobs in flight on the account, over all workers."""

    async def unfinished_elsewhere(self) -> int:
        """Items pending in this run (as :meth:`claim` takes them), or unfinished in the
        hands of another worker or of none."""

    async def wait_changed(self, timeout: float) -> None:
        """Return when a slot may have been freed, an item added or finished (by any
        worker), or after ``timeout`` seconds, whichever first."""

    async def get_meta(self, name: str) -> str | None:
        """A value stored with the batch, or None."""

    async def set_meta(self, name: str, value: str) -> None:
        """Store a value with the batch (not ``schema_version``, which the ledger owns)."""

    async def meta_default(self, name: str, value: str) -> str:
        """Store ``value`` unless the batch has one under ``name`` already; return what is
        stored (atomically: workers starting together all get the same)."""

    async def counts(self) -> dict[str, int]:
        """The number of items in each state, every state present (zeros included)."""

    def items(self, state: ItemState | None = None) -> AsyncIterator[LedgerItem]:
        """Items in key order, optionally of one state, read in pages."""

    async def aclose(self) -> None:
        """Close (idempotent)."""


def check_join(max_limit: int, lease: float) -> None:
    """The arguments of :meth:`ItemStore.join`, checked the same way by every store."""
    if isinstance(max_limit, bool) or not isinstance(max_limit, int) or max_limit < 1:
        raise ValidationError("max_limit", "must be an integer >= 1")
    if isinstance(lease, bool) or not isinstance(lease, (int, float)) or not lease > 0:
        raise ValidationError("lease", "must be > 0 seconds")


def fair_share(limit: int, live_workers: int) -> int:
    """How many jobs in flight a worker may hold and still refill its own freed slot
    (:meth:`ItemStore.end_and_claim`): the account's limit over the live workers, rounded
    up. Past it, a freed slot is left to every worker's claim."""
    return -(-limit // max(live_workers, 1))


def longest_first_key(row: LedgerItem) -> tuple[bool, float, str]:
    """The order of claims over the whole backlog: duration descending, unknown last, then
    key (the database stores' ``ORDER BY duration DESC NULLS LAST, key``)."""
    return (row.duration is None, -(row.duration or 0.0), row.key)
