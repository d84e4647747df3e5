"""The life of one batch item: submit, wait, fetch, each step recorded in the ledger.

:meth:`ItemWorker.process` reads top to bottom: each step takes the item's ledger row and
returns either its next row or the item's final, failed :class:`BatchResult`; nothing jumps
through exceptions except the run's own stop (:class:`Stopped`) and the errors that stop the
whole run (:data:`FATAL`). Internal to :mod:`symbl_async.batch._api`, whose module docstring
explains the decisions (slots held until a job ends, 429s, unknown submit outcomes, lookups
by name, wait timeouts).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import random
import time
from collections.abc import Callable, Collection
from typing import Any, Literal, TypeAlias

import attrs

from symbl_async.batch._found import wait_for_messages
from symbl_async.batch._items import PreparedItem, submit_item
from symbl_async.batch._ledger import ItemState, Ledger, LedgerItem
from symbl_async.batch._protocol import FATAL, BatchClient
from symbl_async.batch._results import BatchResult
from symbl_async.batch._slots import JobSlots, Slot
from symbl_async.batch._writer import ResultWriter
from symbl_async.core._jobs import Job, JobStatus
from symbl_async.errors import (
    ConcurrencyLimitError,
    JobFailedError,
    NotFoundError,
    SubmitOutcomeUnknownError,
    SymblError,
)

__all__ = ["FATAL", "ItemWorker", "Sending", "Step", "Stopped", "job_of", "timings"]

log = logging.getLogger("symbl_async.batch._api")

_MAX_UNKNOWN_SUBMITS = 3
_LOOKUP_TRIES = 3

Step: TypeAlias = LedgerItem | BatchResult
"""What a step of an item gives: the item's row after it, or the item's final result."""


class Stopped(Exception):
    """The run is stopping: leave the item as the ledger has it."""


@attrs.define(eq=False)
class Sending:
    """Whether a submit request is on the wire (``stop()`` lets it settle)."""

    active: bool = False


def monotonic_of(unix_time: float | None) -> float:
    """Convert a ledger time (Unix seconds) to ``time.monotonic()``'s clock."""
    now = time.monotonic()
    if unix_time is None:
        return now
    return now - max(time.time() - unix_time, 0.0)


def timings(row: LedgerItem | None) -> dict[str, float]:
    """The Unix times a ledger row recorded: created, submitted, completed, fetched."""
    out: dict[str, float] = {}
    if row is not None:
        for name in ("created", "submitted", "completed", "fetched"):
            value = getattr(row, f"{name}_at")
            if value is not None:
                out[name] = value
    return out


def job_of(row: LedgerItem) -> Job:
    """The job a ``submitted`` row records, as the client's wait takes it."""
    assert row.job_id is not None
    return Job(
        job_id=row.job_id,
        conversation_id=row.conversation_id or "",
        name=row.name,
        media_duration=row.duration,
        submitted_at=monotonic_of(row.submitted_at),
    )


