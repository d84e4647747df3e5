"""Waiting for a submit found again by name: no job id, so watch its conversation.

The conversation list gives no job id (REFERENCE.md), so ``GET /v1/job`` cannot be asked.
Internal to :mod:`symbl_async.batch._worker`; see :mod:`symbl_async.batch._api` for the rule.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from symbl_async.batch._ledger import Ledger, LedgerItem
from symbl_async.batch._protocol import FATAL, BatchClient
from symbl_async.batch._results import BatchResult
from symbl_async.batch._slots import Slot
from symbl_async.core._polling import wake_times
from symbl_async.errors import NotFoundError, SymblError

__all__ = ["MAX_MEDIA_SECONDS", "wait_for_messages"]

MAX_MEDIA_SECONDS = 4 * 3600.0  # REFERENCE.md "Media limits"

Failure = Callable[[str, str, str, BaseException | None], BatchResult]


async def wait_for_messages(
    client: BatchClient,
    ledger: Ledger,
    row: LedgerItem,
    slot: Slot,
    *,
    wait_timeout: float | None,
    failure: Failure,
) -> LedgerItem | BatchResult:
    """Wait for an item found by name until its messages appear; record it; free the slot.

    Returns:
        The row, now ``completed``; or the failed result after twice the expected processing
        time (or the wait timeout, if shorter) without messages.
    """
    key, label = row.key, row.source
    conversation_id = row.conversation_id or ""
    schedule = client.poll
    expected = schedule.expected_time(
        row.duration if row.duration is not None else MAX_MEDIA_SECONDS
    )
    assert expected is not None
    patience = 2 * expected + schedule.max_interval / schedule.time_scale
    limit = wait_timeout if wait_timeout is not None else client.wait_timeout
    patience = min(patience, limit)
    origin = time.monotonic() - max(time.time() - (row.submitted_at or time.time()), 0.0)
    wakes = wake_times(
        schedule.delays(row.duration), origin=origin, deadline=origin + patience,
        clock=time.monotonic,
    )
    for wait, _final in wakes:
        await asyncio.sleep(wait)
        try:
            messages = await client.conversations.messages(conversation_id)
        except NotFoundError as exc:
            slot.release()
            ledger.mark_failed(key, exc)
            return failure(key, label, f"conversation {conversation_id} is gone: {exc}", exc)
        except FATAL:
            raise
        except SymblError:
            messages = []
        if messages:
            slot.release()
            return ledger.mark_completed(key)
    slot.release()
    error = (
        f"conversation {conversation_id} was found by its submit name, but the API "
        f"gives no job id for it and it has no messages after {patience:.0f} s: the job "
        "failed, is still running, or the recording is silent. Retry with retry_failed "
        "(--retry-failed) to submit it again, which may pay for it twice"
    )
    ledger.mark_failed(key, error)
    return failure(key, label, error, None)
