"""Entities of a conversation (``GET .../entities``), in the current or the 2022 shape.

The current docs (docs.symbl.ai "Get detected entities") group matches by entity type;
the 2022 docs list one item per value. ``EmulatorConfig.entities_shape`` chooses.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ._insights import _DATE, _MONEY, _PERCENT, _resolve_date, _said_at, stable_id
from ._model import Conversation, Message, iso

__all__ = ["entities"]


def _message_ref(message: Message, offset: int, start: datetime) -> dict[str, Any]:
    return {
        "id": message.id,
        "startTime": iso(start + timedelta(seconds=message.start)),
        "endTime": iso(start + timedelta(seconds=message.end)),
        "text": message.text,
        "offset": offset,
    }


def entities(conversation: Conversation, *, shape: str = "current") -> list[dict[str, Any]]:
    """``entities[]``: the submit's custom entities found in the text, plus, with
    ``detectEntities``, money amounts, percentages and dates (dates resolved to an ISO
    day, from when the message was said).

    Args:
        shape: ``"current"``: one item per entity type, ``{id, type, subType, category
            ("Custom" or "Managed"), matches: [{value, messageRefs}]}``; ``"legacy"``
            (the 2022 docs): one item per value, ``{type, customType?, value, text,
            messageRefs}``.
    """
    # (category, type, value) -> (text as said, message refs); insertion-ordered.
    found: dict[tuple[str, str, str], tuple[str, list[dict[str, Any]]]] = {}
    custom: dict[tuple[str, str], dict[str, str]] = {}
    detect = False
    for options in conversation.completed_options:
        detect = detect or options.detect_entities
        for entity in options.entities:
            custom[(entity["customType"], entity["text"].lower())] = dict(entity)
    for entity in custom.values():
        for message in conversation.english_messages:
            at = message.text.lower().find(entity["text"].lower())
            if at >= 0:
                key = ("Custom", entity["customType"], entity["value"])
                refs = found.setdefault(key, (entity["text"], []))[1]
                refs.append(_message_ref(message, at, conversation.start_time))
    if detect:
        for message in conversation.english_messages:
            for kind, pattern in (("money", _MONEY), ("percentage", _PERCENT), ("date", _DATE)):
                for match in pattern.finditer(message.text):
                    value = match.group(0).lower()
                    if kind == "date":
                        first, _ = _resolve_date(value, _said_at(conversation, message))
                        value = first.isoformat()
                    refs = found.setdefault(("Managed", kind, value), (match.group(0), []))[1]
                    refs.append(_message_ref(message, match.start(), conversation.start_time))
    if shape == "legacy":
        return [_legacy_entity(key, text, refs) for key, (text, refs) in found.items()]
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for (category, kind, value), (_, refs) in found.items():
        grouped.setdefault((category, kind), []).append({"value": value, "messageRefs": refs})
    return [
        {
            "id": stable_id(conversation.id, "entity", category, kind),
            "type": kind,
            "subType": "",
            "category": category,
            "matches": matches,
        }
        for (category, kind), matches in grouped.items()
    ]


def _legacy_entity(
    key: tuple[str, str, str], text: str, refs: list[dict[str, Any]]
) -> dict[str, Any]:
    category, kind, value = key
    if category == "Custom":
        return {
            "type": "custom",
            "customType": kind,
            "value": value,
            "text": text,
            "messageRefs": refs,
        }
    return {"type": kind, "value": value, "text": text, "messageRefs": refs}
