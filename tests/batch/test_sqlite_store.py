"""The SQLite store: the ledger on a thread of its own, calls grouped into one transaction.

What a caller relies on: an answer means the change is committed (another connection sees
it), a refused move inside a group undoes only itself, calls keep their order, and closing
waits for the calls already made. And, under the batch's lock file (``exclusive``), a new
process adopts what a dead one left in flight at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from symbl_async.batch._ledger import ItemState, LedgerItem, Pending, SqliteLedger, SqliteStore
from symbl_async.batch._ledger._states import Change, completed, failed, fetched, submitted
from symbl_async.errors import ClientClosedError, IllegalTransitionError, LedgerError

S = ItemState


def pending(key: str) -> Pending:
    return Pending(key, f"{key}.wav", f"{key}-name", 60.0, None)


def committed(path: Path, sql: str, *args: object) -> list[tuple[Any, ...]]:
    """Rows as another program reads them (committed data only)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return list(conn.execute(sql, args).fetchall())
    finally:
        conn.close()


def committed_state(path: Path, key: str) -> str | None:
    rows = committed(path, "SELECT state FROM items WHERE key = ?", key)
    return None if not rows else str(rows[0][0])


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    opened = await SqliteStore.open(tmp_path / "ledger.sqlite3", worker_id="me")
    await opened.join(max_limit=500, lease=30.0)
    try:
        yield opened
    finally:
        await opened.aclose()


async def test_an_answer_means_committed(store: SqliteStore) -> None:
    await store.add_pending([pending("k")])
    assert committed_state(store.path, "k") == "pending"
    (row,) = await store.claim(1)
    assert row.state is S.SUBMITTING
    assert committed_state(store.path, "k") == "submitting"  # the intent is on disk
    await store.apply(row, submitted("job", "conv"))
    assert committed(store.path, "SELECT state, job_id FROM items") == [("submitted", "job")]


class Groups:
    """Records the ledger thread's transactions, and can hold the thread inside one."""

    def __init__(self, ledger: SqliteLedger) -> None:
        self.ledger = ledger
        self.groups: list[list[str]] = []
        self.durable: list[bool] = []  # each transaction's
        self.held = threading.Event()
        self.release = threading.Event()
        self._group = ledger.group
        self._apply = ledger.apply
        self._counts = ledger.counts
        # Instance attributes: the store looks the ledger's methods up at each call.
        ledger.group = self.group  # type: ignore[method-assign]
        ledger.apply = self.apply  # type: ignore[method-assign]
        ledger.counts = self.hold  # type: ignore[method-assign]

    @contextlib.contextmanager
    def group(self, *, durable: bool = True) -> Iterator[None]:
        self.groups.append([])
        self.durable.append(durable)
        with self._group(durable=durable):
            yield

    def apply(self, row: LedgerItem, change: Change) -> LedgerItem:
        self.groups[-1].append(row.key)
        return self._apply(row, change)

    def hold(self) -> dict[str, int]:
        """``counts``, after keeping the thread until released."""
        self.held.set()
        assert self.release.wait(30.0), "never released"
        return self._counts()


async def test_concurrent_calls_share_a_transaction_and_a_refusal_undoes_only_itself(
    store: SqliteStore,
) -> None:
    keys = [f"k{i:03d}" for i in range(200)]
    await store.add_pending([pending(k) for k in keys])
    rows = {r.key: r for r in await store.claim(150, keys[:150])}
    left = await store.get(keys[150])
    assert left is not None and len(rows) == 150
    groups = Groups(store._ledger)
    # The thread is held inside a call while the moves queue up behind it.
    holding = asyncio.ensure_future(store.counts())
    assert await asyncio.to_thread(groups.held.wait, 30.0)
    moves = asyncio.gather(
        *(store.apply(rows[k], submitted(f"job-{k}", None)) for k in keys[:100]),
        store.apply(left, completed()),  # refused: pending cannot be completed
        *(store.apply(rows[k], submitted(f"job-{k}", None)) for k in keys[100:150]),
        return_exceptions=True,
    )
    await asyncio.sleep(0)  # the moves are queued
    groups.release.set()
    outcomes = await moves
    assert (await holding)["submitting"] == 150
    refused = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(refused) == 1 and isinstance(refused[0], IllegalTransitionError)
    # One transaction after the held one (whose call made no move), in the order queued.
    assert groups.groups == [[], [*keys[:100], keys[150], *keys[100:150]]]
    counts = await store.counts()
    assert counts["submitted"] == 150 and counts["pending"] == 50
    for key in (keys[0], keys[99], keys[100], keys[149]):
        assert committed_state(store.path, key) == "submitted"
    assert committed_state(store.path, keys[150]) == "pending"


