"""Polling that learns: polls placed by the learned model, and every end taught back.

The arithmetic is pure (:mod:`symbl_async.core._estimate`, :mod:`symbl_async.core._pollplan`);
this module and :func:`symbl_async.client._polls.poll_and_learn` connect it to the
wait loops. Every end is taught through the client's
:class:`~symbl_async.client._modelwatch.ModelWatch`, which wakes the waits sleeping
toward polls the new estimate moved. What a wait teaches:

- a poll that sees the job ended: the end lies between the previous poll that saw it
  running (or the submit) and this one (``ProcessingTimeModel.observe_between``);
- a webhook (confirmed): the end is the moment the wait is released, near enough.

A job that failed teaches nothing (a failure may come early, at any point).
"""

from __future__ import annotations

from collections.abc import Iterator

from symbl_async.client._modelwatch import ModelWatch
from symbl_async.core import Job, PollSchedule
from symbl_async.core._estimate import ProcessingTimeModel
from symbl_async.core._pollplan import PollPlan

__all__ = ["DEFAULT_KIND", "learned_plan", "observe_end", "plan_delays"]

DEFAULT_KIND = "audio"
"""The kind learned for jobs whose kind is unknown (made by hand, not by a submit)."""


def learned_plan(model: ProcessingTimeModel, job: Job, schedule: PollSchedule) -> PollPlan:
    """The model's poll plan for ``job`` (seconds after its submit's answer)."""
    floor = schedule.initial_interval / schedule.time_scale
    return PollPlan(
        model,
        job.kind or DEFAULT_KIND,
        job.media_duration,
        budget=schedule.poll_budget,
        floor=floor,
        cap=max(schedule.max_interval / schedule.time_scale, floor),
        growth=schedule.growth,
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
    model.observe(job.kind or DEFAULT_KIND, job.media_duration, seconds)
