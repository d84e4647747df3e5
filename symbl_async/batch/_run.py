"""The engine of a batch run; the decisions behind it are in :mod:`symbl_async.batch._api`.

Three coroutines share one event loop and wake each other through :class:`_Changes`:

* the intake reads the input while the look-ahead window has room, checks each input
  (:func:`~symbl_async.batch._items.prepare_item`), asks the ledger what is left to do, and
  either reports it at once (skipped, failed, duplicate), resumes it, or puts it in the window;
* the dispatcher takes an account slot, then the window's longest item, and starts a task
  that drives it (:class:`~symbl_async.batch._worker.ItemWorker`);
* the consumer (``__anext__``) hands out results as they come, or in input order.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
import os
import time
from collections.abc import AsyncGenerator, AsyncIterable, Awaitable, Callable, Iterable
from pathlib import Path
from types import TracebackType

import attrs

from symbl_async.batch._items import ItemProblem, PreparedItem, prepare_item
from symbl_async.batch._ledger import ItemState, Ledger, LedgerItem
from symbl_async.batch._results import (
    BatchEvent,
    BatchProgress,
    BatchResult,
    BatchSummary,
    EventKind,
    FailureRecord,
    ResultStatus,
    ResultWriter,
)
from symbl_async.batch._slots import JobSlots
from symbl_async.batch._sources import FileSource
from symbl_async.batch._storage import Storage, open_storage
from symbl_async.batch._window import DONE, LongestFirstWindow, puller
from symbl_async.batch._worker import (
    FATAL,
    ItemFailed,
    ItemWorker,
    Outcome,
    Sending,
    Slot,
    Stopped,
    timings,
)
from symbl_async.client._client import SymblClient
from symbl_async.core._options import ProcessingOptions
from symbl_async.errors import SymblError

__all__ = ["BatchRun"]

log = logging.getLogger("symbl_async.batch._api")

_FAILURES_KEPT = 1000


@attrs.define(eq=False)
class _Entry:
    """An item in flight in this run; inputs with the same key attach to it."""

    future: asyncio.Future[Outcome]
    claimed: bool  # an input of this run has reported (or will report) it


@attrs.define(eq=False)
class _Pending:
    index: int
    item: PreparedItem
    entry: _Entry
    lookup_first: bool


class _Changes:
    """A level-triggered wake-up: waiters re-check their condition after every notify()."""

    def __init__(self) -> None:
        self._waiters: list[asyncio.Future[None]] = []

    def notify(self) -> None:
        waiters, self._waiters = self._waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        while not predicate():
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            await fut


def _is_file_like(raw: object) -> bool:
    if isinstance(raw, (FileSource, os.PathLike)):
        return True
    return isinstance(raw, str) and "://" not in raw


class BatchRun:
    """A running batch: an async iterator of results, with progress, stop and summary.

    Create it with :func:`process_many`. Use it as ``async with run:`` (or call
    :meth:`aclose`) so that leaving the loop early cancels its work and closes the ledger.
    """

    def __init__(
        self,
        client: SymblClient,
        sources: AsyncIterable[object] | Iterable[object],
        *,
        options: ProcessingOptions | None,
        include: tuple[str, ...],
        ordered: bool,
        slots: JobSlots,
        ledger: Ledger | Path | None,
        out_dir: Path | None,
        retry_failed: bool,
        lookahead: int,
        wait_timeout: float | None,
        wait_mode: str | None,
        on_event: Callable[[BatchEvent], None] | None,
    ) -> None:
        """Hold the configuration; nothing runs until the first ``__anext__``."""
        self._client = client
        self._sources = sources
        self._options = options
        self._include = include
        self._ordered = ordered
        self._slots = slots
        self._ledger_arg = ledger
        self._out_dir = out_dir
        self._retry_failed = retry_failed
        self._lookahead = lookahead
        self._wait_timeout = wait_timeout
        self._wait_mode = wait_mode
        self._on_event = on_event
        self._max_tasks = 2 * slots.max_limit + 16
        self._reorder_bound = lookahead + self._max_tasks
        self._out_cap = 64
        self._gen: AsyncGenerator[BatchResult, None] | None = None
        self._summary: BatchSummary | None = None
        self._changes = _Changes()
        self._window: LongestFirstWindow[_Pending] = LongestFirstWindow()
        self._inflight: dict[str, _Entry] = {}
        self._live: dict[asyncio.Task[None], Sending] = {}
        self._out: collections.deque[BatchResult] = collections.deque()
        self._reorder: dict[int, BatchResult] = {}
        self._recovered: dict[str, tuple[str, Outcome]] = {}
        self._absent: set[str] = set()  # submitting, looked up at start, not found
        self._unsettled: dict[str, ItemFailed] = {}  # submitting, the lookup at start failed
        self._worker: ItemWorker | None = None
        self._intake_task: asyncio.Task[None] | None = None
        self._dispatch_task: asyncio.Task[None] | None = None
        self._intake_done = False
        self._dispatch_done = False
        self._exhausted = False
        self._stopping = False
        self._interrupted = False
        self._fatal: BaseException | None = None
        self._storage: Storage | None = None
        self._ledger: Ledger | None = None
        self._writer: ResultWriter | None = None
        self._t0 = time.monotonic()
        self._run_started = time.time()
        self._rejections0 = slots.rejections
        self._read = 0
        self._next_yield = 0
        self._counts = collections.Counter[str]()
        self._failures: list[FailureRecord] = []

    # -- public surface -------------------------------------------------------------

    def __aiter__(self) -> BatchRun:
        return self

    async def __anext__(self) -> BatchResult:
        if self._gen is None:
            self._gen = self._run()
        return await anext(self._gen)

    async def aclose(self) -> None:
        """End the run now: cancel its work (the ledger stays consistent) and close files."""
        if self._gen is not None:
            await self._gen.aclose()

    async def __aenter__(self) -> BatchRun:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def stop(self) -> None:
        """Stop submitting: read no more input, let submits on the wire settle, then end.

        Jobs already submitted are not waited for: they stay ``submitted`` in the ledger
        and a rerun of the same batch waits for them. Safe to call more than once, and from
        a signal handler running on the event loop.
        """
        if self._stopping:
            return
        self._stopping = True
        self._interrupted = True
        for task in (self._intake_task, self._dispatch_task):
            if task is not None:
                task.cancel()
        for task, ctl in self._live.items():
            if not ctl.active:
                task.cancel()
        self._changes.notify()

    @property
    def progress(self) -> BatchProgress:
        """The counters now."""
        return BatchProgress(
            read=self._read,
            input_done=self._exhausted,
            submitted=self._counts["jobs_created"] + self._counts["found_by_name"],
            running=self._slots.in_use,
            limit=self._slots.limit,
            fetched=self._counts["fetched"],
            failed=self._counts["failed"],
            skipped=self._counts["skipped"],
            rejected_429=self._slots.rejections - self._rejections0,
            elapsed=time.monotonic() - self._t0,
        )

    @property
    def summary(self) -> BatchSummary | None:
        """The summary, once the run has ended (None before)."""
        return self._summary

    @property
    def ledger_path(self) -> Path | None:
        """The ledger file in use (None before the run starts)."""
        return None if self._ledger is None else self._ledger.path

    # -- the run --------------------------------------------------------------------

    async def _run(self) -> AsyncGenerator[BatchResult, None]:
        self._open()
        self._t0 = time.monotonic()
        self._run_started = time.time()
        try:
            await self._recover_submitting()
            self._recover_inflight()
            self._intake_task = asyncio.create_task(self._intake())
            self._dispatch_task = asyncio.create_task(self._dispatch())
            while True:
                if self._ordered and self._next_yield in self._reorder:
                    result = self._reorder.pop(self._next_yield)
                    self._next_yield += 1
                    self._changes.notify()
                    yield result
                    continue
                if self._out:
                    result = self._out.popleft()
                    self._changes.notify()
                    if self._ordered:
                        assert result.index is not None
                        self._reorder[result.index] = result
                        continue
                    yield result
                    continue
                if self._finished():
                    break
                await self._changes.wait_for(lambda: bool(self._out) or self._finished())
            # After stop() some inputs never finish: hand over what is buffered, in order.
            for index in sorted(self._reorder):
                yield self._reorder.pop(index)
            if self._fatal is not None:
                raise self._fatal
        finally:
            await self._shutdown()

    def _finished(self) -> bool:
        return self._intake_done and self._dispatch_done and not self._live and not self._out

    def _open(self) -> None:
        self._storage = open_storage(self._ledger_arg, self._out_dir)
        self._ledger = self._storage.ledger
        self._writer = self._storage.writer

    def _close_files(self) -> None:
        if self._storage is not None:
            self._storage.close()

    @property
    def _db(self) -> Ledger:
        assert self._ledger is not None
        return self._ledger

    @property
    def _work(self) -> ItemWorker:
        if self._worker is None:
            self._worker = ItemWorker(
                client=self._client,
                ledger=self._db,
                slots=self._slots,
                include=self._include,
                writer=self._writer,
                wait_timeout=self._wait_timeout,
                wait_mode=self._wait_mode,
                counts=self._counts,
                on_event=lambda kind, key: self._event(kind, key=key),
                stopping=lambda: self._stopping,
            )
        return self._worker

    async def _shutdown(self) -> None:
        self._stopping = True
        watchers = set() if self._worker is None else self._worker.watchers
        still_running = sum(1 for task in watchers if not task.done())
        tasks = [t for t in (self._intake_task, self._dispatch_task) if t is not None]
        tasks += [*self._live, *watchers]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for key, (label, outcome) in self._recovered.items():
            self._counts["recovered_not_in_input"] += 1
            if self._writer is not None:
                self._writer.write_line(self._result(None, label, key, outcome, duplicate=False))
        self._recovered.clear()
        try:
            counts = self._db.counts()
        except SymblError:
            counts = {}
        shown = self._failures[:_FAILURES_KEPT]
        summary = BatchSummary(
            progress=self.progress,
            submits=self._counts["submits"],
            jobs_created=self._counts["jobs_created"],
            found_by_name=self._counts["found_by_name"],
            duplicates=self._counts["duplicates"],
            recovered_not_in_input=self._counts["recovered_not_in_input"],
            still_running=still_running,
            interrupted=self._interrupted,
            failures=tuple(shown),
            failures_omitted=self._counts["failed"] - len(shown),
            ledger_counts=counts,
            out_dir=None if self._writer is None else self._writer.out_dir,
        )
        self._summary = summary
        try:
            if self._writer is not None:
                self._writer.finish(summary)
        except OSError:
            log.exception("cannot write the batch's results files")
        finally:
            self._close_files()
        self._event("finished", summary=summary)

    # -- reading the input -----------------------------------------------------------

    def _may_read(self) -> bool:
        if self._stopping:
            return True
        room = len(self._window) < self._lookahead and len(self._live) < self._max_tasks
        if self._ordered:
            room = room and self._read < self._next_yield + self._reorder_bound
        return room

    async def _intake(self) -> None:
        pull = puller(self._sources)
        try:
            while True:
                await self._changes.wait_for(self._may_read)
                if self._stopping:
                    return
                raw = await pull()
                if raw is DONE:
                    self._exhausted = True
                    return
                index = self._read
                self._read += 1
                self._event("read")
                await self._admit(index, raw)
        except asyncio.CancelledError:
            raise
        except FATAL as exc:
            self._abort(exc)
        except Exception as exc:  # the caller's iterable failed: nothing more can be read
            log.exception("reading the batch's input failed")
            self._abort(exc)
        finally:
            self._intake_done = True
            self._changes.notify()

    async def _admit(self, index: int, raw: object) -> None:
        if _is_file_like(raw):
            prepared = await asyncio.to_thread(prepare_item, raw, self._options)
        else:
            prepared = prepare_item(raw, self._options)
        if isinstance(prepared, ItemProblem):
            outcome = Outcome(status="failed", error=prepared.error, exception=prepared.exception)
            await self._emit(self._result(index, prepared.label, None, outcome, duplicate=False))
            return
        key, label = prepared.key, prepared.label
        entry = self._inflight.get(key)
        if entry is not None:
            duplicate, entry.claimed = entry.claimed, True
            self._counts["duplicates"] += duplicate
            self._spawn(self._attach(index, label, key, entry, duplicate), Sending())
            return
        if key in self._recovered:
            _, outcome = self._recovered.pop(key)
            await self._emit(self._result(index, label, key, outcome, duplicate=False))
            return
        if key in self._unsettled:
            failed = self._unsettled.pop(key)
            outcome = self._work.failure(key, failed.error, failed.cause)
            await self._emit(self._result(index, label, key, outcome, duplicate=False))
            return
        row = self._db.get(key)
        if row is not None and (
            key in self._work.given_up
            or (row.state in (ItemState.FETCHED, ItemState.FAILED)
                and row.updated_at >= self._run_started)
        ):
            # Processed earlier in this run under another input with the same key.
            self._counts["duplicates"] += 1
            await self._emit(self._result(index, label, key, self._from_row(row), duplicate=True))
            return
        if row is not None and row.state is ItemState.FAILED and self._retry_failed:
            row = self._db.reset_for_retry(key)
        state = ItemState.PENDING if row is None else row.state
        if state is ItemState.FETCHED:
            assert row is not None
            await self._emit(self._result(index, label, key, self._from_row(row), duplicate=False))
        elif state is ItemState.FAILED:
            assert row is not None
            error = (
                f"failed in an earlier run: {row.error}; retry with retry_failed=True "
                "(symbl-async process --retry-failed)"
            )
            outcome = attrs.evolve(self._from_row(row), error=error)
            await self._emit(self._result(index, label, key, outcome, duplicate=False))
        elif state in (ItemState.SUBMITTED, ItemState.COMPLETED):
            assert row is not None
            self._resume(row, index, label)
        else:
            lookup = state is ItemState.SUBMITTING and key not in self._absent
            entry = self._register(key, claimed=True)
            self._window.push(_Pending(index, prepared, entry, lookup), prepared.duration)
            self._changes.notify()

    def _register(self, key: str, *, claimed: bool) -> _Entry:
        entry = _Entry(asyncio.get_running_loop().create_future(), claimed)
        self._inflight[key] = entry
        return entry

    async def _attach(
        self, index: int, label: str, key: str, entry: _Entry, duplicate: bool
    ) -> None:
        # shield: cancelling this reporter must not cancel the item everyone waits for.
        outcome = await asyncio.shield(entry.future)
        await self._emit(self._result(index, label, key, outcome, duplicate=duplicate))

    # -- dispatching -----------------------------------------------------------------

    def _may_dispatch(self) -> bool:
        if self._stopping or (self._intake_done and not self._window):
            return True
        return bool(self._window) and len(self._live) < self._max_tasks

    async def _dispatch(self) -> None:
        try:
            while True:
                await self._changes.wait_for(self._may_dispatch)
                if self._stopping or not self._window:
                    return
                await self._slots.acquire()
                slot = Slot(self._slots, held=True)
                if self._stopping:
                    slot.release()
                    return
                pressed = self._ordered and self._read >= self._next_yield + self._reorder_bound
                pending = self._window.pop_oldest() if pressed else self._window.pop_longest()
                self._changes.notify()
                ctl = Sending()
                work = functools.partial(
                    self._work.process,
                    pending.item, lookup_first=pending.lookup_first, slot=slot, sending=ctl,
                )
                self._spawn(
                    self._drive(pending.item.key, pending.item.label, pending.index,
                                pending.entry, work, slot),
                    ctl,
                )
        finally:
            self._dispatch_done = True
            self._changes.notify()

    def _spawn(self, coro: Awaitable[None], ctl: Sending) -> None:
        task = asyncio.ensure_future(coro)
        self._live[task] = ctl
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._live.pop(task, None)
        self._changes.notify()
        if not task.cancelled() and task.exception() is not None:
            log.error("batch task failed", exc_info=task.exception())

    # -- one item ----------------------------------------------------------------------

    async def _drive(
        self,
        key: str,
        label: str,
        index: int | None,
        entry: _Entry,
        work: Callable[[], Awaitable[Outcome]],
        slot: Slot,
    ) -> None:
        started = time.monotonic()
        outcome: Outcome | None = None
        try:
            outcome = await work()
        except Stopped:
            pass
        except ItemFailed as exc:
            outcome = self._work.failure(key, exc.error, exc.cause)
        except FATAL as exc:
            self._abort(exc)
        except Exception as exc:
            log.exception("unexpected error processing %s", label)
            outcome = self._work.failure(key, f"unexpected error: {exc!r}", exc)
        finally:
            slot.release()
            if self._inflight.get(key) is entry:
                del self._inflight[key]
            if outcome is None:
                entry.future.cancel()
        if outcome is None:
            return
        elapsed = round(time.monotonic() - started, 6)
        outcome = attrs.evolve(outcome, timings={**outcome.timings, "elapsed": elapsed})
        if not entry.future.done():
            entry.future.set_result(outcome)
        if index is not None:
            await self._emit(self._result(index, label, key, outcome, duplicate=False))
        elif not entry.claimed:
            self._recovered[key] = (label, outcome)

    def _resume(self, row: LedgerItem, index: int | None, label: str) -> None:
        """Finish an item an earlier run left ``submitted`` or ``completed``."""
        entry = self._register(row.key, claimed=index is not None)
        slot = Slot(self._slots, held=False)
        work = functools.partial(self._work.resume, row, slot)
        self._spawn(self._drive(row.key, label, index, entry, work, slot), Sending())

    # -- recovery of an earlier run's items --------------------------------------------

    async def _recover_submitting(self) -> None:
        """Look up, by name, items an earlier run left ``submitting``, before anything else."""
        rows = list(self._db.items(ItemState.SUBMITTING))
        gate = asyncio.Semaphore(8)

        async def settle(row: LedgerItem) -> None:
            async with gate:
                try:
                    if not await self._work.settle_submitting(row):
                        self._absent.add(row.key)
                except ItemFailed as exc:
                    log.warning("%s", exc.error)
                    self._unsettled[row.key] = exc

        await asyncio.gather(*(settle(row) for row in rows))

    def _recover_inflight(self) -> None:
        for state in (ItemState.SUBMITTED, ItemState.COMPLETED):
            for row in self._db.items(state):
                if row.key not in self._inflight:
                    self._resume(row, None, row.source)

    # -- results and events ------------------------------------------------------------

    def _from_row(self, row: LedgerItem) -> Outcome:
        status: ResultStatus = "skipped"
        if row.state is ItemState.FETCHED and row.updated_at >= self._run_started:
            status = "fetched"
        elif row.state is not ItemState.FETCHED:
            status = "failed"
        return Outcome(
            status=status,
            job_id=row.job_id,
            conversation_id=row.conversation_id,
            error=None if status != "failed" else (row.error or "failed earlier in this run"),
            output_path=None if row.output_path is None else Path(row.output_path),
            timings=timings(row),
        )

    @staticmethod
    def _result(
        index: int | None, label: str, key: str | None, outcome: Outcome, *, duplicate: bool
    ) -> BatchResult:
        return BatchResult(
            key=key,
            index=index,
            source=label,
            status=outcome.status,
            job_id=outcome.job_id,
            conversation_id=outcome.conversation_id,
            error=outcome.error,
            exception=outcome.exception,
            insights=outcome.insights,
            output_path=outcome.output_path,
            timings=outcome.timings,
            duplicate=duplicate,
        )

    async def _emit(self, result: BatchResult) -> None:
        self._counts[result.status] += 1
        if result.status == "failed" and len(self._failures) < _FAILURES_KEPT:
            self._failures.append(
                FailureRecord(key=result.key, source=result.source, error=result.error or "")
            )
        if self._writer is not None:
            self._writer.write_line(result)
        self._event("result", key=result.key, result=result)
        await self._changes.wait_for(lambda: len(self._out) < self._out_cap or self._stopping)
        self._out.append(result)
        self._changes.notify()

    def _event(
        self,
        kind: EventKind,
        *,
        key: str | None = None,
        result: BatchResult | None = None,
        summary: BatchSummary | None = None,
    ) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(
                BatchEvent(kind=kind, progress=self.progress, key=key, result=result,
                           summary=summary)
            )
        except Exception:
            log.exception("the batch's on_event callback failed")

    def _abort(self, exc: BaseException) -> None:
        if self._fatal is None:
            self._fatal = exc
            log.error("batch stopped: %s", exc)
        self.stop()

