"""Models of the insights: questions, action items, follow-ups, ``insights``, trackers,
summary."""

from __future__ import annotations

import datetime as dt

import attrs

from symbl_async.models._common import InsightRef, InsightType, Member, MessageRef, Phrase
from symbl_async.models._entities import Entity

__all__ = [
    "ActionItem",
    "FollowUp",
    "InsightItem",
    "Question",
    "SummaryItem",
    "Tracker",
    "TrackerMatch",
]


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
    """An item of ``GET .../insights``: a question, action item or follow-up, told by ``type``.

    The docs' example lists all three kinds (``question``, ``action_item``, ``follow_up``).
    """

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
