"""A job found by name, waited for by a run that starts long after the attempt.

Regression (found by ``tests/cli/test_cli_chaos.py``): the wait's deadline counted from the
attempt, so a rerun more than the wait timeout later got one read of the conversation, and
two equal reads are needed to call its insights final: the item stayed ``submitted`` for
ever although its job had completed.
"""

from __future__ import annotations

from pathlib import Path

import attrs

from symbl_async.batch._found import wait_until_final
from symbl_async.batch._ledger import ItemState, Ledger
from symbl_async.batch._results import BatchResult
from symbl_async.batch._slots import JobSlots, Slot
from symbl_async.batch._sqlite_store import SqliteStore
from symbl_async.client._client import SymblClient
from symbl_async.client._waiting import PollSchedule
from symbl_async.emulator import Emulator

SCALE = 2000.0


async def test_a_rerun_long_after_the_attempt_still_resolves_an_adopted_job(
    tmp_path: Path,
) -> None:
    async with Emulator(time_scale=SCALE, concurrency_limit=2) as emu, SymblClient(
        app_id=emu.app_id, app_secret=emu.app_secret, base_url=emu.url,
        poll=PollSchedule(time_scale=SCALE),
    ) as client:
        job = await client.submit_audio_url("https://media.test/late.mp3?emulator_duration=60")
        await client.wait(job, mode="poll")  # the job is over before the "rerun" starts
        ledger = Ledger.open(tmp_path / "ledger.sqlite3")
        try:
            ledger.upsert_pending("k", "late.mp3", "late-1", 60.0)
            ledger.mark_submitting("k", "late-1")
            row = ledger.mark_submitted("k", None, job.conversation_id)
            # The attempt was made an hour ago, by a run that died.
            row = attrs.evolve(row, attempt_at=row.attempt_at - 3600,  # type: ignore[operator]
                               submitted_at=row.submitted_at - 3600)  # type: ignore[operator]
            slots = JobSlots(2)
            slot = Slot(slots, held=False)
            await slot.acquire()

            async def failure(
                key: str, label: str, error: str, cause: BaseException | None
            ) -> BatchResult:
                raise AssertionError(f"left unresolved: {error}")

            step = await wait_until_final(
                client, SqliteStore.borrow(ledger), row, slot, wait_timeout=5.0, failure=failure,
                hold=lambda s: None,
            )
            assert not isinstance(step, BatchResult)
            assert step.state is ItemState.COMPLETED
            assert slots.in_use == 0  # the slot was given back
        finally:
            ledger.close()
