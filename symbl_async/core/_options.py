"""Processing options of the Async API submits, checked before anything is sent.

Every option and rule follows REFERENCE.md ("Submitting work"); the doc pages are
``seeds/002`` (query parameters of file uploads) and ``seeds/004`` (JSON body of URL
submits). Options travel in the JSON body for URL and text submits and in the query
string for file uploads, where lists and objects are JSON-encoded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

import attrs

from symbl_async.errors import ValidationError

__all__ = [
    "ChannelMetadata",
    "CustomEntity",
    "ProcessingOptions",
    "Speaker",
    "Tracker",
    "check_http_url",
]

# Diarization is documented for English and Spanish only (seeds/002, "Speaker Separation").
_DIARIZATION_LANGUAGES = ("en", "es")
_LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
# Options that only make sense for speech: refused on text submits.
_SPEECH_ONLY = (
    "custom_vocabulary",
    "mode",
    "enable_separate_recognition_per_channel",
    "channel_metadata",
    "enable_speaker_diarization",
    "diarization_speaker_count",
)


def check_http_url(value: object, field: str) -> str:
    """Return ``value`` if it is an absolute http(s) URL with a host, else raise.

    Raises:
        ValidationError: naming ``field`` and the rule.
    """
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(field, "must be a non-empty http(s) URL")
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https"):
        raise ValidationError(field, f"must use http or https, not {parts.scheme or 'no scheme'!r}")
    if not parts.hostname:
        raise ValidationError(field, "must be an absolute URL with a host")
    return value.strip()


_Validator = Callable[[Any, Any, Any], None]


def _non_empty_str(field: str) -> _Validator:
    def check(_inst: object, _attr: object, value: object) -> None:
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ValidationError(field, "must be a non-empty string")

    return check


def _optional_bool(field: str) -> _Validator:
    def check(_inst: object, _attr: object, value: object) -> None:
        if value is not None and not isinstance(value, bool):
            raise ValidationError(field, "must be true or false")

    return check


def _tuple_of(cls: type[Any], field: str) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
            raise ValidationError(field, f"must be a list of {cls.__name__}")
        items = []
        for item in value:
            if isinstance(item, Mapping) and cls is not str:
                item = cls.from_json(item)
            if not isinstance(item, cls):
                raise ValidationError(
                    field, f"items must be {cls.__name__}, not {type(item).__name__}"
                )
            items.append(item)
        return tuple(items)

    return convert


@attrs.frozen(kw_only=True)
class Speaker:
    """Who speaks on a channel (``channelMetadata[].speaker``)."""

    name: str | None = attrs.field(default=None, validator=_non_empty_str("speaker.name"))
    email: str | None = attrs.field(default=None, validator=_non_empty_str("speaker.email"))

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in (("name", self.name), ("email", self.email)) if v is not None}


@attrs.frozen(kw_only=True)
class ChannelMetadata:
    """One channel's speaker, for separate recognition per channel."""

    channel: int
    speaker: Speaker

    def __attrs_post_init__(self) -> None:
        if isinstance(self.channel, bool) or not isinstance(self.channel, int) or self.channel < 1:
            raise ValidationError("channel_metadata.channel", "must be an integer >= 1")
        if not isinstance(self.speaker, Speaker):
            raise ValidationError("channel_metadata.speaker", "must be a Speaker")

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ChannelMetadata:
        speaker = data.get("speaker") or {}
        if not isinstance(speaker, Mapping):
            raise ValidationError("channel_metadata.speaker", "must be an object with name/email")
        return cls(channel=data.get("channel"), speaker=Speaker(**speaker))  # type: ignore[arg-type]

    def to_json(self) -> dict[str, Any]:
        return {"channel": self.channel, "speaker": self.speaker.to_json()}


@attrs.frozen(kw_only=True)
class CustomEntity:
    """A custom entity to detect (``entities[]``: customType, value, text)."""

    custom_type: str = attrs.field(validator=_non_empty_str("entities.custom_type"))
    text: str = attrs.field(validator=_non_empty_str("entities.text"))
    value: str | None = attrs.field(default=None, validator=_non_empty_str("entities.value"))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CustomEntity:
        return cls(
            custom_type=data.get("customType", data.get("custom_type")),
            text=data.get("text", ""),
            value=data.get("value"),
        )

    def to_json(self) -> dict[str, Any]:
        out = {"customType": self.custom_type, "text": self.text}
        if self.value is not None:
            out["value"] = self.value
        return out


