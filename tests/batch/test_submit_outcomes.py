"""Submit outcomes under injected faults: not created, refused, unknown; names per attempt.

Faults are injected at the client's submit (the engine sees exactly the errors the transport
raises); every count that proves "nothing paid twice" comes from the emulator's own jobs.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from _ledgers import Ledgers
from _polling import eventually

from symbl_async.batch._api import BatchRun, process_many
from symbl_async.batch._inputs import UrlSource
from symbl_async.batch._items import PreparedItem, prepare_item
from symbl_async.batch._ledger import ItemStore, MemoryLedger, MemoryStore, PostgresStore
from symbl_async.batch._results import BatchResult
from symbl_async.batch._slots import JobSlots
from symbl_async.client._client import SymblClient
from symbl_async.client._waiting import PollSchedule
from symbl_async.core._jobs import Job
from symbl_async.emulator import Emulator
from symbl_async.errors import (
    BadRequestError,
    JobFailedError,
    LeaseLostError,
    NotFoundError,
    ServerError,
    SubmitOutcomeUnknownError,
    SymblConnectionError,
)

SCALE = 2000.0
FAILING_URL = "https://media.test/broken.mp3?emulator_duration=60"


def url(name: str, seconds: float = 60.0) -> UrlSource:
    return UrlSource(
        f"https://media.test/{name}.mp3?emulator_duration={seconds:g}", "audio", duration=seconds
    )


def base_name(source: UrlSource) -> str:
    item = prepare_item(source, None)
    assert isinstance(item, PreparedItem)
    return item.name


@contextlib.asynccontextmanager
async def emulated(limit: int, **config: Any) -> AsyncIterator[tuple[Emulator, SymblClient]]:
    async with Emulator(time_scale=SCALE, concurrency_limit=limit, **config) as emu, SymblClient(
        app_id=emu.app_id, app_secret=emu.app_secret, base_url=emu.url,
        poll=PollSchedule(time_scale=SCALE),
    ) as client:
        yield emu, client


async def collect(run: BatchRun) -> list[BatchResult]:
    async with run:
        return [result async for result in run]


class Faults:
    """Replaces ``client.submit_audio_url``: each URL marker gets its faults in turn.

    ``503``, ``no-connection``, ``400``: raised before the service sees the submit.
    ``500-after``, ``lost-after``: the job is created, then the answer is an error (once the
    job has ended, so reading its messages never races the job).
    ``held``: the answer is lost at once, and the request reaches the service 0.3 s later.
    """

    def __init__(self, client: SymblClient, plan: dict[str, list[str]]) -> None:
        self.client = client
        self.real = client.submit_audio_url
        self.plan = {marker: list(faults) for marker, faults in plan.items()}
        self.names: list[str] = []
        self.late: list[asyncio.Task[Job]] = []

    async def submit(self, source_url: str, **kwargs: Any) -> Job:
        name = kwargs["options"].name
        self.names.append(name)
        fault = next(
            (faults.pop(0) for marker, faults in self.plan.items()
             if marker in source_url and faults),
            None,
        )
        if fault == "503":
            raise ServerError(503, "Service Unavailable")
        if fault == "no-connection":
            raise SymblConnectionError("cannot connect to the service")
        if fault == "400":
            raise BadRequestError(400, "the URL is not reachable")
        if fault == "held":
            async def land() -> Job:
                await asyncio.sleep(0.3)
                return await self.real(source_url, **kwargs)

            self.late.append(asyncio.ensure_future(land()))
            raise SubmitOutcomeUnknownError("timed out before the service answered", name=name)
        job = await self.real(source_url, **kwargs)
        if fault in ("500-after", "lost-after"):
            with contextlib.suppress(JobFailedError):
                await self.client.wait(job)
            if fault == "500-after":
                raise ServerError(500, "Internal Server Error")
            raise SubmitOutcomeUnknownError("connection reset after the body", name=name)
        return job


def jobs_per_item(emu: Emulator, sources: list[UrlSource]) -> dict[str, int]:
    """How many jobs the emulator made for each source (its attempts' names share a base)."""
    counts: collections.Counter[str] = collections.Counter()
    bases = {base_name(s): s.url for s in sources}
    for job in emu.jobs():
        base = str(job["name"]).rsplit("-", 1)[0]
        counts[bases.get(base, base)] += 1
    return {s.url: counts[s.url] for s in sources}


def fast_slots(limit: int) -> JobSlots:
    return JobSlots(limit, backoff_base=0.005, backoff_cap=0.05)


async def test_a_job_created_before_an_error_answer_is_found_not_paid_twice(
    monkeypatch: pytest.MonkeyPatch, ledgers: Ledgers
) -> None:
    sources = [url(f"after{i}") for i in range(12)]
    plan = {f"after{i}.": ["500-after" if i % 2 else "lost-after"] for i in range(8)}
    async with emulated(3) as (emu, client):
        faults = Faults(client, plan)
        monkeypatch.setattr(client, "submit_audio_url", faults.submit)
        run = process_many(client, sources, slots=fast_slots(3), lookup_grace=0,
                           ledger=ledgers.arg())
        results = await collect(run)
        per_item = jobs_per_item(emu, sources)
        stats = emu.stats()
    assert {r.status for r in results} == {"fetched"}
    assert set(per_item.values()) == {1}  # each recording paid once
    assert stats["max_concurrent_jobs"] <= 3
    assert run.summary is not None and run.summary.found_by_name == 8


async def test_not_created_answers_are_resent_with_backoff_never_failed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ledgers: Ledgers
) -> None:
    sources = [url("busy"), url("down"), url("fine")]
    plan = {"busy.": ["503", "503", "503"], "down.": ["no-connection", "503"]}
    async with emulated(2) as (emu, client):
        faults = Faults(client, plan)
        monkeypatch.setattr(client, "submit_audio_url", faults.submit)
        run = process_many(client, sources, slots=fast_slots(2), out_dir=tmp_path,
                           ledger=ledgers.arg())
        results = await collect(run)
        per_item = jobs_per_item(emu, sources)
    assert {r.status for r in results} == {"fetched"}
    assert set(per_item.values()) == {1}
    assert run.summary is not None and run.summary.submits == 3 + 5
    # Every attempt carried its own name, recorded before it was sent.
    assert len(faults.names) == len(set(faults.names)) == 8
    assert sorted(n.rsplit("-", 1)[1] for n in faults.names if base_name(sources[0]) in n) == [
        "1", "2", "3", "4"
    ]


