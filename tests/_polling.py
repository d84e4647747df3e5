"""The one way tests wait for state they cannot await directly.

Prefer awaiting an event. Where the state lives elsewhere (an emulator's counters, a
ledger another process writes, a subprocess), poll it with a deadline: ``eventually`` in
async tests, ``eventually_blocking`` where a test supervises a subprocess from plain
code. Both fail with the message after ``timeout`` seconds; neither "lets things
settle".
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable

__all__ = ["eventually", "eventually_blocking"]

Condition = Callable[[], "bool | Awaitable[bool]"]


async def eventually(
    condition: Condition,
    *,
    timeout: float = 10.0,
    interval: float = 0.005,
    message: str = "condition not met in time",
) -> None:
    """Poll ``condition`` (sync or async) until it holds; fail after ``timeout`` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        assert loop.time() < deadline, message
        await asyncio.sleep(interval)


def eventually_blocking(
    condition: Callable[[], bool],
    *,
    timeout: float = 30.0,
    interval: float = 0.005,
    message: str = "condition not met in time",
) -> None:
    """The same for plain code that watches a subprocess: blocks the thread."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, message
        time.sleep(interval)
