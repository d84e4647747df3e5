"""Small models shared by several answers: people, message references, sentiment, phrases."""

from __future__ import annotations

import datetime as dt

import attrs

from symbl_async.models._converter import OpenStrEnum

__all__ = [
    "InsightRef",
    "InsightType",
    "Member",
    "MessageRef",
    "Phrase",
    "Polarity",
    "Sentiment",
    "SentimentSuggestion",
]


class SentimentSuggestion(OpenStrEnum):
    """Sentiment a message or topic was judged to carry; unknown values are kept."""

    POSITIVE = "positive"
    NEGATIVE = "negative"
    NEUTRAL = "neutral"


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
class MessageRef:
    """Where in a message something was found.

    ``start_time``/``end_time`` (when the message was spoken) come with the current docs'
    entities and the emulator; older answers carry only ``id``, ``text`` and ``offset``.
    """

    id: str | None = None
    text: str | None = None
    offset: int | None = None
    start_time: dt.datetime | None = None
    end_time: dt.datetime | None = None


@attrs.frozen(kw_only=True)
class InsightRef:
    """Where in an insight (question, action item) a tracker matched."""

    id: str | None = None
    text: str | None = None
    offset: int | None = None
    type: str | None = None
