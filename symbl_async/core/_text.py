"""Text conversations for ``POST /v1/process/text``.

Each message is ``{"payload": {"content": ..., "contentType": "text/plain"},
"from": {"name": ..., "userId": ...}, "duration": {"startTime": ISO, "endTime": ISO}}``;
``messages`` and ``payload.content`` are required (Symbl docs, "POST Text API").

People write conversations more simply, so two other forms are read too and turned into
that one: ``{"speaker": ..., "text": ...}`` objects (:func:`api_messages`), and plain-text
transcripts, one message per line, ``Name: text`` (:func:`transcript_messages`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import attrs

from symbl_async.errors import ValidationError

__all__ = ["TextMessage", "api_messages", "messages_to_json", "transcript_messages"]


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


_SIMPLE_KEYS = frozenset({"speaker", "text"})
_FORMS = 'a message is {"speaker", "text"} or the API\'s {"payload": {"content"}, "from": {"name"}}'


def _api_message(text: str, speaker: str | None) -> dict[str, Any]:
    message: dict[str, Any] = {"payload": {"content": text, "contentType": "text/plain"}}
    if speaker:
        message["from"] = {"name": speaker}
    return message


def api_messages(value: object) -> Sequence[Mapping[str, Any]]:
    """Check a list of messages and return it in the API's form.

    Each message is either the API's own (``{"payload": {"content": ...}, "from": {"name":
    ...}, ...}``, kept exactly as given) or the simple ``{"speaker": ..., "text": ...}``
    (speaker optional), turned into the API's ``{"payload": {"content": text,
    "contentType": "text/plain"}, "from": {"name": speaker}}``. A list of the API's
    messages is returned as is (the same object).

    Raises:
        ValidationError: not a non-empty list of messages, or a message of neither form
            (the field names its index, e.g. ``messages[2].text``).
    """
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence) or not value:
        raise ValidationError("messages", "must be a non-empty list of message objects")
    converted: list[Mapping[str, Any]] | None = None
    for index, message in enumerate(value):
        field = f"messages[{index}]"
        if not isinstance(message, Mapping):
            raise ValidationError(field, f"must be an object: {_FORMS}")
        if "payload" in message:
            payload = message["payload"]
            if not isinstance(payload, Mapping) or not isinstance(payload.get("content"), str):
                raise ValidationError(field, "needs payload.content, a string")
            if converted is not None:
                converted.append(message)
            continue
        if "text" not in message:
            raise ValidationError(field, f"needs text or payload.content: {_FORMS}")
        unknown = sorted(set(message) - _SIMPLE_KEYS)
        if unknown:
            raise ValidationError(f"{field}.{unknown[0]}", f"unknown key: {_FORMS}")
        text, speaker = message["text"], message.get("speaker")
        if not isinstance(text, str) or not text.strip():
            raise ValidationError(f"{field}.text", "must be non-empty text")
        if speaker is not None and not isinstance(speaker, str):
            raise ValidationError(f"{field}.speaker", "must be text (or null)")
        if converted is None:
            converted = list(value[:index])
        converted.append(_api_message(text.strip(), speaker.strip() if speaker else None))
    return value if converted is None else converted


# A speaker's prefix: a name of at most four words (starting with a letter: not a time
# such as 10:30), a colon, then a space or the end of the line (not a URL's "://").
_PREFIX = re.compile(r"(?P<name>[^\W\d_][\w .,'\u2019()@&+-]{0,39}?)\s*:(?:\s+(?P<text>.*))?")
_MOST_WORDS = 4


def transcript_messages(text: str) -> list[dict[str, Any]]:
    """The messages of a plain-text transcript, in the API's form.

    One message per non-blank line. A line ``Name: text`` is said by ``Name``; a line
    without such a prefix keeps the speaker of the line before (or has none); a line
    ``Name:`` alone names the speaker of the lines that follow. A name is at most four
    words and 40 characters and starts with a letter (so ``10:30 we start`` and URLs are
    text, not speakers).

    Raises:
        ValidationError: (field ``messages``) when no line holds any text.
    """
    messages: list[dict[str, Any]] = []
    speaker: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        found = _PREFIX.fullmatch(line)
        if found is not None and len(found["name"].split()) <= _MOST_WORDS:
            speaker = found["name"].strip()
            line = (found["text"] or "").strip()
            if not line:
                continue
        messages.append(_api_message(line, speaker))
    if not messages:
        raise ValidationError("messages", "the transcript has no text: one message per line")
    return messages
