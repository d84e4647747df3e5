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
  the level is the *median* of the observed/predicted ratios (in log space) and the
  spread its median absolute deviation (scaled to a normal's sigma), both over a bounded
  window of the latest observations.
- The shape (slope and intercept) is fitted on lengths that differ enough to tell one
  from the other: the observations are also kept by length, a few of the latest per
  stratum of 25 % of length (so a longest-first batch, whose latest observations all
  have about the same length, still remembers its long jobs), and once these strata
  span a factor of two the shape is refitted by Theil-Sen (median of pairwise slopes)
  over one median point per stratum. Before that, the factor is fitted with the
  overhead held (the prior's): a service 3x faster than the prior is mostly a smaller
  factor, and scaling the prior's whole shape by the observed ratio would predict the
  shorter jobs that follow too short.
- The spread of a prediction is the job-to-job noise plus the uncertainty of the level,
  so it starts wide (polls spread over the prior's whole range) and narrows as the
  observations agree (polls close around the expected end).

What an observation is: the wait knows the job ended between its last negative poll and
its first positive one (or the webhook's arrival, which is exact); the midpoint of that
interval is used (the interval is short once the model has converged). A poll that sees
a job still running is an observation too, a censored one: the job takes at least that
long (:meth:`ProcessingTimeModel.observe_running`). Jobs in flight past their
prediction (a service slower than the model) raise the level before any of them ends:
the median of the latest ends and the lower bounds of the jobs in flight is a lower
bound of the median (each in-flight job's time is at least its bound), so the level is
never below it.
"""

from __future__ import annotations

import collections
import math
import statistics
from collections.abc import Hashable, Iterable, Mapping
from typing import Any

import attrs

from symbl_async.errors import ValidationError

__all__ = ["Prediction", "ProcessingTimeModel"]

_MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution times this is its sigma
_WARM = 5  # observations before predictions are scored
_STRATUM = math.log(1.25)  # the shape's memory: one stratum per 25 % of media length
_PER_STRATUM = 5  # the latest observations kept per stratum (their median is its point)
_MAX_RUNNING = 1024  # lower bounds of jobs in flight kept per kind (the oldest go first)
_MIN_WEIGHT = 1e-3  # the least an end weighs (one ruling out nothing still counts)
_NORMAL = statistics.NormalDist()
# An end between two polls: the geometric midpoint is learned when the polls are within
# this many spreads of the prediction of each other, or when the prediction puts less
# than _TAIL_MASS between them; else the prediction's median between them, weighted.
_WIDE = 8.0
_TAIL_MASS = 0.05


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
    # The window: (media, seconds, weight), the latest last. The weight is 1 for an end
    # placed by the polls or a webhook, less for one only known to lie before a poll.
    observations: collections.deque[tuple[float, float, float]]
    errors: collections.deque[float]  # log(observed / predicted before observing)
    # (media, seconds) by stratum of log(media): the lengths the shape is fitted on.
    strata: dict[int, collections.deque[tuple[float, float]]] = attrs.field(factory=dict)
    # Jobs in flight: (media, seconds they were last seen running), by job.
    running: dict[Hashable, tuple[float, float]] = attrs.field(factory=dict)
    residuals: list[float] = attrs.field(factory=list)  # log(observed / shape), the window's
    level: float = 0.0  # the level the ends give (median log(observed / shape), shrunk)
    log_ratio: float = 0.0  # the level, raised by what the jobs in flight prove
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
        refit_every: the shape (slope and intercept) is refitted at most every this
            many observations once the window holds 16, unless the lengths' range
            moved; the level and spread are updated at every observation.
        half_life: the level is a weighted median over the window, an observation
            this many ends old weighing half as much as the latest.
    """

    factor: float = attrs.field(default=0.25)
    overhead: float = attrs.field(default=30.0)
    prior_sigma: float = attrs.field(default=0.6)
    noise_sigma: float = attrs.field(default=0.15)
    noise_weight: float = attrs.field(default=1.0)
    min_sigma: float = attrs.field(default=0.02)
    window: int = attrs.field(default=64)
    refit_every: int = attrs.field(default=8)
    half_life: float = attrs.field(default=32.0)
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
        _finite_positive(self.half_life, "half_life")
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

    def running(self, kind: str) -> int:
        """How many jobs of ``kind`` in flight have a lower bound (for tests and metrics)."""
        state = self._kinds.get(kind)
        return 0 if state is None else len(state.running)

    def predict(self, kind: str, media_duration: float | None) -> Prediction:
        """The distribution of a new job's time to its end.

        Args:
            kind: ``audio``, ``video``, ``text`` or any label the caller uses.
            media_duration: the media length in seconds; ``None`` when unknown (the
                median length seen for this kind is used, with a wider spread).
        """
        median, sigma = self.predict_parts(kind, media_duration)
        return Prediction(median=median, sigma=sigma)

    def predict_parts(self, kind: str, media_duration: float | None) -> tuple[float, float]:
        """:meth:`predict`'s median and sigma, without making a :class:`Prediction`: a
        batch's waits check theirs at every end the model learns (all of them, each
        time: an account's limit of them), so this is the cheap form."""
        state = self._kinds.get(kind)
        if state is None:
            state = self._kind(kind)
        length = media_duration
        extra = 0.0
        if length is None:
            lengths = [m for m, _, _ in state.observations]
            length = statistics.median(lengths) if lengths else 0.0
            # Not knowing the length adds the spread of the lengths themselves.
            extra = 0.5
        shape = state.factor * max(length, 0.0) + state.overhead
        median = max(shape, 1e-9) * math.exp(state.log_ratio)
        sigma = math.hypot(max(state.sigma, self.min_sigma), extra)
        return median, sigma

    def observe(
        self,
        kind: str,
        media_duration: float | None,
        seconds: float,
        *,
        job: Hashable | None = None,
    ) -> None:
        """Learn from one job: ``seconds`` from the submit's answer to its end.

        Observations without a media length, or not positive and finite, are ignored:
        they say nothing about the shape. ``job``: the job's lower bound, if one was
        given (:meth:`observe_running`), is dropped.
        """
        self._learn(kind, media_duration, seconds, 1.0, job)

    def observe_between(
        self,
        kind: str,
        media_duration: float | None,
        low: float,
        high: float,
        *,
        job: Hashable | None = None,
    ) -> None:
        """Learn from a job known to have ended after ``low`` and by ``high`` seconds.

        Polls only bound the end: the last poll that saw the job running (0: none), and
        the one that saw it done. When the two are close (within 8 spreads of the
        prediction), or the prediction puts next to nothing between them (it is far
        off), the geometric midpoint is learned, with full weight: within the interval
        of the truth, and not drawn toward the model (the model's choice would let a
        model 10 % long keep learning the upper end). Otherwise (the first poll found
        the job done, or the plan did not look for a long while because the model did
        not expect the end then) the midpoint could be far off: a first wave's cold
        looks end long before the warm ones begin. The value learned is then the
        prediction's median between the two, and since that is the model's own guess
        it weighs what the polls ruled out: the prediction's share outside them. A
        first poll well before the predicted end that finds the job done teaches
        almost as much as two close polls; one long after it teaches next to nothing
        (with full weight, a wrong model would learn its own predictions back, and
        trust them more each time). ``job``: as for :meth:`observe`.
        """
        if not (math.isfinite(low) and math.isfinite(high)) or high <= 0:
            self.forget(kind, job)
            return
        low = max(low, 0.0)
        if high <= low:
            self._learn(kind, media_duration, high, 1.0, job)
            return
        prediction = self.predict(kind, media_duration)
        median, sigma = prediction.median, prediction.sigma
        f_low = _NORMAL.cdf(math.log(low / median) / sigma) if low > 0 else 0.0
        f_high = _NORMAL.cdf(math.log(high / median) / sigma)
        inside = f_high - f_low
        if inside < _TAIL_MASS or (low > 0 and math.log(high / low) <= _WIDE * sigma):
            # Far in a tail (the model is off: the interval is all there is), or two
            # polls close together: any point between them is near the truth, and the
            # model's choice would confirm it.
            value = math.sqrt(low * high) if low > 0 else high / 2
            weight = 1.0
        else:
            # Wide, where the model expects the end: its own median there, weighing
            # what the polls ruled out.
            value = median * math.exp(sigma * _normal_ppf((f_low + f_high) / 2))
            weight = 1.0 - inside
        self._learn(kind, media_duration, min(max(value, low), high), weight, job)

    def observe_running(
        self, kind: str, media_duration: float | None, seconds: float, *, job: Hashable
    ) -> None:
        """Learn that ``job`` was still running ``seconds`` after its submit's answer.

        A censored observation: the job takes at least that long. The jobs in flight
        with a known length keep their latest bound (one per ``job``, until
        :meth:`observe`, :meth:`observe_between` or :meth:`forget` names the job), and
        the level is never below the median of the window's ends and these bounds
        taken together: each in-flight job takes at least its bound, so the median of
        their true times is at least that. Jobs running past their prediction raise the
        estimate for every job before any of them ends (a service slower than thought);
        bounds short of the prediction, as most are, change nothing.
        """
        if media_duration is None or not math.isfinite(media_duration) or media_duration < 0:
            return
        if not math.isfinite(seconds) or seconds <= 0:
            return
        state = self._kind(kind)
        running = state.running
        running.pop(job, None)  # re-inserted last: the oldest bound goes first
        running[job] = (float(media_duration), float(seconds))
        if len(running) > _MAX_RUNNING:
            del running[next(iter(running))]
        self._raise_level(state)

    def forget(self, kind: str, job: Hashable | None) -> None:
        """Drop ``job``'s lower bound: its wait ended without an end to learn (failed,
        given up, cancelled)."""
        state = self._kinds.get(kind)
        if job is None or state is None or state.running.pop(job, None) is None:
            return
        self._raise_level(state)

    def _learn(
        self,
        kind: str,
        media_duration: float | None,
        seconds: float,
        weight: float,
        job: Hashable | None,
    ) -> None:
        state = self._kinds.get(kind)
        if job is not None and state is not None:
            state.running.pop(job, None)  # the refit below sets the level anew
        if media_duration is None or not math.isfinite(media_duration) or media_duration < 0:
            return
        if not math.isfinite(seconds) or seconds <= 0 or not math.isfinite(weight):
            return
        state = self._kind(kind)
        media = float(media_duration)
        weight = min(max(weight, _MIN_WEIGHT), 1.0)
        if weight >= 0.5:
            # What the predictions of new jobs missed by, and the shape's points: only
            # ends the polls placed (a guess from the model would confirm it).
            if len(state.observations) >= _WARM:
                expected = self.predict(kind, media).median
                state.errors.append(math.log(seconds / expected))
            kept = state.strata.get(stratum := _stratum(media))
            if kept is None:
                kept = state.strata[stratum] = collections.deque(maxlen=_PER_STRATUM)
            kept.append((media, float(seconds)))
        state.observations.append((media, float(seconds), weight))
        self._refit(state)

    def _raise_level(self, state: _Kind) -> None:
        """Set the level: the ends', or the median with the in-flight bounds if higher.

        Only sure lower bounds count: an end placed between two polls is at least about
        its value, an end only known to lie before a poll at least 0.
        """
        level = state.level
        if state.running and len(state.residuals) + len(state.running) >= _WARM:
            factor, overhead = state.factor, state.overhead
            values = [
                r if w == 1.0 else -math.inf
                for r, (_, _, w) in zip(state.residuals, state.observations, strict=True)
            ]
            values += [
                math.log(t / max(factor * m + overhead, 1e-9)) for m, t in state.running.values()
            ]
            level = max(level, statistics.median(values))
        if level != state.log_ratio:
            state.log_ratio = level
            state.version += 1

    def _fit_shape(self, state: _Kind) -> tuple[float, float]:
        """The shape ``(factor, overhead)``: Theil-Sen where the lengths differ, the
        prior's penalized fit before they ever did."""
        factor, overhead = state.factor, state.overhead
        # The shape's points: the median of each length stratum (a longest-first batch's
        # latest observations are all about as long; the strata remember the others).
        points = [_median_point(kept) for _, kept in sorted(state.strata.items())]
        n = len(state.observations)
        state.unfitted += 1
        if len(points) >= 3 and points[-1][0] > 2 * max(points[0][0], 1.0):
            # Theil-Sen is O(strata^2): refitted every refit_every observations once the
            # window holds 16, or sooner when the lengths' range moved by a quarter (a
            # new shortest or longest job is what moves the shape).
            low, high = points[0][0], points[-1][0]
            if (
                n < 16
                or state.unfitted >= self.refit_every
                or not (0.8 < low / max(state.fitted_range[0], 1e-9) < 1.25)
                or not (0.8 < high / max(state.fitted_range[1], 1e-9) < 1.25)
            ):
                state.unfitted = 0
                state.fitted_range = (low, high)
                fitted = _theil_sen(points)
                if fitted is not None and fitted[0] * low + fitted[1] > 0:
                    return fitted
            return factor, overhead
        if state.fitted_range == (0.0, 0.0) and self.factor > 0 and self.overhead > 0:
            # Never fitted: the lengths are too alike to tell slope from intercept on
            # their own. The prior tells them apart: the factor may be far off, the
            # overhead less so (_penalized_fit).
            fitted = _penalized_fit(
                list(state.observations),
                (self.factor, self.overhead),
                (factor, overhead),
                self.noise_sigma,
            )
            if fitted is not None:
                return fitted
        # Fitted before on lengths that differed, or a prior with no factor or no
        # overhead to hold: the shape is kept and the level scales it.
        return factor, overhead

    def _refit(self, state: _Kind) -> None:
        factor, overhead = self._fit_shape(state)
        points = state.observations
        residuals = [math.log(t / max(factor * m + overhead, 1e-9)) for m, t, _ in points]
        weights = [w for _, _, w in points]
        n = sum(weights)
        # The latest ends weigh most: a service that changed speed is followed within
        # about a half-life, not half a window; one stuck job still weighs one share.
        decay = 0.5 ** (1.0 / self.half_life)
        last = len(weights) - 1
        centre = _weighted_median(
            residuals, [w * decay ** (last - i) for i, w in enumerate(weights)]
        )
        mad = _weighted_median([abs(r - centre) for r in residuals], weights) * _MAD_TO_SIGMA
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
        level = (n / noise2) * centre / precision
        sigma = math.sqrt(noise2 + 1 / precision)
        state.factor, state.overhead = factor, overhead
        state.residuals, state.level = residuals, level
        state.sigma = max(sigma, self.min_sigma)
        state.version += 1
        self._raise_level(state)

    def to_json(self) -> dict[str, Any]:
        """The observations, for a ledger to keep so a rerun starts warm.

        ``[media, seconds]``, or ``[media, seconds, weight]`` for an end known only to
        lie before a poll; the strata's older points first, then the window's: replayed
        in that order (:meth:`load_json`), they rebuild both.
        """
        out: dict[str, Any] = {}
        for kind, state in self._kinds.items():
            recent = {(m, t) for m, t, _ in state.observations}
            older = [
                [m, t]
                for _, kept in sorted(state.strata.items())
                for m, t in kept
                if (m, t) not in recent
            ]
            window = [[m, t] if w == 1.0 else [m, t, w] for m, t, w in state.observations]
            out[kind] = older + window
        return out

    def load_json(self, data: Mapping[str, Iterable[Iterable[float]]]) -> None:
        """Replay observations saved by :meth:`to_json`; malformed entries are skipped."""
        if not isinstance(data, Mapping):
            return
        for kind, points in data.items():
            if not isinstance(kind, str) or not isinstance(points, Iterable):
                continue
            for point in points:
                try:
                    media, seconds, *rest = (float(x) for x in point)
                except (TypeError, ValueError):
                    continue
                if len(rest) <= 1:
                    self._learn(kind, media, seconds, rest[0] if rest else 1.0, None)


_FACTOR_SIGMA = 1.0  # how far off the prior's factor may be (log space, one sigma)
_OVERHEAD_SIGMA = 0.25  # and its overhead: a faster service mostly has a smaller factor
_HUBER = 2.0  # residuals beyond this many noise sigmas weigh less (one stuck job)


def _penalized_fit(
    points: list[tuple[float, float, float]],
    prior: tuple[float, float],
    start: tuple[float, float],
    noise: float,
) -> tuple[float, float] | None:
    """``(factor, overhead)`` fitting ``(media, seconds, weight)`` points, held to ``prior``.

    Minimises ``sum(w * (log t - log(a * m + b))^2) / noise^2`` plus the prior's
    ``(log a - log a0)^2 / 1.0^2 + (log b - log b0)^2 / 0.25^2`` by Gauss-Newton, the
    weights ``w`` the points' own times Huber's (robust to a stuck job). Where the
    lengths are alike, the data fix only ``a * m + b`` there, and the prior decides how:
    mostly by the factor, which may be 3x off where the overhead is not (a faster service
    is mostly a smaller factor: the prior's whole shape scaled would predict the shorter
    jobs that follow too short). Where they differ, the data decide.
    """
    data = [(m, math.log(t), w) for m, t, w in points if t > 0 and m >= 0]
    if not data:
        return None
    u0, v0 = math.log(prior[0]), math.log(prior[1])
    u, v = math.log(max(start[0], 1e-12)), math.log(max(start[1], 1e-12))
    inv_u, inv_v, inv_n = 1 / _FACTOR_SIGMA**2, 1 / _OVERHEAD_SIGMA**2, 1 / noise**2
    for _ in range(20):
        a, b = math.exp(u), math.exp(v)
        h11 = h12 = h22 = g1 = g2 = 0.0
        for m, y, weight in data:
            predicted = a * m + b
            r = y - math.log(predicted)
            p = a * m / predicted  # d log(am + b) / d log a; 1 - p for log b
            z = abs(r) / noise
            w = weight if z <= _HUBER else weight * _HUBER / z
            h11 += w * p * p
            h12 += w * p * (1 - p)
            h22 += w * (1 - p) * (1 - p)
            g1 += w * p * r
            g2 += w * (1 - p) * r
        h11 = h11 * inv_n + inv_u
        h12 = h12 * inv_n
        h22 = h22 * inv_n + inv_v
        g1 = g1 * inv_n - (u - u0) * inv_u
        g2 = g2 * inv_n - (v - v0) * inv_v
        det = h11 * h22 - h12 * h12
        du = (h22 * g1 - h12 * g2) / det
        dv = (h11 * g2 - h12 * g1) / det
        step = max(abs(du), abs(dv))
        if step > 1.0:  # far from the optimum: a damped step
            du, dv = du / step, dv / step
        u, v = u + du, v + dv
        if step < 1e-6:
            break
    return math.exp(u), math.exp(v)


def _weighted_median(values: list[float], weights: list[float]) -> float:
    """The value at half of the total weight (the lower one of two on an exact tie)."""
    half = sum(weights) / 2
    total = 0.0
    for value, weight in sorted(zip(values, weights, strict=True)):
        total += weight
        if total >= half:
            return value
    return max(values)  # pragma: no cover (rounding)


def _stratum(media: float) -> int:
    return math.floor(math.log(max(media, 1.0)) / _STRATUM)


def _median_point(points: Iterable[tuple[float, float]]) -> tuple[float, float]:
    kept = list(points)
    return statistics.median(m for m, _ in kept), statistics.median(t for _, t in kept)


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