def _vocabulary(value: Any) -> tuple[str, ...]:
    items = _tuple_of(str, "trackers.vocabulary")(value)
    if not items:
        raise ValidationError("trackers.vocabulary", "must list at least one phrase")
    if any(not s.strip() for s in items):
        raise ValidationError("trackers.vocabulary", "phrases must be non-empty strings")
    return items  # type: ignore[no-any-return]


@attrs.frozen(kw_only=True)
class Tracker:
    """A tracker (beta): a name and the phrases that signal it."""

    name: str = attrs.field(validator=_non_empty_str("trackers.name"))
    vocabulary: tuple[str, ...] = attrs.field(converter=_vocabulary)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Tracker:
        return cls(name=data.get("name"), vocabulary=data.get("vocabulary"))  # type: ignore[arg-type]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "vocabulary": list(self.vocabulary)}


def _to_vocabulary(value: Any) -> tuple[str, ...] | None:
    return _tuple_of(str, "custom_vocabulary")(value)  # type: ignore[no-any-return]


def _to_entities(value: Any) -> tuple[CustomEntity, ...] | None:
    return _tuple_of(CustomEntity, "entities")(value)  # type: ignore[no-any-return]


def _to_channels(value: Any) -> tuple[ChannelMetadata, ...] | None:
    return _tuple_of(ChannelMetadata, "channel_metadata")(value)  # type: ignore[no-any-return]


def _to_trackers(value: Any) -> tuple[Tracker, ...] | None:
    return _tuple_of(Tracker, "trackers")(value)  # type: ignore[no-any-return]


