"""The recordings service with several web workers (``uvicorn --workers N``), one account.

Each worker is its own process with its own client; what they must share goes through one
PostgreSQL database (``SYMBL_LEDGER``):

- **job slots**: every worker runs one long-lived shared batch
  (:func:`~symbl_async.process_many` with ``ledger=SYMBL_LEDGER``) fed by the recordings
  it is posted. Every submit, whichever worker sends it, takes a slot through the ledger's
  claim under the account row's lock, so the workers together never run more than
  ``SYMBL_MAX_CONCURRENT_JOBS`` jobs, and a 429 slows them all;
- **the backlog**: a posted recording is recorded ``pending`` in the ledger before the
  answer (202); any worker with a free slot takes the longest one waiting, and a worker
  that dies leaves its jobs to the others (they adopt them after its lease);
- **webhooks**: Symbl calls one public URL, which reaches *some* worker. Every worker's
  receiver has the same secret token (``SYMBL_WEBHOOK_TOKEN``), so none answers 404, and
  a :class:`~symbl_async.webhooks.PostgresRelay` hands a delivery for a job another worker
  waits on to that worker (``NOTIFY``); a slow safety poll covers a lost one;
- **results**: ``GET /recordings/{key}`` reads the item from the ledger (any worker
  answers) and, once fetched, the insights file its worker wrote under ``SYMBL_OUT``
  (one folder per worker, on a disk every worker can read).

Endpoints: ``POST /recordings`` with ``{"url": "https://.../call.wav"}`` (``"video": true``
for an MP4, ``"mediaDuration": seconds`` if known; optional ``"key"``: your own stable id)
or ``{"messages": [{"speaker": "Ana", "text": "..."}]}`` answers 202 ``{"key", "state"}``;
``GET /recordings/{key}`` answers 202 ``{"key", "state"}`` while in progress, then 200
with ``"state": "fetched"`` and the ``insights`` (or ``"failed"`` and an ``error``).

Settings (environment): ``PUBLIC_URL``, ``SYMBL_BASE_URL``, ``SYMBL_APP_ID``,
``SYMBL_APP_SECRET``, ``SYMBL_TIME_SCALE`` as for ``fastapi_app.py``; ``SYMBL_LEDGER``
(``postgresql://...``), ``SYMBL_OUT`` (a folder), ``SYMBL_WEBHOOK_TOKEN`` (32+ URL-safe
characters, the same for every worker), ``SYMBL_MAX_CONCURRENT_JOBS`` (the account's
limit, default 50) and ``SYMBL_LEASE`` (seconds, default 30)::

    uvicorn --factory examples.fastapi_workers:create_app --workers 2 --port 8000

See ``examples/README.md``, "Several workers".
"""

# No "from __future__ import annotations": FastAPI reads the endpoints' annotations.

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse

from examples.fastapi_app import RecordingIn as SingleRecordingIn
from examples.fastapi_app import RedactSecret
from symbl_async import PollSchedule, SymblClient, SymblError, WebhookReceiver, process_many
from symbl_async.batch import BatchEvent, BatchResult, PostgresStore, TextSource, UrlSource
from symbl_async.batch._items import prepare_item
from symbl_async.webhooks import PostgresRelay
from symbl_async.webhooks._fastapi import fastapi_router

__all__ = ["create_app"]

logger = logging.getLogger("symbl_async.examples.fastapi_workers")

ADMIT_TIMEOUT = 30.0  # longest a POST waits for its recording to be recorded in the ledger
RESTART_DELAY = 5.0  # before a shared batch that stopped (database away too long) restarts


class RecordingIn(SingleRecordingIn):
    """What ``POST /recordings`` takes: the single-worker app's body, and an optional
    ``key`` of the caller's (a presigned URL's tokens change; its key does not)."""

    key: str | None = None


def _source(body: RecordingIn) -> object:
    if (body.url is None) == (body.messages is None):
        raise HTTPException(422, "give either url or messages")
    try:
        if body.url is not None:
            return UrlSource(body.url, "video" if body.video else "audio", key=body.key,
                             duration=body.media_duration)
        messages = [
            {"payload": {"content": m.text}, **({"from": {"name": m.speaker}} if m.speaker else {})}
            for m in body.messages or ()
        ]
        return TextSource(messages, key=body.key)
    except (ValueError, TypeError, SymblError) as exc:
        raise HTTPException(422, str(exc)) from exc


def _env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if not value:
        raise RuntimeError(f"set {name} (see examples/fastapi_workers.py)")
    return value


