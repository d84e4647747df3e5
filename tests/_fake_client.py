"""A client whose every call succeeds at once, without a network: the batch engine's own
behaviour at full speed (over a memory or SQLite ledger).

It subclasses ``SymblClient`` for the properties the engine reads (poll schedule, wait
timeout, learned model, webhook settings) and answers the calls the engine makes: URL and
text submits, waits, job status, insight fetches. Counters say what was asked.
"""

from __future__ import annotations

import builtins
import collections
import itertools
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from symbl_async.client._client import SymblClient
from symbl_async.core._jobs import Job, JobInfo, JobStatus
from symbl_async.core._options import ProcessingOptions
from symbl_async.core._text import TextMessage
from symbl_async.models import (
    Conversation,
    ConversationInsights,
    Message,
    SummaryItem,
    Transcript,
)

__all__ = ["FakeConversations", "InstantClient"]


class FakeConversations:
    """The Conversation API calls the engine makes: a lookup by name, and an adopted job's
    messages and summary (every job is over at once)."""

    def __init__(self, names: Mapping[str, str]) -> None:
        self._names = names  # submit name -> conversation id

    async def list(self, *, name: str | None = None, **_: Any) -> builtins.list[Conversation]:
        found = self._names.get(name or "")
        return [] if found is None else [Conversation(id=found, name=name)]

    async def messages(self, conversation_id: str) -> builtins.list[Message]:
        return [Message(id="m1", text="Hello.")]

    async def summary(self, conversation_id: str) -> builtins.list[SummaryItem]:
        return []

    async def transcript(
        self, conversation_id: str, *, content_type: str = "text/markdown", **options: Any
    ) -> Transcript:
        return Transcript(payload=f"{content_type} of {conversation_id}",
                          content_type=content_type)


class InstantClient(SymblClient):
    """Every job is created at once and completed at once."""

    def __init__(self, *, remember: bool = True) -> None:
        """``remember``: keep each submit's name (to count them, and to find a submit by
        name); off, only the number of submits is kept (a memory test's own memory)."""
        super().__init__(app_id="fake", app_secret="fake", base_url="http://127.0.0.1:9")
        self._ids = itertools.count(1)
        self._remember = remember
        self.submits = 0
        self.submitted: collections.Counter[str] = collections.Counter()
        self.conversation_of: dict[str, str] = {}
        self.conversations = FakeConversations(self.conversation_of)  # type: ignore[assignment]

    async def submit_audio_url(
        self, url: str, *, options: ProcessingOptions | None = None,
        media_duration: float | None = None,
    ) -> Job:
        n = next(self._ids)
        name = None if options is None else options.name
        self.submits += 1
        if self._remember:
            self.submitted[str(name)] += 1
            self.conversation_of[str(name)] = f"conv-{n}"
        return Job(job_id=f"job-{n}", conversation_id=f"conv-{n}", name=name,
                   media_duration=media_duration)

    submit_video_url = submit_audio_url

    async def submit_text(
        self, messages: Iterable[TextMessage | Mapping[str, Any]], *,
        options: ProcessingOptions | None = None,
    ) -> Job:
        return await self.submit_audio_url("text", options=options)

    async def wait(self, job: Job | str, **kwargs: Any) -> JobInfo:
        job_id = job if isinstance(job, str) else job.job_id
        return JobInfo(id=job_id, status=JobStatus.COMPLETED)

    async def get_job(self, job_id: str) -> JobInfo:
        return JobInfo(id=job_id, status=JobStatus.COMPLETED)

    async def fetch_insights(
        self, conversation_id: str, include: Collection[str] = ()
    ) -> ConversationInsights:
        return ConversationInsights(conversation_id=conversation_id)

    async def fetch_insights_json(
        self, conversation_id: str, include: Collection[str] = ()
    ) -> dict[str, Any]:
        return {"conversationId": conversation_id}
