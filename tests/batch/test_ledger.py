"""Ledger: a real SQLite file in WAL mode, checked transitions, and durability of the intent."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from symbl_async.batch._ledger import IllegalTransitionError, ItemState, Ledger, LedgerError
from symbl_async.errors import ClientClosedError, ValidationError

KEY = "k" * 64


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger.open(tmp_path / "state" / "batch.sqlite") as opened:
        yield opened


def state_seen_by_another_connection(path: Path, key: str) -> str | None:
    conn = sqlite3.connect(path)
    try:
        row = conn.execute("SELECT state FROM items WHERE key = ?", (key,)).fetchone()
    finally:
        conn.close()
    return None if row is None else str(row[0])


def test_open_creates_parents_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "ledger.db"
    with Ledger.open(path) as ledger:
        assert ledger.path == path
        conn = sqlite3.connect(path)
        try:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'")
            assert version.fetchone()[0] == "2"
        finally:
            conn.close()
        assert ledger._conn is not None
        assert ledger._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_open_refuses_paths_it_cannot_write(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ValidationError, match="file") as info:
        Ledger.open(blocker / "ledger.db")
    assert info.value.field == "ledger_path"
    with pytest.raises(ValidationError, match=str(tmp_path)):
        Ledger.open(tmp_path)  # a folder
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ValidationError, match=r"garbage\.db"):
        Ledger.open(garbage)


def test_open_refuses_another_programs_database(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE items (x)")
    conn.commit()
    conn.close()
    with pytest.raises(ValidationError, match="another program"):
        Ledger.open(path)


def test_open_refuses_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "l.db"
    Ledger.open(path).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(ValidationError, match="schema version 99"):
        Ledger.open(path)


def test_full_life_of_an_item(ledger: Ledger) -> None:
    item = ledger.upsert_pending(KEY, "/rec/a.wav", "symbl-async-abc", 61.5)
    assert (item.state, item.attempts, item.duration, item.job_id) == (
        ItemState.PENDING, 0, 61.5, None
    )
    item = ledger.mark_submitting(KEY)
    assert (item.state, item.attempts) == (ItemState.SUBMITTING, 1)
    item = ledger.mark_submitting(KEY)  # a retry after a 429
    assert item.attempts == 2
    item = ledger.mark_submitted(KEY, "job-1", "conv-1")
    assert (item.state, item.job_id, item.conversation_id) == (
        ItemState.SUBMITTED, "job-1", "conv-1"
    )
    assert item.submitted_at is not None
    item = ledger.mark_completed(KEY)
    assert item.completed_at is not None
    item = ledger.mark_fetched(KEY, Path("/out/a.json"))
    assert (item.state, item.output_path) == (ItemState.FETCHED, "/out/a.json")
    assert ledger.get(KEY) == item
    assert item.created_at <= item.submitted_at <= item.completed_at <= item.fetched_at  # type: ignore[operator]


def test_upsert_pending_leaves_an_existing_item_alone(ledger: Ledger) -> None:
    ledger.upsert_pending(KEY, "a", "n", None)
    ledger.mark_submitting(KEY)
    again = ledger.upsert_pending(KEY, "other", "other-name", 5.0)
    assert (again.state, again.source, again.name, again.duration) == (
        ItemState.SUBMITTING, "a", "n", None
    )


DONE = ["mark_submitting", "mark_submitted", "mark_completed", "mark_fetched"]


@pytest.mark.parametrize(
    ("path", "move"),
    [
        ([], "mark_submitted"),
        ([], "mark_completed"),
        ([], "mark_fetched"),
        (["mark_submitting"], "mark_completed"),
        (["mark_submitting", "mark_submitted"], "mark_submitting"),
        (DONE, "mark_submitting"),
        (DONE, "mark_failed"),
        (DONE, "mark_fetched"),
        (["mark_failed"], "mark_submitting"),
        (["mark_failed"], "mark_failed"),
    ],
)
def test_illegal_transitions_are_refused(ledger: Ledger, path: list[str], move: str) -> None:
    args = {
        "mark_submitting": (),
        "mark_submitted": ("job", "conv"),
        "mark_completed": (),
        "mark_fetched": ("out.json",),
        "mark_failed": ("boom",),
    }
    ledger.upsert_pending(KEY, "a", "n", None)
    for step in path:
        getattr(ledger, step)(KEY, *args[step])
    before = ledger.get(KEY)
    with pytest.raises(IllegalTransitionError, match="cannot go from") as info:
        getattr(ledger, move)(KEY, *args[move])
    assert info.value.current is not None and before is not None
    assert info.value.current is before.state
    assert ledger.get(KEY) == before  # nothing changed


def test_unknown_key_is_refused(ledger: Ledger) -> None:
    with pytest.raises(IllegalTransitionError, match="no ledger item") as info:
        ledger.mark_submitting("nope")
    assert info.value.current is None
    with pytest.raises(IllegalTransitionError):
        ledger.reset_for_retry("nope")
    assert ledger.get("nope") is None


def test_mark_submitted_needs_an_id(ledger: Ledger) -> None:
    ledger.upsert_pending(KEY, "a", "n", None)
    ledger.mark_submitting(KEY)
    with pytest.raises(ValidationError):
        ledger.mark_submitted(KEY, None, None)
    assert ledger.mark_submitted(KEY, None, "conv-found-by-name").conversation_id == (
        "conv-found-by-name"
    )


def test_failed_items_are_retried_only_when_reset(ledger: Ledger) -> None:
    ledger.upsert_pending(KEY, "a", "n", None)
    ledger.mark_submitting(KEY)
    ledger.mark_submitted(KEY, "job-1", "conv-1")
    failed = ledger.mark_failed(KEY, RuntimeError("job failed"))
    assert (failed.state, failed.error) == (ItemState.FAILED, "RuntimeError: job failed")
    item = ledger.reset_for_retry(KEY)
    assert (item.state, item.error, item.job_id, item.conversation_id, item.attempts) == (
        ItemState.PENDING, None, None, None, 1
    )
    with pytest.raises(IllegalTransitionError):
        ledger.reset_for_retry(KEY)  # not failed any more


def test_a_failed_fetch_is_retried_without_submitting_again(ledger: Ledger) -> None:
    ledger.upsert_pending(KEY, "a", "n", None)
    ledger.mark_submitting(KEY)
    ledger.mark_submitted(KEY, "job-1", "conv-1")
    ledger.mark_completed(KEY)
    ledger.mark_failed(KEY, "HTTP 500 on messages")
    item = ledger.reset_for_retry(KEY)
    assert (item.state, item.job_id, item.conversation_id) == (
        ItemState.COMPLETED, "job-1", "conv-1"
    )


def test_counts_and_items(ledger: Ledger) -> None:
    keys = [f"key-{i:04d}" for i in range(1203)]
    for key in keys:
        ledger.upsert_pending(key, key, "n-" + key, None)
    for key in keys[:10]:
        ledger.mark_submitting(key)
    ledger.mark_failed(keys[0], "bad")
    assert ledger.counts() == {
        "pending": 1193, "submitting": 9, "unknown": 0, "submitted": 0, "completed": 0,
        "fetched": 0, "failed": 1,
    }
    assert [i.key for i in ledger.items()] == keys  # across several pages
    assert [i.key for i in ledger.items(ItemState.SUBMITTING)] == keys[1:10]
    assert [i.key for i in ledger.items("failed")] == [keys[0]]


def test_marks_while_iterating_items_are_safe(ledger: Ledger) -> None:
    keys = [f"key-{i:04d}" for i in range(1200)]
    for key in keys:
        ledger.upsert_pending(key, key, key, None)
    for item in ledger.items(ItemState.PENDING):
        ledger.mark_submitting(item.key)
    assert ledger.counts()["submitting"] == 1200


def test_state_persists_across_close_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "l.db"
    with Ledger.open(path) as ledger:
        ledger.upsert_pending(KEY, "a", "n", 3.0)
        ledger.mark_submitting(KEY)
        ledger.mark_submitted(KEY, "job-1", "conv-1")
        before = ledger.get(KEY)
    with Ledger.open(path) as ledger:
        assert ledger.get(KEY) == before
        assert ledger.counts()["submitted"] == 1


def test_mark_submitting_is_committed_before_it_returns(ledger: Ledger) -> None:
    ledger.upsert_pending(KEY, "a", "n", None)
    assert state_seen_by_another_connection(ledger.path, KEY) == "pending"
    ledger.mark_submitting(KEY)
    assert state_seen_by_another_connection(ledger.path, KEY) == "submitting"


def test_intent_survives_sigkill_right_after_mark_submitting(tmp_path: Path) -> None:
    path = tmp_path / "l.db"
    child = textwrap.dedent(
        f"""
        import os, signal
        from symbl_async.batch._ledger import Ledger
        ledger = Ledger.open({str(path)!r})
        ledger.upsert_pending({KEY!r}, "a", "n", None)
        ledger.mark_submitting({KEY!r})
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", child], cwd=Path(__file__).resolve().parents[2], timeout=60,
        capture_output=True, text=True,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert Path(str(path) + "-wal").exists()  # killed before any checkpoint or close
    with Ledger.open(path) as ledger:
        item = ledger.get(KEY)
    assert item is not None
    assert (item.state, item.attempts) == (ItemState.SUBMITTING, 1)


