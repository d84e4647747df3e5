"""The life of one batch item: submit (or settle an earlier attempt), wait, fetch.

:meth:`ItemWorker.process` reads top to bottom: each step takes the item's ledger row and
returns its next row, or the item's result when it ends here; nothing jumps through
exceptions except the run's own stop (:class:`Stopped`) and the errors that stop the whole
run (:data:`~symbl_async.batch._protocol.FATAL`). Every ledger move goes through the store,
which checks it against the one state machine (:mod:`symbl_async.batch._ledger._states`).

The rules it keeps (the decisions behind them are in ARCHITECTURE.md):

* A job slot is held from before the submit until the job is known to have ended, or its
  submit known to have created nothing.
* An attempt that may have created a job (left ``submitting`` by a crash, or ``unknown``:
  sent without an answer) is never followed by another before a lookup by name, after its
  grace period, has shown it created none. Each attempt carries its own name.
* A paid job's insights are fetched until a deadline, with backoff, not a count.
* What an item's files already hold (its insights file, of the same conversation, and
  transcripts beside it) is not fetched again: a rerun for more kinds or transcripts
  fetches only what is missing.

Also here: :class:`FetchGate` (insight fetches wait for the submits on the wire) and
:class:`Watchers` (slots of jobs no item task waits for any more).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import math
import random
import time
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Iterator,
    Mapping,
    Sequence,
)
from pathlib import Path
from typing import Any, Literal

import attrs

from symbl_async.batch._items import PreparedItem, submit_item
from symbl_async.batch._ledger._states import (
    Change,
    ItemState,
    LedgerItem,
    completed,
    failed,
    fetched,
    none_created,
    released,
    resent,
    submitted,
    timings,
    unknown,
)
from symbl_async.batch._ledger._store import ItemStore
from symbl_async.batch._lookup import (
    NO_TRANSCRIPT,
    Finder,
    ended_now,
    found_job_end,
    learn_or_wait,
    settle_when_surely_ended,
    surely_ended_at,
)
from symbl_async.batch._output import (
    COUNTED_KINDS,
    ResultWriter,
    insight_counts,
    outputs_record,
    transcript_path,
    with_ids,
)
from symbl_async.batch._protocol import FATAL, BatchClient
from symbl_async.batch._rerun import say
from symbl_async.batch._results import BatchResult
from symbl_async.batch._slots import JobSlots, Slot
from symbl_async.batch._uplink import StagedUpload, Uplink
from symbl_async.core._captions import cues_of, render_text, render_vtt
from symbl_async.core._fence import Fence, submit_fence
from symbl_async.core._jobs import Job, JobStatus
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
from symbl_async.models._converter import camel_case
from symbl_async.models._models import ConversationInsights

__all__ = [
    "FETCHES_AT_ONCE",
    "SUBMITS_FIRST_FOR",
    "FetchGate",
    "ItemWorker",
    "Sending",
    "Stopped",
    "Watchers",
    "job_of",
]

log = logging.getLogger("symbl_async.batch")

_MAX_UNKNOWN_SUBMITS = 3
# The formatted transcript's content type for each format Symbl renders (Symbl docs,
# "POST Formatted Transcript"); the others are rendered here from the messages.
_FORMATTED = {"srt": "text/srt", "md": "text/markdown"}
# What rendering from the messages needs: the messages, and the conversation's start
# (cue times count from it).
_RENDER_KINDS = ("conversation", "messages")
FETCHES_AT_ONCE = 8
"""Conversations whose insights are fetched at once (one GET per kind each)."""
SUBMITS_FIRST_FOR = 0.2
"""Seconds a fetch waits at most for the submits on the wire (so it never starves)."""

Step = LedgerItem | BatchResult
"""What a step of an item gives: the item's row after it, or the item's final result."""


class Stopped(Exception):
    """The run is stopping: leave the item as the ledger has it."""


@attrs.define(eq=False)
class Sending:
    """Where an item's submit stands, for a run that stops or is cancelled."""

    active: bool = False
    """From the intent until the outcome is recorded: ``stop()`` lets the item be."""
    intent: LedgerItem | None = None
    """The row whose attempt's intent is committed and whose submit has not been sent yet:
    an item cancelled now is released (nothing exists), not stranded ``submitting``."""


