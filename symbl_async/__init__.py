"""symbl_async: an asyncio-native client for the Symbl.ai Async API.

Quick start::

    async with SymblClient(app_id=..., app_secret=...) as client:
        insights = await client.process_audio_url("https://example.com/call.wav")

Webhooks instead of polling: attach a :class:`WebhookReceiver` (``SymblClient(...,
receiver=receiver)``); submits then carry its ``webhookUrl`` and waits default to
``hybrid`` (webhooks plus a slow safety poll).

Batches: ``async with process_many(client, sources, out_dir=...) as run``.

Run offline against the bundled emulator: ``async with Emulator() as emu:`` and pass
``base_url=emu.url`` with the emulator's ``app_id``/``app_secret``.

The public surface is what this module exports (``__all__``); the response models are
here too, and ``DetectedTracker`` is the answer model of ``trackers-detected`` (the
name ``Tracker`` is the processing option).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from symbl_async._version import (
    __version__,
)
from symbl_async.batch import (
    BatchResult,
    BatchRun,
    BatchSummary,
    process_many,
)
from symbl_async.client import (
    DEFAULT_BASE_URL,
    SymblClient,
)
from symbl_async.core import (
    ChannelMetadata,
    CustomEntity,
    Job,
    JobInfo,
    JobStatus,
    PollSchedule,
    ProcessingOptions,
    SafetyPollSchedule,
    Speaker,
    TextMessage,
    Tracker,
    WaitMode,
)
from symbl_async.errors import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ClientClosedError,
    ConcurrencyLimitError,
    IllegalTransitionError,
    JobFailedError,
    LeaseLostError,
    LedgerError,
    NotFoundError,
    RequestInfo,
    ResponseDecodeError,
    ServerError,
    SubmitOutcomeUnknownError,
    SymblConnectionError,
    SymblError,
    SymblTimeoutError,
    ValidationError,
    WaitTimeoutError,
)
from symbl_async.models import (
    ActionItem,
    Analytics,
    AnalyticsMember,
    Conversation,
    ConversationInsights,
    Entity,
    EntityCategory,
    EntityMatch,
    FollowUp,
    InsightItem,
    InsightRef,
    InsightType,
    Member,
    Message,
    MessageRef,
    Metric,
    MetricType,
    Overlap,
    OverlappingMember,
    Pace,
    ParentRef,
    Phrase,
    Polarity,
    Question,
    Sentiment,
    SentimentSuggestion,
    SummaryItem,
    TalkTime,
    Topic,
    TrackerMatch,
    Transcript,
    Word,
)
from symbl_async.models import Tracker as DetectedTracker
from symbl_async.transport import (
    RetryPolicy,
    Timeouts,
)

if TYPE_CHECKING:
    from symbl_async.webhooks import WebhookReceiver


def __getattr__(name: str) -> Any:
    # Loaded on first use (PEP 562): the receiver brings aiohttp's server, which a client
    # that polls, and the CLI's poll-mode runs, never use (about 0.1 s of every start).
    if name == "WebhookReceiver":
        from symbl_async.webhooks import WebhookReceiver

        return WebhookReceiver
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

__all__ = [
    "DEFAULT_BASE_URL",
    "APIStatusError",
    "ActionItem",
    "Analytics",
    "AnalyticsMember",
    "AuthenticationError",
    "BadRequestError",
    "BatchResult",
    "BatchRun",
    "BatchSummary",
    "ChannelMetadata",
    "ClientClosedError",
    "ConcurrencyLimitError",
    "Conversation",
    "ConversationInsights",
    "CustomEntity",
    "DetectedTracker",
    "Entity",
    "EntityCategory",
    "EntityMatch",
    "FollowUp",
    "IllegalTransitionError",
    "InsightItem",
    "InsightRef",
    "InsightType",
    "Job",
    "JobFailedError",
    "JobInfo",
    "JobStatus",
    "LeaseLostError",
    "LedgerError",
    "Member",
    "Message",
    "MessageRef",
    "Metric",
    "MetricType",
    "NotFoundError",
    "Overlap",
    "OverlappingMember",
    "Pace",
    "ParentRef",
    "Phrase",
    "Polarity",
    "PollSchedule",
    "ProcessingOptions",
    "Question",
    "RequestInfo",
    "ResponseDecodeError",
    "RetryPolicy",
    "SafetyPollSchedule",
    "Sentiment",
    "SentimentSuggestion",
    "ServerError",
    "Speaker",
    "SubmitOutcomeUnknownError",
    "SummaryItem",
    "SymblClient",
    "SymblConnectionError",
    "SymblError",
    "SymblTimeoutError",
    "TalkTime",
    "TextMessage",
    "Timeouts",
    "Topic",
    "Tracker",
    "TrackerMatch",
    "Transcript",
    "ValidationError",
    "WaitMode",
    "WaitTimeoutError",
    "WebhookReceiver",
    "Word",
    "__version__",
    "process_many",
]
