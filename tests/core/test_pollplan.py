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

import pytest

from symbl_async.core._estimate import Prediction, ProcessingTimeModel
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


def batch_replay(
    factor: float,
    *,
    wake: bool = True,
    cold_factor: float = 4.0,
    jobs: int = 600,
    limit: int = 50,
    seed: int = 3,
    noise: float = 0.02,
) -> tuple[float, float, float]:
    """A batch on plain numbers: makespan excess, polls per job, mean lag / job length.

    The makespan excess is the makespan over that of the same schedule with every end
    seen at once (longest first on ``limit`` slots), minus 1: what detection costs.

    Like ``bench_systems.py``: log-normal media lengths (median 600 s, sigma 0.6, at most
    4 h) started longest first in ``limit`` slots, a slot refilled the moment its job is
    seen ended, every wait sharing one model (prior 0.25 x length + 30 s); the service
    takes ``factor`` x length + 30 s + 1 s of queue (the emulator's ``processing_factor``:
    0.0833 is about 3x faster than the prior, 0.75 3x slower), times a little noise.
    With ``wake``, every end seen re-plans the other waits' pending polls
    (:meth:`PollPlan.replan`, what ``client._waiting.ModelWatch`` does). Floor 2 s, cap 30 s,
    budget 2.5: the client's defaults, in service seconds.
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

    def push(job: int, t: float) -> None:
        token[job] = next(tokens)
        heapq.heappush(events, (start[job] + t, token[job], job))

    def begin(job: int, at: float) -> None:
        start[job] = at
        plans[job] = PollPlan(
            model, "audio", lengths[job], budget=2.5, floor=2.0, cap=30.0,
            cold_factor=cold_factor,
        )
        push(job, plans[job].next())

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
        if elapsed < truth[job]:
            push(job, plans[job].next())
            continue
        lags[job], end = elapsed - truth[job], now
        del token[job]
        model.observe_between("audio", lengths[job], plans.pop(job).last, elapsed)
        if wake:
            for other, plan in plans.items():
                moved = plan.replan(now - start[other])
                if moved is not None:
                    push(other, moved)
        for job in itertools.islice(queued, 1):
            begin(job, now)
    slots = [0.0] * limit
    for t in truth:  # the same batch, every end seen the moment it happens
        heapq.heappush(slots, heapq.heappop(slots) + t)
    lag = sum(x / t for x, t in zip(lags, truth, strict=True)) / jobs
    return end / max(slots) - 1, sum(polls) / jobs, lag


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
    ratio, per_job, lag = batch_replay(factor)
    assert ratio <= excess
    assert per_job <= polls
    assert lag <= 0.025


def test_without_waking_the_first_wave_sleeps_toward_stale_polls() -> None:
    # The same batch 3x faster, with plans re-made only at each poll: the first wave's
    # ends are seen late (the before-figures above, minus the cold budget).
    ratio, _, lag = batch_replay(0.0833, wake=False, cold_factor=1.0)
    assert ratio > 0.2
    assert lag > 0.1
