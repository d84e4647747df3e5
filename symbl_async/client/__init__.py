"""The client facade: ``SymblClient``, the Conversation API namespace, uploads, waiting.

``_client`` (``SymblClient``, whole: settings, the ten job-creating calls, jobs and
waits, webhooks and the per-attempt webhook URLs of batches, the one-call ``process_*``
helpers), ``_conversations`` (``ConversationsAPI``, ``client.conversations``: list,
iterate, metadata and member edits, every kind of insight, several kinds at once as
models or as JSON), ``_waiting`` (the poll loop, learned poll plans and the
``ModelWatch`` that wakes them, the poll, webhook and hybrid waiters), ``_uploads``
(files and streams to upload), ``_durations`` (audio durations with ``mutagen``).

May import: :mod:`symbl_async.core`, :mod:`symbl_async.transport`,
:mod:`symbl_async.models`, :mod:`symbl_async.webhooks`, :mod:`symbl_async.errors`.
Never :mod:`symbl_async.batch` or :mod:`symbl_async.cli`.
"""

from __future__ import annotations

from symbl_async.client._client import (
    DEFAULT_BASE_URL,
    SymblClient,
)
from symbl_async.client._conversations import (
    ALL_INCLUDE,
    DEFAULT_INCLUDE,
    TRANSCRIPT_CONTENT_TYPES,
    ConversationsAPI,
    check_include,
)
from symbl_async.client._uploads import (
    MediaInput,
)
from symbl_async.client._waiting import (
    GetJob,
    HybridWaiter,
    PollWaiter,
    Waiter,
    WebhookWaiter,
    make_waiter,
    poll_until_done,
    wait_for_webhook,
)

__all__ = [
    "ALL_INCLUDE",
    "DEFAULT_BASE_URL",
    "DEFAULT_INCLUDE",
    "TRANSCRIPT_CONTENT_TYPES",
    "ConversationsAPI",
    "GetJob",
    "HybridWaiter",
    "MediaInput",
    "PollWaiter",
    "SymblClient",
    "Waiter",
    "WebhookWaiter",
    "check_include",
    "make_waiter",
    "poll_until_done",
    "wait_for_webhook",
]
