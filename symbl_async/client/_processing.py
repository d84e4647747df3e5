"""The one-call ``process_*`` helpers of :class:`~symbl_async.SymblClient` (a mixin).

Each checks everything before paying for a job, submits, waits, and fetches the
insights.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

import attrs

from symbl_async.client._conversations import DEFAULT_INCLUDE, check_include
from symbl_async.client._submits import Submits
from symbl_async.client._uploads import MediaInput
from symbl_async.client._waiting import PollSchedule, Waiter, WaitMode
from symbl_async.core._jobs import Job
from symbl_async.core._options import ProcessingOptions
from symbl_async.core._text import TextMessage
from symbl_async.models._models import ConversationInsights

__all__ = ["Processing"]


class Processing(Submits):
    """Submit, wait, fetch: one call each; mixed into :class:`~symbl_async.SymblClient`."""

    # Provided by SymblClient.
    def waiter(
        self,
        mode: WaitMode | str | None = None,
        *,
        schedule: PollSchedule | None = None,
        field: str = "mode",
    ) -> Waiter:
        raise NotImplementedError

    def _timeout(self, timeout: float | None) -> float:
        raise NotImplementedError

    async def fetch_insights(
        self, conversation_id: str, include: Collection[str] = DEFAULT_INCLUDE
    ) -> ConversationInsights:
        raise NotImplementedError

    def _check_process(
        self, include: Collection[str], timeout: float | None, wait_mode: WaitMode | str | None
    ) -> Waiter:
        # Everything checked before paying for a job.
        check_include(include)
        self._timeout(timeout)
        return self.waiter(wait_mode, field="wait_mode")

    async def _process(
        self, job: Job, include: Collection[str], timeout: float | None, waiter: Waiter
    ) -> ConversationInsights:
        await waiter.wait(job, timeout=self._timeout(timeout))
        insights = await self.fetch_insights(job.conversation_id, include=include)
        return attrs.evolve(insights, job_id=job.job_id, conversation_id=job.conversation_id)

    async def process_audio_url(
        self,
        url: str,
        *,
        options: ProcessingOptions | None = None,
        include: Collection[str] = DEFAULT_INCLUDE,
        timeout: float | None = None,
        media_duration: float | None = None,
        wait_mode: WaitMode | str | None = None,
    ) -> ConversationInsights:
        """Submit an audio URL, wait for the job, and return its insights.

        Args:
            url: a public, direct http(s) link to the audio.
            options: processing options.
            include: ``ConversationInsights`` field names to fetch.
            timeout: seconds to wait for the job (default: the client's ``wait_timeout``).
            media_duration: the media length in seconds, if known (cheaper waiting).
            wait_mode: ``"poll"``, ``"webhook"`` or ``"hybrid"`` (see :meth:`wait`);
                default :attr:`wait_mode`.

        Returns:
            The insights, with the job and conversation ids.

        Raises:
            ValidationError: a bad argument (including a webhook mode without a
                receiver), before the submit.
            JobFailedError: the job ended ``failed``.
            WaitTimeoutError: the deadline passed; the error carries the job id.

        The other ``process_*`` helpers take the same ``include``, ``timeout`` and
        ``wait_mode`` and raise the same errors.
        """
        waiter = self._check_process(include, timeout, wait_mode)
        job = await self.submit_audio_url(url, options=options, media_duration=media_duration)
        return await self._process(job, include, timeout, waiter)

    async def process_video_url(
        self,
        url: str,
        *,
        options: ProcessingOptions | None = None,
        include: Collection[str] = DEFAULT_INCLUDE,
        timeout: float | None = None,
        media_duration: float | None = None,
        wait_mode: WaitMode | str | None = None,
    ) -> ConversationInsights:
        """Submit a video URL, wait for the job, and return its insights."""
        waiter = self._check_process(include, timeout, wait_mode)
        job = await self.submit_video_url(url, options=options, media_duration=media_duration)
        return await self._process(job, include, timeout, waiter)

    async def process_audio_file(
        self,
        media: MediaInput,
        *,
        options: ProcessingOptions | None = None,
        include: Collection[str] = DEFAULT_INCLUDE,
        timeout: float | None = None,
        content_type: str | None = None,
        wait_mode: WaitMode | str | None = None,
    ) -> ConversationInsights:
        """Upload audio, wait for the job, and return its insights."""
        waiter = self._check_process(include, timeout, wait_mode)
        job = await self.submit_audio_file(media, options=options, content_type=content_type)
        return await self._process(job, include, timeout, waiter)

    async def process_video_file(
        self,
        media: MediaInput,
        *,
        options: ProcessingOptions | None = None,
        include: Collection[str] = DEFAULT_INCLUDE,
        timeout: float | None = None,
        content_type: str | None = None,
        wait_mode: WaitMode | str | None = None,
    ) -> ConversationInsights:
        """Upload an MP4 video, wait for the job, and return its insights."""
        waiter = self._check_process(include, timeout, wait_mode)
        job = await self.submit_video_file(media, options=options, content_type=content_type)
        return await self._process(job, include, timeout, waiter)

    async def process_text(
        self,
        messages: Iterable[TextMessage | Mapping[str, Any]],
        *,
        options: ProcessingOptions | None = None,
        include: Collection[str] = DEFAULT_INCLUDE,
        timeout: float | None = None,
        wait_mode: WaitMode | str | None = None,
    ) -> ConversationInsights:
        """Submit a text conversation, wait for the job, and return its insights."""
        waiter = self._check_process(include, timeout, wait_mode)
        job = await self.submit_text(messages, options=options)
        return await self._process(job, include, timeout, waiter)
