"""The emulator follows the docs where the first build did not (issue 10, emulator side)."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import aiohttp
import pytest
from _emulator_api import SCALE, TEXT, Api

from symbl_async.core import parse_iso
from symbl_async.emulator import Emulator

SALES = {
    "messages": [
        {
            "payload": {
                "content": "The plan is $69.99 per user. I will send the proposal by Friday."
            },
            "from": {"name": "Ana", "userId": "ana@example.com"},
            "duration": {
                "startTime": "2024-03-06T10:00:00.5Z",
                "endTime": "2024-03-06T10:00:06.25Z",
            },
        },
        {
            "payload": {"content": "Great, we use Salesforce today."},
            "from": {"name": "Ben", "userId": "ben@example.com"},
            "duration": {"startTime": "2024-03-06T10:00:05.99Z", "endTime": "2024-03-06T10:00:09Z"},
        },
    ],
    "detectEntities": True,
    "entities": [{"customType": "CRM", "text": "salesforce", "value": "Salesforce CRM"}],
}


async def authed(session: aiohttp.ClientSession, emu: Emulator) -> Api:
    api = Api(session, emu)
    api.headers["Authorization"] = f"Bearer {await api.token()}"
    return api


@pytest.fixture
async def api(emu: Emulator, session: aiohttp.ClientSession) -> Api:
    return await authed(session, emu)


async def submit_text(api: Api, **extra: Any) -> dict[str, Any]:
    status, body = await api.call("POST", "/v1/process/text", json={**TEXT, **extra})
    assert status == 201, body
    return dict(body)


async def listed(api: Api, **params: str) -> list[str]:
    status, body = await api.call("GET", "/v1/conversations", params=params)
    assert status == 200, body
    return [c["id"] for c in body["conversations"]]


def stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-4] + "Z"


# --- GET /v1/conversations ------------------------------------------------------------------


async def test_list_window_is_the_last_seven_days_by_default(emu: Emulator, api: Api) -> None:
    emu.scheduler.wall_offset = -8 * 86400.0  # submitted 8 days ago
    old = (await submit_text(api, name="old"))["conversationId"]
    emu.scheduler.wall_offset = -6 * 86400.0
    recent = (await submit_text(api, name="recent"))["conversationId"]
    emu.scheduler.wall_offset = 0.0
    new = (await submit_text(api, name="new"))["conversationId"]
    assert await listed(api) == [recent, new]
    assert await listed(api, filter="conversation.name==old") == []
    now = datetime.now(timezone.utc)
    # Two fractional digits, as in the docs' own examples.
    ten_days = stamp(now - timedelta(days=10))
    assert ten_days.count(".") == 1 and len(ten_days.split(".")[1]) == 3
    assert await listed(api, startTime=ten_days) == [old, recent, new]
    assert await listed(api, startTime=ten_days, order="desc") == [new, recent, old]
    seven = stamp(now - timedelta(days=7))
    assert await listed(api, startTime=ten_days, endTime=seven) == [old]
    for params in [
        {"startTime": stamp(now + timedelta(days=1))},
        {"startTime": seven, "endTime": ten_days},
        {"startTime": "last week"},
        {"endTime": "2021-13-01T00:00:00Z"},
    ]:
        status, body = await api.call("GET", "/v1/conversations", params=params)
        assert status == 400 and body["message"], params


async def test_list_default_limit_is_20(api: Api) -> None:
    created = [(await submit_text(api))["conversationId"] for _ in range(23)]
    assert await listed(api) == created[:20]
    assert await listed(api, offset="20") == created[20:]
    assert await listed(api, limit="65536") == created


async def test_wall_clock_offset_config(session: aiohttp.ClientSession) -> None:
    async with Emulator(time_scale=SCALE, wall_clock_offset=-30 * 86400.0) as emu:
        api = await authed(session, emu)
        cid = (await submit_text(api))["conversationId"]
        _, conversation = await api.call("GET", f"/v1/conversations/{cid}")
        started = parse_iso(conversation["startTime"])
        age = datetime.now(timezone.utc) - started
        assert timedelta(days=29) < age < timedelta(days=31)
        assert await listed(api) == [cid]  # "now" moved with it


# --- entities -------------------------------------------------------------------------------


async def completed_text(api: Api, emu: Emulator, body: dict[str, Any]) -> str:
    cid = (await submit_text(api, **body))["conversationId"]
    await asyncio.wait_for(emu.wait_idle(), 5)
    return str(cid)


async def test_entities_current_shape(emu: Emulator, api: Api) -> None:
    cid = await completed_text(api, emu, SALES)
    _, body = await api.call("GET", f"/v1/conversations/{cid}/entities")
    by_type = {e["type"]: e for e in body["entities"]}
    for entity in body["entities"]:
        assert set(entity) == {"id", "type", "subType", "category", "matches"}
        assert entity["category"] in ("Custom", "Managed")
    crm = by_type["CRM"]
    assert crm["category"] == "Custom"
    assert [m["value"] for m in crm["matches"]] == ["Salesforce CRM"]
    assert crm["matches"][0]["messageRefs"][0]["offset"] == len("Great, we use ")
    # "Friday" said on Wednesday 6 March 2024, "today" that same day: resolved ISO days.
    dates = [m["value"] for m in by_type["date"]["matches"]]
    assert dates == ["2024-03-08", "2024-03-06"]
    assert by_type["date"]["category"] == "Managed"
    assert [m["value"] for m in by_type["money"]["matches"]] == ["$69.99"]


async def test_entities_legacy_shape(session: aiohttp.ClientSession) -> None:
    async with Emulator(time_scale=SCALE, entities_shape="legacy") as emu:
        api = await authed(session, emu)
        cid = await completed_text(api, emu, SALES)
        _, body = await api.call("GET", f"/v1/conversations/{cid}/entities")
        custom = [e for e in body["entities"] if e["type"] == "custom"]
        assert [(e["customType"], e["value"], e["text"]) for e in custom] == [
            ("CRM", "Salesforce CRM", "salesforce")
        ]
        dates = {e["text"]: e["value"] for e in body["entities"] if e["type"] == "date"}
        assert dates == {"Friday": "2024-03-08", "today": "2024-03-06"}
        for entity in body["entities"]:
            assert {"type", "value", "text", "messageRefs"} <= set(entity)


async def test_insight_entities_and_overlap_user_ids(emu: Emulator, api: Api) -> None:
    cid = await completed_text(api, emu, SALES)
    _, actions = await api.call("GET", f"/v1/conversations/{cid}/action-items")
    [promise] = actions["actionItems"]
    assert promise["entities"] == [
        {
            "type": "date",
            "text": "Friday",
            "offset": promise["text"].index("Friday"),
            "value": "2024-03-08",
        }
    ]
    assert promise["dueBy"] == "2024-03-08T00:00:00.000Z"
    _, follow = await api.call("GET", f"/v1/conversations/{cid}/follow-ups")
    assert follow["followUps"][0]["entities"] == promise["entities"]
    _, together = await api.call("GET", f"/v1/conversations/{cid}/insights")
    assert {i["type"] for i in together["insights"]} == {"action_item", "follow_up"}
    _, analytics = await api.call("GET", f"/v1/conversations/{cid}/analytics")
    ana = next(m for m in analytics["members"] if m["name"] == "Ana")
    [ben] = ana["overlap"]["overlappingMembers"]
    assert ben["userId"] == "ben@example.com" and ben["seconds"] > 0


async def test_next_week_is_a_range(emu: Emulator, api: Api) -> None:
    body = {
        "messages": [
            {
                "payload": {"content": "Let's schedule the demo next week."},
                "duration": {
                    "startTime": "2024-03-06T10:00:00Z",
                    "endTime": "2024-03-06T10:00:03Z",
                },
            }
        ]
    }
    cid = await completed_text(api, emu, body)
    _, actions = await api.call("GET", f"/v1/conversations/{cid}/action-items")
    [item] = actions["actionItems"]
    assert item["entities"] == [
        {
            "type": "daterange",
            "text": "next week",
            "offset": item["text"].index("next week"),
            "start": "2024-03-11 00:00:00",
            "end": "2024-03-17 23:59:59",
        }
    ]


# --- summary, metadata, delete ---------------------------------------------------------------


async def test_summary_on_demand_404_while_running_and_refresh(
    session: aiohttp.ClientSession,
) -> None:
    async with Emulator(time_scale=SCALE, queue_delay=10**6) as emu:  # jobs wait for ever
        api = await authed(session, emu)
        cid = (await submit_text(api))["conversationId"]
        status, body = await api.call("GET", f"/v1/conversations/{cid}/summary")
        assert status == 404 and "in progress" in body["message"]
    async with Emulator(time_scale=SCALE) as emu:
        api = await authed(session, emu)
        cid = await completed_text(api, emu, {})  # no enableSummary
        path = f"/v1/conversations/{cid}/summary"
        _, first = await api.call("GET", path)
        assert first["summary"] and all(
            set(item) == {"id", "text", "messageRefs"} for item in first["summary"]
        )
        more = {"messages": [{"payload": {"content": "Pricing and onboarding are agreed."}}]}
        status, _ = await api.call("PUT", f"/v1/process/text/{cid}", json=more)
        assert status == 201
        await asyncio.wait_for(emu.wait_idle(), 5)
        assert (await api.call("GET", path))[1] == first  # kept until refreshed
        _, refreshed = await api.call("GET", path, params={"refresh": "true"})
        assert refreshed != first


async def test_metadata_at_submit_and_put(emu: Emulator, api: Api) -> None:
    cid = (await submit_text(api, metadata={"agentId": "johndoe"}))["conversationId"]
    _, conversation = await api.call("GET", f"/v1/conversations/{cid}")
    assert conversation["metadata"] == {"agentId": "johndoe"}
    status, body = await api.call(
        "PUT", f"/v1/conversations/{cid}", json={"metadata": {"key": "value"}}
    )
    assert (status, body) == (200, {"id": cid, "metadata": {"agentId": "johndoe", "key": "value"}})
    _, conversation = await api.call("GET", f"/v1/conversations/{cid}")
    assert conversation["metadata"] == {"agentId": "johndoe", "key": "value"}
    for bad in [{}, {"metadata": "x"}, {"metadata": [1]}]:
        status, body = await api.call("PUT", f"/v1/conversations/{cid}", json=bad)
        assert status == 400 and "metadata" in body["message"]
    status, _ = await api.call("PUT", "/v1/conversations/123", json={"metadata": {}})
    assert status == 404
    status, body = await api.call("POST", "/v1/process/text", json={**TEXT, "metadata": "x"})
    assert status == 400 and "metadata" in body["message"]


async def test_delete_messages(api: Api) -> None:
    cid = (await submit_text(api))["conversationId"]
    status, body = await api.call("DELETE", f"/v1/conversations/{cid}")
    assert (status, body) == (200, {"message": "successfully deleted the conversation"})
    status, body = await api.call("DELETE", f"/v1/conversations/{cid}")
    assert (status, body) == (
        404,
        {"message": "The conversationId is either invalid or does not exist."},
    )


# --- requests the service refuses ----------------------------------------------------------


async def test_json_submit_declared_as_text_plain_is_refused(api: Api) -> None:
    for path, body in [
        ("/v1/process/text", TEXT),
        ("/v1/process/audio/url", {"url": "https://m.test/a.mp3"}),
        ("/v1/process/video/url", {"url": "https://m.test/a.mp4"}),
    ]:
        status, answer = await api.call(
            "POST", path, data=json.dumps(body), headers={"Content-Type": "text/plain"}
        )
        assert status == 400 and "application/json" in answer["message"], path
        status, _ = await api.call(
            "POST", path, data=json.dumps(body), headers={"Content-Type": "application/json"}
        )
        assert status == 201, path


async def test_bearer_is_case_sensitive(api: Api) -> None:
    token = api.headers.pop("Authorization").split(" ", 1)[1]
    for scheme in ("bearer", "BEARER"):
        status, body = await api.call(
            "GET", "/v1/conversations", headers={"Authorization": f"{scheme} {token}"}
        )
        assert status == 401 and body["message"] == "Token validation failed for provided token."
    status, _ = await api.call(
        "GET", "/v1/conversations", headers={"Authorization": f"Bearer {token}"}
    )
    assert status == 200


async def test_text_times_with_two_fractional_digits(emu: Emulator, api: Api) -> None:
    cid = await completed_text(api, emu, SALES)
    _, messages = await api.call("GET", f"/v1/conversations/{cid}/messages")
    starts = [m["startTime"] for m in messages["messages"]]
    assert starts == ["2024-03-06T10:00:00.500Z", "2024-03-06T10:00:05.990Z"]

