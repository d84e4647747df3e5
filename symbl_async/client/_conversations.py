"""The Conversation API: listing, reading (and a few edits of) processed conversations.

The per-conversation reads (messages, topics, ...) live in ``_conversation_reads``; this
module adds the list, metadata and member edits, and fetching several kinds at once.
Every method validates its arguments before sending anything. Do not read insights before the
conversation's job is ``completed``: they may be incomplete.

Docs: https://docs.symbl.ai/docs/conversation-api/introduction (see ``REFERENCE.md``).
"""

from __future__ import annotations

import builtins
import datetime as dt
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from symbl_async.client._conversation_reads import (
    _BASE,
    TRANSCRIPT_CONTENT_TYPES,
    _items,
    _message,
    _optional_text,
)
from symbl_async.client._include import (
    ALL_INCLUDE,
    DEFAULT_INCLUDE,
    check_include,
    gather_or_cancel,
)
from symbl_async.client._insights_json import InsightsJSONReads
from symbl_async.core._checks import path_segment
from symbl_async.core._listing import LIST_LIMIT_MAX, list_query
from symbl_async.core._options import check_metadata
from symbl_async.errors import ValidationError
from symbl_async.models import Conversation, ConversationInsights
from symbl_async.models._converter import structure

__all__ = [
    "ALL_INCLUDE",
    "DEFAULT_INCLUDE",
    "TRANSCRIPT_CONTENT_TYPES",
    "ConversationsAPI",
    "check_include",
]


_log = logging.getLogger("symbl_async.client.conversations")


