"""The batch engine: one code path for every ledger, whether one process owns it or many share it.

Coroutines of one event loop, woken through :class:`~symbl_async.batch._results.Changes`:

* the **intake** reads the input while there is room, checks each input
  (:func:`~symbl_async.batch._items.prepare_item`), records new items ``pending`` in the
  ledger in groups (one transaction per group), and decides what each input needs from its
  item's row (:func:`~symbl_async.batch._rerun.admit`: queue, wait, report, check its file,
  take it back);
* the **dispatcher** takes local job slots, then claims that many items from the ledger
  (``ItemStore.claim``: one transaction that counts the account's jobs in flight) and starts
  a task for each (:meth:`~symbl_async.batch._worker.ItemWorker.process`);
* the **consumer** (``__anext__``) hands out results as they come, or in input order.

What differs between a ledger one process owns (SQLite under its lock file) and one workers
share (PostgreSQL) is only how items are chosen for a claim: the longest of a local
look-ahead window of this run's inputs (:class:`~symbl_async.batch._slots.LongestFirstWindow`),
or the longest pending item of the whole backlog; and that a shared run keeps its lease
renewed, adopts what dead workers left, and learns from the ledger the results of its inputs
that other workers finished. Everything else (intake, reruns, ``retry_failed``, more insight
kinds, lost files, attempt names, adoption, results, the summary) is this one code.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import math
import os
import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    Callable,
    Coroutine,
    Iterable,
    Iterator,
    Mapping,
)
from pathlib import Path
from typing import Any, Literal

import attrs

from symbl_async.batch._inputs import FileSource
from symbl_async.batch._items import (
    PreparedItem,
    item_from_spec,
    prepare_item,
    spec_of,
    submit_item,
)
from symbl_async.batch._ledger._states import (
    RELEASED,
    UNFINISHED,
    ItemState,
    LedgerItem,
    Pending,
    attempt_name,
    reopened,
    retried,
    unreserved,
)
from symbl_async.batch._ledger._store import ItemStore
from symbl_async.batch._output import Storage, open_storage
from symbl_async.batch._protocol import FATAL, BatchClient
from symbl_async.batch._rerun import (
    Admit,
    admit,
    check_rerun,
    keep_webhook_token,
    load_processing_model,
    named,
    outputs_to_fetch,
    save_processing_model,
    say,
)
from symbl_async.batch._results import (
    BatchEvent,
    BatchProgress,
    BatchResult,
    BatchSummary,
    Changes,
    Delivery,
)
from symbl_async.batch._slots import DONE, JobSlots, LongestFirstWindow, Slot, puller
from symbl_async.batch._uplink import HOLD_LIMIT, UPLOADS_AT_ONCE, StagedUpload, Uplink
from symbl_async.batch._worker import ItemWorker, Refill, Sending, Stopped
from symbl_async.core._fence import submit_fence
from symbl_async.core._options import ProcessingOptions
from symbl_async.errors import (
    IllegalTransitionError,
    LeaseLostError,
    SymblError,
    ValidationError,
)

__all__ = ["Engine", "RunConfig", "default_lookahead"]

log = logging.getLogger("symbl_async.batch")

_FILL_WAIT = 2.0  # at most this long for the look-ahead to fill before the first claim
_ADD_GROUP = 500  # new items recorded per transaction
_ADD_DELAY = 0.05  # seconds a new item may wait for its group
_READ_GROUP = 64  # inputs of a synchronous iterable read (and their files checked) at once
_IDLE_WAIT = 1.0  # longest wait for a slot or an item when a claim got nothing
_CHECK_EVERY = 0.5  # a shared run asks the ledger this often about its inputs' items
_CLAIM_GROUP = 64  # items claimed at most in one transaction
# How long a shared worker holding its share or more leaves a free slot to the others
# before it claims it itself: another worker's wake-up and claim take milliseconds.
_SHARE_DEFER = 0.1
_STAGE_TICK = 0.1  # how often uploads ahead of their slots are looked at (seconds)
_PEEK_EVERY = 1.0  # a shared run reads the backlog's next item this often, at most (seconds)
# Keys of reported items kept to flag later duplicate inputs; a service that runs for
# months forgets the oldest (a duplicate past them is reported from the ledger as it
# stands, just not flagged).
_SEEN_KEPT = 200_000

Origin = Literal["claim", "adopt", "input"]


def default_lookahead(slots: JobSlots) -> int:
    """Inputs read ahead by default: 16 per slot, at least 256.

    Longest first only sees the look-ahead, so a long recording read late starts late
    and ends the batch alone while the other slots stand empty. How far ahead is enough
    grows with the slots: the last look-ahead's worth of inputs is what is left to run
    once the input is read, and it must outlast its longest recording. Simulated on ten
    seeds of log-normal lengths (sigma 0.6; 2,000 recordings at 50 slots, 8,000 at 200),
    16 per slot ended every batch within 0.4 % of the lower bound, never later than
    sorting the whole input first; 256 ended up to 3.4 % late at 50 slots, 9 % at 200.
    """
    return max(256, 16 * slots.max_limit)


@attrs.frozen(kw_only=True)
class RunConfig:
    """What the caller of :func:`~symbl_async.batch._api.process_many` asked for."""

    client: BatchClient
    sources: AsyncIterable[object] | Iterable[object]
    options: ProcessingOptions | None
    include: tuple[str, ...]
    ordered: bool
    slots: JobSlots
    ledger: ItemStore | Path | str | None  # str: a postgresql:// URL
    out_dir: Path | None
    retry_failed: bool
    reprocess: bool
    lookahead: int
    wait_timeout: float | None
    wait_mode: str | None
    lookup_grace: float | None
    on_event: Callable[[BatchEvent], None] | None
    lease: float = 30.0
    fetch_timeout: float = 1800.0
    ledger_outage: float = 300.0  # a shared ledger's absence ridden out, in seconds
    uploads_at_once: int | None = UPLOADS_AT_ONCE
    names: Mapping[str, str] = attrs.field(factory=dict)
    """How messages name the parameters (the CLI gives its flags)."""
    transcripts: tuple[str, ...] = ()
    """Transcripts written beside each insights file (``TRANSCRIPT_FORMATS``)."""

    @property
    def max_tasks(self) -> int:
        """Items in flight at most: every slot busy, as many more waiting, some slack."""
        return 2 * self.slots.max_limit + 16

    @property
    def reorder_bound(self) -> int:
        """With ``ordered``, inputs read at most past the one awaited."""
        return self.lookahead + self.max_tasks


@attrs.define(eq=False)
class Awaiting:
    """The inputs of this run waiting for one item's result (duplicates attach to it)."""

    key: str
    item: PreparedItem
    inputs: list[tuple[int, str, bool]]
    """(index, label, duplicate) of each input."""
    decided: bool = False
    """Its row was read (after its group was recorded)."""
    attempts: int = 0
    """Its row's attempts when it was queued (the next one's name goes with an upload
    started ahead of its slot)."""


