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
from collections.abc import Awaitable, Callable, Collection
from typing import Any, Literal, TypeAlias

import attrs

from symbl_async.batch._fetchgate import FetchGate
from symbl_async.batch._found import Finder, ended_now, learn_or_wait
from symbl_async.batch._items import PreparedItem, submit_item
from symbl_async.batch._ledger import ItemState, LedgerItem
from symbl_async.batch._names import attempt_name
from symbl_async.batch._protocol import FATAL, BatchClient
from symbl_async.batch._records import timings
from symbl_async.batch._results import BatchResult
from symbl_async.batch._slots import JobSlots, Slot
from symbl_async.batch._store import ItemStore, SharedStore
from symbl_async.batch._watchers import Watchers
from symbl_async.batch._writer import ResultWriter, with_ids
from symbl_async.core._jobs import Job
from symbl_async.errors import (
    ConcurrencyLimitError,
    JobFailedError,
    LeaseLostError,
    ResponseDecodeError,
    ServerError,
    SubmitOutcomeUnknownError,
    SymblConnectionError,
    SymblError,
)
from symbl_async.models._models import ConversationInsights

__all__ = ["FATAL", "ItemWorker", "Sending", "Step", "Stopped", "job_of"]

log = logging.getLogger("symbl_async.batch._api")

_MAX_UNKNOWN_SUBMITS = 3

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


