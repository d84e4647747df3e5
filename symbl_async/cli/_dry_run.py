"""``symbl-async process --dry-run``: what a run would submit, skip, take and cost.

Nothing is sent but the credential check (``_batch._connect``) and nothing is written: the
ledger, when there is one, is opened read-only (``SqliteStore.open_read_only``,
``PostgresStore.connect_read_only``). Each input goes through the run's own intake: checked
and keyed by :func:`~symbl_async.batch._items.prepare_item`, its row judged by
:func:`~symbl_async.batch._rerun.admit` (and a retry by the state machine's own move), the
rerun checks by :func:`~symbl_async.batch._rerun.check_rerun`, so what the dry run says is
what the run would do.

The expected wall time is a longest-first schedule of the jobs to submit over the
account's slots (what the run's claims approach): each job's time from the processing-time
model the batch's earlier runs learned (kept in the ledger), or, for a kind no run has
learned, from the poll schedule's prior (``PollSchedule.expected_time``): a guess, and said
so (Symbl documents no processing time).
"""

from __future__ import annotations

import collections
import heapq
import math
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TextIO

import attrs

from symbl_async.batch._inputs import FileSource, Source, SourceError, TextSource
from symbl_async.batch._items import PreparedItem, prepare_item
from symbl_async.batch._ledger._postgres import PostgresStore
from symbl_async.batch._ledger._sqlite import SqliteStore
from symbl_async.batch._ledger._states import Advanced, ItemState, LedgerItem, advance, retried
from symbl_async.batch._ledger._store import ItemStore
from symbl_async.batch._rerun import (
    Admit,
    admit,
    check_rerun,
    load_processing_model,
    outputs_to_fetch,
    say,
)
from symbl_async.batch._results import BatchResult
from symbl_async.client._client import SymblClient
from symbl_async.core._options import ProcessingOptions

__all__ = ["DryRun", "Forecast"]

_GROUP = 500  # inputs looked up in the ledger at once
_LISTED = 20  # bad inputs listed by name; the rest are counted


def _category(source: Source) -> str:
    if isinstance(source, FileSource):
        return f"{source.kind} files"
    if isinstance(source, TextSource):
        return "text conversations"
    return "URLs"


def _model_kind(source: Source) -> str:
    """The kind the client learns processing times under (``Job.kind``)."""
    return "text" if isinstance(source, TextSource) else source.kind


def longest_first(times: Iterable[float], slots: int) -> float:
    """When the last job ends if each, longest first, starts as soon as a slot is free."""
    ends = [0.0] * max(1, slots)
    for seconds in sorted(times, reverse=True):
        heapq.heapreplace(ends, ends[0] + seconds)
    return max(ends)


