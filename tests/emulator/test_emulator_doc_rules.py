"""The emulator follows more of Symbl's doc pages, each test with the sentence it checks."""

from __future__ import annotations

import asyncio
from typing import Any

from _emulator_api import Api

from symbl_async.emulator import Emulator

CHANNELS = [
    {"channel": 1, "speaker": {"name": "Robert Bartheon", "email": "robert@example.com"}},
    {"channel": 2, "speaker": {"name": "Arya Stark", "email": "arya@example.com"}},
]


async def completed(api: Api, emu: Emulator, path: str, body: dict[str, Any]) -> str:
    """Submit, wait until every job ended, return the conversation id."""
    status, answer = await api.call("POST", path, json=body)
    assert status == 201, answer
    await asyncio.wait_for(emu.wait_idle(), 5)
    return str(answer["conversationId"])


async def member_names(api: Api, conversation_id: str) -> set[str]:
    status, body = await api.call("GET", f"/v1/conversations/{conversation_id}/members")
    assert status == 200, body
    return {m["name"] for m in body["members"]}


# --- FAQ: "If the Diarization feature is set to true, it will take priority over Speaker
# recognition per Channel" ----------------------------------------------------------------


async def test_diarization_takes_priority_over_channel_metadata(api: Api, emu: Emulator) -> None:
    url = "https://m.test/call.wav?emulator_duration=300"
    channels = {
        "url": url,
        "enableSeparateRecognitionPerChannel": True,
        "channelMetadata": CHANNELS,
    }
    by_channel = await completed(api, emu, "/v1/process/audio/url", channels)
    assert await member_names(api, by_channel) == {"Robert Bartheon", "Arya Stark"}

    both = {**channels, "enableSpeakerDiarization": True, "diarizationSpeakerCount": 2}
    diarized = await completed(api, emu, "/v1/process/audio/url", both)
    assert await member_names(api, diarized) == {"Speaker 1", "Speaker 2"}
