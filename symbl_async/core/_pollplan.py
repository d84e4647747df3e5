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

from symbl_async.core._estimate import Prediction, ProcessingTimeModel

__all__ = ["PollPlan", "plan_polls"]

_TAIL = 1e-4  # the plan stops once the job has ended with probability 1 - _TAIL
_MAX_LOOKS = 40
_TAIL_SHARE = 0.1  # past the plan, intervals may grow to this share of the wait
# A model that has seen no end of a kind plans with this many times the budget: the
# first end seen re-plans every wait sharing the model (a batch's first wave of
# ``limit`` jobs), so an early look is worth far more than one job's lag, and the
# prior may be 3x off. Measured on the batch replay (tests/core/test_pollplan.py).
_COLD_FACTOR = 4.0
# A safety poll's plan is stretched by its lateness in spreads, at most this (log): a
# cold model's spread would otherwise put the first safety poll past most ends.
_MAX_STRETCH = math.log(1.5)
# A plan moves when the model moves the job's median by more than 5 % or its spread by
# more than 20 % (log terms) since it was made: these are the factors of each range.
_WITHIN_MEDIAN = (math.exp(-0.05), math.exp(0.05))
_WITHIN_SIGMA = (math.exp(-0.2), math.exp(0.2))
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


@functools.lru_cache(maxsize=512)
def _shape(s: float, start: float) -> tuple[float, float, float, float, float, float, float]:
    """What every walk of one search shares (its spread, its conditioning on ``T >
    start``): ``s``, ``s * sqrt 2``, ``s ** 2``, the partial moments' factor, the density's
    scale, and the CDF and partial moment at ``start``."""
    # _cdf, _pdf and _partial's phi, inlined in _walk: the plan's whole cost.
    root2s = s * _SQRT2
    s2 = s * s
    moment = math.exp(s2 / 2)
    density_scale = 1.0 / (s * math.sqrt(2 * math.pi))
    if start > 0:
        log_start = math.log(start)
        f_start = 0.5 * (1.0 + math.erf(log_start / root2s))
        phi_start = 0.5 * (1.0 + math.erf((log_start - s2) / root2s))
    else:
        f_start = phi_start = 0.0
    return s, root2s, s2, moment, density_scale, f_start, phi_start


def _walk(
    t1: float, c: float, floor: float, bound: float,
    shape: tuple[float, float, float, float, float, float, float],
) -> tuple[list[float] | None, float, float]:
    """The schedule from ``t1``, with its expected lag and looks given ``T > start``
    (``shape``: :func:`_shape` of the spread and ``start``).

    Each look follows from the one before by the recursion above; :func:`_evaluate`'s
    arithmetic is done along the way (each CDF and partial moment once per look). It
    gives up, with ``None``, once ``lag + c * looks`` exceeds ``bound``: the sums only
    grow, so such a schedule cannot be the cheapest. A plan's search makes hundreds of
    these walks; most give up at their first look or two, so what they share is
    computed once (:func:`_shape`).
    """
    s, root2s, s2, moment, density_scale, f_prev, phi_prev = shape
    log, erf, exp = math.log, math.erf, math.exp
    survive = max(1.0 - f_prev, 1e-300)
    lag = looks = 0.0
    times: list[float] = []
    append = times.append
    n = 0
    t = t1
    end = 1 - _TAIL
    minus_inf = -math.inf
    while True:
        looks += (1.0 - f_prev) / survive
        if t > 0:
            log_t = log(t)
            f_t = 0.5 * (1.0 + erf(log_t / root2s))
            phi_t = 0.5 * (1.0 + erf((log_t - s2) / root2s))
        else:
            log_t = minus_inf
            f_t = phi_t = 0.0
        lag += (t * (f_t - f_prev) - moment * (phi_t - phi_prev)) / survive
        if lag + c * looks > bound:
            return None, lag, looks
        append(t)
        n += 1
        if f_t >= end or n >= _MAX_LOOKS:
            return times, lag, looks
        if t > 0:
            z = log_t / s
            density = exp(-0.5 * z * z) * density_scale / t
        else:
            density = 0.0
        step = (f_t - f_prev) / density - c if density > 0 else floor
        f_prev, phi_prev = f_t, phi_t
        t = t + (floor if floor > step else step)  # max(step, floor), without the call


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


