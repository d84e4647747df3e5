"""Is this upload media at all? Checks on a file's first bytes, before anything is sent.

A text file named ``.wav`` (a transcript saved under the wrong name, an HTML error page
saved by a download script) used to be sent as ``audio/wav`` and paid for; the service
then fails the job. Two checks catch it on the header alone:

- bytes that look like text (no NUL byte, valid UTF-8, almost all printable) are not
  media, whatever the name says;
- a WAV has a mandatory ``RIFF....WAVE`` header at byte 0, so a name or content type
  that claims WAV over other bytes is wrong.

Other formats are not refused on a missing signature: MP3 streams may start with
padding or junk before the first frame sync, and the service detects formats itself.
"""

from __future__ import annotations

from typing import Final

__all__ = ["looks_like_text", "media_header_problem"]

WAV_TYPES: Final = frozenset({"audio/wav", "audio/wave", "audio/x-wav", "audio/vnd.wave"})
_TEXT_SAMPLE: Final = 8192
_PRINTABLE_SHARE: Final = 0.95


def looks_like_text(head: bytes) -> bool:
    """Whether the first bytes of a file look like text rather than binary media.

    Args:
        head: the file's leading bytes (8 KB are looked at).

    Returns:
        ``True`` for non-empty bytes with no NUL, valid UTF-8 (a character cut at the
        end is allowed) and at least 95% printable characters or whitespace.
    """
    sample = head[:_TEXT_SAMPLE]
    if not sample or b"\x00" in sample:
        return False
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by the sample's end is still text.
        if exc.start < len(sample) - 3:
            return False
        text = sample[: exc.start].decode("utf-8")
    if not text:
        return False
    printable = sum(1 for ch in text if ch.isprintable() or ch in "\t\n\r\f\v")
    return printable >= _PRINTABLE_SHARE * len(text)


def media_header_problem(head: bytes, claimed: str | None, sniffed: str | None) -> str | None:
    """Why bytes cannot be the media they claim to be, judged from their header.

    Args:
        head: the leading bytes.
        claimed: the content type from the caller or the file name, if any.
        sniffed: the content type recognised from ``head``, if any.

    Returns:
        A reason to put after the file's name ("looks like text, not audio or video"),
        or ``None`` when nothing is wrong that the header can show.
    """
    if sniffed is None and looks_like_text(head):
        return "looks like text, not audio or video"
    if claimed in WAV_TYPES and sniffed != "audio/wav":
        found = f"its header is {sniffed}" if sniffed else "its header is not RIFF/WAVE"
        return f"is not a WAV file ({found})"
    return None
