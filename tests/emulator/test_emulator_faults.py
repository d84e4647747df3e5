"""Seeded faults of the emulator over real HTTP: submits, job lookups, tokens, jobs, slots.

Each test turns one fault on at rate 1.0 (or a fixed seed with mixed rates) and
checks what the client sees and what the emulator counted. Waits poll with a
deadline (``eventually``) or wait for the scheduler to go idle; no fixed sleeps.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any

import aiohttp
import pytest
from _emulator_api import MP4, MP4_TYPE, SCALE, TEXT, WAV_TYPE, Api, job_status, wav
from _polling import eventually

from symbl_async.emulator import Emulator, EmulatorConfig

URL_BODY = {"url": "https://m.test/a.mp3?emulator_duration=60", "name": "call-1"}
DROPPED = (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)


async def authed(session: aiohttp.ClientSession, emu: Emulator) -> Api:
    api = Api(session, emu)
    api.headers["Authorization"] = f"Bearer {await api.token()}"
    return api


def submits(conversation_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    """The ten submit endpoints: (method, path, request kwargs)."""
    audio = {"data": wav(2), "headers": WAV_TYPE}
    video = {"data": MP4, "headers": MP4_TYPE}
    url = {"json": URL_BODY}
    text = {"json": TEXT}
    c = conversation_id
    return [
        ("POST", "/v1/process/audio", audio),
        ("POST", "/v1/process/audio/url", url),
        ("POST", "/v1/process/video", video),
        ("POST", "/v1/process/video/url", url),
        ("POST", "/v1/process/text", text),
        ("PUT", f"/v1/process/audio/{c}", audio),
        ("PUT", f"/v1/process/audio/url/{c}", url),
        ("PUT", f"/v1/process/video/{c}", video),
        ("PUT", f"/v1/process/video/url/{c}", url),
        ("PUT", f"/v1/process/text/{c}", text),
    ]


async def test_error_before_on_every_submit_endpoint(session: aiohttp.ClientSession) -> None:
    async with Emulator(time_scale=SCALE) as plain:
        api = await authed(session, plain)
        _, created = await api.call("POST", "/v1/process/text", json=TEXT)
    # A conversation to append to must exist in the faulty emulator too: create it there
    # with the fault off, then turn the fault on for the ten endpoints.
    async with Emulator(time_scale=SCALE, submit_error_before_rate=1.0) as emu:
        api = await authed(session, emu)
        conversation = emu.scheduler.new_conversation()
        for method, path, kwargs in submits(conversation.id):
            status, body = await api.call(method, path, **kwargs)
            assert status in (500, 502, 503, 504) and body["message"], (method, path)
        stats = emu.stats()
        assert emu.jobs() == [] and stats["jobs_created"] == 0
        assert stats["submits_received"] == 10
        assert sum(v for k, v in stats["faults"].items() if k == "submit_error_before") == 10
    assert created["jobId"]


async def test_error_before_statuses_are_configurable(session: aiohttp.ClientSession) -> None:
    async with Emulator(
        time_scale=SCALE, submit_error_before_rate=1.0, submit_error_before_statuses=(503,)
    ) as emu:
        api = await authed(session, emu)
        for _ in range(3):
            status, body = await api.call("POST", "/v1/process/audio/url", json=URL_BODY)
            assert (status, body["message"]) == (503, "Service Unavailable")
        assert emu.stats()["responses_by_status"]["503"] == 3


async def test_reset_before_drops_the_connection_and_creates_nothing(
    session: aiohttp.ClientSession,
) -> None:
    async with Emulator(time_scale=SCALE, submit_reset_before_rate=1.0) as emu:
        api = await authed(session, emu)
        with pytest.raises(DROPPED):
            await api.call("POST", "/v1/process/audio", data=wav(1), headers=WAV_TYPE)
        stats = emu.stats()
        assert emu.jobs() == [] and stats["submits_dropped"] == 1
        assert stats["faults"] == {"submit_reset_before": 1}


async def test_error_after_creates_a_job_that_runs_and_holds_a_slot(
    session: aiohttp.ClientSession,
) -> None:
    async with Emulator(
        # Queued for 1 s (real): the next submit comes well inside that on a loaded host
        # (at 10 service seconds, 1 ms, a busy machine let the slot go first).
        time_scale=SCALE, concurrency_limit=1, submit_error_after_rate=1.0, queue_delay=10_000.0
    ) as emu:
        api = await authed(session, emu)
        status, body = await api.call("POST", "/v1/process/audio/url", json=URL_BODY)
        assert status in (500, 502, 504) and "jobId" not in body
        [job] = emu.jobs()
        assert job["name"] == "call-1"
        # The job the client was told failed holds the only slot: the next submit is a 429.
        status, body = await api.call("POST", "/v1/process/text", json=TEXT)
        assert status == 429 and body["statusCode"] == 429
        await asyncio.wait_for(emu.wait_idle(), 10)
        assert (await job_status(api, job["jobId"])) == "completed"
        stats = emu.stats()
        assert stats["jobs_created"] == 1 and stats["rejected_429"] == 1
        assert stats["faults"] == {"submit_error_after": 1}  # drawn for the 429 too, not applied
        assert stats["submits_by_name"] == {"call-1": 1}


async def test_reset_after_creates_the_job_but_drops_the_answer(
    session: aiohttp.ClientSession,
) -> None:
    async with Emulator(time_scale=SCALE, submit_reset_after_rate=1.0) as emu:
        api = await authed(session, emu)
        with pytest.raises(DROPPED):
            await api.call("POST", "/v1/process/text", json={**TEXT, "name": "t"})
        [job] = emu.jobs()
        assert job["name"] == "t"
        assert emu.stats()["submits_dropped"] == 1


async def test_aiohttp_silently_resends_a_put_append_after_a_drop(
    session: aiohttp.ClientSession,
) -> None:
    """Why this fault matters: aiohttp retries an idempotent method (PUT) once after a
    dropped connection, so a PUT append whose answer was lost is paid for twice."""
    async with Emulator(time_scale=SCALE) as emu:
        api = await authed(session, emu)
        _, first = await api.call("POST", "/v1/process/text", json=TEXT)
        await asyncio.wait_for(emu.wait_idle(), 5)
    async with Emulator(time_scale=SCALE, submit_reset_after_rate=1.0) as emu:
        api = await authed(session, emu)
        conversation = emu.scheduler.new_conversation()
        with pytest.raises(DROPPED):
            await api.call("PUT", f"/v1/process/text/{conversation.id}", json=TEXT)
        stats = emu.stats()
        assert stats["jobs_created"] == 2 and stats["submits_received"] == 2
        assert len(stats["duplicate_contents"]) == 1
    assert first["jobId"]


async def test_lost_answer_keeps_the_connection_silent_then_drops_it(
    session: aiohttp.ClientSession,
) -> None:
    async with Emulator(
        time_scale=SCALE, submit_lost_answer_rate=1.0, submit_lost_answer_hold=60.0
    ) as emu:
        api = await authed(session, emu)
        call = asyncio.ensure_future(api.call("POST", "/v1/process/audio/url", json=URL_BODY))

        async def created() -> bool:
            return len(emu.jobs()) == 1

        await eventually(created)  # the job exists while the client still waits
        assert not call.done()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(call), 0.2)
        assert emu.stats()["faults"] == {"submit_lost_answer": 1}
    # Shutting down lets go of the held request: the client sees the connection close.
    with pytest.raises(DROPPED):
        await asyncio.wait_for(call, 5)


async def test_lost_answer_hold_then_disconnect(session: aiohttp.ClientSession) -> None:
    async with Emulator(
        time_scale=SCALE, submit_lost_answer_rate=1.0, submit_lost_answer_hold=0.05
    ) as emu:
        api = await authed(session, emu)
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await api.call("POST", "/v1/process/audio/url", json=URL_BODY)
        assert len(emu.jobs()) == 1


async def test_hold_makes_a_too_early_resend_pay_twice(session: aiohttp.ClientSession) -> None:
    async with Emulator(time_scale=SCALE, submit_hold_rate=1.0, submit_hold=(0.4, 0.4)) as emu:
        api = await authed(session, emu)
        body = {**URL_BODY, "name": "held-call"}
        quick = aiohttp.ClientTimeout(total=0.1)
        with pytest.raises(asyncio.TimeoutError):
            await api.call("POST", "/v1/process/audio/url", json=body, timeout=quick)
        # The client looks its submit up by name at once: nothing there yet.
        status, found = await api.call(
            "GET", "/v1/conversations", params={"filter": "conversation.name==held-call"}
        )
        assert status == 200 and found["conversations"] == []
        assert emu.jobs() == []
        # So it resends (too early): this one is held too, and both jobs get created.
        status, answer = await api.call("POST", "/v1/process/audio/url", json=body)
        assert status == 201 and answer["jobId"]

        async def both() -> bool:
            return len(emu.jobs()) == 2

        await eventually(both)
        stats = emu.stats()
        assert stats["duplicate_names"] == {"held-call": 2}
        assert stats["duplicate_contents"] == {f"url:{URL_BODY['url']}": 2}
        assert stats["faults"] == {"submit_hold": 2}


async def test_answer_delay(session: aiohttp.ClientSession) -> None:
    async with Emulator(time_scale=SCALE, submit_delay_rate=1.0, submit_delay=(0.2, 0.2)) as emu:
        api = await authed(session, emu)
        loop = asyncio.get_running_loop()
        started = loop.time()
        status, _ = await api.call("POST", "/v1/process/text", json=TEXT)
        assert status == 201 and loop.time() - started >= 0.2
        assert emu.stats()["faults"] == {"submit_delay": 1}


async def test_transient_job_404(session: aiohttp.ClientSession) -> None:
    async with Emulator(time_scale=SCALE, job_status_404_rate=1.0) as emu:
        api = await authed(session, emu)
        _, created = await api.call("POST", "/v1/process/text", json=TEXT)
        status, body = await api.call("GET", f"/v1/job/{created['jobId']}")
        assert status == 404 and created["jobId"] in body["message"] and "status" not in body
        assert emu.stats()["faults"] == {"job_status_404": 1}


@pytest.mark.parametrize("statuses", [(500,), (503,)])
async def test_token_errors(session: aiohttp.ClientSession, statuses: tuple[int, ...]) -> None:
    async with Emulator(token_error_rate=1.0, token_error_statuses=statuses) as emu:
        status, body = await Api(session, emu).call(
            "POST",
            "/oauth2/token:generate",
            json={"type": "application", "appId": emu.app_id, "appSecret": emu.app_secret},
        )
        assert status == statuses[0] and body["message"]
        assert emu.stats()["faults"] == {f"token_{statuses[0]}": 1}
        assert emu.stats()["tokens_issued"] == 0


async def test_job_failure_rate(session: aiohttp.ClientSession) -> None:
    async with Emulator(time_scale=SCALE, job_failure_rate=1.0) as emu:
        api = await authed(session, emu)
        _, created = await api.call("POST", "/v1/process/text", json=TEXT)
        await asyncio.wait_for(emu.wait_idle(), 5)
        assert (await job_status(api, created["jobId"])) == "failed"
        assert emu.stats()["faults"] == {"job_failed": 1} and emu.stats()["jobs_failed"] == 1


@pytest.mark.parametrize("speed", [0.5, 3.0])
async def test_processing_jitter_makes_jobs_slower_or_faster(
    session: aiohttp.ClientSession, speed: float
) -> None:
    config = EmulatorConfig(time_scale=SCALE, processing_jitter=(speed, speed))
    async with Emulator(config) as emu:
        api = await authed(session, emu)
        await api.call("POST", "/v1/process/audio/url", json=URL_BODY)
        [job] = emu.jobs()
        assert job["processingTime"] == pytest.approx(config.processing_time(60) * speed)


async def test_foreign_jobs_take_slots_for_a_while(session: aiohttp.ClientSession) -> None:
    async with Emulator(
        time_scale=SCALE, concurrency_limit=3, foreign_jobs=2, foreign_job_duration=10_000.0,
        queue_delay=10_000.0,
    ) as emu:
        api = await authed(session, emu)
        assert (await api.call("POST", "/v1/process/text", json=TEXT))[0] == 201
        # The foreign jobs and the first job hold their slots for 1 s (real): a second job
        # finds none. (The first job's own hold decides it: with no queue delay it lasted a
        # few milliseconds, and a loaded host's second submit came after it had ended.)
        assert (await api.call("POST", "/v1/process/text", json=TEXT))[0] == 429
        stats = emu.stats()
        assert stats["foreign_jobs_active"] == 2 and stats["rejected_429"] == 1

        async def freed() -> bool:
            return bool(emu.stats()["foreign_jobs_active"] == 0)

        await eventually(freed)
        assert (await api.call("POST", "/v1/process/text", json=TEXT))[0] == 201
        await asyncio.wait_for(emu.wait_idle(), 5)
        stats = emu.stats()
        assert stats["max_concurrent_jobs"] == 3
        assert stats["max_concurrent_client_jobs"] <= 2


async def test_permanent_foreign_jobs(session: aiohttp.ClientSession) -> None:
    async with Emulator(time_scale=SCALE, concurrency_limit=2, foreign_jobs=2) as emu:
        api = await authed(session, emu)
        status, body = await api.call("POST", "/v1/process/text", json=TEXT)
        assert status == 429 and "`2`" in body["message"]
        assert [j["foreign"] for j in emu.jobs()] == [True, True]
        status, listed = await Api(session, emu).call("GET", "/_emulator/jobs")
        assert status == 200 and [j["processingTime"] for j in listed["jobs"]] == [None, None]
        await asyncio.wait_for(emu.wait_idle(), 1)  # idle means: no job of the client


async def test_same_seed_same_faults(session: aiohttp.ClientSession) -> None:
    knobs: dict[str, Any] = {
        "time_scale": SCALE,
        "submit_error_before_rate": 0.2,
        "submit_error_after_rate": 0.2,
        "submit_reset_after_rate": 0.2,
        "job_failure_rate": 0.3,
        "seed": 1234,
    }

    async def outcomes() -> list[Any]:
        async with Emulator(**knobs) as emu:
            api = await authed(session, emu)
            seen: list[Any] = []
            for _ in range(30):
                try:
                    seen.append((await api.call("POST", "/v1/process/text", json=TEXT))[0])
                except DROPPED:
                    seen.append("dropped")
            await asyncio.wait_for(emu.wait_idle(), 5)
            seen.append(emu.stats()["faults"])
            seen.append([j["status"] for j in emu.jobs()])
            return seen

    first, second = await outcomes(), await outcomes()
    assert first == second
    assert {201, "dropped"} <= set(first[:30]) and len(set(first[:30])) >= 3


async def test_submits_by_content(session: aiohttp.ClientSession) -> None:
    async with Emulator(time_scale=SCALE) as emu:
        api = await authed(session, emu)
        audio = wav(1)
        for _ in range(2):
            await api.call("POST", "/v1/process/audio", data=audio, headers=WAV_TYPE)
        await api.call("POST", "/v1/process/text", json={**TEXT, "name": "a"})
        await api.call("POST", "/v1/process/text", json={**TEXT, "name": "b"})
        await api.call("POST", "/v1/process/audio/url", json=URL_BODY)
        stats = emu.stats()
        messages = json.dumps(TEXT["messages"], sort_keys=True, separators=(",", ":"))
        text_key = "text:" + hashlib.sha256(messages.encode()).hexdigest()
        upload_key = "sha256:" + hashlib.sha256(audio).hexdigest()
        assert stats["submits_by_content"] == {
            upload_key: 2,
            text_key: 2,
            f"url:{URL_BODY['url']}": 1,
        }
        assert stats["duplicate_contents"] == {upload_key: 2, text_key: 2}
        assert stats["submits_by_name"] == {"a": 1, "b": 1, "call-1": 1}
        assert stats["duplicate_names"] == {}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("submit_error_before_rate", 1.5),
        ("submit_hold", (2.0, 1.0)),
        ("submit_delay", (-1.0, 1.0)),
        ("submit_error_after_statuses", (404,)),
        ("submit_error_before_statuses", ()),
        ("token_error_statuses", (200,)),
        ("foreign_jobs", -1),
        ("foreign_job_duration", 0),
        ("processing_jitter", (0.0, float("inf"))),
        ("submit_lost_answer_hold", 0),
        ("entities_shape", "new"),
        ("webhook_body_key", "job_id"),
        ("wall_clock_offset", float("nan")),
    ],
)
def test_fault_config_validation(field: str, value: Any) -> None:
    with pytest.raises(ValueError, match=field):
        EmulatorConfig(**{field: value})


def test_exclusive_submit_fault_rates_add_up_to_one_at_most() -> None:
    with pytest.raises(ValueError, match="add up to at most 1"):
        EmulatorConfig(submit_error_before_rate=0.6, submit_lost_answer_rate=0.5)
    EmulatorConfig(submit_error_before_rate=0.5, submit_lost_answer_rate=0.5)


async def test_shutdown_lets_go_of_a_held_submit(session: aiohttp.ClientSession) -> None:
    emu = Emulator(time_scale=SCALE, submit_hold_rate=1.0, submit_hold=(600.0, 600.0))
    async with emu:
        api = await authed(session, emu)
        call = asyncio.ensure_future(api.call("POST", "/v1/process/text", json=TEXT))

        async def held() -> bool:
            return bool(emu.stats()["faults"] == {"submit_hold": 1})

        await eventually(held)
        scheduler = emu.scheduler
    # Leaving the block shut the emulator down at once, not after the 600 s hold.
    status, body = await asyncio.wait_for(call, 5)
    assert status == 503 and body["message"]
    assert scheduler.jobs == {}
