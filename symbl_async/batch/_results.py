"""What a batch reports: per-item results, live progress, the summary, and who delivers them.

A batch run (:func:`symbl_async.batch._api.process_many`) yields one :class:`BatchResult` per
input, reports :class:`BatchEvent` values with a :class:`BatchProgress` snapshot to an
optional callback, and ends with a :class:`BatchSummary`. :class:`Delivery` owns a run's
counters, the bounded queue of results on their way to the consumer (and the reorder buffer
for ``ordered=True``), the events, the ``results.jsonl`` lines and the summary.
:class:`Changes` is the level-triggered wake-up the run's coroutines share. The files are
:mod:`symbl_async.batch._output`'s.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import random
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, Protocol, TypeAlias

import attrs

from symbl_async.batch._ledger._states import IN_FLIGHT, ItemState, LedgerItem, timings
from symbl_async.batch._slots import JobSlots
from symbl_async.models._models import ConversationInsights

__all__ = [
    "LEDGER_FILE",
    "RESULTS_CSV",
    "RESULTS_FILE",
    "SUMMARY_FILE",
    "BatchEvent",
    "BatchProgress",
    "BatchResult",
    "BatchSummary",
    "Changes",
    "ClaimStats",
    "ClaimTimes",
    "Delivery",
    "EventKind",
    "FailureRecord",
    "ResultStatus",
]

LEDGER_FILE = "ledger.sqlite3"
"""The ledger's file name in the output folder, when no ledger is given."""
RESULTS_FILE = "results.jsonl"
RESULTS_CSV = "results.csv"
SUMMARY_FILE = "summary.json"

ResultStatus: TypeAlias = Literal["fetched", "failed", "skipped"]
"""``fetched``: insights fetched in this run; ``failed``: see ``error``; ``skipped``: already
fetched by an earlier run (its insights file is where ``output_path`` says)."""

EventKind: TypeAlias = Literal["read", "queued", "submitted", "rejected", "result", "finished"]
"""``read``: an input was read; ``queued``: (shared ledger only) an input is recorded in the
shared backlog, where any worker may take it (or was found there already); ``submitted``: a
job was accepted (or found by name); ``rejected``: a submit got a 429; ``result``: a result
is ready; ``finished``: the run ended."""


@attrs.frozen(kw_only=True)
class BatchResult:
    """The outcome of one input of a batch.

    Attributes:
        key: the item's ledger key (None when the input could not even be read, e.g. a
            missing file or a malformed manifest row).
        index: the input's position (0-based); None for an item the run finished for the
            ledger's sake (left in flight by an earlier run) that is not in this input.
        source: a human label of the input (path, URL, ``manifest.csv line 7``).
        status: ``fetched``, ``failed`` or ``skipped``.
        job_id: the job's id, when known (not for a submit found again by name).
        conversation_id: the conversation's id, when known.
        error: why it failed, with what to do next; None unless ``failed``.
        exception: the exception behind ``error``, if any (not compared, not serialised).
        insights: the insights fetched in this run when the batch has no output folder;
            None when skipped, failed, or when the insights are only on disk.
        output_path: the insights file, when written (now or by an earlier run).
        timings: Unix times ``created``, ``submitted``, ``completed``, ``fetched`` from the
            ledger (those that happened) and ``elapsed`` seconds in this run.
        media_seconds: the recording's length in seconds, when known (probed from the
            file, or given with the input); None for text and unknown lengths.
        counts: how many items of each list kind of insight (``messages``, ``topics``...)
            the insights hold, counted when they were written or checked in this run;
            empty when not known (a shared batch's item another worker fetched).
        duplicate: an earlier input of this run had the same key; it was processed once.
        recovered: the job was found again by its submit name (no job id): its insights
            were judged final by the rule of :func:`~symbl_async.batch._found.wait_until_final`
            (expected time passed, summary no longer 404, messages stable), not by a status.
    """

    key: str | None
    index: int | None
    source: str
    status: ResultStatus
    job_id: str | None = None
    conversation_id: str | None = None
    error: str | None = None
    exception: BaseException | None = attrs.field(default=None, eq=False, repr=False)
    insights: ConversationInsights | None = attrs.field(default=None, repr=False)
    output_path: Path | None = None
    timings: Mapping[str, float] = attrs.field(factory=dict)
    media_seconds: float | None = None
    counts: Mapping[str, int] = attrs.field(factory=dict)
    duplicate: bool = False
    recovered: bool = False

    @property
    def ok(self) -> bool:
        """True unless the item failed."""
        return self.status != "failed"

    def to_json(self) -> dict[str, Any]:
        """The ``results.jsonl`` line of this result, as JSON-ready data."""
        return {
            "key": self.key,
            "index": self.index,
            "source": self.source,
            "status": self.status,
            "job_id": self.job_id,
            "conversation_id": self.conversation_id,
            "error": self.error,
            "output_path": None if self.output_path is None else str(self.output_path),
            "duplicate": self.duplicate,
            "recovered": self.recovered,
            "timings": dict(self.timings),
            "media_seconds": self.media_seconds,
            "counts": dict(self.counts),
        }