@attrs.define(eq=False)
class _Ahead:
    """An upload ahead of its slot, and what it is for: this run's input (a ledger this
    process owns: the look-ahead's), or the item reserved for it (a shared ledger: the
    backlog's, reserved so that the other workers' claims leave it)."""

    key: str
    staged: StagedUpload
    entry: Awaiting | None = None
    row: LedgerItem | None = None


class _Recent:
    """The last ``most`` keys added (as hashes: 8 bytes a key, not the key's 100)."""

    def __init__(self, most: int) -> None:
        self._most = most
        self._set: set[int] = set()
        self._order: collections.deque[int] = collections.deque()

    def __len__(self) -> int:
        return len(self._set)

    def __contains__(self, key: object) -> bool:
        return hash(key) in self._set

    def add(self, key: str) -> None:
        h = hash(key)
        if h in self._set:
            return
        self._set.add(h)
        self._order.append(h)
        if len(self._order) > self._most:
            self._set.discard(self._order.popleft())


def _is_file_like(raw: object) -> bool:
    if isinstance(raw, (FileSource, os.PathLike)):
        return True
    return isinstance(raw, str) and "://" not in raw


class _InputReader:
    """A batch's input, read a group at a time: a synchronous iterable (its files are
    then checked together, in one thread); an asynchronous one (a service's queue) one
    at a time, for its next input may be long in coming and the inputs before it are not
    held back for it."""

    def __init__(self, sources: AsyncIterable[object] | Iterable[object]) -> None:
        self._pull = puller(sources)
        self.grouped = not isinstance(sources, AsyncIterable)
        self.exhausted = False
        self.pulled = 0
        """Inputs taken from the iterable so far."""

    async def read(self, most: int) -> list[object]:
        """Up to ``most`` inputs (fewer at the end: then :attr:`exhausted`)."""
        raws: list[object] = []
        while len(raws) < most:
            raw = await self._pull()
            if raw is DONE:
                self.exhausted = True
                break
            self.pulled += 1
            raws.append(raw)
        return raws


