"""Waiting for a job to end, economically: by polling, by webhook, or both.

Symbl documents no processing time, and every ``GET /v1/job`` is a request. When the
media length is known, the first poll waits for most of the expected processing
time (a poll before then cannot succeed); after that, intervals grow geometrically,
capped, with jitter so that many waiters do not poll in lockstep. Every wait has a
deadline, and giving up never loses the job id (it is in the error).

Three modes (:class:`WaitMode`), one interface (:class:`Waiter`: ``await
waiter.wait(job, timeout=...)``):

- ``poll`` (:class:`PollWaiter`): :func:`poll_until_done` on a :class:`PollSchedule`,
  or :func:`poll_and_learn` on the learned model's plan;
- ``webhook`` (:class:`WebhookWaiter`): sleeps on a
  :class:`~symbl_async.webhooks._receiver.WebhookReceiver` watch until the job's end is confirmed;
  no polls at all, so a lost final webhook means a :class:`WaitTimeoutError`;
- ``hybrid`` (:class:`HybridWaiter`): the same, plus a safety poll: the learned plan
  of a poll-mode wait made later (:class:`SafetyPollSchedule` ``lateness``), or, without
  a learned model, a fixed schedule that starts after the expected processing time and
  backs off; what it learns is fed to the receiver. A lost webhook delays the job by
  about one interval of the plan but never hangs it.

The module reads top to bottom in the order one wait runs: the learned model and the
waits sleeping on it (:class:`ModelWatch`), the plan a wait polls on
(:func:`learned_plan`), the one poll loop every polling wait shares (:func:`_poll_loop`),
the webhook wait (:func:`wait_for_webhook`), then the three waiters and
:func:`make_waiter`. The arithmetic stays pure in :mod:`symbl_async.core`
(``_polling``, ``_estimate``, ``_pollplan``); only the sleeping and asking is here.

Polling that learns: every end a wait sees is taught to the client's processing-time
model through its :class:`ModelWatch`, which wakes the waits sleeping toward polls the
new estimate moved. What a wait teaches (:class:`_Teacher`):

- a poll that sees the job running: it takes at least this long, a lower bound the
  model keeps while the wait lasts (``ProcessingTimeModel.observe_running``);
- a poll that sees the job ended: the end lies between the previous poll that saw it
  running (or the submit) and this one (``ProcessingTimeModel.observe_between``);
- a webhook (confirmed): the end is the moment the wait is released, near enough.

A job that failed teaches nothing (a failure may come early, at any point), and its
lower bound is dropped.
"""

from __future__ import annotations

import asyncio
import random
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Protocol

import attrs

from symbl_async.core._estimate import ProcessingTimeModel
from symbl_async.core._jobs import Job, JobInfo, JobStatus
from symbl_async.core._polling import (
    PollSchedule,
    SafetyPollSchedule,
    WaitMode,
    parse_wait_mode,
    wake_times,
)
from symbl_async.core._pollplan import PollPlan
from symbl_async.errors import (
    JobFailedError,
    NotFoundError,
    ResponseDecodeError,
    ServerError,
    SymblConnectionError,
    ValidationError,
    WaitTimeoutError,
)

if TYPE_CHECKING:
    from symbl_async.webhooks._receiver import JobWatch, WebhookReceiver

__all__ = [
    "DEFAULT_KIND",
    "TRANSIENT_JOB_ERRORS",
    "GetJob",
    "HybridWaiter",
    "ModelWatch",
    "Pause",
    "PollSchedule",
    "PollWaiter",
    "SafetyPollSchedule",
    "WaitMode",
    "Waiter",
    "WebhookWaiter",
    "learned_plan",
    "make_waiter",
    "observe_end",
    "parse_wait_mode",
    "plan_delays",
    "poll_and_learn",
    "poll_until_done",
    "wait_for_webhook",
    "wake_times",
]

GetJob = Callable[[str], Awaitable[JobInfo]]
"""``GET /v1/job/{jobId}``: ``client.get_job``."""

Pause = Callable[[float, bool], Awaitable[JobInfo | None]]
"""Sleep ``seconds`` before the next poll (``final``: the poll at the deadline); an
answer ends the wait without polling (a webhook's)."""

TRANSIENT_JOB_ERRORS = (NotFoundError, ServerError, SymblConnectionError, ResponseDecodeError)
"""Errors of ``GET /v1/job`` that a wait outlives (asked again until its deadline)."""

