"""Durable writes: F_FULLFSYNC where the platform has it (macOS), else fsync; and the
SQLite ledger's PRAGMA fullfsync with it. This machine is Linux: the fcntl is a stand-in
recording its calls, and the pragma is read back (SQLite keeps it on every platform)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from symbl_async.batch._ledger import _sqlite
from symbl_async.core import _durable

_FAKE_FULLFSYNC = 51


class _Fcntl:
    """fcntl.fcntl's stand-in: records (fd, command); refuses when told to."""

    def __init__(self, refuse: bool = False) -> None:
        self.calls: list[tuple[int, int]] = []
        self.refuse = refuse

    def fcntl(self, fd: int, command: int, *args: Any) -> int:
        self.calls.append((fd, command))
        if self.refuse:
            raise OSError(25, "Inappropriate ioctl for device")
        return 0


@pytest.mark.parametrize("refused", [False, True], ids=["flushed", "refused"])
def test_fsync_asks_the_drive_to_flush_where_it_can_and_falls_back_to_fsync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, refused: bool
) -> None:
    stand_in = _Fcntl(refuse=refused)
    fsynced: list[int] = []
    monkeypatch.setattr(_durable, "_F_FULLFSYNC", _FAKE_FULLFSYNC)
    monkeypatch.setattr(_durable, "fcntl", stand_in)
    monkeypatch.setattr(os, "fsync", fsynced.append)
    with open(tmp_path / "f", "wb") as f:
        _durable.fsync(f.fileno())
        assert stand_in.calls == [(f.fileno(), _FAKE_FULLFSYNC)]
        # A file system that refuses F_FULLFSYNC (a network or FAT volume): plain fsync.
        assert fsynced == ([f.fileno()] if refused else [])


def test_without_the_flush_fsync_is_os_fsync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fsynced: list[int] = []
    monkeypatch.setattr(_durable, "_F_FULLFSYNC", None)
    monkeypatch.setattr(os, "fsync", fsynced.append)
    with open(tmp_path / "f", "wb") as f:
        _durable.fsync(f.fileno())
        assert fsynced == [f.fileno()]


@pytest.mark.parametrize("full", [False, True], ids=["fsync", "fullfsync"])
def test_the_sqlite_ledger_asks_sqlite_for_the_flush_where_fsync_lacks_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, full: bool
) -> None:
    monkeypatch.setattr(_sqlite, "FULL_FSYNC", full)
    with _sqlite.SqliteLedger.open(tmp_path / "ledger.sqlite3") as ledger:
        conn = ledger._conn
        assert conn is not None
        assert conn.execute("PRAGMA fullfsync").fetchone()[0] == int(full)
        assert conn.execute("PRAGMA checkpoint_fullfsync").fetchone()[0] == int(full)
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL, either way


def test_this_platform_flushes_as_it_should() -> None:
    # macOS's fcntl has F_FULLFSYNC; Linux's and Windows' fsync already reach the disk.
    import sys

    assert _durable.FULL_FSYNC is (sys.platform == "darwin")
