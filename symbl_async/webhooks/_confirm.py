"""Confirming a webhook's claim that a job ended, with ``GET /v1/job/{jobId}``.

A webhook is a hint (``docs/service-notes.md``, "Webhooks"), so a claimed end is confirmed before
any waiter is released: one confirmation per job at a time, each in its own task, so
the receiver answers the webhook at once.

The API's answer may lag the webhook: Symbl can POST ``completed`` a moment before
``GET /v1/job`` says so, and a confirmation can fail on a transient error. Either
would strand the job until its waiter's deadline (in ``webhook`` mode nothing else
polls), since the webhook that said ``completed`` is not sent again. So a confirmation
that answered a non-terminal status, or raised, is asked again after a bounded
exponential backoff (``delay``, doubling, capped at ``30 * delay``; ``tries`` repeats at
most, so at most about ``61 * delay`` seconds with the defaults). While it waits, more
webhooks for the job count as duplicates: they cannot add anything.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable

from symbl_async.core._jobs import JobInfo, JobStatus
from symbl_async.errors import ValidationError
from symbl_async.webhooks._stats import WebhookStats

__all__ = ["ConfirmFunc", "Confirmations", "check_reconfirm"]

logger = logging.getLogger("symbl_async.webhooks._confirm")

ConfirmFunc = Callable[[str], Awaitable["JobStatus | JobInfo"]]
"""Asks the API for a job's real status: ``GET /v1/job/{jobId}`` (``client.get_job``)."""

AnswerFunc = Callable[[str, JobStatus], bool]
"""Applies a confirmed status to a job; True while the job still needs confirming."""

_CAP_FACTOR = 30.0  # the backoff stops doubling at 30 x the first delay


def check_reconfirm(tries: object, delay: object) -> tuple[int, float]:
    """Validate the re-confirmation settings of a receiver.

    Args:
        tries: how many times a lagging or failed confirmation is repeated (0: never).
        delay: seconds before the first repeat.

    Returns:
        ``(tries, delay)``.

    Raises:
        ValidationError: a setting broke its rule.
    """
    if isinstance(tries, bool) or not isinstance(tries, int) or not 0 <= tries <= 100:
        raise ValidationError("reconfirm_tries", "must be an integer between 0 and 100")
    if isinstance(delay, bool) or not isinstance(delay, int | float) or not 0 < delay < 3600:
        raise ValidationError("reconfirm_delay", "must be a number of seconds in (0, 3600)")
    return tries, float(delay)


class Confirmations:
    """The confirmation tasks of one receiver.

    Args:
        stats: the receiver's counters.
        on_answer: applies an answer; returns True while the job still needs one (it
            is watched and not yet terminal).
        tries: repeats after a lagging or failed confirmation.
        delay: seconds before the first repeat.
    """

    def __init__(
        self, stats: WebhookStats, on_answer: AnswerFunc, *, tries: int, delay: float
    ) -> None:
        self._stats = stats
        self._on_answer = on_answer
        self._tries = tries
        self._delay = delay
        self._running: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def running(self, job_id: str) -> bool:
        """Whether a confirmation of the job is in flight (or waiting to repeat)."""
        return job_id in self._running

    def start(self, job_id: str, claimed: JobStatus, confirm: ConfirmFunc) -> None:
        """Confirm the claimed end in a task (from inside the event loop)."""
        task = asyncio.get_running_loop().create_task(
            self._confirm(job_id, claimed, confirm), name=f"symbl-webhook-confirm-{job_id}"
        )
        self._running[job_id] = task
        self._tasks.add(task)
        task.add_done_callback(functools.partial(self._done, job_id))

    def cancel(self, job_id: str) -> None:
        """Cancel the job's confirmation, if any."""
        task = self._running.pop(job_id, None)
        if task is not None:
            task.cancel()  # stays in self._tasks until done, so close() still awaits it

    async def close(self) -> None:
        """Cancel every confirmation and wait until they ended."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._running.clear()

    def _done(self, job_id: str, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if self._running.get(job_id) is task:
            del self._running[job_id]

    def _backoff(self, attempt: int) -> float:
        return float(min(self._delay * 2 ** (attempt - 1), self._delay * _CAP_FACTOR))

    async def _confirm(self, job_id: str, claimed: JobStatus, confirm: ConfirmFunc) -> None:
        try:
            await self._confirm_steps(job_id, claimed, confirm)
        finally:
            # No longer confirming from here on, not from the done callback a loop
            # iteration later: a webhook arriving in between is a new claim, not a
            # duplicate of one that gave up.
            if self._running.get(job_id) is asyncio.current_task():
                del self._running[job_id]

    async def _confirm_steps(
        self, job_id: str, claimed: JobStatus, confirm: ConfirmFunc
    ) -> None:
        stats = self._stats
        actual: JobStatus | None = None
        for attempt in range(self._tries + 1):
            last = attempt == self._tries
            if attempt:
                await asyncio.sleep(self._backoff(attempt))
                stats.reconfirmations += 1
            stats.confirmations += 1
            actual = None
            try:
                answer = await confirm(job_id)
                actual = answer.status if isinstance(answer, JobInfo) else JobStatus(answer)
            except Exception as exc:
                # Never crash the receiver, never release on a hint alone.
                stats.confirmation_errors += 1
                logger.warning(
                    "could not confirm that job %s is %s (%s: %s); %s",
                    job_id,
                    claimed.value,
                    type(exc).__name__,
                    exc,
                    "its waiters stay waiting"
                    if last
                    else f"asking again in {self._backoff(attempt + 1):g} s",
                )
                continue
            if actual != claimed:
                stats.confirmation_mismatches += 1
                logger.info(
                    "webhook said job %s is %s, the API says %s",
                    job_id,
                    claimed.value,
                    actual.value,
                )
            if not self._on_answer(job_id, actual):
                return
        if actual is not None:
            # A later webhook or the caller's safety poll (hybrid) can still end it.
            logger.warning(
                "job %s: the webhook said %s, the API still says %s after %d confirmation(s);"
                " its waiters stay waiting",
                job_id,
                claimed.value,
                actual.value,
                self._tries + 1,
            )
