"""Models of the Conversation API's answers (``/v1/conversations/{conversationId}/...``).

Field names are snake_case; the converter maps them to the API's camelCase keys.
Only ``id`` and ``text`` of the items an endpoint lists (and a word's ``word``, a transcript's
``payload``) are required; everything else defaults to ``None`` (or ``()`` for lists), so sparse
answers parse, and keys this client does not know are ignored. Lists are tuples: models are frozen.

Docs: https://docs.symbl.ai/docs/conversation-api/introduction (see ``REFERENCE.md``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs

from symbl_async.models._converter import OpenStrEnum, unstructure

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
]


class SentimentSuggestion(OpenStrEnum):
    """Sentiment a message or topic was judged to carry; unknown values are kept."""

    POSITIVE = "positive"
    NEGATIVE = "negative"
    NEUTRAL = "neutral"


class MetricType(OpenStrEnum):
    """Kind of a conversation-wide analytics metric; unknown values are kept."""

    TOTAL_SILENCE = "total_silence"
    TOTAL_TALK_TIME = "total_talk_time"
    TOTAL_OVERLAP = "total_overlap"


class InsightType(OpenStrEnum):
    """Kind of an insight (questions, action items, follow-ups); unknown values are kept."""

    QUESTION = "question"
    ACTION_ITEM = "action_item"
    FOLLOW_UP = "follow_up"


@attrs.frozen(kw_only=True)
class Member:
    """A participant: a conversation member, a message's ``from``, an assignee.

    ``id`` is optional because the docs' message example has a ``from`` without one.
    """

    id: str | None = None
    name: str | None = None
    email: str | None = None
    user_id: str | None = None


@attrs.frozen(kw_only=True)
class Conversation:
    """Answer of ``GET /v1/conversations/{conversationId}``."""

    id: str
    type: str | None = None
    name: str | None = None
    start_time: dt.datetime | None = None
    end_time: dt.datetime | None = None
    members: tuple[Member, ...] = ()
    metadata: dict[str, Any] | None = None


@attrs.frozen(kw_only=True)
class Phrase:
    """An action phrase found in a message (with ``detectPhrases``)."""

    type: str | None = None
    text: str | None = None


@attrs.frozen(kw_only=True)
class Polarity:
    """Intensity of a sentiment, from -1.0 (negative) to 1.0 (positive)."""

    score: float | None = None


@attrs.frozen(kw_only=True)
class Sentiment:
    """Sentiment of a message or topic (with ``sentiment=true``)."""

    polarity: Polarity | None = None
    suggested: SentimentSuggestion | None = None


@attrs.frozen(kw_only=True)
class Word:
    """One word of a message, with timings and confidence (with ``verbose=true``).

    ``time_offset`` and ``duration`` are seconds from the conversation's start and for how
    long the word was spoken.
    """

    word: str
    start_time: dt.datetime | None = None
    end_time: dt.datetime | None = None
    score: float | None = None
    time_offset: float | None = None
    duration: float | None = None
    speaker_tag: float | None = None


@attrs.frozen(kw_only=True)
class Message:
    """One sentence of the transcript: an item of ``GET .../messages``."""

    id: str
    text: str
    from_: Member | None = None
    start_time: dt.datetime | None = None
    end_time: dt.datetime | None = None
    time_offset: float | None = None
    duration: float | None = None
    conversation_id: str | None = None
    phrases: tuple[Phrase, ...] = ()
    sentiment: Sentiment | None = None
    words: tuple[Word, ...] = ()


@attrs.frozen(kw_only=True)
class MessageRef:
    """Where in a message something was found."""

    id: str | None = None
    text: str | None = None
    offset: int | None = None


@attrs.frozen(kw_only=True)
class InsightRef:
    """Where in an insight (question, action item) a tracker matched."""

    id: str | None = None
    text: str | None = None
    offset: int | None = None
    type: str | None = None


@attrs.frozen(kw_only=True)
class Entity:
    """An entity: an item of ``GET .../entities``, or one tagged inside an insight.

    ``value`` is kept as the API sent it (usually a string, an object for some types).
    """

    type: str | None = None
    custom_type: str | None = None
    value: Any = None
    text: str | None = None
    offset: int | None = None
    message_refs: tuple[MessageRef, ...] = ()


@attrs.frozen(kw_only=True)
class ParentRef:
    """A topic's parent in the topic hierarchy (with ``parentRefs=true``)."""

    type: str | None = None
    text: str | None = None


@attrs.frozen(kw_only=True)
class Topic:
    """An item of ``GET .../topics``."""

    id: str
    text: str
    type: str | None = None
    score: float | None = None
    message_ids: tuple[str, ...] = ()
    entities: tuple[Entity, ...] = ()
    sentiment: Sentiment | None = None
    parent_refs: tuple[ParentRef, ...] = ()


@attrs.frozen(kw_only=True)
class Question:
    """An item of ``GET .../questions``."""

    id: str
    text: str
    type: InsightType | None = None
    score: float | None = None
    message_ids: tuple[str, ...] = ()
    entities: tuple[Entity, ...] = ()
    from_: Member | None = None


