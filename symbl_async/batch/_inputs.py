"""What a batch processes: its inputs, read lazily, and the sources they name.

A source is one recording (a local file, a public URL) or one text conversation (messages,
or a ``.txt``/``.json`` file holding them). Each has a stable key (:func:`item_key`) under
which the ledger records it. :func:`expand_inputs` walks folders one directory at a time
and :func:`read_manifest` streams a CSV or JSONL manifest line by line, so memory stays
bounded whatever the backlog's length. A bad input (a missing path, a malformed manifest
row) becomes a :class:`SourceError` value naming the line and the rule it broke, not an
exception: it is that item's failure, and the batch goes on.

A file found in a folder keeps its path relative to that folder (``relative``), so that
its insights land in the same subfolder of the output folder.
"""

from __future__ import annotations

import csv
import enum
import functools
import hashlib
import json
import math
import os
import re
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from pathlib import Path, PurePath
from typing import Any, BinaryIO, Literal, TypeAlias, cast
from urllib.parse import urlsplit

import attrs

from symbl_async.batch._results import LEDGER_FILE, RESULTS_FILE
from symbl_async.core._text import api_messages, transcript_messages
from symbl_async.errors import ValidationError

__all__ = [
    "AUDIO_EXTENSIONS",
    "MANIFEST_FIELDS",
    "MEDIA_EXTENSIONS",
    "SAMPLE_BYTES",
    "SKIP_NO_MESSAGES",
    "SKIP_OUTPUT_FOLDER",
    "TEXT_EXTENSIONS",
    "URL_RE",
    "VIDEO_EXTENSIONS",
    "FileKind",
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
    "expand_inputs",
    "file_fingerprint",
    "file_kind",
    "item_key",
    "media_kind",
    "name_parts",
    "printable",
    "read_conversation",
    "read_manifest",
    "read_text_source",
    "read_up_to",
]

MediaKind: TypeAlias = Literal["audio", "video"]
FileKind: TypeAlias = Literal["audio", "video", "text"]

# Symbl docs, "Frequently Asked Questions" (the audio formats) and "POST Video API" (MP4);
# .mov and .m4v are the MP4 family.
AUDIO_EXTENSIONS = frozenset(
    {".wav", ".wave", ".mp3", ".m4a", ".flac", ".ogg", ".oga", ".opus", ".aac", ".amr", ".aiff",
     ".aif", ".wma", ".ac3"}
)
VIDEO_EXTENSIONS = frozenset({".mp4", ".m4v", ".mov"})
MEDIA_EXTENSIONS = AUDIO_EXTENSIONS | VIDEO_EXTENSIONS
TEXT_EXTENSIONS = frozenset({".txt", ".json"})
"""Files read as text conversations: a plain-text transcript (``.txt``) or messages in JSON."""

SKIP_OUTPUT_FOLDER = "a batch's output folder (not read)"
SKIP_NO_MESSAGES = "JSON without messages (not a text conversation)"
# What marks a folder as a batch's output: its ledger or its results, finished or partial.
# Its insights (.json) and transcripts (.txt) must never be read back as conversations.
_OUTPUT_MARKS = (LEDGER_FILE, RESULTS_FILE)

# Options that do not change what the service computes: changing the webhook receiver (its
# port, a tunnel URL) between two runs must not make every recording look new and be paid again.
_NON_IDENTITY_OPTIONS = frozenset({"name", "webhook_url"})
_KEY_VERSION = "v1"
SAMPLE_BYTES = 1 << 20  # read of each end of a file for its key
URL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_CAMEL_RE = re.compile(r"(?<=[a-z0-9])([A-Z])")


