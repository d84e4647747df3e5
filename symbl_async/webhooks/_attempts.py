"""Which job a submit attempt created, learned from the webhooks sent to its URL.

A batch submits each attempt with its own ``webhookUrl`` (the receiver's URL plus
``?attempt=<tag>``, :func:`symbl_async.core._webhook.with_attempt`). When a submit's answer is
lost, the job can still be found by name in the conversation list, but that gives no job id
(``docs/service-notes.md``, "Finding a lost submit's job"); the next webhook for that job,
delivered to the attempt's URL, names it. :class:`AttemptIndex` remembers those pairs
(bounded) and lets a caller wait for one.
The receiver's secret token guards the URL, so a delivery is as trusted as any webhook: the
batch still confirms the job with ``GET /v1/job`` before relying on it.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import re

from symbl_async.core._webhook import attempt_tag

__all__ = ["AttemptIndex"]

logger = logging.getLogger("symbl_async.webhooks._attempts")

_TAG = re.compile(r"[0-9a-f]{32}")


class AttemptIndex:
    """Attempt tags and the job id the first webhook for each one named (bounded).

    A part of :class:`~symbl_async.webhooks._receiver.WebhookReceiver`, which notes every
    delivery's attempt here (its own, and those a relay hands over).

    Args:
        max_attempts: how many attempts are remembered (oldest dropped first).
    """

    def __init__(self, *, max_attempts: int) -> None:
        self._max_attempts = max_attempts
        self._jobs: collections.OrderedDict[str, str] = collections.OrderedDict()
        self._waiters: dict[str, asyncio.Event] = {}

    def note(self, tag: str | None, job_id: str) -> None:
        """Record that a webhook sent to the URL of attempt ``tag`` named ``job_id``."""
        if tag is None or not _TAG.fullmatch(tag):
            return  # no attempt in the URL (or not one of ours): nothing to learn
        known = self._jobs.get(tag)
        if known is not None:
            if known != job_id:  # one attempt creates at most one job: keep the first
                logger.warning("webhooks for one attempt named two jobs; keeping %s", known)
            return
        if self._max_attempts == 0:
            return
        self._jobs[tag] = job_id
        while len(self._jobs) > self._max_attempts:
            self._jobs.popitem(last=False)
        event = self._waiters.pop(tag, None)
        if event is not None:
            event.set()

    def close(self) -> None:
        """Wake every waiter (they find no job id); the receiver closes."""
        for event in self._waiters.values():
            event.set()
        self._waiters.clear()

    def job_for(self, attempt: str) -> str | None:
        """The job id a webhook for this attempt named, if one arrived (and is remembered).

        Args:
            attempt: the attempt's submit name, as given to ``with_attempt``.

        Returns:
            The job id, or ``None``.
        """
        return self._jobs.get(attempt_tag(attempt))

    async def wait_job_for(self, attempt: str, timeout: float | None) -> str | None:
        """Wait until a webhook for this attempt names its job.

        Args:
            attempt: the attempt's submit name.
            timeout: seconds to wait; ``None`` waits without limit.

        Returns:
            The job id; ``None`` when the timeout passed first or the receiver closed.
        """
        tag = attempt_tag(attempt)
        known = self._jobs.get(tag)
        if known is not None:
            return known
        event = self._waiters.setdefault(tag, asyncio.Event())
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except asyncio.TimeoutError:
            return None
        finally:
            if self._waiters.get(tag) is event and not event.is_set():
                del self._waiters[tag]
        return self._jobs.get(tag)
