"""The engine of a batch run; the decisions behind it are in :mod:`symbl_async.batch._api`.

Three coroutines share one event loop and wake each other through
:class:`~symbl_async.batch._delivery.Changes`:

* the intake (:class:`~symbl_async.batch._intake.Intake`) reads the input while the
  look-ahead window has room and decides what each input needs;
* the dispatcher takes an account slot, then the window's longest item, and starts a task
  that drives it (:meth:`~symbl_async.batch._worker.ItemWorker.process`);
* the consumer (``__anext__``) hands out results as they come, or in input order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, Awaitable
from pathlib import Path

import attrs

from symbl_async.batch._delivery import Changes, Delivery
from symbl_async.batch._found import settle_unanswered
from symbl_async.batch._intake import Entry, Flow, InFlight, Intake, RunConfig
from symbl_async.batch._ledger import ItemState, LedgerItem
from symbl_async.batch._protocol import FATAL
from symbl_async.batch._results import BatchProgress, BatchResult, BatchSummary
from symbl_async.batch._shared import SharedRun
from symbl_async.batch._slots import Slot
from symbl_async.batch._sqlite_store import SqliteStore
from symbl_async.batch._storage import (
    Storage,
    check_batch_options,
    keep_webhook_token,
    load_processing_model,
    open_storage,
    save_processing_model,
)
from symbl_async.batch._store import ItemStore, SharedStore
from symbl_async.batch._window import LongestFirstWindow
from symbl_async.batch._worker import ItemWorker, Sending, Stopped
from symbl_async.errors import SymblError, ValidationError

__all__ = ["Engine", "RunConfig"]

log = logging.getLogger("symbl_async.batch._api")

# At most this long for the look-ahead window to fill before the first submit.
_FILL_WAIT = 2.0


class Engine:
    """The work behind a :class:`~symbl_async.batch._api.BatchRun`; see the module docstring.

    Its tasks hold the engine, never the ``BatchRun`` the caller holds, so an abandoned
    ``BatchRun`` can be collected, and that stops the engine.
    """

    def __init__(self, config: RunConfig) -> None:
        """Hold the configuration; nothing runs until :meth:`results` is iterated."""
        self._config = config
        self._changes = Changes()
        self._flow = Flow()
        self._inflight = InFlight()
        self._window: LongestFirstWindow[Entry] = LongestFirstWindow()
        self._delivery = Delivery(
            slots=config.slots, changes=self._changes, on_event=config.on_event,
            stopping=lambda: self._flow.stopping,
        )
        self.summary: BatchSummary | None = None
        """The summary, once the run has ended."""
        self._storage: Storage | None = None
        self._worker: ItemWorker | None = None
        self._shared: SharedRun | None = None

    def stop(self) -> None:
        """Stop submitting (see ``BatchRun.stop``)."""
        flow = self._flow
        if flow.stopping:
            return
        flow.stopping = True
        flow.interrupted = True
        for task in (flow.intake_task, flow.dispatch_task):
            if task is not None:
                task.cancel()
        for task, ctl in flow.live.items():
            if not ctl.active:
                task.cancel()
        self._changes.notify()

    @property
    def progress(self) -> BatchProgress:
        """The counters now."""
        return self._delivery.progress

    @property
    def ledger_path(self) -> Path | None:
        """The ledger file in use (None before the run starts)."""
        store = None if self._storage is None else self._storage.ledger
        return store.path if isinstance(store, SqliteStore) else None

    # -- the run --------------------------------------------------------------------

    async def results(self) -> AsyncGenerator[BatchResult, None]:
        """Run the batch, yielding results; closing it ends the run (cancels its work)."""
        self._storage = await open_storage(self._config.ledger, self._config.out_dir)
        self._delivery.start(self._storage.writer)
        flow, d = self._flow, self._delivery
        try:
            await check_batch_options(
                self._db, self._config.options, reprocess=self._config.reprocess
            )
            await load_processing_model(self._db, self._config.client.processing_model)
            if isinstance(self._db, SharedStore):
                await self._begin_shared(self._db)
            else:
                await self._begin_own()
            shared = self._shared
            intake = Intake(
                config=self._config, flow=flow, inflight=self._inflight, window=self._window,
                delivery=d, changes=self._changes, ledger=self._db, worker=self._work,
                spawn=self._spawn, resume=self._resume, abort=self._abort,
                admit_shared=None if shared is None else shared.admit,
            )
            flow.intake_task = asyncio.create_task(intake.run())
            flow.dispatch_task = asyncio.create_task(
                self._dispatch() if shared is None else shared.dispatch()
            )
            while True:
                if self._config.ordered and d.next_yield in d.reorder:
                    result = d.reorder.pop(d.next_yield)
                    d.next_yield += 1
                    self._changes.notify()
                    yield result
                    continue
                if d.out:
                    result = d.out.popleft()
                    self._changes.notify()
                    if self._config.ordered:
                        assert result.index is not None
                        d.reorder[result.index] = result
                        continue
                    yield result
                    continue
                if self._finished():
                    break
                await self._changes.wait_for(lambda: bool(d.out) or self._finished())
            # After stop() some inputs never finish: hand over what is buffered, in order.
            for index in sorted(d.reorder):
                yield d.reorder.pop(index)
            if flow.fatal is not None:
                raise flow.fatal
        finally:
            await self._shutdown()

    async def _begin_own(self) -> None:
        """A batch this process owns: settle what an earlier run left in flight."""
        client = self._config.client
        try:
            url = client.webhook_url
        except RuntimeError:  # a receiver not started yet: its address is unknown
            url = None
        same = await keep_webhook_token(self._db, client.webhook_token, url)
        self._work.poll_inherited = not same
        await settle_unanswered(self._db, self._work.finder)
        await self._recover_inflight()

    async def _begin_shared(self, store: SharedStore) -> None:
        """A batch shared with other workers (:mod:`symbl_async.batch._shared`)."""
        if self._config.ordered:
            raise ValidationError("ordered", "cannot be used with a ledger shared by workers")
        # Each worker's receiver has its own address: an adopted job's webhooks go to the
        # worker that submitted it, so adopted jobs are polled.
        self._work.poll_inherited = True
        self._shared = SharedRun(
            store=store, config=self._config, flow=self._flow, inflight=self._inflight,
            changes=self._changes, delivery=self._delivery, start=self._start,
            resume=self._resume, abort=self._abort, lease=self._config.lease,
        )
        self._work.may_send = self._shared.may_send
        await self._shared.begin()

    def _finished(self) -> bool:
        flow = self._flow
        return flow.intake_done and flow.dispatch_done and not flow.live and not self._delivery.out

    @property
    def _db(self) -> ItemStore:
        assert self._storage is not None and self._storage.ledger is not None
        return self._storage.ledger

    @property
    def _work(self) -> ItemWorker:
        if self._worker is None:
            cfg = self._config
            self._worker = ItemWorker(
                client=cfg.client,
                ledger=self._db,
                slots=cfg.slots,
                include=cfg.include,
                writer=self._delivery.writer,
                wait_timeout=cfg.wait_timeout,
                wait_mode=cfg.wait_mode,
                lookup_grace=cfg.lookup_grace,
                counts=self._delivery.counts,
                on_event=lambda kind, key: self._delivery.event(kind, key=key),
                stopping=lambda: self._flow.stopping,
            )
        return self._worker

    async def _shutdown(self) -> None:
        flow, d = self._flow, self._delivery
        flow.stopping = True
        watchers = set() if self._worker is None else self._worker.watchers
        still_running = sum(1 for task in watchers if not task.done())
        tasks = [t for t in (flow.intake_task, flow.dispatch_task) if t is not None]
        tasks += [*flow.live, *watchers]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._shared is not None:
            await self._shared.end()
        for result in self._inflight.recovered.values():
            d.counts["recovered_not_in_input"] += 1
            if d.writer is not None:
                d.writer.write_line(result)
        self._inflight.recovered.clear()
        try:
            counts = await self._db.counts()
            await save_processing_model(self._db, self._config.client.processing_model)
        except SymblError:
            counts = {}
        if self._storage is not None:
            # Before the summary: once it is written, the run is over (its lock free soon
            # after, with no wait in between).
            await self._storage.close_ledger()
        summary = d.summary(
            still_running=still_running, interrupted=flow.interrupted, ledger_counts=counts
        )
        self.summary = summary
        try:
            if d.writer is not None:
                d.writer.finish(summary)
        except OSError:
            log.exception("cannot write the batch's results files")
        finally:
            if self._storage is not None:
                await self._storage.close()
        d.event("finished", summary=summary)

    # -- dispatching -----------------------------------------------------------------

    def _may_dispatch(self) -> bool:
        flow = self._flow
        if flow.stopping or (flow.intake_done and not self._window):
            return True
        return bool(self._window) and len(flow.live) < self._config.max_tasks

    def _window_filled(self) -> bool:
        flow = self._flow
        return flow.stopping or flow.intake_done or len(self._window) >= self._config.lookahead

    async def _dispatch(self) -> None:
        cfg, flow, d = self._config, self._flow, self._delivery
        try:
            # Longest-first from the first submit: let the look-ahead window fill (or the
            # input end) before choosing, or the first slots would go to whatever came first.
            # Bounded, in case the input is slow to read.
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changes.wait_for(self._window_filled), _FILL_WAIT)
            while True:
                await self._changes.wait_for(self._may_dispatch)
                if flow.stopping or not self._window:
                    return
                await cfg.slots.acquire()
                slot = Slot(cfg.slots, held=True)
                if flow.stopping:
                    slot.release()
                    return
                pressed = cfg.ordered and d.read >= d.next_yield + cfg.reorder_bound
                entry = self._window.pop_oldest() if pressed else self._window.pop_longest()
                self._changes.notify()
                self._start(entry, slot)
        finally:
            flow.dispatch_done = True
            self._changes.notify()

    def _spawn(self, coro: Awaitable[None], ctl: Sending) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coro)
        self._flow.live[task] = ctl
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._flow.live.pop(task, None)
        self._changes.notify()
        if not task.cancelled() and task.exception() is not None:
            log.error("batch task failed", exc_info=task.exception())

    def _start(self, entry: Entry, slot: Slot) -> None:
        ctl = Sending()
        task = self._spawn(self._drive(entry, slot, ctl), ctl)

        def settle(_: asyncio.Task[None]) -> None:
            # A task cancelled before its first step never runs _drive's finally: give its
            # slot back and let inputs waiting on its entry go (both are no-ops otherwise).
            slot.release()
            if not entry.future.done():
                entry.future.cancel()
            if self._inflight.entries.get(entry.key) is entry:
                del self._inflight.entries[entry.key]

        task.add_done_callback(settle)

    def _resume(self, row: LedgerItem, index: int | None, label: str) -> None:
        """Finish an item an earlier run left ``submitted`` or ``completed``."""
        entry = self._inflight.register(row.key, label, index, claimed=index is not None)
        entry.row = row
        self._start(entry, Slot(self._config.slots, held=False))

    # -- one item ----------------------------------------------------------------------

    async def _drive(self, entry: Entry, slot: Slot, sending: Sending) -> None:
        """Run one item's worker and deliver its result to every input waiting for it."""
        started = time.monotonic()
        result: BatchResult | None = None
        try:
            result = await self._work.process(
                entry.item, entry.row, slot=slot, sending=sending, fresh=entry.fresh
            )
        except Stopped:
            pass
        except FATAL as exc:
            self._abort(exc)
        except Exception as exc:
            log.exception("unexpected error processing %s", entry.label)
            result = await self._work.failure(
                entry.key, entry.label, f"unexpected error: {exc!r}", exc
            )
        finally:
            slot.release()
            if self._inflight.entries.get(entry.key) is entry:
                del self._inflight.entries[entry.key]
            if result is None:
                entry.future.cancel()
        if result is None:
            return
        elapsed = round(time.monotonic() - started, 6)
        result = attrs.evolve(
            result, source=entry.label, timings={**result.timings, "elapsed": elapsed}
        )
        if not entry.future.done():
            entry.future.set_result(result)
        if entry.index is not None or self._shared is not None:
            await self._delivery.emit(attrs.evolve(result, index=entry.index))
        elif not entry.claimed:
            self._inflight.recovered[entry.key] = result

    # -- recovery of an earlier run's items --------------------------------------------

    async def _recover_inflight(self) -> None:
        for state in (ItemState.SUBMITTED, ItemState.COMPLETED):
            async for row in self._db.items(state):
                if row.key not in self._inflight.entries:
                    self._resume(row, None, row.source)

    def _abort(self, exc: BaseException) -> None:
        if self._flow.fatal is None:
            self._flow.fatal = exc
            log.error("batch stopped: %s", exc)
        self.stop()
