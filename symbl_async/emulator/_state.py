"""The emulator's scheduler: conversations, the job life cycle, account slots and counters.

A job is ``scheduled`` for ``queue_delay``, then waits for the previous job of
its conversation to end (jobs of one conversation run one after another, in
submit order), then is ``in_progress`` for its processing time, then
``completed`` (its messages join the conversation) or ``failed``. It holds one
of the account's ``concurrency_limit`` slots from its creation until it ends.

One timer drives every job: a heap of ``(due, job, step)`` and a single
``loop.call_at`` for the earliest entry, re-armed when an earlier entry comes.
No task or event per job, so thousands of jobs end on time and cost little; a
completed job's messages are built when the conversation is first read.
"""

from __future__ import annotations

import asyncio
import collections
import heapq
import itertools
import logging
import math
import random
import secrets
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from ._config import EmulatorConfig
from ._faults import Faults
from ._model import Conversation, Job
from ._options import SubmitOptions
from ._tokens import TokenStore
from ._transcripts import apply_completed
from ._uplink import Uplink, Uploads
from ._webhooks import WebhookSender

__all__ = ["MAX_MEDIA_SECONDS", "CapacityError", "Scheduler"]

log = logging.getLogger("symbl_async.emulator")

#: The docs allow at most 4 hours of media; longer jobs fail.
MAX_MEDIA_SECONDS = 4 * 3600.0

_START, _END = "start", "end"


class CapacityError(Exception):
    """Every concurrent-job slot of the account is taken."""


