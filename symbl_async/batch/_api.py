"""The batch runner's public face: :func:`process_many` and the :class:`BatchRun` it returns.

Every job slot busy, every recording processed once, results on disk::

    async with process_many(client, paths, plan="paid", out_dir="out") as run:
        async for result in run:
            print(result.source, result.status, result.error or "")
    print(run.summary.format())

How it works, and the decisions behind it (slots held until a job ends, 429s, unknown submit
outcomes and lookups by name, reruns, shared ledgers): ARCHITECTURE.md, "A batch". The engine
is :mod:`symbl_async.batch._engine`.
"""

from __future__ import annotations

import asyncio
import os
import weakref
from collections.abc import AsyncGenerator, AsyncIterable, Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType

from symbl_async.batch._engine import Engine, RunConfig, default_lookahead
from symbl_async.batch._ledger._store import ItemStore
from symbl_async.batch._output import LEDGER_FILE, TRANSCRIPT_FORMATS
from symbl_async.batch._protocol import BatchClient
from symbl_async.batch._results import BatchEvent, BatchProgress, BatchResult, BatchSummary
from symbl_async.batch._slots import JobSlots
from symbl_async.batch._uplink import UPLOADS_AT_ONCE, Uplink
from symbl_async.core._checks import check_ledger_url
from symbl_async.core._options import ProcessingOptions
from symbl_async.errors import ValidationError
from symbl_async.models._include import ALL_INCLUDE, DEFAULT_INCLUDE

__all__ = [
    "LEDGER_FILE",
    "BatchEvent",
    "BatchProgress",
    "BatchResult",
    "BatchRun",
    "BatchSummary",
    "process_many",
]


_CLOSING: set[asyncio.Task[None]] = set()  # closes of abandoned runs, kept until done


class BatchRun:
    """A running batch: an async iterator of results, with progress, stop and summary.

    Create it with :func:`process_many`. Use it as ``async with run:`` (or call
    :meth:`aclose`) so that leaving the loop early cancels its work and closes the ledger.
    A run left without either stops when it is garbage collected (its work holds only the
    engine, not this object).
    """

    def __init__(self, config: RunConfig) -> None:
        """Hold the configuration; nothing runs until the first ``__anext__``."""
        self._engine = Engine(config)
        self._gen: AsyncGenerator[BatchResult, None] | None = None

    def __aiter__(self) -> BatchRun:
        return self

    async def __anext__(self) -> BatchResult:
        if self._gen is None:
            self._gen = self._engine.results()
            weakref.finalize(self, _abandon, self._engine, self._gen)
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
        self._engine.stop()

    @property
    def progress(self) -> BatchProgress:
        """The counters now."""
        return self._engine.progress

    @property
    def summary(self) -> BatchSummary | None:
        """The summary, once the run has ended (None before)."""
        return self._engine.summary

    @property
    def ledger_path(self) -> Path | None:
        """The ledger file in use (None before the run starts)."""
        return self._engine.ledger_path


def _abandon(engine: Engine, gen: AsyncGenerator[BatchResult, None]) -> None:
    """A started run was dropped without ``aclose``: stop it and close it on its loop."""
    if engine.summary is not None:
        return
    engine.stop()
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # collected after its loop ended: its tasks ended with it
        return
    task = loop.create_task(gen.aclose())
    _CLOSING.add(task)
    task.add_done_callback(_CLOSING.discard)


def _check_include(include: object) -> tuple[str, ...]:
    valid = ", ".join(ALL_INCLUDE)
    if isinstance(include, str) or not isinstance(include, Iterable):
        raise ValidationError("include", f"must be a collection of names from: {valid}")
    names = tuple(dict.fromkeys(include))
    unknown = [name for name in names if name not in ALL_INCLUDE]
    if unknown or not names:
        raise ValidationError("include", f"unknown {unknown!r}; valid names: {valid}")
    return names


def _check_transcripts(transcripts: object, out_dir: object) -> tuple[str, ...]:
    valid = ", ".join(TRANSCRIPT_FORMATS)
    if isinstance(transcripts, str) or not isinstance(transcripts, Iterable):
        raise ValidationError("transcripts", f"must be a collection of formats from: {valid}")
    formats = tuple(dict.fromkeys(transcripts))
    unknown = [fmt for fmt in formats if fmt not in TRANSCRIPT_FORMATS]
    if unknown:
        raise ValidationError("transcripts", f"unknown {unknown!r}; valid formats: {valid}")
    if formats and out_dir is None:
        raise ValidationError("transcripts", "are files: give out_dir")
    return formats


def _make_slots(
    slots: JobSlots | None, max_concurrent_jobs: int | None, plan: str | None
) -> JobSlots:
    given = [name for name, value in (("slots", slots), ("max_concurrent_jobs",
             max_concurrent_jobs), ("plan", plan)) if value is not None]
    if len(given) > 1:
        raise ValidationError(given[1], f"give only one of slots, max_concurrent_jobs and plan "
                              f"(got {', '.join(given)})")
    if slots is not None:
        if not isinstance(slots, JobSlots):
            raise ValidationError("slots", "must be a JobSlots")
        return slots
    if plan is not None:
        return JobSlots.for_plan(plan)
    if max_concurrent_jobs is not None:
        return JobSlots(max_concurrent_jobs)
    return JobSlots()


