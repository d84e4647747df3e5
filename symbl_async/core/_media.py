"""Media helpers shared by the client and the emulator: content types and durations.

Everything here is pure (bytes in, answers out) except :func:`probe_file`, which
reads a file's headers. Nothing ever holds a whole media file: WAV durations come
from the RIFF header, MP4 durations from the ``moov/mvhd`` box found by an
incremental box walker that counts its way over ``mdat`` instead of buffering it.
"""

from __future__ import annotations

import os
import struct
from typing import BinaryIO, Final

__all__ = [
    "AUDIO_CONTENT_TYPES",
    "VIDEO_CONTENT_TYPES",
    "MediaProbe",
    "Mp4DurationParser",
    "content_type_from_extension",
    "probe_file",
    "probe_opened",
    "sniff_content_type",
    "wav_duration",
]

#: The content types the Async Audio API documents for file uploads.
AUDIO_CONTENT_TYPES: Final = frozenset({"audio/wav", "audio/wave", "audio/mpeg", "audio/mp3"})
#: The only content type the Async Video API accepts.
VIDEO_CONTENT_TYPES: Final = frozenset({"video/mp4"})

# How many leading bytes are enough to sniff a type and read a WAV header (LIST
# and other metadata chunks before ``data`` are rarely more than a few KB).
HEAD_LIMIT: Final = 64 * 1024

_EXTENSIONS: Final = {
    ".wav": "audio/wav",
    ".wave": "audio/wav",
    ".mp3": "audio/mpeg",
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".m4a": "audio/mp4",
    ".flac": "audio/flac",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".opus": "audio/opus",
    ".aac": "audio/aac",
    ".amr": "audio/amr",
    ".aiff": "audio/aiff",
    ".aif": "audio/aiff",
    ".wma": "audio/x-ms-wma",
    ".ac3": "audio/ac3",
}


def sniff_content_type(head: bytes) -> str | None:
    """Guess a content type from the first bytes of a media file.

    Args:
        head: the file's leading bytes (12 are enough for every format known here).

    Returns:
        ``audio/wav``, ``audio/mpeg``, ``audio/aac``, ``video/mp4``, ``audio/flac``,
        ``audio/ogg``, ``audio/amr`` or ``audio/aiff``; ``None`` when unrecognised.
    """
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head[4:8] == b"ftyp":
        return "video/mp4"
    if head[:3] == b"ID3":
        return "audio/mpeg"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        # 11-bit frame sync. Layer bits 00 are "reserved" in MPEG audio but mark an
        # ADTS (AAC) stream, which shares the sync word.
        return "audio/aac" if head[1] & 0x06 == 0 else "audio/mpeg"
    if head[:4] == b"fLaC":
        return "audio/flac"
    if head[:4] == b"OggS":
        return "audio/ogg"
    if head[:5] == b"#!AMR":
        return "audio/amr"
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "audio/aiff"
    return None


def content_type_from_extension(name: str) -> str | None:
    """Map a file name or path to a content type by its extension (case-insensitive).

    Returns:
        The registered type for the extension, or ``None`` for an unknown one.
    """
    return _EXTENSIONS.get(os.path.splitext(name)[1].lower())


def _wav_layout(head: bytes) -> tuple[int, int, int] | None:
    """Return ``(byte_rate, data_offset, data_size)`` from a RIFF/WAVE header, if readable."""
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    byte_rate: int | None = None
    pos = 12
    while pos + 8 <= len(head):
        chunk_id = head[pos : pos + 4]
        (size,) = struct.unpack_from("<I", head, pos + 4)
        body = pos + 8
        if chunk_id == b"fmt ":
            if body + 12 > len(head) or size < 16:
                return None
            (byte_rate,) = struct.unpack_from("<I", head, body + 8)
        elif chunk_id == b"data":
            if not byte_rate:
                return None  # no usable fmt chunk before the samples
            return byte_rate, body, size
        pos = body + size + (size & 1)  # chunks are padded to an even size
    return None


def wav_duration(head: bytes) -> float | None:
    """Duration in seconds of a PCM WAV file, from its header alone.

    Walks the RIFF chunks (``fmt `` gives the byte rate, ``data`` the size of the
    samples), stepping over others such as ``LIST``.

    Args:
        head: the leading bytes of the file, up to and including the ``data`` chunk header.

    Returns:
        The duration, or ``None`` when the header is not a readable WAV header or
        declares an unknown data size (streamed WAVs write 0 or 0xFFFFFFFF).
    """
    layout = _wav_layout(head)
    if layout is None:
        return None
    byte_rate, _, size = layout
    if size in (0, 0xFFFFFFFF):
        return None
    return size / byte_rate