@attrs.frozen
class Refill:
    """How a shared batch's worker refills the slot its job freed: in the transaction
    that records the end (``ItemStore.end_and_claim``), not after it (a second
    transaction, and a wake-up race between the workers).

    Attributes:
        wanted: whether the run would claim now (not stopping, room for a task).
        claiming: held while the claim may commit and until its item has a task.
        start: start a claimed item in the freed slot (and count the claim: its seconds).
        reserved: the items this worker reserved for its uploads ahead, taken first.
    """

    wanted: Callable[[], bool]
    claiming: Callable[[], contextlib.AbstractContextManager[None]]
    start: Callable[[LedgerItem, Slot, float], None]
    reserved: Callable[[], Sequence[str]] = tuple


def _not_created(exc: SymblError) -> bool:
    """Whether a failed submit certainly created no job.

    A 503 means the request was not handled; a :class:`SymblConnectionError` (its
    :class:`SymblTimeoutError` included) reaches us from a submit only when the connection
    never opened or the body was cut off before its last byte (the service needs all of
    ``Content-Length`` to create a job; after the last byte, the transport raises
    :class:`SubmitOutcomeUnknownError`). 500, 502, 504 and lost answers may have made one
    (docs/service-notes.md, "Submit outcomes").
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
        name=row.attempt_name or row.name,
        media_duration=row.duration,
        submitted_at=_monotonic_of(row.submitted_at),
    )


def _monotonic_of(unix_time: float | None) -> float:
    now = time.monotonic()
    if unix_time is None:
        return now
    return now - max(time.time() - unix_time, 0.0)


class FetchGate:
    """When a batch fetches insights: a few conversations at once, after the refills.

    A job's slot is free as soon as the job ends, so fetching its insights may trail; the
    claim and the submit that refill the slot must not. When a wave of jobs ends together
    (longest first makes waves), each ended job wants its 8 insight GETs while the next
    items want their claims and submits, and all share the event loop, aiohttp's
    connections and the service. Measured at limit 50 (bench_systems, 3x faster service):
    with every fetch let loose, 400 GETs queued the refills. So fetches are capped and each
    waits, briefly, for the refills under way: a claim (with its items' first steps) and
    the submits on the wire. Counting the claims too cut the time from a job's end seen to
    its slot's next submit from 3.1-3.6 to 0.7-1.5 service seconds (bench_workers, one
    process, N=2,000 at limit 50).
    """

    def __init__(self, at_once: int = FETCHES_AT_ONCE, wait: float = SUBMITS_FIRST_FOR) -> None:
        """``at_once`` fetches at most; each waits up to ``wait`` s for submits to settle."""
        self._fetches = asyncio.Semaphore(at_once)
        self._wait = wait
        self._submits = 0
        self._quiet = asyncio.Event()
        self._quiet.set()

    @property
    def submits(self) -> int:
        """Refills under way now: claims and submits on the wire."""
        return self._submits

    @contextlib.contextmanager
    def submitting(self) -> Iterator[None]:
        """Around one submit request."""
        self._hold()
        try:
            yield
        finally:
            self._settle()

    @contextlib.contextmanager
    def claiming(self) -> Iterator[None]:
        """Around a claim that refills freed slots, and the start of its items' tasks.

        Its hold ends one turn of the loop later, after the tasks started inside have
        taken their first step (asyncio runs ready callbacks in order), and a claimed
        item's first step enters its submit: the gate stays closed from the claim to the
        submits' answers, with no opening between them for a fetch to pass.
        """
        self._hold()
        try:
            yield
        finally:
            asyncio.get_running_loop().call_soon(self._settle)

    def _hold(self) -> None:
        self._submits += 1
        self._quiet.clear()

    def _settle(self) -> None:
        self._submits -= 1
        if self._submits == 0:
            self._quiet.set()

    @contextlib.asynccontextmanager
    async def fetching(self) -> AsyncIterator[None]:
        """Around one conversation's fetch: a place among the few, then the refills first."""
        async with self._fetches:
            # One turn of the loop before looking: the slot its job has just given back
            # woke the dispatcher (or the task a refill's claim started) before this turn,
            # so that claim or submit holds the gate by the time this fetch looks.
            await asyncio.sleep(0)
            if not self._quiet.is_set():
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._quiet.wait(), self._wait)
            yield