def process_many(
    client: BatchClient,
    sources: AsyncIterable[object] | Iterable[object],
    *,
    options: ProcessingOptions | None = None,
    include: Iterable[str] = DEFAULT_INCLUDE,
    ordered: bool = False,
    slots: JobSlots | None = None,
    max_concurrent_jobs: int | None = None,
    plan: str | None = None,
    ledger: ItemStore | str | os.PathLike[str] | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    retry_failed: bool = False,
    reprocess: bool = False,
    lookahead: int | None = None,
    wait_timeout: float | None = None,
    wait_mode: str | None = None,
    lookup_grace: float | None = None,
    on_event: Callable[[BatchEvent], None] | None = None,
    lease: float = 30.0,
    fetch_timeout: float = 1800.0,
    ledger_outage: float = 300.0,
    uploads_at_once: int | None = UPLOADS_AT_ONCE,
    option_names: Mapping[str, str] | None = None,
    transcripts: Iterable[str] = (),
) -> BatchRun:
    """Process many recordings with every job slot busy; yield one result per input.

    Args:
        client: an open client: a ``SymblClient``, or anything that satisfies the
            :class:`~symbl_async.batch._protocol.BatchClient` Protocol.
        sources: a sync or async iterable, read lazily: paths (a ``.txt`` or ``.json``
            file is a text conversation), http(s) URL strings, mappings with
            ``messages`` (text conversations: the API's messages or ``{"speaker",
            "text"}``), ``FileSource`` /
            ``UrlSource`` / ``TextSource`` objects (with their own options, key and
            duration), or ``SourceError`` values (reported as failures), e.g. from
            :func:`~symbl_async.batch._sources.expand_inputs` or
            :func:`~symbl_async.batch._sources.read_manifest`.
        options: the batch's processing options; a source's own options override them.
            ``name`` is always set by the batch (derived from the item's key).
        include: insights to fetch (``ConversationInsights`` field names).
        ordered: yield results in input order (bounded buffer; may leave slots idle
            behind a long recording) instead of as they finish.
        slots: a limiter to use (e.g. shared with other work); or give one of
            ``max_concurrent_jobs`` or ``plan`` (``trial``, ``free``, ``paid``). Default:
            50 slots, adapted down on 429s.
        max_concurrent_jobs: the account's concurrent-job limit.
        plan: the account's plan, for its limit.
        ledger: a path to a SQLite ledger, a ``postgresql://`` URL, or a store
            (``SqliteStore``, ``PostgresStore``, ``MemoryStore``). Default: ``ledger.sqlite3``
            in ``out_dir``, or a temporary one (no resume) without ``out_dir``. Running the
            same batch with the same ledger resumes it. A ``postgresql://`` URL (``pip
            install 'symbl_async[postgres]'``) shares the batch: every worker started with
            the same URL takes its part of the backlog, and together they keep within the
            account's limit.
        out_dir: folder for ``<name>-<12 hex>.json`` insights (in the subfolder of the
            output folder that mirrors where each input was found: a source's
            ``relative``), ``results.jsonl``, ``results.csv`` and ``summary.json``; without
            it, results carry their insights instead.
        retry_failed: retry items that failed in an earlier run (a failed fetch is
            fetched again without submitting).
        reprocess: accept ``options`` that differ from those the batch's ledger recorded.
            Options are part of an item's identity, so every item is then processed (and
            paid for) again as a new one; without it such a rerun is refused before
            anything is sent.
        lookahead: how many inputs are read ahead to choose the longest first. Default:
            16 per job slot (``max_limit`` of the slots), at least 256: a long recording
            read late starts late and ends the batch alone, and the read-ahead that
            avoids it grows with the slots (the account's jobs at once).
        wait_timeout: seconds to wait for one job (default: the client's); see the module
            docstring for what happens to a job that outlives it.
        wait_mode: passed to ``client.wait(mode=...)`` when given. In the webhook modes,
            start the client's receiver with ``token=batch_webhook_token(ledger)`` on a
            fixed port or public URL, so that a rerun gets the earlier run's webhooks.
        lookup_grace: seconds after a submit of unknown outcome (or one left by a crash)
            before a lookup that does not find it counts as "no job was created" and the
            item is sent again under a new name. Default, per item: the longest its submit
            could have waited for an answer (``client.submit_deadline``: the request timeout
            for a URL or text, the size-scaled upload deadline for a file), plus a minute;
            an hour plus a minute when there is no bound.
        on_event: called on the event loop for each :class:`BatchEvent`; keep it quick.
        lease: with a shared (``postgresql://``) ledger, seconds this worker's lease lasts
            without renewal (it renews every third of it): once it runs out, other workers
            adopt this worker's items. Longer than any pause the worker may take.
        fetch_timeout: seconds a completed (paid) job's insights are fetched for, with
            backoff, before the item is failed (a rerun with ``retry_failed`` fetches it
            again without paying).
        ledger_outage: with a ``postgresql://`` ledger, seconds this worker rides out the
            database's absence (an outage, a restart, a failover) before it stops: its
            operations wait and retry meanwhile.
        uploads_at_once: file uploads in flight at once (``None``: no bound). Two fill an
            uplink and let each upload end as soon as the link allows; every free slot
            uploading at once shares the link, so no job starts until they all crawl in.
            The bound is this run's: workers of a shared ledger on one machine (one
            uplink) each keep their own, so two of them put up to twice as many on it.
        option_names: how messages name this function's parameters (``{"retry_failed":
            "--retry-failed"}``); by default as ``retry_failed=True``.
        transcripts: transcripts to write beside each insights file (needs ``out_dir``):
            any of ``srt`` and ``md`` (Symbl's formatted transcript), ``vtt`` and ``txt``
            (rendered from the messages). A rerun asking for one an item lacks (or whose
            file is gone) fetches it without submitting again.

    Returns:
        The run: ``async for result in run``; ``run.summary`` once it has ended;
        ``run.stop()`` to stop submitting.

    Raises:
        ValidationError: for a bad argument, now; for an unusable ``out_dir`` or
            ``ledger``, on the first iteration, before anything is submitted.
        AuthenticationError: (while iterating) credentials were refused; the run stops.
        LedgerError: (while iterating) the ledger could not be written; the run stops.
    """
    # Long only by its argument checks, one per argument, all before anything runs.
    if not isinstance(client, BatchClient):
        raise ValidationError("client", "must be a SymblClient (or another BatchClient)")
    if isinstance(sources, (str, bytes)) or not isinstance(sources, (Iterable, AsyncIterable)):
        raise ValidationError("sources", "must be an iterable of sources (not a single string)")
    if options is not None and not isinstance(options, ProcessingOptions):
        raise ValidationError("options", "must be a ProcessingOptions")
    names = _check_include(include)
    formats = _check_transcripts(transcripts, out_dir)
    if lookahead is not None and (
        isinstance(lookahead, bool) or not isinstance(lookahead, int) or lookahead < 1
    ):
        raise ValidationError("lookahead", "must be an integer >= 1")
    if wait_timeout is not None and (
        isinstance(wait_timeout, bool) or not isinstance(wait_timeout, (int, float))
        or not wait_timeout > 0
    ):
        raise ValidationError("wait_timeout", "must be a number of seconds > 0")
    if lookup_grace is not None and (
        isinstance(lookup_grace, bool) or not isinstance(lookup_grace, (int, float))
        or not lookup_grace >= 0
    ):
        raise ValidationError("lookup_grace", "must be a number of seconds >= 0")
    if isinstance(lease, bool) or not isinstance(lease, (int, float)) or not 0 < lease < 1e6:
        raise ValidationError("lease", "must be a number of seconds > 0")
    for field, value in (("fetch_timeout", fetch_timeout), ("ledger_outage", ledger_outage)):
        if (isinstance(value, bool) or not isinstance(value, (int, float))
                or not 0 < value < 1e9):
            raise ValidationError(field, "must be a number of seconds > 0")
    Uplink(uploads_at_once)  # its check: a positive int or None
    if isinstance(ledger, str) and "://" in ledger:
        ledger = check_ledger_url(ledger)
    elif ledger is not None and not isinstance(ledger, (ItemStore, str, os.PathLike)):
        raise ValidationError("ledger", "must be a path, a postgresql:// URL or a store")
    if wait_mode is not None:
        # The same check client.wait makes, but now: an unknown mode, or a webhook
        # mode with no receiver, must not be found out after every item was paid for.
        client.waiter(wait_mode, field="wait_mode")
    for flag, value in (
        ("ordered", ordered), ("retry_failed", retry_failed), ("reprocess", reprocess)
    ):
        if not isinstance(value, bool):
            raise ValidationError(flag, "must be True or False")
    job_slots = _make_slots(slots, max_concurrent_jobs, plan)
    return BatchRun(RunConfig(
        client=client,
        sources=sources,
        options=options,
        include=names,
        ordered=ordered,
        slots=job_slots,
        ledger=(ledger if ledger is None or isinstance(ledger, ItemStore)
                or (isinstance(ledger, str) and "://" in ledger) else Path(ledger)),
        out_dir=None if out_dir is None else Path(out_dir),
        retry_failed=retry_failed,
        reprocess=reprocess,
        lookahead=default_lookahead(job_slots) if lookahead is None else lookahead,
        wait_timeout=None if wait_timeout is None else float(wait_timeout),
        wait_mode=wait_mode,
        lookup_grace=None if lookup_grace is None else float(lookup_grace),
        on_event=on_event,
        lease=float(lease),
        fetch_timeout=float(fetch_timeout),
        ledger_outage=float(ledger_outage),
        uploads_at_once=uploads_at_once,
        names=dict(option_names or {}),
        transcripts=formats,
    ))
