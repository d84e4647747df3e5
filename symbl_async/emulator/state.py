"""The emulator's engine: conversations, the job life cycle, account slots and counters.

A job is ``scheduled`` for ``queue_delay``, then waits for the previous job of
its conversation to end (jobs of one conversation run one after another, in
submit order), then is ``in_progress`` for its processing time, then
``completed`` (its messages join the conversation) or ``failed``. It holds one
of the account's ``concurrency_limit`` slots from its submit until it ends.
Every wait is an asyncio task on the running loop; :meth:`Engine.close` cancels them.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import logging
import random
import secrets
import time
import uuid
from datetime import datetime, timezone
from typing import Any

from .config import EmulatorConfig
from .insights import stable_id
from .model import Conversation, Job, Member, Message, ScriptLine, Word
from .options import SubmitOptions
from .tokens import TokenStore
from .webhooks import WebhookSender

__all__ = ["MAX_MEDIA_SECONDS", "CapacityError", "Engine"]

log = logging.getLogger("symbl_async.emulator")

#: The docs allow at most 4 hours of media; longer jobs fail.
MAX_MEDIA_SECONDS = 4 * 3600.0


class CapacityError(Exception):
    """Every concurrent-job slot of the account is taken."""


class Engine:
    """All state of one emulated account, and the tasks that move its jobs along."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.tokens = TokenStore(config.credentials, config.token_lifetime)
        self.webhooks = WebhookSender(config, random.Random(config.seed))
        self.conversations: dict[str, Conversation] = {}
        self.jobs: dict[str, Job] = {}
        self._t0 = time.monotonic()
        self._seq = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self.active_jobs = 0
        self.max_concurrent_jobs = 0
        self.jobs_submitted = 0
        self.jobs_completed = 0
        self.jobs_failed = 0
        self.rejected_429 = 0
        self.job_status_requests = 0
        self.requests_total = 0
        self.auth_failures = 0
        self.submits_by_name: collections.Counter[str] = collections.Counter()
        self.responses_by_status: collections.Counter[int] = collections.Counter()

    def now(self) -> float:
        """The emulator's clock: service seconds since it started (real seconds x time_scale)."""
        return round(self.config.service_seconds(time.monotonic() - self._t0), 6)

    async def start(self) -> None:
        """Open what background work needs (the webhook HTTP session)."""
        await self.webhooks.start()

    async def close(self) -> None:
        """Cancel every job timer and webhook delivery."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.webhooks.close()

    async def wait_idle(self) -> None:
        """Wait until no job is active (and thus every submitted job has ended)."""
        await self._idle.wait()

    def new_conversation(self) -> Conversation:
        """Create an empty conversation with a fresh 16-digit id."""
        while True:
            conversation_id = str(10**15 + secrets.randbelow(9 * 10**15))
            if conversation_id not in self.conversations:
                break
        self._seq += 1
        conversation = Conversation(conversation_id, self._seq, datetime.now(timezone.utc))
        self.conversations[conversation_id] = conversation
        return conversation

    def submit(
        self,
        conversation: Conversation | None,
        *,
        kind: str,
        options: SubmitOptions,
        media_duration: float,
        script: list[ScriptLine],
        first_start: datetime | None = None,
    ) -> Job:
        """Accept a job for ``conversation`` (a new one when ``None``) and start its life.

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
        failing = {options.url, options.name} & self.config.fail_inputs
        job = Job(
            id=str(uuid.uuid4()),
            conversation_id=conversation.id,
            kind=kind,
            options=options,
            media_duration=round(media_duration, 3),
            processing_time=round(self.config.processing_time(media_duration), 3),
            will_fail=bool(failing) or media_duration > MAX_MEDIA_SECONDS,
            script=script,
            submitted_at=self.now(),
            first_start=first_start,
        )
        self.jobs[job.id] = job
        self.jobs_submitted += 1
        self.active_jobs += 1
        self.max_concurrent_jobs = max(self.max_concurrent_jobs, self.active_jobs)
        self._idle.clear()
        previous, conversation.tail = conversation.tail, job
        self._notify(job)
        task = asyncio.get_running_loop().create_task(self._run(job, previous))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job

    async def _run(self, job: Job, previous: Job | None) -> None:
        await asyncio.sleep(self.config.real_seconds(self.config.queue_delay))
        if previous is not None:
            await previous.done.wait()
        job.status = "in_progress"
        job.started_at = self.now()
        self._notify(job)
        await asyncio.sleep(self.config.real_seconds(job.processing_time))
        conversation = self.conversations.get(job.conversation_id)
        if job.will_fail:
            job.status = "failed"
            self.jobs_failed += 1
        else:
            if conversation is not None:  # None: deleted while the job ran
                self._apply(conversation, job)
            job.status = "completed"
            self.jobs_completed += 1
        job.finished_at = self.now()
        self._notify(job)
        self.active_jobs -= 1
        if self.active_jobs == 0:
            self._idle.set()
        job.done.set()

    def _notify(self, job: Job) -> None:
        if job.options.webhook_url:
            self.webhooks.notify(job.options.webhook_url, job.id, job.status, final=job.is_terminal)

    def _apply(self, conversation: Conversation, job: Job) -> None:
        """Add a completed job's messages after the conversation's existing media."""
        offset = conversation.media_end
        if not conversation.messages and offset == 0 and job.first_start is not None:
            conversation.start_time = job.first_start  # timed text sets the clock
        for line in job.script:
            member = self._member(conversation, line)
            index = str(len(conversation.messages))
            conversation.messages.append(
                Message(
                    id=stable_id(conversation.id, "message", index),
                    text=line.text,
                    member_id=member.id,
                    start=offset + line.start,
                    end=offset + line.end,
                    words=_words(line, offset),
                    detect_phrases=job.options.detect_phrases,
                    job_id=job.id,
                )
            )
        last = max((line.end for line in job.script), default=0.0)
        conversation.media_end = offset + max(job.media_duration, last)
        conversation.completed_options.append(job.options)

    @staticmethod
    def _member(conversation: Conversation, line: ScriptLine) -> Member:
        for member in conversation.members.values():
            if member.name == line.speaker:
                return member
        member_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{conversation.id}/{line.speaker}"))
        member = Member(member_id, line.speaker, line.email, line.user_id)
        conversation.members[member_id] = member
        return member

    def stats(self) -> dict[str, Any]:
        """Counters of everything the emulator saw, for tests and benchmarks."""
        return {
            "clock": self.now(),
            "time_scale": self.config.time_scale,
            "concurrency_limit": self.config.concurrency_limit,
            "jobs_submitted": self.jobs_submitted,
            "jobs_completed": self.jobs_completed,
            "jobs_failed": self.jobs_failed,
            "active_jobs": self.active_jobs,
            "max_concurrent_jobs": self.max_concurrent_jobs,
            "rejected_429": self.rejected_429,
            "job_status_requests": self.job_status_requests,
            "tokens_issued": self.tokens.issued,
            "auth_failures": self.auth_failures,
            "webhooks_sent": self.webhooks.sent,
            "webhooks_failed": self.webhooks.failed,
            "webhooks_dropped": self.webhooks.dropped,
            "webhooks_duplicated": self.webhooks.duplicated,
            "webhooks_reordered": self.webhooks.reordered,
            "submits_by_name": dict(self.submits_by_name),
            "requests_total": self.requests_total,
            "responses_by_status": {str(k): v for k, v in sorted(self.responses_by_status.items())},
            "conversations": len(self.conversations),
        }

    def jobs_view(self) -> list[dict[str, Any]]:
        """Every job, in submit order, as ``/_emulator/jobs`` lists them."""
        return [job.as_json() for job in self.jobs.values()]


def _words(line: ScriptLine, offset: float) -> list[Word]:
    """Split a line's time between its words in proportion to their length."""
    texts = line.text.split()
    if not texts:
        return []
    weights = [len(t) + 1 for t in texts]
    step = (line.end - line.start) / sum(weights)
    cursor = offset + line.start
    words = []
    for index, (text, weight) in enumerate(zip(texts, weights, strict=True)):
        score = None
        if line.scored:
            digest = hashlib.sha256(f"{line.text}\x1f{index}".encode()).digest()
            score = round(0.6 + 0.39 * digest[0] / 255, 2)
        end = cursor + weight * step
        words.append(Word(text, round(cursor, 3), round(end, 3), score))
        cursor = end
    return words
