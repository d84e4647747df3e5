"""Text messages for text submits."""

from datetime import datetime, timezone

import pytest

from symbl_async import TextMessage, ValidationError
from symbl_async.core._text import api_messages, messages_to_json, transcript_messages


def test_text_message_json_form() -> None:
    msg = TextMessage(
        content="Let's meet on Monday.",
        speaker_name="Ana",
        user_id="ana@example.com",
        start_time=datetime(2026, 1, 2, 10, 0, 0),
        end_time=datetime(2026, 1, 2, 10, 0, 4, 500000, tzinfo=timezone.utc),
    )
    assert messages_to_json([msg]) == [
        {
            "payload": {"content": "Let's meet on Monday.", "contentType": "text/plain"},
            "from": {"name": "Ana", "userId": "ana@example.com"},
            "duration": {
                "startTime": "2026-01-02T10:00:00.000Z",
                "endTime": "2026-01-02T10:00:04.500Z",
            },
        }
    ]


def test_dict_messages_pass_through() -> None:
    raw = {"payload": {"content": "hi"}, "from": {"name": "B"}}
    assert messages_to_json([raw]) == [raw]


@pytest.mark.parametrize(
    ("messages", "field"),
    [
        ([], "messages"),
        ("hello", "messages"),
        ([TextMessage(content="  ")], "messages[0].content"),
        ([{"payload": {"content": "ok"}}, {"payload": {}}], "messages[1].payload.content"),
        ([{"text": "no payload"}], "messages[0].payload.content"),
        ([42], "messages[0]"),
    ],
)
def test_bad_messages_name_the_field(messages: object, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        messages_to_json(messages)  # type: ignore[arg-type]
    assert info.value.field == field


def test_end_before_start_refused() -> None:
    msg = TextMessage(
        content="x", start_time=datetime(2026, 1, 1, 10, 1), end_time=datetime(2026, 1, 1, 10, 0)
    )
    with pytest.raises(ValidationError, match=r"messages\[0\].end_time"):
        messages_to_json([msg])


def said(messages: object) -> list[tuple[str | None, str]]:
    out = []
    for m in messages:  # type: ignore[attr-defined]
        assert m["payload"]["contentType"] == "text/plain"
        out.append((m.get("from", {}).get("name"), m["payload"]["content"]))
    return out


def test_a_plain_text_transcript_takes_speakers_from_prefixes() -> None:
    text = (
        "Ana: Can you send the pricing sheet?\n"
        "\n"
        "Ben:   Sure.\n"
        "   I will send it by noon.  \n"  # no prefix: still Ben
        "Dr. Jane O'Neil-Smith: Thanks, both.\n"
        "Speaker 2:\n"  # a name alone: the lines below are theirs
        "See you at 10:30 then.\n"
        "https://example.com/agenda is the agenda.\n"
        "10:45: a time is not a speaker\n"
        "One two three four five: more than four words is text\n"
    )
    assert said(transcript_messages(text)) == [
        ("Ana", "Can you send the pricing sheet?"),
        ("Ben", "Sure."),
        ("Ben", "I will send it by noon."),
        ("Dr. Jane O'Neil-Smith", "Thanks, both."),
        ("Speaker 2", "See you at 10:30 then."),
        ("Speaker 2", "https://example.com/agenda is the agenda."),
        ("Speaker 2", "10:45: a time is not a speaker"),
        ("Speaker 2", "One two three four five: more than four words is text"),
    ]


def test_lines_before_any_prefix_have_no_speaker() -> None:
    assert transcript_messages("Hello there.\nAna: hi") == [
        {"payload": {"content": "Hello there.", "contentType": "text/plain"}},
        {"payload": {"content": "hi", "contentType": "text/plain"}, "from": {"name": "Ana"}},
    ]


@pytest.mark.parametrize("text", ["", "\n  \n", "Ana:\nBen:\n"])
def test_a_transcript_without_text_is_refused(text: str) -> None:
    with pytest.raises(ValidationError) as info:
        transcript_messages(text)
    assert info.value.field == "messages"


def test_simple_messages_become_the_apis() -> None:
    api = [{"payload": {"content": "As the API has it"}, "from": {"userId": "u1"}}]
    assert api_messages(api) is api  # kept exactly, not copied
    got = api_messages([{"speaker": "Ana", "text": " Hello. "}, {"text": "Anyone?"},
                        {"speaker": None, "text": "x"}, *api])
    assert said(got[:3]) == [("Ana", "Hello."), (None, "Anyone?"), (None, "x")]
    assert got[3] is api[0]


@pytest.mark.parametrize(
    ("messages", "field"),
    [
        ([], "messages"),
        ("Ana: hi", "messages"),
        ({"text": "hi"}, "messages"),
        (["hi"], "messages[0]"),
        ([{"text": "ok"}, {"speaker": "Ana"}], "messages[1]"),
        ([{"text": "ok", "time": "10:00"}], "messages[0].time"),
        ([{"text": "  "}], "messages[0].text"),
        ([{"text": "hi", "speaker": 7}], "messages[0].speaker"),
        ([{"payload": {"content": 7}}], "messages[0]"),
    ],
)
def test_bad_messages_name_the_message(messages: object, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        api_messages(messages)
    assert info.value.field == field
