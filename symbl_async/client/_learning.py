"""Polling that learns: polls placed by the learned model, and every end taught back.

The arithmetic is pure (:mod:`symbl_async.core._estimate`, :mod:`symbl_async.core._pollplan`);
this module and :func:`symbl_async.client._waiting.poll_and_learn` connect it to the
wait loops. What a wait teaches:

- a poll that sees the job ended: the end lies between the previous poll that saw it
  running (or the submit) and this one (``ProcessingTimeModel.observe_between``);
- a webhook (confirmed): the end is the moment the wait is released, near enough.

A job that failed teaches nothing (a failure may come early, at any point).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from symbl_async.core import Job, PollSchedule
from symbl_async.core._estimate import ProcessingTimeModel
from symbl_async.core._pollplan import poll_times

__all__ = ["DEFAULT_KIND", "learned_delays", "observe_end"]

DEFAULT_KIND = "audio"
"""The kind learned for jobs whose kind is unknown (made by hand, not by a submit)."""


def learned_delays(
    model: ProcessingTimeModel, job: Job, schedule: PollSchedule
) -> Iterator[float]:
    """Delays between polls (the first from the submit), from the model's plan."""
    floor = schedule.initial_interval / schedule.time_scale
    times = poll_times(
        model,
        job.kind or DEFAULT_KIND,
        job.media_duration,
        budget=schedule.poll_budget,
        floor=floor,
        cap=max(schedule.max_interval / schedule.time_scale, floor),
        growth=schedule.growth,
    )
    return _differences(times)


def _differences(times: Iterable[float]) -> Iterator[float]:
    previous = 0.0
    for t in times:
        yield t - previous
        previous = t


def observe_end(model: ProcessingTimeModel, job: Job, seconds: float) -> None:
    """Teach the model that ``job`` ended ``seconds`` after its submit was answered."""
    model.observe(job.kind or DEFAULT_KIND, job.media_duration, seconds)
