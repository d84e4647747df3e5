"""Submits whose outcome is unknown: looking an attempt up by name, and jobs found that way.

An attempt whose submit got no answer (or that a crash left ``submitting``) may or may not
have created a job. :class:`Finder` settles it as Symbl's docs allow: by the attempt's own
name in the conversation list ("GET All Conversations": a ``name`` filter, a ``startTime``
window, since the list shows only the last 7 days by default, and pages of 20 unless a
``limit`` is given). It looks at once (most lost answers are of jobs that exist: found, the
item goes on without waiting), and again once the grace period is over: until then a request
may still land, so "not found" proves nothing; after it, "not found" means no job exists and
the item may be sent again.

The conversation list gives no job id, so a job found by name is watched through its
conversation (:func:`wait_until_final`), unless a webhook names its job
(:func:`learn_or_wait`). Once no job of the item can still run (:func:`surely_ended_at`),
its transcript settles it (:func:`found_job_end`): there, completed; missing, its job
failed. Every wait here honours its deadline.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import random
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, Literal

from symbl_async.batch._inputs import FileSource
from symbl_async.batch._items import PreparedItem
from symbl_async.batch._ledger._states import (
    Change,
    ItemState,
    LedgerItem,
    completed,
    failed,
    job_id_learned,
    submitted,
)
from symbl_async.batch._ledger._store import ItemStore
from symbl_async.batch._protocol import FATAL, BatchClient
from symbl_async.batch._slots import JobSlots, Slot
from symbl_async.core._jobs import Job, JobStatus
from symbl_async.core._polling import wake_times
from symbl_async.errors import JobFailedError, NotFoundError, SymblError

__all__ = [
    "GRACE_MARGIN",
    "MAX_MEDIA_SECONDS",
    "NO_TRANSCRIPT",
    "Finder",
    "ended_now",
    "found_job_end",
    "job_max_seconds",
    "learn_or_wait",
    "media_kind_of",
    "settle_when_surely_ended",
    "surely_ended_at",
    "wait_until_final",
]

log = logging.getLogger("symbl_async.batch")

MAX_MEDIA_SECONDS = 4 * 3600.0
"""The longest media the service takes (Symbl docs, "Async API" limits: four hours)."""
_PAGE = 100
_MAX_PAGES = 100
# The lookup window starts this long before the attempt was sent: clocks differ, and the
# service stamps the conversation when it takes the request, not when we sent it.
_WINDOW_MARGIN = 3600.0
GRACE_MARGIN = 60.0
"""How long after the last byte of a submit left the service may still act on it: the
request may wait in the service's front end, and the job is created once it is handled. A
minute is far more than a request handler takes (no documented figure)."""
# For a client whose submits have no bound: an hour, the longest we let any submit be on
# the wire before assuming it is dead.
_UNBOUNDED_SUBMIT = 3600.0
_LOOKUPS_AT_ONCE = 8

def media_kind_of(row: LedgerItem) -> str:
    """The item's kind for the processing-time model: ``audio``, ``video`` or ``text``."""
    try:
        spec = json.loads(row.spec or "{}")
    except ValueError:
        return "audio"
    if spec.get("source") == "text":
        return "text"
    return "video" if spec.get("kind") == "video" else "audio"


def job_max_seconds(client: BatchClient, row: LedgerItem, wait_timeout: float) -> float:
    """Seconds after its submit by which the item's job has certainly ended.

    The longest any job of the item's kind can run at the speed the client has learned:
    the upper tail for the longest media the service takes (not the item's own length,
    which may be wrong), three times the prior's time for it, and never less than the
    wait's own deadline.
    """
    learned = client.processing_model.predict(media_kind_of(row), MAX_MEDIA_SECONDS)
    prior = client.poll.expected_time(MAX_MEDIA_SECONDS) or 0.0
    return max(wait_timeout, learned.quantile(0.999), 3 * prior)


def surely_ended_at(client: BatchClient, row: LedgerItem, wait_timeout: float) -> float:
    """When (ledger time) no job of the item's attempt can still run: its
    :func:`job_max_seconds` after the attempt was sent."""
    sent = row.attempt_at if row.attempt_at is not None else row.updated_at
    return sent + job_max_seconds(client, row, wait_timeout)