def name_parts(path: str) -> tuple[str, str]:
    """``(stem, suffix)`` of a path's last part, by Python 3.11's pathlib rules
    (``PurePath(path).stem`` and ``.suffix``: ``"a.tar.gz"`` is ``("a.tar", ".gz")``, a
    leading or trailing dot is no suffix), from the string: a rerun reads the names of
    every input, and a PurePath a name was a large part of its time. The same on every
    Python (3.14's pathlib takes a trailing dot for a suffix)."""
    name = os.path.basename(path)
    if name in ("", ".", ".."):  # not as pathlib spells a path: as pathlib reads it
        name = PurePath(path).name
    dot = name.rfind(".")
    if 0 < dot < len(name) - 1:
        return name[:dot], name[dot:]
    return name, ""


def media_kind(name: str) -> MediaKind:
    """Return ``"video"`` for .mp4/.m4v/.mov names (case-insensitive), else ``"audio"``.

    Args:
        name: a file name, path or URL path.
    """
    return "video" if name_parts(name)[1].lower() in VIDEO_EXTENSIONS else "audio"


def _kind_of_suffix(suffix: str) -> FileKind:
    """:func:`file_kind` of a name whose lower-cased suffix is ``suffix``."""
    if suffix in TEXT_EXTENSIONS:
        return "text"
    return "video" if suffix in VIDEO_EXTENSIONS else "audio"


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


def _check_file_kind(_inst: object, _attr: object, value: str) -> None:
    if value not in ("audio", "video", "text"):
        raise ValidationError("kind", "must be 'audio', 'video' or 'text'")


def file_kind(name: str) -> FileKind:
    """``"text"`` for .txt/.json names (case-insensitive), else :func:`media_kind`."""
    return _kind_of_suffix(name_parts(name)[1].lower())


def _check_relative(_inst: object, _attr: object, value: str | None) -> None:
    if value is not None and (not isinstance(value, str) or not value):
        raise ValidationError("relative", "must be a non-empty path, or None")


def _check_url(_inst: object, _attr: object, value: str) -> None:
    if not isinstance(value, str) or urlsplit(value).scheme.lower() not in ("http", "https") or (
        not urlsplit(value).netloc
    ):
        raise ValidationError("url", f"must be a public http(s) URL, got {value!r}")


def _as_path(value: str | os.PathLike[str]) -> Path:
    # A Path is kept (a folder walk makes one per file): Path(Path) parses it again.
    return value if isinstance(value, Path) else Path(value)