@attrs.frozen(kw_only=True)
class BatchProgress:
    """A snapshot of a running batch's counters.

    Attributes:
        read: inputs read so far.
        input_done: whether the whole input has been read (then ``read`` is the total).
        submitted: jobs accepted in this run, or found again by name.
        running: account slots held now (jobs submitted and not yet ended).
        limit: the effective concurrent-job limit now (AIMD).
        fetched: results with status ``fetched``.
        failed: results with status ``failed``.
        skipped: results with status ``skipped`` (fetched by an earlier run).
        rejected_429: submits answered 429 (all job slots of the account were busy).
        elapsed: seconds since the run started.
        unknown: submits of this run whose outcome is unknown now (looked up by name).
        waiting: inputs read and not yet in hand (waiting for a slot, or recorded for
            another worker of a shared batch to take).
        estimate: seconds until the end from the learned processing times (None when it
            cannot be told yet); ``estimate_is_guess``: from the prior, no job has ended.
        uploading: file uploads on the wire now (not yet jobs; each holds a slot but
            the ``upload_ahead`` of them, started before their slots were free, their
            last bytes waiting for one); ``upload_queued``: submits holding a slot,
            waiting for their turn on the uplink.
        upload_sent, upload_total: bytes sent, and in all, of the uploads on the wire.
        uploaded: upload bytes sent by this run so far.
        upload_rate: bytes per second over the last ten seconds (None: no upload now).
    """

    read: int = 0
    input_done: bool = False
    submitted: int = 0
    running: int = 0
    limit: int = 0
    fetched: int = 0
    failed: int = 0
    skipped: int = 0
    rejected_429: int = 0
    elapsed: float = 0.0
    unknown: int = 0
    waiting: int = 0
    estimate: float | None = None
    estimate_is_guess: bool = False
    uploading: int = 0
    upload_queued: int = 0
    upload_ahead: int = 0
    upload_sent: int = 0
    upload_total: int = 0
    uploaded: int = 0
    upload_rate: float | None = None

    @property
    def slot_uploads(self) -> int:
        """Slots held by uploads (on the wire or queued for it), not by jobs."""
        return max(self.uploading - self.upload_ahead, 0) + self.upload_queued

    @property
    def done(self) -> int:
        """Results delivered so far."""
        return self.fetched + self.failed + self.skipped

    @property
    def total(self) -> int | None:
        """The number of inputs, once the whole input has been read."""
        return self.read if self.input_done else None

    def eta(self) -> float | None:
        """Seconds until the end: the engine's estimate from processing times (learned, or
        the prior before any job ended), else the rate so far, when it can be told.

        Skipped items cost nothing, so the rate counts only items processed in this run.
        """
        if self.estimate is not None:
            return self.estimate
        total = self.total
        worked = self.fetched + self.failed
        if total is None or worked == 0 or self.elapsed <= 0:
            return None
        return max(total - self.done, 0) * self.elapsed / worked


@attrs.frozen(kw_only=True)
class FailureRecord:
    """One failed item, for the summary."""

    key: str | None
    source: str
    error: str


