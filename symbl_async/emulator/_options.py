"""Submit options: read from a query string or JSON body, checked as the docs describe.

Pure: every check raises :class:`OptionError` with a message naming the field,
which the routes turn into ``400 {"message": ...}``.
"""

from __future__ import annotations

import json
import math
import urllib.parse
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs
from multidict import MultiMapping

from ..core import parse_iso

__all__ = [
    "ChannelSpeaker",
    "OptionError",
    "SubmitOptions",
    "TextMessage",
    "Tracker",
    "parse_options",
    "raw_from_query",
]

# Options whose query-string value is JSON (or may be repeated, for lists).
_STRUCTURED = frozenset(
    {"customVocabulary", "entities", "channelMetadata", "trackers", "metadata", "features"}
)


class OptionError(ValueError):
    """A submit option broke a documented rule; the message says which and how."""


@attrs.frozen
class ChannelSpeaker:
    """One ``channelMetadata`` item: who speaks on an audio channel."""

    channel: int
    name: str | None
    email: str | None


@attrs.frozen
class Tracker:
    """One ``trackers`` item: a name and the phrases to look for."""

    name: str
    vocabulary: tuple[str, ...]


@attrs.frozen
class TextMessage:
    """One item of a text submit's ``messages``."""

    content: str
    speaker_name: str | None = None
    speaker_user_id: str | None = None
    start: datetime | None = None
    end: datetime | None = None


@attrs.frozen(kw_only=True)
class SubmitOptions:
    """The options of one submit, validated and typed."""

    url: str | None = None
    messages: tuple[TextMessage, ...] = ()
    name: str | None = None
    webhook_url: str | None = None
    custom_vocabulary: tuple[str, ...] = ()
    confidence_threshold: float = 0.5
    detect_phrases: bool = False
    entities: tuple[Mapping[str, str], ...] = ()
    detect_entities: bool = False
    language_code: str = "en-US"
    mode: str = "default"
    separate_channels: bool = False
    channel_metadata: tuple[ChannelSpeaker, ...] = ()
    trackers: tuple[Tracker, ...] = ()
    enable_all_trackers: bool = False
    enable_summary: bool = False
    enable_diarization: bool = False
    speaker_count: int | None = None
    metadata: Mapping[str, Any] = attrs.field(factory=dict)

    @property
    def english(self) -> bool:
        """Whether ``languageCode`` is an English one (``en-US``, ``en-GB``, ...)."""
        return self.language_code.split("-", 1)[0].lower() == "en"


def raw_from_query(query: MultiMapping[str]) -> dict[str, Any]:
    """Collect query-string options: last value wins, repeated list options become lists."""
    raw: dict[str, Any] = {}
    for key in set(query):
        values = query.getall(key)
        raw[key] = values if key in _STRUCTURED and len(values) > 1 else values[-1]
    return raw


