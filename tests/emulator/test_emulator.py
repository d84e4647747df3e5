"""The emulator over real HTTP: auth, the ten submit endpoints, validation, jobs, limits, stats.

Every test talks to a real ``Emulator`` on 127.0.0.1 through aiohttp. Jobs run
10,000x faster than the real service; waits are event-driven (``wait_idle``) or
poll with a deadline, never fixed sleeps.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from _emulator_api import (
    MP4,
    MP4_TYPE,
    NOT_FOUND,
    TEXT,
    TOKEN_FAILED,
    WAV_TYPE,
    Api,
    wav,
)
from _polling import eventually

from symbl_async.emulator import Emulator

# --- auth --------------------------------------------------------------------------------


async def test_token_is_reused_while_valid(session: aiohttp.ClientSession) -> None:
    async with Emulator(credentials={"app-1": "s", "app-2": "s"}) as emu:
        await _token_reuse(emu, session)


async def _token_reuse(emu: Emulator, session: aiohttp.ClientSession) -> None:
    api = Api(session, emu)
    body = {"type": "application", "appId": "app-1", "appSecret": "s"}
    status, first = await api.call("POST", "/oauth2/token:generate", json=body)
    assert status == 200 and first["expiresIn"] == 86400
    assert first["accessToken"].count(".") == 2  # JWT-shaped
    _, second = await api.call("POST", "/oauth2/token:generate", json=body)
    assert second["accessToken"] == first["accessToken"]
    assert second["expiresIn"] <= 86400
    _, other = await api.call("POST", "/oauth2/token:generate", json={**body, "appId": "app-2"})
    assert other["accessToken"] != first["accessToken"]
    assert emu.stats()["tokens_issued"] == 2


async def test_token_expiry(session: aiohttp.ClientSession) -> None:
    async with Emulator(token_lifetime=0.3) as emu:
        api = Api(session, emu)
        token = await api.token()
        headers = {"x-api-key": token}
        assert (await api.call("GET", "/v1/conversations", headers=headers))[0] == 200

        async def expired() -> bool:
            return (await api.call("GET", "/v1/conversations", headers=headers))[0] == 401

        await eventually(expired)
        assert (await api.call("GET", "/v1/conversations", headers=headers))[1] == TOKEN_FAILED
        fresh = await api.token()
        assert fresh != token


async def test_token_request_errors(session: aiohttp.ClientSession) -> None:
    async with Emulator(credentials={"the-id": "the-secret"}) as emu:
        api = Api(session, emu)
        assert (emu.app_id, emu.app_secret) == ("the-id", "the-secret")
        path = "/oauth2/token:generate"
        good = {"type": "application", "appId": "the-id", "appSecret": "the-secret"}
        assert (await api.call("POST", path, json=good))[0] == 200
        for body in [
            {**good, "appSecret": "wrong"},
            {**good, "appId": "other"},
            {"type": "application", "appId": "the-id"},
            {"type": "application"},
        ]:
            status, answer = await api.call("POST", path, json=body)
            assert status == 401 and answer["message"], body
        status, answer = await api.call("POST", path, json={**good, "type": "user"})
        assert status == 400 and "type" in answer["message"]
        status, answer = await api.call("POST", path, data=b"{not json")
        assert status == 400 and "JSON" in answer["message"]
        assert (await api.call("POST", path, json=["a list"]))[0] == 400


async def test_any_non_empty_pair_with_credentials_none(session: aiohttp.ClientSession) -> None:
    async with Emulator(credentials=None) as emu:
        api = Api(session, emu)
        await api.token("someone", "anything")
        status, _ = await api.call(
            "POST",
            "/oauth2/token:generate",
            json={"type": "application", "appId": "someone", "appSecret": ""},
        )
        assert status == 401


async def test_default_credentials_are_the_demo_pair_only(api: Api) -> None:
    assert (api.emulator.app_id, api.emulator.app_secret) == (
        "emulator-app-id",
        "emulator-app-secret",
    )
    await api.token()
    for app_id, app_secret in [("emulator-app-id", "wrong"), ("someone", "emulator-app-secret")]:
        status, body = await api.call(
            "POST",
            "/oauth2/token:generate",
            json={"type": "application", "appId": app_id, "appSecret": app_secret},
        )
        assert status == 401 and body["message"], (app_id, app_secret)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer "},
        {"x-api-key": "not-a-token"},
    ],
)
async def test_unauthorized(
    emu: Emulator, session: aiohttp.ClientSession, headers: dict[str, str]
) -> None:
    api = Api(session, emu)
    for method, path in [
        ("GET", "/v1/conversations"),
        ("GET", "/v1/job/abc"),
        ("POST", "/v1/process/text"),
        ("GET", "/v1/conversations/123/messages"),
    ]:
        assert await api.call(method, path, headers=headers) == (401, TOKEN_FAILED)
    assert emu.stats()["auth_failures"] == 4


async def test_bearer_and_deprecated_api_key_both_work(api: Api) -> None:
    token = api.headers.pop("Authorization").split()[1]
    for headers in [{"Authorization": f"Bearer {token}"}, {"x-api-key": token}]:
        assert (await api.call("GET", "/v1/conversations", headers=headers))[0] == 200


# --- submits -----------------------------------------------------------------------------


def assert_created(status: int, body: Any) -> None:
    assert status == 201, body
    assert set(body) == {"conversationId", "jobId"}
    assert re.fullmatch(r"[1-9]\d{15}", body["conversationId"])
    assert uuid.UUID(body["jobId"]).version == 4


async def test_every_submit_endpoint(api: Api, emu: Emulator) -> None:
    url = {"url": "https://media.test/call.wav?emulator_duration=30"}
    status, first = await api.call("POST", "/v1/process/audio", data=wav(2.0), headers=WAV_TYPE)
    assert_created(status, first)
    cid = first["conversationId"]
    submits: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/v1/process/audio", {"data": wav(1.0)}),  # no Content-Type: auto-detected
        ("POST", "/v1/process/audio/url", {"json": url}),
        ("POST", "/v1/process/video", {"data": MP4, "headers": MP4_TYPE}),
        ("POST", "/v1/process/video/url", {"json": url}),
        ("POST", "/v1/process/text", {"json": TEXT}),
        (
            "PUT",
            f"/v1/process/audio/{cid}",
            {"data": wav(1.0), "headers": {"Content-Type": "audio/wave"}},
        ),
        ("PUT", f"/v1/process/audio/url/{cid}", {"json": url}),
        ("PUT", f"/v1/process/video/{cid}", {"data": MP4, "headers": MP4_TYPE}),
        ("PUT", f"/v1/process/video/url/{cid}", {"json": url}),
        ("PUT", f"/v1/process/text/{cid}", {"json": TEXT}),
    ]
    for method, path, kwargs in submits:
        if "data" in kwargs and "headers" not in kwargs:
            kwargs["skip_auto_headers"] = ["Content-Type"]
        status, body = await api.call(method, path, **kwargs)
        assert_created(status, body)
        if method == "PUT":
            assert body["conversationId"] == cid
    await asyncio.wait_for(emu.wait_idle(), 5)
    jobs = emu.jobs()
    assert len(jobs) == 11 and all(j["status"] == "completed" for j in jobs)
    durations = [j["mediaDuration"] for j in jobs]
    assert durations[0] == pytest.approx(2.0) and durations[3] == pytest.approx(95.0)
    assert durations[2] == pytest.approx(30.0)
    assert [j["kind"] for j in jobs[:6]] == ["audio", "audio", "audio", "video", "video", "text"]


async def test_query_string_options_on_uploads(api: Api, emu: Emulator) -> None:
    params = {
        "name": "Query Meeting",
        "confidenceThreshold": "0.6",
        "detectPhrases": "true",
        "customVocabulary": json.dumps(["Platform", "Targets"]),
        "trackers": json.dumps([{"name": "Price", "vocabulary": ["price"]}]),
        "enableSpeakerDiarization": "true",
        "diarizationSpeakerCount": "3",
    }
    status, body = await api.call(
        "POST", "/v1/process/video", data=MP4, params=params, headers=MP4_TYPE
    )
    assert_created(status, body)
    await asyncio.wait_for(emu.wait_idle(), 5)
    _, conversation = await api.call("GET", f"/v1/conversations/{body['conversationId']}")
    assert conversation["name"] == "Query Meeting"
    assert {m["name"] for m in conversation["members"]} <= {"Speaker 1", "Speaker 2", "Speaker 3"}


async def test_upload_streams_a_large_body(api: Api, emu: Emulator) -> None:
    seconds = 600.0  # ~9.6 MB of PCM, sent in chunks
    body = wav(seconds)

    async def stream() -> AsyncIterator[bytes]:
        for i in range(0, len(body), 256 * 1024):
            yield body[i : i + 256 * 1024]

    status, answer = await api.call(
        "POST",
        "/v1/process/audio",
        data=stream(),
        headers={"Content-Type": "audio/wav", "Content-Length": str(len(body))},
    )
    assert_created(status, answer)
    assert emu.jobs()[0]["mediaDuration"] == pytest.approx(seconds)


MEDIA_400: list[tuple[str, dict[str, Any], str]] = [
    ("/v1/process/audio", {"data": b"", "headers": WAV_TYPE}, "empty"),
    (
        "/v1/process/audio",
        {"data": wav(1), "headers": {"Content-Type": "audio/flac"}},
        "audio/flac",
    ),
    (
        "/v1/process/audio",
        {"data": wav(1), "headers": {"Content-Type": "application/octet-stream"}},
        "Content-Type",
    ),
    ("/v1/process/audio", {"data": b"plain text, not audio"}, "recognised"),
    ("/v1/process/audio", {"data": b"RIFF\0\0\0\0WAVEjunkjunk", "headers": WAV_TYPE}, "WAV"),
    ("/v1/process/video", {"data": MP4}, "video/mp4"),
    (
        "/v1/process/video",
        {"data": MP4, "headers": {"Content-Type": "video/quicktime"}},
        "video/mp4",
    ),
    ("/v1/process/video", {"data": wav(1), "headers": MP4_TYPE}, "MP4"),
    ("/v1/process/video", {"data": MP4[:60], "headers": MP4_TYPE}, "MP4"),
    ("/v1/process/video", {"data": b"", "headers": MP4_TYPE}, "empty"),
    (
        "/v1/process/audio",
        {"data": wav(1), "params": {"confidenceThreshold": "0.4"}},
        "confidenceThreshold",
    ),
    ("/v1/process/audio", {"data": wav(1), "params": {"mode": "radio"}}, "mode"),
    ("/v1/process/audio", {"data": wav(1), "params": {"trackers": "[broken"}}, "trackers"),
    (
        "/v1/process/audio",
        {"data": wav(1), "params": {"entities": '[{"text": "x"}]'}},
        "customType",
    ),
    ("/v1/process/audio", {"data": wav(1), "params": {"detectPhrases": "maybe"}}, "detectPhrases"),
]
JSON_400: list[tuple[str, Any, str]] = [
    ("/v1/process/audio/url", {}, "url is required"),
    ("/v1/process/audio/url", {"url": "ftp://media.test/a.wav"}, "url"),
    ("/v1/process/video/url", {"url": "not a url"}, "url"),
    (
        "/v1/process/video/url",
        {"url": "https://m.test/a.mp4", "confidenceThreshold": 1.5},
        "confidenceThreshold",
    ),
    (
        "/v1/process/audio/url",
        {"url": "https://m.test/a", "confidenceThreshold": 0.49},
        "confidenceThreshold",
    ),
    ("/v1/process/audio/url", {"url": "https://m.test/a", "mode": "loud"}, "mode"),
    (
        "/v1/process/audio/url",
        {"url": "https://m.test/a", "diarizationSpeakerCount": 0},
        "diarizationSpeakerCount",
    ),
    ("/v1/process/audio/url", {"url": "https://m.test/a", "webhookUrl": "nope"}, "webhookUrl"),
    (
        "/v1/process/audio/url",
        {"url": "https://m.test/a", "channelMetadata": [{"channel": 1, "speaker": {"name": "A"}}]},
        "enableSeparateRecognitionPerChannel",
    ),
    ("/v1/process/text", {}, "messages"),
    ("/v1/process/text", {"messages": []}, "messages"),
    ("/v1/process/text", {"messages": [{"payload": {}}]}, "messages[0].payload.content"),
    (
        "/v1/process/text",
        {"messages": [TEXT["messages"][0], {"from": {"name": "x"}}]},
        "messages[1]",
    ),
    ("/v1/process/text", ["not", "an", "object"], "object"),
]


@pytest.mark.parametrize(("path", "kwargs", "needle"), MEDIA_400)
async def test_upload_validation(api: Api, path: str, kwargs: dict[str, Any], needle: str) -> None:
    kwargs = dict(kwargs)
    if "headers" not in kwargs:
        kwargs["skip_auto_headers"] = ["Content-Type"]
    status, body = await api.call("POST", path, **kwargs)
    assert status == 400 and needle in body["message"], body


@pytest.mark.parametrize(("path", "body", "needle"), JSON_400)
async def test_json_submit_validation(api: Api, path: str, body: Any, needle: str) -> None:
    status, answer = await api.call("POST", path, json=body)
    assert status == 400 and needle in answer["message"], answer


async def test_invalid_json_and_missing_content_length(api: Api) -> None:
    status, body = await api.call(
        "POST", "/v1/process/text", data=b"{oops", headers={"Content-Type": "application/json"}
    )
    assert status == 400 and "JSON" in body["message"]

    async def chunked() -> AsyncIterator[bytes]:
        yield wav(1)

    status, body = await api.call("POST", "/v1/process/audio", data=chunked(), headers=WAV_TYPE)
    assert status == 400 and "Content-Length" in body["message"]


async def test_valid_edge_options_are_accepted(api: Api) -> None:
    status, body = await api.call(
        "POST",
        "/v1/process/audio",
        data=wav(1),
        params={"customVocabulary": "Platform"},
        headers={"Content-Type": "audio/mpeg"},  # declared type differs from the bytes: sniffed
    )
    assert_created(status, body)
    edge_cases: list[dict[str, Any]] = [
        {"confidenceThreshold": 0.5},
        {"confidenceThreshold": 1.0},
        {"webhookUrl": ""},  # the docs' own example sends an empty string
        {"channelMetadata": [], "mode": "phone"},
        {
            "enableSeparateRecognitionPerChannel": True,
            "channelMetadata": [{"channel": 1, "speaker": {"name": "A", "email": "a@x.test"}}],
        },
    ]
    for extra in edge_cases:
        status, body = await api.call(
            "POST", "/v1/process/audio/url", json={"url": "https://m.test/a.wav", **extra}
        )
        assert_created(status, body)


async def test_404s(api: Api) -> None:
    missing = "1234567890123456"
    appends: list[tuple[str, str, dict[str, Any]]] = [
        ("PUT", f"/v1/process/audio/{missing}", {"data": wav(1), "headers": WAV_TYPE}),
        ("PUT", f"/v1/process/video/{missing}", {"data": MP4, "headers": MP4_TYPE}),
        ("PUT", f"/v1/process/audio/url/{missing}", {"json": {"url": "https://m.test/a"}}),
        ("PUT", f"/v1/process/video/url/{missing}", {"json": {"url": "https://m.test/a"}}),
        ("PUT", f"/v1/process/text/{missing}", {"json": TEXT}),
    ]
    for method, path, kwargs in appends:
        status, body = await api.call(method, path, **kwargs)
        assert status == 404 and missing in body["message"], path
    job = str(uuid.uuid4())
    expected = {"message": f"Job with id {job} not found"}
    assert await api.call("GET", f"/v1/job/{job}") == (404, expected)
    assert await api.call("GET", f"/v1/conversations/{missing}") == (404, {"message": NOT_FOUND})
    status, body = await api.call("GET", "/v1/no/such/route")
    assert status == 404 and "message" in body
