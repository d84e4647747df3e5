"""The Conversation API: listing, reading and a few edits of processed conversations.

:class:`ConversationsAPI` (``client.conversations``), over a
:class:`~symbl_async.transport._transport.Requester`: the conversation list and each
conversation's details, metadata and member edits; each kind of insight on its own
(``messages``, ``topics``, ... ``transcript``); and several kinds at once, concurrently,
as models (:meth:`ConversationsAPI.fetch_insights`) or as JSON-ready data
(:meth:`ConversationsAPI.fetch_insights_json`). Which kinds may be fetched
(``DEFAULT_INCLUDE``, ``ALL_INCLUDE``) lives in :mod:`symbl_async.models._include`, shared
with the batch engine, and is re-exported here.

Every method validates its arguments before sending anything. Do not read insights
before the conversation's job is ``completed``: they may be incomplete (every submit
page says so, e.g. Symbl docs, "POST Audio API").

Docs: https://docs.symbl.ai/docs/conversation-api/introduction, and Symbl's page of each
endpoint ("GET Conversation Data", "GET All Conversations", "GET Speech to Text", ...,
"POST Formatted Transcript").
"""

from __future__ import annotations

import asyncio
import builtins
import datetime as dt
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from symbl_async.core._checks import path_segment
from symbl_async.core._listing import LIST_LIMIT_MAX, list_query
from symbl_async.core._options import check_metadata
from symbl_async.errors import ValidationError
from symbl_async.models import (
    ActionItem,
    Analytics,
    Conversation,
    ConversationInsights,
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
from symbl_async.models._converter import camel_case, structure
from symbl_async.models._include import ALL_INCLUDE, DEFAULT_INCLUDE
from symbl_async.models._projection import project
from symbl_async.transport._transport import Requester

__all__ = [
    "ALL_INCLUDE",
    "DEFAULT_INCLUDE",
    "TRANSCRIPT_CONTENT_TYPES",
    "ConversationsAPI",
    "check_include",
    "gather_or_cancel",
]

_log = logging.getLogger("symbl_async.client.conversations")

TRANSCRIPT_CONTENT_TYPES = frozenset({"text/markdown", "text/srt"})
"""Formats ``POST .../transcript`` can produce."""

_BASE = "/v1/conversations"


def _check_bool(value: object, field: str) -> None:
    if not isinstance(value, bool):
        raise ValidationError(field, "must be True or False")


def _flags(**flags: bool) -> dict[str, str]:
    """Query parameters for the flags that are set, as ``"true"``.

    A flag left False is not sent: false is the API's default for all of them.
    """
    for name, value in flags.items():
        _check_bool(value, name)
    return {camel_case(name): "true" for name, value in flags.items() if value}


def _optional_text(value: object, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(field, "must be a non-empty string")
    return value


def _items(body: Any, key: str) -> Any:
    """The list under ``key`` of an answer; an absent or null list counts as empty."""
    if isinstance(body, Mapping):
        items = body.get(key)
        return [] if items is None else items
    return body


def _message(body: Any) -> str | None:
    if isinstance(body, Mapping):
        message = body.get("message")
        return message if isinstance(message, str) else None
    return None


def check_include(include: object) -> tuple[str, ...]:
    """Check insight names for :meth:`ConversationsAPI.fetch_insights`, before any request.

    Args:
        include: a collection of ``ConversationInsights`` field names (see ``ALL_INCLUDE``).

    Returns:
        The names, in order, with repeats dropped.

    Raises:
        ValidationError: not a collection, empty, or holding an unknown name.
    """
    valid = ", ".join(ALL_INCLUDE)
    if isinstance(include, str) or not isinstance(include, Iterable):
        raise ValidationError("include", f"must be a collection of names from: {valid}")
    names = tuple(dict.fromkeys(include))  # drop repeats, keep order
    unknown = [name for name in names if name not in ALL_INCLUDE]
    if unknown:
        raise ValidationError("include", f"unknown {unknown!r}; valid names: {valid}")
    if not names:
        raise ValidationError("include", f"must name at least one of: {valid}")
    return names


async def gather_or_cancel(jobs: Mapping[str, Awaitable[Any]]) -> dict[str, Any]:
    """Run awaitables concurrently; on the first failure cancel the rest and raise it.

    Like ``asyncio.TaskGroup`` (which Python 3.10 lacks), except that the first error is
    raised as itself, not wrapped in an ``ExceptionGroup``, so callers can catch
    ``NotFoundError`` and friends directly.
    """
    tasks = {name: asyncio.ensure_future(job) for name, job in jobs.items()}
    try:
        done, _ = await asyncio.wait(tasks.values(), return_when=asyncio.FIRST_EXCEPTION)
    finally:
        # Reached on failure and when we ourselves are cancelled: no task outlives us.
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
    # The error that stopped the wait comes first; a task that failed while being
    # cancelled only counts if nothing else did.
    ordered = sorted(tasks.values(), key=lambda task: task not in done)
    for task in ordered:
        error = None if task.cancelled() else task.exception()
        if error is not None:
            raise error
    return {name: task.result() for name, task in tasks.items()}


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
# Their keys in ConversationInsights.to_json(), in its field order.
_KEYS = {name: camel_case(name) for name in (*_GETS, "transcript")}


class ConversationsAPI:
    """The Conversation API, over a :class:`~symbl_async.transport._transport.Requester`.

    Usually reached as ``client.conversations``.
    """

    def __init__(self, requester: Requester) -> None:
        """Bind the namespace to the transport that sends its requests.

        Args:
            requester: sends authenticated requests and maps error statuses to exceptions.
        """
        self._requester = requester

    async def _get(
        self, conversation_id: object, suffix: str = "", params: Mapping[str, str] | None = None
    ) -> Any:
        path = f"{_BASE}/{path_segment(conversation_id, 'conversation_id')}{suffix}"
        return await self._requester.request("GET", path, params=params or None)

    # -- conversations -------------------------------------------------------------------

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
        (Symbl docs, "GET All Conversations"). To go further back, pass ``start_time``;
        to get them all, use :meth:`iterate`.

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
        can be changed, not ``id`` or ``type`` (Symbl docs, "PUT Conversations").

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

    # -- one kind of insight ------------------------------------------------------------

    async def messages(
        self, conversation_id: str, *, verbose: bool = False, sentiment: bool = False
    ) -> builtins.list[Message]:
        """Fetch the transcript as messages (sentences).

        Args:
            conversation_id: the conversation.
            verbose: add word timings and confidence scores (``words``).
            sentiment: add each message's sentiment.

        Returns:
            The messages, in order.

        Raises:
            ValidationError: if ``conversation_id`` is empty or a flag is not a bool.
            NotFoundError: if there is no such conversation.
            APIStatusError: for other error answers.
            SymblConnectionError: if the service could not be reached.
        """
        params = _flags(verbose=verbose, sentiment=sentiment)
        body = await self._get(conversation_id, "/messages", params)
        return structure(_items(body, "messages"), builtins.list[Message])

    async def topics(
        self, conversation_id: str, *, sentiment: bool = False, parent_refs: bool = False
    ) -> builtins.list[Topic]:
        """Fetch the topics talked about.

        Args:
            conversation_id: the conversation.
            sentiment: add each topic's sentiment.
            parent_refs: add each topic's parents in the topic hierarchy.

        Returns:
            The topics.

        Raises:
            ValidationError: if ``conversation_id`` is empty or a flag is not a bool.
            NotFoundError: if there is no such conversation.
            APIStatusError: for other error answers.
            SymblConnectionError: if the service could not be reached.
        """
        params = _flags(sentiment=sentiment, parent_refs=parent_refs)
        body = await self._get(conversation_id, "/topics", params)
        return structure(_items(body, "topics"), builtins.list[Topic])

    async def questions(self, conversation_id: str) -> builtins.list[Question]:
        """Fetch the questions asked.

        Args:
            conversation_id: the conversation.

        Returns:
            The questions.

        Raises:
            ValidationError: if ``conversation_id`` is empty or not a string.
            NotFoundError: if there is no such conversation.
            APIStatusError: for other error answers.
            SymblConnectionError: if the service could not be reached.
        """
        body = await self._get(conversation_id, "/questions")
        return structure(_items(body, "questions"), builtins.list[Question])

    async def action_items(self, conversation_id: str) -> builtins.list[ActionItem]:
        """Fetch the action items (``GET .../action-items``).

        Args:
            conversation_id: the conversation.

        Returns:
            The action items.

        Raises:
            ValidationError: if ``conversation_id`` is empty or not a string.
            NotFoundError: if there is no such conversation.
            APIStatusError: for other error answers.
            SymblConnectionError: if the service could not be reached.
        """
        body = await self._get(conversation_id, "/action-items")
        return structure(_items(body, "actionItems"), builtins.list[ActionItem])

    async def follow_ups(self, conversation_id: str) -> builtins.list[FollowUp]:
        """Fetch the follow-ups (``GET .../follow-ups``).

        Args:
            conversation_id: the conversation.

        Returns:
            The follow-ups.

        Raises:
            ValidationError: if ``conversation_id`` is empty or not a string.
            NotFoundError: if there is no such conversation.
            APIStatusError: for other error answers.
            SymblConnectionError: if the service could not be reached.
        """
        body = await self._get(conversation_id, "/follow-ups")
        return structure(_items(body, "followUps"), builtins.list[FollowUp])

    async def members(self, conversation_id: str) -> builtins.list[Member]:
        """Fetch the conversation's members.

        Args:
            conversation_id: the conversation.

        Returns:
            The members.

        Raises:
            ValidationError: if ``conversation_id`` is empty or not a string.
            NotFoundError: if there is no such conversation.
            APIStatusError: for other error answers.
            SymblConnectionError: if the service could not be reached.
        """
        body = await self._get(conversation_id, "/members")
        return structure(_items(body, "members"), builtins.list[Member])

    async def analytics(self, conversation_id: str) -> Analytics:
        """Fetch talk-time, silence, pace and overlap analytics.

        Args:
            conversation_id: the conversation.

        Returns:
            The analytics.

        Raises:
            ValidationError: if ``conversation_id`` is empty or not a string.
            NotFoundError: if there is no such conversation.
            APIStatusError: for other error answers.
            SymblConnectionError: if the service could not be reached.
        """
        return structure(await self._get(conversation_id, "/analytics"), Analytics)

    async def entities(self, conversation_id: str) -> builtins.list[Entity]:
        """Fetch the entities found (names, dates, custom entities).

        Args:
            conversation_id: the conversation.

        Returns:
            The entities.

        Raises:
            ValidationError: if ``conversation_id`` is empty or not a string.
            NotFoundError: if there is no such conversation.
            APIStatusError: for other error answers.
            SymblConnectionError: if the service could not be reached.
        """
        body = await self._get(conversation_id, "/entities")
        return structure(_items(body, "entities"), builtins.list[Entity])

    async def trackers(self, conversation_id: str) -> builtins.list[Tracker]:
        """Fetch the trackers detected (``GET .../trackers-detected``).

        Args:
            conversation_id: the conversation.

        Returns:
            The trackers that matched.

        Raises:
            ValidationError: if ``conversation_id`` is empty or not a string.
            NotFoundError: if there is no such conversation.
            APIStatusError: for other error answers.
            SymblConnectionError: if the service could not be reached.
        """
        # The docs show a bare list; a {"trackers": [...]} wrapper is accepted too.
        body = await self._get(conversation_id, "/trackers-detected")
        return structure(_items(body, "trackers"), builtins.list[Tracker])

    async def summary(
        self, conversation_id: str, *, refresh: bool = False
    ) -> builtins.list[SummaryItem]:
        """Fetch the summary (``GET .../summary``, beta).

        It needs no ``enableSummary`` at submit: the service generates one on demand for
        a conversation processed without it (Symbl docs, "GET Summary (Beta)"). It
        answers **404 while the conversation's job is still in progress**, so a
        ``NotFoundError`` here may mean "not yet" rather than "no such conversation":
        wait for the job first.

        Args:
            conversation_id: the conversation.
            refresh: replace the existing summary with a newly generated one
                (``refresh=true``; not needed the first time).

        Returns:
            The summary's items.

        Raises:
            ValidationError: if ``conversation_id`` is empty or ``refresh`` is not a bool.
            NotFoundError: if there is no such conversation, or its job is in progress.
            APIStatusError: for other error answers.
            SymblConnectionError: if the service could not be reached.
        """
        body = await self._get(conversation_id, "/summary", _flags(refresh=refresh))
        return structure(_items(body, "summary"), builtins.list[SummaryItem])

    async def insights(self, conversation_id: str) -> builtins.list[InsightItem]:
        """Fetch questions, action items and follow-ups together (``GET .../insights``).

        Args:
            conversation_id: the conversation.

        Returns:
            The insights; tell them apart by ``type``.

        Raises:
            ValidationError: if ``conversation_id`` is empty or not a string.
            NotFoundError: if there is no such conversation.
            APIStatusError: for other error answers.
            SymblConnectionError: if the service could not be reached.
        """
        body = await self._get(conversation_id, "/insights")
        return structure(_items(body, "insights"), builtins.list[InsightItem])

    async def transcript(
        self, conversation_id: str, *, content_type: str = "text/markdown", **options: Any
    ) -> Transcript:
        """Render the transcript as Markdown or SRT (``POST .../transcript``).

        The request is a read, so it is sent as idempotent (retried on connection errors).

        Args:
            conversation_id: the conversation.
            content_type: ``text/markdown`` or ``text/srt``.
            **options: further body fields; snake_case names are sent in camelCase
                (``create_paragraphs=True`` -> ``createParagraphs``).

        Returns:
            The transcript text and its content type.

        Raises:
            ValidationError: if ``conversation_id`` is empty or ``content_type`` is not
                one of the two formats.
            NotFoundError: if there is no such conversation.
            APIStatusError: for other error answers.
            SymblConnectionError: if the service could not be reached.
        """
        return structure(
            await self._transcript_answer(conversation_id, content_type, options), Transcript
        )

    async def _transcript_answer(
        self, conversation_id: str, content_type: str = "text/markdown",
        options: Mapping[str, Any] | None = None,
    ) -> Any:
        """``POST .../transcript``'s ``transcript`` object, unstructured (for :meth:`transcript`
        and the JSON insights)."""
        cid = path_segment(conversation_id, "conversation_id")
        if content_type not in TRANSCRIPT_CONTENT_TYPES:
            raise ValidationError(
                "content_type", f"must be one of {', '.join(sorted(TRANSCRIPT_CONTENT_TYPES))}"
            )
        body = {camel_case(key): value for key, value in (options or {}).items()}
        if "contentType" in body:
            raise ValidationError("contentType", "pass it as content_type")
        body["contentType"] = content_type
        answer = await self._requester.request(
            "POST", f"{_BASE}/{cid}/transcript", json=body, idempotent=True
        )
        return answer.get("transcript") if isinstance(answer, Mapping) else answer

    # -- several kinds at once ----------------------------------------------------------

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

    async def _kind_json(self, conversation_id: str, kind: str) -> Any:
        if kind == "transcript":  # as transcript() sends it by default: Markdown
            return project(await self._transcript_answer(conversation_id), Transcript)
        suffix, key, model = _GETS[kind]
        answer = await self._get(conversation_id, suffix)
        if key is None:
            return project(answer, model)
        return project(_items(answer, key), builtins.list[model])  # type: ignore[valid-type]

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

