"""Slots kept after an item's own task has given up on its job.

A job whose wait timed out may still run, and so holds one of the account's slots: a
watcher polls it (rarely) until it ends, then records the end and gives the slot back. A
job with no id (found by name, never confirmed) cannot be asked about: its slot is held
until the run ends. Internal to :mod:`symbl_async.batch._worker`.
"""

from __future__ import annotations

import asyncio
import random

from symbl_async.batch._protocol import FATAL, BatchClient
from symbl_async.batch._slots import Slot
from symbl_async.batch._store import ItemStore
from symbl_async.core._jobs import Job, JobStatus
from symbl_async.errors import SymblError

__all__ = ["Watchers"]


class Watchers:
    """The run's background tasks that keep slots of jobs no item task waits for."""

    def __init__(self, client: BatchClient, ledger: ItemStore) -> None:
        """Share the run's client and ledger."""
        self._client = client
        self._db = ledger
        self.tasks: set[asyncio.Task[None]] = set()
        """The tasks; cancel them when the run ends (each gives its slot back)."""

    def hold(self, slot: Slot) -> None:
        """Keep a slot until the run ends: its job may run and we cannot ask (no job id)."""

        async def holder() -> None:
            try:
                await asyncio.Event().wait()
            finally:
                slot.release()

        self._add(asyncio.create_task(holder()))

    def watch(self, key: str, job: Job, slot: Slot) -> None:
        """Poll ``job`` until it ends, record the end, then give ``slot`` back."""
        self._add(asyncio.create_task(self._watcher(key, job, slot)))

    def _add(self, task: asyncio.Task[None]) -> None:
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _watcher(self, key: str, job: Job, slot: Slot) -> None:
        poll = self._client.poll
        interval = poll.max_interval / poll.time_scale
        try:
            while True:
                await asyncio.sleep(interval * random.uniform(0.9, 1.1))
                try:
                    info = await self._client.get_job(job.job_id)
                except FATAL:
                    return
                except SymblError:  # 404s included: the job id came from the submit
                    continue
                if info.status is JobStatus.COMPLETED:
                    await self._db.mark_completed(key)
                    return
                if info.status is JobStatus.FAILED:
                    await self._db.mark_failed(key, "the job ended 'failed' (no reason given)")
                    return
        finally:
            slot.release()
