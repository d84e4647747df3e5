"""The grace period before "not found" may mean "no job": per item, from its submit's deadline.

A URL or text submit waits at most the request timeout for its answer; an upload, a
deadline that grows with the file's size. A lookup that finds nothing before that (plus a
margin) proves nothing, so the item must not be sent again earlier.
"""

from __future__ import annotations

import collections
from pathlib import Path

from symbl_async import SymblClient, Timeouts
from symbl_async.batch._found import Finder, default_grace
from symbl_async.batch._records import LedgerItem
from symbl_async.batch._slots import JobSlots


def row(source: str) -> LedgerItem:
    return LedgerItem(
        key="k", source=source, name="n-1", state="unknown", job_id=None, conversation_id=None,
        error=None, attempts=1, duration=None, created_at=0.0, updated_at=0.0,
        submitted_at=None, completed_at=None, fetched_at=None, output_path=None, attempt_at=0.0,
    )


def finder(client: SymblClient, grace: float | None) -> Finder:
    return Finder(
        client=client, ledger=None, slots=JobSlots(2), grace=grace,  # type: ignore[arg-type]
        counts=collections.Counter(), on_event=lambda kind, key: None,
    )


async def test_each_item_waits_out_its_own_submits_deadline(tmp_path: Path) -> None:
    big = tmp_path / "big.wav"
    big.write_bytes(b"\0" * 2_000_000)
    timeouts = Timeouts(total=30.0, upload_floor=100.0, upload_min_throughput=10_000.0)
    async with SymblClient(app_id="a", app_secret="s", base_url="http://127.0.0.1:9",
                           timeouts=timeouts) as client:
        per_item = finder(client, None)
        assert per_item.grace_for(row("https://m.test/a.mp3")) == default_grace(30.0)
        assert per_item.grace_for(row("text: 3 message(s)")) == default_grace(30.0)
        # 100 s + 2 MB at 10 kB/s = 300 s
        assert per_item.grace_for(row(str(big))) == default_grace(300.0)
        # A file that is gone: no size, no bound, the longest grace.
        assert per_item.grace_for(row(str(tmp_path / "gone.wav"))) == default_grace(None)
        # An explicit lookup_grace applies to every item.
        assert finder(client, 1.5).grace_for(row(str(big))) == 1.5
        assert client.submit_deadline(None) == 30.0
        assert client.submit_deadline(2_000_000) == 300.0
