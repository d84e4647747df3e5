"""Batches: many recordings through the account's job slots, durably.

``_api`` (:func:`process_many`, :class:`BatchRun`), ``_engine`` (the one engine: intake,
claims, reruns, results), ``_worker`` (one item top to bottom: submit or settle, wait,
fetch), ``_lookup`` (unknown submit outcomes: lookups by name, jobs found that way),
``_rerun`` (what a rerun does), ``_inputs`` (sources, keys, folders and manifests read
lazily), ``_items`` (checking, naming and submitting one item), ``_slots`` (the AIMD job
slots and the longest-first window), ``_results`` (results, progress, summary, delivery),
``_output`` (the output folder, its files, the lock), ``_protocol`` (``BatchClient``: what
the engine needs from a client), and ``ledger`` (the state machine and its stores).

One item has one shape per stage: ``PreparedItem`` (a checked input), ``LedgerItem`` (its
durable record, which the submit, wait and fetch steps advance) and ``BatchResult`` (what
is reported). ARCHITECTURE.md draws the path of one item.

May import: :mod:`symbl_async.core`, :mod:`symbl_async.models`,
:mod:`symbl_async.errors`; never :mod:`symbl_async.client`. It reaches the service only
through the client it is given, typed as :class:`BatchClient`.
"""

from __future__ import annotations

from symbl_async.batch._api import LEDGER_FILE, BatchRun, process_many
from symbl_async.batch._inputs import (
    FileSource,
    MediaKind,
    Source,
    SourceError,
    TextSource,
    UrlSource,
    expand_inputs,
    item_key,
    read_manifest,
)
from symbl_async.batch._items import submit_name
from symbl_async.batch._ledger import (
    ItemState,
    ItemStore,
    LedgerItem,
    MemoryStore,
    PostgresStore,
    SqliteStore,
)
from symbl_async.batch._protocol import BatchClient
from symbl_async.batch._rerun import batch_webhook_token
from symbl_async.batch._results import (
    RESULTS_FILE,
    SUMMARY_FILE,
    BatchEvent,
    BatchProgress,
    BatchResult,
    BatchSummary,
    ClaimStats,
    EventKind,
    FailureRecord,
    ResultStatus,
)
from symbl_async.batch._slots import PLAN_LIMITS, JobSlots, LongestFirstWindow

__all__ = [
    "LEDGER_FILE",
    "PLAN_LIMITS",
    "RESULTS_FILE",
    "SUMMARY_FILE",
    "BatchClient",
    "BatchEvent",
    "BatchProgress",
    "BatchResult",
    "BatchRun",
    "BatchSummary",
    "ClaimStats",
    "EventKind",
    "FailureRecord",
    "FileSource",
    "ItemState",
    "ItemStore",
    "JobSlots",
    "LedgerItem",
    "LongestFirstWindow",
    "MediaKind",
    "MemoryStore",
    "PostgresStore",
    "ResultStatus",
    "Source",
    "SourceError",
    "SqliteStore",
    "TextSource",
    "UrlSource",
    "batch_webhook_token",
    "expand_inputs",
    "item_key",
    "process_many",
    "read_manifest",
    "submit_name",
]