def test_closed_ledger_refuses_calls(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path / "l.db")
    ledger.close()
    ledger.close()  # idempotent
    with pytest.raises(ClientClosedError):
        ledger.get(KEY)


def test_sqlite_failures_are_ledger_errors(ledger: Ledger) -> None:
    ledger.upsert_pending(KEY, "a", "n", None)
    with pytest.raises(LedgerError):
        ledger.upsert_pending("other", None, "n", None)  # type: ignore[arg-type]
    assert ledger.get("other") is None
    ledger.mark_submitting(KEY)  # the connection is still usable


def test_each_attempt_records_its_own_name_before_the_submit(ledger: Ledger) -> None:
    ledger.upsert_pending(KEY, "a", "base", None)
    first = ledger.mark_submitting(KEY, "base-1")
    assert (first.name, first.attempts) == ("base-1", 1) and first.attempt_at is not None
    ledger.mark_unknown(KEY)
    second = ledger.mark_submitting(KEY, "base-2")  # the lookup showed no job: a new attempt
    assert (second.name, second.attempts, second.state) == ("base-2", 2, ItemState.SUBMITTING)
    assert ledger.get(KEY) == second


def test_unknown_is_not_a_failure_and_leaves_only_by_lookup(ledger: Ledger) -> None:
    ledger.upsert_pending(KEY, "a", "n", None)
    ledger.mark_submitting(KEY, "n-1")
    unknown = ledger.mark_unknown(KEY)
    assert unknown.state is ItemState.UNKNOWN
    for move, args in (("mark_failed", ("boom",)), ("mark_completed", ()),
                       ("mark_fetched", ("x",)), ("mark_unknown", ())):
        with pytest.raises(IllegalTransitionError):
            getattr(ledger, move)(KEY, *args)
    assert ledger.get(KEY) == unknown
    found = ledger.mark_submitted(KEY, None, "conv")
    assert (found.state, found.conversation_id, found.job_id) == (ItemState.SUBMITTED, "conv", None)