class Finder:
    """Looks attempts up by name and records what it finds."""

    def __init__(
        self,
        *,
        client: BatchClient,
        store: ItemStore,
        slots: JobSlots,
        grace: float | None,
        counts: collections.Counter[str],
        on_event: Callable[[Literal["submitted", "rejected"], str], None],
    ) -> None:
        """Share the run's client, store and counters; ``grace``: the run's fixed grace
        period in seconds, or None (per item, from its submit's deadline)."""
        self._client = client
        self._store = store
        self._slots = slots
        self.grace = grace
        self._counts = counts
        self._on_event = on_event
        self._gate = asyncio.Semaphore(_LOOKUPS_AT_ONCE)

    def grace_after_unknown(self) -> float:
        """Ledger time after which "not found" means "none", for an outcome found unknown
        now: the submit call is over, so only a request already sent may still land."""
        margin = self.grace if self.grace is not None else GRACE_MARGIN
        return self._store.clock() + margin

    def grace_until(self, row: LedgerItem, item: PreparedItem | None) -> float:
        """When "not found" means "none" for the row's current attempt.

        An unknown outcome recorded its own (:meth:`grace_after_unknown`). An attempt a
        crash (or a worker that is gone) left ``submitting`` may have been on the wire for
        as long as one submit can last, retries included (``client.submit_deadline`` for
        the item's upload size; an hour when the item, or the bound, is not known), from
        its intent; then the margin.
        """
        if row.state is ItemState.UNKNOWN and row.grace_until is not None:
            return row.grace_until
        since = row.attempt_at if row.attempt_at is not None else row.updated_at
        if self.grace is not None:
            return since + self.grace
        bound = None
        if item is not None:
            size = item.upload_size()
            # A file that is gone (or unreadable) has no size: its upload had no known bound.
            if size is not None or not isinstance(item.source, FileSource):
                bound = self._client.submit_deadline(size)
        return since + (bound if bound is not None else _UNBOUNDED_SUBMIT) + GRACE_MARGIN

    async def lookup(self, row: LedgerItem) -> str | None:
        """The id of the conversation the row's current attempt created, or None.

        Raises:
            SymblError: the service could not be asked.
        """
        name = row.attempt_name or row.name
        since = row.attempt_at if row.attempt_at is not None else row.updated_at
        start = datetime.fromtimestamp(since - _WINDOW_MARGIN, tz=timezone.utc)
        offset = 0
        async with self._gate:
            for _ in range(_MAX_PAGES):
                page = await self._client.conversations.list(
                    name=name, start_time=start, limit=_PAGE, offset=offset
                )
                for conversation in page:
                    if conversation.name in (None, name):
                        self._counts["lookups"] += 1
                        return conversation.id
                if len(page) < _PAGE:
                    break
                offset += len(page)
        self._counts["lookups"] += 1
        return None

    async def _ask(self, row: LedgerItem) -> str | None:
        """:meth:`lookup`, asked again (with a backoff) until the service answers."""
        failures = 0
        while True:
            try:
                return await self.lookup(row)
            except FATAL:
                raise
            except SymblError as exc:
                failures += 1
                log.warning("cannot look up the submit named %s yet: %s",
                            row.attempt_name, exc)
                await asyncio.sleep(random.uniform(0, self._slots.backoff_for(failures)))

    async def found_now(self, row: LedgerItem) -> LedgerItem | None:
        """Look the row's attempt up once (asking until the service answers): its row, now
        ``submitted``, if found; None if not found yet."""
        found = await self._ask(row)
        return None if found is None else await self.found(row, found)

    async def resolve(
        self, row: LedgerItem, grace_until: float, *, looked: bool = False
    ) -> LedgerItem | None:
        """Settle an attempt that may have created a job: its row once found, None if none.

        Looks at once (unless ``looked``: the caller just did), then (if not found) once the
        grace period is over. The item keeps its slot meanwhile, since its job may run. A
        run that stops cancels the wait; the ledger keeps the attempt for the next run.
        """
        found = None if looked else await self._ask(row)
        if found is None:
            rest = grace_until - self._store.clock()
            if rest > 0:
                log.info("submit %s: outcome unknown, not found yet; looking again in %.1f s",
                         row.attempt_name, rest)
                await asyncio.sleep(rest)
                found = await self._ask(row)
        if found is None:
            log.info("no job for the submit named %s: it may be sent again", row.attempt_name)
            return None
        return await self.found(row, found)

    async def found(self, row: LedgerItem, conversation_id: str) -> LedgerItem:
        """Adopt a submit found by name (no job id: the list does not give one)."""
        new = await self._store.apply(row, submitted(None, conversation_id))
        self._counts["found_by_name"] += 1
        self._on_event("submitted", row.key)
        log.info("found the submit named %s: conversation %s", row.attempt_name,
                 conversation_id)
        return new


