"""The life of one batch item: submit, wait, fetch, each step recorded in the ledger.

Internal to :mod:`symbl_async.batch._api`, whose module docstring explains the decisions (slots
held until a job ends, 429s, unknown submit outcomes, lookups by name, wait timeouts).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import random
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any, Literal

import attrs

from symbl_async.batch._items import PreparedItem, submit_item
from symbl_async.batch._ledger import ItemState, Ledger, LedgerError, LedgerItem
from symbl_async.batch._results import ResultStatus, ResultWriter
from symbl_async.batch._slots import JobSlots
from symbl_async.client._client import SymblClient
from symbl_async.client._waiting import wake_times
from symbl_async.core._jobs import Job, JobStatus
from symbl_async.errors import (
    AuthenticationError,
    ClientClosedError,
    ConcurrencyLimitError,
    JobFailedError,
    NotFoundError,
    SubmitOutcomeUnknownError,
    SymblError,
)

__all__ = ["FATAL", "ItemFailed", "ItemWorker", "Outcome", "Sending", "Slot", "Stopped", "timings"]

log = logging.getLogger("symbl_async.batch._api")

MAX_MEDIA_SECONDS = 4 * 3600.0  # REFERENCE.md "Media limits"
_MAX_UNKNOWN_SUBMITS = 3
_LOOKUP_TRIES = 3
FATAL = (AuthenticationError, ClientClosedError, LedgerError)
"""Errors that stop the whole run: every other item would fail the same way."""


class Stopped(Exception):
    """The run is stopping: leave the item as the ledger has it."""


class ItemFailed(Exception):
    """The item failed; ``error`` says why and what to do next."""

    def __init__(self, error: str, cause: BaseException | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.cause = cause


@attrs.frozen(kw_only=True)
class Outcome:
    """What became of an item, shared by every input with its key."""

    status: ResultStatus
    job_id: str | None = None
    conversation_id: str | None = None
    error: str | None = None
    exception: BaseException | None = attrs.field(default=None, eq=False)
    insights: Any = None
    output_path: Path | None = None
    timings: dict[str, float] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class _JobRef:
    job_id: str | None  # None: found by name, only the conversation is known
    conversation_id: str
    name: str | None
    duration: float | None
    submitted_at: float  # time.monotonic()


@attrs.define(eq=False)
class Sending:
    """Whether a submit request is on the wire (``stop()`` lets it settle)."""

    active: bool = False


class Slot:
    """One account slot an item holds; releasing twice is harmless."""

    def __init__(self, slots: JobSlots, held: bool) -> None:
        self._slots = slots
        self.held = held

    async def acquire(self) -> None:
        await self._slots.acquire()
        self.held = True

    def release(self) -> None:
        if self.held:
            self.held = False
            self._slots.release()

    def rejected(self) -> None:
        self.held = False
        self._slots.on_rejected()

    def transfer(self) -> Slot:
        held, self.held = self.held, False
        return Slot(self._slots, held)


def _monotonic_of(unix_time: float | None) -> float:
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


class ItemWorker:
    """Drives items through submit, wait and fetch, recording each step in the ledger."""

    def __init__(
        self,
        *,
        client: SymblClient,
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
        self, item: PreparedItem, *, lookup_first: bool, slot: Slot, sending: Sending
    ) -> Outcome:
        """Submit (after a lookup by name, for an item left ``submitting``), wait, fetch.

        Raises:
            ItemFailed: the item failed (recorded in the ledger when it should be).
            Stopped: the run is stopping.
        """
        ref = None
        if lookup_first:
            ref = await self._lookup_and_record(item.key, item.name, item.duration)
        if ref is None:
            ref = await self._submit(item, slot, sending)
        await self._wait(item.key, ref, slot)
        return await self._fetch(item.key, ref)

    async def resume(self, row: LedgerItem, slot: Slot) -> Outcome:
        """Finish an item left ``submitted`` (wait, holding a slot, then fetch) or ``completed``.

        Raises:
            ItemFailed: the item failed.
        """
        ref = _JobRef(
            job_id=row.job_id,
            conversation_id=row.conversation_id or "",
            name=row.name,
            duration=row.duration,
            submitted_at=_monotonic_of(row.submitted_at),
        )
        if row.state is ItemState.SUBMITTED:
            await slot.acquire()  # its job holds an account slot until it ends
            await self._wait(row.key, ref, slot)
        return await self._fetch(row.key, ref)

    async def settle_submitting(self, row: LedgerItem) -> bool:
        """Look up an item an earlier run left ``submitting``; record it if found.

        Returns:
            True when found (now ``submitted``), False when not found (submit it again).

        Raises:
            ItemFailed: the lookup failed: leave the item ``submitting`` for a later run.
        """
        found = await self.lookup(row.name)
        if found is None:
            return False
        self._found(row.key, row.name, found, row.duration)
        return True

    def failure(self, key: str, error: str, cause: BaseException | None) -> Outcome:
        """A failed outcome, with the ids the ledger knows."""
        row = self._db.get(key)
        return Outcome(
            status="failed",
            job_id=None if row is None else row.job_id,
            conversation_id=None if row is None else row.conversation_id,
            error=error,
            exception=cause,
            timings=timings(row),
        )

    async def _submit(self, item: PreparedItem, slot: Slot, sending: Sending) -> _JobRef:
        self._db.upsert_pending(item.key, item.label, item.name, item.duration)
        unknown = 0
        while True:
            if self._stopping():
                raise Stopped
            self._db.mark_submitting(item.key)  # the intent, committed before the submit
            self._counts["submits"] += 1
            sending.active = True
            try:
                job = await submit_item(self._client, item)
            except ConcurrencyLimitError:
                sending.active = False
                slot.rejected()
                self._on_event("rejected", item.key)
                if self._stopping():
                    raise Stopped from None
                await self._slots.wait_after_rejection()
                await slot.acquire()
                continue
            except SubmitOutcomeUnknownError as exc:
                sending.active = False
                unknown += 1
                log.warning("submit of %s: outcome unknown (%s); looking it up", item.label, exc)
                ref = await self._lookup_and_record(item.key, item.name, item.duration)
                if ref is not None:
                    return ref
                if unknown >= _MAX_UNKNOWN_SUBMITS or self._stopping():
                    self.given_up.add(item.key)
                    raise ItemFailed(
                        f"{exc} The submit's outcome stayed unknown {unknown} time(s) and its "
                        f"name {item.name} was not found: the item is left 'submitting' in "
                        "the ledger, and a rerun looks it up again before submitting it",
                        exc,
                    ) from exc
                await asyncio.sleep(random.uniform(0, self._slots.backoff_bound()))
                continue
            except FATAL:
                raise
            except SymblError as exc:
                # An error answer: the submit created no job.
                slot.release()
                self._db.mark_failed(item.key, exc)
                raise ItemFailed(str(exc), exc) from exc
            finally:
                sending.active = False
            self._slots.on_accepted()
            self._db.mark_submitted(item.key, job.job_id, job.conversation_id)
            self._counts["jobs_created"] += 1
            self._on_event("submitted", item.key)
            if self._stopping():
                raise Stopped
            return _JobRef(
                job_id=job.job_id,
                conversation_id=job.conversation_id,
                name=item.name,
                duration=job.media_duration if job.media_duration is not None else item.duration,
                submitted_at=job.submitted_at,
            )

    async def lookup(self, name: str) -> str | None:
        """Return the id of the conversation a submit named ``name`` created, or None.

        Raises:
            ItemFailed: the service could not be asked (after a few tries).
        """
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
        raise ItemFailed(
            f"cannot look up the submit named {name} ({last}); it is left 'submitting' in "
            "the ledger and a rerun looks it up again before submitting it",
            last,
        )

    async def _lookup_and_record(
        self, key: str, name: str, duration: float | None
    ) -> _JobRef | None:
        try:
            conversation_id = await self.lookup(name)
        except ItemFailed:
            self.given_up.add(key)
            raise
        if conversation_id is None:
            return None
        return self._found(key, name, conversation_id, duration)

    def _found(self, key: str, name: str, conversation_id: str, duration: float | None) -> _JobRef:
        row = self._db.get(key)
        since = _monotonic_of(None if row is None else row.updated_at)
        self._db.mark_submitted(key, None, conversation_id)
        self._counts["found_by_name"] += 1
        self._on_event("submitted", key)
        log.info("found the submit named %s: conversation %s", name, conversation_id)
        return _JobRef(
            job_id=None, conversation_id=conversation_id, name=name, duration=duration,
            submitted_at=since,
        )

    async def _wait(self, key: str, ref: _JobRef, slot: Slot) -> None:
        """Wait until the job ends; record it; release the slot (or hand it to a watcher)."""
        if ref.job_id is None:
            await self._wait_conversation(key, ref, slot)
            return
        job = Job(
            job_id=ref.job_id,
            conversation_id=ref.conversation_id,
            name=ref.name,
            media_duration=ref.duration,
            submitted_at=ref.submitted_at,
        )
        kwargs: dict[str, Any] = {"timeout": self._wait_timeout}
        if self._wait_mode is not None:
            kwargs["mode"] = self._wait_mode
        try:
            await self._client.wait(job, **kwargs)
        except JobFailedError as exc:
            slot.release()
            self._db.mark_failed(key, "the job ended 'failed' (the service gives no reason)")
            raise ItemFailed(f"{exc}; the service gives no reason", exc) from exc
        except NotFoundError as exc:
            slot.release()
            self._db.mark_failed(key, exc)
            raise ItemFailed(f"the service does not know job {ref.job_id}: {exc}", exc) from exc
        except FATAL:
            raise
        except SymblError as exc:
            # WaitTimeoutError, or the service stopped answering: the job may still run and
            # hold an account slot, so a watcher keeps the slot until the job ends.
            self._watch(key, job, slot.transfer())
            self.given_up.add(key)
            raise ItemFailed(
                f"{exc}; it stays 'submitted' in the ledger: rerun to wait for it again "
                "(it will not be submitted again)",
                exc,
            ) from exc
        slot.release()
        self._db.mark_completed(key)

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

    async def _wait_conversation(self, key: str, ref: _JobRef, slot: Slot) -> None:
        """Wait for an item found by name: no job id, so watch for its messages."""
        schedule = self._client.poll
        expected = schedule.expected_time(
            ref.duration if ref.duration is not None else MAX_MEDIA_SECONDS
        )
        assert expected is not None
        patience = 2 * expected + schedule.max_interval / schedule.time_scale
        limit = self._wait_timeout if self._wait_timeout is not None else self._client.wait_timeout
        patience = min(patience, limit)
        wakes = wake_times(
            schedule.delays(ref.duration),
            origin=ref.submitted_at,
            deadline=ref.submitted_at + patience,
            clock=time.monotonic,
        )
        for wait, _final in wakes:
            await asyncio.sleep(wait)
            try:
                messages = await self._client.conversations.messages(ref.conversation_id)
            except NotFoundError as exc:
                slot.release()
                self._db.mark_failed(key, exc)
                raise ItemFailed(f"conversation {ref.conversation_id} is gone: {exc}", exc) from exc
            except FATAL:
                raise
            except SymblError:
                messages = []
            if messages:
                slot.release()
                self._db.mark_completed(key)
                return
        slot.release()
        error = (
            f"conversation {ref.conversation_id} was found by its submit name, but the API "
            f"gives no job id for it and it has no messages after {patience:.0f} s: the job "
            "failed, is still running, or the recording is silent. Retry with retry_failed "
            "(--retry-failed) to submit it again, which may pay for it twice"
        )
        self._db.mark_failed(key, error)
        raise ItemFailed(error)

    async def _fetch(self, key: str, ref: _JobRef) -> Outcome:
        async with self._fetch_sem:
            try:
                insights = await self._client.fetch_insights(
                    ref.conversation_id, include=self._include
                )
            except FATAL:
                raise
            except SymblError as exc:
                self._db.mark_failed(key, f"fetching insights failed: {exc}")
                raise ItemFailed(
                    f"fetching insights failed: {exc} (retry_failed fetches again without "
                    "submitting)",
                    exc,
                ) from exc
        insights = attrs.evolve(insights, job_id=ref.job_id, conversation_id=ref.conversation_id)
        path = None
        if self._writer is not None:
            try:
                path = await asyncio.to_thread(self._writer.write_insights, key, insights)
            except OSError as exc:
                self._db.mark_failed(key, f"cannot write the insights: {exc}")
                raise ItemFailed(f"cannot write the insights: {exc}", exc) from exc
        row = self._db.mark_fetched(key, path)
        return Outcome(
            status="fetched",
            job_id=row.job_id,
            conversation_id=row.conversation_id,
            insights=insights if self._writer is None else None,
            output_path=path,
            timings=timings(row),
        )