@functools.lru_cache(maxsize=512)
def _candidates(s: float, floor: float, start: float, earliest: float) -> tuple[float, ...]:
    """The first looks :func:`_best` tries: they do not depend on the cost per look, so a
    budget's bisection (14 searches) computes them once."""
    q0 = _cdf(start, s)
    lowest = max(start + floor, earliest)
    steps = 24
    candidates: list[float] = []
    for i in range(steps):
        # Candidate first looks spread over the remaining quantiles; those already past
        # collapse to the earliest allowed (poll now, if the job has likely ended).
        q = q0 + (1 - q0) * (0.02 + 0.97 * i / (steps - 1)) ** 1.5
        t1 = max(_quantile(min(q, 1 - _TAIL), s), lowest)
        if t1 not in candidates:
            candidates.append(t1)
    return tuple(candidates)


@functools.lru_cache(maxsize=64)
def _order(n: int, hint: int) -> tuple[int, ...]:
    """Candidates' indices from ``hint`` outward (the nearer first)."""
    return tuple(sorted(range(n), key=lambda k: abs(k - hint)))


def _best(
    s: float, c: float, floor: float, start: float, earliest: float = 0.0, hint: int = 12
) -> tuple[list[float], float, float, int]:
    """The schedule minimising lag + c * looks, searching over the first look.

    Given that the job had not ended at ``start``; no look before ``earliest`` (a re-plan
    made later than ``start``: the time in between is past, whatever it held). Returns
    the schedule, its expected lag and looks, and which candidate first look won (a
    ``hint`` for the next search at a nearby cost: candidates are tried from there).
    """
    candidates = _candidates(s, floor, start, earliest)
    # The cheapest wins, the earliest candidate on a tie. A walk gives up once its cost
    # passes the cheapest so far, so starting from a good candidate (the hint, then its
    # neighbours) prunes most of the others early; the choice does not depend on the
    # order.
    order = _order(len(candidates), hint)
    shape = _shape(s, start)
    best: tuple[float, int, list[float], float, float] | None = None
    for k in order:
        times, lag, looks = _walk(
            candidates[k], c, floor, math.inf if best is None else best[0], shape
        )
        if times is None:
            continue
        cost = lag + c * looks
        if best is None or (cost, k) < (best[0], best[1]):
            best = (cost, k, times, lag, looks)
    assert best is not None
    return best[2], best[3], best[4], best[1]


@functools.lru_cache(maxsize=512)
def _budget_plan(s: float, floor: float, budget: float) -> tuple[float, tuple[float, ...]]:
    """The cost per look whose optimal plan expects ``budget`` looks (bisection), and
    that plan from the submit."""
    lo, hi = math.log(1e-6), math.log(10.0)
    plan: list[float] | None = None
    hint = 12
    for _ in range(14):
        mid = (lo + hi) / 2
        times, _, looks, hint = _best(s, math.exp(mid), floor, 0.0, hint=hint)
        if looks > budget:
            lo = mid  # too many looks: each must cost more
        else:
            hi, plan = mid, times
    c = math.exp(hi)
    if plan is None:  # even the dearest look was within the budget
        plan, _, _, _ = _best(s, c, floor, 0.0)
    return c, tuple(plan)


def _cost_for_budget(s: float, floor: float, budget: float) -> float:
    """The cost per look whose optimal plan expects ``budget`` looks."""
    return _budget_plan(s, floor, budget)[0]


def _plan_from_submit(s: float, floor: float, budget: float) -> tuple[float, ...]:
    return _budget_plan(s, floor, budget)[1]


def _round_sigma(sigma: float) -> float:
    # 5 % steps in the spread: plans for nearby spreads differ by a fraction of it.
    return round(math.exp(round(math.log(sigma) / 0.05) * 0.05), 6)