async def wait_until_final(
    client: BatchClient,
    store: ItemStore,
    row: LedgerItem,
    slot: Slot,
    *,
    wait_timeout: float,
) -> LedgerItem | None:
    """Wait until an adopted job's insights are final; then record it ``completed``.

    Without a job id there is no status to ask (Symbl docs, "GET All Conversations" gives
    none), and insights read early are partial. The rule, from what the docs promise: the
    job is taken as ended once (1) its expected processing time has passed (no read is made
    before that), (2) the summary endpoint no longer answers 404 (it does while the job is
    in progress: "Summary API"), and (3) its messages are there and the same in two reads
    spaced at least a quarter of the expected time apart (a transcript still being written
    grows between reads).

    Returns:
        The row, now ``completed`` (the slot released); None when the insights were not
        final by ``wait_timeout`` seconds from now (the slot still held, the row
        ``submitted``).
    """
    conversation_id = row.conversation_id or ""
    schedule = client.poll
    loop = asyncio.get_running_loop()
    expected = schedule.expected_time(
        row.duration if row.duration is not None else MAX_MEDIA_SECONDS
    )
    assert expected is not None
    spacing = max(expected / 4, schedule.max_interval / schedule.time_scale)
    sent = row.attempt_at if row.attempt_at is not None else row.submitted_at
    age = max(store.clock() - (sent if sent is not None else store.clock()), 0.0)
    origin = loop.time() - age
    earliest = origin + expected
    # The deadline counts from this wait, the schedule from the attempt (time already spent
    # is not waited again): a rerun long after the attempt still gets reads to judge by.
    deadline = loop.time() + wait_timeout
    previous: tuple[list[Any], float] | None = None
    wakes = wake_times(schedule.delays(row.duration), origin=origin, deadline=deadline,
                       clock=loop.time)
    for wait, final in wakes:
        if not final:
            wait = max(wait, earliest - loop.time())
        await asyncio.sleep(max(0.0, min(wait, deadline - loop.time())))
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
        now = loop.time()
        if messages and previous is not None and previous[0] == messages and (
            now - previous[1] >= spacing
        ):
            slot.release()
            return await store.apply(row, completed())
        if not messages or previous is None or previous[0] != messages:
            previous = (messages, now) if messages else None
    return None


async def settle_when_surely_ended(
    client: BatchClient, store: ItemStore, row: LedgerItem, slot: Slot, *, until: float,
) -> None:
    """Hold the slot of a job found by name until it has surely ended, then settle it.

    ``until`` (ledger time) is when no job of the item could still run
    (:func:`job_max_seconds` after its submit). Then its transcript either is there (the
    job completed: ``completed``, fetched by a rerun) or never came (it failed:
    ``failed``; no job holds a slot any more). Cancelled with the run, the item stays
    ``submitted`` for a rerun to judge.
    """
    try:
        await asyncio.sleep(max(0.0, until - store.clock()))
        try:
            change = await found_job_end(client, row)
        except FATAL:
            return
        if change is not None:
            await store.apply(row, change)
    finally:
        slot.release()


NO_TRANSCRIPT = (
    "found by its submit name (no job id), and no transcript came although no job could "
    "still be running: the job failed on the service (it gives no reason)")


async def found_job_end(client: BatchClient, row: LedgerItem) -> Change | None:
    """What became of a job found by name, asked once no job of the item can still run
    (:func:`surely_ended_at`): its transcript is there (``completed``) or never came (its
    job failed: ``failed``). None when every read failed (a hiccup: ask again later).

    Raises:
        AuthenticationError, ClientClosedError, LedgerError: what stops the whole run.
    """
    conversation_id = row.conversation_id or ""
    for attempt in range(1, 6):
        try:
            messages = await client.conversations.messages(conversation_id)
        except NotFoundError:
            messages = []
        except FATAL:
            raise
        except SymblError:
            await asyncio.sleep(random.uniform(0, 2.0 ** attempt))
            continue
        return completed() if messages else failed(NO_TRANSCRIPT)
    return None


async def learn_or_wait(
    client: BatchClient,
    store: ItemStore,
    row: LedgerItem,
    slot: Slot,
    *,
    wait_timeout: float,
) -> LedgerItem | None:
    """Wait for an adopted job (no job id): a webhook names it, or the rule decides.

    Each attempt was submitted with its own ``webhookUrl`` (the client's
    ``webhook_url_for``), so in webhook and hybrid modes a delivery for the job names its
    ``jobId``; with it the job is waited for like any other (confirmed with ``GET /v1/job``
    first) and its result is not ``recovered``. Meanwhile, and without a receiver (poll
    mode) or a delivery, :func:`wait_until_final` decides.

    Returns:
        The row ``submitted`` with its learned job id, or ``completed``; None when neither
        came before the deadline (the slot still held).
    """
    learn = asyncio.ensure_future(client.job_id_for_attempt(row.attempt_name or row.name,
                                                            wait_timeout))
    rule = asyncio.ensure_future(wait_until_final(client, store, row, slot,
                                                  wait_timeout=wait_timeout))
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
    log.info("a webhook for the submit named %s named its job %s", row.attempt_name, job_id)
    return await store.apply(row, job_id_learned(job_id))


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
