"""Media for file uploads: a path, bytes, or an async iterator of bytes.

Files stream from disk in chunks, never read whole into memory. The content type
comes from the argument, else the file name's extension, else the header bytes.
Bytes whose header shows they are not media (a text file named ``.wav``) are refused
before anything is sent. Durations come from our own WAV and MP4 parsers, else from
``mutagen`` (``_durations``); they set the first poll. The API requires
``Content-Length`` on uploads (Symbl docs, "POST Audio API": mandatory), so an async iterator
of unknown length is first spooled to a temporary file on disk; that also makes
the body replayable when a connection fails before anything was sent.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterable, AsyncIterator, Callable
from pathlib import Path
from typing import Literal, Union

import attrs

from symbl_async.client._durations import read_duration
from symbl_async.core._media import (
    AUDIO_CONTENT_TYPES,
    VIDEO_CONTENT_TYPES,
    MediaProbe,
    content_type_from_extension,
    probe_file,
    sniff_content_type,
)
from symbl_async.core._media_checks import media_header_problem
from symbl_async.errors import ValidationError

__all__ = ["MediaInput", "PreparedUpload", "prepare_upload"]

MediaInput = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, AsyncIterable[bytes]]
MediaKind = Literal["audio", "video"]

CHUNK_SIZE = 256 * 1024
_HEAD_SIZE = 64 * 1024


@attrs.frozen(kw_only=True)
class PreparedUpload:
    """A checked upload: what to send and what we learned from its header.

    Attributes:
        content_type: the Content-Type to send, or ``None`` to let the service detect it.
        size: bytes to send (the ``Content-Length``).
        duration: media length in seconds when the header tells it.
        body: builds a fresh body each time it is called (the transport counts its
            bytes as it hands them to the connection: ``SubmitBody``).
        description: for messages (a file name, ``"bytes"``).
        cleanup: removes a spooled temporary file, if any.
    """

    content_type: str | None
    size: int
    duration: float | None
    body: Callable[[], AsyncIterator[bytes]]
    description: str
    cleanup: Callable[[], None] = lambda: None


async def _file_chunks(path: str) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    with open(path, "rb") as fh:  # noqa: ASYNC230 - reads run in the executor below
        while True:
            chunk = await loop.run_in_executor(None, fh.read, CHUNK_SIZE)
            if not chunk:
                return
            yield chunk


async def _bytes_chunks(data: bytes) -> AsyncIterator[bytes]:
    view = memoryview(data)
    for start in range(0, len(view), CHUNK_SIZE):
        yield bytes(view[start : start + CHUNK_SIZE])


def _choose_content_type(
    kind: MediaKind, given: str | None, by_extension: str | None, sniffed: str | None, what: str
) -> str | None:
    content_type: str | None
    if given is not None:
        content_type = given.split(";")[0].strip().lower()
        allowed = VIDEO_CONTENT_TYPES if kind == "video" else AUDIO_CONTENT_TYPES
        if content_type not in allowed:
            raise ValidationError(
                "content_type",
                f"{given!r} is not accepted for {kind} uploads (use one of "
                f"{', '.join(sorted(allowed))})",
            )
    else:
        content_type = by_extension or sniffed
    if kind == "video":
        if content_type not in VIDEO_CONTENT_TYPES or (
            sniffed is not None and sniffed not in VIDEO_CONTENT_TYPES
        ):
            found = sniffed or content_type or "an unknown type"
            raise ValidationError("file", f"{what} must be MP4 video (found {found})")
        return "video/mp4"
    if content_type is None:
        raise ValidationError(
            "content_type",
            f"cannot tell the media type of {what} from its name or header; pass content_type=",
        )
    if content_type.startswith("video/"):
        raise ValidationError("file", f"{what} is video ({content_type}): use a video submit")
    if not content_type.startswith("audio/"):
        raise ValidationError("content_type", f"{what} is not audio ({content_type})")
    # The API validates Content-Type on audio uploads only against four documented
    # types and auto-detects when it is absent: other audio formats go without one.
    return content_type if content_type in AUDIO_CONTENT_TYPES else None


def _check_header(
    head: bytes, given: str | None, by_extension: str | None, field: str, what: str
) -> None:
    """Refuse bytes whose header shows they are not the media claimed (a text ``.wav``)."""
    claimed = given.split(";")[0].strip().lower() if given else by_extension
    problem = media_header_problem(head, claimed, sniff_content_type(head))
    if problem is not None:
        raise ValidationError(field, f"{what} {problem}")


async def prepare_upload(
    media: MediaInput, *, kind: MediaKind, content_type: str | None = None
) -> PreparedUpload:
    """Check an upload and get ready to stream it; nothing is sent.

    Args:
        media: a file path, bytes, or an async iterator of bytes.
        kind: ``"audio"`` or ``"video"`` (video must be MP4).
        content_type: overrides detection from the name and header.

    Raises:
        ValidationError: missing or unreadable file, empty media, a non-MP4 video,
            an unknown or unsupported content type, or bytes whose header shows they
            are not media (text, or not WAV under a WAV name or type).
    """
    if isinstance(media, (bytes, bytearray, memoryview)):
        data = bytes(media)
        if not data:
            raise ValidationError("media", "is empty")
        probe = MediaProbe()
        probe.feed(data[: 4 * 1024 * 1024])
        _check_header(data[:_HEAD_SIZE], content_type, None, "media", "the media")
        chosen = _choose_content_type(kind, content_type, None, probe.content_type, "the bytes")
        duration = probe.duration
        if duration is None:
            duration = await asyncio.to_thread(read_duration, data)
        return PreparedUpload(
            content_type=chosen,
            size=len(data),
            duration=duration,
            body=lambda: _bytes_chunks(data),
            description="bytes",
        )
    if isinstance(media, (str, os.PathLike)):
        return await _prepare_path(Path(media), kind, content_type)
    if isinstance(media, AsyncIterable):
        return await _spool(media, kind, content_type)
    raise ValidationError(
        "media", f"must be a path, bytes or an async iterator of bytes, not {type(media).__name__}"
    )


def _inspect_file(path: Path) -> tuple[int, bytes, float | None]:
    """Size, header bytes and media length of a file (blocking: run in a thread)."""
    what = str(path)
    if not path.exists():
        raise ValidationError("file", f"{what} does not exist")
    if not path.is_file():
        raise ValidationError("file", f"{what} is not a regular file")
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(_HEAD_SIZE)
    except OSError as exc:
        raise ValidationError("file", f"{what} cannot be read: {exc.strerror or exc}") from exc
    if size == 0:
        raise ValidationError("file", f"{what} is empty")
    _, duration = probe_file(path)
    if duration is None:
        duration = read_duration(path)  # MP3, FLAC, Ogg, AIFF, WMA...: mutagen
    return size, head, duration


async def _prepare_path(path: Path, kind: MediaKind, content_type: str | None) -> PreparedUpload:
    size, head, duration = await asyncio.to_thread(_inspect_file, path)
    by_extension = content_type_from_extension(path.name)
    _check_header(head, content_type, by_extension, "file", str(path))
    chosen = _choose_content_type(
        kind,
        content_type,
        by_extension,
        sniff_content_type(head),
        str(path),
    )
    name = str(path)
    return PreparedUpload(
        content_type=chosen,
        size=size,
        duration=duration,
        body=lambda: _file_chunks(name),
        description=path.name,
    )


async def _spool(
    stream: AsyncIterable[bytes], kind: MediaKind, content_type: str | None
) -> PreparedUpload:
    fd, spooled = tempfile.mkstemp(prefix="symbl-upload-")
    loop = asyncio.get_running_loop()
    try:
        with os.fdopen(fd, "wb") as fh:
            async for chunk in stream:
                if not isinstance(chunk, (bytes, bytearray, memoryview)):
                    raise ValidationError("media", "async iterator must yield bytes")
                await loop.run_in_executor(None, fh.write, chunk)
        prepared = await _prepare_path(Path(spooled), kind, content_type)
    except BaseException:
        os.unlink(spooled)
        raise
    return attrs.evolve(
        prepared, description="stream", cleanup=lambda: Path(spooled).unlink(missing_ok=True)
    )
