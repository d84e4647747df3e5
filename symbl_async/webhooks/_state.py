"""The receiver's state: watches, forward-only statuses, remembered early webhooks, stats.

No HTTP here: :class:`WatchState` classifies a decoded webhook against what is known of
its job and decides what happens next (drop it, advance the job, remember it, or ask
for a confirmation). The confirmation itself runs in :mod:`._confirm`; the HTTP entry
points and servers live in :mod:`._receiver` and :mod:`._server`.
"""

from __future__ import annotations

import asyncio
import collections
import logging

import attrs

from symbl_async.core._jobs import JobStatus
from symbl_async.core._webhook import WebhookEvent
from symbl_async.errors import ClientClosedError, ValidationError, WaitTimeoutError

__all__ = ["JobWatch", "WatchState", "WebhookStats"]

logger = logging.getLogger("symbl_async.webhooks._state")

_TERMINAL_RANK = JobStatus.COMPLETED.rank


@attrs.define
class WebhookStats:
    """Counters of a receiver; every request reaching it lands in exactly one of
    ``rejected``, ``unknown_jobs``, ``duplicates``, ``stale`` or ``accepted``.

    Attributes:
        received: requests that reached the receiver (right token or not).
        accepted: webhooks that moved a watched job forward.
        duplicates: webhooks repeating a watched job's status (or claiming an end
            already being confirmed), dropped.
        stale: webhooks ranked below what a watched job already reached, dropped.
        unknown_jobs: valid webhooks for jobs nobody watches; acknowledged, remembered.
        rejected: answered with an error status, by reason: ``bad_token`` (404),
            ``too_large`` (413), ``invalid_body`` / ``invalid_job_id`` /
            ``invalid_status`` (400), ``closed`` (503), ``incomplete_body`` (the
            client went away mid-body; nothing answered).
        confirmations: calls made to ``confirm`` (re-confirmations included).
        confirmation_mismatches: confirmations where the API's status differed from
            the webhook's.
        confirmation_errors: confirmations that raised.
        reconfirmations: confirmations repeated because the previous one lagged
            (a non-terminal status) or raised.
        relayed_out: deliveries for jobs this process does not watch, handed to the
            relay (``relay=``) for the process that does.
        relayed_in: deliveries another process received, handed over by the relay, that
            moved a job watched here forward (not requests: outside the five above).
    """

    received: int = 0
    accepted: int = 0
    duplicates: int = 0
    stale: int = 0
    unknown_jobs: int = 0
    rejected: collections.Counter[str] = attrs.field(factory=collections.Counter)
    confirmations: int = 0
    confirmation_mismatches: int = 0
    confirmation_errors: int = 0
    reconfirmations: int = 0
    relayed_out: int = 0
    relayed_in: int = 0


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

    def _advance(self, status: JobStatus) -> None:
        """Record a non-terminal status if it moves the job forward."""
        if self._status is None or status.rank > self._status.rank:
            self._status = status

    def _finish(self, status: JobStatus) -> None:
        self._status = status
        self.done.set()
        self._wakeup.set()

    def _close(self) -> None:
        self._wakeup.set()