def _round_floor(floor: float) -> float:
    if floor <= 0:
        return 0.0
    return round(math.exp(round(math.log(floor) / 0.25) * 0.25), 9)


def plan_polls(
    prediction: Prediction,
    *,
    budget: float,
    floor: float,
    since: float = 0.0,
    earliest: float = 0.0,
) -> list[float]:
    """Poll times, in seconds after the submit's answer, for one job.

    Args:
        prediction: the job's predicted time to its end.
        budget: the number of polls to expect on average (at least 1).
        floor: the shortest interval between two polls, in seconds.
        since: seconds already waited with the job seen unfinished (a re-plan after
            the model changed); the plan is then conditioned on ``T > since``.
        earliest: no poll before this (seconds after the submit): a re-plan made while
            sleeping toward a poll, after ``since``, cannot poll in the past.

    Returns:
        Increasing poll times covering all but a ``1e-4`` tail of the distribution.
    """
    median = prediction.median
    s = _round_sigma(max(prediction.sigma, 1e-3))
    floor_n = _round_floor(floor / median)
    budget = max(float(budget), 1.0)
    if since <= 0 and earliest <= 0:
        return [t * median for t in _plan_from_submit(s, floor_n, budget)]
    c = _cost_for_budget(s, floor_n, budget)
    times, _, _, _ = _best(
        s, c, floor_n, max(since, 0.0) / median, max(earliest, 0.0) / median
    )
    return [t * median for t in times]