def span(seconds: float) -> str:
    """A duration for people: ``45 s``, ``12 min``, ``3 h 05 min``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


@attrs.define
class Forecast:
    """What a run of the same command would do, input by input, summed."""

    read: int = 0
    submit: collections.Counter[str] = attrs.field(factory=collections.Counter)
    """Jobs to submit, by category (``audio files``, ``URLs``...)."""
    media_seconds: float = 0.0
    """Media length of the jobs to submit, where known."""
    unknown_length: int = 0
    """Jobs to submit with media of unknown length (text has none: not counted)."""
    jobs: list[tuple[str, float | None]] = attrs.field(factory=list)
    """(model kind, media length) of each job to submit."""
    fetch: int = 0
    """Done on the service, insights to fetch (again): no submit."""
    waited: int = 0
    """In flight (an earlier run's, or another worker's): waited for, not submitted again."""
    done: int = 0
    failed_earlier: int = 0
    duplicates: int = 0
    bad: list[tuple[str, str]] = attrs.field(factory=list)
    bad_count: int = 0

    def add_bad(self, result: BatchResult) -> None:
        """An input the run would fail at once (unsupported, unreadable, malformed)."""
        self.bad_count += 1
        if len(self.bad) < _LISTED:
            self.bad.append((result.source, result.error or "invalid"))

    def add_job(self, item: PreparedItem) -> None:
        """An input the run would submit."""
        self.submit[_category(item.source)] += 1
        self.jobs.append((_model_kind(item.source), item.duration))
        if _model_kind(item.source) == "text":
            return
        if item.duration is None:
            self.unknown_length += 1
        else:
            self.media_seconds += item.duration


@attrs.frozen(kw_only=True)
class DryRun:
    """The settings of the run a dry run looks at (those of the same command)."""

    client: SymblClient
    options: ProcessingOptions | None
    include: tuple[str, ...]
    transcripts: tuple[str, ...]
    out: Path
    ledger: Path | str  # str: a postgresql:// URL
    retry_failed: bool
    reprocess: bool
    limit: int
    limit_given: bool
    price_per_minute: float | None
    names: Mapping[str, str]

    async def forecast(self, sources: Iterator[Source | SourceError]) -> tuple[Forecast, bool]:
        """Read every input and judge it as the run would.

        Returns:
            The forecast, and whether a ledger was there (False: every input is new).

        Raises:
            ValidationError: the ledger cannot be read, or the run would be refused (other
                options, another service: :func:`check_rerun`).
        """
        store = await self._open_ledger()
        try:
            if store is not None:
                client = self.client
                await check_rerun(store, options=self.options, base_url=client.base_url,
                                  app_id=client.app_id, reprocess=self.reprocess,
                                  names=self.names, record=False)
                await load_processing_model(store, client.processing_model)
            forecast = Forecast()
            seen: set[str] = set()
            group: list[PreparedItem] = []
            for raw in sources:
                forecast.read += 1
                prepared = prepare_item(raw, self.options)
                if isinstance(prepared, BatchResult):
                    forecast.add_bad(prepared)
                    continue
                if prepared.key in seen:
                    forecast.duplicates += 1
                    continue
                seen.add(prepared.key)
                group.append(prepared)
                if len(group) >= _GROUP:
                    await self._judge(store, group, forecast)
                    group = []
            await self._judge(store, group, forecast)
        finally:
            if store is not None:
                await store.aclose()
        return forecast, store is not None

    async def _open_ledger(self) -> ItemStore | None:
        if isinstance(self.ledger, str):
            return await PostgresStore.connect_read_only(self.ledger)
        if not self.ledger.exists():
            return None
        return await SqliteStore.open_read_only(self.ledger)

    async def _judge(
        self, store: ItemStore | None, group: list[PreparedItem], forecast: Forecast
    ) -> None:
        rows: dict[str, LedgerItem] = {}
        if store is not None and group:
            rows = {row.key: row for row in await store.get_many([i.key for i in group])}
        for item in group:
            row = rows.get(item.key)
            if row is None:  # new: recorded pending, then claimed
                forecast.add_job(item)
                continue
            self._judge_row(item, row, forecast)

    def _judge_row(self, item: PreparedItem, row: LedgerItem, forecast: Forecast) -> None:
        # Nothing of this run has settled yet: every settled row is an earlier run's.
        action = admit(row, run_started=math.inf, retry_failed=self.retry_failed,
                       given_up=False)
        if action is Admit.QUEUE:
            forecast.add_job(item)
        elif action is Admit.AWAIT:
            if row.state is ItemState.COMPLETED:
                forecast.fetch += 1
            else:
                forecast.waited += 1
        elif action is Admit.CHECK_FILE:
            if outputs_to_fetch(row, self.out, self.include, self.transcripts)[0] is None:
                forecast.done += 1
            else:
                forecast.fetch += 1
        elif action is Admit.RETRY:
            moved = advance(row, retried(), worker="dry-run", fence=None, now=time.time(),
                            new_fence=0)
            if not isinstance(moved, Advanced):
                forecast.failed_earlier += 1
            elif moved.item.state is ItemState.PENDING:
                forecast.add_job(item)
            else:  # its job had completed: fetched again, never resubmitted
                forecast.fetch += 1
        else:
            forecast.failed_earlier += 1

    def expected_times(self, forecast: Forecast) -> tuple[list[float], bool, int]:
        """Each job's expected processing time (seconds), whether any is the prior's
        guess, and how many jobs have no estimate (media of unknown length, nothing
        learned)."""
        model, poll = self.client.processing_model, self.client.poll
        times: list[float] = []
        guessed, unknown = False, 0
        for kind, duration in forecast.jobs:
            if model.observations(kind):
                times.append(model.predict(kind, duration).median)
                continue
            guessed = True
            # Text has no media: its job is the fixed part of the prior alone.
            expected = poll.expected_time(0.0 if kind == "text" else duration)
            if expected is None:
                unknown += 1
            else:
                times.append(expected)
        return times, guessed, unknown

    def report(self, forecast: Forecast, had_ledger: bool, out: TextIO) -> None:
        """Print the forecast."""
        f = forecast
        print("dry run: nothing was submitted, nothing written", file=out)
        where = str(self.ledger) if isinstance(self.ledger, Path) else "the shared ledger"
        print(f"{f.read} input(s); " + (f"judged against {where} (read only)" if had_ledger
                                        else "no batch recorded yet: every input is new"),
              file=out)
        jobs = sum(f.submit.values())
        order = ["audio files", "video files", "URLs", "text conversations"]
        kinds = ", ".join(f"{f.submit[c]} {c}" for c in order if f.submit[c])
        media = f"{f.media_seconds / 3600:.2f} media hours"
        if f.unknown_length:
            media += f" known ({f.unknown_length} of unknown length)"
        print(f"would submit {jobs} job(s)" + (f": {kinds}; {media}" if jobs else ""),
              file=out)
        if f.fetch:
            print(f"would fetch {f.fetch} finished job(s) without submitting them", file=out)
        if f.waited:
            print(f"would wait for {f.waited} job(s) already in flight (not submitted again)",
                  file=out)
        skipped = [(f.done, "done earlier"), (f.duplicates, "duplicate input(s)"),
                   (f.failed_earlier, "failed earlier (" + say(self.names, "retry_failed")
                    + " retries them)")]
        said = ", ".join(f"{n} {what}" for n, what in skipped if n)
        if said:
            print(f"would skip: {said}", file=out)
        if f.bad_count:
            print(f"would fail: {f.bad_count} input(s) unsupported or invalid", file=out)
            for source, error in f.bad:
                print(f"  failed: {source}: {error}", file=out)
            if f.bad_count > len(f.bad):
                print(f"  ... and {f.bad_count - len(f.bad)} more", file=out)
        if jobs:
            self._report_time(f, out)
        if jobs and self.price_per_minute is not None:
            minutes = f.media_seconds / 60
            left_out = f" ({f.unknown_length} of unknown length not counted)" \
                if f.unknown_length else ""
            print(f"expected cost: {minutes * self.price_per_minute:,.2f} for "
                  f"{minutes:,.1f} media minutes at {self.price_per_minute:g} per minute"
                  f"{left_out}", file=out)

    def _report_time(self, forecast: Forecast, out: TextIO) -> None:
        times, guessed, unknown = self.expected_times(forecast)
        slots = f"{self.limit} concurrent jobs" + ("" if self.limit_given else
                                                   " (the default limit)")
        if not times:
            print(f"expected wall time at {slots}: unknown (no media length known)", file=out)
            return
        wall = span(longest_first(times, self.limit))
        basis = ("a guess: no job of this kind has ended in this batch yet, and Symbl "
                 "documents no processing time" if guessed
                 else "from the processing times this batch's earlier runs learned")
        left_out = f"; {unknown} job(s) of unknown length not counted" if unknown else ""
        print(f"expected wall time at {slots}: about {wall}, longest first ({basis}"
              f"{left_out})", file=out)