DEFAULT_KIND = "audio"
"""The kind learned for jobs whose kind is unknown (made by hand, not by a submit)."""

_MISSED_SPAN = 16.0  # hybrid waits over which the share of missed webhooks is averaged


# -- the learned model, and the waits sleeping on plans made from it -------------------


def _resolve(future: asyncio.Future[bool | None]) -> None:
    if not future.done():
        future.set_result(False)


class ModelWatch:
    """A processing-time model, and the waits sleeping on plans made from it.

    A wait polling on the learned plan (:func:`poll_and_learn`) sleeps toward a poll
    placed by the model's estimate at the time. In a batch, up to ``limit`` waits share
    one model, and the first ends of a run may show that the service is 3x faster than
    the prior: the other waits should not sleep on toward polls placed by the stale
    estimate. So every observation goes through a watch, which wakes the sleeping waits
    whose own estimate moved materially (:meth:`PollPlan.moved`); each re-plans from now
    (:meth:`PollPlan.replan`).

    Cost: an observation checks each sleeping wait of its kind once (a version compare,
    then a prediction: O(waits), no wake-up and no request when nothing moved); a woken
    wait re-plans itself.
    """

    def __init__(self, model: ProcessingTimeModel) -> None:
        """Watch ``model``; learn through this object so sleeping waits are woken."""
        self.model = model
        self._sleepers: dict[str, dict[asyncio.Future[bool | None], PollPlan]] = {}
        self.webhooks_missed = 0.0
        """The share of recent hybrid waits whose end a safety poll found before any
        webhook (a moving average over about 16 waits): when webhooks get lost, the
        safety polls come sooner (:func:`learned_plan`)."""

    def note_hybrid_end(self, *, by_poll: bool) -> None:
        """A hybrid wait ended: by a safety poll (its webhook lost or late), or not."""
        self.webhooks_missed += (float(by_poll) - self.webhooks_missed) / _MISSED_SPAN

    def observe(
        self, kind: str, media_duration: float | None, seconds: float, *, job: str | None = None
    ) -> None:
        """:meth:`ProcessingTimeModel.observe`, then wake the waits it moved."""
        self.model.observe(kind, media_duration, seconds, job=job)
        self._announce(kind)

    def observe_between(
        self,
        kind: str,
        media_duration: float | None,
        low: float,
        high: float,
        *,
        job: str | None = None,
    ) -> None:
        """:meth:`ProcessingTimeModel.observe_between`, then wake the waits it moved."""
        self.model.observe_between(kind, media_duration, low, high, job=job)
        self._announce(kind)

    def observe_running(
        self, kind: str, media_duration: float | None, seconds: float, *, job: str
    ) -> None:
        """:meth:`ProcessingTimeModel.observe_running`, then wake the waits it moved."""
        version = self.model.version(kind)
        self.model.observe_running(kind, media_duration, seconds, job=job)
        if self.model.version(kind) != version:  # most bounds change nothing
            self._announce(kind)

    def forget(self, kind: str, job: str) -> None:
        """:meth:`ProcessingTimeModel.forget`, then wake the waits it moved."""
        version = self.model.version(kind)
        self.model.forget(kind, job)
        if self.model.version(kind) != version:
            self._announce(kind)

    def _announce(self, kind: str) -> None:
        sleepers = self._sleepers.get(kind)
        if not sleepers:
            return
        for future, plan in sleepers.items():
            # moved() is a version compare, then one prediction: no wake (and so no
            # GET) for a change under 5 % of the median and 20 % of the spread.
            if not future.done() and plan.moved():
                future.set_result(True)

    def sleeping(self, kind: str) -> int:
        """How many waits sleep on a plan of ``kind`` now (for tests and metrics)."""
        return len(self._sleepers.get(kind, ()))

    async def sleep(
        self, plan: PollPlan, seconds: float, watch: JobWatch | None = None
    ) -> bool | None:
        """Sleep ``seconds``, or until the model moved materially for ``plan``, or (with
        ``watch``) until the job's end is confirmed or the receiver closed.

        Returns:
            True when woken by a model change (re-plan, then sleep again), False when
            the time is up, None when woken by ``watch`` (see :meth:`JobWatch.wait`).
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool | None] = loop.create_future()
        handle = loop.call_later(max(seconds, 0.0), _resolve, future)
        sleepers = self._sleepers.setdefault(plan.kind, {})
        sleepers[future] = plan
        if watch is not None:
            watch.add_waker(future)  # resolved with None
        try:
            return await future
        finally:
            handle.cancel()
            del sleepers[future]
            if not sleepers:
                self._sleepers.pop(plan.kind, None)
            if watch is not None:
                watch.remove_waker(future)


# -- the plan a wait polls on ----------------------------------------------------------


def learned_plan(
    model: ProcessingTimeModel,
    job: Job,
    schedule: PollSchedule,
    safety: SafetyPollSchedule | None = None,
    webhooks_missed: float = 0.0,
) -> PollPlan:
    """The model's poll plan for ``job`` (seconds after its submit's answer).

    With ``safety``, the plan of a hybrid wait's safety polls: the same plan made
    later by ``safety.lateness`` spreads and one shortest interval (the webhook normally
    comes first), and no cold looks (webhooks teach the model its first ends). As the
    share of recent ends that webhooks missed (``webhooks_missed``) grows from a half to
    three quarters, the plan becomes a poll-mode wait's: with no webhook to teach it, a
    plan late by design would find every end late and learn next to nothing from it.
    """
    floor = schedule.initial_interval / schedule.time_scale
    later: dict[str, float] = {}
    if safety is not None:
        # Webhooks trusted while they miss up to half the ends (a lost one, or a late
        # one: found by a safety poll either way), not at all from three quarters on.
        # (Each end a safety poll finds makes the next plans less late, and so more
        # likely to come before a slow webhook: a lower threshold fed on itself.)
        trust = min(1.0, max(0.0, (0.75 - webhooks_missed) / 0.25))
        later = {"lateness": safety.lateness * trust, "margin": floor * trust}
        if trust > 0:  # else the cold looks of a poll-mode wait
            later["cold_factor"] = 1.0
    return PollPlan(
        model,
        job.kind or DEFAULT_KIND,
        job.media_duration,
        budget=schedule.poll_budget,
        floor=floor,
        cap=max(schedule.max_interval / schedule.time_scale, floor),
        growth=schedule.growth,
        **later,
    )


def plan_delays(plan: PollPlan) -> Iterator[float]:
    """Delays between the plan's polls (the first from the submit), as the loop sleeps.

    A re-plan between two polls (:meth:`PollPlan.replan`) moves the pending poll; the
    next delay still counts from the one handed out, so the loop's wake-ups stay the
    plan's times after the submit.
    """
    previous = 0.0
    while True:
        t = plan.next()
        yield t - previous
        previous = t


def observe_end(model: ModelWatch, job: Job, seconds: float) -> None:
    """Teach the model that ``job`` ended ``seconds`` after its submit was answered."""
    model.observe(job.kind or DEFAULT_KIND, job.media_duration, seconds, job=job.job_id)


class _Teacher:
    """What one polling wait tells the model: the polls that saw the job running (lower
    bounds, :meth:`ModelWatch.observe_running`), then its end; a wait that ends without
    one (failed, timed out, cancelled) takes its bound back (:meth:`close`)."""

    def __init__(self, model: ModelWatch, job: Job, clock: Callable[[], float]) -> None:
        self.model, self.job, self.clock = model, job, clock
        self.kind = job.kind or DEFAULT_KIND
        self.running_seen = job.submitted_at  # the last poll that saw it running
        self.taught = False

    def on_status(self, info: JobInfo) -> None:
        """A poll's answer: a job still running takes at least this long."""
        if not info.status.is_terminal:
            job, now = self.job, self.clock()
            self.running_seen = now
            self.model.observe_running(
                self.kind, job.media_duration, now - job.submitted_at, job=job.job_id
            )

    def polled_end(self) -> None:
        """A poll saw the end: it lies between the last poll that saw the job running
        (or the submit) and now."""
        job = self.job
        self.taught = True
        self.model.observe_between(
            self.kind,
            job.media_duration,
            self.running_seen - job.submitted_at,
            self.clock() - job.submitted_at,
            job=job.job_id,
        )

    def webhook_end(self) -> None:
        """A confirmed webhook released the wait: the end is now, near enough."""
        self.taught = True
        observe_end(self.model, self.job, self.clock() - self.job.submitted_at)

    def close(self) -> None:
        """The wait is over; without an end learned, its lower bound goes."""
        if not self.taught:
            self.model.forget(self.kind, self.job.job_id)