@attrs.frozen
class FileSource:
    """A local file: audio or video, uploaded as the request body; or a text conversation
    (``kind="text"``: a plain-text transcript, or messages in JSON; see
    :func:`read_conversation`), read when the batch takes it.

    Attributes:
        path: the file.
        options: processing options (the lead's ``ProcessingOptions``, a mapping, or None).
        key: the caller's own stable key; it replaces the computed one.
        duration: media length in seconds, when known (orders the batch longest first).
        kind: ``"audio"``, ``"video"`` or ``"text"``; by default from the extension
            (:func:`file_kind`: .txt and .json are text).
        relative: its path relative to the folder it was found in (a folder walk, a
            manifest's relative path), ``/``-separated: its insights go in the same
            subfolder of the output folder. None: at the output folder's top. Not part of
            the source's identity (a moved file is the same recording).
    """

    path: Path = attrs.field(converter=_as_path)
    options: Any = None
    key: str | None = attrs.field(default=None, validator=_check_key)
    duration: float | None = attrs.field(default=None, validator=check_duration)
    kind: FileKind = attrs.field(validator=_check_file_kind)
    relative: str | None = attrs.field(default=None, eq=False, validator=_check_relative)

    @kind.default
    def _kind_from_extension(self) -> FileKind:
        return file_kind(self.path.name)


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
        messages: message objects: the API's (``{"payload": {"content": ...}, "from":
            {"name": ...}}``, Symbl docs, "POST Text API") or the simple ``{"speaker":
            ..., "text": ...}``, which is turned into the API's
            (:func:`~symbl_async.core._text.api_messages`).
        options: processing options.
        key: the caller's own stable key.
        path: the file it was read from, if any: it labels the item (not part of its
            identity: the same transcript twice is one item).
        relative: as :attr:`FileSource.relative`.
    """

    messages: Sequence[Mapping[str, Any]] = attrs.field(converter=api_messages)
    options: Any = None
    key: str | None = attrs.field(default=None, validator=_check_key)
    path: Path | None = attrs.field(default=None, eq=False)
    relative: str | None = attrs.field(default=None, eq=False, validator=_check_relative)


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


# One encoder, not one per call (json.dumps with options builds one): a rerun keys every input.
_KEY_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _digest(parts: object) -> str:
    text = _KEY_JSON.encode(parts)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _file_fingerprint(path: Path) -> list[object]:
    try:
        with open(path, "rb", buffering=0) as f:
            size = os.fstat(f.fileno()).st_size
            return file_fingerprint(f, size, read_up_to(f, min(size, SAMPLE_BYTES)))
    except OSError as exc:
        raise ValidationError("path", f"cannot read {str(path)!r}: {exc.strerror or exc}") from exc


def file_fingerprint(f: BinaryIO, size: int, first: bytes) -> list[object]:
    """A file's identity in its key: its size and a hash of its first and last MiB.

    Args:
        f: the file, open and seekable.
        size: its size (``fstat``).
        first: its first ``min(size, 1 MiB)`` bytes, already read.

    Raises:
        OSError: when the file cannot be read.
    """
    # Identity of a file is its content, not where it lives or when it was touched: a moved
    # or touched file must not be paid twice, and path+mtime would do exactly that. Hashing
    # the whole file would read hundreds of GB again on every resume of a big batch, so we
    # hash the size plus the first and last MiB: any re-encode, trim or append changes the
    # size or the headers (WAV/MP4 headers sit at the ends). The blind spot is an in-place
    # edit of the middle that keeps the size; give such files a `key` of your own.
    h = hashlib.sha256(first)
    if size > SAMPLE_BYTES:
        f.seek(max(size - SAMPLE_BYTES, SAMPLE_BYTES))
        h.update(read_up_to(f, SAMPLE_BYTES))
    return [size, h.hexdigest()]


def read_up_to(f: BinaryIO, most: int) -> bytes:
    """Up to ``most`` bytes from ``f``, fewer only at its end (an unbuffered file's read
    may return fewer)."""
    parts = []
    while most > 0:
        part = f.read(most)
        if not part:
            break
        parts.append(part)
        most -= len(part)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def item_key(
    source: Source, options: object = None, *, fingerprint: Sequence[object] | None = None
) -> str:
    """Return the stable key under which the ledger records a source.

    The caller's ``key`` wins when given. Otherwise a sha256 hex of the source kind, its
    identity (file: size and a hash of its first and last MiB, so moving or touching it
    keeps the key; URL: the string as given; text: the messages in the API's form, so the
    same conversation as a ``.txt`` file or as JSON is one item) and its canonical options
    (without ``name`` and ``webhook_url``, which do not change the result). ``duration``
    is a hint and not part of the key. Identical files therefore share one key: the runner
    must process a key once and may map all its paths to that one result.

    Args:
        source: a file, URL or text source.
        options: the effective options, when they are not ``source.options`` (the
            batch's merged with the source's own).
        fingerprint: a media file's identity, when the caller read it already
            (:func:`file_fingerprint`); else the file is read.

    Returns:
        The caller's key, or 64 lowercase hex digits.

    Raises:
        ValidationError: when a file cannot be read (or a text file holds no
            conversation), or options have no stable form.
    """
    if source.key is not None:
        return source.key
    if isinstance(source, FileSource) and source.kind == "text":
        text_source = read_text_source(source)
        return item_key(text_source, text_source.options if options is None else options)
    text = _identity_options(source.options if options is None else options)
    if isinstance(source, FileSource):
        identity: list[object] = ["file", source.kind, *(
            _file_fingerprint(source.path) if fingerprint is None else fingerprint)]
    elif isinstance(source, UrlSource):
        identity = ["url", source.kind, source.url]
    else:
        identity = ["text", _plain(list(source.messages), "messages")]
    return _digest([_KEY_VERSION, identity, text])


def printable(path: str) -> str:
    """A path as text any file or database takes: a name that is not valid UTF-8 (Python
    keeps its bytes as surrogates) has those bytes written as ``\\xff`` escapes."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def describe_source(source: Source) -> str:
    """Return a short human label of a source (path, URL, or message count) for the ledger."""
    if isinstance(source, FileSource):
        return printable(str(source.path))
    if isinstance(source, UrlSource):
        return source.url
    if source.path is not None:
        return printable(str(source.path))
    return f"text: {len(source.messages)} message(s)"


