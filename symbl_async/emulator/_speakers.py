"""Speaker events (``PUT /v1/conversations/{id}/speakers``): who spoke when, applied to
the messages.

"Once the API completes the processing the results are reflected for the Messages and
Insights in the conversation" (Symbl docs, 'PUT Speaker Events'). Each user's
``started_speaking``/``stopped_speaking`` events, by their offsets from the start of the
conversation, make that user's turns; each message goes to the user whose turns cover
most of it (a message no turn touches keeps its speaker), now and when later jobs add
messages; a new ``PUT`` replaces the turns. The user becomes a member (the event's
``user.id`` is its id), and a member left with no message is no longer listed.
Insights follow: their ``from`` and ``assignee`` are the members of their messages.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable
from typing import Any

from ._model import Conversation, Member, Message, SpeakerTurn

__all__ = ["EVENT_TYPES", "SpeakerEventError", "apply_turns", "turns_from_events"]

EVENT_TYPES = ("started_speaking", "stopped_speaking")

# (offset in seconds, type, member id, name, email) of one event.
_Event = tuple[float, str, str, str | None, str | None]


class SpeakerEventError(ValueError):
    """A speaker event broke a documented rule; the message names the field."""


def turns_from_events(conversation_id: str, events: object) -> list[SpeakerTurn]:
    """The speaking turns that ``speakerEvents`` describe.

    A ``started_speaking`` lasts until the same user's next ``stopped_speaking`` (or for
    ever); a ``stopped_speaking`` with no start before it is ignored.

    Raises:
        SpeakerEventError: when ``events`` is not a list of well-formed events.
    """
    if not isinstance(events, list):
        raise SpeakerEventError("speakerEvents must be a list of speaker event objects")
    parsed = sorted(
        (_event(conversation_id, index, event) for index, event in enumerate(events)),
        key=lambda e: e[0],
    )
    started: dict[str, tuple[float, str | None, str | None]] = {}
    turns = []
    for offset, kind, member_id, name, email in parsed:
        if kind == "started_speaking":
            started.setdefault(member_id, (offset, name, email))
        elif member_id in started:
            begin, name, email = started.pop(member_id)
            turns.append(SpeakerTurn(member_id, name, email, begin, offset))
    for member_id, (begin, name, email) in started.items():
        turns.append(SpeakerTurn(member_id, name, email, begin, math.inf))
    return sorted(turns, key=lambda t: (t.start, t.end))


def _event(conversation_id: str, index: int, event: object) -> _Event:
    where = f"speakerEvents[{index}]"
    if not isinstance(event, dict):
        raise SpeakerEventError(f"{where} must be a speaker event object")
    kind = event.get("type")
    if kind not in EVENT_TYPES:
        raise SpeakerEventError(f"{where}.type must be one of {', '.join(EVENT_TYPES)}")
    user = event.get("user")
    if not isinstance(user, dict):
        raise SpeakerEventError(f"{where}.user must be an object with an id or a name")
    user_id, name, email = (_text(user, key, f"{where}.user") for key in ("id", "name", "email"))
    if not (user_id or name):
        raise SpeakerEventError(f"{where}.user needs an id or a name")
    # A user known by name only gets the id a transcript speaker of that name would get.
    member_id = user_id or str(uuid.uuid5(uuid.NAMESPACE_URL, f"{conversation_id}/{name}"))
    offset = event.get("offset")
    if not isinstance(offset, dict):
        raise SpeakerEventError(f"{where}.offset must be an object of seconds and nanos")
    # The docs' own example sends nanos of 5000000000 (5 s): nanos are added, not capped.
    at = f"{where}.offset"
    seconds = _count(offset, "seconds", at) + _count(offset, "nanos", at) / 1e9
    return seconds, str(kind), member_id, name, email


def _text(user: dict[str, Any], key: str, where: str) -> str | None:
    value = user.get(key)
    if value is not None and not isinstance(value, str):
        raise SpeakerEventError(f"{where}.{key} must be a string")
    return value or None


def _count(offset: dict[str, Any], key: str, where: str) -> float:
    value = offset.get(key, 0)
    number_ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not (number_ok and math.isfinite(value) and value >= 0):
        raise SpeakerEventError(f"{where}.{key} must be a number >= 0")
    return float(value)


def apply_turns(conversation: Conversation, messages: Iterable[Message]) -> None:
    """Give each of ``messages`` to the user whose turns (the conversation's) cover most of it."""
    turns = conversation.speaker_turns
    if not turns:
        return
    members = conversation.raw_members
    for message in messages:
        covered: dict[str, float] = {}
        for turn in turns:
            if message.end > message.start:
                seconds = min(message.end, turn.end) - max(message.start, turn.start)
            else:  # an instant: inside the turn or not
                seconds = 1.0 if turn.start <= message.start < turn.end else 0.0
            if seconds > 0:
                covered[turn.member_id] = covered.get(turn.member_id, 0.0) + seconds
        if not covered:
            continue
        best = max(covered, key=lambda member_id: covered[member_id])  # first wins a tie
        turn = next(t for t in reversed(turns) if t.member_id == best)
        member = members.setdefault(best, Member(best, turn.name or best))
        member.name = turn.name or member.name
        member.email = turn.email or member.email
        message.member_id = best
    speaking = {message.member_id for message in conversation.raw_messages}
    for member_id in [m for m in members if m not in speaking]:
        del members[member_id]