async def test_a_refused_submit_fails_with_the_service_reason(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ledgers: Ledgers
) -> None:
    sources = [url("refused"), url("ok")]
    async with emulated(2) as (emu, client):
        faults = Faults(client, {"refused.": ["400"]})
        monkeypatch.setattr(client, "submit_audio_url", faults.submit)
        results = await collect(process_many(client, sources, slots=fast_slots(2),
                                             out_dir=tmp_path, ledger=ledgers.arg()))
        per_item = jobs_per_item(emu, sources)
    by_index = {r.index: r for r in results}
    assert by_index[0].status == "failed" and "not reachable" in (by_index[0].error or "")
    assert by_index[1].status == "fetched"
    assert per_item == {sources[0].url: 0, sources[1].url: 1}
    assert (await ledgers.counts())["failed"] == 1


async def test_a_held_submit_is_awaited_for_the_grace_period_not_resent(
    monkeypatch: pytest.MonkeyPatch, ledgers: Ledgers
) -> None:
    sources = [url("held")]
    async with emulated(2) as (emu, client):
        faults = Faults(client, {"held.": ["held"]})
        monkeypatch.setattr(client, "submit_audio_url", faults.submit)
        # The request lands 0.3 s after the client gave up (the first lookup, at once, finds
        # nothing); the next lookup comes at the end of the grace, 3 s.
        run = process_many(client, sources, slots=fast_slots(2), lookup_grace=3.0,
                           ledger=ledgers.arg())
        results = await collect(run)
        await asyncio.gather(*faults.late)
        per_item = jobs_per_item(emu, sources)
    assert per_item == {sources[0].url: 1}
    assert len(faults.names) == 1
    assert results[0].status == "fetched" and results[0].job_id is None