class ConversationsAPI(InsightsJSONReads):
    """The Conversation API, over a :class:`~symbl_async.transport._transport.Requester`.

    Usually reached as ``client.conversations``.
    """

    async def get(self, conversation_id: str) -> Conversation:
        """Fetch a conversation's details: name, times, members, metadata.

        Args:
            conversation_id: the ``conversationId`` a submit returned.

        Returns:
            The conversation.

        Raises:
            ValidationError: if ``conversation_id`` is empty or not a string.
            NotFoundError: if there is no such conversation.
            APIStatusError: for other error answers.
            SymblConnectionError: if the service could not be reached.
        """
        return structure(await self._get(conversation_id), Conversation)

    async def list(
        self,
        *,
        name: str | None = None,
        filter: str | None = None,
        sort: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
        order: str | None = None,
        start_time: dt.datetime | None = None,
        end_time: dt.datetime | None = None,
    ) -> builtins.list[Conversation]:
        """List conversations, optionally filtered, sorted and paged (one request).

        Arguments left ``None`` are not sent and the service's defaults apply: **only
        conversations that started in the last 7 days**, 20 of them, oldest first
        (``docs/conversation-api/api-reference/all-conversations.md``). To go further
        back, pass ``start_time``; to get them all, use :meth:`iterate`.

        Args:
            name: only conversations with exactly this name (builds the RSQL filter
                ``conversation.name=="..."``); how to find a submit whose answer was lost.
            filter: an RSQL filter, joined to ``name`` by ``;`` (and). The service allows
                no OR and at most two different fields (``name`` counts as one).
            sort: the fields to sort on (default ``conversation.startTime``); the
                direction goes in ``order``.
            limit: at most this many conversations, 0 to 65536 (0 returns none).
            offset: skip this many conversations first (at least 0).
            order: ``"asc"`` (the service's default) or ``"desc"``.
            start_time: only conversations that started at or after this aware datetime.
            end_time: only conversations up to this aware datetime (default: now).

        Returns:
            The conversations, in the service's order.

        Raises:
            ValidationError: if an argument is empty, of the wrong type or out of range,
                a datetime is naive, ``start_time`` is not before ``end_time``, or the
                filter uses OR or more than two fields.
            APIStatusError: for error answers.
            SymblConnectionError: if the service could not be reached.
        """
        params = list_query(
            name=name,
            filter=filter,
            sort=sort,
            limit=limit,
            offset=offset,
            order=order,
            start_time=start_time,
            end_time=end_time,
        )
        body = await self._requester.request("GET", _BASE, params=params or None)
        return structure(_items(body, "conversations"), builtins.list[Conversation])

    def iterate(
        self,
        *,
        name: str | None = None,
        filter: str | None = None,
        sort: str | None = None,
        order: str | None = None,
        start_time: dt.datetime | None = None,
        end_time: dt.datetime | None = None,
        page_size: int = 100,
    ) -> AsyncIterator[Conversation]:
        """Go through every conversation that matches, one page (one request) at a time.

        Use as ``async for conversation in client.conversations.iterate(...)``. Pages
        by ``offset`` until a page comes back shorter than ``page_size``. The arguments
        are those of :meth:`list`; as there, without ``start_time`` only the last 7 days
        are listed. All arguments are checked here, when it is called, before any request.

        Args:
            name: see :meth:`list`.
            filter: see :meth:`list`.
            sort: see :meth:`list`.
            order: see :meth:`list`.
            start_time: see :meth:`list`.
            end_time: see :meth:`list`.
            page_size: conversations per request, 1 to 65536.

        Returns:
            An async iterator over the conversations, each once, in the service's order.

        Raises:
            ValidationError: as :meth:`list`, or ``page_size`` out of range.
            APIStatusError: for error answers.
            SymblConnectionError: if the service could not be reached.
        """
        if (
            not isinstance(page_size, int)
            or isinstance(page_size, bool)
            or not 1 <= page_size <= LIST_LIMIT_MAX
        ):
            raise ValidationError("page_size", f"must be an integer from 1 to {LIST_LIMIT_MAX}")
        query = {
            "name": name,
            "filter": filter,
            "sort": sort,
            "order": order,
            "start_time": start_time,
            "end_time": end_time,
        }
        list_query(**query)  # every check, before the first request
        return self._pages(query, page_size)

    async def _pages(self, query: Mapping[str, Any], page_size: int) -> AsyncIterator[Conversation]:
        seen: set[str] = set()
        offset = 0
        while True:  # bounded: ends on a short page, or a page that brings nothing new
            page = await self.list(**query, limit=page_size, offset=offset)
            fresh = [c for c in page if c.id not in seen]
            for conversation in fresh:
                seen.add(conversation.id)
                yield conversation
            if len(page) < page_size:
                return
            if not fresh:
                # A service that ignored offset would serve the same page forever.
                _log.warning("conversation list: offset %d brought no new conversation", offset)
                return
            offset += len(page)

    async def delete(self, conversation_id: str) -> str | None:
        """Delete a conversation and everything derived from it.

        Args:
            conversation_id: the conversation to delete.

        Returns:
            The service's confirmation message, if it sent one.

        Raises:
            ValidationError: if ``conversation_id`` is empty or not a string.
            NotFoundError: if there is no such conversation.
            APIStatusError: for other error answers.
            SymblConnectionError: if the service could not be reached.
        """
        path = f"{_BASE}/{path_segment(conversation_id, 'conversation_id')}"
        return _message(await self._requester.request("DELETE", path))

    async def update_metadata(
        self, conversation_id: str, metadata: Mapping[str, Any]
    ) -> Conversation:
        """Replace a conversation's metadata (``PUT /v1/conversations/{id}``).

        Metadata are your own key/value labels (``{"agentId": "johndoe"}``); only they
        can be changed, not ``id`` or ``type`` (``put-all-conversation.md``).

        Decision (the docs are silent): whether the service merges these keys into the
        existing metadata or replaces them all is not documented (the emulator merges).
        To be safe on both, send every key you want to keep (read them with :meth:`get`).

        Args:
            conversation_id: the conversation.
            metadata: string keys and JSON values.

        Returns:
            The updated conversation, as the service answers it (its example holds only
            ``id`` and ``metadata``; other fields are then ``None``).

        Raises:
            ValidationError: if ``conversation_id`` is empty, or ``metadata`` is not a
                mapping of non-empty string keys to JSON values.
            NotFoundError: if there is no such conversation.
            APIStatusError: for other error answers.
            SymblConnectionError: if the service could not be reached.
        """
        cid = path_segment(conversation_id, "conversation_id")
        body = {"metadata": check_metadata(metadata)}
        answer = await self._requester.request("PUT", f"{_BASE}/{cid}", json=body)
        return structure(answer, Conversation)

    async def update_member(
        self,
        conversation_id: str,
        member_id: str,
        *,
        name: str | None = None,
        email: str | None = None,
    ) -> str | None:
        """Change a member's name or email (``PUT .../members/{memberId}``).

        Args:
            conversation_id: the conversation.
            member_id: the member's ``id`` (from :meth:`members`).
            name: the new name.
            email: the new email.

        Returns:
            The service's confirmation message, if it sent one.

        Raises:
            ValidationError: if an id is empty, or neither ``name`` nor ``email`` is given.
            NotFoundError: if there is no such conversation or member.
            APIStatusError: for other error answers.
            SymblConnectionError: if the service could not be reached.
        """
        cid = path_segment(conversation_id, "conversation_id")
        mid = path_segment(member_id, "member_id")
        body: dict[str, str] = {"id": member_id}
        checked_name = _optional_text(name, "name")
        checked_email = _optional_text(email, "email")
        if checked_name is None and checked_email is None:
            raise ValidationError("name", "give name or email (or both) to change")
        if checked_name is not None:
            body["name"] = checked_name
        if checked_email is not None:
            body["email"] = checked_email
        answer = await self._requester.request("PUT", f"{_BASE}/{cid}/members/{mid}", json=body)
        return _message(answer)

    async def update_speakers(
        self, conversation_id: str, speaker_events: Sequence[Mapping[str, Any]]
    ) -> str | None:
        """Tell the service who spoke when (``PUT .../speakers``), to attribute messages.

        Args:
            conversation_id: the conversation.
            speaker_events: events as the API takes them, e.g. ``{"type":
                "started_speaking", "user": {"name": ..., "email": ...}, "offset":
                {"seconds": 52, "nanos": 0}}``.

        Returns:
            The service's confirmation message, if it sent one.

        Raises:
            ValidationError: if ``conversation_id`` is empty or ``speaker_events`` is not a
                non-empty list of objects.
            NotFoundError: if there is no such conversation.
            APIStatusError: for other error answers.
            SymblConnectionError: if the service could not be reached.
        """
        cid = path_segment(conversation_id, "conversation_id")
        if (
            isinstance(speaker_events, (str, bytes, Mapping))
            or not isinstance(speaker_events, Sequence)
            or not speaker_events
            or not all(isinstance(event, Mapping) for event in speaker_events)
        ):
            raise ValidationError("speaker_events", "must be a non-empty list of objects")
        body = {"speakerEvents": [dict(event) for event in speaker_events]}
        return _message(await self._requester.request("PUT", f"{_BASE}/{cid}/speakers", json=body))

    async def fetch_insights(
        self, conversation_id: str, include: Iterable[str] = DEFAULT_INCLUDE
    ) -> ConversationInsights:
        """Fetch several kinds of insight concurrently into one object.

        If one fetch fails, the others are cancelled and that first error is raised. To
        write them to disk, :meth:`fetch_insights_json` gives the JSON without the models.

        Args:
            conversation_id: the conversation.
            include: which kinds to fetch, by :class:`ConversationInsights` field name;
                see ``DEFAULT_INCLUDE`` and ``ALL_INCLUDE``.

        Returns:
            The insights; kinds not included are ``None``.

        Raises:
            ValidationError: if ``conversation_id`` is empty or ``include`` names an
                unknown kind (or none).
            NotFoundError: if there is no such conversation.
            APIStatusError: for other error answers.
            SymblConnectionError: if the service could not be reached.
        """
        path_segment(conversation_id, "conversation_id")
        names = check_include(include)
        fetchers: dict[str, Callable[[str], Awaitable[Any]]] = {
            "conversation": self.get,
            "messages": self.messages,
            "topics": self.topics,
            "questions": self.questions,
            "action_items": self.action_items,
            "follow_ups": self.follow_ups,
            "members": self.members,
            "analytics": self.analytics,
            "entities": self.entities,
            "trackers": self.trackers,
            "summary": self.summary,
            "insights": self.insights,
            "transcript": self.transcript,
        }
        results = await gather_or_cancel({name: fetchers[name](conversation_id) for name in names})
        fields: dict[str, Any] = {
            name: tuple(value) if isinstance(value, builtins.list) else value
            for name, value in results.items()
        }
        return ConversationInsights(conversation_id=conversation_id, **fields)
