"""``SymblClient``: the asyncio client for the whole Symbl Async API.

One class, read top to bottom: construction (credentials and API root from the
arguments or the environment, every value checked before anything is sent), the ten
job-creating calls (every argument checked first; what an answer means, created,
refused or unknown, is decided by :mod:`symbl_async.core._http` through the transport),
``get_job`` and ``wait`` (strategies in :mod:`symbl_async.client._waiting`), webhooks (the
attached receiver, and the per-attempt URLs a batch uses), the insights (delegated to
``client.conversations``, :mod:`symbl_async.client._conversations`), and the one-call
``process_*`` helpers (submit, wait, fetch). Uploads are prepared in
:mod:`symbl_async.client._uploads`.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Collection, Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import aiohttp
import attrs

from symbl_async.client._conversations import DEFAULT_INCLUDE, ConversationsAPI, check_include
from symbl_async.client._uploads import MediaInput, MediaKind, prepare_upload
from symbl_async.client._waiting import (
    ModelWatch,
    PollSchedule,
    SafetyPollSchedule,
    Waiter,
    WaitMode,
    make_waiter,
    parse_wait_mode,
)
from symbl_async.core._checks import check_base_url, check_number, path_segment
from symbl_async.core._estimate import ProcessingTimeModel
from symbl_async.core._jobs import Job, JobInfo, JobStatus
from symbl_async.core._options import ProcessingOptions, check_http_url
from symbl_async.core._text import TextMessage, messages_to_json
from symbl_async.core._upload import UploadProgress
from symbl_async.core._webhook import with_attempt
from symbl_async.errors import SymblError, ValidationError
from symbl_async.models._models import ConversationInsights
from symbl_async.transport._auth import Credentials
from symbl_async.transport._transport import RetryPolicy, Timeouts, Transport

if TYPE_CHECKING:
    from symbl_async.batch._api import process_many as _batch_process_many
    from symbl_async.webhooks._receiver import WebhookReceiver

__all__ = ["AUTO_NAME_PREFIX", "DEFAULT_BASE_URL", "MAX_NAME_LENGTH", "SymblClient"]

log = logging.getLogger("symbl_async.client._client")

DEFAULT_BASE_URL = "https://api.symbl.ai"

# Submits carry a unique name unless the caller names them: the API has no
# idempotency key, and a name is what lets a lost submit be found again.
AUTO_NAME_PREFIX = "symbl-async-"

# The docs give no limit on ``name``. It travels in the query string of every upload and
# of every lookup (``filter=conversation.name==...``), where servers commonly refuse a
# request line over 8 KiB (aiohttp's and nginx's defaults) with 414/400: 500 characters,
# percent-encoded as 4-byte UTF-8 (12 bytes each at worst), still fit in 6 KB.
MAX_NAME_LENGTH = 500


# Settings: the arguments first, then the environment (SYMBL_APP_ID, SYMBL_APP_SECRET,
# SYMBL_BASE_URL), then the real service; every value checked before anything is sent.


def _non_empty(value: object, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(field, "must be a non-empty string")
    return value.strip()


def _resolve_credentials(
    app_id: str | None, app_secret: str | None, access_token: str | None
) -> tuple[Credentials | None, str | None]:
    """App credentials (arguments, else the environment) and the ready token, checked."""
    app_id = app_id if app_id is not None else os.environ.get("SYMBL_APP_ID")
    app_secret = app_secret if app_secret is not None else os.environ.get("SYMBL_APP_SECRET")
    credentials = None
    if app_id or app_secret:
        credentials = Credentials(
            _non_empty(app_id, "app_id"), _non_empty(app_secret, "app_secret")
        )
    if access_token is not None:
        access_token = _non_empty(access_token, "access_token")
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in access_token):
            # It goes into a header, where CR/LF would split it (aiohttp refuses).
            raise ValidationError("access_token", "must not contain control characters")
    if credentials is None and access_token is None:
        raise ValidationError(
            "app_id",
            "credentials are missing: pass app_id and app_secret (or access_token), "
            "or set SYMBL_APP_ID and SYMBL_APP_SECRET",
        )
    return credentials, access_token


def _resolve_base_url(base_url: str | None) -> str:
    """The API root: the argument, else ``$SYMBL_BASE_URL``, else the real service."""
    if base_url is None:
        env = os.environ.get("SYMBL_BASE_URL")
        url = DEFAULT_BASE_URL if env is None else check_base_url(env, "$SYMBL_BASE_URL")
    else:
        url = check_base_url(base_url)
    if urlsplit(url).path:
        log.warning(
            "the base URL %s has a path: fine behind a reverse proxy, but the Symbl API root has "
            "none",
            url,
        )
    return url


class SymblClient:
    """An ``async with`` client for the Symbl.ai Async API.

    Args:
        app_id: application id; defaults to ``$SYMBL_APP_ID``.
        app_secret: application secret; defaults to ``$SYMBL_APP_SECRET``.
        access_token: a ready access token (no app secret needed; cannot be renewed
            unless app credentials are also given).
        base_url: the API root; defaults to ``$SYMBL_BASE_URL``, else
            ``https://api.symbl.ai``. Point it at an emulator's ``url`` to run offline.
            The root only: no path such as ``/v1``, no ``user:password@``; an empty
            value is refused (it never means the real service).
        session: an ``aiohttp.ClientSession`` to borrow; it is never closed by us.
        timeouts: request timeouts.
        retry: how requests that are safe to repeat are retried.
        poll: when ``wait`` polls a job's status.
        wait_timeout: default deadline of ``wait``, in seconds.
        auto_name: give unnamed new conversations a unique ``name`` so a submit
            whose outcome is unknown can be looked up.
        token_skew: renew the access token this many seconds before it expires (>= 0).
        receiver: a :class:`WebhookReceiver` to attach (see :meth:`attach_receiver`).
        wait_mode: how ``wait`` and the ``process_*`` helpers wait by default:
            ``"poll"``, ``"webhook"`` or ``"hybrid"``; default ``"hybrid"`` when a
            receiver is attached, else ``"poll"``.
        safety_poll: the shape of hybrid waiting's safety poll (it builds on ``poll``).
        confirm_webhooks: confirm a receiver's terminal webhooks with ``GET /v1/job``
            (this client's :meth:`get_job`) before releasing waiters, unless the
            receiver has its own ``confirm`` function.

    Raises:
        ValidationError: no usable credentials, an ``access_token`` with control
            characters, a bad ``base_url``, ``wait_timeout``, ``token_skew``,
            ``wait_mode`` or ``receiver``, or a configuration of the wrong type.
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
        credentials, access_token = _resolve_credentials(app_id, app_secret, access_token)
        url = _resolve_base_url(base_url)
        wait_timeout = check_number(wait_timeout, "wait_timeout", strict=True)
        token_skew = check_number(token_skew, "token_skew")
        for value, field, cls in (
            (timeouts, "timeouts", Timeouts),
            (retry, "retry", RetryPolicy),
            (poll, "poll", PollSchedule),
        ):
            if value is not None and not isinstance(value, cls):
                raise ValidationError(field, f"must be a {cls.__name__}")
        # Only the value is checked here: a receiver may still be attached later.
        mode = None if wait_mode is None else parse_wait_mode(wait_mode, "wait_mode")
        if safety_poll is not None and not isinstance(safety_poll, SafetyPollSchedule):
            raise ValidationError("safety_poll", "must be a SafetyPollSchedule")
        self._app_id = None if credentials is None else credentials.app_id
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
        # Learned from every job this client waits for (see PollSchedule.learn); a
        # batch ledger may load saved observations into it so a rerun starts warm.
        self.processing_model: ProcessingTimeModel = self.poll.new_model()
        self._model_watch = ModelWatch(self.processing_model)
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
    def app_id(self) -> str | None:
        """The app id the client authenticates with (None when given only a token)."""
        return self._app_id

    @property
    def transport(self) -> Transport:
        """The transport, for its counters (``requests_sent``, ``retries``)."""
        return self._transport

    @property
    def closed(self) -> bool:
        return self._transport.closed

    def submit_deadline(self, upload_size: int | None = None) -> float | None:
        """The longest one submit call may keep a request on the wire, in seconds, its
        retries included (None: no bound). A batch waits this long (and a margin) after an
        attempt a crash left without an answer before a lookup that finds nothing may count
        as "no job was created".

        The transport starts no new attempt after ``retry.max_time`` (a resend after a 503
        may wait a ``Retry-After``), and the last attempt may take the request's deadline:
        for an upload its cap (``Timeouts.upload_deadline``), which a slow but moving upload
        may use whole.

        Args:
            upload_size: the upload's size in bytes; ``None`` for a URL or text submit.
        """
        t = self._transport.timeouts
        one = t.total if upload_size is None else t.upload_deadline(upload_size)
        return None if one is None else self._transport.retry.max_time + one

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

    # -- submits -----------------------------------------------------------------------

    def _options_for(self, options: ProcessingOptions | None, *, new: bool) -> ProcessingOptions:
        if options is None:
            options = ProcessingOptions()
        elif not isinstance(options, ProcessingOptions):
            raise ValidationError("options", "must be a ProcessingOptions")
        changes: dict[str, Any] = {}
        if options.name is not None and len(options.name) > MAX_NAME_LENGTH:
            raise ValidationError("name", f"must be at most {MAX_NAME_LENGTH} characters")
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
        progress: UploadProgress | None = None,
    ) -> Job:
        path = f"/v1/process/{kind}"
        method = "POST"
        if conversation_id is not None:
            path += "/" + path_segment(conversation_id, "conversation_id")
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
                upload_size=upload.size,
                progress=progress,
            )
        finally:
            upload.cleanup()
        return self._job_from(answer, opts, upload.duration, kind)

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
            path += "/" + path_segment(conversation_id, "conversation_id")
            method = "PUT"
        opts = self._options_for(options, new=conversation_id is None)
        answer = await self._transport.send(
            method,
            path,
            json={**body, **opts.to_json()},
            submit_name=opts.name,
            conversation_id=conversation_id,
        )
        # /v1/process/{audio,video}/url or /v1/process/text[/{id}]
        return self._job_from(answer, opts, media_duration, path.split("/")[3])

    @staticmethod
    def _job_from(
        answer: Any, options: ProcessingOptions, duration: float | None, kind: str
    ) -> Job:
        # The transport already turned an answer without a jobId into an unknown outcome.
        return Job(
            job_id=str(answer["jobId"]),
            conversation_id=str(answer.get("conversationId", "")),
            name=options.name,
            media_duration=duration,
            kind=kind,
        )

    def _url_body(self, url: str, media_duration: float | None) -> dict[str, Any]:
        if media_duration is not None:
            check_number(media_duration, "media_duration")
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
        progress: UploadProgress | None = None,
    ) -> Job:
        """``POST /v1/process/audio``: upload audio (streamed) and start a job.

        Args:
            media: a file path, bytes, or an async iterator of bytes.
            options: processing options (sent in the query string).
            content_type: overrides detection from the file name and header.
            progress: updated in place as the body goes out (bytes sent, total).

        Returns:
            The job, with its conversation id and the media length when known.

        Raises:
            ValidationError: before sending, for bad media or options.
            ConcurrencyLimitError: every job slot of the account is busy.
            SubmitOutcomeUnknownError: the job may or may not exist.
        """
        return await self._submit_file("audio", media, options, content_type, None, progress)

    async def submit_video_file(
        self,
        media: MediaInput,
        *,
        options: ProcessingOptions | None = None,
        content_type: str | None = None,
        progress: UploadProgress | None = None,
    ) -> Job:
        """``POST /v1/process/video``: upload an MP4 video (streamed) and start a job.

        Same arguments, return value and errors as :meth:`submit_audio_file`.
        """
        return await self._submit_file("video", media, options, content_type, None, progress)

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

    async def submit(
        self,
        kind: Literal["audio", "video", "text"],
        *,
        file: MediaInput | None = None,
        url: str | None = None,
        messages: Iterable[TextMessage | Mapping[str, Any]] | None = None,
        options: ProcessingOptions | None = None,
        media_duration: float | None = None,
        progress: UploadProgress | None = None,
    ) -> Job:
        """Start a job on a new conversation: one entry for the five submits.

        Exactly one of ``file`` (audio or video), ``url`` (audio or video) or ``messages``
        (text) is given; the call goes to :meth:`submit_audio_file`,
        :meth:`submit_video_file`, :meth:`submit_audio_url`, :meth:`submit_video_url` or
        :meth:`submit_text`, with the same errors.

        Raises:
            ValidationError: not exactly one of them, or one that does not fit ``kind``.
        """
        given = [name for name, value in (("file", file), ("url", url),
                                          ("messages", messages)) if value is not None]
        if len(given) != 1:
            raise ValidationError("submit", "give exactly one of file, url and messages")
        if (kind == "text") != (messages is not None) or kind not in ("audio", "video", "text"):
            raise ValidationError("kind", f"{kind!r} does not fit {given[0]}")
        if messages is not None:
            return await self.submit_text(messages, options=options)
        if file is not None:
            submit_file = self.submit_video_file if kind == "video" else self.submit_audio_file
            return await submit_file(file, options=options, progress=progress)
        assert url is not None
        submit_url = self.submit_video_url if kind == "video" else self.submit_audio_url
        return await submit_url(url, options=options, media_duration=media_duration)

    async def append_audio_file(
        self,
        conversation_id: str,
        media: MediaInput,
        *,
        options: ProcessingOptions | None = None,
        content_type: str | None = None,
        progress: UploadProgress | None = None,
    ) -> Job:
        """``PUT /v1/process/audio/{conversationId}``: append audio to a conversation."""
        return await self._submit_file(
            "audio", media, options, content_type, conversation_id, progress
        )

    async def append_video_file(
        self,
        conversation_id: str,
        media: MediaInput,
        *,
        options: ProcessingOptions | None = None,
        content_type: str | None = None,
        progress: UploadProgress | None = None,
    ) -> Job:
        """``PUT /v1/process/video/{conversationId}``: append an MP4 video."""
        return await self._submit_file(
            "video", media, options, content_type, conversation_id, progress
        )

    async def append_audio_url(
        self,
        conversation_id: str,
        url: str,
        *,
        options: ProcessingOptions | None = None,
        media_duration: float | None = None,
    ) -> Job:
        """``PUT /v1/process/audio/url/{conversationId}``: append audio from a URL."""
        path_segment(conversation_id, "conversation_id")
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
        path_segment(conversation_id, "conversation_id")
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
        path_segment(conversation_id, "conversation_id")
        body = self._text_body(messages, options)
        return await self._submit_json("/v1/process/text", body, options, conversation_id, None)

    # -- jobs and waiting ---------------------------------------------------------------

    async def get_job(self, job_id: str) -> JobInfo:
        """``GET /v1/job/{jobId}``: a job's current status.

        Raises:
            ValidationError: empty job id.
            NotFoundError: no such job.
        """
        segment = path_segment(job_id, "job_id")
        job_id = job_id.strip()
        answer = await self._transport.request("GET", "/v1/job/" + segment)
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
            path_segment(job, "job")  # now, not at the first poll
            job = Job(job_id=job.strip(), conversation_id="")
        return await waiter.wait(job, timeout=self._timeout(timeout))

    def _timeout(self, timeout: float | None) -> float:
        if timeout is None:
            return self.wait_timeout
        return check_number(timeout, "timeout", strict=True)

    @property
    def wait_mode(self) -> WaitMode:
        """How ``wait`` waits by default: as configured, else ``hybrid`` with a receiver,
        else ``poll``."""
        if self._wait_mode is not None:
            return self._wait_mode
        return WaitMode.HYBRID if self._receiver is not None else WaitMode.POLL

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
            model=self.processing_model if schedule is None else None,
            watch=self._watch() if schedule is None else None,
        )

    def _watch(self) -> ModelWatch:
        """The one watch of ``processing_model`` (a new one if the model was replaced)."""
        if self._model_watch.model is not self.processing_model:
            self._model_watch = ModelWatch(self.processing_model)
        return self._model_watch

    # -- webhooks -----------------------------------------------------------------------

    @property
    def receiver(self) -> WebhookReceiver | None:
        """The attached webhook receiver, if any."""
        return self._receiver

    @property
    def webhooks_relayed(self) -> bool:
        """Whether a delivery that reaches any process of the account is passed to the one
        that waits (the receiver has a relay): a job another process submitted is heard
        here too."""
        return self._receiver is not None and self._receiver.relay is not None

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
        # Imported here: a client that polls never loads the receiver (aiohttp's server).
        from symbl_async.webhooks._receiver import WebhookReceiver

        if not isinstance(receiver, WebhookReceiver):
            raise ValidationError("receiver", "must be a WebhookReceiver")
        if receiver.closed:
            raise ValidationError("receiver", "is closed; create a new WebhookReceiver")
        if confirm and receiver.confirm is None:
            receiver.set_confirm(self.get_job)
        self._receiver = receiver

    def _submit_webhook_url(self) -> str | None:
        try:
            return self.webhook_url
        except RuntimeError as exc:
            raise ValidationError(
                "receiver",
                "has no callback URL yet: start it (async with receiver) or give it "
                "public_url, before submitting",
            ) from exc

    # Webhooks per submit attempt, for batches: each attempt gets its own webhookUrl, so
    # that when a submit's answer is lost and its job is found again by name (which gives
    # no job id), a webhook delivered to that URL names the job. The batch engine reaches
    # these through its BatchClient Protocol, never through the receiver.

    @property
    def webhook_token(self) -> str | None:
        """The attached receiver's secret token (None without one); a credential.

        A batch stores it with its ledger, so a rerun can start its receiver with the same
        token (``WebhookReceiver(token=...)``) and still hear about earlier jobs.
        """
        return self._receiver.token if self._receiver is not None else None

    def webhook_url_for(self, attempt: str) -> str | None:
        """The ``webhookUrl`` for one submit attempt: :attr:`webhook_url` plus its tag.

        Args:
            attempt: the attempt's submit name.

        Returns:
            The URL (it holds the receiver's token: do not log it), or None when no
            receiver is attached (the submit then carries :attr:`webhook_url`, if any).

        Raises:
            ValidationError: the receiver has no callback URL yet (not started).
        """
        if self._receiver is None:
            return None
        url = self._submit_webhook_url()
        return None if url is None else with_attempt(url, attempt)

    async def job_id_for_attempt(self, attempt: str, timeout: float | None) -> str | None:
        """The job id a webhook sent to this attempt's URL named, waiting up to ``timeout``.

        Args:
            attempt: the attempt's submit name (as given to :meth:`webhook_url_for`).
            timeout: seconds to wait for such a webhook; 0 only looks; None: no limit.

        Returns:
            The job id (unconfirmed: ask ``GET /v1/job`` before relying on it), or None
            (no receiver, no such webhook in time, or the receiver closed).
        """
        if timeout is not None:
            timeout = check_number(timeout, "timeout")
        if self._receiver is None:
            return None
        if timeout == 0:
            return self._receiver.job_for_attempt(attempt)
        return await self._receiver.wait_job_for_attempt(attempt, timeout)

    # -- insights -----------------------------------------------------------------------

    async def fetch_insights(
        self, conversation_id: str, include: Collection[str] = DEFAULT_INCLUDE
    ) -> ConversationInsights:
        """Fetch a chosen set of insights concurrently into one object.

        Args:
            conversation_id: the conversation.
            include: names of ``ConversationInsights`` fields to fetch.
        """
        return await self.conversations.fetch_insights(conversation_id, include=include)

    async def fetch_insights_json(
        self, conversation_id: str, include: Collection[str] = DEFAULT_INCLUDE
    ) -> dict[str, Any]:
        """Fetch a chosen set of insights concurrently, as JSON-ready data (no models).

        Args:
            conversation_id: the conversation.
            include: names of ``ConversationInsights`` fields to fetch.

        Returns:
            What :meth:`fetch_insights` followed by ``.to_json()`` gives, built faster.
        """
        return await self.conversations.fetch_insights_json(conversation_id, include=include)

    # -- submit, wait, fetch: one call each --------------------------------------------

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

    # -- batches ------------------------------------------------------------------------

    # ``client.process_many(sources, ...)`` is ``symbl_async.process_many(client, sources,
    # ...)``, kept as an alias because the 0.1 README documented it. The batch engine never
    # imports the client (it takes a ``BatchClient``), so importing it here, when the alias
    # is called, makes no cycle; type checkers see the real signature, so a misspelt
    # keyword is an error, not an ``**kwargs`` that swallows it.
    if TYPE_CHECKING:
        process_many = _batch_process_many
    else:

        def process_many(self, *args, **kwargs):
            """Alias of :func:`symbl_async.process_many` with this client first."""
            from symbl_async.batch._api import process_many

            return process_many(self, *args, **kwargs)
