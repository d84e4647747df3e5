"""Where to place status polls, given a job's predicted time to its end; pure, no I/O.

The problem is the classic inspection schedule (Barlow and Proschan, "Mathematical
Theory of Reliability", 1965, ch. 4): an event (the job's end) happens at an unknown
time ``T`` with a known distribution ``F``; each look (``GET /v1/job``) costs ``c``,
and each second between the event and the look that sees it costs 1. Minimising
``E[lag] + c * E[looks]`` over look times ``t1 < t2 < ...``, the derivative with
respect to ``t_k`` vanishes when::

    t_{k+1} = t_k + (F(t_k) - F(t_{k-1})) / f(t_k) - c

so the whole schedule follows from ``t1``, which is found by a search. ``c`` is not
something a user knows; a budget of looks is. So ``c`` is chosen by bisection so that
the expected number of looks matches ``budget`` (more budget, smaller ``c``, less lag).

``F`` is the lognormal of :class:`~symbl_async.core._estimate.Prediction`. Everything is
computed in units of the predicted median, so a plan depends only on the spread, the
shortest allowed interval (relative to the median) and the budget, and is cached on
those (rounded). Once the plan's looks cover all but ``1e-4`` of the distribution, the
caller continues with capped geometric growth: that tail only matters when the model is
wrong, and then the next observation corrects the model.
"""

from __future__ import annotations

import functools
import math
import statistics
from collections.abc import Iterator

from symbl_async.core._estimate import Prediction, ProcessingTimeModel

__all__ = ["plan_polls", "poll_times"]

_TAIL = 1e-4  # the plan stops once the job has ended with probability 1 - _TAIL
_MAX_LOOKS = 40
_SQRT2 = math.sqrt(2.0)
_NORMAL = statistics.NormalDist()


def _cdf(t: float, s: float) -> float:
    if t <= 0:
        return 0.0
    return 0.5 * (1.0 + math.erf(math.log(t) / (s * _SQRT2)))


def _pdf(t: float, s: float) -> float:
    if t <= 0:
        return 0.0
    z = math.log(t) / s
    return math.exp(-0.5 * z * z) / (t * s * math.sqrt(2 * math.pi))


def _partial(a: float, b: float, s: float) -> float:
    """``integral_a^b t f(t) dt`` for the lognormal with median 1 and spread ``s``."""

    def phi(x: float) -> float:
        if x <= 0:
            return 0.0
        return 0.5 * (1.0 + math.erf((math.log(x) - s * s) / (s * _SQRT2)))

    return math.exp(s * s / 2) * (phi(b) - phi(a))


def _quantile(q: float, s: float) -> float:
    return math.exp(s * _NORMAL.inv_cdf(min(max(q, 1e-12), 1 - 1e-12)))


def _schedule(t1: float, s: float, c: float, floor: float, start: float) -> list[float]:
    times = [t1]
    prev = start
    while _cdf(times[-1], s) < 1 - _TAIL and len(times) < _MAX_LOOKS:
        t = times[-1]
        density = _pdf(t, s)
        step = (_cdf(t, s) - _cdf(prev, s)) / density - c if density > 0 else floor
        prev = t
        times.append(t + max(step, floor))
    return times


def _evaluate(times: list[float], s: float, start: float) -> tuple[float, float]:
    """Expected lag and expected looks, given that the job had not ended at ``start``."""
    f_start = _cdf(start, s)
    survive = max(1.0 - f_start, 1e-300)
    lag = looks = 0.0
    prev, f_prev = start, f_start
    for t in times:
        looks += (1.0 - f_prev) / survive
        f_t = _cdf(t, s)
        lag += (t * (f_t - f_prev) - _partial(prev, t, s)) / survive
        prev, f_prev = t, f_t
    return lag, looks


