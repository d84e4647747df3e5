"""``fetch_insights_json`` against ``fetch_insights(...).to_json()``, on the emulator's answers.

Audio, video and text conversations, every kind of insight, entities in both shapes the
API has used: the JSON built without models is the models' JSON, as text too (the file a
batch writes), so ``5`` and ``5.0`` or the key order cannot differ unnoticed.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from symbl_async import (
    CustomEntity,
    Job,
    PollSchedule,
    ProcessingOptions,
    SymblClient,
    TextMessage,
    Tracker,
)
from symbl_async.client import ALL_INCLUDE
from symbl_async.emulator import Emulator
from symbl_async.models import _projection
from symbl_async.models._converter import structure

SCALE = 10_000.0
TEXT = [
    TextMessage(content="The marketing director will call you today.", speaker_name="Ana"),
    TextMessage(content="Great, I will send the pricing sheet tomorrow?", speaker_name="Ben"),
    TextMessage(content="Can you also book a meeting for next Monday at 10?", speaker_name="Ana"),
]
OPTIONS = ProcessingOptions(
    detect_entities=True,
    entities=(CustomEntity(custom_type="Company Executives", text="marketing director"),),
    trackers=[Tracker(name="Pricing", vocabulary=["pricing sheet"])],
    metadata={"team": "sales", "score": 5, "nested": {"ok": True}},
)


async def _jobs(client: SymblClient) -> list[Job]:
    jobs = [
        await client.submit_text(TEXT, options=OPTIONS),
        await client.submit_text(TEXT[:1]),
        await client.submit_audio_url(
            "https://media.test/a.mp3?emulator_duration=300", options=OPTIONS
        ),
        await client.submit_video_url("https://media.test/v.mp4?emulator_duration=45"),
    ]
    for job in jobs:
        await client.wait(job)
    return jobs


@pytest.mark.parametrize("shape", ["current", "legacy"])
async def test_fetch_insights_json_is_to_json_on_the_emulators_answers(
    shape: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow: list[Any] = []  # answers the fast path handed to the converter

    def counted(data: Any, type_: Any) -> Any:
        slow.append(type_)
        return structure(data, type_)

    monkeypatch.setattr(_projection, "structure", counted)
    async with Emulator(time_scale=SCALE, entities_shape=shape) as emu, SymblClient(
        app_id=emu.app_id,
        app_secret=emu.app_secret,
        base_url=emu.url,
        poll=PollSchedule(time_scale=SCALE),
        wait_timeout=60,
    ) as client:
        jobs = await _jobs(client)
        kinds_seen: dict[str, int] = {}
        for job in jobs:
            cid = job.conversation_id
            expected = (await client.fetch_insights(cid, include=ALL_INCLUDE)).to_json()
            data: dict[str, Any] = await client.fetch_insights_json(cid, include=ALL_INCLUDE)

            assert json.dumps(data) == json.dumps(expected)
            for kind, value in data.items():
                kinds_seen[kind] = kinds_seen.get(kind, 0) + bool(value)

    # The comparison covered every kind, and answers that held something.
    assert set(kinds_seen) == {"conversationId", "conversation", "messages", "topics",
                               "questions", "actionItems", "followUps", "members", "analytics",
                               "entities", "trackers", "summary", "insights", "transcript"}
    assert all(kinds_seen[kind] for kind in ("messages", "entities", "trackers", "summary"))
    assert slow == []  # the emulator's answers all took the fast path