class Engine:
    """The work behind a :class:`~symbl_async.batch._api.BatchRun`; see the module docstring.

    Its tasks hold the engine, never the ``BatchRun`` the caller holds, so an abandoned
    ``BatchRun`` can be collected, and that stops the engine.
    """

    def __init__(self, config: RunConfig) -> None:
        """Hold the configuration; nothing runs until :meth:`results` is iterated."""
        self._config = config
        self._changes = Changes()
        self._uplink = Uplink(config.uploads_at_once)
        self._delivery = Delivery(slots=config.slots, changes=self._changes,
                                  on_event=config.on_event, stopping=lambda: self._stopping)
        self.summary: BatchSummary | None = None
        """The summary, once the run has ended."""
        self._storage: Storage | None = None
        self._worker: ItemWorker | None = None
        self._awaiting: dict[str, Awaiting] = {}
        self._buffer: list[Awaiting] = []
        self._flushing = asyncio.Lock()
        self._flush_timer: asyncio.TimerHandle | None = None
        self._live: dict[str, asyncio.Task[None]] = {}
        self._sending: dict[asyncio.Task[None], Sending] = {}
        self._seen = _Recent(_SEEN_KEPT)  # keys this run has reported (duplicates)
        self._recovered: dict[str, BatchResult] = {}
        self._window: LongestFirstWindow[Awaiting] = LongestFirstWindow()
        self._tasks: list[asyncio.Task[None]] = []
        self._helpers: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._interrupted = False
        self._fatal: BaseException | None = None
        self._intake_done = False
        self._intake_task: asyncio.Task[None] | None = None
        self._dispatch_task: asyncio.Task[None] | None = None
        self._renewed = time.monotonic()
        self._delivery.gauges = self._gauges
        self._media = [0.0, 0]  # seconds of media, and inputs with a known length, read
        self._begun = False  # the rerun checks passed: from here on it is a run
        self._adopting = 0  # adoptions under way: their rows are this run's, not given up
        self._claiming = 0  # items taken from the window, their claim under way
        self._claim_open = False  # a claim's transaction is under way (it may commit)
        # Item tasks whose job's end is being recorded with a refill's claim (it may
        # commit): not cancelled by stop(), as the dispatcher in its claim is not.
        self._refilling: set[asyncio.Task[Any]] = set()
        # Uploads ahead of their slots, and what each is for.
        self._staged: dict[str, _Ahead] = {}
        # Those the dispatcher's claim under way offers (a refill that takes one of them,
        # its reservation read before, takes its upload from here).
        self._offered: dict[str, _Ahead] = {}
        self._peeked: tuple[float, LedgerItem | None, PreparedItem | None] | None = None
        self._staging: set[asyncio.Task[Any]] = set()  # their tasks, until they end
        self._unstaged: set[str] = set()  # keys whose upload ahead was cut off: not again
        self._slot_of: dict[str, Slot] = {}  # the slot of each item in hand

    # -- the caller's view ---------------------------------------------------------------

    def stop(self) -> None:
        """Stop submitting (see ``BatchRun.stop``)."""
        if self._stopping:
            return
        self._stopping = self._interrupted = True
        for task in self._tasks:
            if task is self._dispatch_task and self._claim_open:
                # Cancelled, a claim whose transaction commits anyway would leave its items
                # submitting with nobody to send or release them. It ends; the dispatcher
                # starts its rows, whose workers see the stop and release them.
                continue
            task.cancel()
        for task, sending in list(self._sending.items()):
            if not sending.active and task not in self._refilling:
                task.cancel()
        for ahead in self._staged.values():
            ahead.staged.cancel()  # its last bytes never went: nothing created
        self._changes.notify()

    @property
    def progress(self) -> BatchProgress:
        """The counters now."""
        return self._delivery.progress

    @property
    def ledger_path(self) -> Path | None:
        """The SQLite ledger in use (None before the run starts, or for another store)."""
        return None if self._storage is None else self._storage.ledger_path

    @property
    def _store(self) -> ItemStore:
        assert self._storage is not None and self._storage.store is not None
        return self._storage.store

    @property
    def _work(self) -> ItemWorker:
        assert self._worker is not None
        return self._worker

    # -- the run ---------------------------------------------------------------------------

    async def results(self) -> AsyncGenerator[BatchResult, None]:
        """Run the batch, yielding results; closing it ends the run (cancels its work)."""
        cfg, d = self._config, self._delivery
        self._storage = await open_storage(cfg.ledger, cfg.out_dir, outage=cfg.ledger_outage)
        d.start(self._storage.writer)
        try:
            await self._begin()
            shared = self._store.shared
            self._intake_task = self._spawn(self._intake())
            self._dispatch_task = self._spawn(self._dispatch())
            self._spawn(self._stage_ahead())
            if shared:
                self._spawn(self._keep_lease())
                self._spawn(self._keep_adopting())
                self._spawn(self._keep_checking())
            while True:
                if cfg.ordered and d.next_yield in d.reorder:
                    result = d.reorder.pop(d.next_yield)
                    d.next_yield += 1
                    self._changes.notify()
                    yield result
                    continue
                if d.out:
                    result = d.out.popleft()
                    self._changes.notify()
                    if cfg.ordered:
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
            if self._fatal is not None:
                raise self._fatal
        finally:
            await self._shutdown()

    async def _begin(self) -> None:
        """Check the rerun, join the batch, and take what an earlier run (or a dead
        worker) left unfinished."""
        cfg, store, client = self._config, self._store, self._config.client
        if cfg.ordered and store.shared:
            raise ValidationError("ordered", "cannot be used with a ledger shared by workers")
        await check_rerun(store, options=cfg.options, base_url=client.base_url,
                          app_id=client.app_id, reprocess=cfg.reprocess, names=cfg.names)
        self._begun = True
        await load_processing_model(store, client.processing_model)
        self._worker = ItemWorker(
            client=client, store=store, slots=cfg.slots, include=cfg.include,
            writer=self._storage.writer if self._storage is not None else None,
            wait_timeout=cfg.wait_timeout, wait_mode=cfg.wait_mode,
            lookup_grace=cfg.lookup_grace, fetch_timeout=cfg.fetch_timeout,
            counts=self._delivery.counts,
            on_event=lambda kind, key: self._delivery.event(kind, key=key),
            stopping=lambda: self._stopping,
            may_send=self._may_send if store.shared else None,
            fence=self._lease_fence if store.shared else None,
            uplink=self._uplink,
            names=cfg.names,
            transcripts=cfg.transcripts,
            refill=Refill(wanted=self._may_refill, claiming=self._refill_claim,
                          start=self._refilled, reserved=self._reserved)
            if store.shared else None,
        )
        if store.shared:
            # An adopted job's webhooks go to the receiver of the worker that submitted it.
            # Relayed between workers, they reach this one too (a hybrid wait: a safety poll
            # for a delivery the dead worker's address swallowed); else it is polled.
            webhooks = cfg.wait_mode in ("webhook", "hybrid") or (
                cfg.wait_mode is None and client.webhook_token is not None)
            relayed = webhooks and client.webhooks_relayed
            self._work.inherited_mode = "hybrid" if relayed else "poll"
        else:
            try:
                url = client.webhook_url
            except RuntimeError:  # a receiver not started yet: its address is unknown
                url = None
            same = await keep_webhook_token(store, client.webhook_token, url)
            self._work.inherited_mode = None if same else "poll"
        joining = time.monotonic()
        self._delivery.run_started = await store.join(max_limit=cfg.slots.max_limit,
                                                      lease=cfg.lease)
        self._delivery.shared = store.shared
        self._renewed = joining
        await self._adopt()

    def _gauges(self) -> dict[str, Any]:
        """What the progress shows beside the counters: items whose submit's outcome is
        unknown, inputs waiting for a slot, and the time to the end."""
        waiting = (len(self._awaiting) - self._claiming
                   - sum(1 for key in self._live if key in self._awaiting))
        unknown = 0 if self._worker is None else self._worker.unknown
        estimate, guess = self._estimate(waiting)
        uplink = self._uplink
        sent, total = uplink.bytes_in_flight
        return {"unknown": unknown, "waiting": max(waiting, 0), "estimate": estimate,
                "estimate_is_guess": guess,
                "uploading": uplink.in_flight, "upload_queued": uplink.queued,
                "upload_ahead": len(self._staged),
                "upload_sent": sent, "upload_total": total,
                "uploaded": uplink.bytes_sent, "upload_rate": uplink.rate()}

    def _estimate(self, waiting: int) -> tuple[float | None, bool]:
        """Seconds to the end: the jobs in hand and the inputs waiting, at the account's
        limit, each taking the learned time for the mean length read (the prior's until a
        job has ended: a guess). Not told while nothing is known of the lengths."""
        model = self._config.client.processing_model
        seconds, known = self._media
        if known == 0 and not model.observations("audio"):
            return None, True
        mean = seconds / known if known else None
        per_job = model.predict("audio", mean).median
        in_hand = len(self._live) + waiting
        limit = max(1, self._config.slots.limit)
        rounds = math.ceil(in_hand / limit) if in_hand else 0
        return rounds * per_job, model.observations("audio") == 0

    def _finished(self) -> bool:
        ended = [t for t in (self._intake_task, self._dispatch_task) if t is not None]
        return (len(ended) == 2 and all(t.done() for t in ended) and not self._live
                and not self._delivery.out)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coro)
        # A task cancelled before its first step never runs its finally: the run learns it
        # ended from the task itself.
        task.add_done_callback(lambda _: self._changes.notify())
        self._tasks.append(task)
        return task

    def _abort(self, exc: BaseException) -> None:
        if self._fatal is None:
            self._fatal = exc
            log.error("batch stopped: %s", exc)
        self.stop()

    async def _shutdown(self) -> None:
        d, storage = self._delivery, self._storage
        self._stopping = True
        if not self._begun:
            # Refused before it began (a rerun with other options, another service): the
            # folder keeps the results and summary of the run before, untouched.
            if storage is not None:
                if storage.writer is not None:
                    storage.writer.discard()
                await storage.close()
            return
        if self._flush_timer is not None:
            self._flush_timer.cancel()
        watchers = set() if self._worker is None else self._worker.watchers.tasks
        for ahead in self._staged.values():
            ahead.staged.cancel()
        tasks = [*self._tasks, *self._helpers, *self._live.values(), *watchers,
                 *self._staging]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for result in self._recovered.values():
            d.counts["recovered_not_in_input"] += 1
            if d.writer is not None:
                d.writer.write_line(result)
        self._recovered.clear()
        counts: dict[str, int] = {}
        if storage is not None and storage.store is not None:
            try:
                # The lease over at once, and the reservations given back with it (those
                # of the uploads ahead, and one whose call the stop cancelled after it was
                # made): another worker (or a rerun) adopts what this run leaves in flight
                # without waiting for the lease to run out.
                await self._store.leave()
                counts = await self._store.counts()
                await save_processing_model(self._store, self._config.client.processing_model)
            except SymblError:
                pass
            # Before the summary: once it is written, the run is over (its lock free soon
            # after, with no wait in between).
            await storage.close_store()
        summary = d.summary(interrupted=self._interrupted, ledger_counts=counts)
        self.summary = summary
        try:
            if d.writer is not None:
                d.writer.finish(summary)
        except OSError:
            log.exception("cannot write the batch's results files")
        finally:
            if storage is not None:
                await storage.close()
        d.event("finished", summary=summary)

    # -- intake ------------------------------------------------------------------------------

    def _room(self) -> int:
        """How many more inputs the look-ahead has room for now (may be 0 or less)."""
        cfg, d = self._config, self._delivery
        if len(self._live) >= cfg.max_tasks:
            return 0
        # Inputs not taken in hand yet (the window, the group being recorded, items others
        # may still claim): the look-ahead.
        waiting = (len(self._awaiting) - self._claiming
                   - sum(1 for key in self._live if key in self._awaiting))
        room = cfg.lookahead - waiting
        if cfg.ordered:
            room = min(room, d.next_yield + cfg.reorder_bound - d.read)
        return room

    def _may_read(self) -> bool:
        return self._stopping or self._room() > 0

    async def _intake(self) -> None:
        """Read the whole input (or until the run stops)."""
        reader = _InputReader(self._config.sources)
        # A synchronous input's next group is read, and its files checked in a thread,
        # while this group is admitted: on a rerun over many finished files the two
        # halves, one after the other, left each side idle half the time.
        ahead: asyncio.Future[list[PreparedItem | BatchResult]] | None = None
        try:
            while ahead is not None or not reader.exhausted:
                if ahead is None:
                    if self._buffer and not self._may_read():
                        # The look-ahead is full: the group cannot grow, record it now
                        # rather than after its timer (a rerun over 100,000 finished
                        # items waited 50 ms per look-ahead, 20 s in all).
                        await self._flush()
                    await self._changes.wait_for(self._may_read)
                    if self._stopping:
                        return
                    most = min(max(self._room(), 1), _READ_GROUP) if reader.grouped else 1
                    ahead = asyncio.ensure_future(self._prepare(await reader.read(most)))
                group = await ahead
                ahead, unreadable = None, None
                room = self._room() - len(group)
                if reader.grouped and not reader.exhausted and room > 0 and not self._stopping:
                    try:
                        ahead = asyncio.ensure_future(
                            self._prepare(await reader.read(min(room, _READ_GROUP))))
                    except Exception as exc:  # after this group, as without reading ahead
                        unreadable = exc
                if not await self._admit_group(group):
                    return
                if unreadable is not None:
                    raise unreadable
            self._delivery.exhausted = True
            await self._flush()
        except asyncio.CancelledError:
            raise
        except FATAL as exc:
            self._abort(exc)
        except Exception as exc:  # the caller's iterable failed: nothing more can be read
            log.exception("reading the batch's input failed")
            self._abort(exc)
        finally:
            if ahead is not None:
                ahead.cancel()
            # Inputs taken from the iterable but not admitted (the run stopped between
            # reading a group and admitting all of it) count as read: ``read`` says how
            # far the caller's iterable was consumed.
            self._delivery.read = max(self._delivery.read, reader.pulled)
            self._intake_done = True
            self._changes.notify()

    async def _admit_group(self, group: list[PreparedItem | BatchResult]) -> bool:
        """Admit a group of checked inputs in order; False when the run stopped first."""
        d = self._delivery
        for prepared in group:
            if self._stopping:
                return False
            index = d.read
            d.read += 1
            d.event("read")
            await self._admit(index, prepared)
        return True

    async def _prepare(self, raws: list[object]) -> list[PreparedItem | BatchResult]:
        """Check inputs (``prepare_item``): files (hashed, probed: blocking) together in
        one thread, the others here."""
        options = self._config.options
        files = [i for i, raw in enumerate(raws) if _is_file_like(raw)]

        def prepare_files() -> dict[int, PreparedItem | BatchResult]:
            return {i: prepare_item(raws[i], options) for i in files}

        done = await asyncio.to_thread(prepare_files) if files else {}
        return [done[i] if i in done else prepare_item(raw, options)
                for i, raw in enumerate(raws)]

    async def _admit(self, index: int, prepared: PreparedItem | BatchResult) -> None:
        """Put one checked input with its item's other inputs, or in the next group."""
        d = self._delivery
        if isinstance(prepared, BatchResult):  # the input itself is bad
            await d.emit(attrs.evolve(prepared, index=index))
            return
        key, label = prepared.key, prepared.label
        if prepared.duration is not None:
            self._media[0] += prepared.duration
            self._media[1] += 1
        entry = self._awaiting.get(key)
        if entry is not None:  # an earlier input of this run has the same key
            entry.inputs.append((index, label, True))
            d.counts["duplicates"] += 1
            if entry.decided and self._store.shared:
                d.event("queued", key=key)  # durable already (its group was recorded)
            return
        duplicate = key in self._seen
        d.counts["duplicates"] += duplicate
        recovered = self._recovered.pop(key, None)
        if recovered is not None:  # finished at start, for the ledger's sake: now it is named
            self._seen.add(key)
            await d.emit(attrs.evolve(recovered, index=index, source=label))
            return
        entry = Awaiting(key=key, item=prepared, inputs=[(index, label, duplicate)])
        self._awaiting[key] = entry
        self._buffer.append(entry)
        if len(self._buffer) >= _ADD_GROUP:
            await self._flush()
        elif self._flush_timer is None:
            self._flush_timer = asyncio.get_running_loop().call_later(
                _ADD_DELAY, self._flush_later)

    def _flush_later(self) -> None:
        self._flush_timer = None
        self._helper(self._flush())

    def _helper(self, coro: Coroutine[Any, Any, None]) -> None:
        """A short task of the run (a group's recording): a fatal error stops the run."""
        async def guarded() -> None:
            try:
                await coro
            except FATAL as exc:
                self._abort(exc)

        task = asyncio.ensure_future(guarded())
        self._helpers.add(task)
        task.add_done_callback(self._helpers.discard)

    async def _flush(self) -> None:
        """Record the waiting group of new inputs (one transaction) and decide each."""
        async with self._flushing:
            if self._flush_timer is not None:
                self._flush_timer.cancel()
                self._flush_timer = None
            entries, self._buffer = self._buffer, []
            if not entries:
                return
            rows = await self._store.add_pending([
                Pending(e.key, e.item.label, e.item.name, e.item.duration, spec_of(e.item))
                for e in entries
            ])
            # The group's finished items have their files checked together, in one thread:
            # a hop to a thread per item, one after another, was most of a large rerun's time.
            checked = await self._outputs_missing([
                row for row in rows if self._needs(row) is Admit.CHECK_FILE])
            for entry, row in zip(entries, rows, strict=True):
                if self._store.shared:
                    # Durable now: a service may answer its client (any worker can take it).
                    self._delivery.event("queued", key=entry.key)
                if self._awaiting.get(entry.key) is entry:  # not finished meanwhile
                    await self._decide(entry, row, checked.get(row.key))
            self._changes.notify()

    def _needs(self, row: LedgerItem) -> Admit:
        """What the rerun rules say an input of ``row``'s item needs (``admit``)."""
        return admit(row, run_started=self._delivery.run_started,
                     retry_failed=self._config.retry_failed, given_up=self._given_up(row))

    async def _decide(
        self, entry: Awaiting, row: LedgerItem,
        checked: tuple[str | None, dict[str, int]] | None = None,
    ) -> None:
        """Act on what the rerun rules say an input needs; ``checked``: what
        ``outputs_to_fetch`` said of ``row`` just now, if it was asked."""
        entry.decided = True
        action = self._needs(row)
        if action is Admit.QUEUE:
            if not self._store.shared:  # a shared run's claims take the whole backlog
                entry.attempts = row.attempts
                self._window.push(entry, entry.item.duration)
        elif action is Admit.REPORT:
            await self._report(entry, row)
        elif action is Admit.CHECK_FILE:
            if checked is None:
                checked = (await self._outputs_missing([row]))[row.key]
            missing, counts = checked
            if missing is None:
                await self._report(entry, row, counts)
                return
            # Fetched, but its file is gone or lacks kinds this run asks for (say,
            # --include all after a default run), or a transcript it asks for: fetch
            # what is missing, never resubmit.
            log.warning("%s: %s (%s); fetching again what is missing", row.source, missing,
                        row.output_path)
            self._start(await self._store.apply(row, reopened()), origin="input")
        elif action is Admit.RETRY:
            try:
                row = await self._store.apply(row, retried())
            except (IllegalTransitionError, LeaseLostError):
                # Another worker took it back first: decide again from what it did.
                fresh = await self._store.get(row.key)
                if fresh is not None and fresh.state is not ItemState.FAILED:
                    await self._decide(entry, fresh)
                    return
                raise
            if row.state is ItemState.PENDING:
                await self._decide(entry, row)
            else:  # its job had completed: fetch again, never resubmit
                self._start(row, origin="input")

    def _given_up(self, row: LedgerItem) -> bool:
        """Whether this run holds the item but no task of it runs: it gave up on it.

        In a shared batch, not while a claim is on its way back: the row may be one it
        just took, whose task starts when the answer comes (the intake records an input
        another worker queued and reads it as this worker's claim left it). Such an
        input waits, and ``_check_awaiting`` decides again. (A local claim takes only
        inputs already decided.)"""
        return (row.state in UNFINISHED and row.owner == self._store.worker_id
                and row.key not in self._live and not self._adopting
                and not ((self._claim_open or self._refilling) and self._store.shared))

    async def _report(
        self, entry: Awaiting, row: LedgerItem, counts: Mapping[str, int] | None = None
    ) -> None:
        # As the first input that named it (what ``_resolve`` reports it as): one result
        # made, not two, for each of a rerun's finished items.
        index, label, _ = entry.inputs[0]
        result = self._delivery.from_row(row, label, index, counts)
        if row.state is ItemState.FAILED and row.updated_at < self._delivery.run_started:
            result = attrs.evolve(result, error=(
                f"failed in an earlier run: {row.error}; retry with "
                f"{say(self._config.names, 'retry_failed')}"))
        elif row.state in UNFINISHED:
            result = attrs.evolve(result, status="failed", error=(
                f"not finished in this run: {row.error or row.state.value}; it stays "
                f"'{row.state.value}' in the ledger: a rerun finishes it"))
        await self._resolve(entry.key, result, origin="input")

    async def _outputs_missing(
        self, rows: list[LedgerItem]
    ) -> dict[str, tuple[str | None, dict[str, int]]]:
        """What each fetched item's files lack, with its insight counts
        (``outputs_to_fetch``), by key; all read in one thread."""
        if not rows:
            return {}
        writer = None if self._storage is None else self._storage.writer
        out_dir = None if writer is None else writer.out_dir
        cfg = self._config

        def check() -> dict[str, tuple[str | None, dict[str, int]]]:
            real = None if out_dir is None else os.path.realpath(out_dir)
            parents: dict[str, str] = {}
            return {row.key: outputs_to_fetch(row, out_dir, cfg.include, cfg.transcripts,
                                              real_out_dir=real, real_parents=parents)
                    for row in rows}

        return await asyncio.to_thread(check)

    # -- items in this run's hands ----------------------------------------------------------

    def _item_for(self, row: LedgerItem) -> PreparedItem | None:
        """What to send for a row: this run's input, else the submit the ledger recorded."""
        entry = self._awaiting.get(row.key)
        if entry is not None:
            return entry.item
        if row.spec is None:
            return None
        try:
            return item_from_spec(row.spec)
        except ValidationError:
            log.error("item %s has an unreadable submit recorded; it cannot be sent", row.key)
            return None

    def _wanted(self, row: LedgerItem) -> bool:
        """Whether this run may send the item (again): an input of this run names it, or
        (a shared backlog) an input of this run's other workers did (its attempt is of
        this run). What an earlier run left and no input names now is never resent."""
        if row.key in self._awaiting:
            return True
        return (self._store.shared and row.attempt_at is not None
                and row.attempt_at >= self._delivery.run_started)

    def _start(
        self, row: LedgerItem, *, origin: Origin, slot: Slot | None = None, fresh: bool = False,
        staged: StagedUpload | None = None,
    ) -> None:
        slot = slot if slot is not None else Slot(self._config.slots, held=False)
        # A fresh claim has its intent committed: stop() lets it reach its submit, which
        # then sends it (already on the way) or releases it (not yet), never strands it.
        sending = Sending(active=fresh, intent=row if fresh else None)
        task = asyncio.ensure_future(self._drive(row, slot, sending, fresh, origin, staged))
        self._live[row.key] = task
        self._sending[task] = sending
        self._slot_of[row.key] = slot
        self._unstaged.discard(row.key)  # in hand: no longer queued

        def done(_: asyncio.Task[None]) -> None:
            # A task cancelled before its first step never runs _drive's finally: give its
            # slot back here too (a no-op otherwise).
            slot.release()
            self._sending.pop(task, None)
            if self._live.get(row.key) is task:
                del self._live[row.key]
                self._slot_of.pop(row.key, None)
            self._changes.notify()
            if not task.cancelled() and task.exception() is not None:
                log.error("batch task failed", exc_info=task.exception())

        task.add_done_callback(done)

    async def _drive(
        self, row: LedgerItem, slot: Slot, sending: Sending, fresh: bool, origin: Origin,
        staged: StagedUpload | None = None,
    ) -> None:
        """Run one item's worker and deliver its result to every input waiting for it."""
        started = time.monotonic()
        try:
            result = await self._work.process(row, item=self._item_for, slot=slot,
                                              sending=sending, fresh=fresh,
                                              wanted=self._wanted, staged=staged)
        except Stopped:
            return
        except LeaseLostError as exc:
            # Another worker has the item now and finishes it; the inputs waiting for it
            # here learn its result from the ledger.
            log.warning("%s: %s", row.source, exc)
            return
        except FATAL as exc:
            self._abort(exc)
            return
        except Exception as exc:
            log.exception("unexpected error processing %s", row.source)
            result = self._work.failure(row, f"unexpected error: {exc!r}", exc)
        finally:
            slot.release()
        if result.status == "fetched":
            self._delivery.counts["fetched_here"] += 1
        elapsed = round(time.monotonic() - started, 6)
        result = attrs.evolve(result, timings={**result.timings, "elapsed": elapsed})
        await self._resolve(row.key, result, origin=origin)

    async def _resolve(self, key: str, result: BatchResult, *, origin: Origin) -> None:
        """Report an item's result once for each input of this run that named it."""
        entry = self._awaiting.pop(key, None)
        if entry is None:
            if origin == "adopt" and not self._store.shared:
                # Finished for the ledger's sake (an earlier run left it): this run's input
                # may name it yet. (A shared run's adoptions are other workers' inputs.)
                self._recovered[key] = result
            # Claimed from a shared backlog: another worker's input named it, and that
            # worker reports it (it learns the result from the ledger).
            return
        self._seen.add(key)
        for index, label, duplicate in entry.inputs:
            if (result.index, result.source, result.duplicate) != (index, label, duplicate):
                result = attrs.evolve(result, index=index, source=label, duplicate=duplicate)
            await self._delivery.emit(result)
        self._changes.notify()

    # -- dispatching -----------------------------------------------------------------------

    def _filled(self) -> bool:
        return (self._stopping or self._intake_done
                or len(self._window) + len(self._buffer) >= self._config.lookahead)

    def _may_claim(self) -> bool:
        if self._stopping or self._input_spent():
            return True
        ready = (self._store.shared or bool(self._window) or bool(self._buffer)
                 or bool(self._staged))
        return ready and len(self._live) < self._config.max_tasks

    def _may_refill(self) -> bool:
        """Whether a job's end may refill its slot as it is recorded (a shared run; see
        ``Refill``): the dispatcher would claim now, the ending item not counted."""
        return not self._stopping and len(self._live) - 1 < self._config.max_tasks

    @contextlib.contextmanager
    def _refill_claim(self) -> Iterator[None]:
        """A job's end is being recorded with a claim (``Refill``) in the current task:
        until its claimed item has a task, stop() leaves the task be (cancelled, a
        claim that commits anyway would leave its item submitting with nobody to send
        or release it), and the intake does not take that item for given up."""
        task = asyncio.current_task()
        assert task is not None
        self._refilling.add(task)
        try:
            yield
        finally:
            self._refilling.discard(task)

    def _reserved(self) -> list[str]:
        """The items this worker reserved for its uploads ahead, the furthest along first:
        a refill takes them before the backlog."""
        return [a.key for a in self._furthest_first() if a.row is not None]

    def _furthest_first(self) -> list[_Ahead]:
        """The uploads ahead, the furthest along first (the first claimed)."""
        return sorted(self._staged.values(), key=lambda a: -a.staged.sent)

    def _refilled(self, row: LedgerItem, slot: Slot, seconds: float) -> None:
        """Start an item claimed as a job's end was recorded, in that job's slot (with
        its upload ahead, if it was reserved for one)."""
        self._delivery.claims.record(seconds, 1)
        slot.ends_at = None  # the ended job's; the new one's comes with its submit
        ahead = self._staged.pop(row.key, None) or self._offered.pop(row.key, None)
        if ahead is not None:
            log.debug("%s: refilled with its upload ahead (held %.1f s)", row.source,
                      0.0 if ahead.staged.held_since is None
                      else time.monotonic() - ahead.staged.held_since)
        self._start(row, origin="claim", slot=slot, fresh=True,
                    staged=None if ahead is None else ahead.staged)
        self._changes.notify()

    def _input_spent(self) -> bool:
        """Nothing more will be queued here: the input is read, recorded and decided."""
        return (self._intake_done and not self._buffer and not self._window
                and not self._staged and not self._flushing.locked())

    async def _dispatch(self) -> None:
        """Claim items and start them until this run has nothing left to claim."""
        store = self._store
        try:
            # Longest first from the first claim: let the look-ahead fill (or the input
            # end) before choosing, or the first slots would go to whatever came first.
            # Bounded, in case the input is slow or endless.
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changes.wait_for(self._filled), _FILL_WAIT)
            await self._flush()
            deferred = False  # the last claim left a free slot to the workers below share
            while True:
                await self._changes.wait_for(self._may_claim)
                if self._stopping:
                    return
                if self._input_spent() and not store.shared:
                    return
                if self._buffer:  # what was read is chosen from: record it now
                    await self._flush()
                    continue
                held = await self._local_slots()
                if self._buffer:  # read while the slots were awaited: chosen from too
                    await self._flush()
                ahead = self._offered = self._take_staged(len(held))
                taken = [] if store.shared else [
                    *(a.entry for a in ahead.values() if a.entry is not None),
                    *self._take(len(held) - len(ahead))]
                self._claiming = len(taken)
                self._changes.notify()  # room in the window: the intake reads on
                self._claim_open = True
                began = time.monotonic()
                # Fetches wait from the claim to its items' submits (FetchGate).
                with self._work.fetch_gate.claiming():
                    try:
                        rows = await store.claim(
                            len(held), None if store.shared else [e.key for e in taken],
                            within_share=store.shared and not deferred,
                            reserved=list(ahead) if store.shared else ())
                        self._delivery.claims.record(time.monotonic() - began, len(rows))
                    except BaseException:
                        for slot in held:
                            slot.release()
                        for one in ahead.values():
                            one.staged.cancel()
                            if one.row is not None:  # given back at the shutdown
                                self._staged[one.key] = one
                        self._give_back(taken)
                        raise
                    finally:
                        self._claiming = 0
                        self._claim_open = False
                        self._offered = {}
                    for row, slot in zip(rows, held, strict=False):
                        used = ahead.pop(row.key, None)
                        self._start(row, origin="claim", slot=slot, fresh=True,
                                    staged=None if used is None else used.staged)
                for slot in held[len(rows):]:
                    slot.release()
                for one in ahead.values():
                    if one.row is None or self._stopping:  # cut off, nothing created
                        one.staged.cancel()
                    if one.row is not None:
                        # Reserved, not claimed (the account is full, or this worker
                        # holds its share): held on for the next slot, up to HOLD_LIMIT
                        # (or given back: ``_tend_staged``, the shutdown).
                        self._staged[one.key] = one
                claimed = {row.key for row in rows}
                self._give_back([e for e in taken if e.key not in claimed])
                self._changes.notify()
                if rows:
                    deferred = False
                    continue
                if store.shared and store.over_share and not deferred:
                    # A slot is free and this worker holds its share or more: a worker
                    # below its share (one that joined late) takes it on the notification;
                    # if none has within a moment, this one does.
                    deferred = True
                    await asyncio.sleep(_SHARE_DEFER)
                    continue
                deferred = False
                if store.shared and self._input_spent():
                    await self._flush()
                    await self._check_awaiting()
                    if await store.unfinished_elsewhere() == 0:
                        return
                await self._idle()
        except SymblError as exc:
            self._abort(exc)
        finally:
            self._changes.notify()

    async def _local_slots(self) -> list[Slot]:
        """This run's own slots for the next claim (its bound; the account's is the
        claim's): one, waited for, then as many more as are free at once, so a burst of
        ended jobs is refilled by one claim."""
        cfg, slots = self._config, self._config.slots
        await slots.acquire()
        held = [Slot(slots, held=True)]
        while (len(held) < _CLAIM_GROUP and slots.waiting == 0 and slots.in_use < slots.limit
               and len(self._live) + len(held) < cfg.max_tasks
               and (self._store.shared or len(held) < len(self._window) + len(self._staged))):
            await slots.acquire()  # free: returns at once
            held.append(Slot(slots, held=True))
        return held

    def _take_staged(self, most: int) -> dict[str, _Ahead]:
        """Up to ``most`` uploads ahead of their slots, the furthest along first (one
        that was cut off goes back to the window, or to the backlog)."""
        self._tend_staged()
        return {a.key: self._staged.pop(a.key) for a in self._furthest_first()[:max(most, 0)]}

    def _take(self, most: int) -> list[Awaiting]:
        """The window's next ``most`` items: the longest, or the oldest when ``ordered``
        results are held up behind it."""
        cfg, d = self._config, self._delivery
        taken: list[Awaiting] = []
        while self._window and len(taken) < most:
            pressed = cfg.ordered and d.read >= d.next_yield + cfg.reorder_bound
            taken.append(self._window.pop_oldest() if pressed else self._window.pop_longest())
        return taken

    # -- uploads ahead of their slots ----------------------------------------------------------

    async def _stage_ahead(self) -> None:
        """While the account is full, start a file's upload when a running job is expected
        to end by the time it would be uploaded (``StagedUpload``): its last bytes wait for
        the slot, so the slot is refilled as soon as it is free, not one upload later.

        The file is the next one a claim would take: the longest of the look-ahead (a
        ledger this process owns), or of the shared backlog, reserved in the ledger first
        (``ItemStore.reserve``) so that no other worker's claim takes it meanwhile."""
        while not self._stopping:
            self._tend_staged()
            try:
                started = await self._stage_next()
            except SymblError as exc:  # a shared ledger away: the run's other tasks say so
                log.debug("no upload ahead for now: %s", exc)
                started = False
            if not started:
                await asyncio.sleep(_STAGE_TICK)

    def _tend_staged(self) -> None:
        """Give back the uploads ahead that ended early or held too long: their inputs to
        the window, their reservations to the backlog."""
        now = time.monotonic()
        for key, ahead in list(self._staged.items()):
            staged = ahead.staged
            held_too_long = (staged.held_since is not None
                             and now - staged.held_since > HOLD_LIMIT)
            if not (staged.failed or held_too_long):
                continue
            staged.cancel()  # cut off before its last bytes: nothing created
            del self._staged[key]
            self._unstaged.add(key)  # uploaded when its slot is free, as any other
            label = ahead.entry.item.label if ahead.entry is not None else key
            log.info("%s: upload ahead of its slot %s; it goes when a slot is free",
                     label, "held too long" if held_too_long else "cut off")
            if ahead.entry is not None:
                self._give_back([ahead.entry])
            if ahead.row is not None:
                self._helper(self._unreserve(ahead.row))
            self._changes.notify()

    async def _unreserve(self, row: LedgerItem) -> None:
        """Give a reservation back to the backlog (a no-op once the item was claimed).
        One that stays lapses with this worker's lease."""
        try:
            await self._store.apply(row, unreserved())
        except (IllegalTransitionError, LeaseLostError):
            return  # claimed (by this worker), or lapsed: no longer a reservation
        except SymblError as exc:
            log.warning("%s: cannot give its reservation back (%s); it lapses with this "
                        "worker's lease", row.source, exc)

    async def _drop_reservation(self, key: str) -> None:
        """Give back a reservation whose answer was lost, if it was made: kept, nobody
        would claim the item while this worker lives (and every worker would wait for
        it at the end of the batch)."""
        try:
            row = await self._store.get(key)
        except SymblError as exc:
            log.warning("cannot read item %s after its reservation failed: %s", key, exc)
            return
        if (row is not None and row.state is ItemState.PENDING and key not in self._staged
                and row.owner == self._store.worker_id):
            await self._unreserve(row)

    async def _stage_next(self) -> bool:
        """Start the next upload ahead if its time has come; whether one started."""
        uplink, slots, store = self._uplink, self._config.slots, self._store
        if (self._stopping or uplink.at_once is None or len(self._staged) >= uplink.at_once
                or not uplink.immediate()
                or len(self._live) + len(self._staged) >= self._config.max_tasks):
            return False  # the link busy enough
        if not store.shared and (slots.in_use < slots.limit or not self._window):
            return False  # slots free (the dispatcher's), or nothing to upload
        share = store.share if store.shared else None
        if share is not None and sum(1 for s in self._slot_of.values() if s.held) > share:
            # Over its share (of the workers alive), this worker's ended jobs do not
            # refill their slots (the others' claims do): an upload ahead would wait for
            # its slot until it was cut off.
            return False
        rate = uplink.upload_rate
        now = time.monotonic()
        ends = sorted(slot.ends_at for slot in self._slot_of.values()
                      if slot.held and slot.ends_at is not None)
        rank = len(self._staged)  # the uploads ahead already take the first ends
        if rate is None or len(ends) <= rank:
            return False
        entry: Awaiting | None = None
        row: LedgerItem | None = None
        if store.shared:
            row, item = await self._peek(now)
            if row is None or item is None:
                return False
            key, attempts = row.key, row.attempts
        else:
            entry = self._window.peek_longest()
            key, item, attempts = entry.key, entry.item, entry.attempts
        size = item.upload_size() if item.uploads and key not in self._unstaged else None
        # Started when the slot is due within its upload time (and a little more: the
        # model's error, the link's sharing); the rest is held, at most HOLD_LIMIT.
        if size is None or ends[rank] - now > 1.25 * size / rate + _STAGE_TICK:
            return False
        if row is not None:
            self._peeked = None
            try:
                row = await store.reserve(key)
            except SymblError:
                self._helper(self._drop_reservation(key))  # if it was made after all
                raise
            if row is None or self._stopping:  # another worker's now (or a stop)
                if row is not None:
                    await self._unreserve(row)
                return False
        else:
            self._window.pop_longest()
        client = self._config.client
        name = attempt_name(item.name, attempts + 1)
        with submit_fence(self._lease_fence if store.shared else None):  # the task's too
            staged = self._uplink.stage(key, name, item.duration, lambda progress: submit_item(
                client, item, name, progress=progress))
        assert staged.task is not None
        log.debug("%s: uploading ahead of its slot, due in %.1f s (%d bytes at %.0f B/s)",
                  item.label, ends[rank] - now, size, rate)
        self._staged[key] = _Ahead(key, staged, entry=entry, row=row)
        self._staging.add(staged.task)
        staged.task.add_done_callback(self._staged_ended)
        return True

    async def _peek(self, now: float) -> tuple[LedgerItem | None, PreparedItem | None]:
        """The shared backlog's next item and what it sends, as read at most
        ``_PEEK_EVERY`` ago (a read of the ledger per look would be ten a second)."""
        if self._peeked is None or now - self._peeked[0] > _PEEK_EVERY:
            row = await self._store.next_pending()
            self._peeked = (now, row, None if row is None else self._item_for(row))
        return self._peeked[1], self._peeked[2]

    def _staged_ended(self, task: asyncio.Task[Any]) -> None:
        self._staging.discard(task)
        if not task.cancelled():
            task.exception()  # seen here; its worker (if it got one) handles it
        self._changes.notify()

    def _give_back(self, entries: list[Awaiting]) -> None:
        for entry in entries:
            if self._awaiting.get(entry.key) is entry:
                self._window.push(entry, entry.item.duration)

    async def _idle(self) -> None:
        """Wait for a slot or an item to appear (any worker's notification), bounded."""
        waiter = asyncio.ensure_future(self._store.wait_changed(_IDLE_WAIT))
        local = asyncio.ensure_future(self._changes.wait_for(lambda: self._stopping))
        try:
            await asyncio.wait({waiter, local}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (waiter, local):
                task.cancel()
            await asyncio.gather(waiter, local, return_exceptions=True)

    # -- a shared batch: leases, adoption, other workers' results ----------------------------

    async def _adopt(self) -> None:
        """Take over the unfinished items of workers that are gone (of an earlier run, for
        a ledger this process owns), and finish them."""
        self._adopting += 1
        try:
            rows = await self._store.adopt()
        finally:
            self._adopting -= 1
        for row in rows:
            if row.key in self._live:
                continue
            if self._store.shared:
                log.warning("adopting %s (%s) from a worker that is gone", row.source,
                            row.state.value)
            else:
                log.info("finishing %s (%s), left by an earlier run", row.source,
                         row.state.value)
            self._start(row, origin="adopt")
        self._changes.notify()

    async def _may_send(self) -> bool:
        """Whether this worker may still send a submit: its lease was renewed lately, or is
        renewed now. A worker paused past its lease must not send what a claim gave it
        (the adopter looks the attempt up by name and may send it again).

        "Lately": within half a lease of when the renewal was asked for (the database's
        lease runs a whole lease from a moment after that), so a submit let go now is on
        its way half a lease before any adopter can look for it. Without an await when
        the lease is fresh: the submit's fence (:meth:`_lease_fence`) relies on that.
        """
        lease = self._config.lease
        deadline = time.monotonic() + lease
        while time.monotonic() - self._renewed >= lease / 2:
            asked = time.monotonic()
            try:
                alive = await self._store.heartbeat()
            except SymblError as exc:  # the database is away: retry within one lease
                if time.monotonic() >= deadline:
                    log.warning("cannot renew this worker's lease: %s", exc)
                    return False
                await asyncio.sleep(min(1.0, lease / 10))
                continue
            if alive:
                self._renewed = asked
            return alive
        return True

    async def _lease_fence(self) -> None:
        """A shared batch's submits check the lease again right before their last bytes go
        (``submit_fence``): a worker paused between :meth:`_may_send` and that moment
        (SIGSTOP, a frozen VM, a starved loop) would otherwise send, on waking, a submit
        that another worker adopted, found absent by name and sent again: paid twice.

        Raises:
            LeaseLostError: the lease ran out and other workers adopted this worker's
                items; the body is cut off, so this submit created nothing.
        """
        if not await self._may_send():
            raise LeaseLostError(
                None, "this worker's lease ran out (was it paused?) before its submit's last "
                "bytes went; other workers adopted its items, and it stops. Run it again to "
                "rejoin the batch")

    async def _keep_lease(self) -> None:
        lease = self._config.lease
        while True:
            await asyncio.sleep(lease / 3)
            asked = time.monotonic()
            try:
                alive = await self._store.heartbeat()
            except SymblError as exc:
                log.warning("cannot renew this worker's lease yet: %s", exc)
                continue
            took = time.monotonic() - asked
            if took > lease / 3:
                log.warning("renewing this worker's lease took %.1f s of its %.0f s: give it "
                            "a longer %s", took, lease, named(self._config.names, "lease"))
            if alive:
                self._renewed = asked  # the lease runs from a moment after the ask
            else:
                self._abort(LeaseLostError(
                    None, "this worker's lease ran out (was it paused?) and other workers "
                    "adopted its items; it stops. Run it again to rejoin the batch"))
                return

    async def _keep_adopting(self) -> None:
        while True:
            await asyncio.sleep(self._config.lease / 2)
            try:
                await self._adopt()
            except SymblError as exc:
                log.warning("cannot adopt other workers' items yet: %s", exc)

    async def _keep_checking(self) -> None:
        while True:
            await asyncio.sleep(_CHECK_EVERY)
            try:
                await self._check_awaiting()
            except LeaseLostError:
                raise
            except SymblError as exc:
                log.warning("cannot read the shared ledger yet: %s", exc)

    async def _check_awaiting(self) -> None:
        """Report the inputs whose items other workers finished (or this one gave up on)."""
        keys = [k for k, e in self._awaiting.items() if e.decided and k not in self._live]
        for at in range(0, len(keys), 500):
            for row in await self._store.get_many(keys[at:at + 500], held_or_done=True):
                entry = self._awaiting.get(row.key)
                if entry is None or row.key in self._live:
                    continue
                if row.state in RELEASED or self._given_up(row):
                    await self._report(entry, row)

