"""The SQLite ledger's own part: a real file in WAL mode, what it refuses to open, the
migration of older files, and the durability of the intent. The moves, claims, leases and
reads every store shares are in ``test_store_contract.py``."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from symbl_async.batch._ledger import ItemState, Pending, SqliteLedger
from symbl_async.batch._ledger._states import (
    completed,
    fetched,
    reopened,
    resent,
    submitted,
    unknown,
)
from symbl_async.errors import ClientClosedError, LedgerError, ValidationError

S = ItemState
KEY = "k" * 64


def pending(key: str, duration: float | None = 60.0) -> Pending:
    return Pending(key, f"{key}.wav", f"{key}-name", duration, '{"spec": 1}')


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[SqliteLedger]:
    with SqliteLedger.open(tmp_path / "state" / "batch.sqlite", "me") as opened:
        opened.join(max_limit=2000, lease=30.0)
        yield opened


def read(path: Path, sql: str) -> list[tuple[object, ...]]:
    """Rows as another program reads them (committed data only)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return list(conn.execute(sql).fetchall())
    finally:
        conn.close()


def test_open_creates_parents_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "ledger.db"
    with SqliteLedger.open(path) as ledger:
        assert ledger.path == path
        assert read(path, "PRAGMA journal_mode") == [("wal",)]
        assert read(path, "SELECT value FROM meta WHERE key = 'schema_version'") == [("4",)]
        assert read(path, "PRAGMA application_id") == [(0x53594D42,)]
        conn = ledger._conn
        assert conn is not None
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_open_refuses_paths_it_cannot_write(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ValidationError, match="file") as info:
        SqliteLedger.open(blocker / "ledger.db")
    assert info.value.field == "ledger_path"
    with pytest.raises(ValidationError, match=str(tmp_path)) as info:
        SqliteLedger.open(tmp_path)  # a folder
    assert info.value.field == "ledger_path"
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ValidationError, match=r"garbage\.db") as info:
        SqliteLedger.open(garbage)
    assert info.value.field == "ledger_path"
    assert garbage.read_bytes() == b"this is not a database" * 100  # left alone


def test_open_refuses_another_programs_database(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE items (x)")
    conn.commit()
    conn.close()
    with pytest.raises(ValidationError, match="another program"):
        SqliteLedger.open(path)
    assert read(path, "SELECT name FROM sqlite_master") == [("items",)]  # untouched


def test_open_refuses_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "l.db"
    SqliteLedger.open(path).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(ValidationError, match="schema version 99; this version reads 4"):
        SqliteLedger.open(path)


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
    with SqliteLedger.open(path) as ledger:
        row = ledger.get("k1")
        assert row is not None
        # Version 1 submitted under the item's own name: no attempt name to split off (a
        # lookup searches ``attempt_name or name``).
        assert (row.state, row.name, row.attempt_name, row.attempts, row.attempt_at) == (
            S.SUBMITTING, "symbl-async-k1", None, 1, None)
        assert (row.owner, row.fence, row.spec, row.grace_until) == (None, None, None, None)
        # The new state fits the copied table (version 1's CHECK had no 'unknown').
        assert ledger.apply(row, unknown("lost", grace_until=0.0)).state is S.UNKNOWN
    with SqliteLedger.open(path) as ledger:  # and it opens again as version 3
        assert ledger.counts()["unknown"] == 1
    assert read(path, "SELECT value FROM meta WHERE key = 'schema_version'") == [("4",)]


# Version 2's schema, as it was written (the items of version 1 plus 'unknown' and
# attempt_at); ``name`` held the current attempt's name, ``<name>-<attempt>``.
V2_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE items (
    key TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    name TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'submitting', 'unknown', 'submitted',
                                         'completed', 'fetched', 'failed')),
    job_id TEXT,
    conversation_id TEXT,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    duration REAL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    submitted_at REAL,
    completed_at REAL,
    fetched_at REAL,
    output_path TEXT,
    attempt_at REAL
);
CREATE INDEX items_state ON items (state);
INSERT INTO meta VALUES ('schema_version', '2');
INSERT INTO meta VALUES ('webhook_token', 'tok');
INSERT INTO items (key, source, name, state, attempts, created_at, updated_at, attempt_at)
    VALUES ('sent', 'a.wav', 'symbl-async-a-1', 'submitting', 1, 10.0, 11.0, 11.0);