def read_conversation(path: Path) -> tuple[Sequence[Mapping[str, Any]], dict[str, Any] | None]:
    """Read a text conversation from a file; blocking.

    A ``.json`` file holds a list of messages, or the Text API's body (an object with
    ``messages``; its other members are processing options in the API's JSON form). Any
    other file is a plain-text transcript, one message per line, ``Name: text``
    (:func:`~symbl_async.core._text.transcript_messages`). Messages may be the API's or
    ``{"speaker", "text"}`` (:func:`~symbl_async.core._text.api_messages`). UTF-8 (a BOM
    is allowed).

    Returns:
        The messages in the API's form, and the file's options (None: none).

    Raises:
        ValidationError: when the file cannot be read or holds no conversation.
    """
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise ValidationError("file", f"cannot read {str(path)!r}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ValidationError("file", f"{str(path)!r} is not UTF-8 text: {exc}") from None
    if path.suffix.lower() != ".json":
        return transcript_messages(text), None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValidationError("file", f"{str(path)!r} is not valid JSON: {exc}") from None
    if isinstance(data, Mapping) and "messages" in data:
        options = {k: v for k, v in data.items() if k != "messages"}
        return api_messages(data["messages"]), options or None
    if isinstance(data, list):
        return api_messages(data), None
    raise ValidationError(
        "file", f"{str(path)!r}: a JSON conversation is a list of messages or an object "
        "with messages"
    )


def read_text_source(source: FileSource) -> TextSource:
    """The text conversation a ``kind="text"`` file holds (read now; blocking).

    The source's own options (a manifest row's) replace those of the file.

    Raises:
        ValidationError: when the file cannot be read or holds no conversation.
    """
    messages, options = read_conversation(source.path)
    return TextSource(messages, options=source.options if source.options is not None
                      else options, key=source.key, path=source.path,
                      relative=source.relative)


def coerce_source(item: object) -> Source:
    """Turn a user's input into a source.

    Args:
        item: a source (returned as is); an http(s) URL string (a :class:`UrlSource`, video
            for .mp4/.m4v/.mov, else audio); another string or a path (a
            :class:`FileSource`; of kind text for .txt and .json); a mapping with
            ``messages`` (and optional ``options``, ``key``: a :class:`TextSource`).

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


MANIFEST_FIELDS = ("source", "duration", "key", "kind", "options")
_RAW_LIMIT = 500


def expand_inputs(
    inputs: Iterable[str | os.PathLike[str] | Source],
    on_skip: Callable[[str, str], None] = lambda path, reason: None,
) -> Iterator[Source | SourceError]:
    """Yield the sources named by command-line style inputs, lazily and in a stable order.

    URLs and sources pass through; a file is yielded whatever its extension (it was named on
    purpose; .txt and .json are text conversations); a folder is walked recursively,
    entries sorted by name, yielding media files (:data:`MEDIA_EXTENSIONS`,
    case-insensitive), plain-text transcripts (``.txt``) and JSON files holding messages
    (a ``.json`` is read to tell). Each file found in a folder has its path relative to
    that folder as ``relative``. Hidden entries (``.name``, e.g. macOS ``._x.wav``
    resource forks), other files, JSON without messages, a batch's output folder (one
    holding a ledger or results: its insights and transcripts are not conversations to
    process), broken links and symlinked folders (no loops) are left out, each reported
    to ``on_skip``; symlinked files are followed.

    Args:
        inputs: paths, URLs or sources.
        on_skip: called with ``(path, reason)`` for each entry a folder walk leaves out.

    Yields:
        A source per recording, or a :class:`SourceError` for a missing or unreadable path
        or an unsupported URL (the batch goes on).
    """
    for item in inputs:
        if isinstance(item, str) and URL_RE.match(item):
            try:
                yield coerce_source(item)
            except ValidationError as exc:
                yield SourceError(message=str(exc), origin=item)
            continue
        if isinstance(item, (FileSource, UrlSource, TextSource)):
            yield item
            continue
        path = Path(item)
        if path.is_dir():
            yield from _walk(path, "", on_skip)
        elif path.is_file():
            yield FileSource(path)
        elif path.exists():
            yield SourceError(message="not a regular file or folder", origin=str(path))
        else:
            yield SourceError(message="no such file or folder", origin=str(path))


def _walk(
    folder: Path, prefix: str, on_skip: Callable[[str, str], None]
) -> Iterator[Source | SourceError]:
    """The sources in ``folder``, whose path relative to the walk's root is ``prefix``
    (``""`` or ``"a/b/"``). Each file's path, kind and relative path are made once, from
    strings: on a rerun over 100,000 finished files the walk was a tenth of the time."""
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        yield SourceError(message=f"cannot list folder: {exc.strerror or exc}", origin=str(folder))
        return
    if any(e.name.startswith(_OUTPUT_MARKS) for e in entries):
        on_skip(str(folder), SKIP_OUTPUT_FOLDER)
        return
    for entry in entries:
        name = entry.name
        try:
            suffix = name_parts(name)[1].lower()
            if name.startswith("."):
                on_skip(entry.path, "hidden")
            elif entry.is_dir(follow_symlinks=False):
                yield from _walk(Path(entry.path), f"{prefix}{name}/", on_skip)
            elif not entry.is_file():
                on_skip(entry.path, _skip_reason(entry))
            elif suffix in MEDIA_EXTENSIONS or suffix == ".txt" or (
                suffix == ".json" and _holds_messages(Path(entry.path))
            ):
                yield FileSource(Path(entry.path), kind=_kind_of_suffix(suffix),
                                 relative=prefix + name)
            elif suffix == ".json":
                on_skip(entry.path, SKIP_NO_MESSAGES)
            else:
                on_skip(entry.path, _skip_reason(entry))
        except OSError as exc:
            yield SourceError(message=f"cannot read: {exc.strerror or exc}", origin=entry.path)


def _holds_messages(path: Path) -> bool:
    """Whether a JSON file found in a folder is meant as a conversation: a list of objects,
    or an object with ``messages`` that is not a conversation's insights (those name their
    ``conversationId``). One that is not valid JSON is taken (and fails, saying why)."""
    try:
        data = json.loads(path.read_bytes())
    except ValueError:
        return True
    if isinstance(data, list):
        return bool(data) and all(isinstance(m, dict) for m in data)
    return isinstance(data, dict) and "messages" in data and "conversationId" not in data


def _skip_reason(entry: os.DirEntry[str]) -> str:
    if entry.is_file():
        return f"not a supported media file ({PurePath(entry.name).suffix or 'no extension'})"
    if entry.is_dir():
        return "symlinked folder (not followed)"
    return "broken link" if entry.is_symlink() else "not a regular file"


def read_manifest(path: str | os.PathLike[str]) -> Generator[Source | SourceError, None, None]:
    """Stream the sources listed in a CSV or JSONL manifest, one line at a time.

    Columns (CSV header) or keys (JSONL objects): ``source`` (required: a path, an http(s)
    URL, or for ``kind`` text a JSON array of messages or the path of a text conversation
    file), ``duration`` (seconds), ``key``, ``kind`` (audio, video or text; by default
    from the URL or file extension: .txt and .json files are text), ``options`` (a JSON
    object). Relative paths are relative to the manifest's folder, and mirrored under the
    output folder (``relative``) unless they climb out of it (``..``). Blank lines are
    skipped. The format and header are checked now; rows are read as they are consumed.

    Args:
        path: a ``.csv``, ``.jsonl`` or ``.ndjson`` file (UTF-8, a BOM is allowed).

    Returns:
        A generator of sources, with a :class:`SourceError` (naming the line and the rule)
        for each malformed row or missing file; the rows after it are still read. It holds
        the file open until exhausted: ``close()`` it to stop early.

    Raises:
        ValidationError: (field ``manifest``) for another extension, an unreadable file, or
            a CSV header without ``source`` or with unknown columns.
    """
    manifest = Path(path)
    suffix = manifest.suffix.lower()
    if suffix not in (".csv", ".jsonl", ".ndjson"):
        raise ValidationError(
            "manifest", f"{str(manifest)!r}: must end in .csv, .jsonl or .ndjson"
        )
    try:
        with _open_text(manifest) as f:
            header = next(csv.reader(f), None) if suffix == ".csv" else None
    except OSError as exc:
        raise ValidationError(
            "manifest", f"cannot read {str(manifest)!r}: {exc.strerror or exc}"
        ) from exc
    if suffix == ".csv":
        _check_header(manifest, header)
        return _read_csv(manifest)
    return _read_jsonl(manifest)


def _open_text(path: Path) -> Any:
    # surrogateescape: a bad byte fails its own row (see _row_source), not the whole file.
    return path.open(encoding="utf-8-sig", errors="surrogateescape", newline="")


def _check_header(manifest: Path, header: list[str] | None) -> None:
    if header is None:
        raise ValidationError("manifest", f"{str(manifest)!r}: empty, needs a header line")
    names = [h.strip() for h in header]
    unknown = [n for n in names if n not in MANIFEST_FIELDS]
    if "source" not in names or unknown or len(set(names)) != len(names):
        raise ValidationError(
            "manifest",
            f"{str(manifest)!r} line 1: header must name 'source' and only columns from "
            f"{', '.join(MANIFEST_FIELDS)}, each once; got {', '.join(names)}",
        )


def _read_csv(manifest: Path) -> Generator[Source | SourceError, None, None]:
    consumed: list[str] = []

    def lines(f: Iterable[str]) -> Iterator[str]:
        for text in f:
            consumed.append(text)
            yield text

    with _open_text(manifest) as f:
        reader = csv.reader(lines(f))
        header = [h.strip() for h in next(reader)]
        consumed.clear()
        start = reader.line_num + 1
        while True:
            problem = None
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:  # e.g. a field over csv.field_size_limit()
                row, problem = [], f"bad CSV: {exc}"
            raw = "".join(consumed).rstrip("\r\n")
            consumed.clear()
            line, start = start, reader.line_num + 1
            if problem is not None:
                yield _row_error(manifest, line, problem, raw)
            elif not any(cell.strip() for cell in row):
                continue  # a blank line
            elif len(row) != len(header):
                yield _row_error(
                    manifest, line, f"expected {len(header)} fields, got {len(row)}", raw
                )
            else:
                yield _row_source(manifest, line, raw, dict(zip(header, row, strict=True)), True)


def _read_jsonl(manifest: Path) -> Generator[Source | SourceError, None, None]:
    with _open_text(manifest) as f:
        for line, text in enumerate(f, start=1):
            raw = text.rstrip("\r\n")
            if not raw.strip():
                continue
            try:
                _check_utf8(raw)
                row = json.loads(raw)
            except ValueError as exc:
                yield _row_error(manifest, line, f"not a JSON object: {exc}", raw)
                continue
            if not isinstance(row, dict):
                yield _row_error(manifest, line, "not a JSON object", raw)
                continue
            yield _row_source(manifest, line, raw, row, False)


def _row_error(manifest: Path, line: int, message: str, raw: str) -> SourceError:
    return SourceError(message=message, origin=str(manifest), line=line, raw=raw[:_RAW_LIMIT])


def _check_utf8(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("not valid UTF-8") from exc


def _row_source(
    manifest: Path, line: int, raw: str, row: Mapping[str, Any], from_csv: bool
) -> Source | SourceError:
    try:
        if from_csv:
            _check_utf8(raw)
        return _parse_row(manifest, row, from_csv)
    except ValueError as exc:  # ValidationError included: "field: rule"
        return _row_error(manifest, line, str(exc), raw)


def _parse_row(manifest: Path, row: Mapping[str, Any], from_csv: bool) -> Source:
    # One check per manifest column, in column order; kept whole so the row's rules
    # read as a list.
    unknown = sorted(set(row) - set(MANIFEST_FIELDS))
    if unknown:
        raise ValidationError(unknown[0], f"unknown key; allowed: {', '.join(MANIFEST_FIELDS)}")

    def cell(name: str) -> Any:
        value = row.get(name)
        if from_csv and isinstance(value, str):
            value = value.strip() or None
        return value

    source, kind, key = cell("source"), cell("kind"), cell("key")
    if key is not None and not isinstance(key, str):
        raise ValidationError("key", "must be a string")
    duration = cell("duration")
    if isinstance(duration, str):
        try:
            duration = float(duration)
        except ValueError:
            raise ValidationError(
                "duration", f"must be a number of seconds, got {duration!r}"
            ) from None
    check_duration(None, None, duration)
    duration = None if duration is None else float(duration)
    options = cell("options")
    if isinstance(options, str) and from_csv:
        try:
            options = json.loads(options)
        except ValueError:
            raise ValidationError("options", "must be a JSON object") from None
    if options is not None and not isinstance(options, dict):
        raise ValidationError("options", "must be a JSON object")
    if kind not in (None, "audio", "video", "text"):
        raise ValidationError("kind", f"must be audio, video or text, got {kind!r}")
    if source is None or source == "":
        raise ValidationError("source", "is required")

    if isinstance(source, str) and kind == "text" and source.lstrip().startswith("["):
        try:
            source = json.loads(source)
        except ValueError as exc:
            raise ValidationError("source", f"not a JSON array of messages: {exc}") from None
    if isinstance(source, list):
        if kind not in (None, "text"):
            raise ValidationError("kind", "a list of messages needs kind text")
        if duration is not None:
            raise ValidationError("duration", "does not apply to kind text")
        return TextSource(source, options=options, key=key)
    if not isinstance(source, str):
        raise ValidationError("source", "must be a path, an http(s) URL or a list of messages")
    if URL_RE.match(source):
        if kind == "text":
            raise ValidationError("kind", "text is read from a file or given as messages, "
                                  "not from a URL")
        url_kind = kind or media_kind(urlsplit(source).path)
        return UrlSource(source, url_kind, options=options, key=key, duration=duration)
    written = PurePath(source)
    file = Path(source)
    if not file.is_absolute():
        file = manifest.parent / file
    if not file.is_file():
        raise ValidationError("source", f"no such file {str(file)!r}")
    kind_of_file = kind or file_kind(file.name)
    if kind_of_file == "text" and duration is not None:
        raise ValidationError("duration", "does not apply to kind text")
    relative = None
    if not written.is_absolute() and ".." not in written.parts:
        relative = written.as_posix()
    return FileSource(file, options=options, key=key, duration=duration, kind=kind_of_file,
                      relative=relative)