def commits(statements: list[str]) -> list[str]:
    """How each transaction traced reached the disk: the synchronous setting at its COMMIT
    (FULL, as the ledger opens, until a pragma changes it)."""
    mode, out = "FULL", []
    for sql in statements:
        if sql.startswith("PRAGMA synchronous="):
            mode = sql.split("=", 1)[1]
        elif sql == "COMMIT":
            out.append(mode)
    return out


async def test_only_moves_a_power_cut_may_lose_skip_the_fsync(store: SqliteStore) -> None:
    # An intent (claim), a release or a failure is fsynced before it is answered; the
    # job's id, its end and the fetch are not (Move.durable: lost with the commits after
    # them, a rerun redoes free work). Each durable commit fsyncs the WAL up to it.
    ledger = store._ledger
    statements: list[str] = []
    conn = ledger._conn
    assert conn is not None
    await store._call(conn.set_trace_callback, statements.append)
    statements.clear()  # the COMMIT of that call's own transaction
    await store.add_pending([pending("a"), pending("b"), pending("c")])
    (a,) = await store.claim(1, ["a"])
    a = await store.apply(a, submitted("job-a", "conv-a"))
    a = await store.apply(a, completed())
    a = await store.apply(a, fetched(None))
    (b,) = await store.claim(1, ["b"])
    await store.apply(b, failed("no"))
    assert commits(statements) == [
        "FULL", "FULL", "NORMAL", "NORMAL", "NORMAL", "FULL", "FULL"]
    # A transaction that groups a durable call with others is durable.
    (c,) = await store.claim(1, ["c"])
    c = await store.apply(c, submitted("job-c", None))
    groups = Groups(ledger)
    holding = asyncio.ensure_future(store.counts())
    assert await asyncio.to_thread(groups.held.wait, 30.0)
    statements.clear()
    both = asyncio.gather(store.apply(c, completed()), store.add_pending([pending("d")]))
    await asyncio.sleep(0)  # queued behind the held call
    groups.release.set()
    await both
    await holding
    # The held call's transaction, then the two queued calls' one.
    assert groups.groups == [[], ["c"]] and groups.durable == [True, True]
    assert commits(statements) == ["FULL", "FULL"]
    assert committed_state(store.path, "c") == "completed"


async def test_calls_keep_their_order(store: SqliteStore) -> None:
    await store.add_pending([pending("k")])
    (row,) = await store.claim(1)
    # Queued without awaiting between them: each sees the one before it.
    rows = await asyncio.gather(
        store.apply(row, submitted("job", "conv")),
        store.apply(row, completed()),
        store.apply(row, fetched(None)),
        store.get("k"),
    )
    assert [r.state if r else None for r in rows] == [S.SUBMITTED, S.COMPLETED, S.FETCHED,
                                                      S.FETCHED]


async def test_the_ledger_runs_on_its_own_thread(store: SqliteStore) -> None:
    ledger = store._ledger
    # The connection refuses any other thread: this one (the loop's) included.
    with pytest.raises(LedgerError, match="thread"):
        ledger.get("k")
    seen: list[str] = []
    original = ledger.counts

    def counts() -> dict[str, int]:
        seen.append(threading.current_thread().name)
        return original()

    ledger.counts = counts  # type: ignore[method-assign]
    await store.counts()
    assert seen == ["symbl-ledger"] and threading.current_thread().name != "symbl-ledger"


