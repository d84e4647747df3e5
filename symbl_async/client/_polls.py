"""The poll loop: ``GET /v1/job/{jobId}`` on a schedule until the job ends or the deadline.

One loop (:func:`_poll_loop`) serves every wait that polls: plain polling on a
:class:`~symbl_async.core.PollSchedule` (:func:`poll_until_done`), polling on the learned
model's plan (:func:`poll_and_learn`), and the hybrid mode's safety poll
(:func:`symbl_async.client._waiting.wait_for_webhook`).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Iterator

from symbl_async.client._learning import DEFAULT_KIND, learned_plan, plan_delays
from symbl_async.client._modelwatch import ModelWatch
from symbl_async.core._jobs import Job, JobInfo, JobStatus
from symbl_async.core._polling import PollSchedule, wake_times
from symbl_async.errors import (
    JobFailedError,
    NotFoundError,
    ResponseDecodeError,
    ServerError,
    SymblConnectionError,
    WaitTimeoutError,
)

__all__ = ["TRANSIENT_JOB_ERRORS", "GetJob", "Pause", "poll_and_learn", "poll_until_done"]


Pause = Callable[[float, bool], Awaitable[JobInfo | None]]
"""Sleep ``seconds`` before the next poll (``final``: the poll at the deadline); an
answer ends the wait without polling (a webhook's)."""

GetJob = Callable[[str], Awaitable[JobInfo]]
"""``GET /v1/job/{jobId}``: ``client.get_job``."""

TRANSIENT_JOB_ERRORS = (NotFoundError, ServerError, SymblConnectionError, ResponseDecodeError)
"""Errors of ``GET /v1/job`` that a wait outlives (asked again until its deadline)."""


async def poll_until_done(
    get_job: GetJob,
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

    Args:
        get_job: ``GET /v1/job/{jobId}``.
        job: the job.
        timeout: seconds to wait at most.
        schedule: when to poll.
        sleep: how to sleep (a fake one in tests).
        clock: monotonic seconds.
        rng: random source of the jitter.
        on_status: called with every answer.

    Returns:
        The completed job's status.

    Raises:
        JobFailedError: the job ended ``failed``.
        WaitTimeoutError: ``timeout`` seconds passed without an end.
    """

    async def pause(seconds: float, final: bool) -> JobInfo | None:
        await sleep(seconds)
        return None

    delays = schedule.delays(job.media_duration, rng)
    return await _poll_loop(
        get_job, job, delays, timeout=timeout, pause=pause, clock=clock, on_status=on_status
    )


async def poll_and_learn(
    get_job: GetJob,
    job: Job,
    *,
    timeout: float,
    schedule: PollSchedule,
    model: ModelWatch,
    clock: Callable[[], float] = time.monotonic,
) -> JobInfo:
    """:func:`poll_until_done` on the learned model's plan, and teach it the job's end.

    Same contract and the same loop; only the delays differ: polls follow the model's
    plan (:class:`~symbl_async.core._pollplan.PollPlan`), and a wait sleeping toward a
    poll is woken when another wait's observation moved the model materially for this
    job, and re-plans from now (conditioned on the job not having ended by its last
    poll): the pending poll may come sooner (the service is faster than thought) or
    later (slower). The poll at the deadline stays where it is. A completed job is
    observed as ended between the last poll that saw it running (or the submit) and
    the poll that saw it done.
    """
    running_seen = [job.submitted_at]
    plan = learned_plan(model.model, job, schedule)
    deadline = clock() + timeout

    def on_status(info: JobInfo) -> None:
        if not info.status.is_terminal:
            running_seen[0] = clock()

    async def pause(seconds: float, final: bool) -> JobInfo | None:
        if final:  # the deadline's poll stays: an earlier one would time out too soon
            await asyncio.sleep(seconds)
            return None
        target = clock() + seconds
        while (remaining := target - clock()) > 0:
            if await model.sleep(plan, remaining):
                moved = plan.replan(clock() - job.submitted_at)
                if moved is not None:
                    target = min(job.submitted_at + moved, deadline)
        return None

    info = await _poll_loop(
        get_job, job, plan_delays(plan), timeout=timeout, pause=pause, clock=clock,
        on_status=on_status,
    )
    if info.status is JobStatus.COMPLETED:
        model.observe_between(
            job.kind or DEFAULT_KIND,
            job.media_duration,
            running_seen[0] - job.submitted_at,
            clock() - job.submitted_at,
        )
    return info


async def _poll_loop(
    get_job: GetJob,
    job: Job,
    delays: Iterator[float],
    *,
    timeout: float,
    pause: Pause,
    clock: Callable[[], float],
    on_status: Callable[[JobInfo], None] | None,
) -> JobInfo:
    """The poll loop of :func:`poll_until_done`; ``pause`` may end the wait early."""
    start = clock()
    origin = min(job.submitted_at, start)
    for wait, final in wake_times(delays, origin=origin, deadline=start + timeout, clock=clock):
        if wait > 0:
            ended = await pause(wait, final)
            if ended is not None:
                return ended
        try:
            info = await get_job(job.job_id)
        except TRANSIENT_JOB_ERRORS as exc:
            # A hiccup (404 while the job is being indexed, 5xx, a reset): the job id came
            # from the submit, so the job exists; ask again at the next wake-up. Only the
            # deadline (or a 'failed' status) ends a wait, and its error keeps the job id.
            if final:
                raise WaitTimeoutError(job.job_id, job.conversation_id, timeout, None) from exc
            continue
        if on_status is not None:
            on_status(info)
        if info.status is JobStatus.FAILED:
            raise JobFailedError(job.job_id, job.conversation_id)
        if info.status is JobStatus.COMPLETED:
            return info
        if final:
            raise WaitTimeoutError(job.job_id, job.conversation_id, timeout, info.status.value)
    raise AssertionError("unreachable: delays() never ends")  # pragma: no cover
