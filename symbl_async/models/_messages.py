"""Models of a conversation and its transcript: ``GET /v1/conversations/{id}``,
``.../messages``, ``.../topics`` and ``POST .../transcript``."""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs

from symbl_async.models._common import Member, Phrase, Sentiment
from symbl_async.models._entities import Entity

__all__ = ["Conversation", "Message", "ParentRef", "Topic", "Transcript", "Word"]


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
class Transcript:
    """The ``transcript`` of ``POST .../transcript``: formatted text and its content type."""

    payload: str
    content_type: str | None = None
