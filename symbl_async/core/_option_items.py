"""The values inside processing options: speakers, channels, custom entities, trackers,
metadata; and the small attrs validators they share with :mod:`._options`.

Kept apart from ``_options`` so that each module reads in one sitting.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from symbl_async.errors import ValidationError

__all__ = [
    "ChannelMetadata",
    "CustomEntity",
    "Speaker",
    "Tracker",
    "check_metadata",
]


_Validator = Callable[[Any, Any, Any], None]


def check_metadata(value: object, field: str = "metadata") -> dict[str, Any]:
    """Check conversation metadata and return a detached copy.

    Metadata are the user's own labels of a conversation (``{"agentId": "johndoe"}``),
    set at submit or with ``PUT /v1/conversations/{id}`` (Symbl docs, "PUT Conversations").

    Args:
        value: a mapping of non-empty string keys to JSON values.
        field: the name to report in an error.

    Returns:
        A deep copy as plain JSON data, so later changes to ``value`` do not leak in.

    Raises:
        ValidationError: not a mapping, a key that is not a non-empty string, or a value
            that JSON cannot encode (including NaN and infinities).
    """
    if not isinstance(value, Mapping):
        raise ValidationError(field, "must be a mapping of string keys to JSON values")
    for key in value:
        if not isinstance(key, str) or not key.strip():
            raise ValidationError(field, f"keys must be non-empty strings, got {key!r}")
    try:
        copy: dict[str, Any] = json.loads(json.dumps(dict(value), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValidationError(field, f"values must be JSON data: {exc}") from None
    return copy


def _to_metadata(value: Any) -> dict[str, Any] | None:
    return None if value is None else check_metadata(value)


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
