"""A FastAPI app that hands recordings to Symbl and serves their insights when done.

- ``POST /recordings`` with ``{"url": "https://.../call.wav"}`` (add ``"video": true`` for
  an MP4, ``"mediaDuration": seconds`` if known) or with a text conversation
  ``{"messages": [{"speaker": "Ana", "text": "..."}]}`` submits it and answers 202
  ``{"conversationId", "jobId"}``.
- ``GET /recordings/{conversationId}`` answers 202 ``{"status": ...}`` while Symbl works,
  then 200 ``{"status": "completed", "insights": {...}}`` (or 200 with ``"status":
  "failed"`` and an ``error``). ``?wait=SECONDS`` (at most 30) holds the answer until the
  job ends or the time passes, so a client need not poll fast.

The lifespan owns one :class:`~symbl_async.SymblClient` and one
:class:`~symbl_async.WebhookReceiver`; the receiver is mounted into this same app, so
Symbl's webhooks reach ``{PUBLIC_URL}/symbl/webhooks/{secret token}``. Each job is
waited for in ``hybrid`` mode (webhooks, with a slow safety poll) by a background task.

Settings come from the environment: ``PUBLIC_URL`` (the URL at which Symbl can reach this
app), ``SYMBL_BASE_URL`` (default ``https://api.symbl.ai``; the emulator's URL to run
offline), ``SYMBL_APP_ID``, ``SYMBL_APP_SECRET``, and ``SYMBL_TIME_SCALE`` (only against an
emulator started with ``--time-scale``). The webhook path holds the receiver's secret
token, and uvicorn's access log prints every path: the app installs :class:`RedactSecret`
on the ``uvicorn.access`` logger, so the log shows ``<redacted>`` instead. With another
server, filter its access log the same way, or turn it off (``--no-access-log``)::

    uvicorn --factory examples.fastapi_app:create_app --port 8000

See ``examples/README.md``.
"""

# No "from __future__ import annotations": FastAPI reads the endpoints' annotations.

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from typing import Any

import attrs
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from symbl_async import (
    ConcurrencyLimitError,
    Job,
    JobFailedError,
    PollSchedule,
    SymblClient,
    SymblError,
    TextMessage,
    ValidationError,
    WaitTimeoutError,
    WebhookReceiver,
)
from symbl_async.webhooks._fastapi import fastapi_router

__all__ = ["RedactSecret", "create_app"]

logger = logging.getLogger("symbl_async.examples.fastapi_app")

MAX_HOLD = 30.0  # longest ?wait= a GET may hold


