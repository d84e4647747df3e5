"""The emulator over real HTTP: job life cycle, ordering, the concurrency limit, counters,
and the ``Emulator`` object itself (start/stop, standalone mode, configuration).
"""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from typing import Any

import aiohttp
import attrs
import pytest
from _emulator_api import SCALE, TEXT, WAV_TYPE, Api, job_status, wav
from _polling import eventually
from aiohttp import web

from symbl_async.emulator import Emulator, EmulatorConfig, create_app, run_standalone

# --- jobs --------------------------------------------------------------------------------


async def test_job_lifecycle(session: aiohttp.ClientSession) -> None:
    # Processing that never ends within the test shows each state without racing the clock.
    async with Emulator(queue_delay=10**6) as emu:
        api = Api(session, emu, {"x-api-key": await Api(session, emu).token()})
        _, body = await api.call("POST", "/v1/process/audio/url", json={"url": "https://m.test/a"})
        assert await job_status(api, body["jobId"]) == "scheduled"
    async with Emulator(queue_delay=0, processing_overhead=10**6) as emu:
        api = Api(session, emu, {"x-api-key": await Api(session, emu).token()})
        _, body = await api.call("POST", "/v1/process/audio/url", json={"url": "https://m.test/a"})

        async def started() -> bool:
            return await job_status(api, body["jobId"]) == "in_progress"

        await eventually(started)
        job = emu.jobs()[0]
        assert job["startedAt"] is not None and job["finishedAt"] is None
    async with Emulator(time_scale=SCALE) as emu:
        api = Api(session, emu, {"x-api-key": await Api(session, emu).token()})
        url = "https://m.test/a.wav?emulator_duration=400"
        _, body = await api.call("POST", "/v1/process/audio/url", json={"url": url})
        await asyncio.wait_for(emu.wait_idle(), 5)
        assert emu.jobs()[0]["seenAt"] is None  # ended, and nobody has asked yet
        assert await api.call("GET", f"/v1/job/{body['jobId']}") == (
            200,
            {"id": body["jobId"], "status": "completed"},
        )
        (job,) = emu.jobs()
        # The first status GET that answered the end (detection delay: seenAt - finishedAt).
        assert job["seenAt"] >= job["finishedAt"]
        await api.call("GET", f"/v1/job/{body['jobId']}")
        assert emu.jobs()[0]["seenAt"] == job["seenAt"]
        assert job["mediaDuration"] == 400 and job["processingTime"] == pytest.approx(130.0)
        # Service seconds; the slack covers asyncio firing timers up to its clock resolution early.
        assert job["startedAt"] - job["submittedAt"] >= 1.0 - 0.01  # queue_delay
        assert job["finishedAt"] - job["startedAt"] >= 130.0 - 0.01


async def test_fail_inputs(session: aiohttp.ClientSession) -> None:
    broken = "https://m.test/broken.wav"
    async with Emulator(time_scale=SCALE, fail_inputs={broken, "doomed"}) as emu:
        api = Api(session, emu, {"x-api-key": await Api(session, emu).token()})
        _, by_url = await api.call("POST", "/v1/process/audio/url", json={"url": broken})
        _, by_name = await api.call("POST", "/v1/process/text", json={**TEXT, "name": "doomed"})
        _, fine = await api.call("POST", "/v1/process/text", json=TEXT)
        await asyncio.wait_for(emu.wait_idle(), 5)
        assert await job_status(api, by_url["jobId"]) == "failed"
        assert await job_status(api, by_name["jobId"]) == "failed"
        assert await job_status(api, fine["jobId"]) == "completed"
        stats = emu.stats()
        assert (stats["jobs_failed"], stats["jobs_completed"], stats["active_jobs"]) == (2, 1, 0)
        # A failed job adds nothing to its conversation.
        failed_conversation = by_name["conversationId"]
        _, messages = await api.call("GET", f"/v1/conversations/{failed_conversation}/messages")
        assert messages == {"messages": []}


