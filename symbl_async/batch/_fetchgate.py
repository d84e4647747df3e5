"""When a batch fetches insights: a few conversations at once, after the refilling submits.

A job's slot is free as soon as the job ends, so fetching its insights may trail; the
submit that refills the slot must not. When a wave of jobs ends together (longest first
makes waves: similar lengths start together), each ended job wants its 8 insight GETs while
the next items want their submits, and all of them share the event loop, aiohttp's 100
connections and the service. Measured at limit 50 (bench_systems, 3x faster service):
with every fetch let loose, 400 GETs queued the refills, and occupancy fell to 30 of 50
for a fraction of a wave. So fetches are capped (:data:`FETCHES_AT_ONCE`) and each waits,
briefly (:data:`SUBMITS_FIRST_FOR`), for the submits on the wire to be answered.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

__all__ = ["FETCHES_AT_ONCE", "SUBMITS_FIRST_FOR", "FetchGate"]

FETCHES_AT_ONCE = 8
"""Conversations whose insights are fetched at once (one GET per kind each)."""

SUBMITS_FIRST_FOR = 0.2
"""Seconds a fetch waits at most for the submits on the wire (so it never starves)."""


class FetchGate:
    """Orders a batch's insight fetches behind its submits (see the module docstring)."""

    def __init__(self, at_once: int = FETCHES_AT_ONCE, wait: float = SUBMITS_FIRST_FOR) -> None:
        """``at_once`` fetches at most; each waits up to ``wait`` s for submits to settle."""
        self._fetches = asyncio.Semaphore(at_once)
        self._wait = wait
        self._submits = 0
        self._quiet = asyncio.Event()
        self._quiet.set()

    @property
    def submits(self) -> int:
        """Submits on the wire now."""
        return self._submits

    @contextlib.contextmanager
    def submitting(self) -> Iterator[None]:
        """Around one submit request."""
        self._submits += 1
        self._quiet.clear()
        try:
            yield
        finally:
            self._submits -= 1
            if self._submits == 0:
                self._quiet.set()

    @contextlib.asynccontextmanager
    async def fetching(self) -> AsyncIterator[None]:
        """Around one conversation's fetch: a place among the few, then the submits first."""
        async with self._fetches:
            if not self._quiet.is_set():
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._quiet.wait(), self._wait)
            yield
