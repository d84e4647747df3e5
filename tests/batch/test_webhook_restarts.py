"""Webhook mode across restarts, and jobs adopted by name that learn their id from a webhook.

Against the real emulator, with its own webhook faults (drops, duplicates) and its own
records proving that nothing is paid twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from _cli_support import ledger_counts
from _ledgers import Ledgers
from _polling import eventually

from symbl_async.batch import batch_webhook_token
from symbl_async.batch._api import BatchRun, process_many
from symbl_async.batch._inputs import UrlSource
from symbl_async.batch._ledger import SqliteStore
from symbl_async.batch._results import BatchResult
from symbl_async.batch._slots import JobSlots
from symbl_async.client._client import SymblClient
from symbl_async.client._waiting import PollSchedule
from symbl_async.emulator import Emulator
from symbl_async.webhooks._receiver import WebhookReceiver

SCALE = 2000.0


def url(name: str, seconds: float = 60.0) -> UrlSource:
    return UrlSource(
        f"https://media.test/{name}.mp3?emulator_duration={seconds:g}", "audio", duration=seconds
    )


def fast_slots(limit: int) -> JobSlots:
    return JobSlots(limit, backoff_base=0.005, backoff_cap=0.05)


@contextlib.asynccontextmanager
async def client_with(emu: Emulator, receiver: WebhookReceiver) -> AsyncIterator[SymblClient]:
    async with SymblClient(
        app_id=emu.app_id, app_secret=emu.app_secret, base_url=emu.url,
        poll=PollSchedule(time_scale=SCALE), receiver=receiver,
    ) as client:
        yield client


def receiver(**kwargs: Any) -> WebhookReceiver:
    return WebhookReceiver(reconfirm_delay=1.0 / SCALE, **kwargs)


async def collect(run: BatchRun) -> list[BatchResult]:
    async with run:
        return [result async for result in run]


@pytest.mark.parametrize(
    ("mode", "faults"),
    [("webhook", {"webhook_duplicate_rate": 0.5}), ("hybrid", {"webhook_duplicate_rate": 0.5})],
)
async def test_a_lost_answer_learns_its_job_id_from_the_attempts_webhook(
    mode: str, faults: dict[str, Any], tmp_path: Path, ledgers: Ledgers
) -> None:
    sources = [url(f"lost{i}") for i in range(4)]
    # Jobs end well before the client's model expects them: the webhook naming each job
    # arrives long before the recovered-insights rule could decide anything.
    async with Emulator(
        time_scale=SCALE, concurrency_limit=3, submit_lost_answer_rate=1.0,
        submit_lost_answer_hold=0.05, processing_factor=0.01, processing_overhead=1.0,
        seed=8, **faults,
    ) as emu, receiver() as hooks, client_with(emu, hooks) as client:
        run = process_many(client, sources, slots=fast_slots(3), out_dir=tmp_path,
                           lookup_grace=0, wait_mode=mode, ledger=ledgers.arg())
        results = await collect(run)
        stats, jobs = emu.stats(), emu.jobs()
    job_of = {job["conversationId"]: job["jobId"] for job in jobs}
    assert [r.status for r in results] == ["fetched"] * 4
    for result in results:
        assert not result.recovered  # fetched as a normal job, its id learned from a webhook
        assert result.job_id == job_of[result.conversation_id]
    assert run.summary is not None and run.summary.found_by_name == 4
    assert len(jobs) == 4 and not stats["duplicate_names"]  # nothing paid twice
    assert stats["max_concurrent_jobs"] <= 3
    store = await ledgers.open()
    assert {row.job_id async for row in store.items()} == set(job_of.values())


async def test_without_a_delivery_an_adopted_job_falls_back_to_the_rule(
    tmp_path: Path, ledgers: Ledgers
) -> None:
    sources = [url("silent")]
    async with Emulator(
        time_scale=SCALE, concurrency_limit=2, submit_lost_answer_rate=1.0,
        submit_lost_answer_hold=0.05, webhook_drop_rate=1.0,
    ) as emu, receiver() as hooks, client_with(emu, hooks) as client:
        results = await collect(process_many(client, sources, slots=fast_slots(2),
                                             out_dir=tmp_path, lookup_grace=0,
                                             wait_mode="hybrid", ledger=ledgers.arg()))
        stats = emu.stats()
    assert results[0].status == "fetched" and results[0].recovered
    assert results[0].job_id is None and stats["jobs_created"] == 1


@pytest.mark.parametrize(
    ("mode", "faults", "same_token"),
    [
        ("webhook", {"webhook_duplicate_rate": 0.5}, True),
        ("hybrid", {"webhook_drop_rate": 0.5}, True),
        ("webhook", {"webhook_duplicate_rate": 0.5}, False),
    ],
)
async def test_a_rerun_hears_about_the_jobs_of_a_crashed_webhook_run(
    mode: str, faults: dict[str, Any], same_token: bool, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Two jobs end while no receiver is up (their webhooks are lost for good), two still run
    # when the new receiver starts on the same port: they call it, if it has the same token.
    ended = [url(f"ended{i}", 2000) for i in range(2)]
    running = [url(f"running{i}", 12000) for i in range(2)]
    sources = ended + running
    ledger_path = tmp_path / "ledger.sqlite3"
    token = batch_webhook_token(ledger_path)
    assert batch_webhook_token(ledger_path) == token  # stored on the first call
    async with Emulator(time_scale=SCALE, concurrency_limit=4, seed=3, **faults) as emu:
        first = receiver(token=token)
        async with first, client_with(emu, first) as client:
            port = first.port
            run = process_many(client, sources, slots=fast_slots(4), out_dir=tmp_path,
                               wait_mode=mode)
            consumer = asyncio.ensure_future(collect(run))
            await eventually(lambda: ledger_counts(ledger_path).get("submitted") == 4)
            run.stop()  # the "crash": jobs stay submitted in the ledger
            assert await consumer == []

        def statuses(seconds: float) -> list[str]:
            return [j["status"] for j in emu.jobs() if j["mediaDuration"] == seconds]

        await eventually(lambda: statuses(2000) == ["completed"] * 2)
        assert statuses(12000) == ["in_progress"] * 2
        second = receiver(port=port, token=token if same_token else None)
        async with second, client_with(emu, second) as client:
            with caplog.at_level(logging.INFO, logger="symbl_async"):
                rerun = process_many(client, sources, slots=fast_slots(4), out_dir=tmp_path,
                                     wait_mode=mode, wait_timeout=30)
                results = await collect(rerun)
        stats = emu.stats()
    assert [r.status for r in results] == ["fetched"] * 4, [r.error for r in results]
    assert not any(r.recovered for r in results)
    assert len(emu.jobs()) == 4 and not stats["duplicate_names"]
    if mode == "webhook" and same_token:
        assert second.stats.accepted >= 1  # the running jobs' webhooks reached the new one
    warned = "earlier run are waited for by polling" in caplog.text
    assert warned is not same_token
    assert token not in caplog.text and second.token not in caplog.text
    store = await SqliteStore.open(ledger_path)
    try:
        assert await store.get_meta("webhook_token") == second.token
    finally:
        await store.aclose()
