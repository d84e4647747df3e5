"""Documented Conversation API behaviours the client relies on, whatever the emulator version.

Entities read the same in either shape (the lenient model), a summary's 404 while the
job runs reaches the caller as NotFoundError, ``refresh`` is sent as documented.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from symbl_async import (
    CustomEntity,
    NotFoundError,
    PollSchedule,
    ProcessingOptions,
    SymblClient,
    TextMessage,
)
from symbl_async.client._conversations import ConversationsAPI
from symbl_async.emulator import Emulator

SCALE = 1000.0
TEXT = [
    TextMessage(content="The marketing director will call you today.", speaker_name="Ana"),
    TextMessage(content="Great, I will send the contract tomorrow.", speaker_name="Ben"),
]


async def test_entities_from_the_emulator_read_through_the_lenient_model() -> None:
    options = ProcessingOptions(
        detect_entities=True,
        entities=(
            CustomEntity(
                custom_type="Company Executives",
                text="marketing director",
                value="marketing director",
            ),
        ),
    )
    async with (
        Emulator(time_scale=SCALE) as emu,
        SymblClient(
            app_id=emu.app_id,
            app_secret=emu.app_secret,
            base_url=emu.url,
            poll=PollSchedule(time_scale=SCALE),
            wait_timeout=60,
        ) as client,
    ):
        job = await client.submit_text(TEXT, options=options)
        await client.wait(job)
        entities = await client.conversations.entities(job.conversation_id)

    custom = [e for e in entities if e.is_custom]
    assert len(custom) == 1
    assert [str(v).lower() for v in custom[0].values] == ["marketing director"]
    assert [r.text for r in custom[0].all_message_refs] == [TEXT[0].content]
    assert any((e.type or "").lower() == "date" for e in entities)


class Answers:
    """A Requester that answers from a function of (method, path, params)."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.calls: list[tuple[str, str, dict[str, str] | None]] = []

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        idempotent: bool | None = None,
    ) -> Any:
        self.calls.append((method, path, None if params is None else dict(params)))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


async def test_summary_while_the_job_runs_is_not_found() -> None:
    # summary.md: 404 while the job is in progress.
    fake = Answers(NotFoundError(404, "The conversationId is either invalid or does not exist."))

    with pytest.raises(NotFoundError):
        await ConversationsAPI(fake).summary("c1")


async def test_summary_refresh_is_sent_only_when_asked() -> None:
    fake = Answers({"summary": [{"id": "s1", "text": "They agreed.", "messageRefs": []}]})
    api = ConversationsAPI(fake)

    first = await api.summary("c1")
    again = await api.summary("c1", refresh=True)

    assert [s.text for s in first] == [s.text for s in again] == ["They agreed."]
    assert fake.calls == [
        ("GET", "/v1/conversations/c1/summary", None),
        ("GET", "/v1/conversations/c1/summary", {"refresh": "true"}),
    ]
