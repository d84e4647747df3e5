"""Text messages for text submits."""

from datetime import datetime, timezone

import pytest

from symbl_async import TextMessage, ValidationError
from symbl_async.core._text import messages_to_json


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
