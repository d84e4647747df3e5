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
  :class:`~symbl_async.webhooks.WebhookReceiver` watch until the job's end is confirmed;
  no polls at all, so a lost final webhook means a :class:`WaitTimeoutError`;
- ``hybrid`` (:class:`HybridWaiter`): the same, plus a slow safety poll
  (:class:`SafetyPollSchedule`) that starts after the expected processing time and backs
  off; what it learns is fed to the receiver. A lost webhook delays the job a little but
  never hangs it.
"""

from __future__ import annotations

import asyncio
import enum
import random
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Protocol

import attrs

from .errors import JobFailedError, ValidationError, WaitTimeoutError
from .jobs import Job, JobInfo, JobStatus

if TYPE_CHECKING:
    from .webhooks import JobWatch, WebhookReceiver

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

GetJob = Callable[[str], Awaitable[JobInfo]]
"""``GET /v1/job/{jobId}``: ``client.get_job``."""


class WaitMode(str, enum.Enum):
    """How a wait learns that a job ended.

    Attributes:
        POLL: poll ``GET /v1/job/{jobId}`` on a :class:`PollSchedule`.
        WEBHOOK: wait for the receiver's confirmed webhook only; never poll.
        HYBRID: wait for the webhook, with a slow safety poll in case it is lost.
    """

    POLL = "poll"
    WEBHOOK = "webhook"
    HYBRID = "hybrid"

    @property
    def needs_receiver(self) -> bool:
        """True for the modes that wait on a webhook receiver."""
        return self is not WaitMode.POLL


def parse_wait_mode(value: WaitMode | str, field: str = "mode") -> WaitMode:
    """Turn ``"poll"``, ``"webhook"`` or ``"hybrid"`` into a :class:`WaitMode`.

    Args:
        value: the mode, as a :class:`WaitMode` or its string value.
        field: the argument name to blame in the error.

    Returns:
        The mode.

    Raises:
        ValidationError: not one of the three modes.
    """
    try:
        return WaitMode(value)
    except ValueError:
        raise ValidationError(field, "must be 'poll', 'webhook' or 'hybrid'") from None


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


@attrs.frozen(kw_only=True)
class SafetyPollSchedule:
    """When a hybrid wait polls anyway, in case the job's webhooks are lost.

    It builds on a :class:`PollSchedule`: its expected processing time, shortest
    interval, jitter and time scale. The first safety poll comes after the expected
    time (a webhook normally arrives before), the next one after half of that delay,
    then intervals grow by ``growth`` up to ``max_interval``. So a lost webhook costs at
    most about one interval of delay, and a job whose webhooks arrive costs no poll.

    Attributes:
        first_poll_factor: the first safety poll comes after this many times the
            expected processing time, when the media length is known.
        unknown_length_first_poll: when it is not, the first safety poll comes after
            ``first_poll_factor`` times the expected time of the shortest media (the
            fixed overhead), but no sooner than this many times the poll schedule's
            ``initial_interval``.
        growth: each interval is this many times the previous one.
        max_interval: the longest interval, in service seconds (divided by the poll
            schedule's ``time_scale``).
    """

    first_poll_factor: float = attrs.field(default=1.2, validator=attrs.validators.gt(0))
    unknown_length_first_poll: float = attrs.field(default=5.0, validator=attrs.validators.gt(0))
    growth: float = attrs.field(default=2.0, validator=attrs.validators.ge(1))
    max_interval: float = attrs.field(default=120.0, validator=attrs.validators.gt(0))

    def delays(
        self,
        poll: PollSchedule,
        media_duration: float | None,
        rng: random.Random | None = None,
    ) -> Iterator[float]:
        """Seconds to sleep before each safety poll, counted from the submit.

        Args:
            poll: the poll schedule whose expected time, floor, jitter and scale apply.
            media_duration: the media length in seconds, when known.
            rng: random source of the jitter.

        Returns:
            An endless iterator of delays.
        """
        rng = rng or random.Random()
        floor = poll.initial_interval / poll.time_scale
        cap = max(self.max_interval / poll.time_scale, floor)
        expected = poll.expected_time(media_duration)
        if expected is not None:
            first = max(expected * self.first_poll_factor, floor)
        else:
            # No job takes less than the fixed overhead; with no length, that is the
            # best guess there is.
            shortest = poll.expected_time(0.0) or 0.0
            first = max(shortest * self.first_poll_factor, floor * self.unknown_length_first_poll)
        jitter = poll.jitter
        yield first * (1 + rng.uniform(-jitter, jitter))
        interval = max(floor, min(cap, first / 2))
        while True:
            yield interval * (1 + rng.uniform(-jitter, jitter))
            interval = min(cap, interval * self.growth)


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

    async def pause(seconds: float) -> JobInfo | None:
        await sleep(seconds)
        return None

    delays = schedule.delays(job.media_duration, rng)
    return await _poll_loop(
        get_job, job, delays, timeout=timeout, pause=pause, clock=clock, on_status=on_status
    )


def wake_times(
    delays: Iterable[float], *, origin: float, deadline: float, clock: Callable[[], float]
) -> Iterator[tuple[float, bool]]:
    """Turn a schedule's delays into sleeps, ending with one wake-up at the deadline.

    Each delay counts from the previous wake-up (the first from ``origin``, e.g. the
    submit), so time already spent is not waited again. The clock is read when the
    next item is asked for, that is after the caller's poll.

    Yields:
        ``(seconds to sleep from now, final)``; ``final`` is true for the wake-up at
        the deadline, which is the last one.
    """
    for delay in delays:
        now = clock()
        wake = max(origin + delay, now)
        final = wake >= deadline
        if final:
            wake = max(deadline, now)
        origin = wake
        yield wake - now, final
        if final:
            return


async def _poll_loop(
    get_job: GetJob,
    job: Job,
    delays: Iterator[float],
    *,
    timeout: float,
    pause: Callable[[float], Awaitable[JobInfo | None]],
    clock: Callable[[], float],
    on_status: Callable[[JobInfo], None] | None,
) -> JobInfo:
    """The poll loop of :func:`poll_until_done`; ``pause`` may end the wait early."""
    start = clock()
    origin = min(job.submitted_at, start)
    for wait, final in wake_times(delays, origin=origin, deadline=start + timeout, clock=clock):
        if wait > 0:
            ended = await pause(wait)
            if ended is not None:
                return ended
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
    answer is fed to :meth:`~symbl_async.webhooks.WebhookReceiver.note_status` (which
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

        async def pause(seconds: float) -> JobInfo | None:
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

    @property
    def mode(self) -> WaitMode:
        """Always :attr:`WaitMode.POLL`."""
        return WaitMode.POLL

    async def wait(self, job: Job, *, timeout: float) -> JobInfo:
        """Poll until the job ends; see :meth:`Waiter.wait`."""
        return await poll_until_done(self.get_job, job, timeout=timeout, schedule=self.schedule)


@attrs.frozen
class WebhookWaiter:
    """``webhook`` mode: the receiver's confirmed webhook, and no polls."""

    receiver: WebhookReceiver

    @property
    def mode(self) -> WaitMode:
        """Always :attr:`WaitMode.WEBHOOK`."""
        return WaitMode.WEBHOOK

    async def wait(self, job: Job, *, timeout: float) -> JobInfo:
        """Wait for the webhook; see :func:`wait_for_webhook` (without ``get_job``)."""
        return await wait_for_webhook(self.receiver, job, timeout=timeout)


@attrs.frozen
class HybridWaiter:
    """``hybrid`` mode: the receiver's confirmed webhook, with a slow safety poll."""

    receiver: WebhookReceiver
    get_job: GetJob
    schedule: PollSchedule = attrs.field(factory=PollSchedule)
    safety: SafetyPollSchedule = attrs.field(factory=SafetyPollSchedule)

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
        )


