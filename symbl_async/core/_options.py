"""Processing options of the Async API submits, checked before anything is sent.

Every option and rule follows Symbl's submit pages: the query parameters of file uploads
as in "PUT Video API" (and "POST Audio API"), the JSON body of URL submits as in "POST
Audio URL API". Options travel in the JSON body for URL and text submits and in the
query string for file uploads, where lists and objects are JSON-encoded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

import attrs

from symbl_async.core._option_items import (
    ChannelMetadata,
    CustomEntity,
    Speaker,
    Tracker,
    _non_empty_str,
    _optional_bool,
    _to_channels,
    _to_entities,
    _to_metadata,
    _to_trackers,
    _to_vocabulary,
    check_metadata,
)
from symbl_async.errors import ValidationError

__all__ = [
    "ChannelMetadata",
    "CustomEntity",
    "ProcessingOptions",
    "Speaker",
    "Tracker",
    "check_http_url",
    "check_metadata",
]

# Diarization is documented for English and Spanish only (Symbl docs, "Speaker Separation").
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
    "metadata": "metadata",
}


@attrs.frozen(kw_only=True)
class ProcessingOptions:
    """Every documented option of the Async API submits; ``None`` means "not sent".

    Rules (checked on construction, so a bad value never reaches the network):
    ``confidence_threshold`` in [0.5, 1.0]; ``mode`` is ``phone`` or ``default``;
    ``channel_metadata`` needs ``enable_separate_recognition_per_channel=True``
    and distinct channels; ``diarization_speaker_count`` >= 1 and only with
    ``enable_speaker_diarization=True``; diarization only for English or Spanish;
    ``webhook_url`` is http(s); strings non-empty; ``metadata`` string keys and JSON
    values. Lists may be given as lists of
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
    # Labels stored on the conversation (GET/PUT /v1/conversations/{id} show them); sent
    # in the body, or JSON-encoded in the query string of uploads like the other objects.
    # A dict is not hashable: left out of the hash, still compared.
    metadata: dict[str, Any] | None = attrs.field(
        default=None, converter=_to_metadata, hash=False
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
