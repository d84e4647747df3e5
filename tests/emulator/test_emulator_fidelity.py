"""The emulator follows the docs where the first build did not (issue 10, emulator side)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any

import aiohttp
import pytest
from test_emulator import SCALE, TEXT, Api

from symbl_async.emulator import Emulator
from symbl_async.emulator.isotime import parse_iso


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def authed(session: aiohttp.ClientSession, emu: Emulator) -> Api:
    api = Api(session, emu)
    api.headers["Authorization"] = f"Bearer {await api.token()}"
    return api


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(time_scale=SCALE) as e:
        yield e


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
    emu.engine.wall_offset = -8 * 86400.0  # submitted 8 days ago
    old = (await submit_text(api, name="old"))["conversationId"]
    emu.engine.wall_offset = -6 * 86400.0
    recent = (await submit_text(api, name="recent"))["conversationId"]
    emu.engine.wall_offset = 0.0
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
