"""Submits whose outcome is unknown: looking an attempt up by name, and waiting for one found so.

An attempt whose submit got no answer may or may not have created a job. :class:`Finder`
settles it as the docs allow: by its own ``name`` (each attempt has one) in the conversation
list, within a time window that starts before the attempt (the list shows only the last 7 days
by default) and page by page (20 a time by default; REFERENCE.md "Corrections"), and only after
a grace period in which a request still in flight at the server would have landed. The
conversation list gives no job id, so a job found that way is watched through its
conversation (:func:`wait_until_final`). Internal to :mod:`symbl_async.batch._worker`.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import random
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any, Literal

from symbl_async.batch._ledger import ItemState, LedgerItem
from symbl_async.batch._protocol import FATAL, BatchClient
from symbl_async.batch._results import BatchResult
from symbl_async.batch._slots import JobSlots, Slot
from symbl_async.batch._sources import URL_RE
from symbl_async.batch._store import ItemStore
from symbl_async.core._jobs import Job, JobStatus
from symbl_async.core._polling import wake_times
from symbl_async.errors import JobFailedError, NotFoundError, SymblError

__all__ = [
    "MAX_MEDIA_SECONDS",
    "Finder",
    "default_grace",
    "ended_now",
    "learn_or_wait",
    "settle_unanswered",
    "wait_until_final",
]

log = logging.getLogger("symbl_async.batch._api")

MAX_MEDIA_SECONDS = 4 * 3600.0  # REFERENCE.md "Media limits"
_PAGE = 100
_MAX_PAGES = 100
# The lookup window starts this long before the attempt was sent: clocks differ, and the
# service stamps the conversation when it takes the request, not when we sent it.
_WINDOW_MARGIN = 3600.0
# How long after a submit the server may still act on it, beyond the client's own timeout:
# the request may wait in the service's front end, and the job is created once the request
# is handled. A minute is far more than a request handler takes (no documented figure).
_GRACE_MARGIN = 60.0
# For a client whose submits have no timeout (e.g. uploads with ``upload_total=None``): an
# hour, the longest we let any submit be on the wire before assuming it is dead.
_UNBOUNDED_SUBMIT = 3600.0

Failure = Callable[[str, str, str, BaseException | None], Awaitable[BatchResult]]


def default_grace(submit_timeout: float | None) -> float:
    """The grace period after an attempt of unknown outcome before "not found" means "none".

    A submit that the client gave up on was sent at most ``submit_timeout`` seconds before it
    gave up, so by ``submit_timeout`` after the send the request has reached the server or never
    will; :data:`_GRACE_MARGIN` more covers the server acting on it. Counted from the attempt's
    ``attempt_at`` (the intent, committed just before the send).

    Args:
        submit_timeout: the client's longest wait for a submit's answer (None: unbounded).
    """
    bound = submit_timeout if submit_timeout is not None else _UNBOUNDED_SUBMIT
    return bound + _GRACE_MARGIN


class Finder:
    """Looks attempts up by name and records what it finds."""

    def __init__(
        self,
        *,
        client: BatchClient,
        ledger: ItemStore,
        slots: JobSlots,
        grace: float | None,
        counts: collections.Counter[str],
        on_event: Callable[[Literal["submitted", "rejected"], str], None],
    ) -> None:
        """Share the run's client, ledger and counters; ``grace`` in seconds (None: per
        item, from its submit's deadline)."""
        self._client = client
        self._db = ledger
        self._slots = slots
        self.grace = grace
        self._counts = counts
        self._on_event = on_event

    async def lookup(self, row: LedgerItem) -> str | None:
        """The id of the conversation the row's current attempt created, or None.

        Raises:
            SymblError: the service could not be asked.
        """
        since = row.attempt_at if row.attempt_at is not None else row.updated_at
        start = datetime.fromtimestamp(since - _WINDOW_MARGIN, tz=timezone.utc)
        offset = 0
        for _ in range(_MAX_PAGES):
            page = await self._client.conversations.list(
                name=row.name, start_time=start, limit=_PAGE, offset=offset
            )
            for conversation in page:
                if conversation.name in (None, row.name):
                    self._counts["lookups"] += 1
                    return conversation.id
            if len(page) < _PAGE:
                break
            offset += len(page)
        self._counts["lookups"] += 1
        return None

    def grace_for(self, row: LedgerItem) -> float:
        """The item's grace period: the run's ``lookup_grace``, or one from its submit.

        A URL or text submit is bounded by the client's request timeout; an upload by its
        size-scaled deadline, for the file's size now (the file named in the ledger).
        """
        if self.grace is not None:
            return self.grace
        size = None
        if not URL_RE.match(row.source) and not row.source.startswith("text: "):
            try:
                size = os.path.getsize(row.source)
            except OSError:
                return default_grace(None)  # no size, no bound: the longest grace
        return default_grace(self._client.submit_deadline(size))

    async def resolve(self, row: LedgerItem) -> LedgerItem | None:
        """Settle an attempt that may have created a job: its row once found, None if none.

        Waits out the rest of the grace period first, then asks until the service answers
        (a backoff between tries; the item keeps its slot meanwhile, since its job may run).
        A run that stops cancels the wait; the ledger keeps the attempt for the next run.
        """
        since = row.attempt_at if row.attempt_at is not None else row.updated_at
        rest = since + self.grace_for(row) - time.time()
        if rest > 0:
            log.info("submit %s: outcome unknown; looking it up in %.1f s", row.name, rest)
            await asyncio.sleep(rest)
        failures = 0
        while True:
            try:
                found = await self.lookup(row)
            except FATAL:
                raise
            except SymblError as exc:
                failures += 1
                log.warning("cannot look up the submit named %s yet: %s", row.name, exc)
                await asyncio.sleep(random.uniform(0, self._slots.backoff_for(failures)))
                continue
            if found is None:
                log.info("no job for the submit named %s: it may be sent again", row.name)
                return None
            return await self.found(row, found)

    async def found(self, row: LedgerItem, conversation_id: str) -> LedgerItem:
        """Adopt a submit found by name (no job id: the list does not give one)."""
        new = await self._db.mark_submitted(row.key, None, conversation_id)
        self._counts["found_by_name"] += 1
        self._on_event("submitted", row.key)
        log.info("found the submit named %s: conversation %s", row.name, conversation_id)
        return new


