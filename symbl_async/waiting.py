"""Waiting for a job to end, economically.

Symbl documents no processing time, and every ``GET /v1/job`` is a request. When the
media length is known, the first poll waits for most of the expected processing
time (a poll before then cannot succeed); after that, intervals grow geometrically,
capped, with jitter so that many waiters do not poll in lockstep. Every wait has a
deadline, and giving up never loses the job id (it is in the error).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Iterator

import attrs

from .errors import JobFailedError, WaitTimeoutError
from .jobs import Job, JobInfo, JobStatus

__all__ = ["PollSchedule", "poll_until_done"]


@attrs.frozen(kw_only=True)
class PollSchedule:
    """When to poll a job's status.

    Attributes:
        expected_factor: expected processing seconds per second of media.
        expected_overhead: expected fixed processing seconds per job.
        first_poll_fraction: the first poll comes after this share of the expected
            processing time, when the media length is known.
        initial_interval: first interval when the length is unknown, and the
            shortest interval ever.
        growth: each interval is this many times the previous one.
        max_interval: the longest interval.
        jitter: each interval is varied by up to this share, up or down.
        time_scale: divides every delay; match an emulator's ``time_scale``.
    """

    expected_factor: float = attrs.field(default=0.25, validator=attrs.validators.ge(0))
    expected_overhead: float = attrs.field(default=30.0, validator=attrs.validators.ge(0))
    first_poll_fraction: float = attrs.field(
        default=0.8, validator=[attrs.validators.ge(0), attrs.validators.le(1)]
    )
    initial_interval: float = attrs.field(default=2.0, validator=attrs.validators.gt(0))
    growth: float = attrs.field(default=1.5, validator=attrs.validators.ge(1))
    max_interval: float = attrs.field(default=30.0, validator=attrs.validators.gt(0))
    jitter: float = attrs.field(
        default=0.1, validator=[attrs.validators.ge(0), attrs.validators.lt(1)]
    )
    time_scale: float = attrs.field(default=1.0, validator=attrs.validators.gt(0))

    def expected_time(self, media_duration: float | None) -> float | None:
        """Expected processing seconds (scaled), or ``None`` when the length is unknown."""
        if media_duration is None:
            return None
        return (self.expected_factor * media_duration + self.expected_overhead) / self.time_scale

    def delays(
        self, media_duration: float | None, rng: random.Random | None = None
    ) -> Iterator[float]:
        """Seconds to sleep before each poll, counted from the submit."""
        rng = rng or random.Random()
        floor = self.initial_interval / self.time_scale
        cap = max(self.max_interval / self.time_scale, floor)
        expected = self.expected_time(media_duration)
        if expected is not None:
            yield max(expected * self.first_poll_fraction, floor)
            # Then start small: the job is probably about to finish.
            interval = max(floor, min(cap, expected * 0.05))
        else:
            interval = floor
        while True:
            yield interval * (1 + rng.uniform(-self.jitter, self.jitter))
            interval = min(cap, interval * self.growth)


async def poll_until_done(
    get_job: Callable[[str], Awaitable[JobInfo]],
    job: Job,
    *,
    timeout: float,
    schedule: PollSchedule,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
    rng: random.Random | None = None,
    on_status: Callable[[JobInfo], None] | None = None,
) -> JobInfo:
    """Poll until the job is completed (return) or failed (raise), or the deadline.

    The first delay counts from ``job.submitted_at``: time already spent (say, in
    a queue) is not waited again. One last poll is made at the deadline itself.

    Raises:
        JobFailedError: the job ended ``failed``.
        WaitTimeoutError: ``timeout`` seconds passed without an end.
    """
    start = clock()
    deadline = start + timeout
    origin = min(job.submitted_at, start)
    for delay in schedule.delays(job.media_duration, rng):
        now = clock()
        wake = max(origin + delay, now)
        final = wake >= deadline
        if final:
            wake = max(deadline, now)
        origin = wake
        if wake > now:
            await sleep(wake - now)
        info = await get_job(job.job_id)
        if on_status is not None:
            on_status(info)
        if info.status is JobStatus.FAILED:
            raise JobFailedError(job.job_id, job.conversation_id)
        if info.status is JobStatus.COMPLETED:
            return info
        if final:
            raise WaitTimeoutError(job.job_id, job.conversation_id, timeout, info.status.value)
    raise AssertionError("unreachable: delays() never ends")  # pragma: no cover
