"""The emulator's Conversation API over real HTTP: shapes, content rules, determinism, listing."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from symbl_async.emulator import Emulator
from symbl_async.emulator._rsql import parse_filter

SCALE = 10_000.0
NOT_FOUND = {
    "message": "The conversation and/or it's metadata you asked could not be found, "
    "please check the input provided"
}
MESSAGES = [
    {
        "payload": {
            "content": "Hi Ben, can you send me the pricing proposal?",
            "contentType": "text/plain",
        },
        "from": {"name": "Ana", "userId": "ana@example.com"},
        "duration": {
            "startTime": "2024-03-01T10:00:00.000Z",
            "endTime": "2024-03-01T10:00:04.000Z",
        },
    },
    {
        "payload": {
            "content": "Sure. I will send the pricing proposal by Friday. "
            "The Salesforce integration is great."
        },
        "from": {"name": "Ben", "userId": "ben@example.com"},
        "duration": {
            "startTime": "2024-03-01T10:00:03.000Z",
            "endTime": "2024-03-01T10:00:10.000Z",
        },
    },
    {
        "payload": {
            "content": "Let's schedule a demo next week. The pricing costs $49.99 per user."
        },
        "from": {"name": "Ana", "userId": "ana@example.com"},
        "duration": {
            "startTime": "2024-03-01T10:00:12.000Z",
            "endTime": "2024-03-01T10:00:18.000Z",
        },
    },
]

MESSAGE_KEYS = {"id", "text", "from", "startTime", "endTime", "timeOffset", "duration"}
MESSAGE_KEYS |= {"conversationId", "phrases"}
ACTION_KEYS = {"id", "text", "type", "score", "messageIds", "entities", "definitive", "phrases"}
ACTION_KEYS |= {"assignee", "from", "dueBy"}
GET_ROUTES = ["messages", "topics", "questions", "action-items", "follow-ups", "members"]
GET_ROUTES += ["analytics", "entities", "trackers-detected", "trackers", "summary", "insights"]


class Api:
    """``(status, JSON)`` calls against the emulator with a valid token."""

    def __init__(self, session: aiohttp.ClientSession, emulator: Emulator) -> None:
        self.session, self.emulator = session, emulator
        self.headers: dict[str, str] = {}

    async def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        url = self.emulator.url + path
        headers = {**self.headers, **kwargs.pop("headers", {})}
        async with self.session.request(method, url, headers=headers, **kwargs) as response:
            return response.status, await response.json()

    async def get(self, path: str, **params: str) -> Any:
        status, body = await self.call("GET", path, params=params)
        assert status == 200, body
        return body

    async def submit(self, path: str, body: dict[str, Any]) -> str:
        status, answer = await self.call("POST", path, json=body)
        assert status == 201, answer
        await asyncio.wait_for(self.emulator.wait_idle(), 5)
        return str(answer["conversationId"])


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    async with Emulator(time_scale=SCALE) as emu, aiohttp.ClientSession() as session:
        client = Api(session, emu)
        _, token = await client.call(
            "POST",
            "/oauth2/token:generate",
            json={"type": "application", "appId": emu.app_id, "appSecret": emu.app_secret},
        )
        client.headers["Authorization"] = f"Bearer {token['accessToken']}"
        yield client


@pytest.fixture
async def text_cid(api: Api) -> str:
    return await api.submit(
        "/v1/process/text",
        {
            "messages": MESSAGES,
            "name": "Pricing call",
            "detectPhrases": True,
            "detectEntities": True,
            "entities": [
                {"customType": "CRM", "text": "salesforce"},
                {"customType": "X", "text": "absent"},
            ],
            "trackers": [
                {"name": "Pricing", "vocabulary": ["pricing proposal", "special promotion"]}
            ],
        },
    )


async def test_conversation(api: Api, text_cid: str) -> None:
    body = await api.get(f"/v1/conversations/{text_cid}")
    assert set(body) == {"id", "type", "name", "startTime", "endTime", "members", "metadata"}
    assert (body["id"], body["type"], body["name"]) == (text_cid, "meeting", "Pricing call")
    assert body["startTime"] == "2024-03-01T10:00:00.000Z"  # timed text sets the clock
    assert body["endTime"] == "2024-03-01T10:00:18.000Z"
    assert [(m["name"], m["email"]) for m in body["members"]] == [
        ("Ana", "ana@example.com"),
        ("Ben", "ben@example.com"),
    ]


async def test_name_defaults_to_conversation_id(api: Api) -> None:
    cid = await api.submit("/v1/process/text", {"messages": MESSAGES[:1]})
    assert (await api.get(f"/v1/conversations/{cid}"))["name"] == cid


async def test_messages(api: Api, text_cid: str) -> None:
    plain = (await api.get(f"/v1/conversations/{text_cid}/messages"))["messages"]
    assert [m["text"] for m in plain] == [m["payload"]["content"] for m in MESSAGES]
    first = plain[0]
    assert set(first) == MESSAGE_KEYS
    assert first["from"] == {"id": first["from"]["id"], "name": "Ana", "email": "ana@example.com"}
    assert (first["timeOffset"], first["duration"], first["conversationId"]) == (0.0, 4.0, text_cid)
    assert plain[2]["timeOffset"] == 12.0
    assert plain[1]["phrases"] == [
        {"type": "action_phrase", "text": "send the pricing proposal by Friday"}
    ]

    rich = await api.get(f"/v1/conversations/{text_cid}/messages", verbose="true", sentiment="true")
    message = rich["messages"][1]
    assert message["sentiment"]["suggested"] in {"positive", "neutral", "negative"}
    assert -1 <= message["sentiment"]["polarity"]["score"] <= 1
    words = message["words"]
    assert [w["word"] for w in words] == MESSAGES[1]["payload"]["content"].split()
    # Submitted text has no confidence scores (seeds/003).
    assert set(words[0]) == {"word", "startTime", "endTime", "timeOffset", "duration"}
    assert words[0]["startTime"] == message["startTime"]
    assert words[-1]["endTime"] == message["endTime"]


async def test_speech_words_have_scores_and_phrases_need_detect_phrases(api: Api) -> None:
    cid = await api.submit(
        "/v1/process/audio/url", {"url": "https://m.test/a.wav?emulator_duration=300"}
    )
    messages = (await api.get(f"/v1/conversations/{cid}/messages", verbose="true"))["messages"]
    assert len(messages) > 10
    assert all(0 < w["score"] <= 1 for m in messages for w in m["words"])
    assert all(m["phrases"] == [] for m in messages)
    assert 2 <= len({m["from"]["name"] for m in messages}) <= 4
    starts = [m["timeOffset"] for m in messages]
    assert starts == sorted(starts) and starts[-1] < 300


async def test_insights(api: Api, text_cid: str) -> None:
    base = f"/v1/conversations/{text_cid}"
    questions = (await api.get(base + "/questions"))["questions"]
    assert [q["text"] for q in questions] == ["Hi Ben, can you send me the pricing proposal?"]
    assert set(questions[0]) == {"id", "text", "type", "score", "messageIds", "from"}
    assert questions[0]["type"] == "question" and questions[0]["from"]["name"] == "Ana"

    actions = (await api.get(base + "/action-items"))["actionItems"]
    texts = [a["text"] for a in actions]
    assert "I will send the pricing proposal by Friday." in texts
    assert "Let's schedule a demo next week." in texts
    promise = actions[texts.index("I will send the pricing proposal by Friday.")]
    assert set(promise) >= ACTION_KEYS
    assert promise["definitive"] is True and promise["assignee"]["name"] == "Ben"
    assert promise["dueBy"] == "2024-03-08T00:00:00.000Z"  # the Friday after Friday 1 March

    follow_ups = (await api.get(base + "/follow-ups"))["followUps"]
    assert follow_ups and all(f["type"] == "follow_up" for f in follow_ups)

    together = (await api.get(base + "/insights"))["insights"]
    assert {i["type"] for i in together} == {"question", "action_item", "follow_up"}
    assert len(together) == len(questions) + len(actions) + len(follow_ups)


async def test_topics(api: Api, text_cid: str) -> None:
    base = f"/v1/conversations/{text_cid}/topics"
    topics = (await api.get(base))["topics"]
    texts = [t["text"] for t in topics]
    assert "pricing" in texts and "pricing proposal" in texts
    assert set(topics[0]) == {"id", "text", "type", "score", "messageIds", "entities"}
    detailed = (await api.get(base, sentiment="true", parentRefs="true"))["topics"]
    by_text = {t["text"]: t for t in detailed}
    assert {"type": "topic", "text": "pricing"} in by_text["pricing proposal"]["parentRefs"]
    assert by_text["pricing"]["parentRefs"] == []
    assert "suggested" in by_text["pricing"]["sentiment"]


async def test_members_and_updates(api: Api, text_cid: str) -> None:
    base = f"/v1/conversations/{text_cid}"
    members = (await api.get(base + "/members"))["members"]
    ana = next(m for m in members if m["name"] == "Ana")
    status, body = await api.call(
        "PUT",
        f"{base}/members/{ana['id']}",
        json={"id": ana["id"], "name": "Ana Lima", "email": "al@x.test"},
    )
    assert status == 200 and "updated successfully" in body["message"]
    messages = (await api.get(base + "/messages"))["messages"]
    assert messages[0]["from"]["name"] == "Ana Lima" and messages[0]["from"]["email"] == "al@x.test"
    assert (await api.get(base + "/questions"))["questions"][0]["from"]["name"] == "Ana Lima"

    assert (await api.call("PUT", f"{base}/members/nope", json={"name": "x"}))[0] == 404
    mismatch = {"id": "other", "name": "x"}
    assert (await api.call("PUT", f"{base}/members/{ana['id']}", json=mismatch))[0] == 400
    assert (await api.call("PUT", f"{base}/members/{ana['id']}", json={}))[0] == 400

    events = [
        {"type": "started_speaking", "user": {"name": "Ana"}, "offset": {"seconds": 1, "nanos": 0}}
    ]
    status, body = await api.call("PUT", f"{base}/speakers", json={"speakerEvents": events})
    assert status == 200 and text_cid in body["message"]
    assert (await api.call("PUT", f"{base}/speakers", json={"speakerEvents": "no"}))[0] == 400


async def test_analytics(api: Api, text_cid: str) -> None:
    body = await api.get(f"/v1/conversations/{text_cid}/analytics")
    metrics = {m["type"]: m for m in body["metrics"]}
    assert set(metrics) == {"total_silence", "total_talk_time", "total_overlap"}
    # Ana speaks 0-4 and 12-18, Ben 3-10: talk 0-10 and 12-18 (16 s), 1 s overlap, 2 s silence.
    assert metrics["total_talk_time"]["seconds"] == pytest.approx(16.0)
    assert metrics["total_silence"]["seconds"] == pytest.approx(2.0)
    assert metrics["total_overlap"]["seconds"] == pytest.approx(1.0)
    members = {m["name"]: m for m in body["members"]}
    ana, ben = members["Ana"], members["Ben"]
    assert set(ana) >= {"id", "name", "pace", "talkTime", "listenTime", "overlap"}
    assert ana["talkTime"]["seconds"] == pytest.approx(10.0)
    assert ben["talkTime"]["seconds"] == pytest.approx(7.0)
    assert ana["listenTime"]["seconds"] == pytest.approx(6.0)
    assert ana["overlap"]["overlapDuration"] == pytest.approx(1.0)
    assert ana["overlap"]["overlappingMembers"][0]["name"] == "Ben"
    assert ana["pace"]["wpm"] == round((9 + 12) / (10 / 60))


async def test_entities_and_trackers(api: Api, text_cid: str) -> None:
    base = f"/v1/conversations/{text_cid}"
    entities = (await api.get(base + "/entities"))["entities"]  # the current docs' shape
    custom = [e for e in entities if e["category"] == "Custom"]
    assert [(e["type"], [m["value"] for m in e["matches"]]) for e in custom] == [
        ("CRM", ["salesforce"])
    ]
    assert custom[0]["matches"][0]["messageRefs"][0]["text"].startswith("Sure.")
    managed = {e["type"]: e for e in entities if e["category"] == "Managed"}
    assert {"money", "date"} <= set(managed)
    assert "$49.99" in [m["value"] for m in managed["money"]["matches"]]

    detected = await api.get(base + "/trackers-detected")
    assert detected == await api.get(base + "/trackers")
    assert [t["name"] for t in detected] == ["Pricing"]
    (match,) = detected[0]["matches"]
    assert match["value"] == "pricing proposal" and len(match["messageRefs"]) == 2
    assert set(match) == {"type", "value", "messageRefs", "insightRefs"}

    plain = await api.submit("/v1/process/text", {"messages": MESSAGES})
    entities = (await api.get(f"/v1/conversations/{plain}/entities"))["entities"]
    assert entities == []  # neither custom entities nor detectEntities
    assert await api.get(f"/v1/conversations/{plain}/trackers-detected") == []


async def test_summary(api: Api, text_cid: str) -> None:
    base = f"/v1/conversations/{text_cid}/summary"
    generated = (await api.get(base))["summary"]  # no enableSummary needed
    assert generated and set(generated[0]) == {"id", "text", "messageRefs"}
    assert (await api.get(base, refresh="true"))["summary"] == generated
    enabled = await api.submit("/v1/process/text", {"messages": MESSAGES, "enableSummary": True})
    assert (await api.get(f"/v1/conversations/{enabled}/summary"))["summary"]


async def test_transcript(api: Api, text_cid: str) -> None:
    path = f"/v1/conversations/{text_cid}/transcript"
    status, body = await api.call("POST", path, json={"contentType": "text/markdown"})
    assert status == 200 and body["transcript"]["contentType"] == "text/markdown"
    assert body["transcript"]["payload"].startswith("**Ana** (00:00:00): Hi Ben")
    status, body = await api.call("POST", path, json={"contentType": "text/srt"})
    srt = body["transcript"]["payload"]
    assert srt.startswith("1\n00:00:00,000 --> 00:00:04,000\nAna: Hi Ben")
    assert "3\n00:00:12,000 --> 00:00:18,000\n" in srt
    status, body = await api.call("POST", path, json={"contentType": "application/pdf"})
    assert status == 400 and "contentType" in body["message"]


async def test_unknown_conversation_on_every_route(api: Api) -> None:
    base = "/v1/conversations/1111222233334444"
    calls: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "", {}),
        ("DELETE", "", {}),
        *[("GET", f"/{route}", {}) for route in GET_ROUTES],
        ("PUT", "/members/abc", {"json": {"name": "x"}}),
        ("PUT", "/speakers", {"json": {"speakerEvents": []}}),
        ("POST", "/transcript", {"json": {"contentType": "text/srt"}}),
    ]
    for method, path, kwargs in calls:
        expected = DELETE_NOT_FOUND if method == "DELETE" else NOT_FOUND
        assert await api.call(method, base + path, **kwargs) == (404, expected), path


async def test_delete(api: Api, text_cid: str) -> None:
    status, body = await api.call("DELETE", f"/v1/conversations/{text_cid}")
    assert (status, body) == (200, {"message": "successfully deleted the conversation"})
    assert (await api.call("GET", f"/v1/conversations/{text_cid}"))[0] == 404
    status, _ = await api.call("PUT", f"/v1/process/text/{text_cid}", json={"messages": MESSAGES})
    assert status == 404


DELETE_NOT_FOUND = {"message": "The conversationId is either invalid or does not exist."}


def insight_texts(body: dict[str, Any]) -> Any:
    """Everything but ids, conversation ids and times: what must repeat for the same input."""
    drop = {"id", "conversationId", "messageIds", "startTime", "endTime", "dueBy", "messageRefs"}

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in drop}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return strip(body)


@pytest.mark.parametrize(
    "submit",
    [
        ("/v1/process/video/url", {"url": "https://m.test/same.mp4?emulator_duration=240"}),
        ("/v1/process/text", {"messages": MESSAGES}),
    ],
)
async def test_same_input_same_insights(api: Api, submit: tuple[str, dict[str, Any]]) -> None:
    first = await api.submit(*submit)
    second = await api.submit(*submit)
    assert first != second
    for route in [
        "messages?verbose=true&sentiment=true",
        *GET_ROUTES[1:5],
        "analytics",
        "insights",
    ]:
        a = await api.get(f"/v1/conversations/{first}/{route}")
        b = await api.get(f"/v1/conversations/{second}/{route}")
        assert insight_texts(a) == insight_texts(b), route
    other = await api.submit(
        "/v1/process/video/url", {"url": "https://m.test/other.mp4?emulator_duration=240"}
    )
    if submit[0].endswith("url"):
        a = await api.get(f"/v1/conversations/{first}/messages")
        c = await api.get(f"/v1/conversations/{other}/messages")
        assert insight_texts(a) != insight_texts(c)


async def test_same_upload_same_transcript(api: Api) -> None:
    import io
    import wave

    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(bytes(range(256)) * 2000)
    cids = []
    for _ in range(2):
        status, body = await api.call(
            "POST", "/v1/process/audio", data=buf.getvalue(), headers={"Content-Type": "audio/wav"}
        )
        assert status == 201
        cids.append(body["conversationId"])
    await asyncio.wait_for(api.emulator.wait_idle(), 5)
    a, b = [await api.get(f"/v1/conversations/{cid}/messages") for cid in cids]
    assert a["messages"] and insight_texts(a) == insight_texts(b)


async def test_insights_only_from_completed_jobs(api: Api) -> None:
    async with Emulator(processing_overhead=10**6) as slow:
        api.emulator, fast = slow, api.emulator
        try:
            _, token = await api.call(
                "POST",
                "/oauth2/token:generate",
                json={"type": "application", "appId": slow.app_id, "appSecret": slow.app_secret},
            )
            api.headers["Authorization"] = f"Bearer {token['accessToken']}"
            status, body = await api.call("POST", "/v1/process/text", json={"messages": MESSAGES})
            assert status == 201
            cid = body["conversationId"]
            assert (await api.get(f"/v1/conversations/{cid}"))["members"] == []
            assert await api.get(f"/v1/conversations/{cid}/messages") == {"messages": []}
            assert await api.get(f"/v1/conversations/{cid}/questions") == {"questions": []}
        finally:
            api.emulator = fast


async def test_appended_messages_follow_existing_ones(api: Api, text_cid: str) -> None:
    status, _ = await api.call(
        "PUT",
        f"/v1/process/audio/url/{text_cid}",
        json={"url": "https://m.test/more.wav?emulator_duration=60"},
    )
    assert status == 201
    await asyncio.wait_for(api.emulator.wait_idle(), 5)
    messages = (await api.get(f"/v1/conversations/{text_cid}/messages"))["messages"]
    assert [m["text"] for m in messages[:3]] == [m["payload"]["content"] for m in MESSAGES]
    assert len(messages) > 3 and all(m["timeOffset"] >= 18.0 for m in messages[3:])
    end = (await api.get(f"/v1/conversations/{text_cid}"))["endTime"]
    assert end == "2024-03-01T10:01:18.000Z"


async def test_list_filter_sort_and_paging(api: Api) -> None:
    names = ["alpha", "beta 'quoted'", "gamma", "alpha"]
    cids = [
        await api.submit("/v1/process/text", {"messages": MESSAGES[:1], "name": n}) for n in names
    ]

    async def listed(**params: str) -> list[str]:
        return [c["id"] for c in (await api.get("/v1/conversations", **params))["conversations"]]

    assert await listed(filter="conversation.name==alpha") == [cids[0], cids[3]]  # oldest first
    assert await listed(filter="conversation.name==alpha", order="desc") == [cids[3], cids[0]]
    assert await listed(filter="conversation.name=='alpha'") == [cids[0], cids[3]]
    assert await listed(filter="conversation.name==\"beta 'quoted'\"") == [cids[1]]
    assert await listed(filter="conversation.name!=alpha;name==g*") == [cids[2]]
    assert await listed(filter="conversation.name==nobody") == []
    assert await listed(sort="conversation.startTime") == cids
    assert await listed(sort="conversation.startTime", order="desc") == cids[::-1]
    assert await listed(limit="2", offset="1") == cids[1:3]
    assert await listed(limit="0") == []
    assert await listed(sort="conversation.name") == [cids[0], cids[3], cids[1], cids[2]]
    everything = (await api.get("/v1/conversations"))["conversations"]
    assert len(everything) == 4 and set(everything[0]) >= {"id", "type", "name", "startTime"}
    for params in [
        {"filter": "name=="},
        {"filter": "size==3"},
        {"filter": "(name==a"},
        {"filter": "name==gamma,name==beta*"},  # no OR
        {"filter": "name==a;id==1;type==meeting"},  # at most two fields
        {"limit": "-1"},
        {"limit": "65537"},
        {"offset": "-1"},
        {"limit": "x"},
        {"sort": "color"},
        {"sort": "conversation.startTime,desc"},  # the direction is order's
        {"sort": "-startTime"},
        {"order": "up"},
    ]:
        status, body = await api.call("GET", "/v1/conversations", params=params)
        assert status == 400 and body["message"], params


def test_rsql_parser() -> None:
    row = {"name": "Q3 review (final)", "id": "42", "type": "meeting"}
    assert parse_filter("conversation.name=='Q3 review (final)'")(row)
    assert parse_filter("name==Q3*")(row)
    assert parse_filter("(name==x,id==42);type==meeting")(row)
    assert not parse_filter("name==x,id!=42")(row)
    assert parse_filter(r"name=='it\'s'")({"name": "it's"})
    literal_question_mark = parse_filter("name==a?b")
    assert literal_question_mark({"name": "a?b"}) and not literal_question_mark({"name": "axb"})
    for bad in ["", "name", "name=~x", "name=='open", "name==x)", "color==red"]:
        with pytest.raises(ValueError):
            parse_filter(bad)


async def test_messages_are_json_serialisable_samples(api: Api) -> None:
    cid = await api.submit(
        "/v1/process/video/url", {"url": "https://m.test/v.mp4?emulator_duration=90"}
    )
    body = await api.get(f"/v1/conversations/{cid}/messages", verbose="true", sentiment="true")
    for message in body["messages"]:
        assert re.fullmatch(r"[1-9]\d{15}", message["id"])
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", message["startTime"])
    json.dumps(body)
