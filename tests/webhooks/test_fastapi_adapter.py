"""The FastAPI adapter, served by a real uvicorn server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator

import pytest

pytest.importorskip("fastapi")

import aiohttp
import uvicorn
from fastapi import FastAPI

from symbl_async.core._jobs import JobStatus
from symbl_async.core._webhook import with_attempt
from symbl_async.errors import ValidationError
from symbl_async.webhooks._fastapi import fastapi_router
from symbl_async.webhooks._receiver import WebhookReceiver

WAIT = 5.0


class Confirm:
    def __init__(self) -> None:
        self.calls: list[str] = []

    async def __call__(self, job_id: str) -> JobStatus:
        self.calls.append(job_id)
        return JobStatus.COMPLETED


@pytest.fixture
def confirm() -> Confirm:
    return Confirm()


@pytest.fixture
async def served(confirm: Confirm) -> AsyncIterator[tuple[WebhookReceiver, str]]:
    """A FastAPI app with the router, served by uvicorn; yields the receiver and base URL."""
    receiver = WebhookReceiver(public_url="https://hooks.example.net", confirm=confirm)
    app = FastAPI()

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"ok": "yes"}

    app.include_router(fastapi_router(receiver))
    # Bind and listen first: connections queue in the backlog until uvicorn accepts,
    # so there is no start-up race to wait for.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield receiver, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, WAIT)
        sock.close()
        await receiver.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def post(session: aiohttp.ClientSession, url: str, data: object) -> int:
    async with session.post(url, data=data) as response:
        await response.read()
        return response.status


def body(job_id: str, status: str, key: str = "jobId") -> bytes:
    return json.dumps({key: job_id, "status": status}).encode()


async def test_right_token_releases_the_watcher(
    served: tuple[WebhookReceiver, str], confirm: Confirm, session: aiohttp.ClientSession
) -> None:
    receiver, base = served
    assert receiver.callback_url == f"https://hooks.example.net/symbl/webhooks/{receiver.token}"
    url = f"{base}/symbl/webhooks/{receiver.token}"
    watch = receiver.watch("j")
    assert await post(session, url, body("j", "in_progress", key="id")) == 200
    assert watch.status is JobStatus.IN_PROGRESS
    assert await post(session, url, body("j", "completed")) == 200
    assert await watch.wait(WAIT) is JobStatus.COMPLETED
    assert confirm.calls == ["j"]
    assert await post(session, url, body("j", "completed")) == 200
    assert receiver.stats.duplicates == 1
    async with session.get(f"{base}/health") as response:
        assert await response.json() == {"ok": "yes"}


async def test_rejections(
    served: tuple[WebhookReceiver, str], confirm: Confirm, session: aiohttp.ClientSession
) -> None:
    receiver, base = served
    url = f"{base}/symbl/webhooks/{receiver.token}"
    watch = receiver.watch("j")
    done = body("j", "completed")
    assert await post(session, f"{base}/symbl/webhooks/{'A' * 43}", done) == 404
    assert await post(session, f"{base}/elsewhere/{receiver.token}", done) == 404
    assert await post(session, url, b"{oops") == 400
    assert await post(session, url, b"[]") == 400
    assert await post(session, url, b'{"jobId": "j"}') == 400
    padded = json.dumps({"jobId": "j", "status": "completed", "pad": "x" * 5000}).encode()
    assert await post(session, url, padded) == 413

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"jobId": "j", "status": "completed", "pad": "'
        for _ in range(16):
            yield b"x" * 1024
        yield b'"}'

    async with session.post(url, data=chunks()) as response:
        assert "Content-Length" not in response.request_info.headers
        assert response.status == 413
    assert receiver.stats.rejected == {
        "bad_token": 1,
        "invalid_body": 2,
        "invalid_status": 1,
        "too_large": 2,
    }
    assert not watch.terminal
    assert confirm.calls == []


async def test_custom_prefix(confirm: Confirm) -> None:
    receiver = WebhookReceiver(confirm=confirm)
    router = fastapi_router(receiver, prefix="/hooks/")
    assert [getattr(route, "path", None) for route in router.routes] == ["/hooks/{token}"]
    with pytest.raises(ValidationError):
        fastapi_router(receiver, prefix="hooks")
    await receiver.close()


async def test_the_attempt_in_the_url_reaches_the_receiver(
    served: tuple[WebhookReceiver, str], session: aiohttp.ClientSession
) -> None:
    receiver, base = served
    url = with_attempt(f"{base}/symbl/webhooks/{receiver.token}", "attempt-1")
    assert await post(session, url, body("j9", "in_progress")) == 200
    assert receiver.job_for_attempt("attempt-1") == "j9"
