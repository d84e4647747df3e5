"""A job found by name, waited for by a run that starts long after the attempt.

Regression (found by ``tests/cli/test_cli_chaos.py``): the wait's deadline counted from the
attempt, so a rerun more than the wait timeout later got one read of the conversation, and
two equal reads are needed to call its insights final: the item stayed ``submitted`` for
ever although its job had completed.
"""

from __future__ import annotations

import contextlib
import time

import attrs

from symbl_async.batch._ledger import ItemState, LedgerItem, MemoryStore, Pending
from symbl_async.batch._ledger._states import submitted
from symbl_async.batch._lookup import found_job_end, wait_until_final
from symbl_async.batch._slots import JobSlots, Slot
from symbl_async.client._client import SymblClient
from symbl_async.client._waiting import PollSchedule
from symbl_async.emulator import Emulator
from symbl_async.errors import JobFailedError

SCALE = 2000.0


async def adopted_found_by_name(conversation_id: str) -> tuple[MemoryStore, LedgerItem]:
    store = MemoryStore()
    await store.join(max_limit=2, lease=30.0)
    await store.add_pending([Pending("k", "late.mp3", "late", 60.0, None)])
    (row,) = await store.claim(1)
    row = await store.apply(row, submitted(None, conversation_id))
    return store, row


async def test_a_rerun_long_after_the_attempt_still_resolves_an_adopted_job() -> None:
    async with Emulator(time_scale=SCALE, concurrency_limit=2) as emu, SymblClient(
        app_id=emu.app_id, app_secret=emu.app_secret, base_url=emu.url,
        poll=PollSchedule(time_scale=SCALE),
    ) as client:
        job = await client.submit_audio_url("https://media.test/late.mp3?emulator_duration=60")
        await client.wait(job, mode="poll")  # the job is over before the "rerun" starts
        store = MemoryStore()
        await store.join(max_limit=2, lease=30.0)
        await store.add_pending([Pending("k", "late.mp3", "late", 60.0, None)])
        (row,) = await store.claim(1)
        row = await store.apply(row, submitted(None, job.conversation_id))
        # The attempt was made an hour ago, by a run that died.
        assert row.attempt_at is not None and row.submitted_at is not None
        row = attrs.evolve(row, attempt_at=row.attempt_at - 3600,
                           submitted_at=row.submitted_at - 3600)
        slots = JobSlots(2)
        slot = Slot(slots, held=False)
        await slot.acquire()
        started = time.monotonic()
        step = await wait_until_final(client, store, row, slot, wait_timeout=5.0)
        assert step is not None and step.state is ItemState.COMPLETED
        assert slots.in_use == 0  # the slot was given back
        assert time.monotonic() - started < 5.0


async def test_the_wait_for_a_job_found_by_name_honours_its_deadline() -> None:
    """Unknown length, a deadline of half a second: it must not sleep toward the prior's
    time for four hours of media (it returned after 3.6 s)."""
    async with Emulator(time_scale=SCALE, concurrency_limit=2) as emu, SymblClient(
        app_id=emu.app_id, app_secret=emu.app_secret, base_url=emu.url,
        poll=PollSchedule(time_scale=SCALE),
    ) as client:
        job = await client.submit_audio_url(
            "https://media.test/long.mp3?emulator_duration=100000")  # still running
        store = MemoryStore()
        await store.join(max_limit=2, lease=30.0)
        await store.add_pending([Pending("k", "long.mp3", "long", None, None)])
        (row,) = await store.claim(1)
        row = await store.apply(row, submitted(None, job.conversation_id))
        slot = Slot(JobSlots(2), held=False)
        await slot.acquire()
        started = time.monotonic()
        step = await wait_until_final(client, store, row, slot, wait_timeout=0.5)
        elapsed = time.monotonic() - started
        assert step is None and slot.held  # not final: the slot is still held
        assert elapsed < 1.0, elapsed


async def test_once_no_job_can_run_a_job_found_by_name_is_settled_by_its_transcript() -> None:
    """What a rerun long after the attempt decides at once (no wait for final insights):
    a transcript there means completed; none, the job failed (a retry may send it again)."""
    async with Emulator(time_scale=SCALE, concurrency_limit=2,
                        fail_inputs={"https://media.test/bad.mp3?emulator_duration=60"}
                        ) as emu, SymblClient(
        app_id=emu.app_id, app_secret=emu.app_secret, base_url=emu.url,
        poll=PollSchedule(time_scale=SCALE),
    ) as client:
        states: dict[str, ItemState] = {}
        for name in ("good", "bad"):
            job = await client.submit_audio_url(
                f"https://media.test/{name}.mp3?emulator_duration=60")
            with contextlib.suppress(JobFailedError):
                await client.wait(job, mode="poll")
            store, row = await adopted_found_by_name(job.conversation_id)
            change = await found_job_end(client, row)
            assert change is not None
            states[name] = (await store.apply(row, change)).state
    assert states == {"good": ItemState.COMPLETED, "bad": ItemState.FAILED}
