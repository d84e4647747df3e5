"""The learned processing-time model and the poll plan, on plain numbers.

The replay at the end is the offline check of issue 11: jobs with log-normal media
lengths run through 50 slots; each job's end is found by its poll times; the model
learns from each end it sees. Lag (poll that sees the end minus the end) and polls per
job are counted by the replay itself, with no network and no clock.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random

import attrs
import pytest

from symbl_async.client._waiting import ModelWatch, learned_plan
from symbl_async.core._estimate import Prediction, ProcessingTimeModel
from symbl_async.core._jobs import Job
from symbl_async.core._polling import PollSchedule, SafetyPollSchedule
from symbl_async.core._pollplan import PollPlan, _evaluate, plan_polls
from symbl_async.errors import ValidationError


def test_a_plan_is_increasing_respects_the_floor_and_covers_the_distribution() -> None:
    pred = Prediction(median=180.0, sigma=0.3)
    times = plan_polls(pred, budget=2.5, floor=2.0)
    assert times == sorted(times)
    assert all(b - a >= 2.0 - 1e-9 for a, b in itertools.pairwise(times))
    assert times[-1] >= pred.quantile(1 - 1e-4) * 0.999


@pytest.mark.parametrize("sigma", [0.02, 0.1, 0.3, 0.6])
def test_the_plan_spends_the_budget_and_more_budget_buys_less_lag(sigma: float) -> None:
    lags = []
    for budget in (1.5, 2.5, 4.0):
        times = [t / 100.0 for t in plan_polls(Prediction(100.0, sigma), budget=budget, floor=0.01)]
        lag, looks = _evaluate(times, sigma, 0.0)
        assert looks == pytest.approx(budget, rel=0.15)
        lags.append(lag)
    assert lags[0] > lags[1] > lags[2]


def test_a_replan_only_polls_after_the_time_already_waited() -> None:
    pred = Prediction(median=100.0, sigma=0.2)
    times = plan_polls(pred, budget=2.5, floor=1.0, since=120.0)
    assert times and times[0] >= 121.0 - 1e-9


def test_the_model_learns_a_service_three_times_faster_within_a_few_jobs() -> None:
    model = ProcessingTimeModel(factor=0.25, overhead=30.0)
    rng = random.Random(1)
    for _ in range(6):
        media = rng.uniform(120, 3600)
        model.observe("audio", media, (0.25 * media + 30.0) / 3)
    pred = model.predict("audio", 600.0)
    assert pred.median == pytest.approx(180.0 / 3, rel=0.1)
    assert pred.sigma < 0.25


def test_the_model_is_robust_to_an_outlier_and_kinds_are_separate() -> None:
    model = ProcessingTimeModel()
    for media in (100, 300, 600, 900, 1200, 1500, 1800, 2400):
        model.observe("audio", media, 0.25 * media + 30.0)
    model.observe("audio", 600, 5000.0)  # one stuck job
    assert model.predict("audio", 600.0).median == pytest.approx(180.0, rel=0.05)
    assert model.observations("video") == 0
    assert model.predict("video", 600.0).sigma == pytest.approx(0.6)


def test_unknown_length_widens_the_spread() -> None:
    model = ProcessingTimeModel()
    assert model.predict("audio", None).sigma > model.predict("audio", 60.0).sigma


def test_a_saved_model_starts_warm_and_bad_entries_are_skipped() -> None:
    model = ProcessingTimeModel()
    for media in (60, 600, 1200, 2400, 3000):
        model.observe("video", media, 0.1 * media + 5)
    copy = ProcessingTimeModel()
    copy.load_json({**model.to_json(), "text": [["x", 1]], 5: []})  # type: ignore[dict-item, list-item]
    assert copy.predict("video", 900.0) == model.predict("video", 900.0)
    assert copy.observations("text") == 0


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("factor", {"factor": -1.0}),
        ("overhead", {"overhead": math.nan}),
        ("overhead", {"factor": 0.0, "overhead": 0.0}),
        ("prior_sigma", {"prior_sigma": 0.0}),
        ("noise_weight", {"noise_weight": -1.0}),
        ("window", {"window": 2}),
        ("refit_every", {"refit_every": 0}),
    ],
)
def test_bad_model_settings_name_the_field(field: str, kwargs: dict[str, float]) -> None:
    with pytest.raises(ValidationError) as info:
        ProcessingTimeModel(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == field


def test_a_pending_poll_moves_when_the_model_learns_the_service_is_faster() -> None:
    model = ProcessingTimeModel()
    for media in (300, 600, 900, 1200, 1800):  # warm, at the prior's speed
        model.observe("audio", media, 0.25 * media + 30.0)
    plan = PollPlan(model, "audio", 600.0, budget=2.5, floor=2.0, cap=30.0)
    first = plan.next()
    assert first == pytest.approx(180.0, rel=0.1)
    assert plan.replan(10.0) is None  # nothing learned: the poll stays
    model.observe("audio", 600, 181.0)
    assert plan.replan(10.0) is None  # nothing material
    for media in (300, 600, 900, 1200, 1800, 2400):
        model.observe("audio", media, (0.25 * media + 30.0) / 3)
    moved = plan.replan(50.0)
    assert moved is not None and 50.0 <= moved < first * 0.7
    assert plan.pending == moved and plan.last == 0.0  # still conditioned on the submit
    assert plan.next() > moved


class _Shifted(ProcessingTimeModel):
    """A model whose estimate the test moves by hand: by factors of its own, each move a
    new version (as a learned end makes one)."""

    median_by = 1.0
    sigma_by = 1.0
    moves = 0

    def predict_parts(self, kind: str, media_duration: float | None) -> tuple[float, float]:
        median, sigma = super().predict_parts(kind, media_duration)
        return median * self.median_by, sigma * self.sigma_by

    def version(self, kind: str) -> int:
        return self.moves

    def move(self, *, median: float = 1.0, sigma: float = 1.0) -> None:
        self.median_by, self.sigma_by = median, sigma
        self.moves += 1


@pytest.mark.parametrize(("median", "sigma", "material"), [
    (1.04, 1.0, False), (1.06, 1.0, True), (0.96, 1.0, False), (0.94, 1.0, True),
    (1.0, 1.2, False), (1.0, 1.25, True), (1.0, 0.85, False), (1.0, 0.8, True),
])
def test_a_plan_moves_when_the_median_moves_5_percent_or_the_spread_20(
    median: float, sigma: float, material: bool
) -> None:
    model = _Shifted()
    plan = PollPlan(model, "audio", 600.0, budget=2, floor=1, cap=60)
    assert not plan.moved()
    model.move(median=median, sigma=sigma)
    assert plan.moved() is material


def test_small_moves_add_up_against_the_plans_own_estimate() -> None:
    model = _Shifted()
    plan = PollPlan(model, "audio", 600.0, budget=2, floor=1, cap=60)
    plan.next()  # sleeping toward its first poll
    model.move(median=1.04)
    assert not plan.moved()
    model.move(median=1.04 * 1.04)  # 8 % from what the plan was made on
    assert plan.moved()
    assert plan.replan(0.0) is not None  # planned afresh: measured from the new estimate
    model.move(median=1.04 * 1.04 * 1.04)
    assert not plan.moved()


def test_a_re_plan_polls_now_when_the_job_has_most_likely_ended() -> None:
    model = ProcessingTimeModel()
    plan = PollPlan(model, "audio", 600.0, budget=2.5, floor=2.0, cap=30.0)
    plan.next()
    for media in (300, 600, 900, 1200, 1800, 2400):
        model.observe("audio", media, (0.25 * media + 30.0) / 3)
    assert plan.replan(150.0) == pytest.approx(150.0)  # ~60 s expected: look now


def test_a_cold_model_looks_earlier_then_spreads_the_rest() -> None:
    def times(cold_factor: float) -> list[float]:
        plan = PollPlan(
            ProcessingTimeModel(), "audio", 600.0, budget=2.5, floor=2.0, cap=30.0,
            cold_factor=cold_factor,
        )
        return [plan.next() for _ in range(12)]

    cold, plain = times(4.0), times(1.0)
    assert cold[0] < 0.75 * plain[0]
    assert cold == sorted(cold)
    # Past the prior's median (180 s) a cold plan spends the plain budget: its intervals
    # widen like the plain plan's rather than staying dense.
    later = [b - a for a, b in itertools.pairwise(cold) if a >= 180.0]
    assert later and min(later) > 20.0


def test_past_the_plan_intervals_grow_with_the_time_waited() -> None:
    plan = PollPlan(
        ProcessingTimeModel(), "audio", 60.0, budget=2.5, floor=2.0, cap=30.0, cold_factor=1.0
    )
    times = [plan.next() for _ in range(60)]
    tail = [(a, b - a) for a, b in itertools.pairwise(times) if a > 600.0]  # 10x late
    # Not held at the 30 s cap (the job is not about to end), and never more than a
    # tenth of the time waited.
    assert max(gap for _, gap in tail) > 60.0
    assert all(gap <= max(30.0, 0.1 * a) + 1e-6 for a, gap in tail)


@pytest.mark.parametrize("longest_first", [True, False])
def test_refitting_the_shape_less_often_learns_the_same(longest_first: bool) -> None:
    # Theil-Sen is O(window^2): refitted every 8th observation (or when the lengths'
    # range moves), the predictions stay those of a refit at every observation.
    rng = random.Random(5)
    lengths = [min(math.exp(rng.gauss(math.log(600), 0.6)), 14400.0) for _ in range(800)]
    if longest_first:
        lengths.sort(reverse=True)
    every, throttled = ProcessingTimeModel(refit_every=1), ProcessingTimeModel()
    medians, sigmas = [], []
    for media in lengths:
        seconds = (0.0833 * media + 31.0) * math.exp(rng.gauss(0, 0.05))
        every.observe("audio", media, seconds)
        throttled.observe("audio", media, seconds)
        a, b = every.predict("audio", media), throttled.predict("audio", media)
        medians.append(abs(math.log(a.median / b.median)))
        sigmas.append(abs(math.log(a.sigma / b.sigma)))
    # Measured: medians within 0.15 % on average, 4 % at worst; spreads 2 % on average
    # (a re-plan needs 5 % and 20 %).
    assert sum(medians) / len(medians) < 0.005
    assert max(medians) < 0.06
    assert sum(sigmas) / len(sigmas) < 0.05


def replay(
    speed: float,
    *,
    jobs: int = 500,
    limit: int = 50,
    seed: int = 7,
    noise: float = 0.01,
    floor: float = 1.0,
    skip: int = 150,
) -> tuple[float, float]:
    """Mean polls per job and mean lag / processing time, after the first ``skip`` jobs.

    ``speed`` divides the true processing times of the prior model (0.25 x length + 30 s),
    so 3 is a service three times faster than the client assumes.
    """
    rng = random.Random(seed)
    model = ProcessingTimeModel()
    lengths = [math.exp(rng.gauss(math.log(600), 0.6)) for _ in range(jobs)]
    events: list[tuple[float, int, int]] = []  # (time, sequence, job)
    seq = itertools.count()
    now = 0.0
    started = 0
    polls = [0] * jobs
    lags = [0.0] * jobs
    truth = [0.0] * jobs
    plans: dict[int, PollPlan] = {}
    start = [0.0] * jobs

    def begin(job: int, at: float) -> None:
        truth[job] = (0.25 * lengths[job] + 30.0) / speed * math.exp(rng.gauss(0, noise))
        start[job] = at
        plans[job] = PollPlan(model, "audio", lengths[job], budget=2.5, floor=floor, cap=30.0)
        heapq.heappush(events, (at + plans[job].next(), next(seq), job))

    for _ in range(min(limit, jobs)):
        begin(started, 0.0)
        started += 1
    last_poll = [0.0] * jobs
    while events:
        now, _, job = heapq.heappop(events)
        polls[job] += 1
        elapsed = now - start[job]
        if elapsed >= truth[job]:
            lags[job] = elapsed - truth[job]
            model.observe_between("audio", lengths[job], last_poll[job], elapsed)
            if started < jobs:
                begin(started, now)
                started += 1
            continue
        last_poll[job] = elapsed
        heapq.heappush(events, (start[job] + plans[job].next(), next(seq), job))
    rest = range(skip, jobs)
    return (
        sum(polls[j] for j in rest) / len(rest),
        sum(lags[j] / truth[j] for j in rest) / len(rest),
    )


@pytest.mark.parametrize("speed", [1.0, 3.0, 1 / 3])
def test_replay_finds_jobs_soon_after_they_end_with_few_polls(speed: float) -> None:
    # Three waves of 50 in, the model has converged: about 1 % lag with 2-3 polls (at
    # 3x faster, jobs of ~60 s meet the 1 s shortest interval, hence the looser bound).
    polls, lag = replay(speed)
    assert polls <= 3.0
    assert lag <= (0.03 if speed > 1 else 0.015)
    # Counting the second and third waves too, while the model still learns.
    # (The first wave's ends are seen late at 3x faster: its polls follow the prior.)
    polls, lag = replay(speed, skip=50)
    assert polls <= 3.0
    assert lag <= (0.08 if speed > 1 else 0.03)


@attrs.frozen
class BatchReplay:
    """What a replayed batch measured (see :func:`batch_replay`)."""

    excess: float  # makespan over the makespan with every end seen at once, minus 1
    over_bound: float  # makespan / max(sum of job times / limit, longest job)
    polls: float  # status polls per job
    lag: float  # mean (seen - end) / job time
    # |log(prediction at the start / truth)| of each job, in start order.
    errors: list[float]


def batch_replay(
    factor: float,
    *,
    wake: bool = True,
    cold_factor: float = 4.0,
    jobs: int = 600,
    limit: int = 50,
    seed: int = 3,
    noise: float = 0.02,
    censored: bool = True,
) -> BatchReplay:
    """A batch on plain numbers, polled by the client's rules.

    Like ``bench_systems.py``: log-normal media lengths (median 600 s, sigma 0.6, at most
    4 h) started longest first in ``limit`` slots, a slot refilled the moment its job is
    seen ended, every wait sharing one model (prior 0.25 x length + 30 s); the service
    takes ``factor`` x length + 30 s + 1 s of queue (the emulator's ``processing_factor``:
    0.0833 is about 3x faster than the prior, 0.75 3x slower), times a little noise.
    With ``wake``, every observation that moved the model re-plans the other waits'
    pending polls (:meth:`PollPlan.replan`, what ``client._waiting.ModelWatch`` does);
    with ``censored``, a poll that sees a job running teaches its lower bound
    (:meth:`ProcessingTimeModel.observe_running`, as ``poll_and_learn`` does). Floor
    2 s, cap 30 s, budget 2.5: the client's defaults, in service seconds.
    """
    rng = random.Random(seed)
    lengths = sorted(
        (min(math.exp(rng.gauss(math.log(600), 0.6)), 14400.0) for _ in range(jobs)),
        reverse=True,
    )
    truth = [(factor * m + 31.0) * math.exp(rng.gauss(0, noise)) for m in lengths]
    model = ProcessingTimeModel()
    events: list[tuple[float, int, int]] = []  # (time, token, job); stale tokens skipped
    tokens = itertools.count()
    token: dict[int, int] = {}
    plans: dict[int, PollPlan] = {}
    start = [0.0] * jobs
    polls = [0] * jobs
    lags = [0.0] * jobs
    errors = [0.0] * jobs

    def push(job: int, t: float) -> None:
        token[job] = next(tokens)
        heapq.heappush(events, (start[job] + t, token[job], job))

    def begin(job: int, at: float) -> None:
        start[job] = at
        plans[job] = PollPlan(
            model, "audio", lengths[job], budget=2.5, floor=2.0, cap=30.0,
            cold_factor=cold_factor,
        )
        errors[job] = abs(math.log(model.predict("audio", lengths[job]).median / truth[job]))
        push(job, plans[job].next())

    def wake_others(now: float, version: int) -> None:
        if wake and model.version("audio") != version:
            for other, plan in plans.items():
                moved = plan.replan(now - start[other])
                if moved is not None:
                    push(other, moved)

    queued = iter(range(jobs))
    for job in itertools.islice(queued, limit):
        begin(job, 0.0)
    end = 0.0
    while events:
        now, tok, job = heapq.heappop(events)
        if token.get(job) != tok:
            continue  # re-planned
        polls[job] += 1
        elapsed = now - start[job]
        version = model.version("audio")
        if elapsed < truth[job]:
            if censored:
                model.observe_running("audio", lengths[job], elapsed, job=job)
            push(job, plans[job].next())
            wake_others(now, version)
            continue
        lags[job], end = elapsed - truth[job], now
        del token[job]
        model.observe_between("audio", lengths[job], plans.pop(job).last, elapsed, job=job)
        wake_others(now, version)
        for job in itertools.islice(queued, 1):
            begin(job, now)
    slots = [0.0] * limit
    for t in truth:  # the same batch, every end seen the moment it happens
        heapq.heappush(slots, heapq.heappop(slots) + t)
    return BatchReplay(
        excess=end / max(slots) - 1,
        over_bound=end / max(sum(truth) / limit, max(truth)),
        polls=sum(polls) / jobs,
        lag=sum(x / t for x, t in zip(lags, truth, strict=True)) / jobs,
        errors=errors,
    )


# Measured on this replay (600 jobs, seed 3; seeds 1-4 in brackets): makespan excess,
# polls per job, mean lag / job length.
#   factor   before (no wake, plain budget)          after
#   0.25     0.038 [.038-.055]  3.48  0.035          0.011 [.010-.014]  2.87  0.012
#   0.0833   0.235 [.219-.294]  3.71  0.131          0.020 [.020-.032]  2.62  0.020
#   0.75     0.035 [.026-.035]  4.21  0.030          0.012 [.011-.025]  3.40  0.011
# (0.75 spends its polls in the first wave: cold plans look early, and the service is
# slower. Over 2,000 jobs: 2.41, 2.66 and 2.46 polls per job, excess 1.2-2.0 %.)
@pytest.mark.parametrize(
    ("factor", "excess", "polls"), [(0.25, 0.02, 3.1), (0.0833, 0.035, 3.1), (0.75, 0.02, 4.0)]
)
def test_a_batch_sees_ends_soon_at_any_service_speed(
    factor: float, excess: float, polls: float
) -> None:
    result = batch_replay(factor)
    assert result.excess <= excess
    assert result.polls <= polls
    assert result.lag <= 0.025


def test_without_waking_the_first_wave_sleeps_toward_stale_polls() -> None:
    # The same batch 3x faster, with plans re-made only at each poll: the first wave's
    # ends are seen late (the before-figures above, minus the cold budget).
    result = batch_replay(0.0833, wake=False, cold_factor=1.0, censored=False)
    assert result.excess > 0.2
    assert result.lag > 0.1


# -- issue 19.2: a service 3x faster or slower than the prior ----------------------------
#
# bench_systems.py's batch (N=600, limit 25, no job-to-job noise: the emulator's) on
# plain numbers, seeds 1, 2, 3. Measured before (the prior's shape scaled by the level
# where the latest 64 ends' lengths were alike, no polls that saw a job running learned,
# the geometric midpoint of any two polls) and after:
#   factor   worst prediction error after 100 jobs   polls per job       detection excess
#   0.0833   0.041 0.027 0.018 -> 0.020 0.019 0.014  2.54 2.41 2.36 ->  1.5 1.8 1.6 % ->
#                                                    2.17 2.23 2.02      1.2 1.5 1.9 %
#   0.75     0.092 0.078 0.090 -> 0.014 0.018 0.021  2.34 2.83 2.81 ->  1.8 1.4 0.7 % ->
#                                                    2.45 2.56 2.40      1.1 0.9 1.3 %
#   0.25     0.316 0.039 0.020 -> 0.015 0.021 0.010  (seed 1: a first wave's end placed
#            at the midpoint of a cold look and a warm one, 25 % short, kept the shape off)
# At 3x faster the rest of the lag is the 2 s shortest interval (a job of 80 s is seen
# about a second late); bench_systems adds the real client's own delays to it.

SPEEDS = {"3x faster": 0.0833, "3x slower": 0.75, "as the prior": 0.25}


@pytest.mark.parametrize("speed", SPEEDS)
def test_a_longest_first_batch_learns_a_service_3x_off_the_prior(speed: str) -> None:
    results = [
        batch_replay(SPEEDS[speed], jobs=600, limit=25, seed=seed, noise=0.0)
        for seed in (1, 2, 3)
    ]
    # Once the first waves have ended, every job is predicted within 2.5 %, although
    # the jobs still to come are shorter than all the ones that taught the model.
    assert max(max(r.errors[100:]) for r in results) <= 0.025
    assert max(r.polls for r in results) <= (2.3 if speed == "3x faster" else 2.6)
    assert sum(r.excess for r in results) / len(results) <= 0.02


def test_a_first_wave_of_alike_lengths_learns_the_factor_not_the_whole_shape() -> None:
    # The first ends of a longest-first batch are all about 30 min long; the service is
    # 3x faster than the prior in its factor alone. Scaling the prior's whole shape by
    # what they show would predict a 5-minute recording 32 % short.
    model = ProcessingTimeModel()
    for media in (1700.0, 1750.0, 1800.0, 1850.0, 1900.0):
        model.observe("audio", media, 0.0833 * media + 31.0)
    assert model.predict("audio", 300.0).median == pytest.approx(0.0833 * 300 + 31, rel=0.05)
    # A service 3x faster in both parts looks the same in those ends (and is predicted
    # 46 % long at 5 minutes); once lengths differ, the fit follows the data.
    both = ProcessingTimeModel()
    for media in (1700.0, 1750.0, 1800.0, 1850.0, 1900.0):
        both.observe("audio", media, (0.25 * media + 30.0) / 3)
    for media in (150.0, 300.0, 600.0, 1200.0):
        both.observe("audio", media, (0.25 * media + 30.0) / 3)
    assert both.predict("audio", 300.0).median == pytest.approx(35.0, rel=0.03)


def test_jobs_seen_running_past_their_prediction_raise_it_before_any_ends() -> None:
    model = ProcessingTimeModel()
    prior = model.predict("audio", 600.0).median
    lengths = [1800.0 + 60 * i for i in range(25)]  # a first wave, none ended yet
    for i, media in enumerate(lengths):  # polled at 0.9x their prediction: no news
        model.observe_running("audio", media, 0.9 * (0.25 * media + 30.0), job=i)
    assert model.predict("audio", 600.0).median == pytest.approx(prior)
    for i, media in enumerate(lengths):  # still running at 2x: the service is slower
        model.observe_running("audio", media, 2.0 * (0.25 * media + 30.0), job=i)
    assert model.running("audio") == 25
    assert model.predict("audio", 600.0).median >= 1.9 * prior
    # The bounds leave with their jobs (an end learned, or a wait given up).
    for i, media in enumerate(lengths[:20]):
        model.observe("audio", media, 3.0 * (0.25 * media + 30.0), job=i)
    for i in range(20, 25):
        model.forget("audio", i)
    assert model.running("audio") == 0
    assert model.predict("audio", 600.0).median == pytest.approx(3.0 * prior, rel=0.1)
    # One job stuck past them all moves nothing.
    model.observe_running("audio", 600.0, 20.0 * prior, job="stuck")
    assert model.predict("audio", 600.0).median == pytest.approx(3.0 * prior, rel=0.1)


def test_a_first_poll_long_after_the_predicted_end_teaches_next_to_nothing() -> None:
    # A job found done at its first poll is known to have ended before it, no more. The
    # value learned is the model's own guess: with full weight, ends found late would
    # make a wrong model ever surer of itself (and its polls ever denser around it).
    model = ProcessingTimeModel()
    for media in (300.0, 600.0, 1200.0):
        model.observe("audio", media, 0.25 * media + 30.0)
    before = model.predict("audio", 600.0)
    for _ in range(30):
        model.observe_between("audio", 600.0, 0.0, 3.0 * before.median)
    after = model.predict("audio", 600.0)
    assert after.median == pytest.approx(before.median, rel=0.02)
    assert after.sigma >= 0.9 * before.sigma
    # Found done at a first poll well before the predicted end: that teaches.
    for _ in range(10):
        model.observe_between("audio", 600.0, 0.0, 0.6 * before.median)
    assert model.predict("audio", 600.0).median < 0.75 * before.median


def test_a_saved_model_keeps_the_lengths_of_its_shape_and_its_weights() -> None:
    model = ProcessingTimeModel(window=8)
    for media in (3000.0, 2400.0, 1800.0, 1200.0, *([600.0] * 8)):  # longest first
        model.observe("audio", media, 0.1 * media + 20.0)
    model.observe_between("audio", 600.0, 0.0, 81.0)  # an end known to lie before 81 s
    saved = model.to_json()["audio"]
    assert [3000.0, 320.0] in saved  # older than the window, kept for the shape
    assert any(len(point) == 3 and point[2] < 1.0 for point in saved)
    copy = ProcessingTimeModel(window=8)
    copy.load_json({"audio": saved})
    assert copy.predict("audio", 3000.0) == model.predict("audio", 3000.0)


@attrs.frozen
class HybridReplay:
    """What a replayed hybrid batch measured (see :func:`hybrid_replay`)."""

    safety_polls: float  # safety polls per job (each wait also asks one confirmation)
    lost: list[tuple[int, float]]  # (job, seen - end) of each job whose webhook was lost
    truths: list[float]


def hybrid_replay(
    factor: float, *, drop: float, jobs: int = 600, limit: int = 25, seed: int = 1
) -> HybridReplay:
    """:func:`batch_replay`'s batch waited for in hybrid mode, on plain numbers.

    A job's webhook arrives 0.1-3 s after its end (the receiver's confirmation
    included), unless it is lost (probability ``drop``); its safety polls follow
    ``client._waiting.learned_plan`` with the client's default ``SafetyPollSchedule``,
    and what each wait learns goes through a ``ModelWatch``, as ``wait_for_webhook``
    does: a webhook's end exactly, a safety poll's as an interval, a poll that saw the
    job running as a lower bound. Every change of the model re-plans the other waits'
    pending safety polls. No job-to-job noise (the emulator's).
    """
    rng = random.Random(seed)
    lengths = sorted(
        (min(math.exp(rng.gauss(math.log(600), 0.6)), 14400.0) for _ in range(jobs)),
        reverse=True,
    )
    truth = [factor * m + 31.0 for m in lengths]
    lost = [rng.random() < drop for _ in range(jobs)]
    webhook = [t + rng.uniform(0.1, 3.0) for t in truth]
    watch = ModelWatch(ProcessingTimeModel())
    schedule = PollSchedule()  # floor 2 s, cap 30 s, budget 2.5: service seconds
    safety = SafetyPollSchedule()
    events: list[tuple[float, int, int]] = []  # (time, token, job); token -1: a webhook
    tokens = itertools.count()
    token: dict[int, int] = {}
    plans: dict[int, PollPlan] = {}
    polled: dict[int, list[float]] = {}  # each job's safety poll times
    start = [0.0] * jobs
    found: list[tuple[int, float]] = []

    def push(job: int, t: float) -> None:
        token[job] = next(tokens)
        heapq.heappush(events, (start[job] + t, token[job], job))

    def begin(job: int, at: float) -> None:
        start[job] = at
        plans[job] = learned_plan(
            watch.model, Job(job_id=str(job), conversation_id="", media_duration=lengths[job]),
            schedule, safety, watch.webhooks_missed,
        )
        polled[job] = []
        push(job, plans[job].next())
        if not lost[job]:
            heapq.heappush(events, (at + webhook[job], -1, job))

    def wake_others(now: float, version: int) -> None:
        if watch.model.version("audio") != version:
            for other, plan in plans.items():
                moved = plan.replan(now - start[other])
                if moved is not None:
                    push(other, moved)

    queued = iter(range(jobs))
    for job in itertools.islice(queued, limit):
        begin(job, 0.0)
    while events:
        now, tok, job = heapq.heappop(events)
        if job not in plans or (tok >= 0 and token.get(job) != tok):
            continue  # over, or re-planned
        elapsed = now - start[job]
        version = watch.model.version("audio")
        if tok >= 0:  # a safety poll
            polled[job].append(elapsed)
            if elapsed < truth[job]:
                watch.observe_running("audio", lengths[job], elapsed, job=str(job))
                push(job, plans[job].next())
                wake_others(now, version)
                continue
            low = polled[job][-2] if len(polled[job]) > 1 else 0.0
            watch.observe_between("audio", lengths[job], low, elapsed, job=str(job))
            watch.note_hybrid_end(by_poll=True)
            if lost[job]:
                found.append((job, elapsed - truth[job]))
        else:
            watch.observe("audio", lengths[job], elapsed, job=str(job))
            watch.note_hybrid_end(by_poll=False)
        del plans[job]
        token.pop(job, None)
        wake_others(now, version)
        for job in itertools.islice(queued, 1):
            begin(job, now)
    return HybridReplay(
        safety_polls=sum(len(p) for p in polled.values()) / jobs, lost=found, truths=truth
    )


# Before, a hybrid wait's safety polls followed the prior's fixed schedule (the first at
# 1.2x the prior's expected time, then half that, growing 2x up to 120 s). On this
# replay (seed 1; that schedule without its jitter), before -> now (seeds 1-3):
#   factor   safety polls per job, none lost   20 % lost: mean cost / mean job time
#   0.0833   0.00 -> 0.00                       1.88 -> 0.06-0.07
#   0.25     0.00 -> 0.00                       0.21 -> 0.04-0.05
#   0.75     3.35 -> 0.02                       0.10 -> 0.03-0.04
# (bench_systems at 3x slower: 4.29 GETs per job, the safety polls and a confirmation.)
# With 20 % lost, 0.19-0.24 safety polls per job: about one per lost webhook. With every
# webhook lost, the waits turn into poll-mode waits after a first wave (1.9-2.5 polls
# per job).
@pytest.mark.parametrize("speed", SPEEDS)
def test_hybrid_safety_polls_follow_the_learned_plan_later(speed: str) -> None:
    kept = hybrid_replay(SPEEDS[speed], drop=0.0)
    assert kept.safety_polls <= 0.05
    assert not kept.lost
    some_lost = hybrid_replay(SPEEDS[speed], drop=0.2)
    assert some_lost.safety_polls <= 0.3
    assert len(some_lost.lost) >= 90
    # Past the first wave (planned by the prior), a lost webhook costs what its learned,
    # later plan adds: at most 10 % of the job's time (measured 5-10 %, 3-7 % on average).
    truths = some_lost.truths
    assert all(delay <= 0.1 * truths[job] for job, delay in some_lost.lost if job >= 25)
    delays = [delay for _, delay in some_lost.lost]
    assert sum(delays) / len(delays) <= 0.08 * sum(truths) / len(truths)