async def test_close_waits_for_queued_calls_then_refuses(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    store = await SqliteStore.open(path)
    calls = [asyncio.ensure_future(store.add_pending([pending(f"k{i}")])) for i in range(20)]
    await asyncio.sleep(0)  # the calls are queued
    await store.aclose()
    assert all(t.done() and not t.exception() for t in calls)
    assert committed(path, "SELECT count(*) FROM items WHERE state = 'pending'") == [(20,)]
    with pytest.raises(ClientClosedError):
        await store.get("k0")
    with pytest.raises(ClientClosedError):
        await store.wait_changed(0.01)
    await store.aclose()  # idempotent


async def _left_in_flight(path: Path) -> list[LedgerItem]:
    """A worker with a long lease claims two items, then its process ends (no leave)."""
    gone = await SqliteStore.open(path, worker_id="gone")
    try:
        await gone.join(max_limit=5, lease=300.0)
        await gone.add_pending([pending("a"), pending("b")])
        a, b = await gone.claim(2, ["a", "b"])
        return [a, await gone.apply(b, submitted("job-b", None))]
    finally:
        await gone.aclose()


async def test_an_exclusive_store_adopts_at_once_whatever_the_lease(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    left = await _left_in_flight(path)
    # The batch's lock file is held: no other process can be alive, its lease is moot.
    store = await SqliteStore.open(path, worker_id="next", exclusive=True)
    try:
        await store.join(max_limit=5, lease=30.0)
        taken = await store.adopt()
        assert [(r.key, r.state, r.owner) for r in taken] == [
            ("a", S.SUBMITTING, "next"), ("b", S.SUBMITTED, "next")]
        assert all(new.fence and old.fence and new.fence > old.fence
                   for new, old in zip(taken, left, strict=True))
        assert await store.adopt() == []  # its own now
        assert committed(path, "SELECT id FROM workers") == [("next",)]  # the dead one gone
    finally:
        await store.aclose()


async def test_a_shared_store_waits_for_the_lease(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    await _left_in_flight(path)
    store = await SqliteStore.open(path, worker_id="next")
    try:
        await store.join(max_limit=5, lease=30.0)
        assert await store.adopt() == []  # its lease runs (300 s): it may be alive
        assert await store.unfinished_elsewhere() == 2
        conn = sqlite3.connect(path)
        try:  # as if its lease had run out
            conn.execute("UPDATE workers SET lease_until = 0 WHERE id = 'gone'")
            conn.commit()
        finally:
            conn.close()
        taken = await store.adopt()
        assert [(r.key, r.owner) for r in taken] == [("a", "next"), ("b", "next")]
    finally:
        await store.aclose()


def account(path: Path) -> tuple[int, int]:
    """The committed (limit, successes) of the account."""
    ((lim, successes),) = committed(path, "SELECT lim, successes FROM account WHERE id = 1")
    return int(lim), int(successes)


async def test_at_the_ceiling_a_success_writes_nothing_and_below_it_raises_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    opened = await SqliteStore.open(tmp_path / "ledger.sqlite3", worker_id="me")
    try:
        await opened.join(max_limit=4, lease=30.0)
        await opened.add_pending([pending(f"k{i}") for i in range(8)])
        calls: list[str] = []
        real = SqliteLedger.on_accepted

        def counted(self: SqliteLedger) -> None:
            calls.append(threading.current_thread().name)
            real(self)

        monkeypatch.setattr(SqliteLedger, "on_accepted", counted)
        assert len(await opened.claim(1)) == 1  # saw the limit (4) at its ceiling
        for _ in range(3):
            await opened.on_accepted()
        assert calls == [] and account(opened.path) == (4, 0)
        await opened.on_rejected(cooldown=0.0)  # halved; successes count again
        assert account(opened.path) == (2, 0)
        await opened.on_accepted()
        await opened.on_accepted()
        assert len(calls) == 2 and account(opened.path) == (3, 0)
        assert len(await opened.claim(8)) == 2  # 1 in flight, the limit 3
        await opened.on_accepted()
        assert len(calls) == 3 and account(opened.path) == (3, 1)  # below it: counted
    finally:
        await opened.aclose()
