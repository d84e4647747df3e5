"""How long a job takes, learned from the jobs seen so far; pure, no I/O.

Symbl documents no processing time. The poll schedule needs one, so this module keeps
an online estimate per kind of input (``audio``, ``video``, ``text``): the time from the
submit's answer to the job's end as a function of the media length, which counts the
service's queue delay as well as its processing.

The model, and why:

- Processing time grows with the media length, plus a fixed part (upload fetch, queue,
  model start-up): ``T = a * length + b``. The prior (``PollSchedule``'s
  ``expected_factor`` and ``expected_overhead``) is a guess nobody documented, so its
  level is held loosely (``prior_sigma``) and the first observations override it.
- Errors are multiplicative (a slow day slows every job by a share, not by seconds), so
  the spread is modelled in log space: ``T = (a * length + b) * exp(e)``, ``e`` normal
  with spread ``sigma``. A lognormal is also what media-processing times look like.
- Robust, so one stuck job or one wrong media length does not move the estimate much:
  the factor is the *median* of the observed/predicted ratios (in log space) and the
  spread its median absolute deviation (scaled to a normal's sigma), both over a bounded
  window of the latest observations. When the observed lengths are spread enough, the
  shape (slope and intercept) is refitted by Theil-Sen (median of pairwise slopes).
- The spread of a prediction is the job-to-job noise plus the uncertainty of the level,
  so it starts wide (polls spread over the prior's whole range) and narrows as the
  observations agree (polls close around the expected end).

What an observation is: the wait knows the job ended between its last negative poll and
its first positive one (or the webhook's arrival, which is exact); the midpoint of that
interval is used (the interval is short once the model has converged).
"""

from __future__ import annotations

import collections
import math
import statistics
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from symbl_async.errors import ValidationError

__all__ = ["Prediction", "ProcessingTimeModel"]

_MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution times this is its sigma
_WARM = 5  # observations before predictions are scored


