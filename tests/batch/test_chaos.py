"""A seeded chaos batch: every submit and job-status fault at once, tens of items, high scale.

Faults are drawn from a seeded RNG at the client's submit and ``GET /v1/job``; another
client's long jobs hold one of the account's slots (so 429s happen too). The promise is
checked from the emulator's own jobs: every input fetched, every recording paid once, no
attempt name sent twice, the account's limit never exceeded. On every ledger.
"""

from __future__ import annotations

import asyncio
import collections
import random
from typing import Any

import pytest
from _ledgers import Ledgers

from symbl_async.batch._api import process_many
from symbl_async.batch._inputs import UrlSource
from symbl_async.batch._items import PreparedItem, prepare_item
from symbl_async.batch._slots import JobSlots
from symbl_async.client._client import SymblClient
from symbl_async.client._waiting import PollSchedule
from symbl_async.core._jobs import Job, JobInfo
from symbl_async.emulator import Emulator
from symbl_async.errors import (
    ConcurrencyLimitError,
    NotFoundError,
    ServerError,
    SubmitOutcomeUnknownError,
    SymblConnectionError,
)

# A chaos campaign: the system tier (tests/_tiers.py), whatever it runs in.
pytestmark = pytest.mark.system

SCALE = 2000.0
LIMIT = 3
RUNS = 4
SUBMIT_FAULTS = ["503", "no-connection", "500-after", "lost-after", "held"]


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_chaos_batch_pays_each_recording_once_and_fetches_all(
    seed: int, monkeypatch: pytest.MonkeyPatch, ledgers: Ledgers
) -> None:
    rng = random.Random(seed)
    sources = [
        UrlSource(f"https://media.test/chaos{seed}-{i}.mp3?emulator_duration={d:g}", "audio",
                  duration=d)
        for i, d in enumerate(rng.choice([30.0, 60.0, 240.0]) for _ in range(30))
    ]
    late: list[asyncio.Task[Job]] = []
    async with Emulator(time_scale=SCALE, concurrency_limit=LIMIT) as emu, SymblClient(
        app_id=emu.app_id, app_secret=emu.app_secret, base_url=emu.url,
        poll=PollSchedule(time_scale=SCALE),
    ) as client, SymblClient(
        app_id=emu.app_id, app_secret=emu.app_secret, base_url=emu.url
    ) as other:
        # A foreign job holds one of the three slots for a while (~1 s).
        await other.submit_audio_url("https://media.test/foreign.mp3?emulator_duration=8000")
        real_submit, real_get_job = client.submit_audio_url, client.get_job
        sent: collections.Counter[str] = collections.Counter()

        async def submit(source_url: str, **kwargs: Any) -> Job:
            name = kwargs["options"].name
            sent[name] += 1
            fault = rng.choice(SUBMIT_FAULTS) if rng.random() < 0.5 else None
            if fault == "503":
                raise ServerError(503, "Service Unavailable")
            if fault == "no-connection":
                raise SymblConnectionError("cannot connect")
            if fault == "held":
                async def land() -> Job:
                    await asyncio.sleep(0.01)
                    return await real_submit(source_url, **kwargs)

                late.append(asyncio.ensure_future(land()))
                raise SubmitOutcomeUnknownError("timed out", name=name)
            job = await real_submit(source_url, **kwargs)
            if fault == "500-after":
                raise ServerError(500, "Internal Server Error")
            if fault == "lost-after":
                raise SubmitOutcomeUnknownError("reset after the body", name=name)
            return job

        async def get_job(job_id: str) -> JobInfo:
            roll = rng.random()
            if roll < 0.1:
                raise NotFoundError(404, "Job not found")
            if roll < 0.2:
                raise ServerError(rng.choice([500, 502, 503, 504]), "hiccup")
            return await real_get_job(job_id)

        real_list = client.conversations.list

        async def lookup(**kwargs: Any) -> Any:
            # The grace period's promise, made exact: by the time a lookup may conclude,
            # every held request has landed (or been refused). No timing involved.
            await asyncio.gather(*late, return_exceptions=True)
            return await real_list(**kwargs)

        monkeypatch.setattr(client, "submit_audio_url", submit)
        monkeypatch.setattr(client, "get_job", get_job)
        monkeypatch.setattr(client.conversations, "list", lookup)
        # An item whose submits got no answer three times in a row (held submits that landed
        # on a full account, say), none of which created a job, is pending again for the
        # next run, as a user's rerun would take it: rerun, a bounded number of times, until
        # every input is fetched.
        rejected = 0
        for _ in range(RUNS):
            run = process_many(
                client, sources, slots=JobSlots(LIMIT, backoff_base=0.005, backoff_cap=0.05),
                lookup_grace=0, wait_mode="poll", ledger=ledgers.arg(),
            )
            async with run:
                results = [result async for result in run]
            assert run.summary is not None
            rejected += run.summary.progress.rejected_429
            if {r.status for r in results} <= {"fetched", "skipped"}:
                break
        # A held submit may land on a full account (the foreign job): a 429 the client
        # never saw, no job; the lookup then finds nothing and the item is sent again.
        landed = await asyncio.gather(*late, return_exceptions=True)
        assert all(isinstance(x, (Job, ConcurrencyLimitError)) for x in landed), landed
        jobs = [job for job in emu.jobs() if job["name"] in sent]  # not the foreign one
        stats = emu.stats()
    bases = {}
    for source in sources:
        item = prepare_item(source, None)
        assert isinstance(item, PreparedItem)
        bases[item.name] = source.url
    per_item = collections.Counter(bases[str(job["name"]).rsplit("-", 1)[0]] for job in jobs)
    assert sorted(r.index for r in results) == list(range(30))  # type: ignore[type-var]
    assert {r.status for r in results} <= {"fetched", "skipped"}, [r.error for r in results]
    assert all(per_item[s.url] == 1 for s in sources), per_item  # nothing paid twice
    assert set(sent.values()) == {1}  # no attempt name sent twice
    assert stats["max_concurrent_jobs"] <= LIMIT
    # Every 429 the run saw is one the emulator gave (it also refused some held submits).
    assert rejected <= stats["rejected_429"]
