"""The Conversation API routes (``/v1/conversations/...``).

What a conversation shows is only what its completed jobs produced: read it
while a job is still running and the insights are incomplete, as the docs warn.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from ..core import parse_iso
from . import _entities as entity_answers
from . import _insights as insights
from . import _render as render
from ._model import Conversation
from ._routing import CONVERSATION_NOT_FOUND, SCHEDULER, ApiError, json_body, query_flag
from ._rsql import parse_list_filter
from ._speakers import SpeakerEventError, apply_turns, turns_from_events

__all__ = ["routes"]

routes = web.RouteTableDef()

_BASE = "/v1/conversations/{conversationId}"
# GET /v1/conversations, as docs/conversation-api/api-reference/all-conversations.md says.
DELETE_NOT_FOUND = "The conversationId is either invalid or does not exist."
# The docs give the status (404) and the cause, not the message.
SUMMARY_IN_PROGRESS = (
    "Summary not found: a job of this conversation is still in progress. "
    "Call the Summary API after the job has completed."
)

_DEFAULT_LIMIT = 20
_MAX_LIMIT = 65536
_DEFAULT_WINDOW = timedelta(days=7)
_SORT_KEYS: dict[str, Callable[[Conversation], Any]] = {
    "startTime": lambda c: (c.created_at, c.seq),
    "endTime": lambda c: (c.end_time, c.seq),
    "name": lambda c: (c.display_name, c.seq),
    "id": lambda c: (c.id, c.seq),
}


def _conversation(request: web.Request) -> Conversation:
    conversation = request.app[SCHEDULER].conversations.get(request.match_info["conversationId"])
    if conversation is None:
        raise ApiError(404, CONVERSATION_NOT_FOUND)
    return conversation


def _int_param(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"{name} must be an integer") from None
    if not low <= value <= high:
        raise ApiError(400, f"{name} must be between {low} and {high}")
    return value


def _sort_fields(request: web.Request) -> list[str]:
    """``sort``: one or more fields, comma-separated (``conversation.startTime`` by default).

    The direction is ``order``'s alone: ``startTime,desc`` or ``-startTime`` are refused.
    """
    raw = request.query.get("sort", "").strip()
    if not raw:
        return ["startTime"]
    fields = []
    for part in raw.split(","):
        field = part.strip().removeprefix("conversation.")
        if field not in _SORT_KEYS:
            hint = (
                "; the direction goes in order=asc|desc"
                if field.lower() in ("asc", "desc") or field.startswith("-")
                else ""
            )
            known = ", ".join(f"conversation.{k}" for k in _SORT_KEYS)
            raise ApiError(400, f"sort must name fields among {known}, got {part!r}{hint}")
        fields.append(field)
    return fields


def _order(request: web.Request) -> bool:
    """``order``: ``asc`` (default) or ``desc``; returns whether descending."""
    raw = request.query.get("order", "asc").strip().lower() or "asc"
    if raw not in ("asc", "desc"):
        raise ApiError(400, "order must be asc or desc")
    return raw == "desc"


def _time_param(request: web.Request, name: str) -> datetime | None:
    raw = request.query.get(name)
    if raw is None or not raw.strip():
        return None
    try:
        return parse_iso(raw)
    except ValueError:
        raise ApiError(400, f"{name} must be an ISO 8601 date-time, got {raw!r}") from None


def _window(request: web.Request) -> tuple[datetime, datetime]:
    """``startTime``/``endTime``: ``endTime`` defaults to now, ``startTime`` to 7 days before.

    Both bound when the conversation was submitted (its ``startTime``, unless timed
    text set that to its first message): the docs tie ``endTime`` to the conversation's
    ``endTime``, but that of a job still running is unknown, and a conversation must
    not vanish from a lookup while it runs. Sorting on ``startTime`` uses the same time.
    """
    now = request.app[SCHEDULER].wall_now()
    end = _time_param(request, "endTime") or now
    start = _time_param(request, "startTime") or end - _DEFAULT_WINDOW
    if start > now:
        raise ApiError(400, "startTime must not be in the future")
    if start >= end:
        raise ApiError(400, "startTime must be before endTime")
    return start, end


@routes.get("/v1/conversations")
async def list_conversations(request: web.Request) -> web.Response:
    """``{"conversations": [...]}``: ``filter``, ``startTime``/``endTime``, ``sort``,
    ``order``, ``limit``/``offset`` as the docs describe them."""
    start, end = _window(request)
    everything = request.app[SCHEDULER].conversations.values()
    found = [c for c in everything if start <= c.created_at <= end]
    expression = request.query.get("filter", "").strip()
    if expression:
        try:
            predicate = parse_list_filter(expression)
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None
        found = [
            c for c in found if predicate({"name": c.display_name, "id": c.id, "type": "meeting"})
        ]
    fields = _sort_fields(request)
    found.sort(key=lambda c: tuple(_SORT_KEYS[f](c) for f in fields), reverse=_order(request))
    offset = _int_param(request, "offset", 0, 0, 10**9)
    limit = _int_param(request, "limit", _DEFAULT_LIMIT, 0, _MAX_LIMIT)
    page = found[offset : offset + limit]
    return web.json_response({"conversations": [render.conversation(c) for c in page]})


@routes.get(_BASE)
async def get_conversation(request: web.Request) -> web.Response:
    """One conversation: ``{id, type, name, startTime, endTime, members, metadata}``."""
    return web.json_response(render.conversation(_conversation(request)))


@routes.put(_BASE)
async def update_conversation(request: web.Request) -> web.Response:
    """``PUT /v1/conversations/{id}`` with ``{"metadata": {...}}``: merge the metadata;
    answers ``{id, metadata}`` as in ``docs/.../put-all-conversation.md``."""
    conversation = _conversation(request)
    body = await json_body(request)
    metadata = body.get("metadata")
    if not isinstance(metadata, dict):
        raise ApiError(400, "metadata is required and must be an object of key/value pairs")
    conversation.metadata.update(metadata)
    return web.json_response({"id": conversation.id, "metadata": conversation.metadata})


@routes.delete(_BASE)
async def delete_conversation(request: web.Request) -> web.Response:
    """Delete a conversation and everything derived from it (``docs/.../delete.md``)."""
    scheduler = request.app[SCHEDULER]
    conversation = scheduler.conversations.pop(request.match_info["conversationId"], None)
    if conversation is None:
        raise ApiError(404, DELETE_NOT_FOUND)
    return web.json_response({"message": "successfully deleted the conversation"})


@routes.get(_BASE + "/messages")
async def messages(request: web.Request) -> web.Response:
    """``messages[]``; ``verbose=true`` adds words, ``sentiment=true`` adds sentiment."""
    conversation = _conversation(request)
    verbose, sentiment = query_flag(request, "verbose"), query_flag(request, "sentiment")
    body = render.messages(conversation, verbose=verbose, sentiment=sentiment)
    return web.json_response({"messages": body})


@routes.get(_BASE + "/topics")
async def topics(request: web.Request) -> web.Response:
    """``topics[]``; ``sentiment`` and ``parentRefs`` add those fields."""
    conversation = _conversation(request)
    found = insights.topics(
        conversation,
        sentiment=query_flag(request, "sentiment"),
        parent_refs=query_flag(request, "parentRefs"),
    )
    return web.json_response({"topics": found})


@routes.get(_BASE + "/questions")
async def questions(request: web.Request) -> web.Response:
    """``questions[]``."""
    return web.json_response({"questions": insights.questions(_conversation(request))})


@routes.get(_BASE + "/action-items")
async def action_items(request: web.Request) -> web.Response:
    """``actionItems[]``."""
    return web.json_response({"actionItems": insights.action_items(_conversation(request))})


@routes.get(_BASE + "/follow-ups")
async def follow_ups(request: web.Request) -> web.Response:
    """``followUps[]``."""
    return web.json_response({"followUps": insights.follow_ups(_conversation(request))})


@routes.get(_BASE + "/insights")
async def all_insights(request: web.Request) -> web.Response:
    """``insights[]``: questions, action items and follow-ups together."""
    return web.json_response({"insights": insights.insights(_conversation(request))})


@routes.get(_BASE + "/members")
async def members(request: web.Request) -> web.Response:
    """``members[]``."""
    return web.json_response({"members": render.members(_conversation(request))})


@routes.put(_BASE + "/members/{memberId}")
async def update_member(request: web.Request) -> web.Response:
    """Rename a member (or set its email); every message and insight shows the change."""
    conversation = _conversation(request)
    member_id = request.match_info["memberId"]
    body = await json_body(request)
    member = conversation.members.get(member_id)
    if member is None:
        raise ApiError(
            404, f"Member with id {member_id} not found in conversation {conversation.id}"
        )
    if body.get("id", member_id) != member_id:
        raise ApiError(400, "id in the body must match the memberId in the path")
    name, email = body.get("name"), body.get("email")
    if (name is not None and not isinstance(name, str)) or (
        email is not None and not isinstance(email, str)
    ):
        raise ApiError(400, "name and email must be strings")
    if not name and not email:
        raise ApiError(400, "name or email is required")
    member.name = name or member.name
    member.email = email or member.email
    return web.json_response(
        {
            "message": f"Member with id: {member_id} for conversationId: {conversation.id} "
            "updated successfully! The update should be reflected in all messages and "
            "insights along with this conversation"
        }
    )


@routes.put(_BASE + "/speakers")
async def speakers(request: web.Request) -> web.Response:
    """Speaker events: messages (and so insights) go to who spoke when (``._speakers``)."""
    conversation = _conversation(request)
    body = await json_body(request)
    try:
        turns = turns_from_events(conversation.id, body.get("speakerEvents"))
    except SpeakerEventError as exc:
        raise ApiError(400, str(exc)) from None
    messages = conversation.messages  # built now: the turns apply to every message so far
    # The latest events are the truth: they replace earlier ones (messages they do not
    # cover keep their speaker), and they attribute the messages of jobs appended later.
    conversation.speaker_turns = turns
    apply_turns(conversation, messages)
    return web.json_response(
        {
            "message": f"Speaker events associated for conversationId: {conversation.id} "
            "successfully! The update should be reflected in all messages and insights "
            "along with this conversation"
        }
    )


@routes.get(_BASE + "/analytics")
async def analytics(request: web.Request) -> web.Response:
    """``{metrics[], members[]}``."""
    return web.json_response(render.analytics(_conversation(request)))


@routes.get(_BASE + "/entities")
async def entities(request: web.Request) -> web.Response:
    """``entities[]``."""
    shape = request.app[SCHEDULER].config.entities_shape
    found = entity_answers.entities(_conversation(request), shape=shape)
    return web.json_response({"entities": found})


@routes.get(_BASE + "/trackers-detected")
@routes.get(_BASE + "/trackers")  # the deprecated name
async def trackers(request: web.Request) -> web.Response:
    """A list of ``{id, name, matches[]}`` for trackers that matched."""
    return web.json_response(insights.trackers(_conversation(request)))


@routes.get(_BASE + "/summary")
async def summary(request: web.Request) -> web.Response:
    """``summary[]``, generated on first call (``enableSummary`` is not needed); kept
    until ``refresh=true`` replaces it. 404 while a job of the conversation runs."""
    conversation = _conversation(request)
    tail = conversation.tail
    if tail is not None and not tail.is_terminal:
        raise ApiError(404, SUMMARY_IN_PROGRESS)
    refresh = query_flag(request, "refresh")
    if refresh or conversation.summary is None:
        conversation.summary = insights.summary(conversation)
    return web.json_response({"summary": conversation.summary})


def _highlight(phrases: object) -> str | None:
    """The transcript's ``phrases`` member: ``"all"``, ``"insights"`` or None (no marks)."""
    if phrases is None:
        return None
    flags = ("highlightOnlyInsightKeyPhrases", "highlightAllKeyPhrases")
    if not isinstance(phrases, dict) or not all(
        isinstance(phrases.get(flag, False), bool) for flag in flags
    ):
        raise ApiError(400, f"phrases must be an object of the booleans {' and '.join(flags)}")
    if phrases.get("highlightAllKeyPhrases"):
        return "all"
    return "insights" if phrases.get("highlightOnlyInsightKeyPhrases") else None


@routes.post(_BASE + "/transcript")
async def transcript(request: web.Request) -> web.Response:
    """``{"transcript": {"payload", "contentType"}}`` as Markdown (key phrases marked on
    request) or SRT."""
    conversation = _conversation(request)
    body = await json_body(request)
    content_type = body.get("contentType")
    if content_type not in render.TRANSCRIPT_TYPES:
        raise ApiError(400, f"contentType must be one of {', '.join(render.TRANSCRIPT_TYPES)}")
    separation = body.get("showSpeakerSeparation", True)
    if not isinstance(separation, bool):
        raise ApiError(400, "showSpeakerSeparation must be true or false")
    payload = render.transcript(
        conversation,
        content_type,
        speaker_separation=separation,
        highlight=_highlight(body.get("phrases")),
    )
    return web.json_response({"transcript": {"payload": payload, "contentType": content_type}})
