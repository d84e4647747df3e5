"""Wait modes end to end: the emulator delivers webhooks over HTTP to a real receiver.

Every server is on 127.0.0.1; jobs run at ``SCALE`` times the service's speed. Nothing
sleeps: each wait has its own deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from _polling import eventually

from symbl_async import (
    ClientClosedError,
    JobFailedError,
    JobInfo,
    JobStatus,
    PollSchedule,
    SafetyPollSchedule,
    SymblClient,
    ValidationError,
    WaitMode,
    WaitTimeoutError,
    WebhookReceiver,
)
from symbl_async.client._waiting import HybridWaiter, PollWaiter, WebhookWaiter
from symbl_async.core._jobs import Job
from symbl_async.emulator import Emulator

SCALE = 1000.0
WAIT = 30.0  # deadline of waits that should end long before
MEDIA = 60.0  # seconds of media per job: 45 service seconds of processing, 45 ms here
BROKEN = "https://media.test/broken.wav?emulator_duration=60"


def url(i: int, seconds: float = MEDIA) -> str:
    return f"https://media.test/{i}.wav?emulator_duration={seconds:g}"


@contextlib.asynccontextmanager
async def stack(
    *,
    receiver: bool = True,
    client_kwargs: dict[str, Any] | None = None,
    scale: float = SCALE,
    **emulator: Any,
) -> AsyncIterator[tuple[Emulator, WebhookReceiver, SymblClient]]:
    """Emulator, receiver (own server on 127.0.0.1) and client.

    The emulator closes first, so that no webhook is in flight while the receiver's
    server stops (a connection accepted during aiohttp's shutdown can outlive it); then
    the receiver, which cancels any confirmation before the client closes.
    """
    emu = Emulator(time_scale=scale, fail_inputs=frozenset({BROKEN}), seed=7, **emulator)
    rec = WebhookReceiver()
    client: SymblClient | None = None
    try:
        await emu.start()
        await rec.start()
        client = SymblClient(
            app_id=emu.app_id,
            app_secret=emu.app_secret,
            base_url=emu.url,
            wait_timeout=WAIT,
            receiver=rec if receiver else None,
            **{"poll": PollSchedule(time_scale=scale), **(client_kwargs or {})},
        )
        yield emu, rec, client
    finally:
        await emu.close()
        await rec.close()
        if client is not None:
            await client.close()


async def submit_many(client: SymblClient, n: int) -> list[Job]:
    return list(
        await asyncio.gather(
            *(client.submit_audio_url(url(i), media_duration=MEDIA) for i in range(n))
        )
    )


# -- the safety poll's schedule (pure) --------------------------------------------------


def test_safety_poll_starts_after_the_expected_time_then_backs_off_capped() -> None:
    poll = PollSchedule(jitter=0)
    delays = SafetyPollSchedule().delays(poll, 600.0)
    # expected = 0.25 * 600 + 30 = 180 s: first at 1.2x, then half of that, then x2, capped
    assert [next(delays) for _ in range(5)] == pytest.approx([216.0, 108.0, 120.0, 120.0, 120.0])


def test_safety_poll_with_unknown_length_starts_after_the_fixed_overhead() -> None:
    poll = PollSchedule(jitter=0, initial_interval=2.0, expected_overhead=30.0, time_scale=10)
    delays = SafetyPollSchedule(max_interval=100.0).delays(poll, None)
    # 1.2 x 3 s of overhead, then half of that, doubling up to the cap of 10 s
    got = [next(delays) for _ in range(6)]
    assert got == pytest.approx([3.6, 1.8, 3.6, 7.2, 10.0, 10.0])


def test_safety_poll_with_unknown_length_and_no_overhead_starts_at_a_few_intervals() -> None:
    poll = PollSchedule(jitter=0, initial_interval=2.0, expected_overhead=0.0, time_scale=10)
    delays = SafetyPollSchedule(max_interval=100.0).delays(poll, None)
    # 5 x 0.2 s, then 0.5, 1, 2, 4, 8, then the cap of 10 s
    got = [next(delays) for _ in range(8)]
    assert got == pytest.approx([1.0, 0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0])


def test_safety_poll_is_jittered_within_the_poll_schedules_bounds() -> None:
    poll = PollSchedule(jitter=0.1)
    rng = random.Random(3)
    firsts = [next(SafetyPollSchedule().delays(poll, 600.0, rng)) for _ in range(100)]
    assert min(firsts) >= 216.0 * 0.9 and max(firsts) <= 216.0 * 1.1
    assert len(set(firsts)) > 90


@pytest.mark.parametrize("field", ["first_poll_factor", "growth", "max_interval"])
def test_safety_poll_rejects_nonsense(field: str) -> None:
    with pytest.raises(ValueError):
        SafetyPollSchedule(**{field: 0 if field != "growth" else 0.5})


def test_safety_poll_lateness_is_a_number_of_spreads_not_below_zero() -> None:
    assert SafetyPollSchedule(lateness=0).lateness == 0
    with pytest.raises(ValidationError) as info:
        SafetyPollSchedule(lateness=-1)
    assert info.value.field == "lateness"


# -- modes and validation ---------------------------------------------------------------


def offline_client(**kwargs: Any) -> SymblClient:
    # Port 9 (discard) on loopback: any request would fail loudly; none is expected.
    return SymblClient(app_id="a", app_secret="s", base_url="http://127.0.0.1:9", **kwargs)


async def test_default_mode_is_hybrid_with_a_receiver_else_poll() -> None:
    async with offline_client() as plain:
        assert plain.wait_mode is WaitMode.POLL
        assert isinstance(plain.waiter(), PollWaiter)
        receiver = WebhookReceiver(public_url="https://hooks.example.net")
        plain.attach_receiver(receiver)
        # mypy narrowed wait_mode to POLL above; the property changes with the receiver.
        assert plain.wait_mode is WaitMode.HYBRID  # type: ignore[comparison-overlap]
        assert isinstance(plain.waiter(), HybridWaiter)
        assert isinstance(plain.waiter("webhook"), WebhookWaiter)
        assert isinstance(plain.waiter(WaitMode.POLL), PollWaiter)
        assert plain.webhook_url == receiver.callback_url
    async with offline_client(receiver=receiver, wait_mode="poll") as explicit:
        assert explicit.wait_mode is WaitMode.POLL


async def test_attaching_sets_confirmation_unless_switched_off_or_given() -> None:
    async def own(job_id: str) -> JobStatus:
        return JobStatus.COMPLETED

    async with offline_client() as client:
        bare = WebhookReceiver()
        client.attach_receiver(bare)
        assert bare.confirm == client.get_job
        off = WebhookReceiver()
        client.attach_receiver(off, confirm=False)
        assert off.confirm is None
        given = WebhookReceiver(confirm=own)
        client.attach_receiver(given)
        assert given.confirm is own
    async with offline_client(receiver=WebhookReceiver(), confirm_webhooks=False) as c2:
        assert c2.receiver is not None and c2.receiver.confirm is None


async def test_attaching_a_closed_or_wrong_receiver_is_refused() -> None:
    closed = WebhookReceiver()
    await closed.close()
    async with offline_client() as client:
        for bad in (closed, "http://hooks.example.net"):
            with pytest.raises(ValidationError) as info:
                client.attach_receiver(bad)  # type: ignore[arg-type]
            assert info.value.field == "receiver"


def test_unknown_wait_mode_is_refused_at_construction() -> None:
    with pytest.raises(ValidationError) as info:
        offline_client(wait_mode="sometimes")
    assert info.value.field == "wait_mode"


async def test_webhook_modes_without_a_receiver_are_refused_before_anything_is_sent() -> None:
    async with stack(receiver=False) as (emu, _, client):
        for mode in ("webhook", "hybrid", WaitMode.HYBRID):
            with pytest.raises(ValidationError) as info:
                await client.wait("some-job", mode=mode)
            assert info.value.field == "mode"
            with pytest.raises(ValidationError) as info:
                await client.process_audio_url(url(0), wait_mode=mode)
            assert info.value.field == "wait_mode"
        with pytest.raises(ValidationError) as info:
            await client.wait("some-job", mode="bogus")
        assert info.value.field == "mode"
        with pytest.raises(ValidationError) as info:
            await client.process_text([{"payload": {"content": "hi"}}], timeout=-1)
        assert info.value.field == "timeout"
        assert emu.stats()["requests_total"] == 0
        assert emu.stats()["jobs_submitted"] == 0


async def test_client_wide_webhook_mode_without_a_receiver_blames_wait_mode() -> None:
    async with offline_client(wait_mode="webhook") as client:
        with pytest.raises(ValidationError) as info:
            await client.wait("some-job")
        assert info.value.field == "wait_mode"
        with pytest.raises(ValidationError) as info:
            await client.process_audio_url(url(0))
        assert info.value.field == "wait_mode"


async def test_submit_needs_a_receiver_url_and_says_so_before_sending() -> None:
    async with Emulator(time_scale=SCALE) as emu:
        receiver = WebhookReceiver()  # not started, no public_url: no URL yet
        async with SymblClient(
            app_id=emu.app_id, app_secret=emu.app_secret, base_url=emu.url, receiver=receiver
        ) as client:
            with pytest.raises(ValidationError) as info:
                await client.submit_audio_url(url(0))
            assert info.value.field == "receiver"
            assert emu.stats()["requests_total"] == 0
            await receiver.start()  # resolved at submit time: now it works
            job = await client.submit_audio_url(url(0))
            assert emu.scheduler.jobs[job.job_id].options.webhook_url == receiver.callback_url
            await receiver.close()


async def start_waiting(client: SymblClient, job: Job, mode: str) -> asyncio.Task[Any]:
    """Start ``client.wait`` in a task and return once it is waiting (its watch is
    registered: the wait registers it before its first suspension)."""
    started = asyncio.Event()

    async def waiting() -> Any:
        started.set()
        return await client.wait(job, mode=mode)

    task = asyncio.create_task(waiting())
    await asyncio.wait_for(started.wait(), WAIT)
    return task


# -- webhook mode ----------------------------------------------------------------------


async def test_webhook_only_mode_polls_nothing_but_one_confirmation_per_job() -> None:
    async with stack() as (emu, receiver, client):
        jobs = await submit_many(client, 10)
        for job in jobs:  # the webhookUrl was filled in automatically
            assert emu.scheduler.jobs[job.job_id].options.webhook_url == receiver.callback_url
        infos = await asyncio.gather(*(client.wait(job, mode="webhook") for job in jobs))
        assert {info.status for info in infos} == {JobStatus.COMPLETED}
        assert emu.stats()["job_status_requests"] == len(jobs)
        assert receiver.stats.confirmations == len(jobs)
        assert emu.stats()["webhooks_sent"] >= 2 * len(jobs)
        assert not any(receiver.is_watching(job.job_id) for job in jobs)


async def test_webhook_mode_with_every_webhook_lost_times_out_at_the_deadline() -> None:
    async with stack(webhook_drop_rate=1.0) as (emu, receiver, client):
        job = await client.submit_audio_url(url(0), media_duration=MEDIA)
        started = time.monotonic()
        with pytest.raises(WaitTimeoutError) as info:
            await client.wait(job, mode="webhook", timeout=0.3)
        assert time.monotonic() - started >= 0.3
        err = info.value
        assert (err.job_id, err.conversation_id) == (job.job_id, job.conversation_id)
        assert err.last_status is None  # no webhook ever came
        assert emu.stats()["job_status_requests"] == 0  # not a single poll
        assert not receiver.is_watching(job.job_id)  # cleaned up


async def test_failed_job_raises_in_webhook_and_hybrid_modes() -> None:
    async with stack() as (_, _, client):
        for mode in ("webhook", "hybrid"):
            job = await client.submit_audio_url(BROKEN, media_duration=MEDIA)
            with pytest.raises(JobFailedError) as info:
                await client.wait(job, mode=mode)
            assert info.value.job_id == job.job_id


async def test_a_lying_completed_webhook_does_not_release_early() -> None:
    async with stack() as (emu, receiver, client), aiohttp.ClientSession() as session:
        # 1000 s of media: 280 service seconds, 0.28 s here; the lie comes long before.
        job = await client.submit_audio_url(url(1, 1000), media_duration=1000)
        receiver.watch(job.job_id)  # so that the lie is acted on (confirmed) at once
        lie = {"jobId": job.job_id, "status": "completed"}
        async with session.post(receiver.callback_url, json=lie) as response:
            assert response.status == 200
        info = await client.wait(job, mode="webhook")
        assert info.status is JobStatus.COMPLETED
        assert emu.scheduler.jobs[job.job_id].status == "completed"
        assert receiver.stats.confirmation_mismatches >= 1


@pytest.mark.parametrize("mode", ["webhook", "hybrid"])
async def test_duplicates_and_reordering_never_release_early_or_twice(
    mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    faults: dict[str, Any] = {
        "webhook_duplicate_rate": 1.0,
        "webhook_reorder_rate": 1.0,
        "webhook_delay": (0.0, 0.02),
    }
    async with stack(**faults) as (emu, receiver, client):
        # Made deterministic (it used to assert a race): every delivery of every job
        # must meet a watched job whose end is not confirmed yet, or no duplicate would
        # be seen. So (1) deliveries are held at the receiver until every job is
        # watched (under CPU load a job could otherwise end, all its webhooks
        # remembered as unknown, before its watch exists), and (2) every GET /v1/job,
        # confirmations and hybrid polls alike, waits until the emulator has delivered
        # all of them (3 statuses x 2 copies per job). The faults then decide alone.
        all_watched = asyncio.Event()
        handle_stream = receiver.handle_stream

        async def held(token: str, chunks: Any, *, content_length: int | None = None) -> int:
            await all_watched.wait()
            return await handle_stream(token, chunks, content_length=content_length)

        get_job = client.get_job
        expected = 0

        async def after_every_delivery(job_id: str) -> JobInfo:
            await eventually(lambda: emu.stats()["webhooks_sent"] >= expected, timeout=WAIT)
            return await get_job(job_id)

        monkeypatch.setattr(receiver, "handle_stream", held)
        monkeypatch.setattr(client, "get_job", after_every_delivery)
        receiver.set_confirm(after_every_delivery)
        jobs = await submit_many(client, 12)
        expected = 3 * 2 * len(jobs)
        releases: list[tuple[str, str]] = []

        async def waiter(job: Job) -> None:
            info = await client.wait(job, mode=mode)
            # Checked in the same step as the release: the emulator is in-process.
            releases.append((info.id, emu.scheduler.jobs[job.job_id].status))

        # Two waiters per job share one watch; each resumes exactly once.
        waiters = [asyncio.create_task(waiter(job)) for job in jobs for _ in range(2)]
        try:
            await eventually(lambda: all(receiver.is_watching(job.job_id) for job in jobs))
        finally:
            all_watched.set()
        await asyncio.gather(*waiters)
        assert sorted(releases) == sorted((job.job_id, "completed") for job in jobs for _ in "ab")
        stats = emu.stats()
        assert stats["webhooks_duplicated"] > 0 and stats["webhooks_reordered"] > 0
        assert receiver.stats.duplicates >= len(jobs)  # at least each end's second copy
        assert receiver.stats.confirmations <= len(jobs)  # one per job, despite the copies
        # Waiting again on a finished job returns at once, from what is remembered.
        before = stats["job_status_requests"]
        again = await client.wait(jobs[0], mode="webhook", timeout=1.0)
        assert again.status is JobStatus.COMPLETED
        assert emu.stats()["job_status_requests"] == before


async def test_a_timed_out_wait_does_not_pull_the_watch_from_another() -> None:
    async with stack() as (_, receiver, client):
        job = await client.submit_audio_url(url(2, 1000), media_duration=1000)
        patient = await start_waiting(client, job, "webhook")
        with pytest.raises(WaitTimeoutError):
            await client.wait(job, mode="webhook", timeout=0.01)
        assert receiver.is_watching(job.job_id)  # the patient waiter still holds it
        assert (await patient).status is JobStatus.COMPLETED
        assert not receiver.is_watching(job.job_id)


async def test_a_cancelled_wait_cleans_up() -> None:
    async with stack() as (_, receiver, client):
        job = await client.submit_audio_url(url(3, 1000), media_duration=1000)
        for mode in ("webhook", "hybrid"):
            task = await start_waiting(client, job, mode)
            assert receiver.is_watching(job.job_id)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert not receiver.is_watching(job.job_id)


async def test_receiver_closed_while_waiting_is_reported() -> None:
    # No webhook traffic: the point is the close, not a race with a delivery.
    async with stack(webhook_drop_rate=1.0) as (_, receiver, client):
        job = await client.submit_audio_url(url(4, 1000), media_duration=1000)
        task = await start_waiting(client, job, "webhook")
        await receiver.close()
        with pytest.raises(ClientClosedError):
            await task


# -- hybrid mode -----------------------------------------------------------------------


async def test_hybrid_completes_every_job_when_half_the_webhooks_are_lost() -> None:
    async with stack(webhook_drop_rate=0.5) as (emu, receiver, client):
        jobs = await submit_many(client, 30)
        infos = await asyncio.gather(*(client.wait(job) for job in jobs))  # hybrid: default
        assert [info.id for info in infos] == [job.job_id for job in jobs]
        assert {info.status for info in infos} == {JobStatus.COMPLETED}
        stats = emu.stats()
        assert stats["webhooks_dropped"] > 0
        assert stats["jobs_completed"] == len(jobs)
        assert not any(receiver.is_watching(job.job_id) for job in jobs)


async def test_hybrid_with_every_webhook_lost_completes_by_the_safety_poll() -> None:
    async with stack(webhook_drop_rate=1.0) as (emu, receiver, client):
        jobs = await submit_many(client, 5)
        infos = await asyncio.gather(*(client.wait(job, mode="hybrid") for job in jobs))
        assert {info.status for info in infos} == {JobStatus.COMPLETED}
        assert receiver.stats.confirmations == 0
        assert emu.stats()["job_status_requests"] >= len(jobs)


async def test_hybrid_with_webhooks_arriving_needs_no_safety_poll() -> None:
    # A safety poll far away (1000x the expected time, beyond the deadline): only the
    # confirmations are asked. The fixed schedule: a learned plan's intervals are capped
    # by the poll schedule's (30 service seconds, 30 ms here), which a loaded machine's
    # webhook and confirmation outlast.
    safety = SafetyPollSchedule(first_poll_factor=1000.0)
    poll = PollSchedule(time_scale=SCALE, learn=False)
    async with stack(client_kwargs={"safety_poll": safety, "poll": poll}) as (
        emu, receiver, client
    ):
        jobs = await submit_many(client, 8)
        await asyncio.gather(*(client.wait(job) for job in jobs))
        assert emu.stats()["job_status_requests"] == receiver.stats.confirmations == len(jobs)


async def test_hybrid_safety_polls_follow_what_the_model_learned_of_a_slower_service() -> None:
    # 3x slower than the prior: 60 s of media take 76 service seconds, not 45. The fixed
    # schedule polled every job at 1.2 x 45 s (and again before its end); learned, a
    # job whose webhook comes is not polled at all once the model knows the service.
    # Time scale 20 (76 s: 3.8 real seconds): a webhook late by a busy machine's tenth of
    # a second is still before the first safety poll.
    scale = 20.0
    async with stack(scale=scale, processing_factor=0.75) as (emu, receiver, client):
        # The first ends teach the model, from their webhooks alone: in hybrid mode the
        # cold plan's second safety poll lands just after these jobs' end, and on a slow
        # host it saw the end before the webhook was confirmed, so the model learned the
        # midpoint since the first safety poll (67 s) and this wait's polls came early.
        warm = await submit_many(client, 8)
        await asyncio.gather(*(client.wait(job, mode="webhook") for job in warm))
        # Learned from the webhooks' times, which a loaded machine delays or bunches: near
        # 76 s, and far from the prior's 45.
        assert 60.0 < client.processing_model.predict("audio", MEDIA).median * scale < 92.0
        before = emu.stats()["job_status_requests"] - receiver.stats.confirmations
        jobs = [
            await client.submit_audio_url(url(100 + i), media_duration=MEDIA) for i in range(8)
        ]
        await asyncio.gather(*(client.wait(job) for job in jobs))
        safety_polls = emu.stats()["job_status_requests"] - receiver.stats.confirmations - before
        assert safety_polls <= 2


async def test_hybrid_with_every_webhook_lost_times_out_after_a_final_poll() -> None:
    async with stack(webhook_drop_rate=1.0) as (emu, _, client):
        job = await client.submit_audio_url(url(5, 100_000), media_duration=100_000)
        with pytest.raises(WaitTimeoutError) as info:
            await client.wait(job, mode="hybrid", timeout=0.2)
        assert info.value.job_id == job.job_id
        assert info.value.last_status in ("scheduled", "in_progress")
        assert emu.stats()["job_status_requests"] >= 1  # the poll at the deadline


async def test_process_helpers_take_a_wait_mode() -> None:
    async with stack() as (emu, receiver, client):
        insights = await client.process_audio_url(url(6), media_duration=MEDIA, wait_mode="webhook")
        assert insights.job_id and insights.messages is not None
        assert receiver.stats.confirmations == 1
        assert emu.stats()["job_status_requests"] == 1
        text = await client.process_text(
            [{"payload": {"content": "Let us ship it on Friday."}}], wait_mode="poll"
        )
        assert text.messages