def parse_options(raw: Mapping[str, Any], *, kind: str) -> SubmitOptions:
    """Validate raw options of a submit.

    Args:
        raw: option name -> value, typed (JSON body) or strings (query string).
        kind: ``"url"`` (needs ``url``), ``"text"`` (needs ``messages``) or ``"file"``.

    Raises:
        OptionError: naming the first option that breaks a rule.
    """
    separate = _bool(raw, "enableSeparateRecognitionPerChannel")
    channels = _channel_metadata(raw)
    if channels and not separate:
        raise OptionError("channelMetadata requires enableSeparateRecognitionPerChannel to be true")
    threshold = _number(raw, "confidenceThreshold", 0.5)
    if not 0.5 <= threshold <= 1.0:
        raise OptionError("confidenceThreshold must be between 0.5 and 1.0 inclusive")
    mode = _string(raw, "mode") or "default"
    if mode not in ("phone", "default"):
        raise OptionError("mode must be 'phone' or 'default'")
    speaker_count: int | None = None
    if raw.get("diarizationSpeakerCount") is not None:
        count = _number(raw, "diarizationSpeakerCount", 0)
        if count != int(count) or count < 1:
            raise OptionError("diarizationSpeakerCount must be an integer >= 1")
        speaker_count = int(count)
    webhook = _string(raw, "webhookUrl") or None  # the docs' own example sends ""
    if webhook is not None and not _is_http_url(webhook):
        raise OptionError("webhookUrl must be an http(s) URL")
    url: str | None = None
    if kind == "url":
        url = _string(raw, "url")
        if not url:
            raise OptionError("url is required")
        if not _is_http_url(url):
            raise OptionError("url must be a public http(s) URL")
        _refuse_platform(url)
    return SubmitOptions(
        url=url,
        messages=_messages(raw) if kind == "text" else (),
        name=_string(raw, "name") or None,
        webhook_url=webhook,
        custom_vocabulary=tuple(_string_list(raw, "customVocabulary")),
        confidence_threshold=threshold,
        detect_phrases=_bool(raw, "detectPhrases"),
        entities=_entities(raw),
        detect_entities=_bool(raw, "detectEntities"),
        language_code=_string(raw, "languageCode") or "en-US",
        mode=mode,
        separate_channels=separate,
        channel_metadata=channels,
        trackers=_trackers(raw),
        enable_all_trackers=_bool(raw, "enableAllTrackers"),
        enable_summary=_bool(raw, "enableSummary"),
        enable_diarization=_bool(raw, "enableSpeakerDiarization"),
        speaker_count=speaker_count,
        metadata=_metadata(raw),
    )


# "Currently, we do not support any redirected links, shortened links (e.g. bit.ly),
# YouTube, Vimeo, or links from any audio/video platforms" (Symbl docs, 'POST Audio URL
# API', 'POST Video URL API'). Hosts (and their subdomains) of such links:
_UNSUPPORTED_HOSTS = frozenset(
    {
        "youtube.com", "youtu.be", "youtube-nocookie.com", "vimeo.com", "dailymotion.com",
        "dai.ly", "twitch.tv", "soundcloud.com", "spotify.com", "tiktok.com", "wistia.com",
        "bit.ly", "tinyurl.com", "t.co", "goo.gl", "ow.ly", "is.gd", "buff.ly", "rebrand.ly",
    }
)  # fmt: skip


def _refuse_platform(url: str) -> None:
    """Refuse a link to an audio/video platform or a URL shortener, as the docs say.

    The docs say these links are "not supported" but give neither a status nor a message;
    the closest documented error is the URL pages' 400 for bad input ("Bad Request! Please
    refer docs for correct input fields."), so that is the answer, and no job is created.
    """
    host = (urllib.parse.urlsplit(url).hostname or "").lower().rstrip(".")
    labels = host.split(".")
    if any(".".join(labels[i:]) in _UNSUPPORTED_HOSTS for i in range(len(labels))):
        raise OptionError(
            f"url must be a direct, public link to the media file: links from audio/video "
            f"platforms (YouTube, Vimeo, ...) and shortened links are not supported ({host})"
        )


def _is_http_url(value: str) -> bool:
    parts = urllib.parse.urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _string(raw: Mapping[str, Any], key: str) -> str | None:
    value = raw.get(key)
    if value is None or isinstance(value, str):
        return value
    raise OptionError(f"{key} must be a string")


def _bool(raw: Mapping[str, Any], key: str) -> bool:
    value = raw.get(key)
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise OptionError(f"{key} must be true or false")


def _number(raw: Mapping[str, Any], key: str, default: float) -> float:
    value = raw.get(key)
    if value is None:
        return default
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise OptionError(f"{key} must be a number") from None
    else:
        raise OptionError(f"{key} must be a number")
    if not math.isfinite(number):
        raise OptionError(f"{key} must be a finite number")
    return number


def _structured(raw: Mapping[str, Any], key: str) -> Any:
    """A list/object option; query strings carry it JSON-encoded."""
    value = raw.get(key)
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            if key == "customVocabulary":
                return [value]  # a single plain word in a query string
            raise OptionError(f"{key} must be JSON-encoded in the query string") from None
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        # Repeated query keys: each may itself be JSON (an object of a list option).
        try:
            return [json.loads(v) for v in value] if key != "customVocabulary" else value
        except ValueError:
            raise OptionError(f"{key} items must be JSON-encoded in the query string") from None
    return value


