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


# --- Frequently Asked Questions: "If the Diarization feature is set to true, it will take
# priority over Speaker recognition per Channel" -----------------------------------------


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


# --- POST Audio URL API / POST Video URL API: "we do not support any redirected links, shortened
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


# --- PUT Speaker Events: "Once the API completes the processing the results are reflected
# for the Messages and Insights in the conversation" -------------------------------------------

# The docs' own request body: Derek speaks from 5 s to 20 s, Richard from 15 s to 25 s
# (their nanos, 5000000000, are 5 s).
DEREK = {
    "id": "4194eb50-357d-4712-a02d-94215ead1064",
    "name": "Derek",
    "email": "Derek@example.com",
}
RICHARD = {
    "id": "4194eb50-357d-4712-a02d-94215ead2104",
    "name": "Richard",
    "email": "Richard@example.com",
}
SPEAKER_EVENTS = [
    {"type": kind, "user": user, "offset": {"seconds": seconds, "nanos": 5000000000}}
    for kind, user, seconds in [
        ("started_speaking", DEREK, 0),
        ("stopped_speaking", DEREK, 15),
        ("started_speaking", RICHARD, 10),
        ("stopped_speaking", RICHARD, 20),
    ]
]


def timed(name: str, text: str, start: int, end: int) -> dict[str, Any]:
    return {
        "payload": {"content": text},
        "from": {"name": name},
        "duration": {
            "startTime": f"2024-03-01T10:00:{start:02d}Z",
            "endTime": f"2024-03-01T10:00:{end:02d}Z",
        },
    }


async def test_speaker_events_reattribute_messages_and_insights(api: Api, emu: Emulator) -> None:
    # Offsets count from the conversation's start: timed text starts it at its first message.
    messages = [
        timed("Speaker 2", "Hello everyone.", 0, 3),  # nobody's turn: stays
        timed("Speaker 1", "Can you send the pricing proposal?", 6, 10),  # Derek's turn
        timed("Speaker 1", "I will send the pricing proposal by Friday.", 21, 24),  # Richard's
        timed("Speaker 2", "Thanks, talk soon.", 30, 33),  # nobody's turn: stays
    ]
    conversation_id = await completed(api, emu, "/v1/process/text", {"messages": messages})
    base = f"/v1/conversations/{conversation_id}"
    assert await member_names(api, conversation_id) == {"Speaker 1", "Speaker 2"}

    events = {"speakerEvents": SPEAKER_EVENTS}
    status, body = await api.call("PUT", base + "/speakers", json=events)
    assert status == 200 and conversation_id in body["message"]

    _, body = await api.call("GET", base + "/messages")
    said_by = [m["from"] for m in body["messages"]]
    assert [m["name"] for m in said_by] == ["Speaker 2", "Derek", "Richard", "Speaker 2"]
    for member, user in zip(said_by[1:3], (DEREK, RICHARD), strict=True):
        assert member == {"id": user["id"], "name": user["name"], "email": user["email"]}
    # "Speaker 1" said nothing any more: no longer a member.
    assert await member_names(api, conversation_id) == {"Derek", "Richard", "Speaker 2"}

    _, body = await api.call("GET", base + "/questions")
    assert [q["from"]["name"] for q in body["questions"]] == ["Derek"]
    _, body = await api.call("GET", base + "/action-items")
    items = {item["text"]: item for item in body["actionItems"]}
    request = items["Can you send the pricing proposal?"]  # asked of the one before
    assert (request["from"]["name"], request["assignee"]["name"]) == ("Derek", "Speaker 2")
    promise = items["I will send the pricing proposal by Friday."]
    assert promise["from"]["id"] == promise["assignee"]["id"] == RICHARD["id"]
    _, body = await api.call("GET", base + "/analytics")
    assert {m["name"] for m in body["members"]} == {"Derek", "Richard", "Speaker 2"}

    # New events replace the old: Nina speaks from 8 s on (2 s of Derek's 4 s message).
    nina = {"type": "started_speaking", "user": {"name": "Nina"}, "offset": {"seconds": 8}}
    status, _ = await api.call("PUT", base + "/speakers", json={"speakerEvents": [nina]})
    assert status == 200
    _, body = await api.call("GET", base + "/messages")
    assert [m["from"]["name"] for m in body["messages"]] == ["Speaker 2", "Nina", "Nina", "Nina"]
    assert await member_names(api, conversation_id) == {"Nina", "Speaker 2"}


