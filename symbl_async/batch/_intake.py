"""The parts of a run's state, and its intake: reading inputs and deciding what each needs.

A run's state is split by concern: :class:`RunConfig` (what the caller asked for),
:class:`Flow` (its tasks and stop flags), :class:`InFlight` (items in this run's hands, by
key, and those the start-up recovery finished), :class:`~symbl_async.batch._delivery.Delivery`
(counters and results). :class:`Intake` reads the input while the look-ahead window has room,
checks each input (:func:`~symbl_async.batch._items.prepare_item`), asks the ledger what is
left to do, and either reports it at once (skipped, failed, duplicate), resumes it, or puts it
in the window. Internal to :mod:`symbl_async.batch._run`.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from pathlib import Path

import attrs

from symbl_async.batch._delivery import Changes, Delivery
from symbl_async.batch._items import PreparedItem, prepare_item
from symbl_async.batch._ledger import ItemState, Ledger, LedgerItem
from symbl_async.batch._protocol import FATAL, BatchClient
from symbl_async.batch._results import BatchEvent, BatchResult
from symbl_async.batch._slots import JobSlots
from symbl_async.batch._sources import FileSource
from symbl_async.batch._store import ItemStore
from symbl_async.batch._window import DONE, LongestFirstWindow, puller
from symbl_async.batch._worker import ItemWorker, Sending
from symbl_async.batch._writer import insights_missing
from symbl_async.core._options import ProcessingOptions

__all__ = ["Entry", "Flow", "InFlight", "Intake", "RunConfig"]

log = logging.getLogger("symbl_async.batch._api")


@attrs.frozen(kw_only=True)
class RunConfig:
    """What the caller of :func:`~symbl_async.batch._api.process_many` asked for."""

    client: BatchClient
    sources: AsyncIterable[object] | Iterable[object]
    options: ProcessingOptions | None
    include: tuple[str, ...]
    ordered: bool
    slots: JobSlots
    ledger: Ledger | ItemStore | Path | str | None  # str: a postgresql:// URL
    out_dir: Path | None
    retry_failed: bool
    reprocess: bool
    lookahead: int
    wait_timeout: float | None
    wait_mode: str | None
    lookup_grace: float | None
    on_event: Callable[[BatchEvent], None] | None
    lease: float = 30.0  # a shared ledger's worker lease, in seconds

    @property
    def max_tasks(self) -> int:
        """Items in flight at most: every slot busy, as many more waiting, some slack."""
        return 2 * self.slots.max_limit + 16

    @property
    def reorder_bound(self) -> int:
        """With ``ordered``, inputs read at most past the one awaited."""
        return self.lookahead + self.max_tasks


@attrs.define(eq=False)
class Entry:
    """An item in this run's hands, from admission to its result.

    Inputs with the same key attach to it (``future``). ``item`` is the prepared input;
    ``row`` the ledger row of an item an earlier run left ``submitted`` or ``completed``.
    """

    key: str
    label: str
    index: int | None
    future: asyncio.Future[BatchResult]
    claimed: bool  # an input of this run has reported (or will report) it
    item: PreparedItem | None = None
    row: LedgerItem | None = None
    fresh: bool = False  # row: a shared store's claim, its intent committed, not yet sent


@attrs.define(eq=False)
class Flow:
    """The run's tasks and where it stands (stopping, interrupted, a fatal error)."""

    intake_task: asyncio.Task[None] | None = None
    dispatch_task: asyncio.Task[None] | None = None
    live: dict[asyncio.Task[None], Sending] = attrs.field(factory=dict)
    intake_done: bool = False
    dispatch_done: bool = False
    stopping: bool = False
    interrupted: bool = False
    fatal: BaseException | None = None


@attrs.define(eq=False)
class InFlight:
    """Items in this run's hands by key, and those the start-up recovery finished."""

    entries: dict[str, Entry] = attrs.field(factory=dict)
    recovered: dict[str, BatchResult] = attrs.field(factory=dict)
    """Finished for the ledger's sake (left in flight earlier), not yet named by an input."""

    def register(self, key: str, label: str, index: int | None, *, claimed: bool) -> Entry:
        """Put a new entry in this run's hands."""
        future = asyncio.get_running_loop().create_future()
        entry = Entry(key=key, label=label, index=index, future=future, claimed=claimed)
        self.entries[key] = entry
        return entry


def _is_file_like(raw: object) -> bool:
    if isinstance(raw, (FileSource, os.PathLike)):
        return True
    return isinstance(raw, str) and "://" not in raw


