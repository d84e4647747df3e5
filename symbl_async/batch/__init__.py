"""Batches: many recordings through the account's job slots, durably.

``_protocol`` (``BatchClient``: what the engine needs from a client), ``_sources`` (sources
and stable keys), ``_manifests`` (reading paths, folders and manifests lazily), ``_window``
(the longest-first look-ahead), ``_slots`` (the AIMD job slots), ``_store`` (the ledger as
the engine awaits it), ``_records``, ``_ledger`` and ``_sqlite_store`` (the SQLite ledger),
``_pg_*`` (the PostgreSQL ledger several workers share), ``_items`` (preparing and
submitting one item), ``_worker`` (one item from submit to insights, top to bottom),
``_watchers`` (slots of jobs no task waits for) and ``_found`` (an item found by name),
``_intake``, ``_delivery`` and ``_run`` (the engine, ``BatchRun``), ``_shared`` (a batch
shared by workers), ``_results`` (results, progress, summary), ``_writer`` and ``_storage``
(files, ledger lock), ``_api`` (``process_many``).

One item has one shape per stage: ``PreparedItem`` (a checked input), ``Entry`` (in this
run's hands), ``LedgerItem`` (its durable record, which the submit, wait and fetch steps
advance) and ``BatchResult`` (what is reported).

May import: :mod:`symbl_async.core`, :mod:`symbl_async.models`,
:mod:`symbl_async.errors`; never :mod:`symbl_async.client`. It reaches the service only
through the client it is given, typed as :class:`BatchClient`.
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
from symbl_async.batch._manifests import (
    expand_inputs,
    read_manifest,
)
from symbl_async.batch._names import (
    submit_name,
)
from symbl_async.batch._pg_store import (
    PostgresStore,
)
from symbl_async.batch._protocol import (
    BatchClient,
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
    item_key,
)
from symbl_async.batch._sqlite_store import SqliteStore
from symbl_async.batch._storage import batch_webhook_token
from symbl_async.batch._store import ItemStore, SharedStore
from symbl_async.batch._window import (
    LongestFirstWindow,
)

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
    "EventKind",
    "FailureRecord",
    "FileSource",
    "ItemState",
    "ItemStore",
    "JobSlots",
    "Ledger",
    "LedgerItem",
    "LongestFirstWindow",
    "MediaKind",
    "PostgresStore",
    "ResultStatus",
    "SharedStore",
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
