"""Everything fetched about one conversation, in one object: :class:`ConversationInsights`.

The answers of each endpoint are modelled in their own modules (``_messages``,
``_insights``, ``_entities``, ``_analytics``, ``_common``). Field names are snake_case;
the converter maps them to the API's camelCase keys. Only ``id`` and ``text`` of the items
an endpoint lists (and a word's ``word``, a transcript's ``payload``) are required;
everything else defaults to ``None`` (or ``()`` for lists), so sparse answers parse, and
keys this client does not know are ignored. Lists are tuples: models are frozen.

Docs: https://docs.symbl.ai/docs/conversation-api/introduction, and Symbl's page of each
endpoint ("GET Conversation Data", "GET Speech to Text", "GET Topics", ...).
"""

from __future__ import annotations

from typing import Any

import attrs

from symbl_async.models._analytics import Analytics
from symbl_async.models._common import Member
from symbl_async.models._converter import unstructure
from symbl_async.models._entities import Entity
from symbl_async.models._insights import (
    ActionItem,
    FollowUp,
    InsightItem,
    Question,
    SummaryItem,
    Tracker,
)
from symbl_async.models._messages import Conversation, Message, Topic, Transcript

__all__ = ["ConversationInsights"]


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
