"""What the batch engine needs from a client: :class:`BatchClient`, a typed Protocol.

The engine never imports :mod:`symbl_async.client`; ``SymblClient`` satisfies this Protocol
structurally (a test pins that with mypy), and so can a fake or another implementation.
Members are read-only properties where the client has plain attributes, so that a client
whose attribute has a richer type (``ConversationsAPI``) still matches.
"""

from __future__ import annotations

import builtins
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from symbl_async.core._estimate import ProcessingTimeModel
from symbl_async.core._jobs import Job, JobInfo
from symbl_async.core._options import ProcessingOptions
from symbl_async.core._polling import PollSchedule, WaitMode
from symbl_async.core._upload import UploadProgress
from symbl_async.errors import AuthenticationError, ClientClosedError, LedgerError
from symbl_async.models import (
    Conversation,
    ConversationInsights,
    Message,
    SummaryItem,
    Transcript,
)

__all__ = ["FATAL", "BatchClient", "ConversationLookup"]

FATAL = (AuthenticationError, ClientClosedError, LedgerError)
"""Errors that stop the whole run: every other item would fail the same way."""


class ConversationLookup(Protocol):
    """The part of the Conversation API the engine uses: find a submit by name, read it,
    render its transcript."""

    async def list(
        self,
        *,
        name: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
        order: str | None = None,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
    ) -> Sequence[Conversation]:
        """``GET /v1/conversations``, filtered by ``name``, paged, in a time window."""
        ...

    async def messages(self, conversation_id: str) -> builtins.list[Message]:
        """``GET /v1/conversations/{id}/messages``."""
        ...

    async def summary(self, conversation_id: str) -> builtins.list[SummaryItem]:
        """``GET /v1/conversations/{id}/summary``: 404 while the job is in progress."""
        ...

    async def transcript(
        self, conversation_id: str, *, content_type: str = ..., **options: Any
    ) -> Transcript:
        """``POST /v1/conversations/{id}/transcript``: SRT or Markdown (a batch's
        ``transcripts``)."""
        ...


@runtime_checkable
class BatchClient(Protocol):
    """The client a batch runs on: submit an item, wait, get a job, fetch insights, find by name.

    ``SymblClient`` is one. Every method raises the errors of :mod:`symbl_async.errors`;
    the engine relies on :class:`~symbl_async.errors.ConcurrencyLimitError` (429) and
    :class:`~symbl_async.errors.SubmitOutcomeUnknownError` from the submits.
    """

    @property
    def base_url(self) -> str:
        """The service's root URL (a ledger remembers which service its jobs are on)."""
        ...

    @property
    def app_id(self) -> str | None:
        """The account's app id (None when the client was given only a token)."""
        ...

    @property
    def poll(self) -> PollSchedule:
        """The poll schedule (its ``time_scale`` and expected processing times)."""
        ...

    @property
    def wait_timeout(self) -> float:
        """The default deadline of :meth:`wait`, in seconds."""
        ...

    def submit_deadline(self, upload_size: int | None = None) -> float | None:
        """The longest one submit call may keep a request on the wire, its retries included
        (``upload_size``: bytes of a file); None: no bound."""
        ...

    @property
    def conversations(self) -> ConversationLookup:
        """The Conversation API."""
        ...

    def waiter(self, mode: WaitMode | str | None = None, *, field: str = "mode") -> object:
        """Check a wait mode now (unknown mode, webhook mode without receiver: ValidationError)."""
        ...

    async def submit(
        self,
        kind: Literal["audio", "video", "text"],
        *,
        file: Path | None = None,
        url: str | None = None,
        messages: Iterable[Mapping[str, Any]] | None = None,
        options: ProcessingOptions | None = None,
        media_duration: float | None = None,
        progress: UploadProgress | None = None,
    ) -> Job:
        """Start a job on a new conversation (``SymblClient.submit``: one entry for the
        audio/video file, audio/video URL and text submits; ``progress``: an upload's)."""
        ...

    async def wait(
        self, job: Job, *, timeout: float | None = None, mode: WaitMode | str | None = None
    ) -> JobInfo:
        """Wait until the job is completed (raises ``JobFailedError``, ``WaitTimeoutError``)."""
        ...

    async def get_job(self, job_id: str) -> JobInfo:
        """``GET /v1/job/{jobId}``."""
        ...

    async def fetch_insights(
        self, conversation_id: str, include: Collection[str] = ...
    ) -> ConversationInsights:
        """Fetch the chosen insights of a conversation into one object."""
        ...

    async def fetch_insights_json(
        self, conversation_id: str, include: Collection[str] = ...
    ) -> dict[str, Any]:
        """Fetch them as ``fetch_insights(...).to_json()`` gives them, without the models
        (what a batch with an output folder writes)."""
        ...

    @property
    def webhook_url(self) -> str | None:
        """The ``webhookUrl`` submits carry (RuntimeError: a receiver not started yet)."""
        ...

    @property
    def webhook_token(self) -> str | None:
        """The webhook receiver's secret token, stored with the ledger (None: no receiver)."""
        ...

    @property
    def webhooks_relayed(self) -> bool:
        """Whether webhook deliveries reaching another process are passed to this one."""
        ...

    @property
    def processing_model(self) -> ProcessingTimeModel:
        """What the client learned of how long jobs take; kept with the ledger."""
        ...

    def webhook_url_for(self, attempt: str) -> str | None:
        """The ``webhookUrl`` for one attempt (None: submit with the client's default)."""
        ...

    async def job_id_for_attempt(self, attempt: str, timeout: float | None) -> str | None:
        """The job id a webhook sent to the attempt's URL named (None: none in time)."""
        ...