class Watchers:
    """Slots kept after an item's own task has given up waiting for its job.

    A job whose wait timed out may still run, and so holds one of the account's slots: a
    watcher polls it (rarely) until it ends, records the end, and gives the slot back. A
    job found by name (no job id) cannot be asked about: its slot is held until no job of
    the item could still run, then the item is settled by its insights. Cancelled with the
    run (each gives its slot back; the ledger keeps the item for a rerun).
    """

    def __init__(self, client: BatchClient, store: ItemStore) -> None:
        """Share the run's client and store."""
        self._client = client
        self._store = store
        self.tasks: set[asyncio.Task[None]] = set()

    def watch(self, row: LedgerItem, slot: Slot) -> None:
        """Poll the row's job until it ends, record the end, then give ``slot`` back."""
        self._add(asyncio.create_task(self._watcher(row, slot)))

    def settle_later(self, row: LedgerItem, slot: Slot, until: float) -> None:
        """Hold ``slot`` for a job found by name until ``until`` (ledger time), then settle."""
        self._add(asyncio.create_task(
            settle_when_surely_ended(self._client, self._store, row, slot, until=until)))

    def _add(self, task: asyncio.Task[None]) -> None:
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _watcher(self, row: LedgerItem, slot: Slot) -> None:
        poll = self._client.poll
        interval = poll.max_interval / poll.time_scale
        assert row.job_id is not None
        try:
            while True:
                await asyncio.sleep(interval * random.uniform(0.9, 1.1))
                try:
                    info = await self._client.get_job(row.job_id)
                except FATAL:
                    return
                except SymblError:  # 404s included: the job id came from the submit
                    continue
                if info.status is JobStatus.COMPLETED:
                    await self._store.apply(row, completed())
                    return
                if info.status is JobStatus.FAILED:
                    await self._store.apply(row, failed(
                        "the job ended 'failed' (the service gives no reason)"))
                    return
        finally:
            slot.release()


