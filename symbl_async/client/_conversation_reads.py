"""Reading a processed conversation's transcript and insights (``GET .../messages`` etc.).

The base of :class:`~symbl_async.client._conversations.ConversationsAPI`, kept apart so
that each module reads in one sitting. Every method validates its arguments before
sending anything. Do not read insights before the conversation's job is ``completed``:
they may be incomplete.

Docs: https://docs.symbl.ai/docs/conversation-api/introduction (see ``REFERENCE.md``).
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any

from symbl_async.core._checks import path_segment
from symbl_async.errors import ValidationError
from symbl_async.models import (
    ActionItem,
    Analytics,
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
from symbl_async.transport._transport import Requester

__all__ = ["TRANSCRIPT_CONTENT_TYPES", "ConversationReads"]

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


class ConversationReads:
    """The read endpoints of one conversation, over a :class:`Requester`."""

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
        a conversation processed without it (``summary.md``). It answers **404 while the
        conversation's job is still in progress**, so a ``NotFoundError`` here may mean
        "not yet" rather than "no such conversation": wait for the job first.

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
