"""Typed answers of the Conversation API, and the one cattrs converter.

``_models``: frozen attrs classes with snake_case fields; ``_converter``: camelCase keys,
datetimes, lenient enums, unknown keys ignored.

May import: :mod:`symbl_async.errors`, :mod:`symbl_async.core` (pure helpers such as
``parse_iso``), attrs, cattrs.
"""

from __future__ import annotations

from symbl_async.models._converter import (
    camel_case,
    converter,
    structure,
    unstructure,
)
from symbl_async.models._models import (
    ActionItem,
    Analytics,
    AnalyticsMember,
    Conversation,
    ConversationInsights,
    Entity,
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
    Tracker,
    TrackerMatch,
    Transcript,
    Word,
)

__all__ = [
    "ActionItem",
    "Analytics",
    "AnalyticsMember",
    "Conversation",
    "ConversationInsights",
    "Entity",
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
