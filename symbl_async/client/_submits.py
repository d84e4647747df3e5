"""The submit and append calls of :class:`~symbl_async.SymblClient` (a mixin).

Every argument is checked before anything is sent; what an answer means (created,
refused, or unknown) is decided by the transport's core (:mod:`symbl_async.core._http`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from symbl_async.client._uploads import MediaInput, MediaKind, prepare_upload
from symbl_async.core._checks import check_number, path_segment
from symbl_async.core._jobs import Job
from symbl_async.core._options import ProcessingOptions, check_http_url
from symbl_async.core._text import TextMessage, messages_to_json
from symbl_async.errors import ValidationError
from symbl_async.transport._body import UploadProgress
from symbl_async.transport._transport import Transport

__all__ = ["AUTO_NAME_PREFIX", "MAX_NAME_LENGTH", "Submits"]

# Submits carry a unique name unless the caller names them: the API has no
# idempotency key, and a name is what lets a lost submit be found again.
AUTO_NAME_PREFIX = "symbl-async-"

# The docs give no limit on ``name``. It travels in the query string of every upload and
# of every lookup (``filter=conversation.name==...``), where servers commonly refuse a
# request line over 8 KiB (aiohttp's and nginx's defaults) with 414/400: 500 characters,
# percent-encoded as 4-byte UTF-8 (12 bytes each at worst), still fit in 6 KB.
MAX_NAME_LENGTH = 500


class Submits:
    """The ten job-creating calls; mixed into :class:`~symbl_async.SymblClient`."""

    _transport: Transport
    auto_name: bool

    def _submit_webhook_url(self) -> str | None:
        raise NotImplementedError  # provided by SymblClient

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