class RedactSecret(logging.Filter):
    """Replaces a secret in the records of a logger (install it on ``uvicorn.access``).

    uvicorn logs each request as ``'%s - "%s %s HTTP/%s" %d'`` with the path among the
    arguments; they are rewritten in place so that uvicorn's own formatter still works.
    """

    def __init__(self, secret: str) -> None:
        super().__init__()
        self._secret = secret

    def _clean(self, value: object) -> object:
        if isinstance(value, str) and self._secret in value:
            return value.replace(self._secret, "<redacted>")
        return value

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._clean(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(self._clean(arg) for arg in record.args)
        return True


class Utterance(BaseModel):
    """One message of a text conversation."""

    speaker: str | None = None
    text: str = Field(min_length=1)


class RecordingIn(BaseModel):
    """What ``POST /recordings`` takes: a media URL, or a text conversation."""

    model_config = ConfigDict(populate_by_name=True)

    url: str | None = None
    video: bool = False
    media_duration: float | None = Field(default=None, ge=0, alias="mediaDuration")
    messages: list[Utterance] | None = None


@attrs.define
class Recording:
    """What this app knows of one submitted recording.

    Kept in memory here. A real app would write the job id, conversation id and status
    to its database at submit time (so that after a restart it can wait again with
    ``client.wait(job_id)``, or fetch the insights by conversation id), store the
    insights or a pointer to them when done, and keep the status history for support.
    """

    job: Job
    status: str = "scheduled"
    insights: dict[str, Any] | None = None
    error: str | None = None
    done: asyncio.Event = attrs.field(factory=asyncio.Event)


def create_app(
    *,
    public_url: str | None = None,
    base_url: str | None = None,
    app_id: str | None = None,
    app_secret: str | None = None,
    poll: PollSchedule | None = None,
    wait_timeout: float = 4 * 3600.0,
) -> FastAPI:
    """Build the app; nothing connects until its lifespan starts.

    Args:
        public_url: base URL at which Symbl reaches this app; default ``$PUBLIC_URL``.
        base_url: the Symbl API (or emulator) URL; default ``$SYMBL_BASE_URL``.
        app_id: default ``$SYMBL_APP_ID``.
        app_secret: default ``$SYMBL_APP_SECRET``.
        poll: the poll schedule the hybrid wait's safety poll builds on; default one
            scaled by ``$SYMBL_TIME_SCALE`` (1 against the real service).
        wait_timeout: how long a job is waited for, in seconds.

    Returns:
        The FastAPI application.

    Raises:
        RuntimeError: no public URL is configured.
        symbl_async.ValidationError: the public URL is not an http(s) URL.
    """
    public_url = public_url or os.environ.get("PUBLIC_URL")
    if not public_url:
        raise RuntimeError("set PUBLIC_URL: the URL at which Symbl can reach this app")
    if poll is None:
        poll = PollSchedule(time_scale=float(os.environ.get("SYMBL_TIME_SCALE", "1")))
    # Built here rather than in the lifespan: its route is mounted when the app is built.
    # It runs no server of its own; uvicorn serves its route.
    receiver = WebhookReceiver(public_url=public_url)
    # uvicorn's access log would print the webhook path, hence the secret, on every line.
    redact = RedactSecret(receiver.token)
    access_log = logging.getLogger("uvicorn.access")
    access_log.addFilter(redact)
    recordings: dict[str, Recording] = {}
    tasks: set[asyncio.Task[None]] = set()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # One client for the whole app: one connection pool, one token for every request.
        # Attaching the receiver fills in every submit's webhookUrl and makes it confirm
        # terminal webhooks with GET /v1/job through this client.
        async with SymblClient(
            base_url=base_url,
            app_id=app_id,
            app_secret=app_secret,
            poll=poll,
            wait_timeout=wait_timeout,
            receiver=receiver,
        ) as client:
            app.state.client = client
            try:
                yield
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                await receiver.close()
                access_log.removeFilter(redact)

    app = FastAPI(title="Recordings, processed by Symbl", lifespan=lifespan)
    app.state.receiver = receiver
    app.state.recordings = recordings
    app.include_router(fastapi_router(receiver))

    async def finish(client: SymblClient, recording: Recording) -> None:
        job = recording.job
        try:
            await client.wait(job, mode="hybrid")
            insights = await client.fetch_insights(job.conversation_id)
            recording.insights = insights.to_json()
            recording.status = "completed"
        except JobFailedError:
            recording.status, recording.error = "failed", "Symbl could not process it"
        except WaitTimeoutError as exc:
            # The job may still finish; a real app would wait again later by job id.
            recording.status, recording.error = "timed_out", str(exc)
        except SymblError as exc:
            logger.warning("recording %s: %s", job.conversation_id, exc)
            recording.status, recording.error = "error", str(exc)
        finally:
            recording.done.set()

    @app.post("/recordings", status_code=202)
    async def submit_recording(body: RecordingIn, request: Request) -> dict[str, str]:
        client: SymblClient = request.app.state.client
        if (body.url is None) == (body.messages is None):
            raise HTTPException(422, "give either url or messages")
        try:
            if body.url is not None:
                submit = client.submit_video_url if body.video else client.submit_audio_url
                job = await submit(body.url, media_duration=body.media_duration)
            else:
                messages = [
                    TextMessage(content=m.text, speaker_name=m.speaker) for m in body.messages or ()
                ]
                job = await client.submit_text(messages)
        except ValidationError as exc:
            raise HTTPException(422, str(exc)) from exc
        except ConcurrencyLimitError as exc:
            # Every job slot of the Symbl account is busy.
            raise HTTPException(503, "busy, try again later", {"Retry-After": "30"}) from exc
        except SymblError as exc:
            raise HTTPException(502, f"Symbl: {exc}") from exc
        recording = recordings[job.conversation_id] = Recording(job)
        task = asyncio.create_task(finish(client, recording))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return {"conversationId": job.conversation_id, "jobId": job.job_id}

    @app.get("/recordings/{conversation_id}")
    async def get_recording(conversation_id: str, wait: float = Query(0.0, ge=0.0)) -> JSONResponse:
        recording = recordings.get(conversation_id)
        if recording is None:
            raise HTTPException(404, "no such recording")
        if wait > 0 and not recording.done.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(recording.done.wait(), min(wait, MAX_HOLD))
        ids = {"conversationId": conversation_id, "jobId": recording.job.job_id}
        if not recording.done.is_set():
            # What the webhooks said so far (the receiver only ever moves forward).
            status = receiver.status_of(recording.job.job_id)
            now = status.value if status is not None else "scheduled"
            return JSONResponse({**ids, "status": now}, status_code=202)
        answer: dict[str, Any] = {**ids, "status": recording.status}
        if recording.insights is not None:
            answer["insights"] = recording.insights
        if recording.error is not None:
            answer["error"] = recording.error
        return JSONResponse(answer)

    return app
