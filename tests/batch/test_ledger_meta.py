"""What a batch keeps in its ledger besides items: values of its own (the webhook token)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from symbl_async.batch import batch_webhook_token
from symbl_async.batch._ledger import SqliteLedger, SqliteStore
from symbl_async.batch._rerun import keep_webhook_token
from symbl_async.errors import ValidationError

TOKEN_A = "a" * 43
TOKEN_B = "b" * 43


def test_meta_values_persist_and_schema_version_is_the_ledgers(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    with SqliteLedger.open(path) as ledger:
        assert ledger.get_meta("webhook_token") is None
        ledger.set_meta("webhook_token", TOKEN_A)
        ledger.set_meta("webhook_token", TOKEN_B)  # replaced, not duplicated
        for owned in ("schema_version", "next_fence"):
            with pytest.raises(ValidationError, match=f"{owned} belongs to the ledger"):
                ledger.set_meta(owned, "3")
    with SqliteLedger.open(path) as ledger:
        assert ledger.get_meta("webhook_token") == TOKEN_B
        assert ledger.get_meta("schema_version") == "4"
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT value FROM meta WHERE key = 'webhook_token'").fetchall()
        assert rows == [(TOKEN_B,)]
    finally:
        conn.close()


def test_the_batch_token_is_made_once_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "out" / "ledger.sqlite3"
    token = batch_webhook_token(path)
    assert len(token) >= 32 and batch_webhook_token(path) == token
    assert batch_webhook_token(tmp_path / "other.sqlite3") != token
    with SqliteLedger.open(path) as ledger:
        assert ledger.get_meta("webhook_token") == token


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
    with SqliteLedger.open(path) as ledger:
        assert ledger.get_meta("webhook_token") == token
        assert ledger.get_meta("schema_version") == "4"


async def test_keep_webhook_token_stores_and_reports_a_change(tmp_path: Path) -> None:
    here, there = "http://127.0.0.1:9000/hook/t", "http://127.0.0.1:9001/hook/t"
    store = await SqliteStore.open(tmp_path / "ledger.sqlite3")
    try:
        assert await keep_webhook_token(store, None, None)
        assert await store.get_meta("webhook_token") is None  # no receiver: nothing stored
        assert await keep_webhook_token(store, TOKEN_A, here)  # the first: stored
        assert await keep_webhook_token(store, TOKEN_A, here)
        assert await keep_webhook_token(store, TOKEN_A, None)  # address unknown: trusted
        assert not await keep_webhook_token(store, TOKEN_A, there)  # another port: reported
        assert await keep_webhook_token(store, TOKEN_A, there)  # ... and kept
        assert not await keep_webhook_token(store, TOKEN_B, there)  # another token
        assert await store.get_meta("webhook_token") == TOKEN_B
        digest = await store.get_meta("webhook_url_sha256")
        assert digest is not None and here not in digest and "hook" not in digest
    finally:
        await store.aclose()