class ItemWorker:
    """Drives items through submit, wait and fetch, recording each step in the ledger."""

    def __init__(
        self,
        *,
        client: BatchClient,
        ledger: Ledger,
        slots: JobSlots,
        include: Collection[str],
        writer: ResultWriter | None,
        wait_timeout: float | None,
        wait_mode: str | None,
        counts: collections.Counter[str],
        on_event: Callable[[Literal["submitted", "rejected"], str], None],
        stopping: Callable[[], bool],
    ) -> None:
        """Share the run's client, ledger, slots, counters and stop flag."""
        self._client = client
        self._db = ledger
        self._slots = slots
        self._include = include
        self._writer = writer
        self._wait_timeout = wait_timeout
        self._wait_mode = wait_mode
        self._counts = counts
        self._on_event = on_event
        self._stopping = stopping
        self._fetch_sem = asyncio.Semaphore(max(4, slots.max_limit))
        self.given_up: set[str] = set()
        """Keys this run left in flight (wait timeouts, unknown submit outcomes)."""
        self.watchers: set[asyncio.Task[None]] = set()
        """Background pollers keeping the slots of jobs whose wait timed out."""

    async def process(
        self,
        item: PreparedItem | None,
        row: LedgerItem | None,
        *,
        lookup_first: bool,
        slot: Slot,
        sending: Sending,
    ) -> BatchResult:
        """One item, top to bottom: (look up,) submit, wait, fetch; the result has no index.

        Args:
            item: the prepared input; None to resume a ``row`` left ``submitted`` or
                ``completed`` by an earlier run.
            row: the item's ledger row, when it has one.
            lookup_first: the item was left ``submitting``: look its name up first.
            slot: the account slot the item holds (or will take, when resuming a job).
            sending: set while the submit request is on the wire.

        Raises:
            Stopped: the run is stopping; the ledger keeps the item where it is.
        """
        step: Step
        if row is None or row.state in (ItemState.PENDING, ItemState.SUBMITTING):
            assert item is not None
            step = await self._submit(item, lookup_first, slot, sending)
            if isinstance(step, BatchResult):
                return step
            row = step
        elif row.state is ItemState.SUBMITTED and not slot.held:
            await slot.acquire()  # a resumed job holds an account slot until it ends
        if row.state is ItemState.SUBMITTED:
            step = await self._wait(row, slot)
            if isinstance(step, BatchResult):
                return step
            row = step
        return await self._fetch(row)

    def failure(self, key: str, label: str, error: str, cause: BaseException | None) -> BatchResult:
        """A failed result, with the ids and times the ledger knows."""
        row = self._db.get(key)
        return BatchResult(
            key=key,
            index=None,
            source=label,
            status="failed",
            job_id=None if row is None else row.job_id,
            conversation_id=None if row is None else row.conversation_id,
            error=error,
            exception=cause,
            timings=timings(row),
        )

    async def _submit(
        self, item: PreparedItem, lookup_first: bool, slot: Slot, sending: Sending
    ) -> Step:
        """Submit until the service takes the job (or a lookup finds it); or fail."""
        key, label = item.key, item.label
        self._db.upsert_pending(key, label, item.name, item.duration)
        if lookup_first:
            found = await self._find(key, label, item.name)
            if found is not None:
                return found
        unknown = 0
        while True:
            if self._stopping():
                raise Stopped
            self._db.mark_submitting(key)  # the intent, committed before the submit
            self._counts["submits"] += 1
            sending.active = True
            try:
                job = await submit_item(self._client, item)
            except ConcurrencyLimitError:
                sending.active = False
                slot.rejected()
                self._on_event("rejected", key)
                if self._stopping():
                    raise Stopped from None
                await self._slots.wait_after_rejection()
                await slot.acquire()
                continue
            except SubmitOutcomeUnknownError as exc:
                sending.active = False
                unknown += 1
                log.warning("submit of %s: outcome unknown (%s); looking it up", label, exc)
                found = await self._find(key, label, item.name)
                if found is not None:
                    return found
                if unknown >= _MAX_UNKNOWN_SUBMITS or self._stopping():
                    self.given_up.add(key)
                    error = (
                        f"{exc} The submit's outcome stayed unknown {unknown} time(s) and its "
                        f"name {item.name} was not found: the item is left 'submitting' in "
                        "the ledger, and a rerun looks it up again before submitting it"
                    )
                    return self.failure(key, label, error, exc)
                await asyncio.sleep(random.uniform(0, self._slots.backoff_bound()))
                continue
            except FATAL:
                raise
            except SymblError as exc:
                # An error answer: the submit created no job.
                slot.release()
                self._db.mark_failed(key, exc)
                return self.failure(key, label, str(exc), exc)
            finally:
                sending.active = False
            self._slots.on_accepted()
            row = self._db.mark_submitted(key, job.job_id, job.conversation_id)
            self._counts["jobs_created"] += 1
            self._on_event("submitted", key)
            if self._stopping():
                raise Stopped
            return row

    async def lookup(self, name: str) -> str | SymblError | None:
        """The id of the conversation a submit named ``name`` created, None if there is none,
        or the last error when the service could not be asked (after a few tries)."""
        last: SymblError | None = None
        for attempt in range(_LOOKUP_TRIES):
            if attempt:
                await asyncio.sleep(random.uniform(0, self._slots.backoff_bound()))
            try:
                found = await self._client.conversations.list(name=name)
            except FATAL:
                raise
            except SymblError as exc:
                last = exc
                continue
            self._counts["lookups"] += 1
            return found[0].id if found else None
        assert last is not None
        return last

    def lookup_failure(self, key: str, label: str, name: str, exc: SymblError) -> BatchResult:
        """The result of an item whose name could not be looked up; a rerun tries again."""
        self.given_up.add(key)
        error = (
            f"cannot look up the submit named {name} ({exc}); it is left 'submitting' in "
            "the ledger and a rerun looks it up again before submitting it"
        )
        return self.failure(key, label, error, exc)

    async def _find(self, key: str, label: str, name: str) -> Step | None:
        """Look the submit up by name: its row once recorded, None when not found."""
        found = await self.lookup(name)
        if isinstance(found, SymblError):
            return self.lookup_failure(key, label, name, found)
        if found is None:
            return None
        return self.found(key, name, found)

    def found(self, key: str, name: str, conversation_id: str) -> LedgerItem:
        """Record a submit found by name (no job id: the list does not give one)."""
        row = self._db.mark_submitted(key, None, conversation_id)
        self._counts["found_by_name"] += 1
        self._on_event("submitted", key)
        log.info("found the submit named %s: conversation %s", name, conversation_id)
        return row

    async def _wait(self, row: LedgerItem, slot: Slot) -> Step:
        """Wait until the job ends; record it; release the slot (or hand it to a watcher)."""
        key, label = row.key, row.source
        if row.job_id is None:
            return await wait_for_messages(
                self._client, self._db, row, slot,
                wait_timeout=self._wait_timeout, failure=self.failure,
            )
        job = job_of(row)
        kwargs: dict[str, Any] = {"timeout": self._wait_timeout}
        if self._wait_mode is not None:
            kwargs["mode"] = self._wait_mode
        try:
            await self._client.wait(job, **kwargs)
        except JobFailedError as exc:
            slot.release()
            self._db.mark_failed(key, "the job ended 'failed' (the service gives no reason)")
            return self.failure(key, label, f"{exc}; the service gives no reason", exc)
        except NotFoundError as exc:
            slot.release()
            self._db.mark_failed(key, exc)
            return self.failure(key, label, f"the service does not know job {job.job_id}: {exc}",
                                exc)
        except FATAL:
            raise
        except SymblError as exc:
            # WaitTimeoutError, or the service stopped answering: the job may still run and
            # hold an account slot, so a watcher keeps the slot until the job ends.
            self._watch(key, job, slot.transfer())
            self.given_up.add(key)
            error = (
                f"{exc}; it stays 'submitted' in the ledger: rerun to wait for it again "
                "(it will not be submitted again)"
            )
            return self.failure(key, label, error, exc)
        slot.release()
        return self._db.mark_completed(key)

    def _watch(self, key: str, job: Job, slot: Slot) -> None:
        task = asyncio.create_task(self._watcher(key, job, slot))
        self.watchers.add(task)
        task.add_done_callback(self.watchers.discard)

    async def _watcher(self, key: str, job: Job, slot: Slot) -> None:
        poll = self._client.poll
        interval = poll.max_interval / poll.time_scale
        try:
            while True:
                await asyncio.sleep(interval * random.uniform(0.9, 1.1))
                try:
                    info = await self._client.get_job(job.job_id)
                except NotFoundError as exc:
                    self._db.mark_failed(key, exc)
                    return
                except FATAL:
                    return
                except SymblError:
                    continue
                if info.status is JobStatus.COMPLETED:
                    self._db.mark_completed(key)
                    return
                if info.status is JobStatus.FAILED:
                    self._db.mark_failed(key, "the job ended 'failed' (no reason given)")
                    return
        finally:
            slot.release()

    async def _fetch(self, row: LedgerItem) -> BatchResult:
        key, label = row.key, row.source
        conversation_id = row.conversation_id or ""
        async with self._fetch_sem:
            try:
                insights = await self._client.fetch_insights(
                    conversation_id, include=self._include
                )
            except FATAL:
                raise
            except SymblError as exc:
                self._db.mark_failed(key, f"fetching insights failed: {exc}")
                error = (f"fetching insights failed: {exc} (retry_failed fetches again without "
                         "submitting)")
                return self.failure(key, label, error, exc)
        insights = attrs.evolve(insights, job_id=row.job_id, conversation_id=conversation_id)
        path = None
        if self._writer is not None:
            try:
                path = await asyncio.to_thread(self._writer.write_insights, key, insights)
            except OSError as exc:
                self._db.mark_failed(key, f"cannot write the insights: {exc}")
                return self.failure(key, label, f"cannot write the insights: {exc}", exc)
        row = self._db.mark_fetched(key, path)
        return BatchResult(
            key=key,
            index=None,
            source=label,
            status="fetched",
            job_id=row.job_id,
            conversation_id=row.conversation_id,
            insights=insights if self._writer is None else None,
            output_path=path,
            timings=timings(row),
        )