def _best(s: float, c: float, floor: float, start: float) -> tuple[list[float], float, float]:
    """The schedule minimising lag + c * looks, searching over the first look."""
    q0 = _cdf(start, s)
    best: tuple[float, list[float], float, float] | None = None
    steps = 24
    for i in range(steps):
        # Candidate first looks spread over the remaining quantiles.
        q = q0 + (1 - q0) * (0.02 + 0.97 * i / (steps - 1)) ** 1.5
        t1 = max(_quantile(min(q, 1 - _TAIL), s), start + floor)
        times = _schedule(t1, s, c, floor, start)
        lag, looks = _evaluate(times, s, start)
        cost = lag + c * looks
        if best is None or cost < best[0]:
            best = (cost, times, lag, looks)
    assert best is not None
    return best[1], best[2], best[3]


@functools.lru_cache(maxsize=512)
def _cost_for_budget(s: float, floor: float, budget: float) -> float:
    """The cost per look whose optimal plan expects ``budget`` looks (bisection)."""
    lo, hi = math.log(1e-6), math.log(10.0)
    for _ in range(14):
        mid = (lo + hi) / 2
        _, _, looks = _best(s, math.exp(mid), floor, 0.0)
        if looks > budget:
            lo = mid  # too many looks: each must cost more
        else:
            hi = mid
    return math.exp(hi)


@functools.lru_cache(maxsize=512)
def _plan_from_submit(s: float, floor: float, budget: float) -> tuple[float, ...]:
    times, _, _ = _best(s, _cost_for_budget(s, floor, budget), floor, 0.0)
    return tuple(times)


def _round_sigma(sigma: float) -> float:
    # 5 % steps in the spread: plans for nearby spreads differ by a fraction of it.
    return round(math.exp(round(math.log(sigma) / 0.05) * 0.05), 6)


def _round_floor(floor: float) -> float:
    if floor <= 0:
        return 0.0
    return round(math.exp(round(math.log(floor) / 0.25) * 0.25), 9)


def plan_polls(
    prediction: Prediction, *, budget: float, floor: float, since: float = 0.0
) -> list[float]:
    """Poll times, in seconds after the submit's answer, for one job.

    Args:
        prediction: the job's predicted time to its end.
        budget: the number of polls to expect on average (at least 1).
        floor: the shortest interval between two polls, in seconds.
        since: seconds already waited with the job seen unfinished (a re-plan after
            the model changed); the plan is then conditioned on ``T > since``.

    Returns:
        Increasing poll times covering all but a ``1e-4`` tail of the distribution.
    """
    median = prediction.median
    s = _round_sigma(max(prediction.sigma, 1e-3))
    floor_n = _round_floor(floor / median)
    budget = max(float(budget), 1.0)
    if since <= 0:
        return [t * median for t in _plan_from_submit(s, floor_n, budget)]
    c = _cost_for_budget(s, floor_n, budget)
    times, _, _ = _best(s, c, floor_n, since / median)
    return [t * median for t in times]


def poll_times(
    model: ProcessingTimeModel,
    kind: str,
    media_duration: float | None,
    *,
    budget: float,
    floor: float,
    cap: float,
    growth: float = 1.5,
) -> Iterator[float]:
    """Poll times for one job, re-planned when the model learns something new.

    Yields seconds after the submit's answer, increasing, forever: first the plan for
    the model's current prediction; whenever the model's estimate for ``kind`` has moved
    (median by more than 5 % or spread by more than 20 %) since the last plan, the rest
    is re-planned given that the job had not ended by the last poll; after the plan,
    intervals grow by ``growth`` up to ``cap``.
    """
    prediction = model.predict(kind, media_duration)
    version = model.version(kind)
    plan = plan_polls(prediction, budget=budget, floor=floor)
    last = 0.0
    interval = floor
    while True:
        if model.version(kind) != version:
            version = model.version(kind)
            fresh = model.predict(kind, media_duration)
            if (
                abs(math.log(fresh.median / prediction.median)) > 0.05
                or abs(math.log(fresh.sigma / prediction.sigma)) > 0.2
            ):
                prediction = fresh
                plan = [
                    t for t in plan_polls(fresh, budget=budget, floor=floor, since=last) if t > last
                ]
        if plan:
            t = plan.pop(0)
            if t <= last:
                continue
            interval = max(floor, t - last)
        else:
            interval = min(max(interval * growth, floor), max(cap, floor))
            t = last + interval
        last = t
        yield t
