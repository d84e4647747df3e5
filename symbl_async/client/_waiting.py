"""Waiting for a job to end, economically: by polling, by webhook, or both.

Symbl documents no processing time, and every ``GET /v1/job`` is a request. When the
media length is known, the first poll waits for most of the expected processing
time (a poll before then cannot succeed); after that, intervals grow geometrically,
capped, with jitter so that many waiters do not poll in lockstep. Every wait has a
deadline, and giving up never loses the job id (it is in the error).

Three modes (:class:`WaitMode`), one interface (:class:`Waiter`: ``await
waiter.wait(job, timeout=...)``):

- ``poll`` (:class:`PollWaiter`): :func:`poll_until_done` on a :class:`PollSchedule`;
- ``webhook`` (:class:`WebhookWaiter`): sleeps on a
  :class:`~symbl_async.webhooks._receiver.WebhookReceiver` watch until the job's end is confirmed;
  no polls at all, so a lost final webhook means a :class:`WaitTimeoutError`;
- ``hybrid`` (:class:`HybridWaiter`): the same, plus a slow safety poll
  (:class:`SafetyPollSchedule`) that starts after the expected processing time and backs
  off; what it learns is fed to the receiver. A lost webhook delays the job a little but
  never hangs it.
"""

from __future__ import annotations

import random
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import attrs

from symbl_async.client._learning import observe_end
from symbl_async.client._modelwatch import ModelWatch
from symbl_async.client._polls import GetJob, _poll_loop, poll_and_learn, poll_until_done
from symbl_async.core._estimate import ProcessingTimeModel
from symbl_async.core._jobs import Job, JobInfo, JobStatus
from symbl_async.core._polling import (
    PollSchedule,
    SafetyPollSchedule,
    WaitMode,
    parse_wait_mode,
    wake_times,
)
from symbl_async.errors import JobFailedError, ValidationError, WaitTimeoutError

if TYPE_CHECKING:
    from symbl_async.webhooks._receiver import JobWatch, WebhookReceiver

__all__ = [
    "GetJob",
    "HybridWaiter",
    "PollSchedule",
    "PollWaiter",
    "SafetyPollSchedule",
    "WaitMode",
    "Waiter",
    "WebhookWaiter",
    "make_waiter",
    "parse_wait_mode",
    "poll_until_done",
    "wait_for_webhook",
    "wake_times",
]

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
) -> JobInfo:
    """Wait until the receiver confirms the job's end; with ``get_job``, safety-poll too.

    The job is watched first thing (a webhook that came earlier is remembered by the
    receiver, so none is missed). Without ``get_job`` (``webhook`` mode) nothing is
    polled: the deadline is the only way out when the final webhook is lost. With it
    (``hybrid`` mode) the job is also polled on ``safety`` (built on ``schedule``), every
    answer is fed to :meth:`~symbl_async.webhooks._receiver.WebhookReceiver.note_status` (which
    also releases other waiters of the job), and one last poll is made at the deadline,
    as :func:`poll_until_done` does. When the wait ends, however it ends, the watch is
    retired unless another wait still holds it; a confirmed end stays remembered
    (bounded) so that waiting again returns at once.

    Args:
        receiver: the receiver the job's ``webhookUrl`` points at.
        job: the job.
        timeout: seconds to wait at most.
        get_job: ``GET /v1/job/{jobId}``; turns the safety poll on.
        schedule: the poll schedule the safety poll builds on (default
            :class:`PollSchedule`).
        safety: the safety poll's shape (default :class:`SafetyPollSchedule`).
        clock: monotonic seconds.
        rng: random source of the jitter.

    Returns:
        The completed job's status.

    Raises:
        JobFailedError: the job ended ``failed``.
        WaitTimeoutError: the deadline passed first; the job stays known by id.
        ClientClosedError: the receiver was (or got) closed before the job ended.
    """
    watch = receiver.watch(job.job_id)
    _holders[watch] = _holders.get(watch, 0) + 1
    try:
        if get_job is None:
            status = await watch.wait(timeout)
            if status is None:
                last = watch.status.value if watch.status is not None else None
                raise WaitTimeoutError(job.job_id, job.conversation_id, timeout, last)
            return _ended(job, status)

        async def pause(seconds: float, final: bool) -> JobInfo | None:
            status = await watch.wait(seconds)
            return None if status is None else _ended(job, status)

        def feed(info: JobInfo) -> None:
            receiver.note_status(job.job_id, info.status)

        delays = (safety or SafetyPollSchedule()).delays(
            schedule or PollSchedule(), job.media_duration, rng
        )
        return await _poll_loop(
            get_job, job, delays, timeout=timeout, pause=pause, clock=clock, on_status=feed
        )
    finally:
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
        info = await wait_for_webhook(self.receiver, job, timeout=timeout)
        if self.watch is not None:  # the release is the end, give or take a confirmation
            observe_end(self.watch, job, time.monotonic() - job.submitted_at)
        return info


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
        info = await wait_for_webhook(
            self.receiver,
            job,
            timeout=timeout,
            get_job=self.get_job,
            schedule=self.schedule,
            safety=self.safety,
        )
        if self.watch is not None:
            # Mostly released by a webhook (exact); a safety poll's find is late by up to
            # an interval, which the model's robust fit absorbs.
            observe_end(self.watch, job, time.monotonic() - job.submitted_at)
        return info


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
        watch: the :class:`~symbl_async.client._modelwatch.ModelWatch` of ``model``
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