class Intake:
    """Reads the input into the window, reporting at once what needs no work."""

    def __init__(
        self,
        *,
        config: RunConfig,
        flow: Flow,
        inflight: InFlight,
        window: LongestFirstWindow[Entry],
        delivery: Delivery,
        changes: Changes,
        ledger: ItemStore,
        worker: ItemWorker,
        spawn: Callable[[Awaitable[None], Sending], object],
        resume: Callable[[LedgerItem, int | None, str], None],
        abort: Callable[[BaseException], None],
        admit_shared: Callable[[PreparedItem], Awaitable[None]] | None = None,
    ) -> None:
        """Share the run's parts; ``spawn``, ``resume`` and ``abort`` are the engine's;
        ``admit_shared``: a shared batch's intake (:mod:`symbl_async.batch._shared`)."""
        self._config = config
        self._flow = flow
        self._inflight = inflight
        self._window = window
        self._delivery = delivery
        self._changes = changes
        self._db = ledger
        self._worker = worker
        self._spawn = spawn
        self._resume = resume
        self._abort = abort
        self._admit_shared = admit_shared

    def _may_read(self) -> bool:
        if self._flow.stopping:
            return True
        cfg, d = self._config, self._delivery
        room = len(self._window) < cfg.lookahead and len(self._flow.live) < cfg.max_tasks
        if cfg.ordered:
            room = room and d.read < d.next_yield + cfg.reorder_bound
        return room

    async def run(self) -> None:
        """Read the whole input (or until the run stops)."""
        pull = puller(self._config.sources)
        try:
            while True:
                await self._changes.wait_for(self._may_read)
                if self._flow.stopping:
                    return
                raw = await pull()
                if raw is DONE:
                    self._delivery.exhausted = True
                    return
                index = self._delivery.read
                self._delivery.read += 1
                self._delivery.event("read")
                await self._admit(index, raw)
        except asyncio.CancelledError:
            raise
        except FATAL as exc:
            self._abort(exc)
        except Exception as exc:  # the caller's iterable failed: nothing more can be read
            log.exception("reading the batch's input failed")
            self._abort(exc)
        finally:
            self._flow.intake_done = True
            self._changes.notify()

    async def _admit(self, index: int, raw: object) -> None:
        """Decide what one input needs, from what this run and the ledger know of its key."""
        # A decision table over the item's ledger state, read top to bottom; kept whole.
        options = self._config.options
        if _is_file_like(raw):
            prepared = await asyncio.to_thread(prepare_item, raw, options)
        else:
            prepared = prepare_item(raw, options)
        emit = self._delivery.emit
        if isinstance(prepared, BatchResult):  # the input itself is bad
            await emit(attrs.evolve(prepared, index=index))
            return
        if self._admit_shared is not None:  # the backlog is shared: any worker may take it
            await self._admit_shared(prepared)
            return
        key, label = prepared.key, prepared.label
        inflight = self._inflight
        entry = inflight.entries.get(key)
        if entry is not None:
            duplicate, entry.claimed = entry.claimed, True
            self._delivery.counts["duplicates"] += duplicate
            self._spawn(self._attach(index, label, entry, duplicate), Sending())
            return
        if key in inflight.recovered:
            result = inflight.recovered.pop(key)
            await emit(attrs.evolve(result, index=index, source=label))
            return
        row = await self._db.get(key)
        if row is not None and (
            key in self._worker.given_up
            or (row.state in (ItemState.FETCHED, ItemState.FAILED)
                and row.updated_at >= self._delivery.run_started)
        ):
            # Processed earlier in this run under another input with the same key.
            self._delivery.counts["duplicates"] += 1
            await emit(attrs.evolve(self._delivery.from_row(row, label, index), duplicate=True))
            return
        if row is not None and row.state is ItemState.FAILED and self._config.retry_failed:
            row = await self._db.reset_for_retry(key)
        state = ItemState.PENDING if row is None else row.state
        if state is ItemState.FETCHED:
            assert row is not None
            missing = await self._insights_missing(row)
            if missing:
                # Fetched, but its file is gone or lacks kinds this run asks for (say,
                # --include all after a default run): fetch again, never resubmit.
                log.warning("%s: insights file %s lacks %s; fetching them again",
                            label, row.output_path, ", ".join(missing))
                self._resume(await self._db.reopen(key), index, label)
            else:
                await emit(self._delivery.from_row(row, label, index))
        elif state is ItemState.FAILED:
            assert row is not None
            error = (
                f"failed in an earlier run: {row.error}; retry with retry_failed=True "
                "(symbl-async process --retry-failed)"
            )
            await emit(attrs.evolve(self._delivery.from_row(row, label, index), error=error))
        elif state in (ItemState.SUBMITTED, ItemState.COMPLETED):
            assert row is not None
            self._resume(row, index, label)
        else:
            entry = inflight.register(key, label, index, claimed=True)
            entry.item = prepared
            self._window.push(entry, prepared.duration)
            self._changes.notify()

    async def _insights_missing(self, row: LedgerItem) -> list[str]:
        """The insight kinds a fetched item's file (which this run could rewrite) lacks."""
        if self._delivery.writer is None or row.output_path is None:
            return []
        path, include = Path(row.output_path), self._config.include
        return await asyncio.to_thread(insights_missing, path, include)

    async def _attach(self, index: int, label: str, entry: Entry, duplicate: bool) -> None:
        # shield: cancelling this reporter must not cancel the item everyone waits for.
        result = await asyncio.shield(entry.future)
        await self._delivery.emit(
            attrs.evolve(result, index=index, source=label, duplicate=duplicate)
        )
