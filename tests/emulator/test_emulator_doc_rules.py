"""The emulator follows more of Symbl's doc pages, each test with the sentence it checks."""

from __future__ import annotations

import asyncio
from typing import Any

from _emulator_api import Api

from symbl_async.emulator import Emulator

URL_SUBMIT = "/v1/process/audio/url"
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


# --- What languages does Async API Support?: "Insights like Action items, follow-ups,
# topics, etc are detected for English language only"; the page's note: "only the messages
# endpoint of Conversation API will return the transcribed data and insights will be return
# an empty array" ------------------------------------------------------------------------------

INSIGHT_LISTS = {
    "questions": "questions",
    "action-items": "actionItems",
    "follow-ups": "followUps",
    "topics": "topics",
    "insights": "insights",
    "entities": "entities",
    "summary": "summary",
}


async def test_insights_are_detected_in_english_only(api: Api, emu: Emulator) -> None:
    options = {
        "url": "https://m.test/reunion.mp3?emulator_duration=600",
        "detectPhrases": True,
        "detectEntities": True,
        "trackers": [{"name": "Pricing", "vocabulary": ["pricing"]}],
    }
    french = await completed(api, emu, URL_SUBMIT, {**options, "languageCode": "fr-FR"})
    base = f"/v1/conversations/{french}"
    status, body = await api.call("GET", base + "/messages")
    assert status == 200 and len(body["messages"]) > 30
    assert all(m["phrases"] == [] for m in body["messages"])
    for route, key in INSIGHT_LISTS.items():
        assert await api.call("GET", f"{base}/{route}") == (200, {key: []}), route
    assert await api.call("GET", base + "/trackers-detected") == (200, [])

    # The same recording in British English has its insights.
    english = await completed(api, emu, URL_SUBMIT, {**options, "languageCode": "en-GB"})
    base = f"/v1/conversations/{english}"
    for route, key in INSIGHT_LISTS.items():
        status, body = await api.call("GET", f"{base}/{route}")
        assert status == 200 and body[key], route
    status, trackers = await api.call("GET", base + "/trackers-detected")
    assert status == 200 and [t["name"] for t in trackers] == ["Pricing"]


# --- GET Insights / GET Action Items: the assignee is the person asked to act ---------------


def said(name: str, text: str) -> dict[str, Any]:
    return {"payload": {"content": text}, "from": {"name": name, "userId": f"{name}@x.test"}}


async def test_action_items_name_the_person_asked_to_act(api: Api, emu: Emulator) -> None:
    vikram = (
        "Vikram you need to work on figuring out a plan in which we can make this hackathon "
        "work for our customers first, and then Kunal then can go out and implement it for "
        "the rest of the world."
    )
    mark = "Mark will handle the process of filling up the forms, call Customer after it is done."
    messages = [
        said("Lucy", vikram),
        said("Customer", mark),
        said("Ben", "I will send the notes tomorrow."),
        said("Ana", "Ben, please send me the contract. Can you schedule a call with procurement?"),
    ]
    conversation_id = await completed(api, emu, "/v1/process/text", {"messages": messages})
    status, body = await api.call("GET", f"/v1/conversations/{conversation_id}/action-items")
    assert status == 200, body
    items = {item["text"]: item for item in body["actionItems"]}

    assert items[vikram]["assignee"] == {"name": "Vikram"}  # as in the docs' example
    assert items[vikram]["from"]["name"] == "Lucy" and items[vikram]["definitive"] is True
    person = {"type": "person", "text": "Vikram", "offset": 0}
    assert {**person, "value": {"assignee": True, "name": "Vikram"}} in items[vikram]["entities"]
    assert items[mark]["assignee"] == {"name": "Mark"}
    assert items[mark]["from"]["name"] == "Customer"
    # The speaker commits themself; a named member, or the listener of a request, is asked.
    assert items["I will send the notes tomorrow."]["assignee"]["name"] == "Ben"
    ben = items["I will send the notes tomorrow."]["from"]
    assert items["Ben, please send me the contract."]["assignee"] == ben
    asked = items["Can you schedule a call with procurement?"]
    assert asked["assignee"] == ben and asked["from"]["name"] == "Ana"
