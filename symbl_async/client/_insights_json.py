"""Several kinds of insight as JSON-ready data: :meth:`InsightsJSONReads.fetch_insights_json`.

The base of :class:`~symbl_async.client._conversations.ConversationsAPI` (which adds the
model-building :meth:`fetch_insights`). A batch that only writes insights to disk wants the
JSON, not models: building them with cattrs and turning them back into dicts took a
quarter of its event loop's CPU. The answers go through
:func:`~symbl_async.models._projection.project`, which gives what the models would have
given back, without building them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable
from typing import Any

from symbl_async.client._conversation_reads import ConversationReads, _items
from symbl_async.client._include import DEFAULT_INCLUDE, check_include, gather_or_cancel
from symbl_async.core._checks import path_segment
from symbl_async.models import (
    ActionItem,
    Analytics,
    Conversation,
    Entity,
    FollowUp,
    InsightItem,
    Member,
    Message,
    Question,
    SummaryItem,
    Topic,
    Tracker,
    Transcript,
)
from symbl_async.models._converter import camel_case
from symbl_async.models._projection import project

__all__ = ["InsightsJSONReads"]

# Each kind's GET (as the read methods send it with their default flags: none), the key of
# the list in its answer (None: the answer is the object itself), and its model.
_GETS: dict[str, tuple[str, str | None, type[Any]]] = {
    "conversation": ("", None, Conversation),
    "messages": ("/messages", "messages", Message),
    "topics": ("/topics", "topics", Topic),
    "questions": ("/questions", "questions", Question),
    "action_items": ("/action-items", "actionItems", ActionItem),
    "follow_ups": ("/follow-ups", "followUps", FollowUp),
    "members": ("/members", "members", Member),
    "analytics": ("/analytics", None, Analytics),
    "entities": ("/entities", "entities", Entity),
    "trackers": ("/trackers-detected", "trackers", Tracker),
    "summary": ("/summary", "summary", SummaryItem),
    "insights": ("/insights", "insights", InsightItem),
}


class InsightsJSONReads(ConversationReads):
    """Adds :meth:`fetch_insights_json` to the read endpoints."""

    async def _kind_json(self, conversation_id: str, kind: str) -> Any:
        if kind == "transcript":  # as transcript() sends it by default: Markdown
            return project(await self._transcript_answer(conversation_id), Transcript)
        suffix, key, model = _GETS[kind]
        answer = await self._get(conversation_id, suffix)
        if key is None:
            return project(answer, model)
        return project(_items(answer, key), list[model])  # type: ignore[valid-type]

    async def fetch_insights_json(
        self, conversation_id: str, include: Iterable[str] = DEFAULT_INCLUDE
    ) -> dict[str, Any]:
        """Fetch several kinds of insight concurrently, as JSON-ready data.

        The same requests, retries and errors as :meth:`fetch_insights`, and the same result
        as its ``.to_json()``, without building models: for writing insights to disk.

        Args:
            conversation_id: the conversation.
            include: which kinds to fetch, by ``ConversationInsights`` field name;
                see ``DEFAULT_INCLUDE`` and ``ALL_INCLUDE``.

        Returns:
            ``{"conversationId": ..., "messages": [...], ...}``: camelCase keys, datetimes
            as ISO-8601 ``Z`` strings, no key for kinds that were not fetched.

        Raises:
            ValidationError: if ``conversation_id`` is empty or ``include`` names an
                unknown kind (or none).
            NotFoundError: if there is no such conversation.
            ResponseDecodeError: if an answer does not have the shape of its kind.
            APIStatusError: for other error answers.
            SymblConnectionError: if the service could not be reached.
        """
        path_segment(conversation_id, "conversation_id")
        names = check_include(include)
        jobs: dict[str, Awaitable[Any]] = {
            name: self._kind_json(conversation_id, name) for name in names
        }
        results = await gather_or_cancel(jobs)
        data: dict[str, Any] = {"conversationId": conversation_id}
        # In ConversationInsights' field order, as to_json() writes them.
        for name, key in _KEYS.items():
            if name in results:
                data[key] = results[name]
        return data


_KEYS = {name: camel_case(name) for name in (*_GETS, "transcript")}