class Scheduler:
    """All state of one emulated account, and the timer that moves its jobs along."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.tokens = TokenStore(config.credentials, config.token_lifetime)
        self.faults = Faults(config)
        # The webhook generator keeps its historical seed: runs stay comparable.
        self.webhooks = WebhookSender(config, random.Random(config.seed))
        self.conversations: dict[str, Conversation] = {}
        self.jobs: dict[str, Job] = {}
        #: Real seconds added to the wall clock (tests move it to age conversations).
        self.wall_offset = config.wall_clock_offset
        self._t0 = time.monotonic()
        self._seq = 0
        self._heap: list[tuple[float, int, Job, str]] = []
        self._order = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_due = math.inf
        self._loop: asyncio.AbstractEventLoop | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = asyncio.Event()
        #: Media uploads seen: at once at most, bytes, cut off.
        self.uploads = Uploads()
        #: Paces request bodies when ``upload_bandwidth`` is set (None: no pacing, no cost).
        self.uplink = (
            Uplink(config.upload_bandwidth, self._closing) if config.upload_bandwidth else None
        )
        self.active_jobs = 0
        self.active_client_jobs = 0
        self.jobs_submitted = 0
        self.jobs_completed = 0
        self.jobs_failed = 0
        self.rejected_429 = 0
        self.job_status_requests = 0
        self.requests_total = 0
        self.auth_failures = 0
        self.submits_received = 0
        self.submits_dropped = 0
        self.submits_by_name: collections.Counter[str] = collections.Counter()
        self.submits_by_content: collections.Counter[str] = collections.Counter()
        self.responses_by_status: collections.Counter[int] = collections.Counter()

    def now(self) -> float:
        """The emulator's clock: service seconds since it started (real seconds x time_scale)."""
        return round(self.config.service_seconds(time.monotonic() - self._t0), 6)

    def wall_now(self) -> datetime:
        """The wall clock conversations are dated by (moved by ``wall_offset``)."""
        return datetime.now(timezone.utc) + timedelta(seconds=self.wall_offset)

    @property
    def closing(self) -> asyncio.Event:
        """Set when the emulator shuts down: waits that hold a request open end on it."""
        return self._closing

    async def start(self) -> None:
        """Open what background work needs (the webhook HTTP session); seat foreign jobs."""
        self._loop = asyncio.get_running_loop()
        await self.webhooks.start()
        for _ in range(self.config.foreign_jobs):
            self._foreign_job()

    async def close(self) -> None:
        """Stop the job timer and cancel webhook deliveries."""
        self._closing.set()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._heap.clear()
        await self.webhooks.close()

    async def wait_idle(self) -> None:
        """Wait until no job of the client is active (every submitted job has ended)."""
        await self._idle.wait()

    def new_conversation(self) -> Conversation:
        """Create an empty conversation with a fresh 16-digit id."""
        while True:
            conversation_id = str(10**15 + secrets.randbelow(9 * 10**15))
            if conversation_id not in self.conversations:
                break
        self._seq += 1
        conversation = Conversation(conversation_id, self._seq, self.wall_now())
        self.conversations[conversation_id] = conversation
        return conversation

    def submit(
        self,
        conversation: Conversation | None,
        *,
        kind: str,
        options: SubmitOptions,
        media_duration: float,
        script_seed: bytes = b"",
        first_start: datetime | None = None,
        content_key: str | None = None,
    ) -> Job:
        """Accept a job for ``conversation`` (a new one when ``None``) and start its life.

        Args:
            script_seed: what the synthetic transcript of a media job is drawn from.
            content_key: identifies the submitted content (URL or SHA-256), for the
                "paid twice" counters.

        Raises:
            CapacityError: when ``concurrency_limit`` jobs are active.
        """
        if self.active_jobs >= self.config.concurrency_limit:
            self.rejected_429 += 1
            raise CapacityError
        if conversation is None:
            conversation = self.new_conversation()
        if options.name:
            # Named at submit time, so a client that lost the answer can find it by name.
            conversation.name = options.name
            self.submits_by_name[options.name] += 1
        if options.metadata:
            conversation.metadata.update(options.metadata)
        if content_key is not None:
            self.submits_by_content[content_key] += 1
        fate = self.faults.job()
        failing = bool({options.url, options.name} & self.config.fail_inputs)
        if fate.fails and not failing:
            self.faults.count("job_failed")
        job = Job(
            id=str(uuid.uuid4()),
            conversation_id=conversation.id,
            kind=kind,
            options=options,
            media_duration=round(media_duration, 3),
            processing_time=round(self.config.processing_time(media_duration) * fate.speed, 3),
            will_fail=failing or fate.fails or media_duration > MAX_MEDIA_SECONDS,
            script_seed=script_seed,
            submitted_at=self.now(),
            first_start=first_start,
        )
        self.jobs[job.id] = job
        self.jobs_submitted += 1
        self._take_slot(job)
        previous, conversation.tail = conversation.tail, job
        if previous is not None and not previous.is_terminal:
            previous.follower, job.blocked = job, True
        self._notify(job)
        self._schedule(self.config.real_seconds(self.config.queue_delay), job, _START)
        return job

    def _foreign_job(self) -> None:
        """A job someone else runs on the account: it holds a slot, in progress."""
        job = Job(
            id=str(uuid.uuid4()),
            conversation_id="",
            kind="foreign",
            options=SubmitOptions(),
            media_duration=0.0,
            processing_time=self.config.foreign_job_duration or math.inf,
            will_fail=False,
            script_seed=b"",
            submitted_at=self.now(),
            foreign=True,
            status="in_progress",
        )
        job.started_at = job.submitted_at
        self.jobs[job.id] = job
        self._take_slot(job)
        if self.config.foreign_job_duration is not None:
            self._schedule(self.config.real_seconds(self.config.foreign_job_duration), job, _END)

    def _take_slot(self, job: Job) -> None:
        self.active_jobs += 1
        if not job.foreign:
            self.active_client_jobs += 1
            self._idle.clear()

    # --- the one timer ------------------------------------------------------------------

    def _schedule(self, delay: float, job: Job, step: str) -> None:
        loop = self._loop or asyncio.get_running_loop()
        due = loop.time() + delay
        heapq.heappush(self._heap, (due, next(self._order), job, step))
        if due < self._timer_due:
            self._arm(loop, due)

    def _arm(self, loop: asyncio.AbstractEventLoop, due: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_due = due
        self._timer = loop.call_at(due, self._tick)

    def _tick(self) -> None:
        loop = self._loop or asyncio.get_running_loop()
        self._timer, self._timer_due = None, math.inf
        now = loop.time()
        # Bounded: only entries already due are taken; new ones are due later.
        for _ in range(len(self._heap)):
            if not self._heap or self._heap[0][0] > now:
                break
            _, _, job, step = heapq.heappop(self._heap)
            try:
                if step == _START:
                    job.ready = True
                    self._maybe_begin(job)
                else:
                    self._finish(job)
            except Exception:  # one broken job must not stop the clock for the others
                log.exception("emulator job %s failed to move on", job.id)
        if self._heap:
            self._arm(loop, self._heap[0][0])

    def _maybe_begin(self, job: Job) -> None:
        """Start ``job`` if its queue delay passed and its conversation's previous job ended."""
        if not job.ready or job.status != "scheduled":
            return
        if job.blocked:
            return  # the conversation's previous job begins it when it ends
        job.status = "in_progress"
        job.started_at = self.now()
        self._notify(job)
        self._schedule(self.config.real_seconds(job.processing_time), job, _END)

    def _finish(self, job: Job) -> None:
        conversation = self.conversations.get(job.conversation_id)
        if job.foreign:
            job.status = "completed"
        elif job.will_fail:
            job.status = "failed"
            self.jobs_failed += 1
        else:
            if conversation is not None:  # None: deleted while the job ran
                apply_completed(conversation, job)
            job.status = "completed"
            self.jobs_completed += 1
        job.finished_at = self.now()
        self._notify(job)
        self.active_jobs -= 1
        if not job.foreign:
            self.active_client_jobs -= 1
            if self.active_client_jobs == 0:
                self._idle.set()
        follower, job.follower = job.follower, None
        if follower is not None:
            follower.blocked = False
            self._maybe_begin(follower)

    def _notify(self, job: Job) -> None:
        if job.options.webhook_url:
            self.webhooks.notify(job.options.webhook_url, job.id, job.status, final=job.is_terminal)

    # --- counters ---------------------------------------------------------------------------

    def max_concurrency(self, *, include_foreign: bool = True) -> int:
        """Most jobs holding a slot at once, from a sweep over job start and end times.

        A job holds its slot from creation until it ends; at equal times an end is
        counted before a start (the slot was handed over, not shared).
        """
        events: list[tuple[float, int]] = []
        for job in self.jobs.values():
            if job.foreign and not include_foreign:
                continue
            events.append((job.submitted_at, 1))
            events.append((math.inf if job.finished_at is None else job.finished_at, -1))
        events.sort()
        best = current = 0
        for _, change in events:
            current += change
            best = max(best, current)
        return best

    def stats(self) -> dict[str, Any]:
        """Counters of everything the emulator saw, for tests and benchmarks.

        ``submits_by_name`` and ``submits_by_content`` count *created* jobs (what the
        account pays for), per submit ``name`` and per content (``url:<URL>``,
        ``sha256:<hex>`` of an upload, ``text:<sha256 of the messages>``);
        ``duplicate_names`` / ``duplicate_contents`` keep those created more than once.
        """
        return {
            "clock": self.now(),
            "time_scale": self.config.time_scale,
            "concurrency_limit": self.config.concurrency_limit,
            "submits_received": self.submits_received,
            "jobs_submitted": self.jobs_submitted,
            "jobs_created": self.jobs_submitted,
            "jobs_completed": self.jobs_completed,
            "jobs_failed": self.jobs_failed,
            "active_jobs": self.active_jobs,
            "active_client_jobs": self.active_client_jobs,
            "foreign_jobs_active": self.active_jobs - self.active_client_jobs,
            "max_concurrent_jobs": self.max_concurrency(),
            "max_concurrent_client_jobs": self.max_concurrency(include_foreign=False),
            "rejected_429": self.rejected_429,
            "uploads_max_at_once": self.uploads.max_reading,
            "upload_bytes": self.uploads.bytes,
            "uploads_whole": self.uploads.whole,
            "uploads_cut": self.uploads.cut,
            "uploads_begun_while_full": self.uploads.begun_while_full,
            "job_status_requests": self.job_status_requests,
            "tokens_issued": self.tokens.issued,
            "auth_failures": self.auth_failures,
            "webhooks_sent": self.webhooks.sent,
            "webhooks_failed": self.webhooks.failed,
            "webhooks_dropped": self.webhooks.dropped,
            "webhooks_duplicated": self.webhooks.duplicated,
            "webhooks_reordered": self.webhooks.reordered,
            "submits_by_name": dict(self.submits_by_name),
            "submits_by_content": dict(self.submits_by_content),
            "duplicate_names": {k: v for k, v in self.submits_by_name.items() if v > 1},
            "duplicate_contents": {k: v for k, v in self.submits_by_content.items() if v > 1},
            "submits_dropped": self.submits_dropped,
            "faults": dict(sorted(self.faults.counts.items())),
            "requests_total": self.requests_total,
            "responses_by_status": {str(k): v for k, v in sorted(self.responses_by_status.items())},
            "conversations": len(self.conversations),
        }

    def jobs_view(self) -> list[dict[str, Any]]:
        """Every job, in submit order, as ``/_emulator/jobs`` lists them."""
        return [job.as_json() for job in self.jobs.values()]