def create_app() -> FastAPI:
    """Build one worker's app from the environment; nothing connects until its lifespan.

    Returns:
        The FastAPI application.

    Raises:
        RuntimeError: a required setting is missing.
        symbl_async.ValidationError: a setting is malformed (URL, token).
    """
    ledger = _env("SYMBL_LEDGER")
    out = Path(_env("SYMBL_OUT"))
    limit = int(_env("SYMBL_MAX_CONCURRENT_JOBS", "50"))
    lease = float(_env("SYMBL_LEASE", "30"))
    poll = PollSchedule(time_scale=float(os.environ.get("SYMBL_TIME_SCALE", "1")))
    # The same token in every worker: a delivery may reach any of them.
    receiver = WebhookReceiver(
        public_url=_env("PUBLIC_URL"), token=_env("SYMBL_WEBHOOK_TOKEN"),
        relay=PostgresRelay(ledger),
    )
    # uvicorn's access log would print the webhook path, hence the secret: filter it.
    redact = RedactSecret(receiver.token)
    logging.getLogger("uvicorn.access").addFilter(redact)
    queue: asyncio.Queue[object] = asyncio.Queue()
    admitted: dict[str, asyncio.Future[None]] = {}

    async def inputs() -> AsyncIterator[object]:
        # Never ends: the shared batch keeps taking work until the app shuts down.
        while True:
            yield await queue.get()

    def on_event(event: BatchEvent) -> None:
        if event.kind == "queued" and event.key is not None:
            future = admitted.pop(event.key, None)
            if future is not None and not future.done():
                future.set_result(None)

    async def run_batches(client: SymblClient) -> None:
        # One shared batch for the worker's life; started again if it stops (its lease ran
        # out while the process was paused, or the database was away for too long).
        folder = out / f"worker-{os.getpid()}"
        while True:
            # A service records every posted recording at once (its POST waits for that),
            # however many wait: no look-ahead bound on the input.
            run = process_many(
                client, inputs(), ledger=ledger, out_dir=folder, wait_mode="hybrid",
                max_concurrent_jobs=limit, lease=lease, on_event=on_event,
                lookahead=1_000_000,
            )
            try:
                async with run:
                    async for result in run:
                        _log_result(result)
            except SymblError as exc:
                logger.error("shared batch stopped: %s; starting it again", exc)
            await asyncio.sleep(RESTART_DELAY)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        assert receiver._relay is not None
        await receiver._relay.start()  # a wrong URL fails the start-up, not a request
        store = await PostgresStore.connect(ledger)
        try:
            async with SymblClient(poll=poll, receiver=receiver) as client:
                app.state.store = store
                batches = asyncio.create_task(run_batches(client))
                try:
                    yield
                finally:
                    # Jobs in flight stay in the ledger; the other workers adopt them once
                    # this worker's lease is given back.
                    batches.cancel()
                    await asyncio.gather(batches, return_exceptions=True)
                    await receiver.close()
        finally:
            await store.aclose()
            logging.getLogger("uvicorn.access").removeFilter(redact)

    app = FastAPI(title="Recordings, processed by Symbl (several workers)", lifespan=lifespan)
    app.state.receiver = receiver
    app.include_router(fastapi_router(receiver))

    @app.post("/recordings", status_code=202)
    async def submit_recording(body: RecordingIn) -> dict[str, str]:
        source = _source(body)
        prepared = prepare_item(source, None)
        if isinstance(prepared, BatchResult):
            raise HTTPException(422, prepared.error or "not a recording")
        key = prepared.key
        future = admitted.get(key) or asyncio.get_running_loop().create_future()
        admitted[key] = future
        await queue.put(source)
        try:
            # Answer once the recording is in the ledger: from then on any worker may take
            # it, and a crash of this one loses nothing.
            await asyncio.wait_for(asyncio.shield(future), ADMIT_TIMEOUT)
        except asyncio.TimeoutError as exc:
            if admitted.get(key) is future:
                del admitted[key]
            raise HTTPException(503, "busy, try again later", {"Retry-After": "30"}) from exc
        return {"key": key, "state": "accepted"}

    @app.get("/recordings/{key}")
    async def get_recording(key: str, request: Request) -> JSONResponse:
        store: PostgresStore = request.app.state.store
        try:
            row = await store.get(key)
        except SymblError as exc:
            raise HTTPException(503, "the ledger is not reachable") from exc
        if row is None:
            raise HTTPException(404, "no such recording")
        answer: dict[str, Any] = {"key": key, "state": row.state.value}
        if row.conversation_id is not None:
            answer["conversationId"] = row.conversation_id
        if row.state.value == "failed":
            answer["error"] = row.error
            return JSONResponse(answer)
        if row.state.value != "fetched" or row.output_path is None:
            return JSONResponse(answer, status_code=202)
        try:
            answer["insights"] = await asyncio.to_thread(_read_json, Path(row.output_path))
        except (OSError, ValueError) as exc:
            raise HTTPException(500, "the insights file cannot be read") from exc
        return JSONResponse(answer)

    return app


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _log_result(result: BatchResult) -> None:
    if result.status == "failed":
        logger.warning("%s failed: %s", result.source, result.error)
    else:
        logger.info("%s %s", result.source, result.status)
