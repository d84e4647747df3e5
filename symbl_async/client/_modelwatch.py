"""Waking the waits that plan polls from a model, when the model learns something.

A wait polling on the learned plan (:func:`symbl_async.client._polls.poll_and_learn`)
sleeps toward a poll placed by the model's estimate at the time. In a batch, up to
``limit`` waits share one model, and the first ends of a run may show that the service
is 3x faster than the prior: the other waits should not sleep on toward polls placed
by the stale estimate. So every observation goes through a :class:`ModelWatch`, which
wakes the sleeping waits whose own estimate moved materially
(:meth:`~symbl_async.core._pollplan.PollPlan.moved`); each re-plans from now
(:meth:`~symbl_async.core._pollplan.PollPlan.replan`).

Cost: an observation checks each sleeping wait of its kind once (a version compare,
then a prediction: O(waits), no wake-up and no request when nothing moved); a woken
wait re-plans itself. The arithmetic stays pure in :mod:`symbl_async.core`; only the
sleeping is here.
"""

from __future__ import annotations

import asyncio

from symbl_async.core._estimate import ProcessingTimeModel
from symbl_async.core._pollplan import PollPlan

__all__ = ["ModelWatch"]


def _resolve(future: asyncio.Future[bool]) -> None:
    if not future.done():
        future.set_result(False)


class ModelWatch:
    """A processing-time model, and the waits sleeping on plans made from it."""

    def __init__(self, model: ProcessingTimeModel) -> None:
        """Watch ``model``; learn through this object so sleeping waits are woken."""
        self.model = model
        self._sleepers: dict[str, dict[asyncio.Future[bool], PollPlan]] = {}

    def observe(self, kind: str, media_duration: float | None, seconds: float) -> None:
        """:meth:`ProcessingTimeModel.observe`, then wake the waits it moved."""
        self.model.observe(kind, media_duration, seconds)
        self._announce(kind)

    def observe_between(
        self, kind: str, media_duration: float | None, low: float, high: float
    ) -> None:
        """:meth:`ProcessingTimeModel.observe_between`, then wake the waits it moved."""
        self.model.observe_between(kind, media_duration, low, high)
        self._announce(kind)

    def _announce(self, kind: str) -> None:
        sleepers = self._sleepers.get(kind)
        if not sleepers:
            return
        for future, plan in sleepers.items():
            # moved() is a version compare, then one prediction: no wake (and so no
            # GET) for a change under 5 % of the median and 20 % of the spread.
            if not future.done() and plan.moved():
                future.set_result(True)

    def sleeping(self, kind: str) -> int:
        """How many waits sleep on a plan of ``kind`` now (for tests and metrics)."""
        return len(self._sleepers.get(kind, ()))

    async def sleep(self, plan: PollPlan, seconds: float) -> bool:
        """Sleep ``seconds``, or until the model moved materially for ``plan``.

        Returns:
            True when woken by a model change (re-plan, then sleep again), False when
            the time is up.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        handle = loop.call_later(max(seconds, 0.0), _resolve, future)
        sleepers = self._sleepers.setdefault(plan.kind, {})
        sleepers[future] = plan
        try:
            return await future
        finally:
            handle.cancel()
            del sleepers[future]
            if not sleepers:
                self._sleepers.pop(plan.kind, None)