async def test_same_conversation_jobs_run_in_submit_order(api: Api, emu: Emulator) -> None:
    long = "https://m.test/long.wav?emulator_duration=1200"
    short = "https://m.test/short.wav?emulator_duration=10"
    _, first = await api.call("POST", "/v1/process/audio/url", json={"url": long})
    cid = first["conversationId"]
    _, second = await api.call("PUT", f"/v1/process/audio/url/{cid}", json={"url": short})
    _, third = await api.call("PUT", f"/v1/process/text/{cid}", json=TEXT)
    await asyncio.wait_for(emu.wait_idle(), 5)
    jobs = {j["jobId"]: j for j in emu.jobs()}
    a, b, c = jobs[first["jobId"]], jobs[second["jobId"]], jobs[third["jobId"]]
    assert a["finishedAt"] <= b["startedAt"] and b["finishedAt"] <= c["startedAt"]
    _, body = await api.call("GET", f"/v1/conversations/{cid}/messages")
    offsets = [m["timeOffset"] for m in body["messages"]]
    assert offsets == sorted(offsets)
    texts = [m["text"] for m in body["messages"]]
    assert texts[-2:] == ["Hello, can you hear me?", "Yes. I will send the notes."]
    # Appended media starts where the previous media ended (1200 s + 10 s).
    _, conversation = await api.call("GET", f"/v1/conversations/{cid}")
    start = datetime.fromisoformat(conversation["startTime"].replace("Z", "+00:00"))
    text_start = datetime.fromisoformat(body["messages"][-2]["startTime"].replace("Z", "+00:00"))
    assert (text_start - start).total_seconds() == pytest.approx(1210.0)


async def test_concurrency_limit(session: aiohttp.ClientSession) -> None:
    two_apps = {"emulator-app-id": "emulator-app-secret", "second-app": "x"}
    async with Emulator(
        concurrency_limit=2, processing_overhead=10**6, credentials=two_apps
    ) as emu:
        api = Api(session, emu, {"x-api-key": await Api(session, emu).token()})
        other_app = {"Authorization": f"Bearer {await Api(session, emu).token('second-app', 'x')}"}
        for _ in range(2):
            assert (await api.call("POST", "/v1/process/text", json=TEXT))[0] == 201
        expected = {
            "statusCode": 429,
            "message": "This API has a limit of maximum of `2` number of concurrent jobs per "
            "account. If you are looking to scale, and need more concurrent jobs than this "
            "limit, please contact us at support@symbl.ai",
        }
        assert await api.call("POST", "/v1/process/text", json=TEXT) == (429, expected)
        # The limit is per account, not per token.
        status, _ = await api.call(
            "POST", "/v1/process/audio/url", json={"url": "https://m.test/a"}, headers=other_app
        )
        assert status == 429
        status, _ = await api.call("POST", "/v1/process/audio", data=wav(1), headers=WAV_TYPE)
        assert status == 429
        stats = emu.stats()
        assert stats["rejected_429"] == 3 and stats["active_jobs"] == 2
        assert stats["max_concurrent_jobs"] == 2 and stats["jobs_submitted"] == 2


async def test_slot_is_freed_when_a_job_ends(session: aiohttp.ClientSession) -> None:
    async with Emulator(concurrency_limit=1, time_scale=SCALE) as emu:
        api = Api(session, emu, {"x-api-key": await Api(session, emu).token()})
        for _ in range(3):
            assert (await api.call("POST", "/v1/process/text", json=TEXT))[0] == 201
            await asyncio.wait_for(emu.wait_idle(), 5)
        stats = emu.stats()
        assert stats["max_concurrent_jobs"] == 1 and stats["jobs_completed"] == 3


# --- observability and lifecycle of the emulator -----------------------------------------


async def test_stats_and_jobs_endpoints(api: Api, emu: Emulator) -> None:
    _, job = await api.call("POST", "/v1/process/text", json={**TEXT, "name": "weekly"})
    await api.call("POST", "/v1/process/text", json={**TEXT, "name": "weekly"})
    await api.call("GET", f"/v1/job/{job['jobId']}")
    await asyncio.wait_for(emu.wait_idle(), 5)
    bare = Api(api.session, emu)  # no credentials needed
    status, stats = await bare.call("GET", "/_emulator/stats")
    assert status == 200
    assert stats["submits_by_name"] == {"weekly": 2}
    assert stats["jobs_submitted"] == 2 and stats["job_status_requests"] == 1
    assert stats["requests_total"] == 4  # token + 2 submits + 1 job status
    assert stats["responses_by_status"] == {"200": 2, "201": 2}
    for key in [
        "max_concurrent_jobs",
        "active_jobs",
        "rejected_429",
        "webhooks_sent",
        "webhooks_dropped",
        "webhooks_failed",
    ]:
        assert key in stats
    status, jobs = await bare.call("GET", "/_emulator/jobs")
    assert status == 200 and jobs["jobs"] == emu.jobs()
    first = jobs["jobs"][0]
    assert set(first) >= {
        "jobId",
        "conversationId",
        "name",
        "status",
        "mediaDuration",
        "processingTime",
        "submittedAt",
        "startedAt",
        "finishedAt",
    }
    assert first["jobId"] == job["jobId"] and first["name"] == "weekly"