async def test_an_unknown_outcome_is_durable_and_not_a_failure(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ledgers: Ledgers
) -> None:
    sources = [url("unknown")]
    async with emulated(2) as (emu, client):
        faults = Faults(client, {"unknown.": ["held"]})
        monkeypatch.setattr(client, "submit_audio_url", faults.submit)
        run = process_many(client, sources, slots=fast_slots(2), out_dir=tmp_path,
                           lookup_grace=600, ledger=ledgers.arg())
        consumer = asyncio.ensure_future(collect(run))
        await eventually(lambda: _is(ledgers, "unknown"))
        await asyncio.gather(*faults.late)  # the job exists now; the run is in its grace
        run.stop()
        first = await consumer
        assert await ledgers.state_of() == "unknown"  # not failed, not forgotten
        await emu.wait_idle()
        # A rerun, the grace elapsed, finds the job by the attempt's name; nothing is resent,
        # even with retry_failed: an unknown attempt is looked up first, never retried blind.
        again = await collect(process_many(client, sources, slots=fast_slots(2),
                                           out_dir=tmp_path, lookup_grace=0, retry_failed=True,
                                           ledger=ledgers.arg()))
        per_item = jobs_per_item(emu, sources)
    assert first == [] and run.summary is not None and run.summary.interrupted
    assert per_item == {sources[0].url: 1} and len(faults.names) == 1
    assert again[0].status == "fetched" and again[0].job_id is None


async def _is(ledgers: Ledgers, state: str) -> bool:
    return await ledgers.state_of() == state


async def test_retry_failed_never_adopts_the_old_failed_attempt(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ledgers: Ledgers
) -> None:
    bad = UrlSource(FAILING_URL, "audio")
    async with emulated(2, fail_inputs={FAILING_URL}) as (emu, client):
        first = await collect(process_many(client, [bad], slots=fast_slots(2), out_dir=tmp_path,
                                           ledger=ledgers.arg()))
        faults = Faults(client, {"broken.": ["lost-after"]})
        monkeypatch.setattr(client, "submit_audio_url", faults.submit)
        # The adopted job (no job id) failed: its insights never become final, so the wait
        # ends at its deadline with the item unresolved.
        second = await collect(process_many(client, [bad], slots=fast_slots(2), out_dir=tmp_path,
                                            retry_failed=True, lookup_grace=0, wait_timeout=1.0,
                                            ledger=ledgers.arg()))
        jobs = emu.jobs()
    assert first[0].status == "failed" and len(jobs) == 2
    assert jobs[0]["name"] != jobs[1]["name"]
    # The retry's lost answer was looked up under the retry's own name.
    assert second[0].conversation_id == jobs[1]["conversationId"] != jobs[0]["conversationId"]
    assert "unresolved" in (second[0].error or "").lower()
    # Never 'failed' while the job may run: the run ended before no job could still run.
    assert (await ledgers.counts())["submitted"] == 1


async def test_hiccups_on_the_job_status_never_fail_an_item(
    monkeypatch: pytest.MonkeyPatch, ledgers: Ledgers
) -> None:
    sources = [url(f"hiccup{i}") for i in range(6)]
    async with emulated(3) as (emu, client):
        real = client.get_job
        seen: collections.Counter[str] = collections.Counter()

        async def flaky(job_id: str) -> Any:
            seen[job_id] += 1
            if seen[job_id] == 1:
                raise NotFoundError(404, f"Job with {job_id} not found")
            if seen[job_id] == 2:
                raise ServerError(502, "Bad Gateway")
            return await real(job_id)

        monkeypatch.setattr(client, "get_job", flaky)
        results = await collect(process_many(client, sources, slots=fast_slots(3),
                                             wait_mode="poll", ledger=ledgers.arg()))
        per_item = jobs_per_item(emu, sources)
    assert {r.status for r in results} == {"fetched"}
    assert set(per_item.values()) == {1}
    assert min(seen.values()) >= 3  # every job had its two hiccups and was asked again


