"""Waits sleeping toward a learned poll are woken when the shared model moves.

Real event loop, fake ``GET /v1/job``: the prior expects ~180 s for these jobs, so a
poll within the test's generous deadlines can only come from a wake-up and a re-plan.
"""

from __future__ import annotations

import asyncio
import time

from _polling import eventually

from symbl_async import Job, JobInfo, JobStatus, PollSchedule
from symbl_async.client._waiting import ModelWatch, poll_and_learn
from symbl_async.core._estimate import ProcessingTimeModel
from symbl_async.core._pollplan import PollPlan

SCHEDULE = PollSchedule()  # time scale 1: the prior says 0.25 x 600 + 30 = 180 s


def job_of(n: int, media: float = 600.0) -> Job:
    return Job(
        job_id=f"j{n}", conversation_id=f"c{n}", submitted_at=time.monotonic(),
        kind="audio", media_duration=media,
    )


def plan_of(model: ProcessingTimeModel, media: float = 600.0) -> PollPlan:
    plan = PollPlan(model, "audio", media, budget=2.5, floor=2.0, cap=30.0)
    plan.next()
    return plan


def warm_model() -> ProcessingTimeModel:
    model = ProcessingTimeModel()
    for media in (300, 450, 600, 900, 1200, 1800, 2400, 600, 900, 300):
        model.observe("audio", media, 0.25 * media + 30.0)
    return model


async def test_an_end_showing_a_faster_service_brings_the_sleeping_polls_forward() -> None:
    watch = ModelWatch(ProcessingTimeModel())
    polls: list[str] = []

    async def get_job(job_id: str) -> JobInfo:
        polls.append(job_id)
        return JobInfo(id=job_id, status=JobStatus.COMPLETED)

    waits = [
        asyncio.create_task(
            poll_and_learn(get_job, job_of(n), timeout=600, schedule=SCHEDULE, model=watch)
        )
        for n in range(20)
    ]
    await eventually(lambda: watch.sleeping("audio") == 20)
    # Other jobs ended within a second: the service is far faster than the prior.
    for media in (300, 600, 900, 1200, 600):
        watch.observe("audio", media, (0.25 * media + 30.0) / 400)
    _, pending = await asyncio.wait(waits, timeout=30)
    for task in pending:
        task.cancel()
    assert not pending, "the waits slept on toward the prior's polls"
    assert sorted(polls) == sorted(f"j{n}" for n in range(20))  # one GET each
    assert watch.sleeping("audio") == 0


async def test_a_change_below_the_threshold_wakes_no_one() -> None:
    model = warm_model()
    watch = ModelWatch(model)
    sleeps = [asyncio.create_task(watch.sleep(plan_of(model), 600)) for _ in range(50)]
    await eventually(lambda: watch.sleeping("audio") == 50)
    watch.observe("audio", 600, 180.0 * 1.01)  # agrees with the model
    await asyncio.sleep(0)  # a woken sleeper would be done after one loop step
    await asyncio.sleep(0)
    assert not any(s.done() for s in sleeps)
    assert model.observations("audio") == 11
    # Far off: every sleeper is woken, once, and reports a wake (not a timeout).
    for _ in range(8):
        watch.observe("audio", 600, 60.0)
    assert await asyncio.wait_for(asyncio.gather(*sleeps), 30) == [True] * 50
    assert watch.sleeping("audio") == 0


async def test_a_sleep_that_runs_out_reports_no_change_and_kinds_are_separate() -> None:
    model = ProcessingTimeModel()
    watch = ModelWatch(model)
    video = asyncio.create_task(watch.sleep(plan_of(model), 0.01))
    for _ in range(5):
        watch.observe("text", 600, 10.0)  # another kind
    assert await asyncio.wait_for(video, 30) is False