class WatchState:
    """Watches, what is remembered of unwatched jobs, and the rules between them.

    The base of :class:`~symbl_async.webhooks._receiver.WebhookReceiver`, which adds the
    HTTP entry points and the confirmation. Subclasses provide :meth:`_claim_end`
    (a webhook claims a watched job ended) and :meth:`_confirming` (is one running).

    Args:
        max_recent: how many jobs nobody watches are remembered.
    """

    def __init__(self, *, max_recent: int) -> None:
        if isinstance(max_recent, bool) or not isinstance(max_recent, int) or max_recent < 0:
            raise ValidationError("max_recent", "must be a non-negative integer")
        self._max_recent = max_recent
        self.stats = WebhookStats()
        self._watches: dict[str, JobWatch] = {}
        self._recent: collections.OrderedDict[str, _Seen] = collections.OrderedDict()
        self._closed = False

    # -- hooks --------------------------------------------------------------------------

    def _claim_end(self, watch: JobWatch, claimed: JobStatus) -> None:
        raise NotImplementedError

    def _confirming(self, job_id: str) -> bool:
        raise NotImplementedError

    def _cancel_confirmation(self, job_id: str) -> None:
        raise NotImplementedError

    # -- rules ------------------------------------------------------------------------

    def _apply_webhook(self, event: WebhookEvent) -> None:
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

    def _apply_relayed(self, event: WebhookEvent) -> bool:
        """A delivery another process received: the rules of :meth:`_apply_webhook`,
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

    def _reached(self, watch: JobWatch) -> int:
        if watch.terminal or self._confirming(watch.job_id):
            return _TERMINAL_RANK
        return watch.status.rank if watch.status is not None else -1

    def _move(self, watch: JobWatch, status: JobStatus) -> None:
        if status.is_terminal:
            self._claim_end(watch, status)
        else:
            watch._advance(status)

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

    def _close_watches(self) -> None:
        for watch in self._watches.values():
            watch._close()

    # -- watching ---------------------------------------------------------------------

    def watch(self, job_id: str) -> JobWatch:
        """Register interest in a job; call it right after the submit answers.

        A webhook that arrived before (the job was unknown then) is taken into account:
        a remembered terminal status starts its confirmation now. Calling it again for
        the same job returns the same watch. The watch stays until :meth:`forget` (or a
        successful :meth:`wait_for`). Call it from inside the event loop.

        Args:
            job_id: the submit's ``jobId``.

        Returns:
            The job's watch.

        Raises:
            ClientClosedError: the receiver was closed.
            ValidationError: ``job_id`` is not a non-empty string.
        """
        if self._closed:
            raise ClientClosedError("this WebhookReceiver was closed; create a new one")
        if not isinstance(job_id, str) or not job_id:
            raise ValidationError("job_id", "must be a non-empty string")
        watch = self._watches.get(job_id)
        if watch is not None:
            return watch
        watch = self._watches[job_id] = JobWatch(job_id)
        seen = self._recent.pop(job_id, None)
        if seen is not None:
            if seen.confirmed:
                self._apply_confirmed(watch, seen.status)
            elif seen.status.is_terminal:
                self._claim_end(watch, seen.status)
            else:
                watch._advance(seen.status)
        return watch

    async def wait_for(self, job_id: str, *, timeout: float | None) -> JobStatus:
        """Wait until a terminal status of the job is confirmed.

        On success the watch is retired (its end stays remembered, bounded, so waiting
        again returns at once). On timeout the job stays watched, and the error carries
        its id.

        Args:
            job_id: the submit's ``jobId``.
            timeout: seconds to wait; ``None`` waits without limit.

        Returns:
            The confirmed terminal status (``completed`` or ``failed``; a failed job is
            returned, not raised).

        Raises:
            WaitTimeoutError: the timeout passed first.
            ClientClosedError: the receiver was (or got) closed.
            ValidationError: ``job_id`` is not a non-empty string.
        """
        watch = self.watch(job_id)
        status = await watch.wait(timeout)
        if status is None:
            last = watch.status.value if watch.status is not None else None
            raise WaitTimeoutError(job_id, None, timeout or 0.0, last)
        if self._watches.get(job_id) is watch:
            del self._watches[job_id]
            self._remember(job_id, status, confirmed=True)
        return status

    def note_status(self, job_id: str, status: JobStatus | str) -> None:
        """Feed a status learned from the API itself (a poll): no confirmation needed.

        A terminal status releases the job's waiters at once. Statuses only move
        forward. For a job nobody watches, the status is remembered (bounded).

        Args:
            job_id: the job.
            status: its status, as ``GET /v1/job/{jobId}`` answered.

        Raises:
            ValueError: ``status`` is neither a :class:`JobStatus` nor a string.
        """
        status = JobStatus(status)
        watch = self._watches.get(job_id)
        if watch is None:
            self._remember(job_id, status, confirmed=True)
        else:
            self._apply_confirmed(watch, status)

    def forget(self, job_id: str) -> None:
        """Stop watching a job and drop what is remembered of it.

        A confirmation in flight for it is cancelled. Coroutines still waiting on its
        watch are not woken (their own timeout ends them).

        Args:
            job_id: the job.
        """
        self._watches.pop(job_id, None)
        self._recent.pop(job_id, None)
        self._cancel_confirmation(job_id)

    def status_of(self, job_id: str) -> JobStatus | None:
        """Best-known status of a job, watched or remembered; ``None`` if unknown.

        Args:
            job_id: the job.

        Returns:
            The watched job's :attr:`JobWatch.status`, else the remembered status
            (which, for a job nobody watched, may be an unconfirmed webhook hint).
        """
        watch = self._watches.get(job_id)
        if watch is not None:
            return watch.status
        seen = self._recent.get(job_id)
        return seen.status if seen is not None else None

    def is_watching(self, job_id: str) -> bool:
        """True while the job has a watch (between :meth:`watch` and :meth:`forget`).

        Args:
            job_id: the job.

        Returns:
            Whether it is watched.
        """
        return job_id in self._watches
