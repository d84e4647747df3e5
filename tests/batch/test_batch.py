"""process_many against the real emulator on 127.0.0.1: slots, order, failures, resume.

The behaviour tests run on every ledger (``ledgers``: SQLite, PostgreSQL, memory) and
assert the same outcome on each: the same results, the same jobs in the emulator's records.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import itertools
import json
import wave
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from _ledgers import Ledgers
from _polling import eventually

from symbl_async.batch._api import BatchRun, process_many
from symbl_async.batch._inputs import SourceError, UrlSource
from symbl_async.batch._items import PreparedItem, prepare_item, spec_of
from symbl_async.batch._ledger import (
    ItemState,
    LedgerItem,
    MemoryLedger,
    MemoryStore,
    Pending,
    attempt_name,
)
from symbl_async.batch._results import BatchEvent, BatchResult, ClaimStats, ClaimTimes
from symbl_async.batch._slots import JobSlots, longest_first
from symbl_async.client._client import SymblClient
from symbl_async.client._waiting import PollSchedule
from symbl_async.core._jobs import Job
from symbl_async.core._options import ProcessingOptions
from symbl_async.emulator import Emulator
from symbl_async.errors import AuthenticationError, SubmitOutcomeUnknownError, ValidationError

SCALE = 2000.0
FAILING_URL = "https://media.test/broken.mp3?emulator_duration=60"


def url(name: str, seconds: float) -> UrlSource:
    """A URL the emulator processes as ``seconds`` of media, with the length known to us."""
    return UrlSource(
        f"https://media.test/{name}.mp3?emulator_duration={seconds:g}", "audio", duration=seconds
    )


def fast_slots(limit: int) -> JobSlots:
    # The default backoff (1 s, cap 30 s) is for the real service; jobs here last milliseconds.
    return JobSlots(limit, backoff_base=0.005, backoff_cap=0.05)


@contextlib.asynccontextmanager
async def emulated(limit: int, **config: Any) -> AsyncIterator[tuple[Emulator, SymblClient]]:
    async with Emulator(time_scale=SCALE, concurrency_limit=limit, **config) as emu, SymblClient(
        app_id=emu.app_id,
        app_secret=emu.app_secret,
        base_url=emu.url,
        poll=PollSchedule(time_scale=SCALE),
    ) as client:
        yield emu, client


async def collect(run: BatchRun) -> list[BatchResult]:
    async with run:
        return [result async for result in run]


class Counting:
    """A lazy source of URL items that counts how far it was pulled."""

    def __init__(self, count: int | None, seconds: float = 60.0) -> None:
        self.count = count
        self.seconds = seconds
        self.pulled = 0

    def __iter__(self) -> Iterator[UrlSource]:
        for i in itertools.count() if self.count is None else range(self.count):
            self.pulled += 1
            yield url(f"lazy{i}", self.seconds)


async def test_inputs_taken_from_the_iterable_count_as_read_when_the_run_stops(
    tmp_path: Path, ledgers: Ledgers
) -> None:
    # The run stops while a group of inputs is being read (here: from inside the
    # iterable, at its 5th input): the rest of that group is taken from the iterable but
    # never admitted. ``read`` still says how far the iterable was consumed, so a caller
    # resuming it knows where; before, it counted only the inputs admitted.
    pulled = 0
    run: BatchRun | None = None

    def inputs() -> Iterator[UrlSource]:
        nonlocal pulled
        for i in range(100):
            pulled += 1
            if i == 4:
                assert run is not None
                run.stop()
            yield url(f"stopped{i}", 60.0)

    async with emulated(2) as (emu, client):
        run = process_many(client, inputs(), slots=fast_slots(2), out_dir=tmp_path,
                           ledger=ledgers.arg())
        results = await collect(run)
        submitted = emu.stats()["jobs_submitted"]
    assert run.summary is not None and run.summary.interrupted
    assert pulled > 5  # the group went on being read after the stop
    assert run.summary.progress.read == pulled
    assert results == [] and submitted == 0


async def test_keeps_within_the_limit_and_fetches_everything(
    tmp_path: Path, ledgers: Ledgers
) -> None:
    sources = [url(f"a{i}", 10 + (i * 37) % 60) for i in range(200)]
    events: list[BatchEvent] = []
    async with emulated(3) as (emu, client):
        run = process_many(
            client, sources, slots=fast_slots(3), out_dir=tmp_path, on_event=events.append,
            ledger=ledgers.arg(),
        )
        results = await collect(run)
        stats = emu.stats()
    assert sorted(r.index for r in results) == list(range(200))  # type: ignore[type-var]
    assert {r.status for r in results} == {"fetched"}
    assert stats["max_concurrent_jobs"] <= 3
    assert stats["jobs_submitted"] == 200
    assert all(r.output_path is not None and r.output_path.is_file() for r in results)
    assert all(r.insights is None for r in results)  # on disk only
    one = json.loads(results[0].output_path.read_text())  # type: ignore[union-attr]
    assert one["conversationId"] == results[0].conversation_id and one["messages"]
    lines = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert len(lines) == 200 and {line["status"] for line in lines} == {"fetched"}
    assert not (tmp_path / "results.jsonl.partial").exists()
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["fetched"] == 200 and summary["failed"] == 0
    assert summary["ledger"]["fetched"] == 200
    claims = summary["claims"]  # each item claimed once; a claim refills up to 3 slots
    assert claims["items"] == 200 and 200 / 3 <= claims["transactions"] <= 200 + 10
    assert 0 < claims["p50_seconds"] <= claims["p99_seconds"]
    assert run.summary is not None and run.summary.ok
    assert events[-1].kind == "finished" and events[-1].progress.fetched == 200
    assert max(e.progress.running for e in events) <= 3


async def test_429s_from_another_client_are_waited_out_and_counted(ledgers: Ledgers) -> None:
    async with emulated(3) as (emu, client), SymblClient(
        app_id=emu.app_id, app_secret=emu.app_secret, base_url=emu.url
    ) as other:
        # Two long jobs of another program hold 2 of the account's 3 slots (~2.5 s).
        for i in range(2):
            await other.submit_audio_url(f"https://media.test/long{i}.mp3?emulator_duration=20000")
        run = process_many(client, [url(f"s{i}", 30) for i in range(20)], slots=fast_slots(3),
                           ledger=ledgers.arg())
        results = await collect(run)
        stats = emu.stats()
    assert {r.status for r in results} == {"fetched"}
    assert stats["max_concurrent_jobs"] <= 3
    assert run.summary is not None
    assert run.summary.progress.rejected_429 > 0
    assert run.summary.progress.rejected_429 == stats["rejected_429"]
    assert json.loads(json.dumps(run.summary.to_json()))["rejected_429"] == stats["rejected_429"]
    assert run.summary.submits == 20 + stats["rejected_429"]


async def test_longest_jobs_go_first_within_the_lookahead(ledgers: Ledgers) -> None:
    durations = [10.0, 500.0, 50.0, 2000.0, 5.0, 300.0, 900.0, 1.0, 700.0]
    sources = [url(f"d{i}", d) for i, d in enumerate(durations)]
    async with emulated(1) as (emu, client):
        await collect(process_many(client, sources, slots=fast_slots(1), lookahead=3,
                                   ledger=ledgers.arg()))
        order = [job["mediaDuration"] for job in emu.jobs()]
    expected = [d async for d in longest_first(durations, duration=lambda d: d, window=3)]
    assert order == expected
    assert order != durations


async def test_the_first_submits_are_already_the_longest(ledgers: Ledgers) -> None:
    # Shortest first in the input: with the window filled before the first dispatch, the
    # four slots still go to the four longest recordings, not to the first four read.
    durations = [float(60 * (i + 1)) for i in range(12)]

    class Slow:
        """An input that yields control between items, as a real reader would."""

        def __aiter__(self) -> Slow:
            self.i = 0
            return self

        async def __anext__(self) -> UrlSource:
            if self.i == len(durations):
                raise StopAsyncIteration
            await asyncio.sleep(0)
            self.i += 1
            return url(f"s{self.i}", durations[self.i - 1])

    async with emulated(4) as (emu, client):
        await collect(process_many(client, Slow(), slots=fast_slots(4), lookahead=12,
                                   ledger=ledgers.arg()))
        order = [job["mediaDuration"] for job in emu.jobs()]
    assert sorted(order[:4]) == durations[-4:]


@pytest.mark.parametrize("lookahead", [None, 256])
async def test_the_default_lookahead_grows_with_the_slots(ledgers: Ledgers,
                                                          lookahead: int | None) -> None:
    # 20 slots: 320 inputs read ahead by default, so the longest recording, the 300th
    # input, is among the first claimed; a look-ahead of 256 starts it only after the
    # first wave, as the batch's last job.
    durations = [5000.0 if i == 299 else 10.0 for i in range(330)]
    sources = [url(f"g{i}", d) for i, d in enumerate(durations)]
    async with emulated(20) as (emu, client):
        run = process_many(client, sources, slots=fast_slots(20), lookahead=lookahead,
                           ledger=ledgers.arg())
        await collect(run)
        order = [job["mediaDuration"] for job in emu.jobs()]
    assert len(order) == 330
    first_wave = order[:20]
    assert (5000.0 in first_wave) is (lookahead is None)


async def test_the_input_is_read_lazily_a_bounded_window_ahead() -> None:
    source = Counting(100_000)
    async with emulated(2) as (emu, client):
        run = process_many(client, source, slots=fast_slots(2), lookahead=16)
        async with run:
            first = await anext(run)
            pulled_at_first = source.pulled
        submitted = emu.stats()["jobs_submitted"]
    assert first.status == "fetched"
    # lookahead + 2 x limit + 16 in flight at most, plus the few already done.
    assert pulled_at_first <= 16 + 2 * 2 + 16 + 8
    assert submitted <= 8
    assert run.summary is not None and run.summary.progress.read == source.pulled


async def test_ordered_results_come_in_input_order_with_a_bounded_buffer() -> None:
    source = Counting(40)
    durations = [600.0 if i % 7 == 0 else 20.0 for i in range(40)]
    items = [url(f"o{i}", d) for i, d in enumerate(durations)]

    def gen() -> Iterator[UrlSource]:
        for item in items:
            source.pulled += 1
            yield item

    ahead = []
    async with emulated(3) as (_, client):
        run = process_many(client, gen(), slots=fast_slots(3), lookahead=4, ordered=True)
        got = []
        async with run:
            async for result in run:
                got.append(result.index)
                ahead.append(source.pulled - len(got))
    assert got == list(range(40))
    assert max(ahead) <= 4 + 2 * 3 + 16


async def test_item_failures_do_not_stop_the_batch(tmp_path: Path, ledgers: Ledgers) -> None:
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    notes = tmp_path / "notes.doc"  # (a .txt is a text conversation)
    notes.write_text("not media")
    sources: list[object] = [
        url("good1", 60),
        tmp_path / "missing.wav",
        "ftp://media.test/a.mp3",
        empty,
        notes,
        SourceError(message="source: is required", origin="m.csv", line=3, raw=",,"),
        UrlSource(FAILING_URL, "audio"),
        {"messages": [{"payload": {"content": "Hello there, see you Friday."}}]},
        url("good2", 60),
    ]
    async with emulated(3, fail_inputs={FAILING_URL}) as (_, client):
        results = await collect(process_many(client, sources, slots=fast_slots(3),
                                             ledger=ledgers.arg()))
    by_index = {r.index: r for r in results}
    assert [by_index[i].status for i in range(9)] == [
        "fetched", "failed", "failed", "failed", "failed", "failed", "failed", "fetched",
        "fetched",
    ]
    assert "missing.wav" in (by_index[1].error or "")
    assert "http" in (by_index[2].error or "")
    assert "empty" in (by_index[3].error or "")
    assert "not a supported" in (by_index[4].error or "")
    assert by_index[5].source == "m.csv line 3" and by_index[5].error == "source: is required"
    assert "failed" in (by_index[6].error or "") and by_index[6].job_id is not None
    assert by_index[7].insights is not None and by_index[7].insights.messages


async def test_a_second_run_skips_fetched_items_and_submits_nothing(
    tmp_path: Path, ledgers: Ledgers
) -> None:
    sources = [url(f"r{i}", 60) for i in range(12)]
    async with emulated(3) as (emu, client):
        first = await collect(process_many(client, sources, slots=fast_slots(3), out_dir=tmp_path,
                                           ledger=ledgers.arg()))
        submitted = emu.stats()["jobs_submitted"]
        second = await collect(process_many(client, sources, slots=fast_slots(3),
                                            out_dir=tmp_path, ledger=ledgers.arg()))
        assert emu.stats()["jobs_submitted"] == submitted == 12
    assert {r.status for r in first} == {"fetched"}
    assert {r.status for r in second} == {"skipped"}
    assert {r.output_path for r in second} == {r.output_path for r in first}
    lines = (tmp_path / "results.jsonl").read_text().splitlines()
    assert len(lines) == 12 and all(json.loads(line)["status"] == "skipped" for line in lines)


async def prepared(source: object) -> PreparedItem:
    item = prepare_item(source, None)
    assert isinstance(item, PreparedItem)
    return item


async def crashed_with(ledgers: Ledgers, sources: list[UrlSource]) -> list[LedgerItem]:
    """An earlier run's worker that claimed these items (their first attempts' intents are
    committed) and is gone."""
    store = await ledgers.open()
    await store.join(max_limit=10, lease=30.0)
    items = [await prepared(source) for source in sources]
    await store.add_pending([Pending(i.key, i.label, i.name, i.duration, spec_of(i))
                             for i in items])
    rows = await store.claim(len(items), [i.key for i in items])
    await store.leave()
    return rows


async def test_an_item_left_submitting_is_found_by_name_not_submitted_again(
    ledgers: Ledgers,
) -> None:
    lost, never_sent = url("lost", 120), url("never-sent", 120)
    async with emulated(3) as (emu, client):
        rows = await crashed_with(ledgers, [lost, never_sent])
        # A crash right after this submit was sent: the intent is in the ledger, the job
        # exists. The other one crashed before its submit was sent: the intent only.
        item, other = await prepared(lost), await prepared(never_sent)
        await client.submit_audio_url(
            lost.url, options=item.options.replace(name=rows[0].attempt_name))
        # The submit "never sent" was a moment ago: no grace needed here (no request is in
        # flight), so the lookup's "not found" means no job at once.
        run = process_many(
            client, [lost, never_sent, url("new", 60)], slots=fast_slots(3),
            ledger=ledgers.arg(), lookup_grace=0,
        )
        results = await collect(run)
        by_name = emu.stats()["submits_by_name"]
    assert {r.status for r in results} == {"fetched"}
    assert by_name[attempt_name(item.name, 1)] == 1
    # Sent once, under its second attempt's name (the first attempt's was never sent).
    assert by_name[attempt_name(other.name, 2)] == 1
    assert attempt_name(other.name, 1) not in by_name
    assert sorted(by_name.values()) == [1, 1, 1]
    assert run.summary is not None and run.summary.found_by_name == 1
    found = next(r for r in results if r.index == 0)
    assert found.job_id is None and found.conversation_id is not None


async def test_a_lost_submit_answer_is_looked_up_by_name(
    monkeypatch: pytest.MonkeyPatch, ledgers: Ledgers
) -> None:
    async with emulated(3) as (emu, client):
        real = client.submit_audio_url
        lost = 0

        async def answer_lost(source_url: str, **kwargs: Any) -> Job:
            nonlocal lost
            job = await real(source_url, **kwargs)
            if "lose" in source_url:
                lost += 1
                name = kwargs["options"].name
                # The answer is lost once the job has ended, so the lookup's first read of
                # the messages finds them however slow this machine is (no race with the
                # found-by-name patience, which is milliseconds at this time scale).
                await client.wait(job)
                raise SubmitOutcomeUnknownError("connection lost after the body", name=name)
            return job

        monkeypatch.setattr(client, "submit_audio_url", answer_lost)
        run = process_many(client, [url("lose-me", 60), url("keep", 60)], slots=fast_slots(3),
                           lookup_grace=0, ledger=ledgers.arg())
        results = await collect(run)
        by_name = emu.stats()["submits_by_name"]
    assert lost == 1
    assert {r.status for r in results} == {"fetched"}
    assert sorted(by_name.values()) == [1, 1]
    assert run.summary is not None and run.summary.found_by_name == 1


async def test_a_wait_timeout_keeps_the_slot_until_the_job_ends(ledgers: Ledgers) -> None:
    # ~0.5 s of processing at this scale; the wait gives up after 0.1 s.
    long, short = url("long", 4000), url("short", 10)
    async with emulated(1) as (emu, client):
        slots = fast_slots(1)
        run = process_many(
            client, [long, short], slots=slots, ledger=ledgers.arg(), wait_timeout=0.1,
            lookahead=2,
        )
        results = await collect(run)
        jobs = {job["mediaDuration"]: job for job in emu.jobs()}
        # The short job could only start once the long one had ended: its slot was kept.
        assert jobs[10.0]["submittedAt"] >= jobs[4000.0]["finishedAt"]
        assert emu.stats()["rejected_429"] == 0
        assert slots.in_use == 0
        by_index = {r.index: r for r in results}
        assert by_index[0].status == "failed" and "stays 'submitted'" in (by_index[0].error or "")
        assert by_index[1].status == "fetched"
        assert (await ledgers.counts())["completed"] == 1  # recorded by the watcher
        # A rerun fetches it without submitting it again.
        again = await collect(process_many(client, [long, short], slots=fast_slots(1),
                                           ledger=ledgers.arg()))
        assert emu.stats()["jobs_submitted"] == 2
    assert [r.status for r in sorted(again, key=lambda r: r.index or 0)] == ["fetched", "skipped"]


async def test_a_batch_ending_while_a_timed_out_job_runs_leaves_it_submitted(
    ledgers: Ledgers,
) -> None:
    long = url("long", 4000)
    async with emulated(2) as (emu, client):
        run = process_many(client, [long], slots=fast_slots(2), ledger=ledgers.arg(),
                           wait_timeout=0.1)
        results = await collect(run)
        assert run.summary is not None and run.summary.still_running == 1
        assert run.summary.progress.running == 1
        assert results[0].status == "failed"
        assert (await ledgers.counts())["submitted"] == 1
        # The rerun waits for the job still running; nothing is submitted again.
        again = await collect(process_many(client, [long], slots=fast_slots(2),
                                           ledger=ledgers.arg()))
        assert emu.stats()["jobs_submitted"] == 1
    assert again[0].status == "fetched"


async def test_same_key_twice_is_processed_once_and_reported_twice(ledgers: Ledgers) -> None:
    twin = url("twin", 60)
    async with emulated(3) as (emu, client):
        run = process_many(client, [twin, url("x", 60), twin], slots=fast_slots(3),
                           ledger=ledgers.arg())
        results = await collect(run)
        assert emu.stats()["jobs_submitted"] == 2
    by_index = {r.index: r for r in results}
    assert by_index[0].status == by_index[2].status == "fetched"
    assert by_index[2].duplicate and not by_index[0].duplicate
    assert by_index[0].conversation_id == by_index[2].conversation_id
    assert run.summary is not None and run.summary.duplicates == 1


async def test_a_rerun_reports_each_input_of_a_finished_item_as_itself(
    ledgers: Ledgers,
) -> None:
    # A rerun's finished items are reported from the ledger's rows: each input with its own
    # index and label, the same item named again (by its key, under another URL) marked a
    # duplicate, nothing paid again.
    first, other = url("first", 60), url("other", 60)
    alias = UrlSource("https://media.test/alias.mp3?emulator_duration=60", "audio",
                      key="shared-key", duration=60)
    again_alias = UrlSource("https://media.test/alias-2.mp3?emulator_duration=60", "audio",
                            key="shared-key", duration=60)
    async with emulated(3) as (emu, client):
        await collect(process_many(client, [first, alias, other], slots=fast_slots(3),
                                   ledger=ledgers.arg()))
        rerun = await collect(process_many(client, [other, again_alias, first, alias],
                                           slots=fast_slots(3), ledger=ledgers.arg()))
        assert emu.stats()["jobs_submitted"] == 3
    assert sorted((r.index, r.source, r.status, r.duplicate) for r in rerun) == [
        (0, other.url, "skipped", False), (1, again_alias.url, "skipped", False),
        (2, first.url, "skipped", False), (3, alias.url, "skipped", True)]
    assert {r.key for r in rerun if r.index in (1, 3)} == {"shared-key"}


async def test_failed_items_are_retried_only_when_asked(
    tmp_path: Path, ledgers: Ledgers
) -> None:
    bad = UrlSource(FAILING_URL, "audio")
    async with emulated(3, fail_inputs={FAILING_URL}) as (emu, client):
        kwargs: dict[str, Any] = {"slots": fast_slots(3), "out_dir": tmp_path}
        first = await collect(process_many(client, [bad], ledger=ledgers.arg(), **kwargs))
        second = await collect(process_many(client, [bad], ledger=ledgers.arg(), **kwargs))
        assert emu.stats()["jobs_submitted"] == 1
        third = await collect(process_many(client, [bad], retry_failed=True,
                                           ledger=ledgers.arg(), **kwargs))
        assert emu.stats()["jobs_submitted"] == 2
    assert first[0].status == second[0].status == third[0].status == "failed"
    assert "earlier run" in (second[0].error or "") and "retry" in (second[0].error or "")


async def test_stop_lets_submits_settle_and_a_rerun_finishes(
    tmp_path: Path, ledgers: Ledgers
) -> None:
    sources = [url(f"st{i}", 600) for i in range(30)]
    async with emulated(3) as (emu, client):
        run = process_many(client, sources, slots=fast_slots(3), out_dir=tmp_path,
                           ledger=ledgers.arg())
        async with run:
            async for _ in run:
                run.stop()
        assert run.summary is not None and run.summary.interrupted
        counts = await ledgers.counts()
        assert counts["submitting"] == 0
        assert counts["fetched"] < 30
        # What the summary says is still running is what the ledger holds in flight.
        assert run.summary.still_running == counts["submitted"] + counts["unknown"]
        rest = await collect(process_many(client, sources, slots=fast_slots(3), out_dir=tmp_path,
                                          ledger=ledgers.arg()))
        by_name = emu.stats()["submits_by_name"]
    assert {r.status for r in rest} <= {"fetched", "skipped"} and len(rest) == 30
    assert len(by_name) == 30 and set(by_name.values()) == {1}


class HeldClaims(MemoryStore):
    """A store whose next claim commits, then answers only when the test lets it (a
    database that took the transaction while its answer is still on the way)."""

    def __init__(self, ledger: MemoryLedger, **kwargs: Any) -> None:
        super().__init__(ledger, **kwargs)
        self.held = asyncio.Event()
        self.go = asyncio.Event()
        self.recorded = asyncio.Event()  # an add_pending answered while the claim is held
        self.claimed: list[str] = []

    async def add_pending(self, items: Any) -> list[LedgerItem]:
        rows = await super().add_pending(items)
        if self.held.is_set() and not self.go.is_set():
            self.recorded.set()
        return rows

    async def claim(self, most: int, candidates: Any = None, **kw: Any) -> list[LedgerItem]:
        rows = await super().claim(most, candidates, **kw)
        if rows and not self.held.is_set():
            self.claimed = [row.key for row in rows]
            self.held.set()
            await self.go.wait()
        return rows


async def test_a_stop_while_a_claim_commits_releases_what_it_claimed(tmp_path: Path) -> None:
    # stop() cancelled the dispatcher inside its claim: the claimed items stayed
    # submitting with nobody to send or release them (seen on PostgreSQL under load).
    sources = [url(f"cl{i}", 600) for i in range(6)]
    ledger = MemoryLedger()
    async with emulated(3) as (emu, client):
        store = HeldClaims(ledger)
        run = process_many(client, sources, slots=fast_slots(3), out_dir=tmp_path,
                           ledger=store)

        async def consume() -> list[BatchResult]:
            async with run:
                return [r async for r in run]

        task = asyncio.ensure_future(consume())
        await store.held.wait()
        run.stop()
        store.go.set()
        await task
        assert run.summary is not None and run.summary.interrupted
        counts = await MemoryStore(ledger).counts()
        assert len(store.claimed) == 3
        assert counts["submitting"] == 0 and counts["pending"] == 6, counts
        assert emu.stats()["jobs_submitted"] == 0  # nothing was sent
        rest = await collect(process_many(client, sources, slots=fast_slots(3),
                                          out_dir=tmp_path, ledger=MemoryStore(ledger)))
        by_name = emu.stats()["submits_by_name"]
    assert {r.status for r in rest} == {"fetched"} and len(rest) == 6
    assert len(by_name) == 6 and set(by_name.values()) == {1}


async def test_an_input_recorded_while_its_claim_is_answered_is_waited_for(
    tmp_path: Path,
) -> None:
    # Seen in bench_workers (4 workers on PostgreSQL): a worker recorded an input whose
    # item its own claim, still on the way back, had just taken. This worker's, in flight,
    # no task yet: it looked given up and was reported failed while it was being sent.
    source = url("raced", 300)
    item = await prepared(source)
    ledger = MemoryLedger()
    other = MemoryStore(ledger, worker_id="other", shared=True)  # it recorded the item
    await other.join(max_limit=1, lease=60.0)
    await other.add_pending([Pending(item.key, item.label, item.name, 300.0, spec_of(item))])
    store = HeldClaims(ledger, worker_id="me", shared=True)

    async def late() -> AsyncIterator[UrlSource]:
        await store.held.wait()  # this worker's claim of it has committed
        yield source

    async with emulated(1) as (emu, client):
        run = process_many(client, late(), slots=fast_slots(1), out_dir=tmp_path,
                           ledger=store, lookahead=1)

        async def consume() -> list[BatchResult]:
            async with run:
                return [r async for r in run]

        task = asyncio.ensure_future(consume())
        await store.recorded.wait()  # the input's row says: submitting, mine
        store.go.set()
        results = await task
        stats = emu.stats()
    assert store.claimed == [item.key]
    assert [(r.status, r.error) for r in results] == [("fetched", None)]
    assert stats["jobs_submitted"] == 1


class CountedRefills(MemoryStore):
    """A shared store counting the items taken by plain claims and by job ends."""

    def __init__(self, ledger: MemoryLedger, worker_id: str) -> None:
        super().__init__(ledger, worker_id=worker_id, shared=True)
        self.claimed = self.refilled = 0

    async def claim(self, most: int, candidates: Any = None, **kw: Any) -> list[LedgerItem]:
        rows = await super().claim(most, candidates, **kw)
        self.claimed += len(rows)
        return rows

    async def end_and_claim(
        self, row: LedgerItem, change: Any, **kw: Any
    ) -> tuple[LedgerItem, list[LedgerItem]]:
        ended, taken = await super().end_and_claim(row, change, **kw)
        self.refilled += len(taken)
        return ended, taken


async def test_a_shared_workers_job_end_refills_its_slot_in_the_same_move(
    tmp_path: Path,
) -> None:
    # Alone on a shared ledger, a worker's share is every slot: each job's end takes the
    # next item as it is recorded, and only the first wave is claimed on its own.
    sources = [url(f"rf{i}", 60.0 * (1 + i)) for i in range(8)]
    store = CountedRefills(MemoryLedger(), "alone")
    async with emulated(2) as (emu, client):
        results = await collect(process_many(client, sources, slots=fast_slots(2),
                                             out_dir=tmp_path, ledger=store))
        stats = emu.stats()
    assert sorted(r.status for r in results) == ["fetched"] * 8
    assert (store.claimed, store.refilled) == (2, 6)
    assert stats["jobs_submitted"] == 8 and set(stats["submits_by_name"].values()) == {1}
    assert stats["max_concurrent_jobs"] == 2 and stats["rejected_429"] == 0


@contextlib.asynccontextmanager
async def traced(limit: int) -> AsyncIterator[tuple[Emulator, SymblClient, list[str]]]:
    """``emulated``, with the client's requests in order: "METHOD path" as each starts,
    "answered METHOD path" as its answer comes (aiohttp's request tracing)."""
    log: list[str] = []

    async def on_start(_: Any, __: Any, params: aiohttp.TraceRequestStartParams) -> None:
        log.append(f"{params.method} {params.url.path}")

    async def on_end(_: Any, __: Any, params: aiohttp.TraceRequestEndParams) -> None:
        log.append(f"answered {params.method} {params.url.path}")

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_start)
    trace.on_request_end.append(on_end)
    async with Emulator(time_scale=SCALE, concurrency_limit=limit) as emu, aiohttp.ClientSession(
        trace_configs=[trace]
    ) as session, SymblClient(app_id=emu.app_id, app_secret=emu.app_secret, base_url=emu.url,
                              poll=PollSchedule(time_scale=SCALE), session=session) as client:
        yield emu, client, log


