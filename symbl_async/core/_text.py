"""Text conversations for ``POST /v1/process/text``.

Each message is ``{"payload": {"content": ..., "contentType": "text/plain"},
"from": {"name": ..., "userId": ...}, "duration": {"startTime": ISO, "endTime": ISO}}``;
``messages`` and ``payload.content`` are required (Symbl docs, "POST Text API").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

import attrs

from symbl_async.errors import ValidationError

__all__ = ["TextMessage", "messages_to_json"]


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:  # naive times are taken as UTC
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def _iso(value: datetime) -> str:
    return _utc(value).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@attrs.frozen(kw_only=True)
class TextMessage:
    """One message of a text conversation.

    Attributes:
        content: what was said or written (required, non-empty).
        speaker_name: the author's name.
        user_id: the author's id (often an email address).
        start_time: when it began (naive datetimes are taken as UTC).
        end_time: when it ended.
    """

    content: str
    speaker_name: str | None = None
    user_id: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"payload": {"content": self.content, "contentType": "text/plain"}}
        sender = {k: v for k, v in (("name", self.speaker_name), ("userId", self.user_id)) if v}
        if sender:
            out["from"] = sender
        if self.start_time is not None or self.end_time is not None:
            out["duration"] = {
                k: _iso(v)
                for k, v in (("startTime", self.start_time), ("endTime", self.end_time))
                if v is not None
            }
        return out


def messages_to_json(messages: Iterable[TextMessage | Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Check messages and return their JSON form.

    Raises:
        ValidationError: no messages, or a message without non-empty content
            (the field names the message's index).
    """
    if isinstance(messages, (str, bytes, Mapping)) or not isinstance(messages, Iterable):
        raise ValidationError("messages", "must be a list of messages")
    out: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        field = f"messages[{index}]"
        if isinstance(message, TextMessage):
            if not isinstance(message.content, str) or not message.content.strip():
                raise ValidationError(f"{field}.content", "must be non-empty text")
            if (
                message.start_time is not None
                and message.end_time is not None
                and _utc(message.end_time) < _utc(message.start_time)
            ):
                raise ValidationError(f"{field}.end_time", "must not be before start_time")
            out.append(message.to_json())
        elif isinstance(message, Mapping):
            payload = message.get("payload")
            content = payload.get("content") if isinstance(payload, Mapping) else None
            if not isinstance(content, str) or not content.strip():
                raise ValidationError(f"{field}.payload.content", "must be non-empty text")
            out.append(dict(message))
        else:
            raise ValidationError(
                field, f"must be a TextMessage or a dict, not {type(message).__name__}"
            )
    if not out:
        raise ValidationError("messages", "must contain at least one message")
    return out
