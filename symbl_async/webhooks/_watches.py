"""The receiver's watch table: watches, forward-only statuses, remembered early webhooks.

No HTTP here: :class:`WatchTable` classifies a decoded webhook against what is known of
its job and decides what happens next: drop it (a duplicate, or stale), advance the job,
remember it (nobody watches the job yet), or, for a claimed end, confirm it with
``GET /v1/job/{jobId}`` before any waiter is released. The confirmations run in
:class:`~symbl_async.webhooks._confirm.Confirmations`, a part of the table; the HTTP entry
points, the token and the servers are the receiver's (:mod:`._receiver`, :mod:`._server`).

Webhooks are hints (Symbl documents no signature and no retry policy: see
``docs/service-notes.md``, "Webhooks"), so the rules are:

- a job's status only moves forward (``scheduled < in_progress < completed/failed``);
  duplicates and late (lower-ranked) webhooks are counted and dropped;
- ``completed`` or ``failed`` releases waiters only once confirmed (unless confirmation
  is off); while a confirmation runs, more end claims for the job are duplicates;
- a webhook for a job nobody watches is remembered (bounded), so that a watch created
  just after the submit answered still sees it.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from typing import Any

import attrs

from symbl_async.core._jobs import JobStatus
from symbl_async.core._webhook import WebhookEvent
from symbl_async.errors import ClientClosedError, ValidationError
from symbl_async.webhooks._confirm import Confirmations, ConfirmFunc, check_reconfirm
from symbl_async.webhooks._stats import WebhookStats

__all__ = ["JobWatch", "WatchTable"]

logger = logging.getLogger("symbl_async.webhooks._watches")

_TERMINAL_RANK = JobStatus.COMPLETED.rank


@attrs.frozen
class _Seen:
    """What is remembered about a job nobody watches (yet, or any more)."""

    status: JobStatus
    confirmed: bool


class JobWatch:
    """Interest in one job: its best-known status, and an event set when it ended.

    Created by :meth:`WebhookReceiver.watch`; many coroutines may share one.

    Attributes:
        job_id: the job watched.
        done: set once a terminal status is confirmed (by ``confirm``, by
            :meth:`WebhookReceiver.note_status`, or by a webhook when confirmation is
            off). Never cleared.
    """

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self.done = asyncio.Event()
        self._status: JobStatus | None = None
        # Set when done is set or when the receiver closes: what wait() sleeps on.
        self._wakeup = asyncio.Event()
        self._wakers: set[asyncio.Future[Any]] = set()

    def __repr__(self) -> str:
        status = self._status.value if self._status is not None else None
        return f"<JobWatch {self.job_id} status={status} terminal={self.terminal}>"

    @property
    def status(self) -> JobStatus | None:
        """Best-known status: the highest non-terminal one seen, or the confirmed end.

        A terminal status claimed by a webhook but not (yet) confirmed is not shown.
        """
        return self._status

    @property
    def terminal(self) -> bool:
        """True once a terminal status is confirmed."""
        return self.done.is_set()

    async def wait(self, timeout: float | None = None) -> JobStatus | None:
        """Wait until the job's end is confirmed, or the timeout passes.

        The watch stays registered either way, so this can be called again (a hybrid
        waiter alternates it with its own polls, fed back through
        :meth:`WebhookReceiver.note_status`).

        Args:
            timeout: seconds to wait; ``None`` waits without limit.

        Returns:
            The confirmed terminal status, or ``None`` when the timeout passed first.

        Raises:
            ClientClosedError: the receiver was closed before the job ended; poll
                ``GET /v1/job/{jobId}`` instead.
        """
        if not self._wakeup.is_set():
            try:
                await asyncio.wait_for(self._wakeup.wait(), timeout)
            except asyncio.TimeoutError:
                return None
        if self.done.is_set():
            return self._status
        raise ClientClosedError(
            f"the webhook receiver was closed before job {self.job_id} ended; "
            "poll GET /v1/job/{jobId} instead"
        )

    def add_waker(self, future: asyncio.Future[Any]) -> None:
        """Resolve ``future`` (with ``None``) when :meth:`wait` would return: the job's end
        confirmed or the receiver closed (at once if either happened already).

        For a waiter that also sleeps on something else (a hybrid wait's safety poll
        moving with the learned model) in one future instead of two tasks. Take it back
        with :meth:`remove_waker` when it was resolved otherwise.
        """
        if self._wakeup.is_set():
            if not future.done():
                future.set_result(None)
            return
        self._wakers.add(future)

    def remove_waker(self, future: asyncio.Future[Any]) -> None:
        """Forget a future given to :meth:`add_waker` (no error if it is not there)."""
        self._wakers.discard(future)

    def _wake(self) -> None:
        self._wakeup.set()
        wakers, self._wakers = self._wakers, set()
        for future in wakers:
            if not future.done():
                future.set_result(None)

    def _advance(self, status: JobStatus) -> None:
        """Record a non-terminal status if it moves the job forward."""
        if self._status is None or status.rank > self._status.rank:
            self._status = status

    def _finish(self, status: JobStatus) -> None:
        self._status = status
        self.done.set()
        self._wake()

    def _close(self) -> None:
        self._wake()


class WatchTable:
    """The jobs a receiver watches, what it remembers of the others, and the rules between them.

    Args:
        stats: the receiver's counters; the table counts what webhooks did to its jobs
            (and its confirmations count theirs).
        max_recent: how many jobs nobody watches are remembered.
        confirm: asks the API for a job's real status; ``None``: trust claimed ends.
        reconfirm_tries: repeats of a confirmation that lags or raises.
        reconfirm_delay: seconds before the first repeat.

    Raises:
        ValidationError: a setting broke its rule.
    """

    def __init__(
        self,
        stats: WebhookStats,
        *,
        max_recent: int,
        confirm: ConfirmFunc | None,
        reconfirm_tries: int,
        reconfirm_delay: float,
    ) -> None:
        if isinstance(max_recent, bool) or not isinstance(max_recent, int) or max_recent < 0:
            raise ValidationError("max_recent", "must be a non-negative integer")
        tries, delay = check_reconfirm(reconfirm_tries, reconfirm_delay)
        self.stats = stats
        # How claimed ends are confirmed (None: believed); the receiver's set_confirm
        # changes it, and confirmations already running keep the one they started with.
        self.confirm = confirm
        self._max_recent = max_recent
        self._watches: dict[str, JobWatch] = {}
        self._recent: collections.OrderedDict[str, _Seen] = collections.OrderedDict()
        self._confirmations = Confirmations(stats, self._confirmed, tries=tries, delay=delay)

    def __len__(self) -> int:
        return len(self._watches)

    def watched(self) -> list[str]:
        """The ids of the jobs watched now."""
        return list(self._watches)

    # -- what arrives -----------------------------------------------------------------

    def apply_webhook(self, event: WebhookEvent) -> None:
        """Classify a webhook this receiver was sent, and act on it (counted in ``stats``)."""
        # Synchronous on purpose: classifying is a few dict look-ups, and doing it inline
        # keeps the order of arrival; only the confirmation (a request) runs in a task.
        job_id, status = event.job_id, event.status
        watch = self._watches.get(job_id)
        if watch is None:
            self.stats.unknown_jobs += 1
            self._remember(job_id, status, confirmed=False)
            logger.debug("webhook for unwatched job %s: %s (remembered)", job_id, status.value)
            return
        reached = self._reached(watch)
        if status.rank < reached:
            self.stats.stale += 1
            logger.debug("stale webhook for job %s: %s", job_id, status.value)
        elif status.rank == reached:
            self.stats.duplicates += 1
            logger.debug("duplicate webhook for job %s: %s", job_id, status.value)
        else:
            self.stats.accepted += 1
            logger.debug("webhook for job %s: %s", job_id, status.value)
            self._move(watch, status)

    def apply_relayed(self, event: WebhookEvent) -> bool:
        """A delivery another process received: the rules of :meth:`apply_webhook`,
        counted apart. Returns True when it moved a watched job forward."""
        watch = self._watches.get(event.job_id)
        if watch is None:
            self._remember(event.job_id, event.status, confirmed=False)
            return False
        if event.status.rank <= self._reached(watch):
            return False
        self.stats.relayed_in += 1
        self._move(watch, event.status)
        return True

    def note_status(self, job_id: str, status: JobStatus | str) -> None:
        """A status from the API itself (a poll): applied without confirmation.

        Raises:
            ValueError: ``status`` is neither a :class:`JobStatus` nor a string.
        """
        status = JobStatus(status)
        watch = self._watches.get(job_id)
        if watch is None:
            self._remember(job_id, status, confirmed=True)
        else:
            self._apply_confirmed(watch, status)

    # -- watches ------------------------------------------------------------------------

    def watch(self, job_id: str) -> tuple[JobWatch, bool]:
        """The job's watch, and whether it is new.

        A new watch takes what is remembered of its job: a remembered terminal status
        starts its confirmation now.

        Raises:
            ValidationError: ``job_id`` is not a non-empty string.
        """
        if not isinstance(job_id, str) or not job_id:
            raise ValidationError("job_id", "must be a non-empty string")
        watch = self._watches.get(job_id)
        if watch is not None:
            return watch, False
        watch = self._watches[job_id] = JobWatch(job_id)
        seen = self._recent.pop(job_id, None)
        if seen is not None:
            if seen.confirmed:
                self._apply_confirmed(watch, seen.status)
            elif seen.status.is_terminal:
                self._claim_end(watch, seen.status)
            else:
                watch._advance(seen.status)
        return watch, True

    def retire(self, watch: JobWatch, status: JobStatus) -> None:
        """Stop watching a job whose end was confirmed, remembering the end (bounded)."""
        if self._watches.get(watch.job_id) is watch:
            del self._watches[watch.job_id]
            self._remember(watch.job_id, status, confirmed=True)

    def forget(self, job_id: str) -> None:
        """Drop the job's watch and what is remembered of it; cancel its confirmation."""
        self._watches.pop(job_id, None)
        self._recent.pop(job_id, None)
        self._confirmations.cancel(job_id)

    def status_of(self, job_id: str) -> JobStatus | None:
        """The watched job's best-known status, else the remembered one, else ``None``."""
        watch = self._watches.get(job_id)
        if watch is not None:
            return watch.status
        seen = self._recent.get(job_id)
        return seen.status if seen is not None else None

    def is_watching(self, job_id: str) -> bool:
        """Whether the job has a watch."""
        return job_id in self._watches

    async def close(self) -> None:
        """Cancel every confirmation, then wake every waiter (they get ClientClosedError)."""
        await self._confirmations.close()
        for watch in self._watches.values():
            watch._close()

    # -- rules --------------------------------------------------------------------------

    def _reached(self, watch: JobWatch) -> int:
        if watch.terminal or self._confirmations.running(watch.job_id):
            return _TERMINAL_RANK
        return watch.status.rank if watch.status is not None else -1

    def _move(self, watch: JobWatch, status: JobStatus) -> None:
        if status.is_terminal:
            self._claim_end(watch, status)
        else:
            watch._advance(status)

    def _claim_end(self, watch: JobWatch, claimed: JobStatus) -> None:
        """A webhook says the job ended: confirm it (in a task) or, if off, believe it."""
        if self.confirm is None:
            watch._finish(claimed)
            return
        self._confirmations.start(watch.job_id, claimed, self.confirm)

    def _confirmed(self, job_id: str, status: JobStatus) -> bool:
        """Apply the API's answer; True while the job is watched and still not ended."""
        watch = self._watches.get(job_id)
        if watch is None:
            return False
        self._apply_confirmed(watch, status)
        return not watch.terminal

    def _apply_confirmed(self, watch: JobWatch, status: JobStatus) -> None:
        if watch.terminal:
            return
        if status.is_terminal:
            watch._finish(status)
        else:
            watch._advance(status)

    def _remember(self, job_id: str, status: JobStatus, *, confirmed: bool) -> None:
        if self._max_recent == 0:
            return
        old = self._recent.get(job_id)
        if (
            old is None
            or status.rank > old.status.rank
            or (status.rank == old.status.rank and confirmed and not old.confirmed)
        ):
            self._recent[job_id] = _Seen(status, confirmed)
        self._recent.move_to_end(job_id)
        while len(self._recent) > self._max_recent:
            self._recent.popitem(last=False)