async def _sleep_toward(
    model: ModelWatch,
    plan: PollPlan,
    job: Job,
    seconds: float,
    deadline: float,
    clock: Callable[[], float],
    watch: JobWatch | None = None,
) -> JobStatus | None:
    """Sleep toward the plan's pending poll, ``seconds`` away, moving it when the model
    moved for the plan (:meth:`PollPlan.replan`, no later than ``deadline``); with
    ``watch``, until the job's end is confirmed first (the status, else ``None``)."""
    target = clock() + seconds
    while (remaining := target - clock()) > 0:
        woken = await model.sleep(plan, remaining, watch)
        if woken is None and watch is not None:
            return await watch.wait(0)  # the end confirmed (or the receiver closed)
        if woken:
            moved = plan.replan(clock() - job.submitted_at)
            if moved is not None:
                target = min(job.submitted_at + moved, deadline)
    return None


# -- the poll loop, shared by every wait that polls ------------------------------------


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
    the poll that saw it done; each poll that saw it running is a lower bound the model
    keeps while the wait lasts (:meth:`ModelWatch.observe_running`).
    """
    plan = learned_plan(model.model, job, schedule)
    teacher = _Teacher(model, job, clock)
    deadline = clock() + timeout

    async def pause(seconds: float, final: bool) -> JobInfo | None:
        if final:  # the deadline's poll stays: an earlier one would time out too soon
            await asyncio.sleep(seconds)
        else:
            await _sleep_toward(model, plan, job, seconds, deadline, clock)
        return None

    try:
        info = await _poll_loop(
            get_job, job, plan_delays(plan), timeout=timeout, pause=pause, clock=clock,
            on_status=teacher.on_status,
        )
        if info.status is JobStatus.COMPLETED:
            teacher.polled_end()
        return info
    finally:
        teacher.close()


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


# -- waiting on a webhook receiver, and the three waiters ------------------------------

# How many waits currently hold each watch: the last one to leave retires it, so that
# two waits on one job never pull the watch from under each other.
_holders: weakref.WeakKeyDictionary[JobWatch, int] = weakref.WeakKeyDictionary()


async def wait_for_webhook(
    receiver: WebhookReceiver,
    job: Job,
    *,
    timeout: float,
    get_job: GetJob | None = None,
    schedule: PollSchedule | None = None,
    safety: SafetyPollSchedule | None = None,
    clock: Callable[[], float] = time.monotonic,
    rng: random.Random | None = None,
    model: ModelWatch | None = None,
) -> JobInfo:
    """Wait until the receiver confirms the job's end; with ``get_job``, safety-poll too.

    The job is watched first thing (a webhook that came earlier is remembered by the
    receiver, so none is missed). Without ``get_job`` (``webhook`` mode) nothing is
    polled: the deadline is the only way out when the final webhook is lost. With it
    (``hybrid`` mode) the job is also polled, every answer is fed to
    :meth:`~symbl_async.webhooks._receiver.WebhookReceiver.note_status` (which also
    releases other waiters of the job), and one last poll is made at the deadline, as
    :func:`poll_until_done` does. The safety polls follow the learned plan when
    ``model`` is given and ``schedule.learn`` (:func:`learned_plan` with ``safety``:
    later than a poll-mode wait's by ``safety.lateness`` spreads, re-planned when the
    model moves, so a lost webhook costs about one interval of the learned plan), else
    the fixed :class:`SafetyPollSchedule`. When the wait ends, however it ends, the
    watch is retired unless another wait still holds it; a confirmed end stays
    remembered (bounded) so that waiting again returns at once.

    Args:
        receiver: the receiver the job's ``webhookUrl`` points at.
        job: the job.
        timeout: seconds to wait at most.
        get_job: ``GET /v1/job/{jobId}``; turns the safety poll on.
        schedule: the poll schedule the safety poll builds on (default
            :class:`PollSchedule`).
        safety: the safety poll's shape (default :class:`SafetyPollSchedule`).
        clock: monotonic seconds.
        rng: random source of the jitter (the fixed schedule's).
        model: the client's learned model; the wait teaches it the job's end (and, in
            ``hybrid`` mode, the safety polls that saw it running).

    Returns:
        The completed job's status.

    Raises:
        JobFailedError: the job ended ``failed``.
        WaitTimeoutError: the deadline passed first; the job stays known by id.
        ClientClosedError: the receiver was (or got) closed before the job ended.
    """
    watch = receiver.watch(job.job_id)
    _holders[watch] = _holders.get(watch, 0) + 1
    teacher = None if model is None else _Teacher(model, job, clock)
    try:
        if get_job is None:
            status = await watch.wait(timeout)
            if status is None:
                last = watch.status.value if watch.status is not None else None
                raise WaitTimeoutError(job.job_id, job.conversation_id, timeout, last)
            info = _ended(job, status)
            if teacher is not None:
                teacher.webhook_end()
            return info
        schedule = schedule or PollSchedule()
        safety = safety or SafetyPollSchedule()
        plan = None
        if teacher is not None and schedule.learn:
            plan = learned_plan(
                teacher.model.model, job, schedule, safety, teacher.model.webhooks_missed
            )
        deadline = clock() + timeout

        async def pause(seconds: float, final: bool) -> JobInfo | None:
            if plan is None or teacher is None or final:
                status = await watch.wait(seconds)
            else:
                status = await _sleep_toward(
                    teacher.model, plan, job, seconds, deadline, clock, watch
                )
            if status is None:
                return None
            info = _ended(job, status)
            if teacher is not None:
                teacher.webhook_end()
                teacher.model.note_hybrid_end(by_poll=False)
            return info

        def feed(info: JobInfo) -> None:
            receiver.note_status(job.job_id, info.status)
            if teacher is not None:
                teacher.on_status(info)

        delays = (
            safety.delays(schedule, job.media_duration, rng) if plan is None
            else plan_delays(plan)
        )
        info = await _poll_loop(
            get_job, job, delays, timeout=timeout, pause=pause, clock=clock, on_status=feed
        )
        if teacher is not None and not teacher.taught and info.status is JobStatus.COMPLETED:
            teacher.polled_end()
            teacher.model.note_hybrid_end(by_poll=True)
        return info
    finally:
        if teacher is not None:
            teacher.close()
        _release(receiver, watch)


def _ended(job: Job, status: JobStatus) -> JobInfo:
    if status is JobStatus.FAILED:
        raise JobFailedError(job.job_id, job.conversation_id)
    return JobInfo(id=job.job_id, status=status)


def _release(receiver: WebhookReceiver, watch: JobWatch) -> None:
    """One wait leaves the watch; the last one retires it (remembering a confirmed end)."""
    left = _holders.get(watch, 1) - 1
    if left > 0:
        _holders[watch] = left
        return
    _holders.pop(watch, None)
    job_id = watch.job_id
    # is_watching first: receiver.watch() would create a watch for an unwatched job.
    if receiver.closed or not receiver.is_watching(job_id) or receiver.watch(job_id) is not watch:
        return  # someone else retired or replaced it
    receiver.forget(job_id)  # also cancels a confirmation still in flight
    if watch.terminal and watch.status is not None:
        receiver.note_status(job_id, watch.status)


def _watch_of(waiter: PollWaiter | WebhookWaiter | HybridWaiter) -> ModelWatch | None:
    # A waiter built by hand gets its own watch; the client passes the one its waits share.
    return None if waiter.model is None else ModelWatch(waiter.model)


class Waiter(Protocol):
    """What every waiting strategy offers: wait for one job, with a deadline."""

    @property
    def mode(self) -> WaitMode:
        """The strategy's mode."""
        ...

    async def wait(self, job: Job, *, timeout: float) -> JobInfo:
        """Wait until the job is completed.

        Args:
            job: the job, from a submit.
            timeout: seconds to wait at most.

        Returns:
            The completed job's status.

        Raises:
            JobFailedError: the job ended ``failed``.
            WaitTimeoutError: the deadline passed; the job may still be running.
        """
        ...


@attrs.frozen
class PollWaiter:
    """``poll`` mode: :func:`poll_until_done` on a schedule."""

    get_job: GetJob
    schedule: PollSchedule = attrs.field(factory=PollSchedule)
    model: ProcessingTimeModel | None = None
    watch: ModelWatch | None = attrs.field(
        default=attrs.Factory(_watch_of, takes_self=True), kw_only=True
    )

    @property
    def mode(self) -> WaitMode:
        """Always :attr:`WaitMode.POLL`."""
        return WaitMode.POLL

    async def wait(self, job: Job, *, timeout: float) -> JobInfo:
        """Poll until the job ends; see :meth:`Waiter.wait`."""
        if self.watch is not None and self.schedule.learn:
            return await poll_and_learn(
                self.get_job, job, timeout=timeout, schedule=self.schedule, model=self.watch
            )
        return await poll_until_done(self.get_job, job, timeout=timeout, schedule=self.schedule)


@attrs.frozen
class WebhookWaiter:
    """``webhook`` mode: the receiver's confirmed webhook, and no polls."""

    receiver: WebhookReceiver
    model: ProcessingTimeModel | None = None
    watch: ModelWatch | None = attrs.field(
        default=attrs.Factory(_watch_of, takes_self=True), kw_only=True
    )

    @property
    def mode(self) -> WaitMode:
        """Always :attr:`WaitMode.WEBHOOK`."""
        return WaitMode.WEBHOOK

    async def wait(self, job: Job, *, timeout: float) -> JobInfo:
        """Wait for the webhook; see :func:`wait_for_webhook` (without ``get_job``)."""
        # The release is the end, give or take a confirmation: the model learns it.
        return await wait_for_webhook(self.receiver, job, timeout=timeout, model=self.watch)


@attrs.frozen
class HybridWaiter:
    """``hybrid`` mode: the receiver's confirmed webhook, with a slow safety poll."""

    receiver: WebhookReceiver
    get_job: GetJob
    schedule: PollSchedule = attrs.field(factory=PollSchedule)
    safety: SafetyPollSchedule = attrs.field(factory=SafetyPollSchedule)
    model: ProcessingTimeModel | None = None
    watch: ModelWatch | None = attrs.field(
        default=attrs.Factory(_watch_of, takes_self=True), kw_only=True
    )

    @property
    def mode(self) -> WaitMode:
        """Always :attr:`WaitMode.HYBRID`."""
        return WaitMode.HYBRID

    async def wait(self, job: Job, *, timeout: float) -> JobInfo:
        """Wait for the webhook or the safety poll; see :func:`wait_for_webhook`."""
        return await wait_for_webhook(
            self.receiver,
            job,
            timeout=timeout,
            get_job=self.get_job,
            schedule=self.schedule,
            safety=self.safety,
            model=self.watch,
        )


def make_waiter(
    mode: WaitMode | str,
    *,
    get_job: GetJob,
    schedule: PollSchedule,
    receiver: WebhookReceiver | None = None,
    safety: SafetyPollSchedule | None = None,
    field: str = "mode",
    model: ProcessingTimeModel | None = None,
    watch: ModelWatch | None = None,
) -> Waiter:
    """Build the waiter of a mode; checks everything before any wait starts.

    Args:
        mode: ``"poll"``, ``"webhook"`` or ``"hybrid"``.
        get_job: ``GET /v1/job/{jobId}`` (polls, safety polls).
        schedule: the poll schedule (the safety poll builds on it too).
        receiver: the webhook receiver; required by ``webhook`` and ``hybrid``.
        safety: the hybrid safety poll's shape.
        field: the argument name to blame in errors.
        model: the learned processing-time model the waits use and teach (polls
            follow it when ``schedule.learn``); ``None`` learns nothing.
        watch: the :class:`ModelWatch` of ``model``
            shared by all the waits of a client, so that one wait's observation wakes
            the others (default: one of the waiter's own).

    Returns:
        A :class:`PollWaiter`, :class:`WebhookWaiter` or :class:`HybridWaiter`.

    Raises:
        ValidationError: an unknown mode, or a webhook mode without a receiver.
    """
    wait_mode = parse_wait_mode(mode, field)
    if watch is None and model is not None:
        watch = ModelWatch(model)
    if wait_mode is WaitMode.POLL:
        return PollWaiter(get_job, schedule, model, watch=watch)
    if receiver is None:
        raise ValidationError(
            field,
            f"{wait_mode.value!r} needs a webhook receiver: pass receiver= to SymblClient "
            "or call attach_receiver() (or wait with mode='poll')",
        )
    if wait_mode is WaitMode.WEBHOOK:
        return WebhookWaiter(receiver, model, watch=watch)
    return HybridWaiter(
        receiver, get_job, schedule, safety or SafetyPollSchedule(), model, watch=watch
    )
