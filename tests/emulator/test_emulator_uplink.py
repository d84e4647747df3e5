"""A slow uplink (``upload_bandwidth``): request bodies, all together, read at that rate."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
from _emulator_api import SCALE, TEXT, Api, wav

from symbl_async.emulator import Emulator

BANDWIDTH = 2_000_000  # bytes per second
SECONDS_OF_AUDIO = 62.5  # 8 kHz, 16 bit: 1,000,000 bytes (and a 44-byte header)
CHUNK = 64 * 1024


async def test_default_emulator_has_no_uplink(emu: Emulator) -> None:
    assert emu.config.upload_bandwidth is None and emu.scheduler.uplink is None


async def test_uploads_share_the_uplink_and_other_requests_stay_fast() -> None:
    body = wav(SECONDS_OF_AUDIO)
    emulator = Emulator(time_scale=SCALE, upload_bandwidth=BANDWIDTH)
    async with emulator as emu, aiohttp.ClientSession() as session:
        api = Api(session, emu)
        api.headers["Authorization"] = f"Bearer {await api.token()}"
        status, job = await api.call("POST", "/v1/process/text", json=TEXT)
        assert status == 201, job
        sending = [asyncio.Event(), asyncio.Event()]

        async def stream(sent: asyncio.Event) -> AsyncIterator[bytes]:
            for at in range(0, len(body), CHUNK):
                yield body[at : at + CHUNK]
                sent.set()  # the first chunk went out: the upload is under way

        headers = {"Content-Type": "audio/wav", "Content-Length": str(len(body))}
        started = time.monotonic()
        uploads = [
            asyncio.create_task(
                api.call("POST", "/v1/process/audio", data=stream(sent), headers=headers)
            )
            for sent in sending
        ]
        await asyncio.wait_for(asyncio.gather(*(sent.wait() for sent in sending)), 10)

        asked = time.monotonic()
        status, answer = await api.call("GET", f"/v1/job/{job['jobId']}")
        get_seconds = time.monotonic() - asked
        assert status == 200, answer
        assert not any(upload.done() for upload in uploads)  # answered during the uploads

        answers = await asyncio.wait_for(asyncio.gather(*uploads), 30)
        elapsed = time.monotonic() - started
        assert [status for status, _ in answers] == [201, 201], answers
        uplink = emu.scheduler.uplink
        assert uplink is not None and uplink.bytes_read >= 2 * len(body)

    together = 2 * len(body) / BANDWIDTH  # 1 s: one link, shared by the two uploads
    assert together * 0.95 <= elapsed <= together * 3 + 1, elapsed
    assert get_seconds < together / 4, get_seconds