def _finite_positive(value: object, field: str, *, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValidationError(field, "must be a finite number")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValidationError(field, "must be >= 0" if allow_zero else "must be > 0")
    return float(value)


@attrs.frozen
class Prediction:
    """A job's expected time to its end, as a lognormal distribution.

    Attributes:
        median: seconds from the submit's answer to the job's end, median.
        sigma: spread of ``log(T)``; 0.1 means about +-10 %.
    """

    median: float
    sigma: float

    def quantile(self, q: float) -> float:
        """Seconds by which the job has ended with probability ``q`` (0 < q < 1)."""
        return self.median * math.exp(self.sigma * _normal_ppf(q))


@attrs.define
class _Kind:
    factor: float  # a: seconds of processing per second of media
    overhead: float  # b: fixed seconds per job
    observations: collections.deque[tuple[float, float]]
    errors: collections.deque[float]  # log(observed / predicted before observing)
    log_ratio: float = 0.0  # median log(observed / shape), the multiplicative correction
    sigma: float = 0.0
    version: int = 0
    unfitted: int = 0  # observations since the shape was last fitted
    fitted_range: tuple[float, float] = (0.0, 0.0)  # the lengths' range it was fitted on


@attrs.define
class ProcessingTimeModel:
    """Online estimate of how long jobs take, per kind of input.

    Args:
        factor: prior seconds of processing per second of media.
        overhead: prior fixed seconds per job.
        prior_sigma: how far off the prior's level may be, in log space (0.6: by a
            factor of about 1.8 either way, one sigma; 3x is within 2 sigma).
        noise_sigma: the prior guess of job-to-job spread, in log space.
        noise_weight: how many observations that guess is worth.
        min_sigma: the spread never goes below this (polls have a resolution, and the
            service's speed drifts).
        window: how many recent observations per kind are kept.
        interval_sigma: how far off (log space) a converged model may still be, when
            placing an end known only to lie between two polls
            (:meth:`observe_between`).
        refit_every: the shape (slope and intercept) is refitted at most every this
            many observations once the window holds 16, unless the lengths' range
            moved; the level and spread are updated at every observation.
    """

    factor: float = attrs.field(default=0.25)
    overhead: float = attrs.field(default=30.0)
    prior_sigma: float = attrs.field(default=0.6)
    noise_sigma: float = attrs.field(default=0.15)
    noise_weight: float = attrs.field(default=1.0)
    min_sigma: float = attrs.field(default=0.02)
    window: int = attrs.field(default=64)
    interval_sigma: float = attrs.field(default=0.15)
    refit_every: int = attrs.field(default=8)
    _kinds: dict[str, _Kind] = attrs.field(init=False, factory=dict)

    def __attrs_post_init__(self) -> None:
        _finite_positive(self.factor, "factor", allow_zero=True)
        _finite_positive(self.overhead, "overhead", allow_zero=True)
        if self.factor == 0 and self.overhead == 0:
            raise ValidationError("overhead", "factor and overhead cannot both be 0")
        _finite_positive(self.prior_sigma, "prior_sigma")
        _finite_positive(self.noise_sigma, "noise_sigma")
        _finite_positive(self.noise_weight, "noise_weight")
        _finite_positive(self.min_sigma, "min_sigma")
        _finite_positive(self.interval_sigma, "interval_sigma")
        if isinstance(self.window, bool) or not isinstance(self.window, int) or self.window < 3:
            raise ValidationError("window", "must be an integer >= 3")
        every = self.refit_every
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValidationError("refit_every", "must be an integer >= 1")

    def _kind(self, kind: str) -> _Kind:
        state = self._kinds.get(kind)
        if state is None:
            state = _Kind(
                factor=self.factor,
                overhead=self.overhead,
                observations=collections.deque(maxlen=self.window),
                errors=collections.deque(maxlen=self.window),
                sigma=self.prior_sigma,
            )
            self._kinds[kind] = state
        return state

    def version(self, kind: str) -> int:
        """A number that changes whenever the estimate for ``kind`` changes."""
        state = self._kinds.get(kind)
        return 0 if state is None else state.version

    def observations(self, kind: str) -> int:
        """How many observations of ``kind`` the estimate rests on (at most ``window``)."""
        state = self._kinds.get(kind)
        return 0 if state is None else len(state.observations)

    def predict(self, kind: str, media_duration: float | None) -> Prediction:
        """The distribution of a new job's time to its end.

        Args:
            kind: ``audio``, ``video``, ``text`` or any label the caller uses.
            media_duration: the media length in seconds; ``None`` when unknown (the
                median length seen for this kind is used, with a wider spread).
        """
        state = self._kind(kind)
        length = media_duration
        extra = 0.0
        if length is None:
            lengths = [m for m, _ in state.observations]
            length = statistics.median(lengths) if lengths else 0.0
            # Not knowing the length adds the spread of the lengths themselves.
            extra = 0.5
        shape = state.factor * max(length, 0.0) + state.overhead
        median = max(shape, 1e-9) * math.exp(state.log_ratio)
        sigma = math.hypot(max(state.sigma, self.min_sigma), extra)
        return Prediction(median=median, sigma=sigma)

    def observe(self, kind: str, media_duration: float | None, seconds: float) -> None:
        """Learn from one job: ``seconds`` from the submit's answer to its end.

        Observations without a media length, or not positive and finite, are ignored:
        they say nothing about the shape.
        """
        if media_duration is None or not math.isfinite(media_duration) or media_duration < 0:
            return
        if not math.isfinite(seconds) or seconds <= 0:
            return
        state = self._kind(kind)
        if len(state.observations) >= _WARM:
            expected = self.predict(kind, media_duration).median
            state.errors.append(math.log(seconds / expected))
        state.observations.append((float(media_duration), float(seconds)))
        self._refit(state)

    def observe_between(
        self, kind: str, media_duration: float | None, low: float, high: float
    ) -> None:
        """Learn from a job known to have ended after ``low`` and by ``high`` seconds.

        Polls only bound the end: the last poll that saw the job running, and the one
        that saw it done. When a poll saw it running (``low > 0``), the geometric
        midpoint is learned: within the interval of the truth, and not drawn toward
        the model (the prediction's choice would let a model 10 % long keep learning
        the upper end). When the first poll already saw the job done, the midpoint
        would teach that jobs take half the time they do; the value learned is then
        the median, below ``high``, of the prediction widened to a spread of at least
        ``interval_sigma`` (a prior 3x off is wide, and its median there is near the
        truth; a confident model's own would only confirm it).
        """
        if not (math.isfinite(low) and math.isfinite(high)) or high <= 0:
            return
        low = max(low, 0.0)
        if high <= low:
            self.observe(kind, media_duration, high)
            return
        prediction = self.predict(kind, media_duration)
        sigma = max(prediction.sigma, self.interval_sigma)
        normal = statistics.NormalDist()

        def cdf(t: float) -> float:
            if t <= 0:
                return 0.0
            return normal.cdf(math.log(t / prediction.median) / sigma)

        f_low, f_high = cdf(low), cdf(high)
        if low > 0:
            # Two polls bound the end: any point between them is within the interval
            # of the truth, and the prediction's choice would confirm the model (a
            # model 10 % long would keep learning the upper end).
            value = math.sqrt(low * high)
        elif f_high - f_low < 1e-9:  # far in a tail: the interval is all there is
            value = (low + high) / 2
        else:
            value = prediction.median * math.exp(sigma * _normal_ppf((f_low + f_high) / 2))
        self.observe(kind, media_duration, min(max(value, low), high))

    def _refit(self, state: _Kind) -> None:
        points = list(state.observations)
        n = len(points)
        # The last fitted shape (the prior's at first): a window of similar lengths
        # (a longest-first batch) cannot tell slope from intercept, and the prior's
        # shape may be far off when the service is faster or slower than it.
        factor, overhead = state.factor, state.overhead
        lengths = [m for m, _ in points]
        low, high = min(lengths), max(lengths)
        state.unfitted += 1
        # Refit the shape only when lengths vary enough to tell slope from intercept;
        # and, Theil-Sen being O(window^2), only every refit_every observations once
        # the window holds 16, or sooner when the lengths' range moved by a quarter
        # (a new shortest or longest job is what moves the shape).
        if (
            n >= 5
            and high > 2 * max(low, 1.0)
            and (
                n < 16
                or state.unfitted >= self.refit_every
                or not (0.8 < low / max(state.fitted_range[0], 1e-9) < 1.25)
                or not (0.8 < high / max(state.fitted_range[1], 1e-9) < 1.25)
            )
        ):
            state.unfitted = 0
            state.fitted_range = (low, high)
            fitted = _theil_sen(points)
            if fitted is not None and fitted[0] * low + fitted[1] > 0:
                factor, overhead = fitted
        ratios = [math.log(t / max(factor * m + overhead, 1e-9)) for m, t in points]
        centre = statistics.median(ratios)
        mad = statistics.median(abs(r - centre) for r in ratios) * _MAD_TO_SIGMA
        if len(state.errors) >= _WARM:
            # How far off the predictions of new jobs were (bias included), which the
            # scatter around the fit understates: a longest-first batch predicts each
            # job from longer ones.
            mad = max(mad, statistics.median(abs(e) for e in state.errors) * _MAD_TO_SIGMA)
        # A normal model in log space with conjugate priors: the level of the prior may
        # be far off (prior_sigma, worth nothing once data disagree), while job-to-job
        # noise is a property of the service (noise_sigma, worth noise_weight
        # observations). So one observation moves the level most of the way, and the
        # spread shrinks as the observations agree.
        noise2 = (self.noise_weight * self.noise_sigma**2 + n * mad**2) / (self.noise_weight + n)
        precision = 1 / self.prior_sigma**2 + n / noise2
        log_ratio = (n / noise2) * centre / precision
        sigma = math.sqrt(noise2 + 1 / precision)
        state.factor, state.overhead = factor, overhead
        state.log_ratio, state.sigma = log_ratio, max(sigma, self.min_sigma)
        state.version += 1

    def to_json(self) -> dict[str, Any]:
        """The observations, for a ledger to keep so a rerun starts warm."""
        return {kind: [list(p) for p in s.observations] for kind, s in self._kinds.items()}

    def load_json(self, data: Mapping[str, Iterable[Iterable[float]]]) -> None:
        """Replay observations saved by :meth:`to_json`; malformed entries are skipped."""
        if not isinstance(data, Mapping):
            return
        for kind, points in data.items():
            if not isinstance(kind, str) or not isinstance(points, Iterable):
                continue
            for point in points:
                try:
                    media, seconds = (float(x) for x in point)
                except (TypeError, ValueError):
                    continue
                self.observe(kind, media, seconds)


def _theil_sen(points: list[tuple[float, float]]) -> tuple[float, float] | None:
    slopes = [
        (t2 - t1) / (m2 - m1)
        for i, (m1, t1) in enumerate(points)
        for m2, t2 in points[i + 1 :]
        if abs(m2 - m1) > 1e-9
    ]
    if not slopes:
        return None
    slope = max(statistics.median(slopes), 0.0)
    intercept = statistics.median(t - slope * m for m, t in points)
    return slope, max(intercept, 0.0)


def _normal_ppf(q: float) -> float:
    return statistics.NormalDist().inv_cdf(min(max(q, 1e-12), 1 - 1e-12))