class Mp4DurationParser:
    """Finds the duration of an MP4 (``moov/mvhd``) from its bytes as they stream in.

    Feed it chunks of any size with :meth:`feed`. Only box headers and the small
    ``mvhd`` payload are buffered; the content of every other box, ``mdat``
    included, is skipped by counting bytes, so ``moov`` is found wherever it is.
    A reader that can seek may call :meth:`skip` for :attr:`skippable` bytes
    instead of reading them.

    Attributes:
        duration: seconds, once ``mvhd`` was read (``None`` before, or if unknown).
        done: ``True`` once nothing more can be learnt (found, or the box
            structure is broken, or a box runs to the end of the file).
        error: why parsing stopped without a duration, if it did.
        position: how many bytes of the file were consumed so far.
    """

    _MVHD_MAX: Final = 4096  # a real mvhd payload is 100 or 112 bytes

    def __init__(self) -> None:
        self.duration: float | None = None
        self.done = False
        self.error: str | None = None
        self.position = 0
        self._header = bytearray()
        self._skip = 0
        self._payload: bytearray | None = None  # collecting an mvhd payload
        self._payload_size = 0
        self._moov_end: int | None = None  # absolute end of the moov being walked

    @property
    def skippable(self) -> int:
        """Bytes the parser will ignore next: a seeking reader may :meth:`skip` them."""
        return 0 if self.done else self._skip

    def skip(self, count: int) -> None:
        """Account for ``count`` bytes that were seeked over instead of fed.

        Raises:
            ValueError: if ``count`` exceeds :attr:`skippable`.
        """
        if count > self.skippable:
            raise ValueError(f"cannot skip {count} bytes, only {self.skippable} are skippable")
        self._skip -= count
        self.position += count

    def feed(self, chunk: bytes | bytearray | memoryview) -> None:
        """Consume the next bytes of the file."""
        view = memoryview(chunk)
        while view and not self.done:
            if self._skip:
                step = min(self._skip, len(view))
                self._skip -= step
            elif self._payload is not None:
                step = min(self._payload_size - len(self._payload), len(view))
                self._payload += view[:step]
                if len(self._payload) == self._payload_size:
                    self._read_mvhd(bytes(self._payload))
            else:
                step = self._take_header(view)
            self.position += step
            view = view[step:]

    def _take_header(self, view: memoryview) -> int:
        """Buffer box header bytes; act on the header once complete. Returns bytes used."""
        needed = 8
        if len(self._header) >= 8 and self._header[:4] == b"\x00\x00\x00\x01":
            needed = 16  # size 1: a 64-bit "largesize" follows the type
        step = min(needed - len(self._header), len(view))
        self._header += view[:step]
        if len(self._header) < 8:
            return step
        size, box_type = struct.unpack_from(">I4s", self._header)
        if size == 1 and len(self._header) < 16:
            return step
        header_len = len(self._header)
        if size == 1:
            (size,) = struct.unpack_from(">Q", self._header, 8)
        self._header.clear()
        start = self.position + step - header_len
        self._on_box(box_type, start, header_len, size)
        return step

    def _on_box(self, box_type: bytes, start: int, header_len: int, size: int) -> None:
        if self._moov_end is not None and start >= self._moov_end:
            self._moov_end = None  # walked past the end of moov without an mvhd
        if size == 0:
            # "Extends to the end of the file": only a moov could still hold mvhd.
            if box_type == b"moov":
                self._moov_end = 2**63
            else:
                self._stop("box of unknown size reached before moov/mvhd")
            return
        if size < header_len:
            self._stop(f"invalid box size {size} at offset {start}")
            return
        body = size - header_len
        if box_type == b"moov" and self._moov_end is None:
            self._moov_end = start + size  # descend: its children follow
        elif box_type == b"mvhd" and self._moov_end is not None:
            if not 20 <= body <= self._MVHD_MAX:
                self._stop(f"invalid mvhd size {size}")
                return
            self._payload = bytearray()
            self._payload_size = body
        else:
            self._skip = body

    def _read_mvhd(self, payload: bytes) -> None:
        self._payload = None
        version = payload[0]
        if version == 1 and len(payload) >= 32:
            timescale, duration = struct.unpack_from(">IQ", payload, 20)
            unknown = duration == 0xFFFFFFFFFFFFFFFF
        elif version == 0:
            timescale, duration = struct.unpack_from(">II", payload, 12)
            unknown = duration == 0xFFFFFFFF
        else:
            self._stop(f"unsupported mvhd version {version}")
            return
        if timescale == 0 or unknown:
            self._stop("mvhd does not state a duration")
            return
        self.duration = duration / timescale
        self.done = True

    def _stop(self, why: str) -> None:
        self.error = why
        self.done = True


