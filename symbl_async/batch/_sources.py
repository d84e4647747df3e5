"""What a batch processes: sources, their stable keys, and lazy readers of inputs and manifests.

A source is one recording (a local file, a public URL) or one text conversation. Each has a
stable key (:func:`item_key`) under which the ledger records it, and a submit ``name``
(:func:`submit_name`) derived from the key, so that a submit lost in a crash can be looked up
by name instead of being paid twice (REFERENCE.md "Limits and errors").

Reading inputs (folders, manifests) lazily is :mod:`symbl_async.batch._manifests`'s job. A
bad input (missing path, malformed manifest row) becomes a :class:`SourceError` value, not an
exception: it is that item's failure and the batch goes on.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import json
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path, PurePath
from typing import Any, Literal, TypeAlias, cast
from urllib.parse import urlsplit

import attrs

from symbl_async.errors import ValidationError

__all__ = [
    "AUDIO_EXTENSIONS",
    "MEDIA_EXTENSIONS",
    "URL_RE",
    "VIDEO_EXTENSIONS",
    "FileSource",
    "MediaKind",
    "Source",
    "SourceError",
    "TextSource",
    "UrlSource",
    "canonical_options",
    "check_duration",
    "coerce_source",
    "describe_source",
    "item_key",
    "media_kind",
]

MediaKind: TypeAlias = Literal["audio", "video"]

# REFERENCE.md "Submitting work" and "Media limits"; .mov and .m4v are the MP4 family.
AUDIO_EXTENSIONS = frozenset(
    {".wav", ".wave", ".mp3", ".m4a", ".flac", ".ogg", ".oga", ".opus", ".aac", ".amr", ".aiff",
     ".aif", ".wma", ".ac3"}
)
VIDEO_EXTENSIONS = frozenset({".mp4", ".m4v", ".mov"})
MEDIA_EXTENSIONS = AUDIO_EXTENSIONS | VIDEO_EXTENSIONS

# Options that do not change what the service computes: changing the webhook receiver (its
# port, a tunnel URL) between two runs must not make every recording look new and be paid again.
_NON_IDENTITY_OPTIONS = frozenset({"name", "webhook_url"})
_KEY_VERSION = "v1"
_SAMPLE_BYTES = 1 << 20
URL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_CAMEL_RE = re.compile(r"(?<=[a-z0-9])([A-Z])")


def media_kind(name: str) -> MediaKind:
    """Return ``"video"`` for .mp4/.m4v/.mov names (case-insensitive), else ``"audio"``.

    Args:
        name: a file name, path or URL path.
    """
    return "video" if PurePath(name).suffix.lower() in VIDEO_EXTENSIONS else "audio"


def _check_key(_inst: object, _attr: object, value: str | None) -> None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ValidationError("key", "must be a non-empty string")


def check_duration(_inst: object, _attr: object, value: float | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
        0 <= value < math.inf
    ):
        raise ValidationError("duration", "must be a finite number of seconds >= 0")


def _check_media_kind(_inst: object, _attr: object, value: str) -> None:
    if value not in ("audio", "video"):
        raise ValidationError("kind", "must be 'audio' or 'video'")


def _check_url(_inst: object, _attr: object, value: str) -> None:
    if not isinstance(value, str) or urlsplit(value).scheme.lower() not in ("http", "https") or (
        not urlsplit(value).netloc
    ):
        raise ValidationError("url", f"must be a public http(s) URL, got {value!r}")


def _check_messages(_inst: object, _attr: object, value: Sequence[Mapping[str, Any]]) -> None:
    # REFERENCE.md "Submitting work": messages is required, payload.content is required.
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not value:
        raise ValidationError("messages", "must be a non-empty list of message objects")
    for i, message in enumerate(value):
        payload = message.get("payload") if isinstance(message, Mapping) else None
        if not isinstance(payload, Mapping) or not isinstance(payload.get("content"), str):
            raise ValidationError(f"messages[{i}]", "needs payload.content, a string")


@attrs.frozen
class FileSource:
    """A local audio or video file, uploaded as the request body.

    Attributes:
        path: the file.
        options: processing options (the lead's ``ProcessingOptions``, a mapping, or None).
        key: the caller's own stable key; it replaces the computed one.
        duration: media length in seconds, when known (orders the batch longest first).
        kind: ``"audio"`` or ``"video"``; by default from the extension (:func:`media_kind`).
    """

    path: Path = attrs.field(converter=Path)
    options: Any = None
    key: str | None = attrs.field(default=None, validator=_check_key)
    duration: float | None = attrs.field(default=None, validator=check_duration)
    kind: MediaKind = attrs.field(validator=_check_media_kind)

    @kind.default
    def _kind_from_extension(self) -> MediaKind:
        return media_kind(self.path.name)


@attrs.frozen
class UrlSource:
    """A public, direct http(s) link the service downloads itself.

    Attributes:
        url: the link (no redirects, shorteners, YouTube or Vimeo, per the docs).
        kind: ``"audio"`` or ``"video"``: which endpoint to submit to.
        options: processing options.
        key: the caller's own stable key. Give one for presigned URLs, whose tokens change
            between runs and would otherwise make the same recording look new.
        duration: media length in seconds, when known.
    """

    url: str = attrs.field(validator=_check_url)
    kind: MediaKind = attrs.field(validator=_check_media_kind)
    options: Any = None
    key: str | None = attrs.field(default=None, validator=_check_key)
    duration: float | None = attrs.field(default=None, validator=check_duration)


@attrs.frozen
class TextSource:
    """A conversation given as text messages (``POST /v1/process/text``).

    Attributes:
        messages: message objects, each with ``payload.content``.
        options: processing options.
        key: the caller's own stable key.
    """

    messages: Sequence[Mapping[str, Any]] = attrs.field(validator=_check_messages)
    options: Any = None
    key: str | None = attrs.field(default=None, validator=_check_key)


Source: TypeAlias = FileSource | UrlSource | TextSource


@attrs.frozen(kw_only=True)
class SourceError:
    """An input that could not become a source: that item's failure, not the batch's.

    Attributes:
        message: what is wrong, and the rule it broke.
        origin: the manifest or input path it came from.
        line: the manifest line number (1-based; the header is line 1 in CSV), if any.
        raw: the offending line as read (cut to 500 characters), if any.
    """

    message: str
    origin: str
    line: int | None = None
    raw: str | None = None

    @property
    def key(self) -> str:
        """A stable ledger key for this failure (origin, line and raw text)."""
        return _digest(["error", self.origin, self.line, self.raw if self.raw else self.message])

    def __str__(self) -> str:
        where = f"{self.origin} line {self.line}" if self.line is not None else self.origin
        return f"{where}: {self.message}"


def _identity_options(options: object) -> str:
    # A batch's items mostly share one frozen options object: its text is made once.
    if attrs.has(type(options)):
        try:
            return _cached_identity_options(options)
        except TypeError:  # an unhashable attrs instance
            pass
    return canonical_options(options, ignore=_NON_IDENTITY_OPTIONS)


@functools.lru_cache(maxsize=64)
def _cached_identity_options(options: object) -> str:
    return canonical_options(options, ignore=_NON_IDENTITY_OPTIONS)


def canonical_options(options: object, *, ignore: Iterable[str] = ()) -> str:
    """Return a canonical JSON text of processing options, equal for equal options.

    attrs instances are turned into mappings; mapping keys are put in snake_case (so
    ``languageCode`` and ``language_code`` agree) and sorted; entries whose value is None are
    dropped (None means "not sent", so ``None``, ``{}`` and all-default options agree); enums
    become their values, tuples and lists become lists, integral floats become integers.

    Args:
        options: None, a mapping, or an attrs instance (nested ones allowed).
        ignore: top-level option names (snake_case) to leave out.

    Returns:
        Compact JSON with sorted keys, e.g. ``{"language_code":"en-US"}``.

    Raises:
        ValidationError: (field ``options``) for a value with no stable JSON form.
    """
    plain = _plain(options, "options")
    if plain is None:
        plain = {}
    if not isinstance(plain, dict):
        raise ValidationError("options", "must be a mapping or an attrs instance")
    skipped = set(ignore)
    plain = {k: v for k, v in plain.items() if k not in skipped}
    return json.dumps(plain, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _plain(value: object, where: str) -> Any:
    if isinstance(value, enum.Enum):
        return _plain(value.value, where)
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValidationError(where, "must not be NaN or infinite")
        return int(value) if value.is_integer() else value
    if isinstance(value, PurePath):
        return str(value)
    if attrs.has(type(value)):
        value = attrs.asdict(cast(Any, value), recurse=False)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ValidationError(where, f"has a non-string key {k!r}")
            plain = _plain(v, f"{where}.{k}")
            if plain is not None:
                out[_CAMEL_RE.sub(r"_\1", k).lower()] = plain
        return out
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise ValidationError(where, f"has no stable key form for type {type(value).__name__}")


def _digest(parts: object) -> str:
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _file_fingerprint(path: Path) -> list[object]:
    # Identity of a file is its content, not where it lives or when it was touched: a moved
    # or touched file must not be paid twice, and path+mtime would do exactly that. Hashing
    # the whole file would read hundreds of GB again on every resume of a big batch, so we
    # hash the size plus the first and last MiB: any re-encode, trim or append changes the
    # size or the headers (WAV/MP4 headers sit at the ends). The blind spot is an in-place
    # edit of the middle that keeps the size; give such files a `key` of your own.
    try:
        with path.open("rb") as f:
            size = os.fstat(f.fileno()).st_size
            h = hashlib.sha256(f.read(_SAMPLE_BYTES))
            if size > _SAMPLE_BYTES:
                f.seek(max(size - _SAMPLE_BYTES, _SAMPLE_BYTES))
                h.update(f.read(_SAMPLE_BYTES))
    except OSError as exc:
        raise ValidationError("path", f"cannot read {str(path)!r}: {exc.strerror or exc}") from exc
    return [size, h.hexdigest()]


def item_key(source: Source, options: object = None) -> str:
    """Return the stable key under which the ledger records a source.

    The caller's ``key`` wins when given. Otherwise a sha256 hex of the source kind, its
    identity (file: size and a hash of its first and last MiB, so moving or touching it
    keeps the key; URL: the string as given; text: the messages) and its canonical options
    (without ``name`` and ``webhook_url``, which do not change the result). ``duration``
    is a hint and not part of the key. Identical files therefore share one key: the runner
    must process a key once and may map all its paths to that one result.

    Args:
        source: a file, URL or text source.
        options: the effective options, when they are not ``source.options`` (the
            batch's merged with the source's own).

    Returns:
        The caller's key, or 64 lowercase hex digits.

    Raises:
        ValidationError: when a file cannot be read, or options have no stable form.
    """
    if source.key is not None:
        return source.key
    text = _identity_options(source.options if options is None else options)
    if isinstance(source, FileSource):
        identity: list[object] = ["file", source.kind, *_file_fingerprint(source.path)]
    elif isinstance(source, UrlSource):
        identity = ["url", source.kind, source.url]
    else:
        identity = ["text", _plain(list(source.messages), "messages")]
    return _digest([_KEY_VERSION, identity, text])


def describe_source(source: Source) -> str:
    """Return a short human label of a source (path, URL, or message count) for the ledger."""
    if isinstance(source, FileSource):
        return str(source.path)
    if isinstance(source, UrlSource):
        return source.url
    return f"text: {len(source.messages)} message(s)"


def coerce_source(item: object) -> Source:
    """Turn a user's input into a source.

    Args:
        item: a source (returned as is); an http(s) URL string (a :class:`UrlSource`, video
            for .mp4/.m4v/.mov, else audio); another string or a path (a
            :class:`FileSource`); a mapping with ``messages`` (and optional ``options``,
            ``key``: a :class:`TextSource`).

    Returns:
        The source. No file is touched.

    Raises:
        ValidationError: for a URL with another scheme, or an item of another type.
    """
    if isinstance(item, (FileSource, UrlSource, TextSource)):
        return item
    if isinstance(item, str):
        if URL_RE.match(item):
            return UrlSource(item, media_kind(urlsplit(item).path))
        return FileSource(Path(item))
    if isinstance(item, os.PathLike):
        return FileSource(Path(item))
    if isinstance(item, Mapping) and "messages" in item:
        return TextSource(item["messages"], options=item.get("options"), key=item.get("key"))
    raise ValidationError(
        "source", f"must be a path, an http(s) URL or a mapping with messages, got {item!r}"
    )