INSERT INTO items (key, source, name, state, attempts, created_at, updated_at, attempt_at,
                   error)
    VALUES ('lost', 'b.wav', 'symbl-async-b-1-2', 'unknown', 2, 10.0, 12.0, 12.0, 'timeout');
INSERT INTO items (key, source, name, state, attempts, created_at, updated_at)
    VALUES ('new', 'c.wav', 'symbl-async-c', 'pending', 0, 10.0, 10.0);
INSERT INTO items (key, source, name, state, attempts, created_at, updated_at, job_id,
                   conversation_id, submitted_at, completed_at, fetched_at, output_path)
    VALUES ('old', 'd.wav', 'symbl-async-d', 'fetched', 1, 1.0, 4.0, 'j', 'c', 2.0, 3.0,
            4.0, '/out/d.json');
PRAGMA application_id = 1398361410;
"""


def test_a_version_2_ledger_splits_the_attempt_name_off_on_open(tmp_path: Path) -> None:
    path = tmp_path / "v2.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(V2_SCHEMA)
    conn.close()
    with SqliteLedger.open(path, "me") as ledger:
        rows = {r.key: r for r in ledger.items()}
        assert {k: (r.state, r.name, r.attempt_name, r.attempts) for k, r in rows.items()} == {
            "sent": (S.SUBMITTING, "symbl-async-a", "symbl-async-a-1", 1),
            # Version 2 compounded names on resets: only the last attempt's number is split.
            "lost": (S.UNKNOWN, "symbl-async-b-1", "symbl-async-b-1-2", 2),
            "new": (S.PENDING, "symbl-async-c", None, 0),
            # Submitted under version 1 (no number): the name stays the one it was sent as.
            "old": (S.FETCHED, "symbl-async-d", None, 1),
        }
        assert (rows["old"].output_path, rows["old"].job_id) == ("/out/d.json", "j")
        assert rows["lost"].error == "timeout" and rows["sent"].attempt_at == 11.0
        assert ledger.get_meta("webhook_token") == "tok"
        # The next attempts are named after the item's own name, never compounded again.
        again = ledger.apply(rows["sent"], resent())
        assert (again.attempts, again.attempt_name) == (2, "symbl-async-a-2")
        ledger.join(max_limit=5, lease=30.0)
        ledger.add_pending([pending("new")])  # the rerun's input names it again
        (claimed,) = ledger.claim(5, None)
        assert (claimed.key, claimed.attempt_name, claimed.owner) == (
            "new", "symbl-async-c-1", "me")
    assert read(path, "SELECT value FROM meta WHERE key = 'schema_version'") == [("4",)]


def test_a_version_3_ledger_gets_the_outputs_record_on_open(tmp_path: Path) -> None:
    path = tmp_path / "v3.sqlite3"
    with SqliteLedger.open(path, "me") as ledger:
        ledger.join(max_limit=5, lease=30.0)
        ledger.add_pending([pending("done")])
        (row,) = ledger.claim(5, None)
        for change in (submitted("j", "c"), completed(), fetched("/out/d.json", None)):
            row = ledger.apply(row, change)
    conn = sqlite3.connect(path)  # version 3: no outputs column
    conn.executescript("ALTER TABLE items DROP COLUMN outputs;"
                       " UPDATE meta SET value = '3' WHERE key = 'schema_version';")
    conn.close()
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with SqliteLedger.open_read_only(path) as reader:  # status right after an upgrade
        (row,) = reader.get_many(["done"])
        assert (row.state, row.outputs, reader.counts()["fetched"]) == (S.FETCHED, None, 1)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # untouched
    with SqliteLedger.open(path, "me") as ledger:
        (row,) = ledger.get_many(["done"])
        assert (row.state, row.output_path, row.outputs, row.name) == (
            S.FETCHED, "/out/d.json", None, "done-name")  # kept as it was
        row = ledger.apply(row, reopened())
        row = ledger.apply(row, fetched("/out/d.json", '{"size":1}'))
        assert ledger.get_many(["done"])[0].outputs == '{"size":1}'
    assert read(path, "SELECT value FROM meta WHERE key = 'schema_version'") == [("4",)]


def test_a_read_only_open_creates_nothing_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    with pytest.raises(ValidationError, match="no ledger at"):
        SqliteLedger.open_read_only(path)
    assert list(tmp_path.iterdir()) == []
    with SqliteLedger.open(path) as db:
        db.add_pending([Pending("k", "s", "n", None, None)])
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with SqliteLedger.open_read_only(path) as ledger:
        assert ledger.counts()["pending"] == 1
        assert [row.key for row in ledger.get_many(["k"])] == ["k"]
        with pytest.raises(LedgerError, match="readonly"):
            ledger.set_meta("x", "y")
    # Not even the -wal and -shm files a plain mode=ro open creates.
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    other = tmp_path / "other.sqlite3"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(ValidationError, match="as a ledger"):
        SqliteLedger.open_read_only(other)


def test_state_persists_across_close_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "l.db"
    with SqliteLedger.open(path, "me") as ledger:
        ledger.join(max_limit=5, lease=30.0)
        ledger.add_pending([pending(KEY, 3.0), pending("other")])
        (row,) = ledger.claim(1, [KEY])
        row = ledger.apply(row, submitted("job-1", "conv-1"))
        ledger.set_meta("token", "t")
        before = ledger.get(KEY)
    with SqliteLedger.open(path, "me") as ledger:
        assert ledger.get(KEY) == before and before is not None
        assert ledger.counts() == {**{s.value: 0 for s in S}, "submitted": 1, "pending": 1}
        assert ledger.get_meta("token") == "t"
        assert ledger.apply(before, completed()).state is S.COMPLETED  # its fence still holds
        ledger.join(max_limit=5, lease=30.0)
        ledger.add_pending([pending("other")])  # a new run: its input names it again
        (claimed,) = ledger.claim(1, None)
        assert claimed.key == "other" and before.fence is not None and claimed.fence is not None
        assert claimed.fence > before.fence  # fences only grow, across reopens too


def test_marks_while_iterating_items_are_safe(ledger: SqliteLedger) -> None:
    keys = [f"key-{i:04d}" for i in range(1200)]
    ledger.add_pending([pending(k) for k in keys])
    for row in ledger.items(S.PENDING):  # pages read between the writes
        (claimed,) = ledger.claim(1, [row.key])
        assert claimed.key == row.key
    assert ledger.counts()["submitting"] == 1200


def test_the_intent_survives_sigkill_right_after_the_claim(tmp_path: Path) -> None:
    path = tmp_path / "l.db"
    child = textwrap.dedent(
        f"""
        import os, signal
        from symbl_async.batch._ledger import Pending, SqliteLedger
        ledger = SqliteLedger.open({str(path)!r}, "doomed")
        ledger.join(max_limit=5, lease=30.0)
        ledger.add_pending([Pending({KEY!r}, "a.wav", "n", None, None)])
        ledger.claim(1, None)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", child], cwd=Path(__file__).resolve().parents[2], timeout=60,
        capture_output=True, text=True, check=False,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert Path(str(path) + "-wal").exists()  # killed before any checkpoint or close
    with SqliteLedger.open(path) as ledger:
        row = ledger.get(KEY)
    assert row is not None
    assert (row.state, row.attempts, row.attempt_name, row.owner) == (
        S.SUBMITTING, 1, "n-1", "doomed")
    assert row.attempt_at is not None and row.fence is not None


def test_a_closed_ledger_refuses_calls(tmp_path: Path) -> None:
    ledger = SqliteLedger.open(tmp_path / "l.db")
    ledger.close()
    ledger.close()  # idempotent
    with pytest.raises(ClientClosedError, match="closed"):
        ledger.get(KEY)
    with pytest.raises(ClientClosedError):
        ledger.add_pending([pending(KEY)])
    with pytest.raises(ClientClosedError):
        ledger.join(max_limit=1, lease=1.0)


def test_sqlite_failures_are_ledger_errors(ledger: SqliteLedger) -> None:
    ledger.add_pending([pending(KEY)])
    bad = Pending("bad", None, "n", None, None)  # type: ignore[arg-type]
    with pytest.raises(LedgerError, match="NOT NULL") as info:
        ledger.add_pending([pending("fine"), bad])
    assert str(ledger.path) in str(info.value)
    assert ledger.get("fine") is None and ledger.get("bad") is None  # undone, all of it
    (row,) = ledger.claim(1, None)  # the connection is still usable
    assert row.key == KEY