class MediaProbe:
    """Learns the content type, duration and size of an upload from its chunks.

    Only the first :data:`HEAD_LIMIT` bytes are kept (for sniffing and the WAV
    header); MP4 bytes also stream through an :class:`Mp4DurationParser`.

    Attributes:
        size: bytes fed so far.
        head: the first bytes of the upload (at most 64 KB).
    """

    def __init__(self) -> None:
        self.size = 0
        self.head = bytearray()
        self._mp4: Mp4DurationParser | None = None
        self._sniffed = False
        self._content_type: str | None = None

    def feed(self, chunk: bytes | bytearray | memoryview) -> None:
        """Consume the next bytes of the upload."""
        before = self.size
        if len(self.head) < HEAD_LIMIT:
            self.head += chunk[: HEAD_LIMIT - len(self.head)]
        self.size += len(chunk)
        if self._mp4 is not None:
            self._mp4.feed(chunk)
        elif not self._sniffed and len(self.head) >= 12:
            self._sniff()
            if self._mp4 is not None:
                # Catch the parser up: everything before this chunk is in head,
                # and so is the start of this chunk, up to the head limit.
                self._mp4.feed(self.head)
                self._mp4.feed(memoryview(chunk)[len(self.head) - before :])

    def _sniff(self) -> None:
        self._sniffed = True
        self._content_type = sniff_content_type(bytes(self.head[:16]))
        if self._content_type == "video/mp4":
            self._mp4 = Mp4DurationParser()

    @property
    def content_type(self) -> str | None:
        """The sniffed content type, or ``None`` if the bytes are not recognised."""
        if not self._sniffed and self.head:
            return sniff_content_type(bytes(self.head))  # a tiny upload (< 12 bytes)
        return self._content_type

    @property
    def duration(self) -> float | None:
        """Seconds of media, for WAV (from the header) and MP4 (from ``mvhd``); else ``None``.

        A WAV whose header declares more samples than were received, or an unknown
        size, is measured by the bytes actually received.
        """
        if self.content_type == "audio/wav":
            layout = _wav_layout(bytes(self.head))
            if layout is None:
                return None
            byte_rate, offset, declared = layout
            received = max(self.size - offset, 0)
            size = received if declared in (0, 0xFFFFFFFF) else min(declared, received)
            return size / byte_rate
        if self._mp4 is not None:
            return self._mp4.duration
        return None

    @property
    def problem(self) -> str | None:
        """Why the upload cannot be processed, judged from what was fed; ``None`` if fine."""
        if self.size == 0:
            return "the request body is empty"
        content_type = self.content_type
        if content_type is None:
            return "the media format could not be recognised from its header"
        if content_type == "audio/wav" and _wav_layout(bytes(self.head)) is None:
            return "the WAV header is unreadable (no fmt and data chunks)"
        if self._mp4 is not None and self._mp4.duration is None:
            return f"the MP4 is unreadable: {self._mp4.error or 'no moov/mvhd box found'}"
        return None


def probe_file(path: str | os.PathLike[str]) -> tuple[str | None, float | None]:
    """Content type and duration of a media file, reading only its headers.

    The type is sniffed from the first bytes, falling back to the extension. WAV
    durations come from the RIFF header; MP4 durations from ``moov/mvhd``, seeking
    over ``mdat`` and other boxes rather than reading them.

    Returns:
        ``(content_type, duration)``; either may be ``None`` when unknown.

    Raises:
        OSError: if the file cannot be opened or read.
    """
    with open(path, "rb") as f:
        head = f.read(HEAD_LIMIT)
        return probe_opened(f, head, os.fstat(f.fileno()).st_size, os.fspath(path))


def probe_opened(
    f: BinaryIO, head: bytes, size: int, name: str
) -> tuple[str | None, float | None]:
    """:func:`probe_file` of a file already open as ``f`` (seekable), whose first bytes
    (at least :data:`HEAD_LIMIT` of them, or the whole file) are ``head`` and whose size
    is ``size``; ``name``: its path, for the extension. A caller that reads the file for
    other reasons too opens it once (a rerun checks 100,000 files).

    Raises:
        OSError: if the file cannot be read.
    """
    head = head[:HEAD_LIMIT]
    content_type = sniff_content_type(head[:16])
    duration: float | None = None
    if content_type == "audio/wav":
        probe = MediaProbe()
        probe.feed(head)
        # The file size stands in for the bytes received: clamps lying headers.
        probe.size = size
        duration = probe.duration
    elif content_type == "video/mp4":
        duration = _mp4_file_duration(f, head, size)
    return content_type or content_type_from_extension(name), duration


def _mp4_file_duration(f: BinaryIO, head: bytes, size: int) -> float | None:
    """Walk an MP4's boxes from ``head`` on, seeking over box bodies the parser skips."""
    parser = Mp4DurationParser()
    parser.feed(head)
    while not parser.done and parser.position < size:
        if parser.skippable:
            parser.skip(min(parser.skippable, size - parser.position))
            continue
        f.seek(parser.position)
        chunk = f.read(4096)
        if not chunk:
            break
        parser.feed(chunk)
    return parser.duration