@attrs.frozen(kw_only=True)
class ClaimStats:
    """This worker's claims of items from its ledger (each a transaction of the ledger),
    for ``summary.json``: how a shared batch's workers keep the account's slots filled.

    Attributes:
        transactions: claims made.
        items: items they took (a refill of several slots is one claim).
        p50_seconds: the median claim's time, call to answer (None: no claim).
        p99_seconds: the 99th percentile's.
    """

    transactions: int = 0
    items: int = 0
    p50_seconds: float | None = None
    p99_seconds: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The figures as JSON-ready data."""
        return {"transactions": self.transactions, "items": self.items,
                "p50_seconds": self.p50_seconds, "p99_seconds": self.p99_seconds}


class ClaimTimes:
    """Collects :class:`ClaimStats`: every claim counted, a uniform sample of their times
    kept (a bounded memory for runs of any length)."""

    SAMPLE = 4096

    def __init__(self) -> None:
        self._times: list[float] = []
        self._transactions = 0
        self._items = 0
        self._random = random.Random(0)

    def record(self, seconds: float, items: int) -> None:
        """One claim: how long it took and how many items it took."""
        self._transactions += 1
        self._items += items
        if len(self._times) < self.SAMPLE:
            self._times.append(seconds)
        else:  # reservoir sampling: each claim kept with the same chance
            at = self._random.randrange(self._transactions)
            if at < self.SAMPLE:
                self._times[at] = seconds

    def stats(self) -> ClaimStats:
        """The figures so far."""
        times = sorted(self._times)

        def quantile(q: float) -> float | None:
            return None if not times else round(times[min(len(times) - 1,
                                                          int(q * len(times)))], 6)

        return ClaimStats(transactions=self._transactions, items=self._items,
                          p50_seconds=quantile(0.5), p99_seconds=quantile(0.99))


@attrs.frozen(kw_only=True)
class BatchSummary:
    """What a batch run did, for the end-of-run report and ``summary.json``.

    Attributes:
        progress: the final counters.
        submits: submit requests sent (429s and retries included).
        jobs_created: submits the service accepted in this run.
        found_by_name: submits whose answer was lost (or left by a crash) found by name.
        duplicates: inputs whose key an earlier input of this run already had.
        recovered_not_in_input: items left in flight by an earlier run that this run
            finished although this input does not name them.
        still_running: jobs in flight in the ledger when the run ended (stopped, or given
            up on locally after a wait timeout): ``submitting``, ``unknown`` or
            ``submitted``; a rerun waits for them (never submits them again).
        interrupted: the run was stopped (Ctrl-C) before the input was finished.
        failures: the failed items (the first 1,000; ``results.jsonl`` has them all).
        failures_omitted: failures beyond those listed.
        ledger_counts: items per state in the ledger at the end.
        out_dir: the output folder, if any.
        fetched_here: items whose insights this worker fetched (in a shared batch, other
            workers fetched the rest of ``progress.fetched``).
        shared: the ledger was shared by workers.
        claims: this worker's claims from the ledger.
    """

    progress: BatchProgress
    submits: int = 0
    jobs_created: int = 0
    found_by_name: int = 0
    duplicates: int = 0
    recovered_not_in_input: int = 0
    still_running: int = 0
    interrupted: bool = False
    failures: tuple[FailureRecord, ...] = ()
    failures_omitted: int = 0
    ledger_counts: Mapping[str, int] = attrs.field(factory=dict)
    out_dir: Path | None = None
    fetched_here: int = 0
    shared: bool = False
    claims: ClaimStats = ClaimStats()

    @property
    def ok(self) -> bool:
        """True when nothing failed and the run was not interrupted."""
        return self.progress.failed == 0 and not self.interrupted

    def to_json(self) -> dict[str, Any]:
        """The summary as JSON-ready data (``summary.json``)."""
        p = self.progress
        return {
            "inputs": p.read,
            "fetched": p.fetched,
            "failed": p.failed,
            "skipped": p.skipped,
            "duplicates": self.duplicates,
            "submits": self.submits,
            "jobs_created": self.jobs_created,
            "found_by_name": self.found_by_name,
            "rejected_429": p.rejected_429,
            "recovered_not_in_input": self.recovered_not_in_input,
            "still_running": self.still_running,
            "interrupted": self.interrupted,
            "fetched_here": self.fetched_here,
            "elapsed_seconds": round(p.elapsed, 3),
            "ledger": dict(self.ledger_counts),
            "failures": [attrs.asdict(f) for f in self.failures],
            "failures_omitted": self.failures_omitted,
            "out_dir": None if self.out_dir is None else str(self.out_dir),
            "claims": self.claims.to_json(),
        }

    def format(self) -> str:
        """A short human report: counts, 429s, elapsed time and the failures with reasons."""
        p = self.progress
        lines = [
            f"{p.read} input(s): {p.fetched} fetched, {p.skipped} skipped (done earlier), "
            f"{p.failed} failed" + (f", {self.duplicates} duplicate(s)" if self.duplicates else ""),
            f"{self.jobs_created} job(s) submitted, {self.found_by_name} found by name, "
            f"{p.rejected_429} submit(s) answered 429; {p.elapsed:.1f} s",
        ]
        if self.shared:
            lines.append(f"this worker fetched {self.fetched_here} of them; the other workers' "
                         "work is in the shared ledger")
        if self.still_running:
            lines.append(
                f"{self.still_running} job(s) still in flight remotely: rerun to wait for them "
                "(they are never submitted again)"
            )
        for failure in self.failures:
            lines.append(f"  failed: {failure.source}: {failure.error}")
        if self.failures_omitted:
            lines.append(f"  ... and {self.failures_omitted} more (see {RESULTS_FILE})")
        return "\n".join(lines)


@attrs.frozen(kw_only=True)
class BatchEvent:
    """Something happened in a batch run; passed to the ``on_event`` callback.

    Attributes:
        kind: see :data:`EventKind`.
        progress: the counters right after it happened.
        key: the item concerned, if any.
        result: for ``result`` events, the result.
        summary: for the ``finished`` event, the summary.
    """

    kind: EventKind
    progress: BatchProgress
    key: str | None = None
    result: BatchResult | None = None
    summary: BatchSummary | None = None


log = logging.getLogger("symbl_async.batch")

FAILURES_KEPT = 1000


class ResultsFile(Protocol):
    """Where a run's result lines and summary go (``_output.ResultWriter``)."""

    @property
    def out_dir(self) -> Path:
        """The output folder."""

    def write_line(self, result: BatchResult) -> None:
        """Append one result's line (buffered)."""

    def flush(self) -> None:
        """Show the lines written so far."""

    def finish(self, summary: BatchSummary) -> None:
        """Make the results final and write the summary."""