async def test_an_adopted_job_is_fetched_only_once_its_insights_are_final(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ledgers: Ledgers
) -> None:
    sources = [url("adopted", 120)]
    async with emulated(2) as (emu, client):
        faults = Faults(client, {"adopted.": ["lost-after"]})
        monkeypatch.setattr(client, "submit_audio_url", faults.submit)
        api = client.conversations
        real_messages, real_summary = api.messages, api.summary
        summaries = 0

        async def summary(conversation_id: str, **kwargs: Any) -> Any:
            # The job is "in progress" for the first three asks: 404, as the docs say.
            nonlocal summaries
            summaries += 1
            if summaries <= 3:
                raise NotFoundError(404, "summary not ready")
            return await real_summary(conversation_id, **kwargs)

        async def messages(conversation_id: str, **kwargs: Any) -> Any:
            full = await real_messages(conversation_id, **kwargs)
            return full if summaries > 3 else full[: len(full) // 2]  # partial meanwhile

        monkeypatch.setattr(api, "summary", summary)
        monkeypatch.setattr(api, "messages", messages)
        results = await collect(process_many(client, sources, slots=fast_slots(2),
                                             out_dir=tmp_path, lookup_grace=0,
                                             ledger=ledgers.arg()))
        full = await real_messages(results[0].conversation_id or "")
        per_item = jobs_per_item(emu, sources)
    assert per_item == {sources[0].url: 1}
    assert results[0].status == "fetched" and results[0].recovered and results[0].job_id is None
    stored = json.loads(results[0].output_path.read_text())  # type: ignore[union-attr]
    assert len(stored["messages"]) == len(full) > 1  # never the partial transcript
    line = json.loads((tmp_path / "results.jsonl").read_text())
    assert line["recovered"] is True


async def test_a_rerun_long_after_the_attempt_still_judges_an_adopted_job(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ledgers: Ledgers
) -> None:
    # A run gives up on an adopted job (no job id; its wait timed out). The rerun comes an
    # hour after the attempt, much later than the wait timeout: its wait's deadline counts
    # from the rerun, so it reads the job again and fetches it. (Counted from the attempt,
    # the rerun's only read was the deadline's: one read, never two equal ones, so the item
    # stayed "unresolved" in every rerun although its job had completed.)
    sources = [url("late-rerun", 120)]
    async with emulated(2) as (emu, client):
        faults = Faults(client, {"late-rerun.": ["lost-after"]})
        monkeypatch.setattr(client, "submit_audio_url", faults.submit)
        api = client.conversations
        real_summary = api.summary

        async def in_progress(conversation_id: str, **kwargs: Any) -> Any:
            raise NotFoundError(404, "summary not ready")

        monkeypatch.setattr(api, "summary", in_progress)
        first = await collect(process_many(client, sources, slots=fast_slots(2),
                                           out_dir=tmp_path, lookup_grace=0, wait_timeout=0.2,
                                           ledger=ledgers.arg()))
        monkeypatch.setattr(api, "summary", real_summary)
        await ledgers.shift_times(3600)
        second = await collect(process_many(client, sources, slots=fast_slots(2),
                                            out_dir=tmp_path, wait_timeout=60,
                                            ledger=ledgers.arg()))
        per_item = jobs_per_item(emu, sources)
    assert first[0].status == "failed" and "Unresolved" in (first[0].error or "")
    assert second[0].status == "fetched" and second[0].recovered, second[0].error
    assert per_item == {sources[0].url: 1}


async def test_a_lost_answer_is_looked_up_at_once_not_after_the_grace(
    monkeypatch: pytest.MonkeyPatch, ledgers: Ledgers
) -> None:
    # Most lost answers are of jobs that exist: found at once, the item goes on. With the
    # lookup only after a ten-minute grace, this run would hold its slot for ten minutes.
    sources = [url("found-at-once")]
    async with emulated(2) as (emu, client):
        faults = Faults(client, {"found-at-once.": ["lost-after"]})
        monkeypatch.setattr(client, "submit_audio_url", faults.submit)
        run = process_many(client, sources, slots=fast_slots(2), lookup_grace=600.0,
                           ledger=ledgers.arg())
        results = await asyncio.wait_for(collect(run), 60.0)
        per_item = jobs_per_item(emu, sources)
    assert results[0].status == "fetched" and results[0].recovered
    assert per_item == {sources[0].url: 1}
    assert run.summary is not None and run.summary.found_by_name == 1


async def test_the_grace_counts_from_the_end_of_the_submit_not_its_intent(
    monkeypatch: pytest.MonkeyPatch, ledgers: Ledgers
) -> None:
    # The transport may resend a submit after a 503 (Retry-After, within its retry budget),
    # so the request that lands can leave long after the intent was recorded. Here the call
    # lasts 1 s, then its answer is lost; the request lands 0.3 s after that. Counted from
    # the intent (0.5 s), the grace was over before the call even ended: "not found", sent
    # again, paid twice.
    sources = [url("slow-call")]
    async with emulated(2) as (emu, client):
        real = client.submit_audio_url
        late: list[asyncio.Task[Job]] = []

        async def submit(source_url: str, **kwargs: Any) -> Job:
            await asyncio.sleep(1.0)  # the transport's own resends, after 503s

            async def land() -> Job:
                await asyncio.sleep(0.3)
                return await real(source_url, **kwargs)

            late.append(asyncio.ensure_future(land()))
            raise SubmitOutcomeUnknownError("timed out", name=kwargs["options"].name)

        monkeypatch.setattr(client, "submit_audio_url", submit)
        run = process_many(client, sources, slots=fast_slots(2), lookup_grace=0.8,
                           ledger=ledgers.arg())
        results = await collect(run)
        await asyncio.gather(*late, return_exceptions=True)
        per_item = jobs_per_item(emu, sources)
    assert per_item == {sources[0].url: 1}
    assert results[0].status == "fetched" and len(late) == 1


async def test_a_paid_jobs_insights_are_fetched_until_a_deadline_not_five_tries(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ledgers: Ledgers
) -> None:
    sources = [url(f"flaky-fetch{i}") for i in range(3)]
    async with emulated(3) as (emu, client):
        real = client.fetch_insights_json
        failures: collections.Counter[str] = collections.Counter()

        async def flaky(conversation_id: str, **kwargs: Any) -> Any:
            failures[conversation_id] += 1
            if failures[conversation_id] <= 6:  # more than any count of tries allowed before
                raise ServerError(502, "Bad Gateway")
            return await real(conversation_id, **kwargs)

        monkeypatch.setattr(client, "fetch_insights_json", flaky)
        results = await collect(process_many(client, sources, slots=fast_slots(3),
                                             out_dir=tmp_path, ledger=ledgers.arg()))
        per_item = jobs_per_item(emu, sources)
    assert {r.status for r in results} == {"fetched"}, [r.error for r in results]
    assert set(failures.values()) == {7} and set(per_item.values()) == {1}


async def test_a_job_found_by_name_that_failed_does_not_hold_its_slot_for_ever(
    monkeypatch: pytest.MonkeyPatch, ledgers: Ledgers
) -> None:
    # Limit 1: the first item's answer is lost and its job fails on the service; found by
    # name, it has no status to ask, and no transcript ever comes. Its slot is held only
    # until no job could still be running; then it is settled (failed: its job ended) and
    # the second item runs. (Held until the run ended, the second never ran: the batch
    # never ended.)
    bad = UrlSource(FAILING_URL, "audio", duration=60.0)
    sources = [bad, url("after-it", 60)]
    async with emulated(1, fail_inputs={FAILING_URL}) as (emu, client):
        faults = Faults(client, {"broken.": ["lost-after"]})
        monkeypatch.setattr(client, "submit_audio_url", faults.submit)
        run = process_many(client, sources, slots=fast_slots(1), lookup_grace=0,
                           wait_timeout=0.3, lookahead=2, ledger=ledgers.arg())
        results = await asyncio.wait_for(collect(run), 120.0)
        per_item = jobs_per_item(emu, sources)
        counts = await ledgers.counts()
    by_index = {r.index: r for r in results}
    assert by_index[0].status == "failed" and "Unresolved" in (by_index[0].error or "")
    assert by_index[1].status == "fetched"
    assert per_item == {bad.url: 1, sources[1].url: 1}
    assert counts["failed"] == 1 and counts["fetched"] == 1  # settled: its job had ended


async def test_a_rerun_settles_a_job_found_by_name_that_failed_and_retry_sends_it_again(
    monkeypatch: pytest.MonkeyPatch, ledgers: Ledgers
) -> None:
    # Seen in bench_chaos (poll mode): an item's answer was lost, it was found by name, and
    # its job failed on the service. Each rerun waited its wait timeout for insights that
    # never come, then began to settle it and was cancelled as it ended: the item stayed
    # 'submitted' through every rerun, never failed, never sent again. A rerun made once no
    # job of the item can still run settles it at once (failed: no transcript came), and a
    # rerun with retry_failed sends it again.
    source = url("fails-once")
    first_attempt = base_name(source) + "-1"
    async with emulated(2, fail_inputs={first_attempt}) as (emu, client):
        faults = Faults(client, {"fails-once": ["lost-after"]})
        monkeypatch.setattr(client, "submit_audio_url", faults.submit)
        first = await collect(process_many(client, [source], slots=fast_slots(2),
                                           lookup_grace=0, wait_timeout=0.3,
                                           ledger=ledgers.arg()))
        assert first[0].status == "failed" and "Unresolved" in (first[0].error or "")
        assert await ledgers.state_of() == "submitted"
        # Later: a client whose time scale makes the longest possible job (four hours of
        # media at the prior's speed, three times over) last milliseconds, so that no job of
        # the item can still be running when the rerun starts (the wait timeout, a floor
        # of that bound, is shorter than the first run was).
        async with SymblClient(
            app_id=emu.app_id, app_secret=emu.app_secret, base_url=emu.url,
            poll=PollSchedule(time_scale=SCALE * 1000),
        ) as later:
            rerun = await asyncio.wait_for(collect(process_many(
                later, [source], slots=fast_slots(2), lookup_grace=0, wait_timeout=0.3,
                ledger=ledgers.arg())), 60)
        assert rerun[0].status == "failed", rerun[0].error
        assert "no transcript came" in (rerun[0].error or ""), rerun[0].error
        assert await ledgers.state_of() == "failed"
        again = await collect(process_many(client, [source], slots=fast_slots(2),
                                           lookup_grace=0, retry_failed=True,
                                           ledger=ledgers.arg()))
        names = sorted(str(job["name"]) for job in emu.jobs())
    assert again[0].status == "fetched", again[0].error
    assert names == [first_attempt, base_name(source) + "-2"]  # the failed job, the retry


@pytest.fixture(params=["memory", pytest.param("postgres", marks=pytest.mark.system)])
def shared_ledger(request: pytest.FixtureRequest) -> str | None:
    """A ledger workers share: in memory (None), or a fresh PostgreSQL database's URL."""
    return str(request.getfixturevalue("pg_url")) if request.param == "postgres" else None


async def shared_workers(where: str | None) -> list[ItemStore]:
    """Two workers, "paused" and "other", of one shared ledger."""
    if where is None:
        ledger = MemoryLedger()
        return [MemoryStore(ledger, worker_id=name, shared=True) for name in ("paused", "other")]
    return [await PostgresStore.connect(where, worker_id=name) for name in ("paused", "other")]


async def test_a_worker_paused_before_its_submits_last_bytes_sends_nothing_once_adopted(
    monkeypatch: pytest.MonkeyPatch, shared_ledger: str | None,
) -> None:
    # Seen in a SIGSTOP test under load: a worker checked its lease, was stopped before its
    # submit's bytes went, and was woken after another worker had adopted the item, looked
    # it up by name (nothing: the bytes had not gone) and sent it again; the woken worker's
    # submit went too, and the recording was paid twice. Its body now checks the lease
    # right before its last bytes: the lease is gone, so they never go. (A SQLite ledger
    # has one process, no lease: nothing to adopt from a paused one.)
    lease = 0.6
    paused, other = await shared_workers(shared_ledger)
    stopped, resume = asyncio.Event(), asyncio.Event()
    renew = paused.heartbeat

    async def heartbeat() -> bool:  # a stopped process renews nothing
        if stopped.is_set():
            await resume.wait()
        return await renew()

    monkeypatch.setattr(paused, "heartbeat", heartbeat)
    source = url("paused")
    async with emulated(2) as (emu, client), SymblClient(
        app_id=emu.app_id, app_secret=emu.app_secret, base_url=emu.url,
        poll=PollSchedule(time_scale=SCALE),
    ) as other_client:
        real = client.submit

        async def stopped_on_the_way(*args: Any, **kwargs: Any) -> Job:
            # After the worker's lease check, before a byte of the submit goes out.
            stopped.set()
            await resume.wait()
            return await real(*args, **kwargs)

        monkeypatch.setattr(client, "submit", stopped_on_the_way)
        try:
            first = asyncio.ensure_future(collect(process_many(
                client, [source], slots=fast_slots(2), ledger=paused, lease=lease,
                lookup_grace=0)))
            await eventually(stopped.is_set, timeout=30)
            # Its lease runs out; the other worker adopts the item, finds no job by its
            # name, and sends it again (its own attempt name).
            second = asyncio.ensure_future(collect(process_many(
                other_client, [source], slots=fast_slots(2), ledger=other, lease=lease,
                lookup_grace=0)))
            await eventually(lambda: len(emu.jobs()) == 1, timeout=30)
            resume.set()
            with pytest.raises(LeaseLostError):
                await first
            results = await asyncio.wait_for(second, 60)
            per_item = jobs_per_item(emu, [source])
        finally:
            for store in (paused, other):
                await store.aclose()
    assert [r.status for r in results] == ["fetched"]
    assert per_item == {source.url: 1}  # paid once: the woken worker's bytes never went
