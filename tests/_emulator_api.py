"""The emulator tests' shared kit: an HTTP helper, sample bodies, and fixtures.

Loaded as a pytest plugin by ``tests/conftest.py``, so ``session``, ``emu`` (an
emulator 10,000x faster than the service) and ``api`` (authorised) are there for every
test that asks; a test module's own fixture of the same name wins.
"""

from __future__ import annotations

import io
import json
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import attrs
import pytest

from symbl_async.emulator import Emulator

__all__ = [
    "MP4", "MP4_TYPE", "NOT_FOUND", "SCALE", "TEXT", "TOKEN_FAILED", "WAV_TYPE", "Api",
    "api", "emu", "job_status", "session", "wav",
]

SCALE = 10_000.0
DEMO = Path(__file__).resolve().parents[1] / "symbl_async" / "demo_data"
TOKEN_FAILED = {"message": "Token validation failed for provided token."}
NOT_FOUND = (
    "The conversation and/or it's metadata you asked could not be found, "
    "please check the input provided"
)
TEXT: dict[str, Any] = {
    "messages": [
        {"payload": {"content": "Hello, can you hear me?"}, "from": {"name": "Ana"}},
        {"payload": {"content": "Yes. I will send the notes."}, "from": {"name": "Ben"}},
    ]
}


def wav(seconds: float) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x00" * int(seconds * 8000))
    return buf.getvalue()


MP4 = (DEMO / "meeting.mp4").read_bytes()
WAV_TYPE = {"Content-Type": "audio/wav"}
MP4_TYPE = {"Content-Type": "video/mp4"}


@attrs.define
class Api:
    """A thin HTTP helper: answers as ``(status, decoded JSON)``."""

    session: aiohttp.ClientSession
    emulator: Emulator
    headers: dict[str, str] = attrs.field(factory=dict)

    async def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        async with self.session.request(
            method, self.emulator.url + path, headers=headers, **kwargs
        ) as response:
            body = await response.read()
            return response.status, json.loads(body) if body else None

    async def token(self, app_id: str | None = None, app_secret: str | None = None) -> str:
        status, body = await self.call(
            "POST",
            "/oauth2/token:generate",
            json={
                "type": "application",
                "appId": app_id or self.emulator.app_id,
                "appSecret": app_secret or self.emulator.app_secret,
            },
        )
        assert status == 200, body
        return str(body["accessToken"])


async def job_status(api: Api, job_id: str) -> str:
    status, body = await api.call("GET", f"/v1/job/{job_id}")
    assert status == 200, body
    return str(body["status"])


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(time_scale=SCALE) as e:
        yield e


@pytest.fixture
async def api(emu: Emulator, session: aiohttp.ClientSession) -> Api:
    client = Api(session, emu)
    client.headers["Authorization"] = f"Bearer {await client.token()}"
    return client
