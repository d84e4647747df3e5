"""The ten submit routes of the Async API (``/v1/process/...``) and the Job API.

File uploads are streamed through a :class:`~symbl_async.core.MediaProbe`
chunk by chunk (never held whole, and at the pace of the uplink when
``upload_bandwidth`` is set) to learn their type and duration. The whole
body is always read before answering, even to refuse it, so a client that is
still sending sees the answer rather than a broken pipe.

Every valid submit then draws its fault (``EmulatorConfig.submit_*``): an error
or a dropped connection before or after the job is created, a hold before it
reaches the service, an answer that never comes, a delayed answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from typing import Any

from aiohttp import web

from ..core import AUDIO_CONTENT_TYPES, VIDEO_CONTENT_TYPES, MediaProbe
from ._content import script_from_text, text_span
from ._faults import SubmitFault
from ._model import Conversation, Job
from ._options import OptionError, SubmitOptions, parse_options, raw_from_query
from ._routing import SCHEDULER, ApiError, drop_connection, json_body
from ._state import CapacityError, Scheduler

__all__ = ["routes"]

routes = web.RouteTableDef()

# Media whose length cannot be read from its header (MP3, FLAC, ...) is assumed
# to be 128 kbit/s, a common bitrate, to derive a plausible duration from its size.
_FALLBACK_BYTES_PER_SECOND = 16_000


_FAULT_MESSAGES = {
    500: "Something went wrong! Please contact support@symbl.ai",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def _limit_message(limit: int) -> str:
    return (
        f"This API has a limit of maximum of `{limit}` number of concurrent jobs per account. "
        "If you are looking to scale, and need more concurrent jobs than this limit, "
        "please contact us at support@symbl.ai"
    )


def _existing(scheduler: Scheduler, request: web.Request) -> Conversation | None:
    """The conversation a PUT appends to (404 if unknown); ``None`` for a POST."""
    conversation_id = request.match_info.get("conversationId")
    if conversation_id is None:
        return None
    conversation = scheduler.conversations.get(conversation_id)
    if conversation is None:
        raise ApiError(404, f"Conversation with id {conversation_id} not found")
    return conversation


def _options(raw: dict[str, Any], kind: str) -> SubmitOptions:
    try:
        return parse_options(raw, kind=kind)
    except OptionError as exc:
        raise ApiError(400, str(exc)) from None


async def _pause(scheduler: Scheduler, seconds: float) -> None:
    """Wait ``seconds`` real seconds, or less if the emulator shuts down."""
    if seconds > 0:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(scheduler.closing.wait(), seconds)


async def _delayed(scheduler: Scheduler, fault: SubmitFault) -> None:
    if fault.delay:
        scheduler.faults.count("submit_delay")
        await _pause(scheduler, fault.delay)


async def _accept(
    request: web.Request, scheduler: Scheduler, conversation: Conversation | None, **job: Any
) -> web.Response:
    """Create the job, applying the submit's drawn fault (see ``EmulatorConfig``)."""
    scheduler.submits_received += 1
    fault = scheduler.faults.submit()
    count = scheduler.faults.count
    if not fault.creates_job:
        count(f"submit_{fault.kind}")
        await _delayed(scheduler, fault)
        if fault.kind == "reset_before":
            raise drop_connection(request, reset=True)
        assert fault.status is not None
        raise ApiError(fault.status, _FAULT_MESSAGES[fault.status])
    if fault.hold:
        count("submit_hold")
        # The request has not reached the service yet. Shielded, so that the job is
        # created even if this handler is cancelled (the client gave up meanwhile).
        create = asyncio.ensure_future(_held_submit(scheduler, conversation, fault.hold, job))
        created = await asyncio.shield(create)
    else:
        created = _submit(scheduler, conversation, job)
    await _delayed(scheduler, fault)
    if fault.kind in ("error_after", "reset_after", "lost_answer"):
        count(f"submit_{fault.kind}")
    if fault.kind == "error_after":
        assert fault.status is not None
        raise ApiError(fault.status, _FAULT_MESSAGES[fault.status])
    if fault.kind == "reset_after":
        raise drop_connection(request, reset=True)
    if fault.kind == "lost_answer":
        await _pause(scheduler, scheduler.config.submit_lost_answer_hold)
        raise drop_connection(request, reset=False)
    return web.json_response(
        {"conversationId": created.conversation_id, "jobId": created.id}, status=201
    )


def _submit(scheduler: Scheduler, conversation: Conversation | None, job: dict[str, Any]) -> Job:
    if conversation is not None and conversation.id not in scheduler.conversations:
        raise ApiError(404, f"Conversation with id {conversation.id} not found")
    try:
        return scheduler.submit(conversation, **job)
    except CapacityError:
        limit = scheduler.config.concurrency_limit
        raise ApiError(429, _limit_message(limit), statusCode=429) from None


async def _held_submit(
    scheduler: Scheduler, conversation: Conversation | None, hold: float, job: dict[str, Any]
) -> Job:
    await _pause(scheduler, hold)
    if scheduler.closing.is_set():  # the emulator shut down during the hold: no job
        raise ApiError(503, _FAULT_MESSAGES[503])
    return _submit(scheduler, conversation, job)