async def test_emulator_object(session: aiohttp.ClientSession) -> None:
    base = EmulatorConfig(concurrency_limit=3)
    emulator = Emulator(base, time_scale=50.0)
    assert emulator.config.concurrency_limit == 3 and emulator.config.time_scale == 50.0
    assert (emulator.app_id, emulator.app_secret) == ("emulator-app-id", "emulator-app-secret")
    with pytest.raises(RuntimeError):
        _ = emulator.url
    async with emulator:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", emulator.url)
        with pytest.raises(RuntimeError):
            await emulator.start()
        await Api(session, emulator).token()
    with pytest.raises(RuntimeError):
        _ = emulator.url
    await emulator.close()  # twice is fine


async def test_shutdown_cancels_pending_jobs(session: aiohttp.ClientSession) -> None:
    async with Emulator(processing_overhead=10**6) as emu:
        api = Api(session, emu, {"x-api-key": await Api(session, emu).token()})
        await api.call("POST", "/v1/process/text", json=TEXT)
        scheduler = emu.scheduler
        timer = scheduler._timer
        assert timer is not None and scheduler._heap
    assert timer.cancelled() and not scheduler._heap and scheduler._timer is None


async def test_create_app_with_aiohttp_runner(session: aiohttp.ClientSession) -> None:
    runner = web.AppRunner(create_app(EmulatorConfig(time_scale=SCALE)))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        async with session.get(f"http://127.0.0.1:{port}/_emulator/stats") as response:
            assert response.status == 200
    finally:
        await runner.cleanup()


@pytest.mark.integration
async def test_run_standalone_prints_its_url(capsys: pytest.CaptureFixture[str]) -> None:
    task = asyncio.ensure_future(run_standalone(EmulatorConfig(), "127.0.0.1", 0))

    try:
        output = ""
        deadline = asyncio.get_running_loop().time() + 5
        while "listening" not in output:
            assert asyncio.get_running_loop().time() < deadline and not task.done()
            await asyncio.sleep(0.005)
            output += capsys.readouterr().out
        url = re.search(r"http://127\.0\.0\.1:(\d+)", output)
        assert url is not None and "emulator-app-secret" in output
        async with aiohttp.ClientSession() as s, s.get(url.group(0) + "/_emulator/stats") as r:
            assert r.status == 200
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("token_lifetime", 0),
        ("concurrency_limit", 0),
        ("concurrency_limit", 2.5),
        ("time_scale", -1),
        ("time_scale", float("inf")),
        ("processing_factor", -0.1),
        ("processing_overhead", float("nan")),
        ("queue_delay", -1),
        ("webhook_drop_rate", 1.5),
        ("webhook_duplicate_rate", -0.1),
        ("webhook_reorder_rate", 2),
        ("webhook_delay", (2.0, 1.0)),
        ("webhook_delay", (-1.0, 1.0)),
        ("webhook_timeout", 0),
        ("credentials", {"id": ""}),
        ("url_durations", {"https://m.test/a": -5}),
    ],
)
def test_config_validation(field: str, value: Any) -> None:
    with pytest.raises(ValueError, match=re.escape(field.split("[")[0])):
        EmulatorConfig(**{field: value})


def test_url_durations() -> None:
    config = EmulatorConfig(url_durations={"https://m.test/fixed.wav": 42.0})
    assert config.url_duration("https://m.test/fixed.wav") == 42.0
    assert config.url_duration("https://m.test/x.wav?emulator_duration=12.5") == 12.5
    assert config.url_duration("https://m.test/x.wav?a=1&emulator_duration=bad") != 0
    hashed = [config.url_duration(f"https://m.test/{i}.wav") for i in range(50)]
    assert all(60 <= d <= 1800 for d in hashed) and len(set(hashed)) > 40
    assert hashed == [EmulatorConfig().url_duration(f"https://m.test/{i}.wav") for i in range(50)]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        config.time_scale = 2  # type: ignore[misc]