async def test_speaker_events_are_checked(api: Api, emu: Emulator) -> None:
    text = {"messages": [said("A", "Hi.")]}
    conversation_id = await completed(api, emu, "/v1/process/text", text)
    path = f"/v1/conversations/{conversation_id}/speakers"
    event = SPEAKER_EVENTS[0]
    bad: list[tuple[object, str]] = [
        ("no", "speakerEvents"),
        ([{**event, "type": "spoke"}], "speakerEvents[0].type"),
        ([{**event, "user": {"email": "x@y.test"}}], "speakerEvents[0].user"),
        ([event, {**event, "offset": {"seconds": -1}}], "speakerEvents[1].offset.seconds"),
        ([{**event, "offset": 5}], "speakerEvents[0].offset"),
    ]
    for events, field in bad:
        status, body = await api.call("PUT", path, json={"speakerEvents": events})
        assert status == 400 and body["message"].startswith(field), (events, body)
    assert await member_names(api, conversation_id) == {"A"}


async def test_speaker_events_cover_what_is_appended_later(api: Api, emu: Emulator) -> None:
    text = {"messages": [timed("Speaker 1", "Hello everyone.", 0, 3)]}
    conversation_id = await completed(api, emu, "/v1/process/text", text)
    nina = {"type": "started_speaking", "user": {"name": "Nina"}, "offset": {"seconds": 3}}
    path = f"/v1/conversations/{conversation_id}"
    status, _ = await api.call("PUT", path + "/speakers", json={"speakerEvents": [nina]})
    assert status == 200
    assert await member_names(api, conversation_id) == {"Speaker 1"}  # Nina said nothing yet

    # Appended after the first job's 3 s: inside Nina's turn, which never stopped.
    appended = {"messages": [said("Speaker 1", "I will send the notes.")]}
    status, _ = await api.call("PUT", f"/v1/process/text/{conversation_id}", json=appended)
    assert status == 201
    await asyncio.wait_for(emu.wait_idle(), 5)
    _, body = await api.call("GET", path + "/messages")
    assert [m["from"]["name"] for m in body["messages"]] == ["Speaker 1", "Nina"]


# --- POST Formatted Transcript: "highlightAllKeyPhrases - Will generate highlighting syntax
# according to the contentType only for the key phrases detected for all the entities (both
# Insights and Messages)"; "The highlighted text is present in the response structure with
# <mark> tags" ------------------------------------------------------------------------------

PRICING = "Let us talk about the pricing of your accounting software."
MARKED = "Let us <mark>talk about the pricing of your accounting software</mark>."  # the docs'


async def transcript(api: Api, conversation_id: str, **body: Any) -> str:
    path = f"/v1/conversations/{conversation_id}/transcript"
    status, answer = await api.call("POST", path, json={"contentType": "text/markdown", **body})
    assert status == 200, answer
    return str(answer["transcript"]["payload"])


async def test_transcript_marks_key_phrases(api: Api, emu: Emulator) -> None:
    messages = [said("Speaker 1", "Good morning."), said("Speaker 1", PRICING)]
    conversation_id = await completed(api, emu, "/v1/process/text", {"messages": messages})
    every = {"highlightAllKeyPhrases": True}
    insights_only = {"highlightOnlyInsightKeyPhrases": True}

    assert "<mark>" not in await transcript(api, conversation_id)
    assert MARKED in await transcript(api, conversation_id, phrases=every)
    assert MARKED in await transcript(api, conversation_id, phrases=insights_only)
    plain = await transcript(api, conversation_id, phrases=every, showSpeakerSeparation=False)
    assert plain == f"Good morning.\n\n{MARKED}\n"
    path = f"/v1/conversations/{conversation_id}/transcript"
    srt = {"contentType": "text/srt", "phrases": every}  # highlighting is Markdown's
    status, answer = await api.call("POST", path, json=srt)
    assert status == 200 and "<mark>" not in answer["transcript"]["payload"]
    wrong = {"contentType": "text/markdown", "phrases": {"highlightAllKeyPhrases": "yes"}}
    status, answer = await api.call("POST", path, json=wrong)
    assert status == 400 and "phrases" in answer["message"]


async def test_message_key_phrases_need_detect_phrases(api: Api, emu: Emulator) -> None:
    # No insight passes a threshold of 1.0: only the messages' phrases are left to mark.
    text = {"messages": [said("A", PRICING)], "confidenceThreshold": 1.0}
    bare = await completed(api, emu, "/v1/process/text", text)
    detected = await completed(api, emu, "/v1/process/text", {**text, "detectPhrases": True})

    every = {"highlightAllKeyPhrases": True}
    assert MARKED in await transcript(api, detected, phrases=every)
    assert "<mark>" not in await transcript(api, bare, phrases=every)
    insights_only = {"highlightOnlyInsightKeyPhrases": True}
    assert "<mark>" not in await transcript(api, detected, phrases=insights_only)