async def wait_until_final(
    client: BatchClient,
    ledger: ItemStore,
    row: LedgerItem,
    slot: Slot,
    *,
    wait_timeout: float | None,
    failure: Failure,
    hold: Callable[[Slot], None],
) -> LedgerItem | BatchResult:
    """Wait until an adopted job's insights are final; then record it ``completed``.

    Without a job id there is no status to ask (REFERENCE.md "Corrections"), and insights
    read early are partial. The rule, from what the docs promise: the job is taken as ended
    once (1) its expected processing time has passed (no read is made before that), (2) the
    summary endpoint no longer answers 404 (it does while the job is in progress), and
    (3) its messages are there and the same in two reads spaced at least a quarter of the
    expected time apart (a transcript still being written grows between reads).

    Returns:
        The row, now ``completed``; or, at the wait's deadline, an unresolved (failed) result:
        the ledger keeps the item ``submitted`` (never ``failed``: the job may be running or
        may have failed, the API cannot say which), the slot stays held by ``hold`` until the
        run ends, and a rerun checks it again without submitting it.
    """
    key, label = row.key, row.source
    conversation_id = row.conversation_id or ""
    schedule = client.poll
    expected = schedule.expected_time(
        row.duration if row.duration is not None else MAX_MEDIA_SECONDS
    )
    assert expected is not None
    spacing = max(expected / 4, schedule.max_interval / schedule.time_scale)
    limit = wait_timeout if wait_timeout is not None else client.wait_timeout
    sent = row.attempt_at if row.attempt_at is not None else row.submitted_at
    origin = time.monotonic() - max(time.time() - (sent or time.time()), 0.0)
    earliest = origin + expected
    previous: tuple[list[Any], float] | None = None
    # The schedule counts from the attempt (time already spent is not waited again), but
    # the deadline from this wait: a rerun that comes after ``limit`` has passed since the
    # attempt (an earlier run gave up or crashed) must still get reads to judge by. Counted
    # from the attempt, its only wake-up was the deadline's: one read, never two equal ones,
    # and the item stayed unresolved in every rerun although its job had completed.
    wakes = wake_times(
        schedule.delays(row.duration), origin=origin, deadline=time.monotonic() + limit,
        clock=time.monotonic,
    )
    for wait, final in wakes:
        await asyncio.sleep(max(wait, earliest - time.monotonic()) if not final else wait)
        try:
            await client.conversations.summary(conversation_id)
            messages = await client.conversations.messages(conversation_id)
        except NotFoundError:  # the summary's 404: in progress (or a hiccup)
            previous = None
            continue
        except FATAL:
            raise
        except SymblError:
            continue
        now = time.monotonic()
        if messages and previous is not None and previous[0] == messages and (
            now - previous[1] >= spacing
        ):
            slot.release()
            return await ledger.mark_completed(key)
        if not messages or previous is None or previous[0] != messages:
            previous = (messages, now) if messages else None
    hold(slot.transfer())
    error = (
        f"conversation {conversation_id} was found by its submit name (the API gives no job "
        f"id for it) and its insights were not final after {limit:.0f} s: the job may still "
        "be running, or may have failed. Unresolved, not failed: it stays 'submitted' in the "
        "ledger, and a rerun checks it again without submitting it"
    )
    return await failure(key, label, error, None)


