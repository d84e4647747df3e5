"""Checking which kinds of insight to fetch, and fetching them concurrently.

The names themselves (``DEFAULT_INCLUDE``, ``ALL_INCLUDE``) live in ``models._include``,
shared with the batch engine; they are re-exported here.
Used by :meth:`~symbl_async.client._conversations.ConversationsAPI.fetch_insights`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, Mapping
from typing import Any

from symbl_async.errors import ValidationError
from symbl_async.models._include import ALL_INCLUDE, DEFAULT_INCLUDE

__all__ = ["ALL_INCLUDE", "DEFAULT_INCLUDE", "check_include", "gather_or_cancel"]

def check_include(include: object) -> tuple[str, ...]:
    """Check insight names for :meth:`ConversationsAPI.fetch_insights`, before any request.

    Args:
        include: a collection of ``ConversationInsights`` field names (see ``ALL_INCLUDE``).

    Returns:
        The names, in order, with repeats dropped.

    Raises:
        ValidationError: not a collection, empty, or holding an unknown name.
    """
    valid = ", ".join(ALL_INCLUDE)
    if isinstance(include, str) or not isinstance(include, Iterable):
        raise ValidationError("include", f"must be a collection of names from: {valid}")
    names = tuple(dict.fromkeys(include))  # drop repeats, keep order
    unknown = [name for name in names if name not in ALL_INCLUDE]
    if unknown:
        raise ValidationError("include", f"unknown {unknown!r}; valid names: {valid}")
    if not names:
        raise ValidationError("include", f"must name at least one of: {valid}")
    return names


async def gather_or_cancel(jobs: Mapping[str, Awaitable[Any]]) -> dict[str, Any]:
    """Run awaitables concurrently; on the first failure cancel the rest and raise it.

    Like ``asyncio.TaskGroup`` (which Python 3.10 lacks), except that the first error is
    raised as itself, not wrapped in an ``ExceptionGroup``, so callers can catch
    ``NotFoundError`` and friends directly.
    """
    tasks = {name: asyncio.ensure_future(job) for name, job in jobs.items()}
    try:
        done, _ = await asyncio.wait(tasks.values(), return_when=asyncio.FIRST_EXCEPTION)
    finally:
        # Reached on failure and when we ourselves are cancelled: no task outlives us.
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
    # The error that stopped the wait comes first; a task that failed while being
    # cancelled only counts if nothing else did.
    ordered = sorted(tasks.values(), key=lambda task: task not in done)
    for task in ordered:
        error = None if task.cancelled() else task.exception()
        if error is not None:
            raise error
    return {name: task.result() for name, task in tasks.items()}