_OUT_CAP = 64


class Changes:
    """A level-triggered wake-up: waiters re-check their condition after every notify()."""

    def __init__(self) -> None:
        """No waiters yet."""
        self._waiters: list[asyncio.Future[None]] = []

    def notify(self) -> None:
        """Wake every waiter, to re-check its condition."""
        waiters, self._waiters = self._waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Return once ``predicate()`` holds (checked now and after each notify)."""
        while not predicate():
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            await fut


class Delivery:
    """The run's counters, results queue, events, results file and summary."""

    def __init__(
        self,
        *,
        slots: JobSlots,
        changes: Changes,
        on_event: Callable[[BatchEvent], None] | None,
        stopping: Callable[[], bool],
    ) -> None:
        """Start counting now; the writer is set once the run has opened its files."""
        self._slots = slots
        self._changes = changes
        self._on_event = on_event
        self._stopping = stopping
        self.writer: ResultsFile | None = None
        self._flush_soon = False
        self._flush_error: OSError | None = None
        self.counts = collections.Counter[str]()
        self.failures: list[FailureRecord] = []
        self.out: collections.deque[BatchResult] = collections.deque()
        self.reorder: dict[int, BatchResult] = {}
        self.next_yield = 0
        self.read = 0
        self.exhausted = False
        self.t0 = time.monotonic()
        self.run_started = time.time()
        """When the batch's run started, on the ledger's clock (``ItemStore.join``)."""
        self.shared = False
        self._rejections0 = slots.rejections
        self.claims = ClaimTimes()
        self.gauges: Callable[[], dict[str, Any]] = dict
        """The engine's live figures for the progress (unknown, waiting, estimate...)."""

    def start(self, writer: ResultsFile | None) -> None:
        """The run starts now, writing its results with ``writer`` (if any)."""
        self.writer = writer
        self.t0 = time.monotonic()

    @property
    def progress(self) -> BatchProgress:
        """The counters now."""
        return BatchProgress(
            read=self.read,
            input_done=self.exhausted,
            submitted=self.counts["jobs_created"] + self.counts["found_by_name"],
            running=self._slots.in_use,
            limit=self._slots.limit,
            fetched=self.counts["fetched"],
            failed=self.counts["failed"],
            skipped=self.counts["skipped"],
            rejected_429=self._slots.rejections - self._rejections0,
            elapsed=time.monotonic() - self.t0,
            **self.gauges(),
        )

    def from_row(
        self, row: LedgerItem, label: str, index: int | None,
        counts: Mapping[str, int] | None = None,
    ) -> BatchResult:
        """The result of an item the ledger settled (fetched or failed): fetched in this run
        (by this worker or another), skipped (fetched by an earlier run) or failed;
        ``counts``: its insights', when its file was read."""
        status: ResultStatus = "skipped"
        if row.state is ItemState.FETCHED and row.updated_at >= self.run_started:
            status = "fetched"
        elif row.state is not ItemState.FETCHED:
            status = "failed"
        return BatchResult(
            key=row.key,
            index=index,
            source=label,
            status=status,
            job_id=row.job_id,
            conversation_id=row.conversation_id,
            error=None if status != "failed" else (row.error or "failed earlier in this run"),
            output_path=None if row.output_path is None else Path(row.output_path),
            timings=timings(row),
            media_seconds=row.duration,
            counts=dict(counts or {}),
            recovered=row.job_id is None and row.conversation_id is not None,
        )

    async def emit(self, result: BatchResult) -> None:
        """Count, record and queue one input's result (waits while the queue is full)."""
        self.counts[result.status] += 1
        if result.status == "failed" and len(self.failures) < FAILURES_KEPT:
            self.failures.append(
                FailureRecord(key=result.key, source=result.source, error=result.error or "")
            )
        if self.writer is not None:
            if self._flush_error is not None:
                error, self._flush_error = self._flush_error, None
                raise error
            self.writer.write_line(result)
            if not self._flush_soon:
                # Once per turn of the loop, not per line: a rerun over 100,000 finished
                # items emits them in bursts, and two flushes a line were a tenth of it.
                self._flush_soon = True
                asyncio.get_running_loop().call_soon(self._flush_lines)
        self.event("result", key=result.key, result=result)
        await self._changes.wait_for(lambda: len(self.out) < _OUT_CAP or self._stopping())
        self.out.append(result)
        self._changes.notify()

    def _flush_lines(self) -> None:
        self._flush_soon = False
        if self.writer is not None:
            try:
                self.writer.flush()
            except OSError as exc:
                # The disk is full or gone: the next result raises it, as its write would.
                self._flush_error = exc

    def event(
        self,
        kind: EventKind,
        *,
        key: str | None = None,
        result: BatchResult | None = None,
        summary: BatchSummary | None = None,
    ) -> None:
        """Send an event to ``on_event``; a failing callback is logged, never raised."""
        if self._on_event is None:
            return
        try:
            self._on_event(
                BatchEvent(kind=kind, progress=self.progress, key=key, result=result,
                           summary=summary)
            )
        except Exception:
            log.exception("the batch's on_event callback failed")

    def summary(self, *, interrupted: bool, ledger_counts: dict[str, int]) -> BatchSummary:
        """The summary of the run so far: what the batch did for this run's inputs, and
        what this worker did; ``ledger_counts``: the ledger's items per state now."""
        shown = self.failures[:FAILURES_KEPT]
        still_running = sum(ledger_counts.get(state.value, 0) for state in IN_FLIGHT)
        return BatchSummary(
            progress=attrs.evolve(self.progress, running=still_running),
            submits=self.counts["submits"],
            jobs_created=self.counts["jobs_created"],
            found_by_name=self.counts["found_by_name"],
            duplicates=self.counts["duplicates"],
            recovered_not_in_input=self.counts["recovered_not_in_input"],
            still_running=still_running,
            interrupted=interrupted,
            failures=tuple(shown),
            failures_omitted=self.counts["failed"] - len(shown),
            ledger_counts=ledger_counts,
            out_dir=None if self.writer is None else self.writer.out_dir,
            fetched_here=self.counts["fetched_here"],
            shared=self.shared,
            claims=self.claims.stats(),
        )
