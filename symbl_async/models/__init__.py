"""Typed answers of the Conversation API, and the one cattrs converter.

One module per endpoint family: ``_messages`` (conversation, messages, topics,
transcript), ``_insights`` (questions, action items, follow-ups, insights, trackers,
summary), ``_entities``, ``_analytics``, ``_common`` (shared small models), ``_models``
(:class:`ConversationInsights`, all of them together). ``_converter``: camelCase keys,
datetimes, lenient enums, unknown keys ignored. ``_projection``: answers straight to the
JSON the models would give back, without building them (for insights written to disk).

May import: :mod:`symbl_async.errors`, :mod:`symbl_async.core` (pure helpers such as
``parse_iso``), attrs, cattrs.
"""

from __future__ import annotations

from symbl_async.models._analytics import (
    Analytics,
    AnalyticsMember,
    Metric,
    MetricType,
    Overlap,
    OverlappingMember,
    Pace,
    TalkTime,
)
from symbl_async.models._common import (
    InsightRef,
    InsightType,
    Member,
    MessageRef,
    Phrase,
    Polarity,
    Sentiment,
    SentimentSuggestion,
)
from symbl_async.models._converter import (
    camel_case,
    converter,
    structure,
    unstructure,
)
from symbl_async.models._entities import (
    Entity,
    EntityCategory,
    EntityMatch,
)
from symbl_async.models._insights import (
    ActionItem,
    FollowUp,
    InsightItem,
    Question,
    SummaryItem,
    Tracker,
    TrackerMatch,
)
from symbl_async.models._messages import (
    Conversation,
    Message,
    ParentRef,
    Topic,
    Transcript,
    Word,
)
from symbl_async.models._models import (
    ConversationInsights,
)

__all__ = [
    "ActionItem",
    "Analytics",
    "AnalyticsMember",
    "Conversation",
    "ConversationInsights",
    "Entity",
    "EntityCategory",
    "EntityMatch",
    "FollowUp",
    "InsightItem",
    "InsightRef",
    "InsightType",
    "Member",
    "Message",
    "MessageRef",
    "Metric",
    "MetricType",
    "Overlap",
    "OverlappingMember",
    "Pace",
    "ParentRef",
    "Phrase",
    "Polarity",
    "Question",
    "Sentiment",
    "SentimentSuggestion",
    "SummaryItem",
    "TalkTime",
    "Topic",
    "Tracker",
    "TrackerMatch",
    "Transcript",
    "Word",
    "camel_case",
    "converter",
    "structure",
    "unstructure",
]
