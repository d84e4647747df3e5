"""What the batch engine needs from a ledger: an async store of items, and, to share a batch
between workers, the coordination of a shared backlog and the account's job slots.

Two implementations:

* :class:`~symbl_async.batch._sqlite_store.SqliteStore`: the embedded default, the SQLite
  :class:`~symbl_async.batch._ledger.Ledger` with its calls run on one thread of their own
  (off the event loop: each commit fsyncs). One process at a time (a lock file).
* :class:`~symbl_async.batch._pg_store.PostgresStore` (``pip install
  'symbl_async[postgres]'``, a ``postgresql://`` ledger URL): many workers on many machines
  share one batch and one account. It is also a :class:`SharedStore`.

Every transition obeys the state machine drawn in :mod:`symbl_async.batch._ledger` (the same
``ALLOWED_FROM`` table of :mod:`symbl_async.batch._records`), with the same errors:
:class:`~symbl_async.errors.IllegalTransitionError`,
:class:`~symbl_async.errors.LedgerError` when the database fails,
:class:`~symbl_async.errors.ClientClosedError` after :meth:`ItemStore.aclose`.

Shared batches (:class:`SharedStore`)
-------------------------------------
* A **slot belongs to a remote job**, not to a worker: the jobs in flight are the items in
  ``submitting``, ``unknown`` or ``submitted`` (:data:`IN_FLIGHT`), whoever owns them, alive
  or dead. The count comes from that durable state, never from a lease.
* :meth:`SharedStore.claim` is the only way in: one transaction locks the account row, counts
  the jobs in flight, and, when one is free (and no 429 cooldown runs), moves the longest
  pending candidate to ``submitting`` under the caller's ownership with a new fencing token.
  (A single ``UPDATE ... WITH`` claim, without the lock, was measured admitting 57 jobs into
  50 slots under concurrency.)
* Each item in a worker's hands carries ``owner`` (the worker id) and ``fence`` (a number
  that only grows, database-wide). A transition made by a shared store checks both, so a
  worker that was paused past its lease and comes back gets
  :class:`~symbl_async.errors.LeaseLostError` instead of overwriting newer state.
* Workers keep a lease (:meth:`SharedStore.heartbeat`); the items of a worker whose lease ran
  out are taken over by :meth:`SharedStore.adopt` (new owner, new fence) and finished:
  looked up by name, waited for, fetched; never submitted again without the lookup.
* The 429-adaptive limit (AIMD) and its cooldown live in the account row
  (:meth:`SharedStore.on_rejected`, :meth:`SharedStore.on_accepted`): one worker's 429 slows
  them all.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from typing import NamedTuple, Protocol, runtime_checkable

from symbl_async.batch._records import ItemState, LedgerItem

__all__ = ["IN_FLIGHT", "ItemStore", "Pending", "SharedStore"]

IN_FLIGHT = frozenset({ItemState.SUBMITTING, ItemState.UNKNOWN, ItemState.SUBMITTED})
"""The states whose item holds one of the account's job slots (its job may be running)."""


class Pending(NamedTuple):
    """A new item for :meth:`SharedStore.add_pending`."""

    key: str
    source: str
    name: str
    duration: float | None
    spec: str


