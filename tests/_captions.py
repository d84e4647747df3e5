"""Checks that caption files are valid SRT and WebVTT, for the tests that write them.

Each parses the whole file strictly and fails on the first thing a player or validator
would refuse: a bad header, a cue number out of sequence (SRT), a malformed timing line
(``hh:mm:ss,mmm`` in SRT, ``hh:mm:ss.mmm`` in WebVTT), a cue that ends before it starts,
starts before the previous one, or overlaps it, an empty cue or a ``-->`` in cue text.
"""

from __future__ import annotations

import re

__all__ = ["check_srt", "check_vtt"]

_SRT_TIME = r"(\d{2,}):([0-5]\d):([0-5]\d),(\d{3})"
_VTT_TIME = r"(\d{2,}):([0-5]\d):([0-5]\d)\.(\d{3})"


def _ms(h: str, m: str, s: str, ms: str) -> int:
    return ((int(h) * 60 + int(m)) * 60 + int(s)) * 1000 + int(ms)


def _timed(blocks: list[list[str]], timing: re.Pattern[str], numbered: bool) -> list[
    tuple[int, int, list[str]]
]:
    cues: list[tuple[int, int, list[str]]] = []
    for number, block in enumerate(blocks, start=1):
        lines = list(block)
        if numbered:
            assert lines[0] == str(number), f"cue {number} is numbered {lines[0]!r}"
            lines = lines[1:]
        elif "-->" not in lines[0]:
            lines = lines[1:]  # an optional cue identifier
        assert lines, f"cue {number} has no timing line"
        found = timing.fullmatch(lines[0])
        assert found is not None, f"cue {number}: bad timing line {lines[0]!r}"
        start, end = _ms(*found.groups()[:4]), _ms(*found.groups()[4:])
        text = lines[1:]
        assert text and all(t.strip() for t in text), f"cue {number} has no text"
        assert not any("-->" in t for t in text), f"cue {number}: '-->' in its text"
        assert start < end, f"cue {number} ends at or before its start"
        if cues:
            assert start > cues[-1][0], f"cue {number} starts before the cue before it"
            assert start >= cues[-1][1], f"cue {number} overlaps the cue before it"
        cues.append((start, end, text))
    return cues


def _blocks(text: str) -> list[list[str]]:
    return [block.split("\n") for block in re.split(r"\n{2,}", text.strip("\n"))
            if block.strip()]


def check_srt(text: str) -> list[tuple[int, int, list[str]]]:
    """The cues of a valid SRT file: ``(start ms, end ms, text lines)``."""
    assert "\r" not in text or "\r\n" in text
    text = text.replace("\r\n", "\n")
    timing = re.compile(f"{_SRT_TIME} --> {_SRT_TIME}")
    cues = _timed(_blocks(text), timing, numbered=True)
    assert cues, "no cues"
    return cues


def check_vtt(text: str) -> list[tuple[int, int, list[str]]]:
    """The cues of a valid WebVTT file: ``(start ms, end ms, text lines)``."""
    assert re.match(r"WEBVTT([ \t][^\n]*)?\n\n", text), "no WEBVTT header and blank line"
    body = text.split("\n\n", 1)[1]
    timing = re.compile(f"{_VTT_TIME} --> {_VTT_TIME}")
    cues = _timed(_blocks(body), timing, numbered=False)
    assert cues, "no cues"
    for _, _, lines in cues:
        for line in lines:
            # Cue text: no raw "<" but tags, no bare "&" but character references.
            assert re.fullmatch(r"(<v [^>]+>)?([^<&]|&(amp|lt|gt);)*", line), line
    return cues