@pytest.fixture
def patient_fetches(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fetch gate's bound (0.2 s, so that a fetch never starves) lifted: the order of
    fetches and refills then depends on the gate alone, not on how fast this machine is."""
    from symbl_async.batch import _worker

    monkeypatch.setattr(_worker, "FetchGate", functools.partial(_worker.FetchGate, wait=60.0))


@pytest.mark.usefixtures("patient_fetches")
async def test_an_ended_jobs_fetch_waits_for_the_claim_and_submit_refilling_its_slot(
    tmp_path: Path, ledgers: Ledgers
) -> None:
    # Measured (bench_workers): fetches that ran while the refill's claim was in the ledger
    # doubled the time from a job's end seen to its slot's next submit. One slot, two
    # items: the first job's insight GETs start after the second's submit was answered.
    # Each ledger takes another path: SQLite's claim waits for its thread (the dispatcher's
    # claim holds the gate), memory's records without a pause (the fetch looks a turn
    # later; the claim's hold passes to the submit), PostgreSQL refills in the job's end.
    async with traced(1) as (emu, client, log):
        results = await collect(process_many(
            client, [url("first", 120.0), url("second", 60.0)], slots=fast_slots(1),
            out_dir=tmp_path, ledger=ledgers.arg()))
        stats = emu.stats()
    assert sorted(r.status for r in results) == ["fetched", "fetched"]
    assert stats["jobs_submitted"] == 2 and stats["max_concurrent_jobs"] == 1
    submits = [i for i, line in enumerate(log) if line == "POST /v1/process/audio/url"]
    insights = [i for i, line in enumerate(log)
                if line.startswith("GET /v1/conversations/")]
    assert len(submits) == 2 and insights, log
    second_answered = log.index("answered POST /v1/process/audio/url", submits[1])
    assert insights[0] > second_answered, log


async def test_a_worker_joining_late_gets_its_share_of_the_slots(tmp_path: Path) -> None:
    # Worker a holds all 4 slots when b joins. Past its share (4 slots / 2 workers), a
    # refills neither in its jobs' ends nor at once by a plain claim: b takes what a frees.
    scale = 200.0  # jobs of about a second: b joins while a's first wave runs
    sources = [url(f"late{i}", 600.0) for i in range(16)]
    ledger = MemoryLedger()
    a, b = CountedRefills(ledger, "a"), CountedRefills(ledger, "b")

    def held_by(worker: str) -> int:
        return sum(1 for r in ledger.items.values()
                   if r.owner == worker and r.state in (ItemState.SUBMITTING,
                                                        ItemState.SUBMITTED))

    async with Emulator(time_scale=scale, concurrency_limit=4) as emu, SymblClient(
        app_id=emu.app_id, app_secret=emu.app_secret, base_url=emu.url,
        poll=PollSchedule(time_scale=scale),
    ) as client:
        first = asyncio.ensure_future(collect(process_many(
            client, sources, slots=fast_slots(4), out_dir=tmp_path / "a", ledger=a)))
        await eventually(lambda: held_by("a") == 4, timeout=30)
        second = asyncio.ensure_future(collect(process_many(
            client, sources, slots=fast_slots(4), out_dir=tmp_path / "b", ledger=b)))
        await eventually(lambda: held_by("b") >= 2, timeout=30)
        results = await first + await second
        stats = emu.stats()
    assert {r.status for r in results} == {"fetched"} and len(results) == 32
    assert stats["jobs_submitted"] == 16 and set(stats["submits_by_name"].values()) == {1}
    assert stats["max_concurrent_jobs"] <= 4 and stats["rejected_429"] == 0


class HeldRefill(HeldClaims):
    """A shared store whose first refill (not claim) commits, then answers only when the
    test lets it."""

    def __init__(self, ledger: MemoryLedger) -> None:
        super().__init__(ledger, worker_id="held", shared=True)

    async def claim(self, most: int, candidates: Any = None, **kw: Any) -> list[LedgerItem]:
        return await MemoryStore.claim(self, most, candidates, **kw)  # not held

    async def end_and_claim(
        self, row: LedgerItem, change: Any, **kw: Any
    ) -> tuple[LedgerItem, list[LedgerItem]]:
        ended, taken = await super().end_and_claim(row, change, **kw)
        if taken and not self.held.is_set():
            self.claimed = [r.key for r in taken]
            self.held.set()
            await self.go.wait()
        return ended, taken


async def test_a_stop_while_a_refill_commits_releases_what_it_claimed(tmp_path: Path) -> None:
    # stop() cancelled the task recording its job's end with a claim: the claimed item
    # stayed submitting with nobody to send or release it (seen on PostgreSQL under load).
    sources = [url(f"hr{i}", 60.0 * (1 + i)) for i in range(6)]
    ledger = MemoryLedger()
    async with emulated(2) as (emu, client):
        store = HeldRefill(ledger)
        run = process_many(client, sources, slots=fast_slots(2), out_dir=tmp_path,
                           ledger=store)
        task = asyncio.ensure_future(collect(run))
        await store.held.wait()
        run.stop()
        store.go.set()
        await task
        assert run.summary is not None and run.summary.interrupted
        (key,) = store.claimed
        counts = await MemoryStore(ledger).counts()
        assert counts["submitting"] == 0, counts
        assert ledger.items[key].state is ItemState.PENDING  # released: nothing was sent
        assert emu.stats()["jobs_submitted"] == 2
        rest = await collect(process_many(client, sources, slots=fast_slots(2),
                                          out_dir=tmp_path, ledger=MemoryStore(ledger)))
        by_name = emu.stats()["submits_by_name"]
    assert {r.status for r in rest} <= {"fetched", "skipped"} and len(rest) == 6
    assert len(by_name) == 6 and set(by_name.values()) == {1}


@pytest.mark.usefixtures("patient_fetches")
async def test_other_fetches_wait_for_a_refill_recorded_with_a_jobs_end(
    tmp_path: Path,
) -> None:
    # Two slots, two jobs of the same length, a third item pending: the first end takes it
    # in its refill (held); the second job's end is recorded meanwhile, and its fetch waits
    # for that refill's claim and submit too, not only for submits already on the wire.
    ledger = MemoryLedger()
    store = HeldRefill(ledger)
    async with traced(2) as (emu, client, log):
        run = process_many(client, [url("a", 120.0), url("b", 120.0), url("c", 60.0)],
                           slots=fast_slots(2), out_dir=tmp_path, ledger=store)
        task = asyncio.ensure_future(collect(run))
        await asyncio.wait_for(store.held.wait(), timeout=30)

        async def both_ended() -> bool:
            return (await MemoryStore(ledger).counts())["completed"] == 2

        await eventually(both_ended, timeout=30)  # the second end recorded: its fetch is next
        for _ in range(50):  # turns of the loop, for a fetch let loose to start its GETs
            await asyncio.sleep(0)
        store.go.set()
        results = await asyncio.wait_for(task, timeout=60)
        stats = emu.stats()
    assert sorted(r.status for r in results) == ["fetched"] * 3
    assert stats["jobs_submitted"] == 3 and stats["max_concurrent_jobs"] == 2
    answered = [i for i, line in enumerate(log) if line == "answered POST /v1/process/audio/url"]
    insights = [i for i, line in enumerate(log) if line.startswith("GET /v1/conversations/")]
    assert len(answered) == 3 and insights, log
    assert insights[0] > answered[2], log  # no insight GET before the refill's submit


async def test_an_input_recorded_while_a_refill_is_answered_is_waited_for(
    tmp_path: Path,
) -> None:
    # As with a claim: the refill that took the item has committed, its task not started
    # yet, when this worker's intake records the input that names it.
    first, second = url("first", 600), url("second", 60)
    item = await prepared(second)
    ledger = MemoryLedger()
    other = MemoryStore(ledger, worker_id="other", shared=True)  # it recorded the item
    await other.join(max_limit=1, lease=60.0)
    await other.add_pending([Pending(item.key, item.label, item.name, 60.0, spec_of(item))])
    store = HeldRefill(ledger)

    async def late() -> AsyncIterator[UrlSource]:
        yield first
        await store.held.wait()  # first's end took the second item in this worker's name
        yield second

    async with emulated(1) as (emu, client):
        task = asyncio.ensure_future(collect(process_many(
            client, late(), slots=fast_slots(1), out_dir=tmp_path, ledger=store,
            lookahead=1)))
        await store.recorded.wait()  # the input's row says: submitting, mine
        store.go.set()
        results = await task
        stats = emu.stats()
    assert store.claimed == [item.key]
    assert sorted((r.key, r.status, r.error) for r in results) == sorted([
        ((await prepared(first)).key, "fetched", None), (item.key, "fetched", None)])
    assert stats["jobs_submitted"] == 2


async def test_batch_options_and_source_options_make_distinct_items() -> None:
    base = ProcessingOptions(confidence_threshold=0.7)
    same_url = "https://media.test/opt.mp3?emulator_duration=30"
    sources = [
        UrlSource(same_url, "audio"),
        UrlSource(same_url, "audio", options={"confidenceThreshold": 0.9}),
    ]
    async with emulated(3) as (emu, client):
        results = await collect(
            process_many(client, sources, options=base, slots=fast_slots(3),
                         include=("messages",))
        )
        assert emu.stats()["jobs_submitted"] == 2
    assert results[0].key != results[1].key
    assert all(r.insights is not None and r.insights.topics is None for r in results)


async def test_an_async_iterable_of_plain_strings_works(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(1000)
        w.writeframes(b"\x80" * 20_000)

    async def gen() -> AsyncIterator[object]:
        yield str(path)
        yield "https://media.test/s.mp4?emulator_duration=30"

    async with emulated(3) as (emu, client):
        results = await collect(process_many(client, gen(), slots=fast_slots(3)))
        kinds = sorted(job["kind"] for job in emu.jobs())
    assert {r.status for r in results} == {"fetched"}
    assert kinds == ["audio", "video"]


async def test_bad_arguments_are_refused_before_anything_runs(tmp_path: Path) -> None:
    async with emulated(3) as (_, client):
        with pytest.raises(ValidationError):
            process_many(client, "one-string")
        with pytest.raises(ValidationError) as info:
            process_many(client, [], plan="free", max_concurrent_jobs=3)
        assert info.value.field == "plan"
        with pytest.raises(ValidationError):
            process_many(client, [], include=["nope"])
        with pytest.raises(ValidationError):
            process_many(client, [], lookahead=0)
        with pytest.raises(ValidationError) as info:
            process_many(client, [], lookup_grace=-1)
        assert info.value.field == "lookup_grace"
        blocker = tmp_path / "file"
        blocker.write_text("x")
        run = process_many(client, [url("x", 10)], out_dir=blocker / "out")
        with pytest.raises(ValidationError) as info:
            await anext(run)
        assert info.value.field == "out_dir"


async def test_wait_mode_is_passed_only_when_given(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[dict[str, Any]] = []
    async with emulated(3) as (_, client):
        real = client.wait

        async def wait(job: Job, **kwargs: Any) -> Any:
            seen.append(dict(kwargs))
            kwargs.pop("mode", None)
            return await real(job, **kwargs)

        monkeypatch.setattr(client, "wait", wait)
        await collect(process_many(client, [url("m1", 10)], slots=fast_slots(3)))
        await collect(process_many(client, [url("m2", 10)], slots=fast_slots(3),
                                   wait_mode="poll"))
    assert "mode" not in seen[0] and seen[1]["mode"] == "poll"


def test_results_serialise_to_the_jsonl_shape() -> None:
    result = BatchResult(key="k", index=3, source="s", status="failed", error="boom",
                         exception=RuntimeError("boom"))
    line = result.to_json()
    assert line["status"] == "failed" and line["error"] == "boom" and "exception" not in line
    assert not result.ok


async def test_ledger_states_after_a_run(ledgers: Ledgers) -> None:
    async with emulated(2, fail_inputs={FAILING_URL}) as (_, client):
        await collect(process_many(client, [url("ok", 10), UrlSource(FAILING_URL, "audio")],
                                   slots=fast_slots(2), ledger=ledgers.arg()))
    store = await ledgers.open()
    items = [item async for item in store.items()]
    assert sorted(item.state for item in items) == [ItemState.FAILED, ItemState.FETCHED]
    assert all(item.owner is None for item in items)  # nobody's: all done


async def test_cancelling_the_consumer_closes_everything(
    tmp_path: Path, ledgers: Ledgers
) -> None:
    async with emulated(2) as (_emu, client):
        run = process_many(client, Counting(None), slots=fast_slots(2), out_dir=tmp_path,
                           ledger=ledgers.arg())

        seen: list[BatchResult] = []

        async def consume() -> None:
            async for result in run:
                seen.append(result)

        task = asyncio.create_task(consume())
        # Cancel once the run has delivered a result (a fetched item), with more running.
        await eventually(lambda: len(seen) >= 1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await run.aclose()
    assert run.summary is not None
    assert (tmp_path / "results.jsonl").exists()
    assert (await ledgers.counts())["fetched"] >= 1


async def test_a_second_run_of_the_same_batch_at_once_is_refused(tmp_path: Path) -> None:
    sources = [url(f"lk{i}", 600) for i in range(6)]
    async with emulated(2) as (emu, client):
        first = process_many(client, sources, slots=fast_slots(2), out_dir=tmp_path)
        async with first:
            await anext(first)
            second = process_many(client, sources, slots=fast_slots(2), out_dir=tmp_path)
            with pytest.raises(ValidationError) as info:
                await anext(second)
            assert info.value.field == "ledger_path" and "in use" in info.value.rule
            submitted = emu.stats()["jobs_submitted"]
        # Once the first run has ended, the batch can be run again (and resumes).
        # A submit cut short when the first run stopped is of unknown outcome: looked up
        # after the grace period, which the emulator needs no more than a second of.
        rerun = process_many(
            client, sources, slots=fast_slots(2), out_dir=tmp_path, lookup_grace=1.0
        )
        rest = await collect(rerun)
        by_name = emu.stats()["submits_by_name"]
    assert submitted <= 6 and len(rest) == 6
    assert len(by_name) == 6 and set(by_name.values()) == {1}


@pytest.mark.parametrize(("mode", "rule"), [("hybrid", "receiver"), ("sometimes", "poll")])
async def test_bad_wait_mode_fails_before_anything_is_submitted(
    tmp_path: Path, mode: str, rule: str
) -> None:
    async with emulated(3) as (emu, client):
        with pytest.raises(ValidationError) as info:
            process_many(client, [url("a", 60)], out_dir=tmp_path, wait_mode=mode)
        assert info.value.field == "wait_mode"
        assert rule in str(info.value)
        assert emu.stats()["jobs_submitted"] == 0


async def test_client_process_many_delegates(tmp_path: Path) -> None:
    async with emulated(2) as (emu, client):
        run = client.process_many(
            [url("a", 60), url("b", 120)], slots=fast_slots(2), out_dir=tmp_path, wait_mode="poll"
        )
        results = await collect(run)
    assert sorted(r.status for r in results) == ["fetched", "fetched"]
    assert emu.stats()["jobs_submitted"] == 2
    assert all(r.output_path is not None and Path(r.output_path).exists() for r in results)


async def test_a_lost_or_broken_insights_file_is_fetched_again_not_resubmitted(
    tmp_path: Path, ledgers: Ledgers
) -> None:
    sources = [url(f"v{i}", 60) for i in range(4)]
    async with emulated(3) as (emu, client):
        first = await collect(process_many(client, sources, slots=fast_slots(3), out_dir=tmp_path,
                                           ledger=ledgers.arg()))
        paths = {r.index: r.output_path for r in first}
        assert paths[0] is not None and paths[1] is not None
        paths[0].unlink()  # lost to a power cut, or deleted
        paths[1].write_text('{"messages": [')  # truncated
        again = await collect(process_many(client, sources, slots=fast_slots(3),
                                           out_dir=tmp_path, ledger=ledgers.arg()))
        submitted = emu.stats()["jobs_submitted"]
    by_index = {r.index: r for r in again}
    assert [by_index[i].status for i in range(4)] == ["fetched", "fetched", "skipped", "skipped"]
    assert submitted == 4  # fetched again, never submitted again
    for i in (0, 1):
        assert by_index[i].output_path == paths[i]
        assert json.loads(paths[i].read_text())["messages"]  # type: ignore[union-attr]
    assert (await ledgers.counts())["fetched"] == 4


async def test_more_insight_kinds_for_finished_items_are_fetched_not_paid_again(
    tmp_path: Path, ledgers: Ledgers
) -> None:
    sources = [url(f"m{i}", 60) for i in range(3)]
    async with emulated(3) as (emu, client):
        kwargs: dict[str, Any] = {"slots": fast_slots(3), "out_dir": tmp_path}
        first = await collect(process_many(client, sources, ledger=ledgers.arg(), **kwargs))
        gets_before = emu.stats()["requests_total"]
        # The same kinds again: nothing to do.
        same = await collect(process_many(client, sources, ledger=ledgers.arg(), **kwargs))
        assert {r.status for r in same} == {"skipped"}
        more = await collect(process_many(client, sources, ledger=ledgers.arg(), **kwargs,
                                          include=("summary", "entities")))
        stats = emu.stats()
    assert {r.status for r in more} == {"fetched"}
    assert stats["jobs_submitted"] == 3  # fetched again, never submitted again
    assert stats["requests_total"] > gets_before
    for result in first:
        assert result.output_path is not None
        data = json.loads(result.output_path.read_text())
        # The new kinds were added; what the first run wrote is still there.
        assert "summary" in data and "entities" in data and data["messages"]


async def test_an_abandoned_run_stops_submitting_when_collected(
    tmp_path: Path, ledgers: Ledgers
) -> None:
    async with emulated(2) as (emu, client):
        async for _ in process_many(client, Counting(None), slots=fast_slots(2),
                                    out_dir=tmp_path, ledger=ledgers.arg()):
            break  # no async with, no aclose: the run object is dropped here
        gc.collect()
        # Its close runs on the loop: the summary is written once every task has ended.
        await eventually(lambda: (tmp_path / "summary.json").exists())
        submitted = emu.stats()["jobs_submitted"]
        # Nothing of it is left running: the batch's lock is free and nothing more is sent.
        # (A submit cut short by the close is of unknown outcome: the rerun looks it up,
        # again after the grace, which the emulator needs no more than a second of, and
        # never resends it: this input does not name it.)
        rerun = process_many(client, [url("after", 10)], slots=fast_slots(2), out_dir=tmp_path,
                             ledger=ledgers.arg(), lookup_grace=1.0)
        assert [r.status for r in await collect(rerun)] == ["fetched"]
        assert emu.stats()["jobs_submitted"] == submitted + 1
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["inputs"] == 1  # the rerun's
    assert submitted <= 2 * 2 + 16 + 2


async def test_stopping_never_leaks_a_slot(ledgers: Ledgers) -> None:
    slots = fast_slots(3)
    async with emulated(3) as (_, client):
        for attempt in range(5):
            run = process_many(client, [url(f"leak{attempt}-{i}", 60) for i in range(20)],
                               slots=slots, ledger=ledgers.arg())
            async with run:
                async for _ in run:
                    run.stop()  # often while fresh item tasks have not taken a step yet
            assert slots.in_use == 0, f"attempt {attempt}: {slots.in_use} slot(s) leaked"


async def test_a_fatal_error_at_start_leaves_no_lookup_running(
    monkeypatch: pytest.MonkeyPatch, ledgers: Ledgers
) -> None:
    sources = [url(f"fatal{i}", 60) for i in range(4)]
    await crashed_with(ledgers, sources)  # four attempts an earlier run left in flight
    started, cancelled = 0, 0
    never = asyncio.Event()

    async def lookup(**_: Any) -> list[Any]:
        nonlocal started, cancelled
        started += 1
        if started == len(sources):
            raise AuthenticationError(401, "Token validation failed for provided token.")
        try:
            await never.wait()
        except asyncio.CancelledError:
            cancelled += 1
            raise
        return []

    async with emulated(3) as (_, client):
        monkeypatch.setattr(client.conversations, "list", lookup)
        with pytest.raises(AuthenticationError):
            await collect(process_many(client, sources, slots=fast_slots(3),
                                       ledger=ledgers.arg()))
    assert started == len(sources) and cancelled == len(sources) - 1
    assert (await ledgers.counts())["submitting"] == len(sources)  # untouched, for a rerun


async def test_a_rerun_with_other_options_is_refused_unless_reprocess(
    tmp_path: Path, ledgers: Ledgers
) -> None:
    sources = [url(f"o{i}", 60) for i in range(3)]
    first_options = ProcessingOptions(detect_phrases=True)
    async with emulated(3) as (emu, client):
        def run(options: ProcessingOptions, **kwargs: Any) -> BatchRun:
            return process_many(client, sources, slots=fast_slots(3), out_dir=tmp_path,
                                options=options, ledger=ledgers.arg(), **kwargs)

        await collect(run(first_options))
        await collect(run(first_options))  # the same options again: fine (nothing to do)
        changed = ProcessingOptions(detect_phrases=True, enable_summary=True)
        with pytest.raises(ValidationError) as info:
            await collect(run(changed))
        assert info.value.field == "options"
        assert "enable_summary: unset -> True" in info.value.rule
        assert "reprocess" in info.value.rule
        assert emu.stats()["jobs_submitted"] == 3  # refused before anything was sent
        again = await collect(run(changed, reprocess=True))
        assert {r.status for r in again} == {"fetched"}
        assert emu.stats()["jobs_submitted"] == 6  # what reprocess says it costs
        # The new options are the batch's now: a plain rerun with them is fine.
        last = await collect(run(changed))
    assert {r.status for r in last} == {"skipped"}


async def test_a_rerun_starts_with_the_processing_times_learned_before(
    tmp_path: Path, ledgers: Ledgers
) -> None:
    sources = [url(f"w{i}", 60 * (i + 1)) for i in range(4)]
    async with emulated(2) as (_emu, client):
        await collect(process_many(client, sources, slots=fast_slots(2), out_dir=tmp_path,
                                   ledger=ledgers.arg()))
        learned = client.processing_model.observations("audio")
        prediction = client.processing_model.predict("audio", 600.0)
    assert learned == 4
    store = await ledgers.open()
    assert await store.get_meta("processing_model")
    async with emulated(2) as (_emu, fresh):
        assert fresh.processing_model.observations("audio") == 0
        # Everything is done already: the rerun only loads what the first run learned. (A
        # new emulator is another service: said so with reprocess.)
        await collect(process_many(fresh, sources, slots=fast_slots(2), out_dir=tmp_path,
                                   ledger=ledgers.arg(), reprocess=True))
        assert fresh.processing_model.observations("audio") == learned
        assert fresh.processing_model.predict("audio", 600.0) == prediction


def test_claim_figures_keep_a_bounded_uniform_sample() -> None:
    times = ClaimTimes()
    assert times.stats() == ClaimStats()
    for i in range(3 * ClaimTimes.SAMPLE):
        times.record(0.001 if i % 100 else 1.0, 2)  # one claim in a hundred is slow
    stats = times.stats()
    assert (stats.transactions, stats.items) == (3 * ClaimTimes.SAMPLE, 6 * ClaimTimes.SAMPLE)
    assert len(times._times) == ClaimTimes.SAMPLE
    assert stats.p50_seconds == 0.001 and stats.p99_seconds in (0.001, 1.0)
    assert 0.003 < sum(t == 1.0 for t in times._times) / ClaimTimes.SAMPLE < 0.02
