"""The baseline to beat: aiohttp + ``asyncio.Semaphore(limit)``, polling every 5 seconds.

What a competent engineer writes in an afternoon: submit each URL while holding one of
``limit`` permits, poll ``GET /v1/job/{id}`` every ``poll_every`` seconds until the job
ends, release the permit, fetch the same 8 insights the CLI fetches and write them to
``<out_dir>/<i>.json``. No ledger, no resume, no retry beyond waiting out a 429.
``benchmarks/bench_systems.py`` runs it next to ``symbl_async.process_many``.
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


async def run_batch(
    base_url: str, app_id: str, app_secret: str, urls: Sequence[str], *, out_dir: Path,
    limit: int = 50, poll_every: float = 5.0,
    on_completed: Callable[[str], None] = lambda job_id: None,
) -> int:
    """Process every URL; return how many jobs completed (``on_completed(job_id)`` on each)."""
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

        async def one(i: int, url: str) -> bool:
            async with permits:
                while True:
                    submit = {"url": url, "name": f"item-{i}"}
                    async with http.post("/v1/process/audio/url", json=submit,
                                         headers=headers) as answer:
                        if answer.status != 429:
                            answer.raise_for_status()
                            job = await answer.json()
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

        done = await asyncio.gather(*(one(i, url) for i, url in enumerate(urls)))
        return sum(done)