@runtime_checkable
class ItemStore(Protocol):
    """The ledger as the engine uses it: the :class:`~symbl_async.batch._ledger.Ledger`
    methods, awaited. See that class for each method's contract."""

    @property
    def location(self) -> str:
        """Where the ledger is, for messages: a path, or a URL without its password."""

    async def get(self, key: str) -> LedgerItem | None: ...

    async def upsert_pending(
        self, key: str, source_repr: str, name: str, duration: float | None = None,
        spec: str | None = None,
    ) -> LedgerItem:
        """As :meth:`Ledger.upsert_pending`; ``spec``: the item's submit, as JSON, so that
        another worker can send it (kept by shared stores, ignored by SQLite)."""

    async def mark_submitting(self, key: str, name: str | None = None) -> LedgerItem: ...

    async def mark_unknown(
        self, key: str, reason: str | BaseException = "no answer"
    ) -> LedgerItem: ...

    async def reopen(self, key: str) -> LedgerItem: ...

    async def mark_submitted(
        self, key: str, job_id: str | None, conversation_id: str | None
    ) -> LedgerItem: ...

    async def mark_completed(self, key: str) -> LedgerItem: ...

    async def mark_fetched(
        self, key: str, output_path: str | os.PathLike[str] | None
    ) -> LedgerItem: ...

    async def mark_failed(self, key: str, error: str | BaseException) -> LedgerItem: ...

    async def reset_for_retry(self, key: str) -> LedgerItem: ...

    async def learn_job_id(self, key: str, job_id: str) -> LedgerItem: ...

    async def get_meta(self, name: str) -> str | None: ...

    async def set_meta(self, name: str, value: str) -> None: ...

    async def counts(self) -> dict[str, int]: ...

    def items(self, state: ItemState | str | None = None) -> AsyncIterator[LedgerItem]:
        """Items in key order (optionally of one state), read in pages."""

    async def aclose(self) -> None:
        """Close (idempotent)."""


@runtime_checkable
class SharedStore(ItemStore, Protocol):
    """A store several workers share; see the module docstring."""

    @property
    def worker_id(self) -> str:
        """This worker's id (unique per process and run)."""

    async def add_pending(self, items: Sequence[Pending]) -> list[LedgerItem]:
        """Record many new items ``pending`` at once (existing ones are left as they are);
        every item as stored."""

    async def join(self, *, max_limit: int, lease: float) -> None:
        """Register this worker with a lease of ``lease`` seconds; create the account row
        (effective limit ``max_limit``) if missing, else set its ceiling to ``max_limit``."""

    async def heartbeat(self) -> bool:
        """Renew the lease. False when this worker was declared dead (its lease ran out and
        another adopted its items): it must stop touching them."""

    async def leave(self) -> None:
        """End the lease now, so another worker adopts what this one leaves in flight."""

    async def claim(
        self, candidates: Collection[str] | None, name_for: Callable[[LedgerItem], str]
    ) -> LedgerItem | None:
        """Take one job slot and one item, atomically; see the module docstring.

        Args:
            candidates: keys this worker may submit (pending ones are taken longest first;
                keys that are not pending are skipped); None: the whole backlog.
            name_for: the attempt name for a row (called inside the transaction).

        Returns:
            The item, now ``submitting``, owned by this worker; None when every slot is
            taken, a 429 cooldown runs, or no candidate is pending.
        """

    async def claim_many(
        self, most: int, name_for: Callable[[LedgerItem], str]
    ) -> list[LedgerItem]:
        """:meth:`claim` for up to ``most`` items of the whole backlog in one transaction
        (a burst of freed slots refilled at once), longest first."""

    async def adopt(self) -> list[LedgerItem]:
        """Take over the unfinished items (``submitting``, ``unknown``, ``submitted``,
        ``completed``) of workers whose lease ran out (or of none: a non-shared run's)."""

    async def on_rejected(self, cooldown: float) -> None:
        """A submit got 429: lower the account's effective limit (once per burst) and hold
        every worker's claims for ``cooldown`` seconds."""

    async def on_accepted(self) -> None:
        """A submit was accepted: raise the effective limit additively, up to the ceiling."""

    async def unfinished_elsewhere(self) -> int:
        """Items pending, or unfinished (``submitting``, ``unknown``, ``submitted``,
        ``completed``) in the hands of another worker or of none."""

    async def in_flight(self) -> int:
        """Jobs in flight on the account, summed over all workers (:data:`IN_FLIGHT`)."""

    async def wait_changed(self, timeout: float) -> None:
        """Return when a slot may have been freed or an item added (a notification from
        any worker), or after ``timeout`` seconds, whichever first."""
