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


# --- POST Async Audio URL / Video URL: "we do not support any redirected links, shortened
# links (e.g. bit.ly), YouTube, Vimeo, or links from any audio/video platforms" ---------------

PLATFORM_LINKS = [
    "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
    "https://youtu.be/dQw4w9WgXcQ",
    "https://vimeo.com/76979871",
    "https://player.vimeo.com/video/76979871",
    "https://bit.ly/3abcDEF",
]


async def test_platform_and_shortened_links_are_refused(api: Api, emu: Emulator) -> None:
    for path in ("/v1/process/audio/url", "/v1/process/video/url"):
        for url in PLATFORM_LINKS:
            status, body = await api.call("POST", path, json={"url": url})
            assert status == 400 and "not supported" in body["message"], (path, url, body)
    assert emu.jobs() == [] and emu.stats()["jobs_created"] == 0

    # A direct link is processed, even when its path names a platform; appends are checked too.
    direct = "https://cdn.example.com/media/youtube.com-export.mp4"
    conversation_id = await completed(api, emu, "/v1/process/video/url", {"url": direct})
    status, body = await api.call(
        "PUT", f"/v1/process/audio/url/{conversation_id}", json={"url": PLATFORM_LINKS[2]}
    )
    assert status == 400 and "not supported" in body["message"]
    assert len(emu.jobs()) == 1
