"""The SQLite store: the ledger on a thread of its own, calls grouped into one transaction.

What a caller relies on: an answer means the change is committed (another connection sees
it), a refused move inside a group undoes only itself, calls keep their order, and closing
waits for the calls already made.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

from symbl_async.batch import ItemState, Ledger, SqliteStore
from symbl_async.batch._sqlite_store import KeyFilter
from symbl_async.errors import ClientClosedError, IllegalTransitionError, LedgerError


def committed_state(path: Path, key: str) -> str | None:
    """The item's state as another program reads it (committed data only)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT state FROM items WHERE key = ?", (key,)).fetchone()
    finally:
        conn.close()
    return None if row is None else str(row[0])


async def test_an_answer_means_committed(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    store = await SqliteStore.open(path)
    try:
        await store.upsert_pending("k", "a.wav", "n", 60.0)
        row = await store.mark_submitting("k", "n-1")
        assert row.state is ItemState.SUBMITTING
        assert committed_state(path, "k") == "submitting"  # the intent is on disk
    finally:
        await store.aclose()


async def test_concurrent_calls_share_a_transaction_and_a_refusal_undoes_only_itself(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ledger.sqlite3"
    store = await SqliteStore.open(path)
    try:
        keys = [f"k{i}" for i in range(200)]
        await asyncio.gather(*(store.upsert_pending(k, k, k) for k in keys))
        # Moves queued together, one of them refused (pending cannot be completed).
        outcomes = await asyncio.gather(
            *(store.mark_submitting(k, k + "-1") for k in keys[:100]),
            store.mark_completed(keys[150]),
            *(store.mark_submitting(k, k + "-1") for k in keys[100:150]),
            return_exceptions=True,
        )
        refused = [o for o in outcomes if isinstance(o, BaseException)]
        assert len(refused) == 1 and isinstance(refused[0], IllegalTransitionError)
        counts = await store.counts()
        assert counts["submitting"] == 150 and counts["pending"] == 50
        for key in (keys[0], keys[149]):
            assert committed_state(path, key) == "submitting"
        assert committed_state(path, keys[150]) == "pending"
    finally:
        await store.aclose()


async def test_calls_keep_their_order(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "ledger.sqlite3")
    try:
        await store.upsert_pending("k", "a.wav", "n")
        # Queued without awaiting between them: each sees the one before it.
        calls = [
            store.mark_submitting("k", "n-1"),
            store.mark_submitted("k", "job", "conv"),
            store.mark_completed("k"),
            store.mark_fetched("k", None),
        ]
        rows = await asyncio.gather(*calls)
        assert [r.state for r in rows] == [ItemState.SUBMITTING, ItemState.SUBMITTED,
                                           ItemState.COMPLETED, ItemState.FETCHED]
    finally:
        await store.aclose()


async def test_the_ledger_runs_on_its_own_thread(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "ledger.sqlite3")
    try:
        # The connection refuses any other thread: this one (the loop's) included.
        with pytest.raises(LedgerError, match="thread"):
            store.ledger.get("k")
        seen: list[str] = []
        original = store.ledger.counts

        def counts() -> dict[str, int]:
            seen.append(threading.current_thread().name)
            return original()

        store.ledger.counts = counts  # type: ignore[method-assign]
        await store.counts()
        assert seen == ["symbl-ledger"]
    finally:
        await store.aclose()


async def test_close_waits_for_queued_calls_then_refuses(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    store = await SqliteStore.open(path)
    pending = [asyncio.ensure_future(store.upsert_pending(f"k{i}", "s", "n"))
               for i in range(20)]
    await asyncio.sleep(0)  # the calls are queued
    await store.aclose()
    assert all(t.done() and not t.exception() for t in pending)
    with Ledger.open(path) as ledger:
        assert ledger.counts()["pending"] == 20
    with pytest.raises(ClientClosedError):
        await store.get("k0")
    await store.aclose()  # idempotent


async def test_get_of_a_key_never_seen_skips_the_thread_and_known_keys_are_read(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ledger.sqlite3"
    with Ledger.open(path) as ledger:  # an earlier run's item
        ledger.upsert_pending("old", "old.wav", "n-old", 60.0)
    store = await SqliteStore.open(path)
    hops: list[object] = []
    real_call = store._call

    async def counted(fn: object, *args: object) -> object:
        hops.append(fn)
        return await real_call(fn, *args)  # type: ignore[arg-type]

    store._call = counted  # type: ignore[method-assign,assignment]
    try:
        assert await store.get("new") is None
        assert hops == []  # answered without the ledger's thread
        old = await store.get("old")
        assert old is not None and old.name == "n-old"  # loaded at open
        await store.upsert_pending("new", "new.wav", "n-new")
        new = await store.get("new")
        assert new is not None and new.state is ItemState.PENDING
        assert len(hops) == 3
    finally:
        await store.aclose()


def test_the_key_filter_never_misses_a_key_and_rarely_claims_an_absent_one() -> None:
    keys = [f"key-{i}" for i in range(150_000)]  # past the first layer (65,536 keys)
    found = KeyFilter()
    for key in keys:
        found.add(key)
    assert all(key in found for key in keys)
    false = sum(f"absent-{i}" in found for i in range(50_000))
    assert false < 50_000 * 0.01  # ~0.24 % per layer, two layers
    assert 1 not in found