class ItemWorker:
    """Drives items through submit, wait and fetch, recording each step in the ledger."""

    def __init__(
        self,
        *,
        client: BatchClient,
        store: ItemStore,
        slots: JobSlots,
        include: Collection[str],
        writer: ResultWriter | None,
        wait_timeout: float | None,
        wait_mode: str | None,
        lookup_grace: float | None,
        fetch_timeout: float,
        counts: collections.Counter[str],
        on_event: Callable[[Literal["submitted", "rejected"], str], None],
        stopping: Callable[[], bool],
        may_send: Callable[[], Awaitable[bool]] | None = None,
        fence: Fence | None = None,
        uplink: Uplink | None = None,
        names: Mapping[str, str] | None = None,
        transcripts: Collection[str] = (),
        refill: Refill | None = None,
    ) -> None:
        """Share the run's client, store, slots, counters and stop flag.

        Args:
            may_send: a shared batch's check that this worker still holds its lease.
            fence: a shared batch's check of it again, right before a submit's last
                bytes go (``symbl_async.core._fence``).
            refill: a shared batch's way to refill a freed slot as the job's end is
                recorded (:class:`Refill`).
            uplink: the run's turns for file uploads (default: its own, two at once).
            names: how messages name the run's parameters (``process_many``'s
                ``option_names``).
            transcripts: transcripts to write beside each insights file
                (``TRANSCRIPT_FORMATS``; needs ``writer``).
        """
        self._client = client
        self._store = store
        self._slots = slots
        self._include = include
        self._writer = writer
        self._wait_timeout = wait_timeout if wait_timeout is not None else client.wait_timeout
        self._wait_mode = wait_mode
        self._fetch_timeout = fetch_timeout
        self._counts = counts
        self._on_event = on_event
        self._stopping = stopping
        self._may_send = may_send
        self._fence = fence
        self._uplink = uplink if uplink is not None else Uplink()
        self._names: Mapping[str, str] = names or {}
        self._transcripts = tuple(transcripts)
        self._refill = refill
        self._fetch_gate = FetchGate()
        self.finder = Finder(client=client, store=store, slots=slots, grace=lookup_grace,
                             counts=counts, on_event=on_event)
        self.watchers = Watchers(client, store)
        self.inherited_mode: str | None = None
        """How to wait for a job this run did not submit (an earlier run's, a worker's that
        is gone): ``poll`` when its webhooks go to a receiver that is gone; ``hybrid`` when
        a relay may bring them (a safety poll for those it does not); None: as any job."""
        self.unknown = 0
        """Items whose submit's outcome is unknown now (being looked up)."""

    @property
    def fetch_gate(self) -> FetchGate:
        """The gate the run's fetches pass."""
        return self._fetch_gate

    async def process(
        self,
        row: LedgerItem,
        *,
        item: Callable[[LedgerItem], PreparedItem | None],
        slot: Slot,
        sending: Sending,
        fresh: bool = False,
        wanted: Callable[[LedgerItem], bool] = lambda row: True,
        staged: StagedUpload | None = None,
    ) -> BatchResult:
        """One item, top to bottom: submit (or settle an earlier attempt), wait, fetch.

        The result has no index yet: the engine gives it each input's.

        Args:
            row: the item as this worker holds it (claimed, adopted, reopened).
            item: what to send for a row (the input, or the row's recorded submit).
            wanted: whether this run may send the row again (an input of this run names
                it); one an earlier run left, not named now, is looked up but never resent.
            slot: the account slot the item holds (or will take, for a job in flight).
            sending: set while the submit request is on the wire.
            fresh: ``row`` was just claimed: its intent is committed, nothing was sent.
            staged: its upload, started ahead of the slot (``fresh`` only): its last
                bytes go once the claim is recorded; cut off if it is not used.

        Raises:
            Stopped: the run is stopping; the ledger keeps the item where it is.
        """
        step: Step = row
        inherited = row.state is ItemState.SUBMITTED
        looked = False
        if row.state in (ItemState.SUBMITTING, ItemState.UNKNOWN) and not fresh:
            # An attempt a worker that is gone left without an answer: look it up first (a
            # lookup needs no slot; found, its job is waited for like any other).
            found = await self.finder.found_now(row)
            row, step, looked = found or row, found or row, True
        if row.state in (ItemState.SUBMITTING, ItemState.UNKNOWN):
            if not slot.held:  # its job may run: it holds an account slot meanwhile
                await slot.acquire()
            try:
                step = await self._submit(row, item, slot, sending, fresh=fresh,
                                          looked=looked, wanted=wanted, staged=staged)
            except asyncio.CancelledError:
                await self._release(sending)
                raise
            finally:
                if staged is not None:
                    staged.cancel()  # unused (a stop, a refusal): cut off, nothing created
        elif row.state is ItemState.SUBMITTED and not slot.held:
            await slot.acquire()  # a job in flight holds an account slot until it ends
        if isinstance(step, LedgerItem) and step.state is ItemState.SUBMITTED:
            step = await self._wait(step, slot, inherited=inherited)
        if isinstance(step, BatchResult):
            return step
        slot.release()
        # A fresh claim's job was created by this process, after the claim: no file can
        # hold its conversation's insights yet, so the first fetch does not look for one.
        return await self._fetch(step, new=fresh)

    async def _release(self, sending: Sending) -> None:
        """Give back an item whose attempt's intent is committed and nothing was sent: a
        run stopped or cancelled there leaves it pending, not ``submitting`` (which a rerun
        would have to wait a whole grace period to look up)."""
        row, sending.intent = sending.intent, None
        if row is not None:
            with contextlib.suppress(SymblError):
                await self._store.apply(row, released())

    def failure(
        self, row: LedgerItem, error: str, cause: BaseException | None = None
    ) -> BatchResult:
        """A failed result, with the ids and times the ledger knows."""
        return BatchResult(
            key=row.key,
            index=None,
            source=row.source,
            status="failed",
            job_id=row.job_id,
            conversation_id=row.conversation_id,
            error=error,
            exception=cause,
            timings=timings(row),
            media_seconds=row.duration,
        )

    async def _submit(
        self,
        row: LedgerItem,
        item_for: Callable[[LedgerItem], PreparedItem | None],
        slot: Slot,
        sending: Sending,
        *,
        fresh: bool,
        looked: bool = False,
        wanted: Callable[[LedgerItem], bool] = lambda row: True,
        staged: StagedUpload | None = None,
    ) -> Step:
        """Submit until the service takes the job, a lookup finds it, or it is refused.

        ``looked``: the row's attempt was just looked up (not found): the next lookup is the
        one at the end of its grace period. ``staged``: the first attempt's upload, under
        way since before the claim (its last bytes held); one that ended early (cut off,
        so nothing was created) or carries another attempt's name is not used.

        The rule: an attempt that may have created a job is never followed by another
        before a lookup has shown, after its grace period, that it created none.
        """
        # Long on purpose: the exactly-once rule is this one loop, each submit outcome next
        # to the ledger move it makes; split up, the rule would scatter again.
        maybe_created, unknowns, refused = not fresh, 0, 0
        item = item_for(row)
        if staged is not None and (not fresh or staged.failed
                                   or staged.name != (row.attempt_name or row.name)):
            staged.cancel()
            staged = None
        while True:
            if maybe_created:
                grace_until = self.finder.grace_until(row, item)
                self.unknown += 1
                try:
                    found = await self.finder.resolve(row, grace_until, looked=looked)
                finally:
                    self.unknown -= 1
                looked = False
                if found is not None:
                    return found
                reason = None
                if item is None or not wanted(row):
                    reason = ("looked up by name, its last attempt created no job; its input "
                              "is not in this run: give it again to send it")
                elif unknowns >= _MAX_UNKNOWN_SUBMITS:
                    reason = (f"{unknowns} submits got no answer (the last: "
                              f"{row.error or 'lost'}); none created a job (looked up by name "
                              "after the grace period)")
                if reason is not None:
                    row = await self._store.apply(row, none_created(grace_until, reason))
                    slot.release()
                    return self.failure(row, f"{reason}; it is pending again: a rerun "
                                        "submits it")
            if self._stopping():
                if sending.intent is not None:  # nothing sent: free again for a rerun
                    await self._release(sending)
                    sending.active = False
                raise Stopped
            assert item is not None
            turn = contextlib.AsyncExitStack()
            progress = None
            if item.uploads and staged is None:
                # An upload waits for its turn on the uplink before its attempt's intent: the
                # intent's time starts the grace a lookup waits (Finder.grace_until). A stop
                # meanwhile cancels the wait (a claim's intent is then released).
                sending.active = False
                waited = not self._uplink.immediate()
                progress = await turn.enter_async_context(self._uplink.turn(item.duration))
                fresh = fresh and not waited  # the claim's intent is old: record a new one
            outcome: Job | Exception
            async with turn:
                # From the intent until the outcome is recorded, stop() lets the item be: a
                # cancel while a ledger write runs would leave the intent committed without
                # its submit (or a created job recorded as unsent). (A fresh claim is so from
                # the start: the engine made its Sending active.)
                sending.active = True
                if self._stopping():
                    await self._release(sending)
                    sending.active = False
                    raise Stopped
                if not fresh:  # a claim commits the first attempt's intent; others here
                    row = sending.intent = await self._store.apply(row, resent())
                fresh = False
                self._counts["submits"] += 1
                if self._may_send is not None and not await self._may_send():
                    raise LeaseLostError(row.key,
                                         "this worker's lease ran out before the submit")
                try:
                    with self._fetch_gate.submitting(), submit_fence(self._fence):
                        sending.intent = None  # from here on, the submit may be on its way
                        if staged is not None:  # its intent is the claim's: let it go
                            ahead, staged = staged, None
                            outcome = await ahead.send()
                        else:
                            outcome = await submit_item(self._client, item,
                                                        row.attempt_name or row.name,
                                                        progress=progress)
                except Exception as exc:  # handled below, the uplink free for the next one
                    outcome = exc
            try:
                if isinstance(outcome, Exception):
                    raise outcome
                job = outcome
            except ConcurrencyLimitError:
                sending.active = False
                maybe_created = False
                slot.rejected()
                # One worker's 429 slows every worker: the account's limit and cooldown.
                await self._store.on_rejected(self._slots.backoff_bound())
                self._on_event("rejected", row.key)
                if self._stopping():
                    raise Stopped from None
                await self._slots.wait_after_rejection()
                await slot.acquire()
                continue
            except (SubmitOutcomeUnknownError, ServerError, SymblConnectionError,
                    ResponseDecodeError) as exc:
                if _not_created(exc):
                    # 503 (not handled), no connection, or a body cut off before its last
                    # byte: nothing exists; resend later, never a failure.
                    sending.active = False
                    maybe_created = False
                    refused += 1
                    log.info("submit of %s not taken (%s); sending it again later",
                             row.source, exc)
                    slot.release()
                    await asyncio.sleep(random.uniform(0, self._slots.backoff_for(refused)))
                    await slot.acquire()
                    continue
                # 500, 502, 504, a lost answer, a 2xx without a job id: the job may exist.
                # A durable state, not a failure; looked up at once.
                log.warning("submit of %s: outcome unknown (%s); looking it up", row.source,
                            exc)
                row = await self._store.apply(
                    row, unknown(exc, self.finder.grace_after_unknown()))
                sending.active = False
                maybe_created, unknowns = True, unknowns + 1
                continue
            except FATAL:
                raise
            except SymblError as exc:
                # The service refused it (400, 403, 413...): the submit created no job.
                slot.release()
                row = await self._store.apply(row, failed(exc))
                sending.active = False
                return self.failure(row, str(exc), exc)
            self._slots.on_accepted()
            # When the job may end, early (the learned model's 16th percentile): an upload
            # ahead of its slot is timed by it (the engine's staging). Early, as a slot
            # freed before its refill is uploaded stands empty, where an upload done
            # before its slot is free only waits (its last bytes held).
            expected = self._client.processing_model.predict(
                getattr(item.source, "kind", "text"), item.duration)
            slot.ends_at = time.monotonic() + expected.median * math.exp(-expected.sigma)
            row = await self._store.apply(row, submitted(job.job_id, job.conversation_id))
            await self._store.on_accepted()
            sending.active = False
            self._counts["jobs_created"] += 1
            self._on_event("submitted", row.key)
            if self._stopping():
                raise Stopped
            return row

    async def _wait(self, row: LedgerItem, slot: Slot, *, inherited: bool) -> Step:
        """Wait until the job ends; record it; keep the slot with a watcher if it may run.

        A job this run did not submit (``inherited``, or its id learned from a webhook) is
        asked about once first: its webhooks may have gone to a receiver that is gone.
        """
        if row.job_id is None:
            until = surely_ended_at(self._client, row, self._wait_timeout)
            found = None
            if self._store.clock() < until:
                found = await learn_or_wait(self._client, self._store, row, slot,
                                            wait_timeout=self._wait_timeout)
            if found is None and self._store.clock() >= until:
                # No job of it can still run (a rerun long after the attempt, or a wait as
                # long as that): settled here, not by a watcher that the run's end would
                # cancel (each rerun then waited again, and the item stayed submitted).
                change = await found_job_end(self._client, row)
                if change is not None:
                    row = await self._record_end(row, change, slot)
                    if row.state is ItemState.COMPLETED:
                        return row
                    return self.failure(
                        row, f"conversation {row.conversation_id} was {NO_TRANSCRIPT} "
                        f"({say(self._names, 'retry_failed')} sends it again)")
            if found is None:
                self.watchers.settle_later(row, slot.transfer(), until)
                return self.failure(
                    row,
                    f"conversation {row.conversation_id} was found by its submit name (the API "
                    f"gives no job id for it) and its insights were not final after "
                    f"{self._wait_timeout:.0f} s: the job may still be running, or may have "
                    "failed. Unresolved, not failed: it stays 'submitted' in the ledger until no "
                    "job could still run; a rerun checks it again without submitting it")
            if found.state is not ItemState.SUBMITTED:
                return found
            row, inherited = found, True  # its job id came from a webhook: confirm it
        job = job_of(row)
        kwargs: dict[str, Any] = {"timeout": self._wait_timeout}
        if self._wait_mode is not None:
            kwargs["mode"] = self._wait_mode
        if inherited and self.inherited_mode is not None:
            kwargs["mode"] = self.inherited_mode
        try:
            if not (inherited and await ended_now(self._client, job)):
                await self._client.wait(job, **kwargs)
        except JobFailedError as exc:
            row = await self._record_end(
                row, failed("the job ended 'failed' (the service gives no reason)"), slot)
            return self.failure(row, f"{exc}; the service gives no reason", exc)
        except FATAL:
            raise
        except SymblError as exc:
            # WaitTimeoutError (the deadline; hiccups are retried inside it): the job may
            # still run and hold an account slot, so a watcher keeps the slot until it ends.
            self.watchers.watch(row, slot.transfer())
            return self.failure(
                row, f"{exc}; it stays 'submitted' in the ledger: rerun to wait for it again "
                "(it will not be submitted again)", exc)
        return await self._record_end(row, completed(), slot)

    async def _record_end(self, row: LedgerItem, change: Change, slot: Slot) -> LedgerItem:
        """Record a job's end and give its slot back: after the record with a shared ledger
        (a claim there runs on another connection: before the commit, it would count the
        job still in flight, find the account full and wait for the next wake-up), before
        it with a local one (its calls run in order: the claim that takes the slot is
        queued behind the record, and goes one hop sooner). A shared batch refills the
        slot in the same transaction while the run claims (:class:`Refill`): the claimed
        item takes the slot over."""
        if not self._store.shared:
            slot.release()
        elif self._refill is not None and self._refill.wanted():
            began = time.monotonic()
            with self._refill.claiming(), self._fetch_gate.claiming():
                try:
                    row, taken = await self._store.end_and_claim(
                        row, change, reserved=self._refill.reserved())
                except BaseException:
                    slot.release()
                    raise
                assert len(taken) <= 1  # the slot this job held, no more
                if taken:
                    self._refill.start(taken[0], slot.transfer(), time.monotonic() - began)
            slot.release()  # a no-op once handed over
            return row
        try:
            return await self._store.apply(row, change)
        finally:
            slot.release()

    async def _fetch(self, row: LedgerItem, *, new: bool = False) -> BatchResult:
        """Fetch a completed job's insights (and write them, with the transcripts asked
        for), until the fetch deadline. ``new``: the conversation was created by this
        process (none of its files can exist before the first try)."""
        conversation_id = row.conversation_id or ""
        insights: ConversationInsights | None = None
        path = None if self._writer is None else self._writer.insights_path(row)
        counts: dict[str, int] = {}
        record: str | None = None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._fetch_timeout
        tries = 0
        while True:
            async with self._fetch_gate.fetching():  # after the refilling submits
                try:
                    if path is None:  # the caller gets the models
                        insights = await self._client.fetch_insights(
                            conversation_id, include=self._include)
                        counts = {kind: len(value) for kind in COUNTED_KINDS
                                  if isinstance(value := getattr(insights, kind), tuple)}
                    else:  # only written to disk: no models (a quarter of the loop's CPU)
                        counts, record = await self._write_files(
                            row, path, unwritten=new and tries == 0)
                    break
                except FATAL:
                    raise
                except OSError as exc:
                    row = await self._store.apply(row, failed(f"cannot write the insights: {exc}"))
                    return self.failure(row, f"cannot write the insights: {exc}", exc)
                except SymblError as exc:
                    # A paid job's insights: the next minute's GETs may work. Until the
                    # deadline, with backoff; only then is the item failed (and a rerun with
                    # retry_failed fetches it again without paying).
                    tries += 1
                    if loop.time() >= deadline:
                        row = await self._store.apply(
                            row, failed(f"fetching insights failed: {exc}"))
                        return self.failure(
                            row, f"fetching insights failed for {self._fetch_timeout:.0f} s: "
                            f"{exc} ({say(self._names, 'retry_failed')} fetches it again "
                            "without submitting)", exc)
                    log.info("fetching the insights of %s failed (%s); trying again",
                             row.source, exc)
            pause = random.uniform(0, self._slots.backoff_for(tries))
            await asyncio.sleep(max(0.0, min(pause, deadline - loop.time())))
        if insights is not None:
            insights = attrs.evolve(insights, job_id=row.job_id, conversation_id=conversation_id)
        row = await self._store.apply(
            row, fetched(None if path is None else str(path), record))
        return BatchResult(
            key=row.key,
            index=None,
            source=row.source,
            status="fetched",
            job_id=row.job_id,
            conversation_id=row.conversation_id,
            insights=insights,
            output_path=path,
            timings=timings(row),
            media_seconds=row.duration,
            counts=counts,
            recovered=row.job_id is None,
        )

    async def _write_files(
        self, row: LedgerItem, path: Path, *, unwritten: bool = False
    ) -> tuple[dict[str, int], str | None]:
        """Fetch what the item's files lack and write it: the kinds its insights file does
        not hold (all of them the first time), then each transcript asked for that is not
        there yet. Returns the insight counts of the file as written, and what the ledger
        records of it (``outputs_record``).

        Each file is written as soon as it is complete, so a retry after a failure (or a
        rerun after a crash) fetches only what is still missing. ``unwritten``: no file of
        the item can hold this conversation yet (none is looked at: thread hops less).
        """
        assert self._writer is not None
        cid = row.conversation_id or ""
        data = {} if unwritten else await asyncio.to_thread(self._writer.read_insights, path, cid)
        lacking = [kind for kind in self._include if camel_case(kind) not in data]
        if lacking:
            new = await self._client.fetch_insights_json(cid, include=lacking)
            # A fetch for kinds an earlier run did not ask for adds them; it never drops
            # what the file already holds.
            data = with_ids({**data, **new}, job_id=row.job_id, conversation_id=cid)
        writer, written = self._writer, data

        def write() -> str | None:  # and look at what was written: one hop to a thread
            if lacking:
                writer.write_insights(path, written)
            elif not data:
                return None  # nothing asked for, and no file
            return outputs_record(path, written)

        record = await asyncio.to_thread(write)
        known: Mapping[str, Any] = data  # with what rendering needs, once fetched
        for fmt in self._transcripts:
            where = transcript_path(path, fmt)
            if not unwritten and await asyncio.to_thread(where.exists):
                continue
            if fmt not in _FORMATTED:
                # Rendered from the messages: those of the insights, else fetched (once,
                # for every format; not added to the insights file, which holds what
                # ``include`` asks for).
                missing = [kind for kind in _RENDER_KINDS if camel_case(kind) not in known]
                if missing:
                    known = {**known, **await self._client.fetch_insights_json(
                        cid, include=missing)}
            text = await self._transcript(cid, fmt, known)
            await asyncio.to_thread(self._writer.write_transcript, where, text)
        return insight_counts(data), record

    async def _transcript(self, cid: str, fmt: str, data: Mapping[str, Any]) -> str:
        """One transcript of a conversation: Symbl's formatted transcript (SRT, Markdown),
        or rendered from the messages in ``data`` (WebVTT, plain text)."""
        if fmt in _FORMATTED:
            options = {} if fmt == "srt" else {"create_paragraphs": True,
                                                "show_speaker_separation": True}
            transcript = await self._client.conversations.transcript(
                cid, content_type=_FORMATTED[fmt], **options)
            return transcript.payload
        conversation = data.get("conversation")
        origin = conversation.get("startTime") if isinstance(conversation, Mapping) else None
        cues = cues_of(data.get("messages") or [], origin)
        return render_vtt(cues) if fmt == "vtt" else render_text(cues)
