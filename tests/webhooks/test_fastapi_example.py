"""The FastAPI example app, in a real uvicorn server, against the in-process emulator.

The emulator delivers its webhooks over HTTP to the app's mounted receiver.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from _polling import eventually

pytest.importorskip("fastapi")

import aiohttp
import uvicorn

from symbl_async import PollSchedule, WebhookReceiver
from symbl_async.emulator import Emulator

SCALE = 1000.0
WAIT = 20.0
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fastapi_app.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fastapi_app_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
async def served() -> AsyncIterator[tuple[Emulator, Any, str]]:
    """The emulator, and the example app served by uvicorn on 127.0.0.1 (lifespan on)."""
    async with serve_example(access_log=False) as served:
        yield served


@contextlib.asynccontextmanager
async def serve_example(*, access_log: bool) -> AsyncIterator[tuple[Emulator, Any, str]]:
    """The emulator and the app; with ``access_log``, uvicorn's access log on, and left to
    propagate (``log_config=None``) so that ``caplog`` sees it."""
    # Bind and listen first: the public URL is known before the app is built, and
    # connections wait in the backlog until uvicorn has run the lifespan's start-up.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    emu = Emulator(time_scale=SCALE)
    await emu.start()
    server: uvicorn.Server | None = None
    task: asyncio.Task[None] | None = None
    try:
        app = load_example().create_app(
            public_url=base,
            base_url=emu.url,
            app_id=emu.app_id,
            app_secret=emu.app_secret,
            poll=PollSchedule(time_scale=SCALE),
            wait_timeout=WAIT,
        )
        # With the access log on, uvicorn leaves logging alone (no config, no level) so
        # that its lines reach caplog.
        quiet: dict[str, Any] = {"log_level": "warning"}
        config = uvicorn.Config(
            app,
            access_log=access_log,
            lifespan="on",
            **({"log_config": None, "log_level": None} if access_log else quiet),
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve(sockets=[sock]))
        yield emu, app, base
    finally:
        # The emulator first: no webhook is in flight while the app shuts down.
        await emu.close()
        if server is not None and task is not None:
            server.should_exit = True
            await asyncio.wait_for(task, WAIT)
        sock.close()


async def get_when_done(http: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    """GET with ``?wait=`` until the answer is 200, within a deadline."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        async with http.get(url, params={"wait": "5"}) as response:
            body: dict[str, Any] = await response.json()
            if response.status == 200:
                return body
            assert response.status == 202, body
    raise AssertionError(f"{url} not done after {WAIT} s")


async def test_submit_then_fetch_insights_through_webhooks(
    served: tuple[Emulator, Any, str],
) -> None:
    emu, app, base = served
    async with aiohttp.ClientSession() as http:
        # 600 s of media: 180 service seconds, 0.18 s here; the first GET comes well before.
        media = "https://media.test/standup.wav?emulator_duration=600"
        async with http.post(f"{base}/recordings", json={"url": media}) as response:
            assert response.status == 202
            ids = await response.json()
        assert set(ids) == {"conversationId", "jobId"}
        url = f"{base}/recordings/{ids['conversationId']}"
        async with http.get(url) as response:
            assert response.status == 202
            pending = await response.json()
        assert pending["status"] in ("scheduled", "in_progress")

        done = await get_when_done(http, url)
        assert done["status"] == "completed"
        assert done["jobId"] == ids["jobId"]
        insights = done["insights"]
        assert insights["conversationId"] == ids["conversationId"]
        assert insights["messages"] and all(m["text"] for m in insights["messages"])
        assert "topics" in insights and "actionItems" in insights

        text = {
            "messages": [
                {"speaker": "Ana", "text": "Can you send me the pricing sheet by Friday?"},
                {"speaker": "Ben", "text": "Sure, I will send it tomorrow."},
            ]
        }
        async with http.post(f"{base}/recordings", json=text) as response:
            assert response.status == 202
            text_ids = await response.json()
        text_done = await get_when_done(http, f"{base}/recordings/{text_ids['conversationId']}")
        said = [m["text"] for m in text_done["insights"]["messages"]]
        assert said == [m["text"] for m in text["messages"]]

    # The webhooks came over HTTP to the app's own route, with the secret token.
    receiver: WebhookReceiver = app.state.receiver
    assert receiver.callback_url.startswith(f"{base}/symbl/webhooks/")
    for job_id in (ids["jobId"], text_ids["jobId"]):
        assert emu.scheduler.jobs[job_id].options.webhook_url == receiver.callback_url
    assert receiver.stats.accepted >= 2
    assert receiver.stats.confirmations >= 1
    assert sum(receiver.stats.rejected.values()) == 0
    assert emu.stats()["webhooks_sent"] >= 6


async def test_bad_requests(served: tuple[Emulator, Any, str]) -> None:
    emu, _, base = served
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/recordings", json={}) as response:
            assert response.status == 422
        async with http.post(f"{base}/recordings", json={"url": "ftp://x/a.wav"}) as response:
            assert response.status == 422
            assert "url" in (await response.json())["detail"]
        async with http.get(f"{base}/recordings/nope") as response:
            assert response.status == 404
        # A forged webhook with the wrong token is refused by the mounted route.
        forged = {"jobId": "x", "status": "completed"}
        async with http.post(f"{base}/symbl/webhooks/not-the-token", json=forged) as response:
            assert response.status == 404
    assert emu.stats()["jobs_submitted"] == 0


def test_the_app_needs_a_public_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PUBLIC_URL", raising=False)
    with pytest.raises(RuntimeError, match="PUBLIC_URL"):
        load_example().create_app()


async def test_the_access_log_never_shows_the_webhook_secret(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="uvicorn.access")
    async with serve_example(access_log=True) as (_, app, base):
        receiver: WebhookReceiver = app.state.receiver
        token = receiver.token
        async with aiohttp.ClientSession() as http:
            media = "https://media.test/log.wav?emulator_duration=60"
            async with http.post(f"{base}/recordings", json={"url": media}) as response:
                ids = await response.json()
            await get_when_done(http, f"{base}/recordings/{ids['conversationId']}")
            # uvicorn logs the request before answering it: wait for the line.
            await eventually(lambda: "/symbl/webhooks/<redacted>" in caplog.text)
    access = [r for r in caplog.records if r.name == "uvicorn.access"]
    assert access and any("/recordings" in r.getMessage() for r in access)
    assert token not in caplog.text
    assert receiver.stats.accepted >= 1
    # The filter goes with the app: nothing is left on the shared logger.
    assert not logging.getLogger("uvicorn.access").filters