def _check_threshold(_inst: object, _attr: object, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError("confidence_threshold", "must be a number between 0.5 and 1.0")
    if not 0.5 <= value <= 1.0:
        raise ValidationError("confidence_threshold", f"must be between 0.5 and 1.0, got {value}")


def _check_mode(_inst: object, _attr: object, value: Any) -> None:
    if value is not None and value not in ("phone", "default"):
        raise ValidationError("mode", f"must be 'phone' or 'default', got {value!r}")


def _check_language(_inst: object, _attr: object, value: Any) -> None:
    if value is not None and (not isinstance(value, str) or not _LANGUAGE_CODE.match(value)):
        raise ValidationError(
            "language_code", f"must be a language tag like 'en-US', got {value!r}"
        )


def _check_speaker_count(_inst: object, _attr: object, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(
            "diarization_speaker_count", f"must be an integer >= 1, got {value!r}"
        )


def _check_vocabulary(_inst: object, _attr: object, value: tuple[str, ...] | None) -> None:
    if value is not None and any(not s.strip() for s in value):
        raise ValidationError("custom_vocabulary", "entries must be non-empty strings")


def _check_webhook(_inst: object, _attr: object, value: Any) -> None:
    if value is not None:
        check_http_url(value, "webhook_url")


# Python field name -> the API's camelCase key, in the order the docs list them.
_KEYS = {
    "name": "name",
    "webhook_url": "webhookUrl",
    "custom_vocabulary": "customVocabulary",
    "confidence_threshold": "confidenceThreshold",
    "detect_phrases": "detectPhrases",
    "entities": "entities",
    "detect_entities": "detectEntities",
    "language_code": "languageCode",
    "mode": "mode",
    "enable_separate_recognition_per_channel": "enableSeparateRecognitionPerChannel",
    "channel_metadata": "channelMetadata",
    "trackers": "trackers",
    "enable_all_trackers": "enableAllTrackers",
    "enable_summary": "enableSummary",
    "enable_speaker_diarization": "enableSpeakerDiarization",
    "diarization_speaker_count": "diarizationSpeakerCount",
}


@attrs.frozen(kw_only=True)
class ProcessingOptions:
    """Every documented option of the Async API submits; ``None`` means "not sent".

    Rules (checked on construction, so a bad value never reaches the network):
    ``confidence_threshold`` in [0.5, 1.0]; ``mode`` is ``phone`` or ``default``;
    ``channel_metadata`` needs ``enable_separate_recognition_per_channel=True``
    and distinct channels; ``diarization_speaker_count`` >= 1 and only with
    ``enable_speaker_diarization=True``; diarization only for English or Spanish;
    ``webhook_url`` is http(s); strings non-empty. Lists may be given as lists of
    objects or of plain dicts in the API's JSON form.
    """

    name: str | None = attrs.field(default=None, validator=_non_empty_str("name"))
    # Redacted in repr: a receiver's callback URL carries its secret path token.
    webhook_url: str | None = attrs.field(
        default=None, validator=_check_webhook, repr=lambda v: "None" if v is None else "'***'"
    )
    custom_vocabulary: tuple[str, ...] | None = attrs.field(
        default=None, converter=_to_vocabulary, validator=_check_vocabulary
    )
    confidence_threshold: float | None = attrs.field(default=None, validator=_check_threshold)
    detect_phrases: bool | None = attrs.field(
        default=None, validator=_optional_bool("detect_phrases")
    )
    entities: tuple[CustomEntity, ...] | None = attrs.field(default=None, converter=_to_entities)
    detect_entities: bool | None = attrs.field(
        default=None, validator=_optional_bool("detect_entities")
    )
    language_code: str | None = attrs.field(default=None, validator=_check_language)
    mode: Literal["phone", "default"] | None = attrs.field(default=None, validator=_check_mode)
    enable_separate_recognition_per_channel: bool | None = attrs.field(
        default=None, validator=_optional_bool("enable_separate_recognition_per_channel")
    )
    channel_metadata: tuple[ChannelMetadata, ...] | None = attrs.field(
        default=None, converter=_to_channels
    )
    trackers: tuple[Tracker, ...] | None = attrs.field(default=None, converter=_to_trackers)
    enable_all_trackers: bool | None = attrs.field(
        default=None, validator=_optional_bool("enable_all_trackers")
    )
    enable_summary: bool | None = attrs.field(
        default=None, validator=_optional_bool("enable_summary")
    )
    enable_speaker_diarization: bool | None = attrs.field(
        default=None, validator=_optional_bool("enable_speaker_diarization")
    )
    diarization_speaker_count: int | None = attrs.field(
        default=None, validator=_check_speaker_count
    )

    def __attrs_post_init__(self) -> None:
        if self.channel_metadata and not self.enable_separate_recognition_per_channel:
            raise ValidationError(
                "channel_metadata",
                "only allowed with enable_separate_recognition_per_channel=True",
            )
        if self.channel_metadata:
            channels = [c.channel for c in self.channel_metadata]
            if len(set(channels)) != len(channels):
                raise ValidationError("channel_metadata", "channels must be distinct")
        if self.diarization_speaker_count is not None and not self.enable_speaker_diarization:
            raise ValidationError(
                "diarization_speaker_count", "only allowed with enable_speaker_diarization=True"
            )
        if (
            self.enable_speaker_diarization
            and self.language_code is not None
            and self.language_code.split("-")[0].lower() not in _DIARIZATION_LANGUAGES
        ):
            raise ValidationError(
                "enable_speaker_diarization",
                f"is only available for English and Spanish, not {self.language_code!r}",
            )

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProcessingOptions:
        """Build options from the API's camelCase JSON form (a manifest row, say).

        Raises:
            ValidationError: for an unknown key or a value that breaks a rule.
        """
        by_key = {v: k for k, v in _KEYS.items()}
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            field = by_key.get(key, key if key in _KEYS else None)
            if field is None:
                raise ValidationError(
                    key, f"is not a known option (known: {', '.join(_KEYS.values())})"
                )
            kwargs[field] = value
        return cls(**kwargs)

    def to_json(self) -> dict[str, Any]:
        """The options as the camelCase JSON object of URL and text submits."""
        out: dict[str, Any] = {}
        for field, key in _KEYS.items():
            value = getattr(self, field)
            if value is None:
                continue
            if isinstance(value, tuple):
                value = [v.to_json() if hasattr(v, "to_json") else v for v in value]
            out[key] = value
        return out

    def to_query(self) -> dict[str, str]:
        """The options as query parameters of file uploads (lists and objects as JSON)."""
        out: dict[str, str] = {}
        for key, value in self.to_json().items():
            if isinstance(value, bool):
                out[key] = "true" if value else "false"
            elif isinstance(value, (list, dict)):
                out[key] = json.dumps(value, separators=(",", ":"))
            else:
                out[key] = str(value)
        return out

    def check_for_text(self) -> None:
        """Refuse options that only apply to speech, before a text submit.

        Raises:
            ValidationError: naming the first speech-only option that is set.
        """
        for field in _SPEECH_ONLY:
            if getattr(self, field) is not None:
                raise ValidationError(field, "applies to audio and video only, not to text submits")

    def replace(self, **changes: Any) -> ProcessingOptions:
        """A copy with some options changed (validated again)."""
        return attrs.evolve(self, **changes)
