"""Captions and plain-text transcripts, rendered from a conversation's messages.

Symbl's formatted transcript endpoint renders SRT and Markdown (Symbl docs, "POST Formatted
Transcript"), not WebVTT. These pure functions render WebVTT (the W3C format browsers'
``<track>`` takes) and a plain-text transcript from the messages as ``GET .../messages``
gives them (Symbl docs, "GET Speech to Text": ``text``, ``from.name``, ``startTime``,
``endTime`` as ISO-8601).

Cues are timed from the conversation's start (its ``startTime``, when known; else the first
message's), in start order, each ending before the next begins and lasting at least a
millisecond: what players and validators expect, even where two speakers overlapped.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from symbl_async.core._isotime import parse_iso

__all__ = ["Cue", "clock", "cues_of", "render_text", "render_vtt"]

_DEFAULT_CUE_MS = 1000  # a message with a start and no end (not what the API gives)


@attrs.frozen
class Cue:
    """One timed line: milliseconds from the conversation's start, who said it, what."""

    start_ms: int
    end_ms: int
    speaker: str | None
    text: str


def clock(ms: int, separator: str = ".") -> str:
    """``hh:mm:ss.mmm`` (WebVTT; SRT's separator is ``,``); hours grow past two digits."""
    hours, rest = divmod(max(ms, 0), 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{separator}{millis:03d}"


def _time(value: object) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=dt.timezone.utc)
    if isinstance(value, str):
        try:
            return parse_iso(value)
        except ValueError:
            return None
    return None


def _ms(at: dt.datetime | None, origin: dt.datetime) -> int | None:
    return None if at is None else round((at - origin).total_seconds() * 1000)


def _one_line(text: str) -> str:
    # A blank line ends a cue in WebVTT and SRT: a message is one line of text.
    return " ".join(text.split())


def cues_of(
    messages: Iterable[Mapping[str, Any]], origin: str | dt.datetime | None = None
) -> list[Cue]:
    """The messages as timed cues, ready to render.

    Args:
        messages: messages as JSON (``GET .../messages``, or an insights file's
            ``messages``): ``text``, ``from.name``, ``startTime``, ``endTime``.
        origin: the conversation's ``startTime``; None (or unreadable): the first
            message's start.

    Returns:
        One cue per message with text: starts increasing, none overlapping the next (an
        end past the next start is cut there; a start before the previous end is moved to
        it), each at least 1 ms. A message without a start follows the one before.
    """
    said = []
    for message in messages:
        text = message.get("text")
        if not isinstance(text, str) or not text.strip():
            continue
        sender = message.get("from")
        name = sender.get("name") if isinstance(sender, Mapping) else None
        said.append((_time(message.get("startTime")), _time(message.get("endTime")),
                     name if isinstance(name, str) and name.strip() else None,
                     _one_line(text)))
    starts = [start for start, _, _, _ in said if start is not None]
    zero = _time(origin) or (min(starts) if starts else None)
    timed: list[tuple[int, int, str | None, str]] = []
    previous_end = 0
    for start_at, end_at, name, text in said:
        start = _ms(start_at, zero) if zero is not None else None
        start = previous_end if start is None else max(start, 0)
        end = _ms(end_at, zero) if zero is not None else None
        end = start + _DEFAULT_CUE_MS if end is None else end
        timed.append((start, end, name, text))
        previous_end = max(end, start)
    timed.sort(key=lambda cue: (cue[0], cue[1]))
    out: list[Cue] = []
    for index, (start, end, name, text) in enumerate(timed):
        if index + 1 < len(timed) and start < timed[index + 1][0] < end:
            end = timed[index + 1][0]  # overlapping speech: this cue ends as the next begins
        if out:
            start = max(start, out[-1].end_ms)
        out.append(Cue(start, max(end, start + 1), name, text))
    return out


_VTT_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def _vtt_escape(text: str) -> str:
    return re.sub(r"[&<>]", lambda m: _VTT_ESCAPES[m.group()], text)


def render_vtt(cues: Sequence[Cue]) -> str:
    """A WebVTT file: the ``WEBVTT`` header, then numbered cues ``hh:mm:ss.mmm -->
    hh:mm:ss.mmm`` with the speaker as a voice span (``<v Ana>Hello.``)."""
    blocks = ["WEBVTT\n"]
    for number, cue in enumerate(cues, start=1):
        text = _vtt_escape(cue.text)
        if cue.speaker is not None:
            text = f"<v {_vtt_escape(_one_line(cue.speaker))}>{text}"
        blocks.append(f"{number}\n{clock(cue.start_ms)} --> {clock(cue.end_ms)}\n{text}\n")
    return "\n".join(blocks)


def render_text(cues: Sequence[Cue]) -> str:
    """A plain-text transcript: one line per message, ``[hh:mm:ss] Speaker: text``."""
    lines = []
    for cue in cues:
        who = f"{_one_line(cue.speaker)}: " if cue.speaker is not None else ""
        lines.append(f"[{clock(cue.start_ms)[:8]}] {who}{cue.text}")
    return "".join(line + "\n" for line in lines)