async def learn_or_wait(
    client: BatchClient,
    ledger: ItemStore,
    row: LedgerItem,
    slot: Slot,
    *,
    wait_timeout: float | None,
    failure: Failure,
    hold: Callable[[Slot], None],
) -> LedgerItem | BatchResult:
    """Wait for an adopted job (no job id): a webhook names it, or the rule decides.

    Each attempt was submitted with its own ``webhookUrl`` (the client's
    ``webhook_url_for``), so in webhook and hybrid modes a delivery for the job names its
    ``jobId``; with it the job is waited for like any other (confirmed with ``GET /v1/job``
    first) and its result is not ``recovered``. Meanwhile, and without a receiver (poll
    mode) or a delivery, :func:`wait_until_final` decides.

    Returns:
        The row ``submitted`` with its learned job id; or what :func:`wait_until_final`
        returns (``completed``, or an unresolved result).
    """
    limit = wait_timeout if wait_timeout is not None else client.wait_timeout
    learn = asyncio.ensure_future(client.job_id_for_attempt(row.name, limit))
    rule = asyncio.ensure_future(wait_until_final(
        client, ledger, row, slot, wait_timeout=wait_timeout, failure=failure, hold=hold,
    ))
    try:
        await asyncio.wait({learn, rule}, return_when=asyncio.FIRST_COMPLETED)
        if not rule.done() and learn.result() is not None:
            # Cancelled while it sleeps or reads: the rule writes nothing before it ends.
            rule.cancel()
            await asyncio.gather(rule, return_exceptions=True)
        if rule.done() and not rule.cancelled():
            return rule.result()
        job_id = learn.result()
        if job_id is None:  # no delivery in time (or no receiver): the rule decides
            return await rule
    finally:
        for task in (learn, rule):
            task.cancel()
        await asyncio.gather(learn, rule, return_exceptions=True)
    log.info("a webhook for the submit named %s named its job %s", row.name, job_id)
    return await ledger.learn_job_id(row.key, job_id)


async def ended_now(client: BatchClient, job: Job) -> bool:
    """Ask ``GET /v1/job`` once: True if the job completed, False if unknown yet.

    For jobs this run did not see submitted (an earlier run's, or one whose id a webhook
    revealed): their webhooks may have gone to a receiver that is gone, so a wait on
    webhooks alone might never end. A hiccup only means "ask the normal wait".

    Raises:
        JobFailedError: the job ended ``failed``.
    """
    try:
        info = await client.get_job(job.job_id)
    except FATAL:
        raise
    except SymblError:
        return False
    if info.status is JobStatus.FAILED:
        raise JobFailedError(job.job_id, job.conversation_id or None)
    return info.status is JobStatus.COMPLETED


async def settle_unanswered(ledger: ItemStore, finder: Finder) -> None:
    """Look up, by name, attempts an earlier run left without an answer, first of all.

    Found ones are adopted (and then finished like any job left in flight, named by this
    input or not); the others are settled by their item's own task, after the grace
    period. A lookup that fails here is only logged: the item's task asks again. If one
    of them raises (a fatal error), the others are cancelled and awaited before it
    propagates, so none outlives the ledger.
    """
    rows = [row async for row in ledger.items(ItemState.SUBMITTING)]
    rows += [row async for row in ledger.items(ItemState.UNKNOWN)]
    gate = asyncio.Semaphore(8)

    async def settle(row: LedgerItem) -> None:
        async with gate:
            try:
                found = await finder.lookup(row)
            except FATAL:
                raise
            except SymblError as exc:
                log.warning("cannot look up the submit named %s yet: %s", row.name, exc)
                return
            if found is not None:
                await finder.found(row, found)

    tasks = [asyncio.ensure_future(settle(row)) for row in rows]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