def test_a_fetched_item_can_be_reopened_to_fetch_again(ledger: Ledger) -> None:
    ledger.upsert_pending(KEY, "a", "n", None)
    for step, args in (("mark_submitting", ()), ("mark_submitted", ("job", "conv")),
                       ("mark_completed", ()), ("mark_fetched", ("out.json",))):
        getattr(ledger, step)(KEY, *args)
    reopened = ledger.reopen(KEY)
    assert (reopened.state, reopened.output_path) == (ItemState.COMPLETED, None)
    assert reopened.job_id == "job"
    with pytest.raises(IllegalTransitionError):
        ledger.reopen(KEY)  # only from fetched


V1_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE items (
    key TEXT PRIMARY KEY, source TEXT NOT NULL, name TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'submitting', 'submitted', 'completed',
                                         'fetched', 'failed')),
    job_id TEXT, conversation_id TEXT, error TEXT, attempts INTEGER NOT NULL DEFAULT 0,
    duration REAL, created_at REAL NOT NULL, updated_at REAL NOT NULL, submitted_at REAL,
    completed_at REAL, fetched_at REAL, output_path TEXT
);
CREATE INDEX items_state ON items (state);
INSERT INTO meta VALUES ('schema_version', '1');
INSERT INTO items (key, source, name, state, attempts, created_at, updated_at)
    VALUES ('k1', 'a.wav', 'symbl-async-k1', 'submitting', 1, 10.0, 11.0);
PRAGMA application_id = 1398361410;
"""


def test_a_version_1_ledger_is_migrated_on_open(tmp_path: Path) -> None:
    path = tmp_path / "v1.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(V1_SCHEMA)
    conn.close()
    with Ledger.open(path) as ledger:
        item = ledger.get("k1")
        assert item is not None
        assert (item.state, item.name, item.attempts, item.attempt_at) == (
            ItemState.SUBMITTING, "symbl-async-k1", 1, None
        )
        assert ledger.mark_unknown("k1").state is ItemState.UNKNOWN  # the new state fits
    with Ledger.open(path) as ledger:  # and it opens again as version 2
        assert ledger.counts()["unknown"] == 1
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT value FROM meta").fetchone()[0] == "2"
    conn.close()
