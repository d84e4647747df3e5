"""What ``process`` creates before its run begins, removed again when the run never begins.

A usage error found once the output folder exists (a ledger another run holds, a rerun
refused for its options, a folder SQLite cannot use) must leave the disk as it was: no empty
output folder holding an empty ``ledger.sqlite3`` for the user to wonder about. What was
there before the command is never touched: only folders it created (and only while empty),
and a ledger file it created, removed under the ledger's own lock and only while it records
no item (a ledger that records an item may record a paid job; it is never debris).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import filelock

from symbl_async.batch._ledger import SqliteLedger
from symbl_async.batch._output import lock_file
from symbl_async.errors import SymblError

__all__ = ["Leftovers"]

# The files SQLite keeps beside a database while it is open (WAL) or writing (rollback).
_SIDE_FILES = ("-wal", "-shm", "-journal")


def _missing(folder: Path) -> list[Path]:
    """The folders of ``folder``'s path that do not exist yet, outermost first."""
    missing: list[Path] = []
    for path in (folder, *folder.parents):
        if path.exists() or path.is_symlink():
            break
        missing.append(path)
    return missing[::-1]


def _records_items(path: Path) -> bool:
    """Whether the SQLite ledger at ``path`` records an item (or cannot be read: kept)."""
    if path.stat().st_size == 0:  # created, not set up: nothing in it
        return False
    try:
        with SqliteLedger.open_read_only(path) as ledger:  # creates no side file
            return any(ledger.counts().values())
    except SymblError:
        return True


class Leftovers:
    """A note of what exists before a run, to remove what the run created if it never
    began; see the module docstring."""

    def __init__(self, out: Path, ledger: Path | None) -> None:
        """Note what exists now.

        Args:
            out: the output folder (absolute).
            ledger: the SQLite ledger file (absolute), or None (a postgresql:// ledger).
        """
        self._folders = _missing(out)
        self._ledger: Path | None = None
        self._lock_existed = False
        if ledger is not None:
            self._folders += [f for f in _missing(ledger.parent) if f not in self._folders]
            if not ledger.exists():
                self._ledger = ledger
                self._lock_existed = lock_file(ledger).exists()

    def remove(self) -> None:
        """Remove the ledger and the folders the run created; keep anything else."""
        if self._ledger is not None:
            self._remove_ledger(self._ledger)
        # Deepest first; a folder that is not empty (someone else's files) stays, and so
        # do the folders above it.
        for folder in sorted(self._folders, key=lambda f: len(f.parts), reverse=True):
            try:
                folder.rmdir()
            except FileNotFoundError:
                continue
            except OSError:
                break

    def _remove_ledger(self, ledger: Path) -> None:
        lock_path = lock_file(ledger)
        if not lock_path.exists():
            return  # a run creates its ledger only under the lock: it never got that far
        # Under the batch's lock: no run uses the ledger meanwhile. Runs take it without
        # waiting (timeout 0), so deleting the lock file while holding it strands nobody.
        lock = filelock.FileLock(str(lock_path), timeout=0)
        try:
            lock.acquire()
        except (filelock.Timeout, OSError):
            return  # another run holds it now: the ledger is that run's
        try:
            if ledger.exists() and _records_items(ledger):
                return
            for path in (ledger, *(ledger.with_name(ledger.name + s) for s in _SIDE_FILES)):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            if not self._lock_existed:
                with contextlib.suppress(FileNotFoundError):
                    lock_path.unlink()
        finally:
            lock.release()
