"""Polling that learns, against the emulator: a service 3x faster than the prior.

The prior (0.25 s per media second + 30 s) expects a 10-minute recording to take 180 s;
this emulator takes 60 s. A fixed schedule first polls at 0.8 x 180 s: it pays one GET
but sees the job ~84 s late. The learned schedule should notice within a few jobs that
the service is faster and poll just after the end. Lag and GETs come from the
emulator's own records (job end times, ``job_status_requests``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from symbl_async import PollSchedule, SymblClient, TextMessage
from symbl_async.emulator import Emulator

SCALE = 200.0
LENGTHS = [600, 1200, 300, 900, 2400, 600, 1500, 450, 1800, 750]


@asynccontextmanager
async def faster_service(learn: bool) -> AsyncIterator[tuple[Emulator, SymblClient]]:
    async with Emulator(
        time_scale=SCALE, processing_factor=0.25 / 3, processing_overhead=10.0, queue_delay=0.0
    ) as emu, SymblClient(
        app_id=emu.app_id,
        app_secret=emu.app_secret,
        base_url=emu.url,
        poll=PollSchedule(time_scale=SCALE, learn=learn),
    ) as client:
        yield emu, client


async def run_jobs(emu: Emulator, client: SymblClient) -> list[tuple[float, float, int]]:
    """Per job (one at a time): how late it was seen after its end as the emulator recorded
    it and after the end it was due, as shares of its processing time; and its GETs.

    The two ends differ on a loaded machine: the emulator records a job's end when its
    timer runs, which a busy event loop runs late, so the recorded end can be later than
    the due one (and the job look seen sooner than the schedule allows).
    """
    out = []
    for i, length in enumerate(LENGTHS):
        gets = emu.stats()["job_status_requests"]
        url = f"https://m.test/{i}.mp3?emulator_duration={length}"
        job = await client.submit_audio_url(url, media_duration=length)
        await client.wait(job, timeout=60)
        seen = emu.stats()["clock"]  # service seconds, the emulator's clock
        (record,) = [j for j in emu.jobs() if j["jobId"] == job.job_id]
        processing = record["processingTime"]
        due = record["submittedAt"] + processing  # no queue delay here
        out.append((
            (seen - record["finishedAt"]) / processing,
            (seen - due) / processing,
            emu.stats()["job_status_requests"] - gets,
        ))
    return out


async def test_the_learned_schedule_sees_a_faster_service_soon_after_each_end() -> None:
    async with faster_service(learn=True) as (emu, client):
        results = await run_jobs(emu, client)
        prediction = client.processing_model.predict("audio", 600.0)
    later = results[4:]
    assert sum(lag for lag, _, _ in later) / len(later) < 0.1
    assert sum(gets for _, _, gets in later) / len(later) <= 3.5
    # 600 s of media take 60 service seconds, 0.3 s at this scale.
    assert prediction.median * SCALE == pytest.approx(60.0, rel=0.2)


async def test_without_learning_the_fixed_schedule_is_late_on_a_faster_service() -> None:
    async with faster_service(learn=False) as (emu, client):
        results = await run_jobs(emu, client)
        assert client.processing_model.observations("audio") == 0
    # First poll at 0.8 x the prior's 3x-too-long estimate: more than a job's length late,
    # counted from the end each job was due (from the recorded end, a loaded machine once
    # made a job look seen 0.47 of its length late; the schedule cannot poll before 1.4).
    assert min(late for _, late, _ in results) > 1.0


async def test_submits_record_their_kind_and_waits_teach_the_model() -> None:
    async with faster_service(learn=True) as (_emu, client):
        url = "https://m.test/a.mp3?emulator_duration=60"
        audio = await client.submit_audio_url(url, media_duration=60)
        text = await client.submit_text([TextMessage(content="Hello there.", user_id="a@x.test")])
        assert (audio.kind, text.kind) == ("audio", "text")
        await client.wait(audio, timeout=60)
        await client.wait(text, timeout=60)
        assert client.processing_model.observations("audio") == 1
        # A text job has no media length: nothing to fit, nothing observed.
        assert client.processing_model.observations("text") == 0
