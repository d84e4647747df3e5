"""The baseline to beat: aiohttp + ``asyncio.Semaphore(limit)``, polling every 5 seconds.

What a competent engineer writes in an afternoon: submit each input while holding one of
``limit`` permits (a URL as ``POST /v1/process/audio/url``; a local WAV uploaded as the
body of ``POST /v1/process/audio``, streamed from the file), poll ``GET /v1/job/{id}``
every ``poll_every`` seconds until the job ends, release the permit, fetch the same 8
insights the CLI fetches and write them to ``<out_dir>/<i>.json``. No ledger, no resume,
no retry beyond waiting out a 429 (an upload refused with a 429 is sent again whole).
An upload has no total timeout: over a shared uplink a big file takes longer than
aiohttp's default 5 minutes, the first thing such a script's author would meet and lift.
``benchmarks/bench_systems.py`` (URLs) and ``benchmarks/bench_uplink.py`` (files) run it
next to ``symbl_async.process_many``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import aiohttp

FETCHES = ("", "/messages", "/topics", "/questions", "/action-items", "/follow-ups",
           "/members", "/analytics")
UPLOAD_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=300)


async def run_batch(
    base_url: str, app_id: str, app_secret: str, inputs: Sequence[str | Path], *,
    out_dir: Path, limit: int = 50, poll_every: float = 5.0,
    on_completed: Callable[[str], None] = lambda job_id: None,
) -> int:
    """Process every URL or file; return how many jobs completed (``on_completed(job_id)``
    on each)."""
    async with aiohttp.ClientSession(base_url) as http:
        body = {"type": "application", "appId": app_id, "appSecret": app_secret}
        async with http.post("/oauth2/token:generate", json=body) as answer:
            answer.raise_for_status()
            headers = {"x-api-key": (await answer.json())["accessToken"]}
        permits = asyncio.Semaphore(limit)

        async def get(path: str) -> Any:
            async with http.get(path, headers=headers) as answer:
                answer.raise_for_status()
                return await answer.json()

        async def job_of(answer: aiohttp.ClientResponse) -> Any:
            if answer.status == 429:  # the account's limit: None, try again later
                return None
            answer.raise_for_status()
            return await answer.json()

        async def submit(i: int, item: str | Path) -> Any:
            if isinstance(item, Path):  # aiohttp streams the open file, Content-Length set
                with item.open("rb") as media:
                    async with http.post(
                        "/v1/process/audio", data=media, params={"name": f"item-{i}"},
                        headers={**headers, "Content-Type": "audio/wav"},
                        timeout=UPLOAD_TIMEOUT,
                    ) as answer:
                        return await job_of(answer)
            async with http.post("/v1/process/audio/url", json={"url": item, "name": f"item-{i}"},
                                 headers=headers) as answer:
                return await job_of(answer)

        async def one(i: int, item: str | Path) -> bool:
            async with permits:
                while True:
                    job = await submit(i, item)
                    if job is not None:
                        break
                    await asyncio.sleep(poll_every)
                status = "scheduled"
                while status not in ("completed", "failed"):
                    await asyncio.sleep(poll_every)
                    status = (await get(f"/v1/job/{job['jobId']}"))["status"]
            if status == "failed":
                return False
            on_completed(job["jobId"])
            base = f"/v1/conversations/{job['conversationId']}"
            insights = [await get(base + path) for path in FETCHES]
            text = json.dumps(dict(zip(FETCHES, insights, strict=True)))
            await asyncio.to_thread((out_dir / f"{i}.json").write_text, text)
            return True

        done = await asyncio.gather(*(one(i, item) for i, item in enumerate(inputs)))
        return sum(done)