class PollPlan:
    """One job's poll times, re-planned when the model has learned something material.

    Times are seconds after the submit's answer. :meth:`next` hands out the next poll
    time (the previous one was polled and saw the job running); between two polls,
    :meth:`replan` moves the pending poll when the model's estimate for the job moved
    (median by more than 5 %, spread by more than 20 %, since the plan was made): a
    wait sleeping toward a poll placed by a stale estimate is woken and re-planned,
    not left to sleep: it continues with the new prediction's plan from the submit (a
    cached lookup), after the last poll, looking at once if that plan had a look while
    it slept. After the plan, intervals grow by ``growth`` up to ``cap`` (or a
    tenth of the time already waited, when longer). While the model has seen no end of
    ``kind``, plans spend ``cold_factor`` times the budget: the first end seen re-plans
    every wait that shares the model, so looking early pays for all of them.

    A hybrid wait's safety polls follow the same plan, later: each poll time ``t`` of
    the plan is handed out as ``t * exp(lateness * sigma) + margin`` (``sigma`` the
    prediction's spread, the stretch at most 1.5x), since a webhook normally tells the
    end first. A lost webhook then costs the lateness plus at most one interval of the
    learned plan, and a job whose webhook comes costs a poll only when it ends that
    much later than most.
    """

    def __init__(
        self,
        model: ProcessingTimeModel,
        kind: str,
        media_duration: float | None,
        *,
        budget: float,
        floor: float,
        cap: float,
        growth: float = 1.5,
        cold_factor: float = _COLD_FACTOR,
        lateness: float = 0.0,
        margin: float = 0.0,
    ) -> None:
        """Plan from the model's current prediction for the job."""
        self.model, self.kind, self.media_duration = model, kind, media_duration
        self._lateness, self._margin = lateness, margin
        self._warm_budget = budget
        self._cold_budget = budget * max(cold_factor, 1.0)
        self._floor = floor
        self._cap, self._growth = max(cap, floor), growth
        self._set_prediction(model.predict(kind, media_duration))
        self._version = model.version(kind)
        # Cold looks pay off before the median of the first prediction only: a level
        # raised since by jobs seen running past it (a slower service) is no reason to
        # look densely again.
        self._cold_until = self._prediction.median
        self.last = 0.0
        """The last poll handed out before :attr:`pending` (0: the submit)."""
        self._planned_cold = self._budget > budget
        self._plan = self._from_submit()
        self.pending: float | None = None
        """The poll handed out by :meth:`next` and not yet polled."""
        self._interval = floor

    @property
    def _budget(self) -> float:
        # Cold looks pay off early only (a faster service); past the median, the job is
        # slower than the prior, and the warm budget spreads the rest of the plan.
        if self.model.observations(self.kind) == 0 and self.last < self._cold_until:
            return self._cold_budget
        return self._warm_budget

    def _set_prediction(self, prediction: Prediction) -> None:
        """Plan from ``prediction`` from now on, and move when the model leaves its range:
        median within 5 % (in log terms), spread within 20 %. Bounds, not logs: a batch
        checks each wait's at every end it learns (:meth:`moved`)."""
        self._prediction = prediction
        median, sigma = prediction.median, prediction.sigma
        self._within = (median * _WITHIN_MEDIAN[0], median * _WITHIN_MEDIAN[1],
                        sigma * _WITHIN_SIGMA[0], sigma * _WITHIN_SIGMA[1])

    def moved(self) -> bool:
        """True when the model's estimate for the job moved materially since the plan."""
        version = self.model.version(self.kind)
        if version == self._version:
            return False
        median, sigma = self.model.predict_parts(self.kind, self.media_duration)
        low, high, sigma_low, sigma_high = self._within
        if low <= median <= high and sigma_low <= sigma <= sigma_high:
            self._version = version  # nothing to do until it moves again
            return False
        return True

    def _cooling(self) -> bool:
        """True once, when a plan made with the cold budget passes the first median."""
        if self._planned_cold and self.last >= self._cold_until:
            self._planned_cold = False
            return True
        return False

    def _from_submit(self) -> list[float]:
        """The plan from the submit for the current prediction (cached), made later by
        the lateness and margin."""
        times = plan_polls(self._prediction, budget=self._budget, floor=self._floor)
        if not (self._lateness or self._margin):
            return times
        stretch = math.exp(min(self._lateness * self._prediction.sigma, _MAX_STRETCH))
        return [t * stretch + self._margin for t in times]

    def _replan(self, earliest: float) -> None:
        self._planned_cold = self._budget > self._warm_budget
        self._set_prediction(self.model.predict(self.kind, self.media_duration))
        self._version = self.model.version(self.kind)
        # The plan from the submit for the new prediction (cached: a re-plan costs a
        # lookup, where the exact plan given T > last, plan_polls(since=...), costs
        # milliseconds, for each of a batch's waits at each material change). Its looks
        # after the last poll are the optimal continuation up to the conditioning (the
        # recursion's steps do not change when F and f are divided by the same
        # survival); a look it placed between the last poll and now is made now.
        fresh = self._from_submit()
        after = self.last + self._floor
        if any(after <= t < earliest for t in fresh):  # a look missed while asleep
            self._plan = [earliest] + [t for t in fresh if t >= earliest + self._floor]
        else:
            self._plan = [t for t in fresh if t >= max(after, earliest)]

    def next(self) -> float:
        """The next poll time; the pending one (if any) was polled and saw the job running."""
        if self.pending is not None:
            self.last = self.pending
        if self.moved() or self._cooling():
            self._replan(self.last)
        while self._plan and self._plan[0] <= self.last:
            self._plan.pop(0)
        if self._plan:
            t = self._plan.pop(0)
            self._interval = max(self._floor, t - self.last)
        else:
            # The model was wrong (the plan covered all but 1e-4 of it): grow toward the
            # cap, or a share of the time already waited when that is longer, since a
            # job far past its estimate is not about to end (the next end seen re-plans).
            cap = max(self._cap, _TAIL_SHARE * self.last)
            self._interval = min(max(self._interval * self._growth, self._floor), cap)
            t = self.last + self._interval
        self.pending = t
        return t

    def replan(self, now: float) -> float | None:
        """Re-plan a pending poll if the model moved; the new pending time, else ``None``.

        Args:
            now: seconds since the submit's answer; the new plan is conditioned on the
                job not having ended by :attr:`last`, and polls no sooner than ``now``.
        """
        if self.pending is None or not self.moved():
            return None
        self._replan(now)
        self.pending = None
        self.pending = max(self.next(), now)
        return self.pending
