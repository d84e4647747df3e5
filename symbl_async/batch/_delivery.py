"""What a batch run reports, and how its coroutines wake each other.

:class:`Delivery` owns the run's counters, the bounded queue of results on their way to the
consumer (and the reorder buffer for ``ordered=True``), the events sent to ``on_event``, the
``results.jsonl`` lines and the final summary. :class:`Changes` is the level-triggered
wake-up the intake, the dispatcher and the consumer share. Internal to
:mod:`symbl_async.batch._run`.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable
from pathlib import Path

from symbl_async.batch._ledger import ItemState, LedgerItem
from symbl_async.batch._records import timings
from symbl_async.batch._results import (
    BatchEvent,
    BatchProgress,
    BatchResult,
    BatchSummary,
    EventKind,
    FailureRecord,
    ResultStatus,
)
from symbl_async.batch._slots import JobSlots
from symbl_async.batch._writer import ResultWriter

__all__ = ["FAILURES_KEPT", "Changes", "Delivery"]

log = logging.getLogger("symbl_async.batch._api")

FAILURES_KEPT = 1000
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
        self.writer: ResultWriter | None = None
        self.counts = collections.Counter[str]()
        self.failures: list[FailureRecord] = []
        self.out: collections.deque[BatchResult] = collections.deque()
        self.reorder: dict[int, BatchResult] = {}
        self.next_yield = 0
        self.read = 0
        self.exhausted = False
        self.t0 = time.monotonic()
        self.run_started = time.time()
        self._rejections0 = slots.rejections

    def start(self, writer: ResultWriter | None) -> None:
        """The run starts now, writing its results with ``writer`` (if any)."""
        self.writer = writer
        self.t0 = time.monotonic()
        self.run_started = time.time()

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
        )

    def from_row(self, row: LedgerItem, label: str, index: int | None) -> BatchResult:
        """The result of an item the ledger settled (fetched or failed) before it was read."""
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
            self.writer.write_line(result)
        self.event("result", key=result.key, result=result)
        await self._changes.wait_for(lambda: len(self.out) < _OUT_CAP or self._stopping())
        self.out.append(result)
        self._changes.notify()

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

    def summary(
        self, *, still_running: int, interrupted: bool, ledger_counts: dict[str, int]
    ) -> BatchSummary:
        """The summary of the run so far."""
        shown = self.failures[:FAILURES_KEPT]
        return BatchSummary(
            progress=self.progress,
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
        )
