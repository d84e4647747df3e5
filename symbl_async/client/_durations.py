"""Durations of the audio formats our own header parsers do not read, with ``mutagen``.

``core._media`` reads WAV (RIFF header) and MP4/M4A (``moov/mvhd``) itself; the emulator
relies on that streaming parser. For the other documented audio formats (MP3, FLAC, Ogg
Vorbis/Opus, AAC, AIFF, WMA, AC3...) the client asks ``mutagen``, a pure-Python tag
library that reads each format's stream header (MP3: the Xing/VBRI header or the first
frames' bit rate and the file size). The duration only sets when the first poll is
made, so an estimate is fine and a failure is not an error: it gives ``None``.
"""

from __future__ import annotations

import io
import logging
import math
import os

import mutagen

__all__ = ["read_duration"]

_log = logging.getLogger("symbl_async.client.uploads")


def read_duration(source: str | os.PathLike[str] | bytes) -> float | None:
    """Seconds of audio in a file or in bytes, as ``mutagen`` reads them (blocking).

    Args:
        source: a file path, or the whole media as bytes.

    Returns:
        A finite, positive duration; ``None`` when the format is not recognised, the
        header does not tell, or the file cannot be read.
    """
    try:
        if isinstance(source, bytes):
            media = mutagen.File(io.BytesIO(source))
        else:
            media = mutagen.File(os.fspath(source))
        length = getattr(getattr(media, "info", None), "length", None)
    # mutagen raises a range of errors on damaged or unexpected input (MutagenError,
    # struct.error, EOFError, ValueError...); a duration is only a hint for polling,
    # so any of them means "unknown", never a failed upload.
    except Exception as exc:
        _log.debug("no duration from mutagen: %s", type(exc).__name__)
        return None
    if isinstance(length, (int, float)) and math.isfinite(length) and length > 0:
        return float(length)
    return None