@attrs.frozen(kw_only=True)
class _ActionLike:
    """Fields shared by action items and follow-ups (the docs give them one shape)."""

    id: str
    text: str
    type: InsightType | None = None
    score: float | None = None
    message_ids: tuple[str, ...] = ()
    entities: tuple[Entity, ...] = ()
    definitive: bool | None = None
    phrases: tuple[Phrase, ...] = ()
    assignee: Member | None = None
    from_: Member | None = None
    due_by: dt.datetime | None = None


@attrs.frozen(kw_only=True)
class ActionItem(_ActionLike):
    """An item of ``GET .../action-items``."""


@attrs.frozen(kw_only=True)
class FollowUp(_ActionLike):
    """An item of ``GET .../follow-ups``."""


@attrs.frozen(kw_only=True)
class InsightItem:
    """An item of ``GET .../insights``: a question or an action item, told by ``type``."""

    id: str
    text: str
    type: InsightType | None = None
    score: float | None = None
    message_ids: tuple[str, ...] = ()
    entities: tuple[Entity, ...] = ()
    from_: Member | None = None
    assignee: Member | None = None
    definitive: bool | None = None
    phrases: tuple[Phrase, ...] = ()
    due_by: dt.datetime | None = None


@attrs.frozen(kw_only=True)
class TrackerMatch:
    """One kind of match of a tracker: the vocabulary ``value`` and where it was found."""

    type: str | None = None
    value: str | None = None
    message_refs: tuple[MessageRef, ...] = ()
    insight_refs: tuple[InsightRef, ...] = ()


@attrs.frozen(kw_only=True)
class Tracker:
    """An item of ``GET .../trackers-detected``."""

    id: str
    name: str | None = None
    matches: tuple[TrackerMatch, ...] = ()


@attrs.frozen(kw_only=True)
class SummaryItem:
    """An item of ``GET .../summary``."""

    id: str
    text: str
    message_refs: tuple[MessageRef, ...] = ()


@attrs.frozen(kw_only=True)
class Metric:
    """A conversation-wide metric of ``GET .../analytics``."""

    type: MetricType | None = None
    percent: float | None = None
    seconds: float | None = None


@attrs.frozen(kw_only=True)
class Pace:
    """How fast a member spoke, in words per minute."""

    wpm: float | None = None


@attrs.frozen(kw_only=True)
class TalkTime:
    """A member's share of the conversation: used for both ``talkTime`` and ``listenTime``."""

    percentage: float | None = None
    seconds: float | None = None


@attrs.frozen(kw_only=True)
class OverlappingMember:
    """A member who talked over another, and for how long."""

    id: str | None = None
    name: str | None = None
    user_id: str | None = None
    percent: float | None = None
    seconds: float | None = None


@attrs.frozen(kw_only=True)
class Overlap:
    """How long a member talked over others, and over whom."""

    overlap_duration: float | None = None
    overlapping_members: tuple[OverlappingMember, ...] = ()


@attrs.frozen(kw_only=True)
class AnalyticsMember:
    """Per-member analytics: pace, talk and listen time, overlap."""

    id: str
    name: str | None = None
    user_id: str | None = None
    pace: Pace | None = None
    talk_time: TalkTime | None = None
    listen_time: TalkTime | None = None
    overlap: Overlap | None = None


@attrs.frozen(kw_only=True)
class Analytics:
    """Answer of ``GET .../analytics``."""

    metrics: tuple[Metric, ...] = ()
    members: tuple[AnalyticsMember, ...] = ()


@attrs.frozen(kw_only=True)
class Transcript:
    """The ``transcript`` of ``POST .../transcript``: formatted text and its content type."""

    payload: str
    content_type: str | None = None


@attrs.frozen(kw_only=True)
class ConversationInsights:
    """Everything fetched about one conversation; a kind that was not fetched is ``None``.

    ``conversation_id`` says which conversation it is; ``job_id`` is the job that produced
    it, when the insights came from a submit-and-wait call.
    """

    conversation_id: str | None = None
    job_id: str | None = None
    conversation: Conversation | None = None
    messages: tuple[Message, ...] | None = None
    topics: tuple[Topic, ...] | None = None
    questions: tuple[Question, ...] | None = None
    action_items: tuple[ActionItem, ...] | None = None
    follow_ups: tuple[FollowUp, ...] | None = None
    members: tuple[Member, ...] | None = None
    analytics: Analytics | None = None
    entities: tuple[Entity, ...] | None = None
    trackers: tuple[Tracker, ...] | None = None
    summary: tuple[SummaryItem, ...] | None = None
    insights: tuple[InsightItem, ...] | None = None
    transcript: Transcript | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the insights as JSON-ready data.

        Returns:
            A dict with camelCase keys (``actionItems``), datetimes as ISO-8601 ``Z``
            strings, and no key for kinds that were not fetched; ready for ``json.dump``.
        """
        data: dict[str, Any] = unstructure(self)
        return data
