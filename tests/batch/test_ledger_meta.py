"""What a batch keeps in its ledger besides items: the webhook token; and job ids learned late."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from symbl_async.batch import batch_webhook_token
from symbl_async.batch._ledger import IllegalTransitionError, ItemState, Ledger
from symbl_async.batch._sqlite_store import SqliteStore
from symbl_async.batch._storage import keep_webhook_token
from symbl_async.errors import ValidationError

TOKEN_A = "a" * 43
TOKEN_B = "b" * 43


def test_meta_values_persist_and_schema_version_is_the_ledgers(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    with Ledger.open(path) as ledger:
        assert ledger.get_meta("webhook_token") is None
        ledger.set_meta("webhook_token", TOKEN_A)
        ledger.set_meta("webhook_token", TOKEN_B)  # replaced, not duplicated
        with pytest.raises(ValidationError):
            ledger.set_meta("schema_version", "3")
    with Ledger.open(path) as ledger:
        assert ledger.get_meta("webhook_token") == TOKEN_B
        assert ledger.get_meta("schema_version") == "2"


def test_the_batch_token_is_made_once_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "out" / "ledger.sqlite3"
    token = batch_webhook_token(path)
    assert len(token) >= 32 and batch_webhook_token(path) == token
    assert batch_webhook_token(tmp_path / "other.sqlite3") != token


def test_an_old_ledger_opens_and_takes_a_token(tmp_path: Path) -> None:
    path = tmp_path / "v1.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "INSERT INTO meta VALUES ('schema_version', '1');"
        "PRAGMA application_id = 1398361410;"
    )
    conn.close()
    token = batch_webhook_token(path)
    with Ledger.open(path) as ledger:
        assert ledger.get_meta("webhook_token") == token


async def test_keep_webhook_token_stores_and_reports_a_change(tmp_path: Path) -> None:
    here, there = "http://127.0.0.1:9000/hook/t", "http://127.0.0.1:9001/hook/t"
    with Ledger.open(tmp_path / "ledger.sqlite3") as ledger:
        store = SqliteStore.borrow(ledger)
        assert await keep_webhook_token(store, None, None)
        assert ledger.get_meta("webhook_token") is None
        assert await keep_webhook_token(store, TOKEN_A, here)  # the first: stored
        assert await keep_webhook_token(store, TOKEN_A, here)
        assert await keep_webhook_token(store, TOKEN_A, None)  # address unknown: trusted
        assert not await keep_webhook_token(store, TOKEN_A, there)  # another port: reported
        assert await keep_webhook_token(store, TOKEN_A, there)  # ... and kept
        assert not await keep_webhook_token(store, TOKEN_B, there)  # another token
        assert ledger.get_meta("webhook_token") == TOKEN_B
        assert here not in str(ledger.get_meta("webhook_url_sha256"))


def test_a_job_id_is_learned_only_by_an_adopted_submitted_item(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "ledger.sqlite3") as ledger:
        ledger.upsert_pending("k", "a.wav", "n", None)
        ledger.mark_submitting("k", "n-1")
        with pytest.raises(IllegalTransitionError):
            ledger.learn_job_id("k", "job")  # not submitted yet
        ledger.mark_submitted("k", None, "conv")
        row = ledger.learn_job_id("k", "job")
        assert (row.state, row.job_id, row.conversation_id) == (
            ItemState.SUBMITTED, "job", "conv"
        )
        assert ledger.get("k") == row
        with pytest.raises(IllegalTransitionError):
            ledger.learn_job_id("k", "other")  # it has one: never replaced
