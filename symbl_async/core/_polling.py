"""Poll schedules: when to ask ``GET /v1/job/{jobId}``; pure, no I/O.

The wait loops in :mod:`symbl_async.client._waiting` sleep on these schedules; keeping
them here lets the arithmetic be tested on plain numbers.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable, Iterable, Iterator

import attrs

from symbl_async.core._checks import number_field
from symbl_async.core._estimate import ProcessingTimeModel
from symbl_async.errors import ValidationError

__all__ = [
    "PollSchedule",
    "SafetyPollSchedule",
    "WaitMode",
    "parse_wait_mode",
    "wake_times",
]


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
        learn: learn how long jobs really take from the ones that end (a
            :class:`~symbl_async.core._estimate.ProcessingTimeModel` per client,
            starting from ``expected_factor`` and ``expected_overhead``), and place polls
            where the learned distribution says the job ends
            (:class:`~symbl_async.core._pollplan.PollPlan`). ``False`` keeps the fixed
            schedule above.
        poll_budget: with ``learn``, the polls per job to expect on average; more
            polls, less delay between a job's end and the client seeing it.

    Raises:
        ValidationError: a value out of range, infinite or not a number.
    """

    expected_factor: float = attrs.field(default=0.25, validator=number_field("expected_factor"))
    expected_overhead: float = attrs.field(
        default=30.0, validator=number_field("expected_overhead")
    )
    first_poll_fraction: float = attrs.field(
        default=0.8, validator=number_field("first_poll_fraction", maximum=1)
    )
    initial_interval: float = attrs.field(
        default=2.0, validator=number_field("initial_interval", strict=True)
    )
    growth: float = attrs.field(default=1.5, validator=number_field("growth", minimum=1))
    max_interval: float = attrs.field(
        default=30.0, validator=number_field("max_interval", strict=True)
    )
    jitter: float = attrs.field(default=0.1, validator=number_field("jitter", below=1))
    time_scale: float = attrs.field(default=1.0, validator=number_field("time_scale", strict=True))
    learn: bool = attrs.field(default=True, validator=attrs.validators.instance_of(bool))
    poll_budget: float = attrs.field(
        default=2.5, validator=number_field("poll_budget", minimum=1, maximum=100)
    )

    def new_model(self) -> ProcessingTimeModel:
        """A processing-time model whose prior is this schedule's (in real seconds)."""
        return ProcessingTimeModel(
            factor=self.expected_factor / self.time_scale,
            overhead=self.expected_overhead / self.time_scale,
        )

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

    With a :class:`PollSchedule` that learns (its ``learn``, the default) and a client's
    model, the safety polls follow the learned plan of a poll-mode wait, later by
    ``lateness`` times the prediction's spread (the stretch at most 1.5x) plus one
    shortest interval: a webhook normally comes first, and a lost one costs about one
    interval of the learned plan. The plan moves as the model learns (a service 3x
    slower than the prior is not polled at the prior's times). When webhooks miss more
    than half of the recent ends, the safety polls become a poll-mode wait's.

    Otherwise it builds on the :class:`PollSchedule`'s fixed figures: its expected
    processing time, shortest interval, jitter and time scale. The first safety poll
    comes after the expected time (a webhook normally arrives before), the next one
    after half of that delay, then intervals grow by ``growth`` up to ``max_interval``.
    So a lost webhook costs at most about one interval of delay, and a job whose
    webhooks arrive costs no poll.

    Attributes:
        lateness: with a learned plan, how much later than a poll-mode wait's the safety
            polls come, in spreads of the job's predicted time (log space). With 1.5, on
            a replay of a 600-job batch (tests/core/test_pollplan.py), jobs whose
            webhooks came cost 0.00-0.02 safety polls each when their times varied as
            little as the emulator's, about 0.2 with 10 % job-to-job spread; a lost
            webhook cost 3-7 % of a job's time on average.
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

    lateness: float = attrs.field(default=1.5, validator=number_field("lateness"))
    first_poll_factor: float = attrs.field(
        default=1.2, validator=number_field("first_poll_factor", strict=True)
    )
    unknown_length_first_poll: float = attrs.field(
        default=5.0, validator=number_field("unknown_length_first_poll", strict=True)
    )
    growth: float = attrs.field(default=2.0, validator=number_field("growth", minimum=1))
    max_interval: float = attrs.field(
        default=120.0, validator=number_field("max_interval", strict=True)
    )

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