def _list_of_objects(raw: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = _structured(raw, key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise OptionError(f"{key} must be a list of objects")
    return value


def _string_list(raw: Mapping[str, Any], key: str) -> list[str]:
    value = _structured(raw, key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise OptionError(f"{key} must be a list of strings")
    return value


def _entities(raw: Mapping[str, Any]) -> tuple[Mapping[str, str], ...]:
    entities = []
    for item in _list_of_objects(raw, "entities"):
        custom_type, text = item.get("customType"), item.get("text")
        if not isinstance(custom_type, str) or not isinstance(text, str) or not text:
            raise OptionError("each entities item needs a customType and a text")
        value = item.get("value")
        entities.append(
            {
                "customType": custom_type,
                "text": text,
                "value": value if isinstance(value, str) else text,
            }
        )
    return tuple(entities)


def _metadata(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    value = _structured(raw, "metadata")
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise OptionError("metadata must be an object of key/value pairs")
    return value


def _trackers(raw: Mapping[str, Any]) -> tuple[Tracker, ...]:
    trackers = []
    for item in _list_of_objects(raw, "trackers"):
        name, vocabulary = item.get("name"), item.get("vocabulary")
        if not isinstance(name, str) or not name:
            raise OptionError("each trackers item needs a name")
        if not isinstance(vocabulary, list) or not all(isinstance(v, str) for v in vocabulary):
            raise OptionError(f"tracker {name!r} needs a vocabulary list of strings")
        trackers.append(Tracker(name, tuple(vocabulary)))
    return tuple(trackers)


def _channel_metadata(raw: Mapping[str, Any]) -> tuple[ChannelSpeaker, ...]:
    speakers = []
    for item in _list_of_objects(raw, "channelMetadata"):
        channel, speaker = item.get("channel"), item.get("speaker")
        if isinstance(channel, bool) or not isinstance(channel, int) or channel < 1:
            raise OptionError("each channelMetadata item needs an integer channel >= 1")
        if not isinstance(speaker, dict):
            raise OptionError("each channelMetadata item needs a speaker object")
        name, email = speaker.get("name"), speaker.get("email")
        speakers.append(
            ChannelSpeaker(
                channel,
                name if isinstance(name, str) else None,
                email if isinstance(email, str) else None,
            )
        )
    return tuple(speakers)


def _messages(raw: Mapping[str, Any]) -> tuple[TextMessage, ...]:
    items = raw.get("messages")
    if not isinstance(items, list) or not items:
        raise OptionError("messages is required and must be a non-empty list")
    messages = []
    for index, item in enumerate(items):
        payload = item.get("payload") if isinstance(item, dict) else None
        content = payload.get("content") if isinstance(payload, dict) else None
        if not isinstance(content, str) or not content.strip():
            raise OptionError(f"messages[{index}].payload.content is required")
        sender = item.get("from") if isinstance(item.get("from"), dict) else {}
        name, user_id = sender.get("name"), sender.get("userId")
        start = end = None
        duration = item.get("duration")
        if isinstance(duration, dict):
            start = _time(duration.get("startTime"), f"messages[{index}].duration.startTime")
            end = _time(duration.get("endTime"), f"messages[{index}].duration.endTime")
            if start is not None and end is not None and end < start:
                raise OptionError(f"messages[{index}].duration ends before it starts")
        messages.append(
            TextMessage(
                content.strip(),
                name if isinstance(name, str) and name else None,
                user_id if isinstance(user_id, str) and user_id else None,
                start,
                end,
            )
        )
    return tuple(messages)


def _time(value: Any, where: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise OptionError(f"{where} must be an ISO 8601 date-time")
    try:
        # Not datetime.fromisoformat: on Python 3.10 it refuses "Z" and 2-digit fractions.
        return parse_iso(value)
    except ValueError:
        raise OptionError(f"{where} must be an ISO 8601 date-time") from None
