"""The grace period before "not found" may mean "no job": per item, from its submit's bound.

A URL or text submit keeps a request on the wire at most its request timeout, retries
included; an upload, a deadline that grows with the file's size. A lookup that finds
nothing before that (plus a margin) proves nothing, so the item must not be sent again
earlier. An outcome found unknown counts from when the submit call ended.
"""

from __future__ import annotations

import collections
from pathlib import Path

import attrs

from symbl_async import RetryPolicy, SymblClient, Timeouts
from symbl_async.batch._inputs import FileSource, UrlSource
from symbl_async.batch._items import PreparedItem, prepare_item
from symbl_async.batch._ledger import ItemState, LedgerItem, MemoryStore
from symbl_async.batch._lookup import GRACE_MARGIN, Finder
from symbl_async.batch._slots import JobSlots


def row(state: ItemState = ItemState.SUBMITTING, **fields: object) -> LedgerItem:
    base = LedgerItem(key="k", source="s", name="n", state=state, attempts=1,
                      attempt_name="n-1", attempt_at=1000.0, updated_at=1000.0)
    return attrs.evolve(base, **fields)  # type: ignore[arg-type]


def finder(client: SymblClient, grace: float | None, store: MemoryStore) -> Finder:
    return Finder(client=client, store=store, slots=JobSlots(2), grace=grace,
                  counts=collections.Counter(), on_event=lambda kind, key: None)


def item(source: object) -> PreparedItem:
    prepared = prepare_item(source, None)
    assert isinstance(prepared, PreparedItem)
    return prepared


async def test_each_item_waits_out_its_own_submits_bound(tmp_path: Path) -> None:
    big = tmp_path / "big.wav"
    big.write_bytes(b"RIFF" + b"\0" * 2_000_000)
    timeouts = Timeouts(total=30.0, upload_floor=100.0, upload_min_throughput=10_000.0)
    async with SymblClient(app_id="a", app_secret="s", base_url="http://127.0.0.1:9",
                           timeouts=timeouts, retry=RetryPolicy(max_time=20.0)) as client:
        store = MemoryStore()
        per_item = finder(client, None, store)
        url = item(UrlSource("https://m.test/a.mp3", "audio"))
        # Retries for 20 s, then a last request of up to 30 s; then the margin.
        assert client.submit_deadline(None) == 50.0
        assert per_item.grace_until(row(), url) == 1000.0 + 50.0 + GRACE_MARGIN
        size = big.stat().st_size
        upload = PreparedItem(source=FileSource(big, kind="audio"), key="b", name="b",
                              options=url.options, duration=None, label=str(big))
        assert upload.upload_size() == size and url.upload_size() is None
        bound = 20.0 + 100.0 + size / 10_000.0  # retries, then the size-scaled deadline
        assert client.submit_deadline(size) == bound
        assert per_item.grace_until(row(), upload) == 1000.0 + bound + GRACE_MARGIN
        big.unlink()  # a file that is gone: no size, no bound: the longest grace
        assert per_item.grace_until(row(), upload) == 1000.0 + 3600.0 + GRACE_MARGIN
        # The item (its input, its recorded submit) is not known: the longest grace.
        assert per_item.grace_until(row(), None) == 1000.0 + 3600.0 + GRACE_MARGIN
        # An explicit lookup_grace applies to every item.
        assert finder(client, 1.5, store).grace_until(row(), url) == 1001.5


async def test_an_unknown_outcome_counts_from_the_end_of_its_submit() -> None:
    async with SymblClient(app_id="a", app_secret="s", base_url="http://127.0.0.1:9") as client:
        store = MemoryStore()
        found = finder(client, None, store)
        before = store.clock()
        until = found.grace_after_unknown()
        assert before + GRACE_MARGIN <= until <= store.clock() + GRACE_MARGIN
        # The row keeps it: whoever adopts the item waits for that, not a new bound.
        lost = row(ItemState.UNKNOWN, grace_until=until)
        assert found.grace_until(lost, None) == until
