"""``SymblClient``: the asyncio client for the whole Symbl Async API."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterable, Collection, Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import aiohttp
import attrs

from symbl_async.client._conversations import DEFAULT_INCLUDE, ConversationsAPI, check_include
from symbl_async.client._uploads import MediaInput, MediaKind, prepare_upload
from symbl_async.client._waiting import (
    PollSchedule,
    SafetyPollSchedule,
    Waiter,
    WaitMode,
    make_waiter,
    parse_wait_mode,
)
from symbl_async.core._jobs import Job, JobInfo, JobStatus
from symbl_async.core._options import ProcessingOptions, check_http_url
from symbl_async.core._text import TextMessage, messages_to_json
from symbl_async.errors import SymblError, ValidationError
from symbl_async.models._models import ConversationInsights
from symbl_async.transport._auth import Credentials
from symbl_async.transport._transport import RetryPolicy, Timeouts, Transport
from symbl_async.webhooks._receiver import WebhookReceiver

if TYPE_CHECKING:
    from symbl_async.batch._api import BatchRun

__all__ = ["DEFAULT_BASE_URL", "SymblClient"]

DEFAULT_BASE_URL = "https://api.symbl.ai"
# Submits carry a unique name unless the caller names them: the API has no
# idempotency key, and a name is what lets a lost submit be found again.
AUTO_NAME_PREFIX = "symbl-async-"


def _non_empty(value: object, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(field, "must be a non-empty string")
    return value.strip()


class SymblClient:
    """An ``async with`` client for the Symbl.ai Async API.

    Args:
        app_id: application id; defaults to ``$SYMBL_APP_ID``.
        app_secret: application secret; defaults to ``$SYMBL_APP_SECRET``.
        access_token: a ready access token (no app secret needed; cannot be renewed
            unless app credentials are also given).
        base_url: the API root; defaults to ``$SYMBL_BASE_URL``, else
            ``https://api.symbl.ai``. Point it at an emulator's ``url`` to run offline.
        session: an ``aiohttp.ClientSession`` to borrow; it is never closed by us.
        timeouts: request timeouts.
        retry: how requests that are safe to repeat are retried.
        poll: when ``wait`` polls a job's status.
        wait_timeout: default deadline of ``wait``, in seconds.
        auto_name: give unnamed new conversations a unique ``name`` so a submit
            whose outcome is unknown can be looked up.
        token_skew: renew the access token this many seconds before it expires.
        receiver: a :class:`WebhookReceiver` to attach (see :meth:`attach_receiver`).
        wait_mode: how ``wait`` and the ``process_*`` helpers wait by default:
            ``"poll"``, ``"webhook"`` or ``"hybrid"``; default ``"hybrid"`` when a
            receiver is attached, else ``"poll"``.
        safety_poll: the shape of hybrid waiting's safety poll (it builds on ``poll``).
        confirm_webhooks: confirm a receiver's terminal webhooks with ``GET /v1/job``
            (this client's :meth:`get_job`) before releasing waiters, unless the
            receiver has its own ``confirm`` function.

    Raises:
        ValidationError: no usable credentials, a bad ``base_url``, ``wait_mode`` or
            ``receiver``.
    """

    def __init__(
        self,
        *,
        app_id: str | None = None,
        app_secret: str | None = None,
        access_token: str | None = None,
        base_url: str | None = None,
        session: aiohttp.ClientSession | None = None,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        poll: PollSchedule | None = None,
        wait_timeout: float = 4 * 3600.0,
        auto_name: bool = True,
        token_skew: float = 300.0,
        receiver: WebhookReceiver | None = None,
        wait_mode: WaitMode | str | None = None,
        safety_poll: SafetyPollSchedule | None = None,
        confirm_webhooks: bool = True,
    ) -> None:
        app_id = app_id if app_id is not None else os.environ.get("SYMBL_APP_ID")
        app_secret = app_secret if app_secret is not None else os.environ.get("SYMBL_APP_SECRET")
        credentials = None
        if app_id or app_secret:
            credentials = Credentials(
                _non_empty(app_id, "app_id"), _non_empty(app_secret, "app_secret")
            )
        if access_token is not None:
            access_token = _non_empty(access_token, "access_token")
        if credentials is None and access_token is None:
            raise ValidationError(
                "app_id",
                "credentials are missing: pass app_id and app_secret (or access_token), "
                "or set SYMBL_APP_ID and SYMBL_APP_SECRET",
            )
        url = base_url or os.environ.get("SYMBL_BASE_URL") or DEFAULT_BASE_URL
        check_http_url(url, "base_url")
        if wait_timeout <= 0:
            raise ValidationError("wait_timeout", "must be > 0 seconds")
        # Only the value is checked here: a receiver may still be attached later.
        mode = None if wait_mode is None else parse_wait_mode(wait_mode, "wait_mode")
        if safety_poll is not None and not isinstance(safety_poll, SafetyPollSchedule):
            raise ValidationError("safety_poll", "must be a SafetyPollSchedule")
        self._transport = Transport(
            base_url=url,
            credentials=credentials,
            access_token=access_token,
            session=session,
            timeouts=timeouts,
            retry=retry,
            token_skew=token_skew,
        )
        self.poll = poll or PollSchedule()
        self.wait_timeout = wait_timeout
        self.auto_name = auto_name
        self.conversations = ConversationsAPI(self._transport)
        self.safety_poll = safety_poll or SafetyPollSchedule()
        self._wait_mode = mode
        self._webhook_url: str | None = None
        self._receiver: WebhookReceiver | None = None
        if receiver is not None:
            self.attach_receiver(receiver, confirm=confirm_webhooks)

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<SymblClient {self.base_url} {state}>"

    @property
    def base_url(self) -> str:
        return self._transport.base_url

    @property
    def transport(self) -> Transport:
        """The transport, for its counters (``requests_sent``, ``retries``)."""
        return self._transport

    @property
    def closed(self) -> bool:
        return self._transport.closed

    @property
    def submit_timeout(self) -> float | None:
        """The longest a submit waits for its answer, in seconds (None: no bound)."""
        t = self._transport.timeouts
        return None if t.total is None or t.upload_total is None else max(t.total, t.upload_total)

    # -- webhooks and wait modes ----------------------------------------------------

    @property
    def receiver(self) -> WebhookReceiver | None:
        """The attached webhook receiver, if any."""
        return self._receiver

    @property
    def wait_mode(self) -> WaitMode:
        """How ``wait`` waits by default: as configured, else ``hybrid`` with a receiver,
        else ``poll``."""
        if self._wait_mode is not None:
            return self._wait_mode
        return WaitMode.HYBRID if self._receiver is not None else WaitMode.POLL

    @property
    def webhook_url(self) -> str | None:
        """The ``webhookUrl`` submits carry unless their options name one.

        The URL set here, else the attached receiver's ``callback_url`` (read at each
        submit, so the receiver may be started after it was attached), else ``None``.
        It holds the receiver's secret token: do not log it.

        Raises:
            RuntimeError: the attached receiver has no URL yet (not started, no
                ``public_url``).
        """
        if self._webhook_url is not None:
            return self._webhook_url
        return self._receiver.callback_url if self._receiver is not None else None

    @webhook_url.setter
    def webhook_url(self, value: str | None) -> None:
        self._webhook_url = None if value is None else check_http_url(value, "webhook_url")

    def attach_receiver(self, receiver: WebhookReceiver, *, confirm: bool = True) -> None:
        """Send the webhooks of this client's jobs to ``receiver``, and wait on it.

        From now on, submits carry ``webhookUrl=receiver.callback_url`` (unless their
        options, or :attr:`webhook_url` set by hand, name another URL), and ``wait``
        defaults to ``hybrid`` (unless the client was given a ``wait_mode``). Attaching
        makes no request; the receiver need not be started yet, only before the first
        submit.

        Args:
            receiver: the receiver; one receiver serves one client best (its
                confirmations go through this client).
            confirm: when the receiver has no ``confirm`` function, give it this
                client's :meth:`get_job`, so terminal webhooks are confirmed with
                ``GET /v1/job/{jobId}`` before waiters are released. ``False`` leaves
                the receiver as it is (without a function, it trusts webhooks).

        Raises:
            ValidationError: ``receiver`` is not an open :class:`WebhookReceiver`.
        """
        if not isinstance(receiver, WebhookReceiver):
            raise ValidationError("receiver", "must be a WebhookReceiver")
        if receiver.closed:
            raise ValidationError("receiver", "is closed; create a new WebhookReceiver")
        if confirm and receiver.confirm is None:
            receiver.set_confirm(self.get_job)
        self._receiver = receiver

    def waiter(
        self,
        mode: WaitMode | str | None = None,
        *,
        schedule: PollSchedule | None = None,
        field: str = "mode",
    ) -> Waiter:
        """The waiting strategy ``wait`` would use; no request is made.

        Args:
            mode: ``"poll"``, ``"webhook"`` or ``"hybrid"``; default :attr:`wait_mode`.
            schedule: overrides the client's poll schedule (hybrid's safety poll
                builds on it too).
            field: the argument name to blame in errors.

        Returns:
            A :class:`~symbl_async.client._waiting.Waiter`: ``await waiter.wait(job, timeout=...)``.

        Raises:
            ValidationError: an unknown mode, or a webhook mode without a receiver.
        """
        if mode is None:
            mode, field = self.wait_mode, "wait_mode"
        if schedule is not None and not isinstance(schedule, PollSchedule):
            raise ValidationError("schedule", "must be a PollSchedule")
        return make_waiter(
            mode,
            get_job=self.get_job,
            schedule=schedule or self.poll,
            receiver=self._receiver,
            safety=self.safety_poll,
            field=field,
        )

    def _submit_webhook_url(self) -> str | None:
        try:
            return self.webhook_url
        except RuntimeError as exc:
            raise ValidationError(
                "receiver",
                "has no callback URL yet: start it (async with receiver) or give it "
                "public_url, before submitting",
            ) from exc

    async def __aenter__(self) -> SymblClient:
        self._transport._get_session()  # refuses a closed client
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Release the connection pool (unless borrowed); the client cannot be reused."""
        await self._transport.close()

    # -- submits --------------------------------------------------------------------

    def _options_for(self, options: ProcessingOptions | None, *, new: bool) -> ProcessingOptions:
        if options is None:
            options = ProcessingOptions()
        elif not isinstance(options, ProcessingOptions):
            raise ValidationError("options", "must be a ProcessingOptions")
        changes: dict[str, Any] = {}
        if new and self.auto_name and options.name is None:
            changes["name"] = AUTO_NAME_PREFIX + uuid.uuid4().hex
        if options.webhook_url is None:
            webhook_url = self._submit_webhook_url()
            if webhook_url is not None:
                changes["webhook_url"] = webhook_url
        return options.replace(**changes) if changes else options

    async def _submit_file(
        self,
        kind: MediaKind,
        media: MediaInput,
        options: ProcessingOptions | None,
        content_type: str | None,
        conversation_id: str | None,
    ) -> Job:
        path = f"/v1/process/{kind}"
        method = "POST"
        if conversation_id is not None:
            path += "/" + quote(_non_empty(conversation_id, "conversation_id"), safe="")
            method = "PUT"
        opts = self._options_for(options, new=conversation_id is None)
        upload = await prepare_upload(media, kind=kind, content_type=content_type)
        headers = {"Content-Length": str(upload.size)}
        if upload.content_type is not None:
            headers["Content-Type"] = upload.content_type
        try:
            answer = await self._transport.send(
                method,
                path,
                params=opts.to_query(),
                body=upload.body,
                headers=headers,
                skip_auto_headers=() if upload.content_type else ("Content-Type",),
                submit_name=opts.name,
                conversation_id=conversation_id,
                upload=True,
            )
        finally:
            upload.cleanup()
        return self._job_from(answer, opts, upload.duration)

    async def _submit_json(
        self,
        path: str,
        body: dict[str, Any],
        options: ProcessingOptions | None,
        conversation_id: str | None,
        media_duration: float | None,
    ) -> Job:
        method = "POST"
        if conversation_id is not None:
            path += "/" + quote(_non_empty(conversation_id, "conversation_id"), safe="")
            method = "PUT"
        opts = self._options_for(options, new=conversation_id is None)
        answer = await self._transport.send(
            method,
            path,
            json={**body, **opts.to_json()},
            submit_name=opts.name,
            conversation_id=conversation_id,
        )
        return self._job_from(answer, opts, media_duration)

    @staticmethod
    def _job_from(answer: Any, options: ProcessingOptions, duration: float | None) -> Job:
        if not isinstance(answer, Mapping) or not answer.get("jobId"):
            raise SymblError(f"the submit was accepted but its answer has no jobId: {answer!r}")
        return Job(
            job_id=str(answer["jobId"]),
            conversation_id=str(answer.get("conversationId", "")),
            name=options.name,
            media_duration=duration,
        )

    def _url_body(self, url: str, media_duration: float | None) -> dict[str, Any]:
        if media_duration is not None and (
            isinstance(media_duration, bool)
            or not isinstance(media_duration, (int, float))
            or media_duration < 0
        ):
            raise ValidationError("media_duration", "must be a number of seconds >= 0")
        return {"url": check_http_url(url, "url")}

    def _text_body(
        self, messages: Iterable[TextMessage | Mapping[str, Any]], options: ProcessingOptions | None
    ) -> dict[str, Any]:
        if options is not None and isinstance(options, ProcessingOptions):
            options.check_for_text()
        return {"messages": messages_to_json(messages)}

    async def submit_audio_file(
        self,
        media: MediaInput,
        *,
        options: ProcessingOptions | None = None,
        content_type: str | None = None,
    ) -> Job:
        """``POST /v1/process/audio``: upload audio (streamed) and start a job.

        Args:
            media: a file path, bytes, or an async iterator of bytes.
            options: processing options (sent in the query string).
            content_type: overrides detection from the file name and header.

        Returns:
            The job, with its conversation id and the media length when known.

        Raises:
            ValidationError: before sending, for bad media or options.
            ConcurrencyLimitError: every job slot of the account is busy.
            SubmitOutcomeUnknownError: the job may or may not exist.
        """
        return await self._submit_file("audio", media, options, content_type, None)

    async def submit_video_file(
        self,
        media: MediaInput,
        *,
        options: ProcessingOptions | None = None,
        content_type: str | None = None,
    ) -> Job:
        """``POST /v1/process/video``: upload an MP4 video (streamed) and start a job.

        Same arguments, return value and errors as :meth:`submit_audio_file`.
        """
        return await self._submit_file("video", media, options, content_type, None)

    async def submit_audio_url(
        self,
        url: str,
        *,
        options: ProcessingOptions | None = None,
        media_duration: float | None = None,
    ) -> Job:
        """``POST /v1/process/audio/url``: start a job on a public audio URL.

        Args:
            url: a public, direct http(s) link to the audio.
            options: processing options (sent in the JSON body).
            media_duration: the media length in seconds if you know it; it makes
                waiting cheaper.

        Returns:
            The job.

        Raises:
            ValidationError: a bad URL or options, before sending.
            ConcurrencyLimitError: every job slot of the account is busy.
            SubmitOutcomeUnknownError: the job may or may not exist.
        """
        body = self._url_body(url, media_duration)
        return await self._submit_json("/v1/process/audio/url", body, options, None, media_duration)

    async def submit_video_url(
        self,
        url: str,
        *,
        options: ProcessingOptions | None = None,
        media_duration: float | None = None,
    ) -> Job:
        """``POST /v1/process/video/url``: start a job on a public MP4 video URL.

        Same arguments, return value and errors as :meth:`submit_audio_url`.
        """
        body = self._url_body(url, media_duration)
        return await self._submit_json("/v1/process/video/url", body, options, None, media_duration)

    async def submit_text(
        self,
        messages: Iterable[TextMessage | Mapping[str, Any]],
        *,
        options: ProcessingOptions | None = None,
    ) -> Job:
        """``POST /v1/process/text``: start a job on a text conversation.

        Args:
            messages: :class:`TextMessage` objects or dicts in the API's form
                (``{"payload": {"content": ...}, "from": {...}, "duration": {...}}``).
            options: processing options; speech-only ones are refused.

        Raises:
            ValidationError: no messages, an empty message, a speech-only option.
        """
        body = self._text_body(messages, options)
        return await self._submit_json("/v1/process/text", body, options, None, None)

    async def append_audio_file(
        self,
        conversation_id: str,
        media: MediaInput,
        *,
        options: ProcessingOptions | None = None,
        content_type: str | None = None,
    ) -> Job:
        """``PUT /v1/process/audio/{conversationId}``: append audio to a conversation."""
        return await self._submit_file("audio", media, options, content_type, conversation_id)

    async def append_video_file(
        self,
        conversation_id: str,
        media: MediaInput,
        *,
        options: ProcessingOptions | None = None,
        content_type: str | None = None,
    ) -> Job:
        """``PUT /v1/process/video/{conversationId}``: append an MP4 video."""
        return await self._submit_file("video", media, options, content_type, conversation_id)

    async def append_audio_url(
        self,
        conversation_id: str,
        url: str,
        *,
        options: ProcessingOptions | None = None,
        media_duration: float | None = None,
    ) -> Job:
        """``PUT /v1/process/audio/url/{conversationId}``: append audio from a URL."""
        _non_empty(conversation_id, "conversation_id")
        body = self._url_body(url, media_duration)
        return await self._submit_json(
            "/v1/process/audio/url", body, options, conversation_id, media_duration
        )

    async def append_video_url(
        self,
        conversation_id: str,
        url: str,
        *,
        options: ProcessingOptions | None = None,
        media_duration: float | None = None,
    ) -> Job:
        """``PUT /v1/process/video/url/{conversationId}``: append video from a URL."""
        _non_empty(conversation_id, "conversation_id")
        body = self._url_body(url, media_duration)
        return await self._submit_json(
            "/v1/process/video/url", body, options, conversation_id, media_duration
        )

    async def append_text(
        self,
        conversation_id: str,
        messages: Iterable[TextMessage | Mapping[str, Any]],
        *,
        options: ProcessingOptions | None = None,
    ) -> Job:
        """``PUT /v1/process/text/{conversationId}``: append text messages."""
        _non_empty(conversation_id, "conversation_id")
        body = self._text_body(messages, options)
        return await self._submit_json("/v1/process/text", body, options, conversation_id, None)

    def process_many(
        self, sources: AsyncIterable[object] | Iterable[object], **kwargs: Any
    ) -> BatchRun:
        """Process many recordings with every job slot busy; one result per input.

        Takes the keyword arguments of :func:`symbl_async.batch._api.process_many` and returns
        its :class:`~symbl_async.batch._api.BatchRun`: ``async for result in run``.
        """
        from symbl_async.batch._api import process_many  # compatibility alias (issue 7)
        return process_many(self, sources, **kwargs)

    # -- jobs -----------------------------------------------------------------------

    async def get_job(self, job_id: str) -> JobInfo:
        """``GET /v1/job/{jobId}``: a job's current status.

        Raises:
            ValidationError: empty job id.
            NotFoundError: no such job.
        """
        job_id = _non_empty(job_id, "job_id")
        answer = await self._transport.request("GET", "/v1/job/" + quote(job_id, safe=""))
        if not isinstance(answer, Mapping) or not isinstance(answer.get("status"), str):
            raise SymblError(f"the Job API answered without a status for job {job_id}: {answer!r}")
        return JobInfo(id=str(answer.get("id") or job_id), status=JobStatus(answer["status"]))

    async def wait(
        self,
        job: Job | str,
        *,
        timeout: float | None = None,
        schedule: PollSchedule | None = None,
        mode: WaitMode | str | None = None,
    ) -> JobInfo:
        """Wait until a job is completed.

        Args:
            job: a :class:`Job` from a submit, or a job id.
            timeout: seconds to wait at most (default: the client's ``wait_timeout``).
            schedule: overrides the client's poll schedule.
            mode: ``"poll"`` (poll ``GET /v1/job``), ``"webhook"`` (only the attached
                receiver's confirmed webhooks; no polls) or ``"hybrid"`` (webhooks, plus
                a slow safety poll); default :attr:`wait_mode`. The webhook modes rely on
                the job having been submitted with the receiver's URL (submits through
                this client are); ``hybrid`` still ends a job submitted without it, by
                its safety poll.

        Returns:
            The completed job's status.

        Raises:
            ValidationError: a bad timeout or mode, or a webhook mode without a
                receiver; raised before anything is sent.
            JobFailedError: the job ended ``failed``.
            WaitTimeoutError: the deadline passed; the job may still be running.
            ClientClosedError: the receiver was closed while waiting on it.
        """
        waiter = self.waiter(mode, schedule=schedule)
        if isinstance(job, str):
            job = Job(job_id=_non_empty(job, "job"), conversation_id="")
        return await waiter.wait(job, timeout=self._timeout(timeout))

    def _timeout(self, timeout: float | None) -> float:
        timeout = self.wait_timeout if timeout is None else timeout
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise ValidationError("timeout", "must be > 0 seconds")
        return float(timeout)

    # -- insights -------------------------------------------------------------------

    async def fetch_insights(
        self, conversation_id: str, include: Collection[str] = DEFAULT_INCLUDE
    ) -> ConversationInsights:
        """Fetch a chosen set of insights concurrently into one object.

        Args:
            conversation_id: the conversation.
            include: names of ``ConversationInsights`` fields to fetch.
        """
        return await self.conversations.fetch_insights(conversation_id, include=include)

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