def _not_created(exc: SymblError) -> bool:
    """Whether a failed submit certainly created no job (REFERENCE.md "Corrections").

    A 503 means the request was not handled; a :class:`SymblConnectionError` reaches us
    from a submit only when the body was never sent (after it, the transport raises
    :class:`SubmitOutcomeUnknownError`). 500, 502, 504 and lost answers may have made one.
    """
    if isinstance(exc, ServerError):
        return exc.status == 503
    return isinstance(exc, SymblConnectionError)


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
        ledger: ItemStore,
        slots: JobSlots,
        include: Collection[str],
        writer: ResultWriter | None,
        wait_timeout: float | None,
        wait_mode: str | None,
        lookup_grace: float | None,
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
        self._fetch_gate = FetchGate()
        self._account = ledger if isinstance(ledger, SharedStore) else None
        self.may_send: Callable[[], Awaitable[bool]] | None = None
        """A shared batch's check that this worker still holds its lease."""
        self.finder = Finder(client=client, ledger=ledger, slots=slots, grace=lookup_grace,
                             counts=counts, on_event=on_event)
        self.given_up: set[str] = set()
        """Keys this run left in flight (wait timeouts, unknown submit outcomes)."""
        self._watchers = Watchers(client, ledger)
        self.watchers = self._watchers.tasks
        """Background pollers keeping the slots of jobs whose wait timed out."""
        self.poll_inherited = False
        """Wait for an earlier run's jobs by polling (their webhooks go to another token)."""

    async def process(
        self,
        item: PreparedItem | None,
        row: LedgerItem | None,
        *,
        slot: Slot,
        sending: Sending,
        fresh: bool = False,
    ) -> BatchResult:
        """One item, top to bottom: submit (or settle an earlier attempt), wait, fetch.

        The result has no index yet: the engine gives it the input's.

        Args:
            item: the prepared input; None to resume a ``row`` left ``submitted`` or
                ``completed`` by an earlier run.
            row: the item's ledger row, when it has one.
            slot: the account slot the item holds (or will take, when resuming a job).
            sending: set while the submit request is on the wire.
            fresh: ``row`` was just claimed from a shared store: its intent (``submitting``,
                with this attempt's name) is committed and nothing was sent yet.

        Raises:
            Stopped: the run is stopping; the ledger keeps the item where it is.
        """
        step: Step
        inherited = row is not None and row.state is ItemState.SUBMITTED
        if row is None or row.state in (ItemState.PENDING, ItemState.SUBMITTING,
                                        ItemState.UNKNOWN):
            assert item is not None
            if not slot.held:  # adopted from a worker that is gone
                await slot.acquire()
            step = await self._submit(item, slot, sending, claimed=row if fresh else None)
            if isinstance(step, BatchResult):
                return step
            row = step
        elif row.state is ItemState.SUBMITTED and not slot.held:
            await slot.acquire()  # a resumed job holds an account slot until it ends
        if row.state is ItemState.SUBMITTED:
            step = await self._wait(row, slot, inherited=inherited)
            if isinstance(step, BatchResult):
                return step
            row = step
        return await self._fetch(row)

    async def failure(
        self, key: str, label: str, error: str, cause: BaseException | None
    ) -> BatchResult:
        """A failed result, with the ids and times the ledger knows."""
        row = await self._db.get(key)
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
        self, item: PreparedItem, slot: Slot, sending: Sending, *,
        claimed: LedgerItem | None = None,
    ) -> Step:
        """Submit until the service takes the job, a lookup finds it, or it is refused.

        The rule: an attempt that may have created a job (left ``submitting`` by a crash, or
        ``unknown``: sent without an answer) is never followed by another before a lookup
        has shown, after the grace period, that it created none. Each attempt carries its own
        name, recorded before it is sent.
        """
        # Long on purpose: the exactly-once rule is this one loop, each submit outcome next
        # to the ledger move it makes; split up, the rule would scatter again (issue 7).
        key, label = item.key, item.label
        if claimed is None:
            row = await self._db.upsert_pending(key, label, item.name, item.duration)
            maybe_created = row.state in (ItemState.SUBMITTING, ItemState.UNKNOWN)
        else:
            row, maybe_created = claimed, False
        unknown = refused = 0
        while True:
            if maybe_created:
                found = await self.finder.resolve(row)
                if found is not None:
                    return found
                if unknown >= _MAX_UNKNOWN_SUBMITS:
                    self.given_up.add(key)
                    error = (
                        f"{unknown} submits got no answer (the last: {row.error or 'lost'}); "
                        "none created a job (looked up by name after the grace period). The "
                        "item is left 'unknown' in the ledger: a rerun submits it again"
                    )
                    return await self.failure(key, label, error, None)
            if self._stopping():
                raise Stopped
            # From the intent until the outcome is recorded, stop() lets the item be: the
            # ledger's writes run on a thread, and a cancel while one runs would leave the
            # intent committed without its submit (or a created job recorded as unsent).
            sending.active = True
            if claimed is not None:  # the claim committed this attempt's intent
                row, claimed = claimed, None
            else:
                # The intent and this attempt's own name, committed before the submit.
                row = await self._db.mark_submitting(
                    key, attempt_name(item.name, row.attempts + 1)
                )
            self._counts["submits"] += 1
            if self.may_send is not None and not await self.may_send():
                raise LeaseLostError(key, "this worker's lease ran out before the submit")
            try:
                with self._fetch_gate.submitting():
                    job = await submit_item(self._client, item, row.name)
            except ConcurrencyLimitError:
                sending.active = False
                maybe_created = False
                slot.rejected()
                if self._account is not None:  # one worker's 429 slows every worker
                    await self._account.on_rejected(self._slots.backoff_bound())
                self._on_event("rejected", key)
                if self._stopping():
                    raise Stopped from None
                await self._slots.wait_after_rejection()
                await slot.acquire()
                continue
            except (SubmitOutcomeUnknownError, ServerError, SymblConnectionError,
                    ResponseDecodeError) as exc:
                sending.active = False
                if _not_created(exc):
                    # 503 (not handled) or a connection that never opened: nothing exists,
                    # resend later; never a failure.
                    maybe_created = False
                    refused += 1
                    log.info("submit of %s not taken (%s); sending it again later", label, exc)
                    slot.release()
                    await asyncio.sleep(random.uniform(0, self._slots.backoff_for(refused)))
                    await slot.acquire()
                    continue
                # 500, 502, 504, a lost answer, a 2xx without a job id: the job may exist.
                # A durable state, not a failure.
                log.warning("submit of %s: outcome unknown (%s); will look it up", label, exc)
                row = await self._db.mark_unknown(key, exc)
                sending.active = False
                maybe_created, unknown = True, unknown + 1
                continue
            except FATAL:
                raise
            except SymblError as exc:
                # The service refused it (400, 403, 413...): the submit created no job.
                slot.release()
                await self._db.mark_failed(key, exc)
                sending.active = False
                return await self.failure(key, label, str(exc), exc)
            self._slots.on_accepted()
            row = await self._db.mark_submitted(key, job.job_id, job.conversation_id)
            if self._account is not None:
                await self._account.on_accepted()
            sending.active = False
            self._counts["jobs_created"] += 1
            self._on_event("submitted", key)
            if self._stopping():
                raise Stopped
            return row

    async def _wait(self, row: LedgerItem, slot: Slot, *, inherited: bool) -> Step:
        """Wait until the job ends; record it; release the slot (or hand it to a watcher).

        A job this run did not submit (``inherited``, or its id learned from a webhook) is
        asked about once first: its webhooks may have gone to a receiver that is gone.
        """
        key, label = row.key, row.source
        if row.job_id is None:
            step = await learn_or_wait(
                self._client, self._db, row, slot,
                wait_timeout=self._wait_timeout, failure=self.failure, hold=self._watchers.hold,
            )
            if isinstance(step, BatchResult):
                self.given_up.add(key)
            if isinstance(step, BatchResult) or step.state is not ItemState.SUBMITTED:
                return step
            row, inherited = step, True  # its job id came from a webhook: confirm it
        job = job_of(row)
        kwargs: dict[str, Any] = {"timeout": self._wait_timeout}
        if self._wait_mode is not None:
            kwargs["mode"] = self._wait_mode
        if inherited and self.poll_inherited:
            kwargs["mode"] = "poll"
        try:
            if not (inherited and await ended_now(self._client, job)):
                await self._client.wait(job, **kwargs)
        except JobFailedError as exc:
            slot.release()
            await self._db.mark_failed(key, "the job ended 'failed' (the service gives no reason)")
            return await self.failure(key, label, f"{exc}; the service gives no reason", exc)
        except FATAL:
            raise
        except SymblError as exc:
            # WaitTimeoutError (the deadline; hiccups are retried inside it): the job may
            # still run and hold an account slot, so a watcher keeps the slot until it ends.
            self._watchers.watch(key, job, slot.transfer())
            self.given_up.add(key)
            error = (
                f"{exc}; it stays 'submitted' in the ledger: rerun to wait for it again "
                "(it will not be submitted again)"
            )
            return await self.failure(key, label, error, exc)
        slot.release()
        return await self._db.mark_completed(key)

    async def _fetch(self, row: LedgerItem) -> BatchResult:
        key, label = row.key, row.source
        conversation_id = row.conversation_id or ""
        insights: ConversationInsights | None = None
        data: dict[str, Any] = {}
        async with self._fetch_gate.fetching():  # after the refilling submits
            try:
                if self._writer is None:  # the caller gets the models
                    insights = await self._client.fetch_insights(
                        conversation_id, include=self._include
                    )
                else:  # only written to disk: no models (a quarter of the loop's CPU)
                    data = await self._client.fetch_insights_json(
                        conversation_id, include=self._include
                    )
            except FATAL:
                raise
            except SymblError as exc:
                await self._db.mark_failed(key, f"fetching insights failed: {exc}")
                error = (f"fetching insights failed: {exc} (retry_failed fetches again without "
                         "submitting)")
                return await self.failure(key, label, error, exc)
        path = None
        if insights is not None:
            insights = attrs.evolve(insights, job_id=row.job_id, conversation_id=conversation_id)
        elif self._writer is not None:
            data = with_ids(data, job_id=row.job_id, conversation_id=conversation_id)
            try:
                path = await asyncio.to_thread(self._writer.write_insights, key, data, label)
            except OSError as exc:
                await self._db.mark_failed(key, f"cannot write the insights: {exc}")
                return await self.failure(key, label, f"cannot write the insights: {exc}", exc)
        row = await self._db.mark_fetched(key, path)
        return BatchResult(
            key=key,
            index=None,
            source=label,
            status="fetched",
            job_id=row.job_id,
            conversation_id=row.conversation_id,
            insights=insights,
            output_path=path,
            timings=timings(row),
            recovered=row.job_id is None,
        )
