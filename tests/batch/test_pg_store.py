"""PostgresStore against a real server: connecting, and every transition exactly as the
SQLite ledger makes it (the same rule, the same refusals, the same field changes)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import attrs
import pytest
from _polling import eventually
from _postgres import PASSWORD, PostgresServer

from symbl_async.batch._ledger import Ledger
from symbl_async.batch._pg_store import PostgresStore
from symbl_async.batch._records import ItemState, LedgerItem
from symbl_async.batch._store import ItemStore, Pending, SharedStore
from symbl_async.errors import (
    ClientClosedError,
    IllegalTransitionError,
    LedgerError,
    ValidationError,
)

S = ItemState
# A way into each state (the moves as the engine makes them), from a fresh pending item.
PATHS: dict[str, list[str]] = {
    "pending": [],
    "submitting": ["mark_submitting"],
    "unknown": ["mark_submitting", "mark_unknown"],
    "submitted": ["mark_submitting", "mark_submitted"],
    "submitted-by-name": ["mark_submitting", "mark_unknown", "mark_submitted_by_name"],
    "completed": ["mark_submitting", "mark_submitted", "mark_completed"],
    "fetched": ["mark_submitting", "mark_submitted", "mark_completed", "mark_fetched"],
    "failed": ["mark_failed"],
    "failed-after-completed": ["mark_submitting", "mark_submitted", "mark_completed",
                               "mark_failed"],
}
MOVES = ["mark_submitting", "mark_unknown", "mark_submitted", "mark_submitted_by_name",
         "mark_completed", "mark_fetched", "mark_failed", "reopen", "reset_for_retry",
         "learn_job_id"]
_TIMES = ("created_at", "updated_at", "submitted_at", "completed_at", "fetched_at",
          "attempt_at")


def call(store: Any, move: str, key: str) -> Any:
    """The move with the arguments the engine would give (sync for Ledger, a coroutine for
    PostgresStore)."""
    args: dict[str, tuple[Any, ...]] = {
        "mark_submitting": (f"name-{key}-x",),
        "mark_unknown": (TimeoutError("no answer"),),
        "mark_submitted": ("job-1", "conv-1"),
        "mark_submitted_by_name": (None, "conv-2"),
        "mark_fetched": ("/out/x.json",),
        "mark_failed": (ValueError("bad media"),),
        "learn_job_id": ("job-9",),
    }
    name = "mark_submitted" if move == "mark_submitted_by_name" else move
    return getattr(store, name)(key, *args.get(move, ()))


def comparable(item: LedgerItem) -> dict[str, Any]:
    """The fields both ledgers must agree on: times only as set or not."""
    fields = attrs.asdict(item)
    for name in _TIMES:
        fields[name] = fields[name] is not None
    for name in ("spec", "owner", "fence"):
        fields.pop(name)
    return fields


@pytest.fixture
async def store(pg_url: str) -> AsyncIterator[PostgresStore]:
    opened = await PostgresStore.connect(pg_url, worker_id="w1")
    yield opened
    await opened.aclose()


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger.open(tmp_path / "ledger.sqlite3") as opened:
        yield opened


async def test_every_move_from_every_state_is_the_sqlite_ledgers(
    store: PostgresStore, ledger: Ledger
) -> None:
    """The differential test: each (state, move) pair on both ledgers; the same refusal
    (same states in the error) or the same item afterwards."""
    allowed = refused = 0
    for start, path in PATHS.items():
        for move in MOVES:
            key = f"{start}/{move}"
            ledger.upsert_pending(key, "src", f"base-{key}", 12.5)
            await store.upsert_pending(key, "src", f"base-{key}", 12.5)
            for step in path:
                call(ledger, step, key)
                await call(store, step, key)
            try:
                expected = call(ledger, move, key)
            except IllegalTransitionError as exc:
                with pytest.raises(IllegalTransitionError) as got:
                    await call(store, move, key)
                assert (got.value.current, got.value.wanted) == (exc.current, exc.wanted)
                assert str(got.value) == str(exc)
                refused += 1
            else:
                after = await call(store, move, key)
                assert comparable(after) == comparable(expected), key
                allowed += 1
            row = await store.get(key)
            assert row is not None
            assert comparable(row) == comparable(ledger.get(key) or row), key
    # By hand from the rule: pending 2, submitting 5, unknown 3, submitted 2 (its job id is
    # known), submitted by name 3 (learn_job_id too), completed 2, fetched 1, failed 1 + 1.
    assert (allowed, refused) == (20, 70)


async def test_it_is_a_shared_store(store: PostgresStore) -> None:
    shared: SharedStore = store  # mypy checks every signature against the protocol
    assert isinstance(shared, SharedStore) and isinstance(shared, ItemStore)


async def test_unknown_keys_and_missing_ids_are_refused(store: PostgresStore) -> None:
    with pytest.raises(IllegalTransitionError) as exc:
        await store.mark_completed("nope")
    assert exc.value.current is None and exc.value.wanted is S.COMPLETED
    await store.upsert_pending("k", "src", "n")
    await store.mark_submitting("k")
    with pytest.raises(ValidationError, match="job_id or conversation_id"):
        await store.mark_submitted("k", None, None)
    assert (await store.get("k")) is not None
    assert await store.get("absent") is None


async def test_upsert_pending_keeps_an_existing_item_and_its_spec(store: PostgresStore) -> None:
    first = await store.upsert_pending("k", "a.wav", "name-1", 3.0, spec='{"url": "x"}')
    assert (first.state, first.spec, first.attempts, first.owner) == (S.PENDING, '{"url": "x"}',
                                                                     0, None)
    await store.mark_submitting("k", "name-2")
    again = await store.upsert_pending("k", "b.wav", "name-3", 9.0, spec="{}")
    assert again == await store.get("k")
    assert (again.state, again.source, again.name, again.spec) == (S.SUBMITTING, "a.wav",
                                                                  "name-2", '{"url": "x"}')


async def test_counts_items_in_pages_and_meta(store: PostgresStore, pg_url: str) -> None:
    conn = await asyncpg.connect(pg_url)
    try:  # 1,203 rows straight in: more than two pages of 500
        await conn.executemany(
            "INSERT INTO items (key, source, name, state, created_at, updated_at)"
            " VALUES ($1, 's', $1, $2, 1, 1)",
            [(f"k{i:05d}", "failed" if i % 3 == 0 else "pending") for i in range(1203)],
        )
    finally:
        await conn.close()
    counts = await store.counts()
    assert counts == {**{s.value: 0 for s in S}, "pending": 802, "failed": 401}
    keys = [item.key async for item in store.items()]
    assert keys == [f"k{i:05d}" for i in range(1203)]
    failed = [item.key async for item in store.items("failed")]
    assert failed == [f"k{i:05d}" for i in range(0, 1203, 3)]
    assert await store.get_meta("webhook_token") is None
    await store.set_meta("webhook_token", "t1")
    await store.set_meta("webhook_token", "t2")
    assert await store.get_meta("webhook_token") == "t2"
    assert await store.get_meta("schema_version") == "1"
    with pytest.raises(ValidationError, match="schema_version"):
        await store.set_meta("schema_version", "9")


async def test_connect_creates_the_schema_once_and_hides_the_password(pg_url: str) -> None:
    # Together: the schema's creation is serialised (CREATE ... IF NOT EXISTS races alone).
    first, second = await asyncio.gather(*(PostgresStore.connect(pg_url) for _ in range(2)))
    try:
        assert PASSWORD not in first.location and PASSWORD not in repr(first)
        assert first.location == pg_url.replace(f":{PASSWORD}@", "@")
        assert first.worker_id != second.worker_id
        await first.upsert_pending("k", "s", "n")
        assert (await second.get("k")) == (await first.get("k"))
    finally:
        await first.aclose()
        await second.aclose()


async def test_connect_refuses_with_the_url_but_not_the_password(
    postgres_server: PostgresServer, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = pg_url.replace(PASSWORD, "not-the-password-123")
    no_server = f"postgresql://postgres:{PASSWORD}@127.0.0.1:1/db"
    for url, words in [(wrong, "password authentication failed"),
                       (no_server, "cannot connect to postgresql://postgres@127.0.0.1:1/db"),
                       ("mysql://u:p@h/db", "not a postgresql:// URL")]:
        with pytest.raises(ValidationError, match=words) as exc:
            await PostgresStore.connect(url)
        assert exc.value.field == "ledger"
        assert PASSWORD not in str(exc.value) and "not-the-password" not in str(exc.value)
    conn = await asyncpg.connect(pg_url)
    try:
        await PostgresStore.aclose(await PostgresStore.connect(pg_url))
        await conn.execute("UPDATE meta SET value = '7' WHERE key = 'schema_version'")
    finally:
        await conn.close()
    with pytest.raises(ValidationError, match="schema version 7; this version reads 1"):
        await PostgresStore.connect(pg_url)
    monkeypatch.setitem(sys.modules, "asyncpg", None)
    with pytest.raises(ValidationError, match=r"pip install 'symbl_async\[postgres\]'"):
        await PostgresStore.connect(pg_url)


async def test_a_closed_store_refuses_calls_and_sql_errors_are_ledger_errors(
    store: PostgresStore, pg_url: str
) -> None:
    conn = await asyncpg.connect(pg_url)
    try:
        await conn.execute("ALTER TABLE items RENAME TO items_gone")
    finally:
        await conn.close()
    with pytest.raises(LedgerError, match='relation "items" does not exist') as exc:
        await store.get("k")
    assert PASSWORD not in str(exc.value)
    await store.aclose()
    await store.aclose()
    with pytest.raises(ClientClosedError):
        await store.get("k")


async def test_a_fetched_item_is_reopened_and_a_failed_one_reset_by_anyone(
    pg_url: str,
) -> None:
    """Finished items belong to nobody: a later run (another worker id) may reopen or retry
    them, and becomes their owner with a new fence."""
    first = await PostgresStore.connect(pg_url, worker_id="run-1")
    later = await PostgresStore.connect(pg_url, worker_id="run-2")
    try:
        await first.join(max_limit=5, lease=30)
        for key in ("done", "bad"):
            await first.upsert_pending(key, "s", key)
            claimed = await first.claim([key], lambda row: row.name + "-a1")
            assert claimed is not None and claimed.owner == "run-1"
        await first.mark_submitted("done", "j", "c")
        await first.mark_completed("done")
        fetched = await first.mark_fetched("done", "/x")
        failed = await first.mark_failed("bad", "no")
        assert (fetched.owner, fetched.fence, failed.owner, failed.fence) == (None,) * 4
        reopened = await later.reopen("done")
        reset = await later.reset_for_retry("bad")
        assert (reopened.state, reopened.output_path, reopened.owner) == (S.COMPLETED, None,
                                                                        "run-2")
        assert (reset.state, reset.owner) == (S.PENDING, "run-2")
        assert claimed is not None and claimed.fence is not None
        assert reopened.fence is not None
        assert reset.fence is not None and reset.fence > reopened.fence > claimed.fence
        assert (await later.mark_fetched("done", "/y")).state is S.FETCHED
    finally:
        await first.aclose()
        await later.aclose()


async def test_add_pending_records_many_at_once_and_keeps_existing_items(
    store: PostgresStore, pg_url: str
) -> None:
    await store.upsert_pending("old", "old.wav", "old-n", 9.0, spec="{}")
    await store.mark_submitting("old", "old-n-1")
    listener = await asyncpg.connect(pg_url)
    heard: list[str] = []
    await listener.add_listener("symbl_async_changed", lambda *a: heard.append(a[-1]))
    try:
        items = [Pending(f"k{i}", f"{i}.wav", f"n{i}", float(i), f'{{"i": {i}}}')
                 for i in range(300)]
        rows = await store.add_pending([*items, Pending("old", "x", "x", 1.0, "{}"), items[0]])
        by_key = {r.key: r for r in rows}
        assert len(by_key) == 301
        assert by_key["old"].state is S.SUBMITTING and by_key["old"].spec == "{}"
        assert by_key["k7"].state is S.PENDING and by_key["k7"].spec == '{"i": 7}'
        assert (await store.counts())["pending"] == 300
        # One wake-up for the whole group, not one per item.
        await eventually(lambda: len(heard) >= 1)
        assert heard == ["pending"]
        assert await store.add_pending([]) == []
    finally:
        await listener.close()
