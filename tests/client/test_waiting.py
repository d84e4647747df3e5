"""The poll schedule and the wait loop, on a fake clock (no real sleeps)."""

import random
from typing import Any

import pytest

from symbl_async import Job, JobFailedError, JobInfo, JobStatus, PollSchedule, WaitTimeoutError
from symbl_async.client._waiting import poll_until_done
from symbl_async.errors import NotFoundError, ServerError, SymblConnectionError


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


def scripted(statuses: list[str], t: FakeTime, polls: list[float]):  # type: ignore[no-untyped-def]
    it = iter(statuses)

    async def get_job(job_id: str) -> JobInfo:
        polls.append(t.now)
        return JobInfo(id=job_id, status=JobStatus(next(it)))

    return get_job


def test_first_poll_waits_for_most_of_the_expected_time() -> None:
    sched = PollSchedule(jitter=0)
    delays = sched.delays(600.0, random.Random(1))
    # expected = 0.25 * 600 + 30 = 180 s; first poll at 80 % of it
    assert next(delays) == pytest.approx(144.0)
    second = next(delays)
    assert second == pytest.approx(9.0)  # 5 % of expected, within [2, 30]
    assert next(delays) == pytest.approx(13.5)


def test_unknown_length_starts_small_and_grows_capped() -> None:
    sched = PollSchedule(jitter=0, initial_interval=2, growth=2, max_interval=10)
    delays = sched.delays(None)
    assert [next(delays) for _ in range(6)] == [2, 4, 8, 10, 10, 10]


def test_jitter_stays_within_bounds() -> None:
    sched = PollSchedule(jitter=0.2, initial_interval=10, growth=1, max_interval=10)
    rng = random.Random(7)
    values = [d for d, _ in zip(sched.delays(None, rng), range(200), strict=False)]
    assert min(values) >= 8 and max(values) <= 12
    assert len(set(values)) > 100  # really jittered


def test_time_scale_divides_every_delay() -> None:
    sched = PollSchedule(jitter=0, time_scale=100)
    delays = sched.delays(600.0)
    assert next(delays) == pytest.approx(1.44)
    assert sched.expected_time(600.0) == pytest.approx(1.8)
    assert sched.expected_time(None) is None


@pytest.mark.parametrize("field", ["growth", "initial_interval", "time_scale", "jitter"])
def test_schedule_rejects_nonsense(field: str) -> None:
    kwargs: dict[str, Any] = {field: -1}
    with pytest.raises(ValueError):
        PollSchedule(**kwargs)


async def test_poll_until_completed_counts_polls() -> None:
    t = FakeTime()
    polls: list[float] = []
    job = Job(job_id="j1", conversation_id="c1", media_duration=600.0, submitted_at=t.now)
    get_job = scripted(["in_progress", "in_progress", "completed"], t, polls)
    info = await poll_until_done(
        get_job, job, timeout=3600, schedule=PollSchedule(jitter=0), sleep=t.sleep, clock=t.clock
    )
    assert info.status is JobStatus.COMPLETED
    assert len(polls) == 3
    assert polls[0] - 1000.0 == pytest.approx(144.0)  # no wasted early polls


async def test_time_already_spent_is_not_waited_again() -> None:
    t = FakeTime()
    polls: list[float] = []
    job = Job(job_id="j", conversation_id="c", media_duration=600.0, submitted_at=t.now - 100)
    get_job = scripted(["completed"], t, polls)
    await poll_until_done(
        get_job, job, timeout=3600, schedule=PollSchedule(jitter=0), sleep=t.sleep, clock=t.clock
    )
    assert polls[0] - 1000.0 == pytest.approx(44.0)


async def test_failed_job_raises_with_ids() -> None:
    t = FakeTime()
    get_job = scripted(["scheduled", "failed"], t, [])
    with pytest.raises(JobFailedError) as info:
        await poll_until_done(
            get_job,
            Job(job_id="j2", conversation_id="c2", submitted_at=t.now),
            timeout=600,
            schedule=PollSchedule(),
            sleep=t.sleep,
            clock=t.clock,
        )
    assert info.value.job_id == "j2" and info.value.conversation_id == "c2"