async def _file_submit(request: web.Request, kind: str) -> web.Response:
    scheduler = request.app[SCHEDULER]
    probe = MediaProbe()
    digest = hashlib.sha256()
    # Streamed: only the probe's head and the running hash are kept, never the upload.
    full = scheduler.active_jobs >= scheduler.config.concurrency_limit
    async for chunk in scheduler.uploads.read(request, scheduler.uplink, full=full):
        probe.feed(chunk)
        digest.update(chunk)
    conversation = _existing(scheduler, request)
    options = _options(raw_from_query(request.query), "file")
    declared = request.headers.get("Content-Type")
    mime = declared.split(";", 1)[0].strip().lower() if declared else None
    if kind == "video" and mime not in VIDEO_CONTENT_TYPES:
        raise ApiError(400, "Content-Type must be video/mp4: only MP4 video is supported")
    if kind == "audio":
        # Documented for audio uploads only; absent Content-Type means auto-detect.
        if "Content-Length" not in request.headers:
            raise ApiError(400, "Content-Length header is required")
        if mime is not None and mime not in AUDIO_CONTENT_TYPES:
            allowed = ", ".join(sorted(AUDIO_CONTENT_TYPES))
            raise ApiError(400, f"Content-Type {mime} is not supported; use one of {allowed}")
    problem = probe.problem
    if problem is not None:
        raise ApiError(400, f"Invalid media: {problem}")
    if kind == "video" and probe.content_type != "video/mp4":
        raise ApiError(400, "Invalid media: the body is not an MP4 file")
    duration = probe.duration
    if duration is None:
        duration = probe.size / _FALLBACK_BYTES_PER_SECOND
    seed = bytes(probe.head[:1024]) + str(probe.size).encode()
    return await _accept(
        request,
        scheduler,
        conversation,
        kind=kind,
        options=options,
        media_duration=duration,
        script_seed=seed,
        content_key=f"sha256:{digest.hexdigest()}",
    )


def _require_json(request: web.Request) -> None:
    """Refuse a JSON submit declared as something else (``text/plain`` is a common slip)."""
    declared = request.headers.get("Content-Type")
    if declared is None:
        return
    mime = declared.split(";", 1)[0].strip().lower()
    if mime != "application/json" and not mime.endswith("+json"):
        raise ApiError(
            400, f"Content-Type must be application/json for this request, got {mime or '(empty)'}"
        )


async def _url_submit(request: web.Request, kind: str) -> web.Response:
    scheduler = request.app[SCHEDULER]
    body = await json_body(request)
    _require_json(request)
    conversation = _existing(scheduler, request)
    # Some options (webhookUrl, diarization) may also come in the query string; the body wins.
    options = _options({**raw_from_query(request.query), **body}, "url")
    assert options.url is not None
    duration = scheduler.config.url_duration(options.url)
    return await _accept(
        request,
        scheduler,
        conversation,
        kind=kind,
        options=options,
        media_duration=duration,
        script_seed=options.url.encode(),
        content_key=f"url:{options.url}",
    )


@routes.post("/v1/process/audio")
@routes.put("/v1/process/audio/{conversationId}")
async def audio_file(request: web.Request) -> web.Response:
    """Submit (or append) an audio file."""
    return await _file_submit(request, "audio")


@routes.post("/v1/process/video")
@routes.put("/v1/process/video/{conversationId}")
async def video_file(request: web.Request) -> web.Response:
    """Submit (or append) an MP4 video file."""
    return await _file_submit(request, "video")


@routes.post("/v1/process/audio/url")
@routes.put("/v1/process/audio/url/{conversationId}")
async def audio_url(request: web.Request) -> web.Response:
    """Submit (or append) audio by URL."""
    return await _url_submit(request, "audio")


@routes.post("/v1/process/video/url")
@routes.put("/v1/process/video/url/{conversationId}")
async def video_url(request: web.Request) -> web.Response:
    """Submit (or append) video by URL."""
    return await _url_submit(request, "video")


@routes.post("/v1/process/text")
@routes.put("/v1/process/text/{conversationId}")
async def text(request: web.Request) -> web.Response:
    """Submit (or append) text messages."""
    scheduler = request.app[SCHEDULER]
    body = await json_body(request)
    _require_json(request)
    conversation = _existing(scheduler, request)
    options = _options({**raw_from_query(request.query), **body}, "text")
    _, first_start = script_from_text(options.messages)
    content = json.dumps(body.get("messages"), sort_keys=True, separators=(",", ":"))
    return await _accept(
        request,
        scheduler,
        conversation,
        kind="text",
        options=options,
        media_duration=text_span(options.messages),
        first_start=first_start,
        content_key=f"text:{hashlib.sha256(content.encode()).hexdigest()}",
    )


@routes.get("/v1/job/{jobId}")
async def job_status(request: web.Request) -> web.Response:
    """``GET /v1/job/{jobId}``: ``{id, status}``."""
    scheduler = request.app[SCHEDULER]
    scheduler.job_status_requests += 1
    job_id = request.match_info["jobId"]
    job = scheduler.jobs.get(job_id)
    if job is None or scheduler.faults.job_status_404():
        raise ApiError(404, f"Job with id {job_id} not found")
    if job.seen_at is None and job.is_terminal:
        job.seen_at = scheduler.now()
    return web.json_response({"id": job.id, "status": job.status})