def make_waiter(
    mode: WaitMode | str,
    *,
    get_job: GetJob,
    schedule: PollSchedule,
    receiver: WebhookReceiver | None = None,
    safety: SafetyPollSchedule | None = None,
    field: str = "mode",
) -> Waiter:
    """Build the waiter of a mode; checks everything before any wait starts.

    Args:
        mode: ``"poll"``, ``"webhook"`` or ``"hybrid"``.
        get_job: ``GET /v1/job/{jobId}`` (polls, safety polls).
        schedule: the poll schedule (the safety poll builds on it too).
        receiver: the webhook receiver; required by ``webhook`` and ``hybrid``.
        safety: the hybrid safety poll's shape.
        field: the argument name to blame in errors.

    Returns:
        A :class:`PollWaiter`, :class:`WebhookWaiter` or :class:`HybridWaiter`.

    Raises:
        ValidationError: an unknown mode, or a webhook mode without a receiver.
    """
    wait_mode = parse_wait_mode(mode, field)
    if wait_mode is WaitMode.POLL:
        return PollWaiter(get_job, schedule)
    if receiver is None:
        raise ValidationError(
            field,
            f"{wait_mode.value!r} needs a webhook receiver: pass receiver= to SymblClient "
            "or call attach_receiver() (or wait with mode='poll')",
        )
    if wait_mode is WaitMode.WEBHOOK:
        return WebhookWaiter(receiver)
    return HybridWaiter(receiver, get_job, schedule, safety or SafetyPollSchedule())
