"""WebVTT and plain-text transcripts rendered from messages: on plain data, no network."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from _captions import check_vtt
from hypothesis import given, settings
from hypothesis import strategies as st

from symbl_async.core._captions import Cue, clock, cues_of, render_text, render_vtt

START = dt.datetime(2024, 5, 6, 9, 0, tzinfo=dt.timezone.utc)


def at(seconds: float) -> str:
    return (START + dt.timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def message(text: str, start: float | None, end: float | None, name: str | None = None
            ) -> dict[str, Any]:
    out: dict[str, Any] = {"id": text[:4], "text": text}
    if start is not None:
        out["startTime"] = at(start)
    if end is not None:
        out["endTime"] = at(end)
    if name is not None:
        out["from"] = {"id": name.lower(), "name": name}
    return out


def test_clock_formats_hours_minutes_seconds_and_millis() -> None:
    assert clock(0) == "00:00:00.000"
    assert clock(3_723_004) == "01:02:03.004"
    assert clock(3_723_004, ",") == "01:02:03,004"
    assert clock(100 * 3_600_000) == "100:00:00.000"


def test_cues_count_from_the_conversations_start() -> None:
    messages = [message("Hello.", 2.5, 4.0, "Ana"), message("Hi Ana.", 4.25, 6.0, "Ben")]
    assert cues_of(messages, at(0)) == [
        Cue(2500, 4000, "Ana", "Hello."), Cue(4250, 6000, "Ben", "Hi Ana.")]
    # Without the conversation's start, from the first message's.
    assert cues_of(messages) == [Cue(0, 1500, "Ana", "Hello."), Cue(1750, 3500, "Ben", "Hi Ana.")]


def test_overlapping_speech_becomes_cues_one_after_another() -> None:
    messages = [
        message("Second, said over the first.", 3.0, 5.0, "Ben"),
        message("First, and long.", 1.0, 6.0, "Ana"),
        message("Same start as the second.", 3.0, 4.0, "Cy"),
        message("Before the start?", -2.0, 0.5),
    ]
    cues = cues_of(messages, at(0))
    assert [(c.start_ms, c.end_ms, c.speaker) for c in cues] == [
        (0, 500, None),  # clamped to the start
        (1000, 3000, "Ana"),  # cut where the next begins
        (3000, 4000, "Cy"),  # the shorter of two equal starts first
        (4000, 5000, "Ben"),  # moved after the one before
    ]


def test_messages_without_times_or_text() -> None:
    messages = [
        message("Timed.", 1.0, 2.0),
        message("No times.", None, None),
        {"text": "   "},
        {"text": "No start, an end.", "endTime": at(9.0)},
    ]
    cues = cues_of(messages, at(0))
    assert [(c.start_ms, c.end_ms, c.text) for c in cues] == [
        (1000, 2000, "Timed."), (2000, 3000, "No times."), (3000, 9000, "No start, an end.")]


def test_vtt_is_valid_with_voices_and_escapes() -> None:
    messages = [
        message("Costs <3 & rises --> fast.\nTwo lines.", 1.0, 2.0, "Ana <CFO>"),
        message("Plain.", 2.0, 3.5),
    ]
    vtt = render_vtt(cues_of(messages, at(0)))
    assert vtt == (
        "WEBVTT\n\n"
        "1\n00:00:01.000 --> 00:00:02.000\n"
        "<v Ana &lt;CFO&gt;>Costs &lt;3 &amp; rises --&gt; fast. Two lines.\n\n"
        "2\n00:00:02.000 --> 00:00:03.500\nPlain.\n"
    )
    assert [(s, e) for s, e, _ in check_vtt(vtt)] == [(1000, 2000), (2000, 3500)]


def test_plain_text_has_a_line_per_message() -> None:
    messages = [message("Hello.", 62.0, 63.0, "Ana"), message("Who spoke?", 3725.0, 3726.0)]
    assert render_text(cues_of(messages, at(0))) == (
        "[00:01:02] Ana: Hello.\n[01:02:05] Who spoke?\n")
    assert render_text([]) == ""


_times = st.one_of(st.none(), st.floats(min_value=-5, max_value=5000, allow_nan=False))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_times, _times, st.sampled_from(["Ana", "Ben", None]),
                          st.text(min_size=1, max_size=30)), min_size=1, max_size=25),
       st.booleans())
def test_any_messages_give_valid_increasing_cues(
    spec: list[tuple[float | None, float | None, str | None, str]], with_origin: bool
) -> None:
    messages = [message(text, start, end, name) for start, end, name, text in spec]
    cues = cues_of(messages, at(0) if with_origin else None)
    assert len(cues) == sum(1 for *_, text in spec if text.strip())
    for before, cue in itertools.pairwise(cues):
        assert before.end_ms <= cue.start_ms
    assert all(0 <= c.start_ms < c.end_ms for c in cues)
    if cues:
        check_vtt(render_vtt(cues))