async def test_deadline_gives_up_with_a_final_poll_at_the_deadline() -> None:
    t = FakeTime()
    polls: list[float] = []
    get_job = scripted(["in_progress"] * 100, t, polls)
    with pytest.raises(WaitTimeoutError) as info:
        await poll_until_done(
            get_job,
            Job(job_id="j3", conversation_id="c3", submitted_at=t.now),
            timeout=50,
            schedule=PollSchedule(jitter=0, initial_interval=10, growth=1, max_interval=10),
            sleep=t.sleep,
            clock=t.clock,
        )
    err = info.value
    assert (err.job_id, err.conversation_id, err.last_status) == ("j3", "c3", "in_progress")
    assert polls[-1] == pytest.approx(1050.0)  # exactly at the deadline, not beyond
    assert t.now == pytest.approx(1050.0)


async def test_completed_at_the_final_poll_is_a_success() -> None:
    t = FakeTime()
    get_job = scripted(["in_progress", "completed"], t, [])
    info = await poll_until_done(
        get_job,
        Job(job_id="j", conversation_id="c", submitted_at=t.now),
        timeout=15,
        schedule=PollSchedule(jitter=0, initial_interval=10, growth=1),
        sleep=t.sleep,
        clock=t.clock,
    )
    assert info.status is JobStatus.COMPLETED


def test_unknown_status_is_kept_and_not_terminal() -> None:
    status = JobStatus("queued_for_review")
    assert status.value == "queued_for_review"
    assert not status.is_terminal
    assert status.rank == 0
    assert JobStatus("completed") is JobStatus.COMPLETED


def test_wake_times_count_from_the_origin_and_end_at_the_deadline() -> None:
    from symbl_async.client._waiting import wake_times

    t = FakeTime()  # now = 1000
    out = []
    for wait, final in wake_times([30, 10, 10, 10], origin=990.0, deadline=1035.0, clock=t.clock):
        out.append((wait, final))
        t.now += wait + 1  # the poll itself takes a second
    # 20 s (30 from the origin, 10 already spent), then 10 s minus the poll's second, then
    # the deadline (1035, now 1031) comes before the third delay is over: one last wake-up.
    assert out == [(20.0, False), (9.0, False), (4.0, True)]


async def test_transient_job_errors_are_retried_inside_the_deadline() -> None:
    t = FakeTime()
    polls: list[float] = []
    answers: list[Exception | str] = [
        NotFoundError(404, "Job not found"), ServerError(500, "boom"),
        SymblConnectionError("reset"), "in_progress", "completed",
    ]

    async def get_job(job_id: str) -> JobInfo:
        polls.append(t.now)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return JobInfo(id=job_id, status=JobStatus(answer))

    job = Job(job_id="j1", conversation_id="c1", media_duration=60.0, submitted_at=t.now)
    info = await poll_until_done(get_job, job, timeout=3600, schedule=PollSchedule(jitter=0),
                                 sleep=t.sleep, clock=t.clock)
    assert info.status is JobStatus.COMPLETED and len(polls) == 5


async def test_only_the_deadline_ends_a_wait_of_errors_and_it_keeps_the_job_id() -> None:
    t = FakeTime()

    async def get_job(job_id: str) -> JobInfo:
        raise NotFoundError(404, "Job not found")

    job = Job(job_id="j2", conversation_id="c2", media_duration=60.0, submitted_at=t.now)
    with pytest.raises(WaitTimeoutError) as info:
        await poll_until_done(get_job, job, timeout=600, schedule=PollSchedule(jitter=0),
                              sleep=t.sleep, clock=t.clock)
    assert info.value.job_id == "j2" and t.now == pytest.approx(1000.0 + 600)
