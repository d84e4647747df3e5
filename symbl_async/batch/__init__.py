"""Batches: many recordings through the account's job slots, durably.

``_sources`` (inputs, manifests and stable keys), ``_window`` (the longest-first
look-ahead), ``_slots`` (the AIMD job slots), ``_ledger`` (the SQLite ledger),
``_items`` (preparing and submitting one item), ``_worker`` (one item from submit to
insights), ``_run`` (the engine, ``BatchRun``), ``_results`` and ``_storage`` (result
files), ``_api`` (``process_many``).

May import: :mod:`symbl_async.core`, :mod:`symbl_async.models`,
:mod:`symbl_async.errors`. It reaches the service only through the client it is given.
"""

from __future__ import annotations

from symbl_async.batch._api import (
    LEDGER_FILE,
    BatchRun,
    process_many,
)
from symbl_async.batch._ledger import (
    ItemState,
    Ledger,
    LedgerItem,
)
from symbl_async.batch._results import (
    RESULTS_FILE,
    SUMMARY_FILE,
    BatchEvent,
    BatchProgress,
    BatchResult,
    BatchSummary,
    EventKind,
    FailureRecord,
    ResultStatus,
)
from symbl_async.batch._slots import (
    PLAN_LIMITS,
    JobSlots,
)
from symbl_async.batch._sources import (
    FileSource,
    MediaKind,
    Source,
    SourceError,
    TextSource,
    UrlSource,
    expand_inputs,
    item_key,
    read_manifest,
    submit_name,
)
from symbl_async.batch._window import (
    LongestFirstWindow,
)

__all__ = [
    "LEDGER_FILE",
    "PLAN_LIMITS",
    "RESULTS_FILE",
    "SUMMARY_FILE",
    "BatchEvent",
    "BatchProgress",
    "BatchResult",
    "BatchRun",
    "BatchSummary",
    "EventKind",
    "FailureRecord",
    "FileSource",
    "ItemState",
    "JobSlots",
    "Ledger",
    "LedgerItem",
    "LongestFirstWindow",
    "MediaKind",
    "ResultStatus",
    "Source",
    "SourceError",
    "TextSource",
    "UrlSource",
    "expand_inputs",
    "item_key",
    "process_many",
    "read_manifest",
    "submit_name",
]
