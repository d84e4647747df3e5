"""Making a write durable: ``fsync``, and on macOS ``F_FULLFSYNC``.

macOS's ``fsync(2)`` hands the data to the drive, which may keep it in its cache and write
it later, out of order: "if the drive loses power or the OS crashes, the application may
find that only some or none of their data was written"; the ``F_FULLFSYNC`` fcntl asks the
drive to flush its cache (Apple's ``fsync(2)`` and ``fcntl(2)`` man pages). Python's
:func:`os.fsync` does not ask it, nor does SQLite unless told (``PRAGMA fullfsync``). The
batch's promise (a submit's intent on disk before its bytes go, so that no job is paid
twice; an insights file on disk before the ledger says "fetched") needs the flush.
"""

from __future__ import annotations

import os

try:
    import fcntl

    _F_FULLFSYNC: int | None = getattr(fcntl, "F_FULLFSYNC", None)
except ImportError:  # pragma: no cover - Windows
    _F_FULLFSYNC = None

__all__ = ["FULL_FSYNC", "fsync"]

FULL_FSYNC = _F_FULLFSYNC is not None
"""Whether ``fsync`` leaves data in the drive's cache here (macOS): then :func:`fsync` uses
``F_FULLFSYNC``, and a SQLite ledger sets ``PRAGMA fullfsync``."""


def fsync(fd: int) -> None:
    """Flush ``fd``'s data to stable storage: ``F_FULLFSYNC`` where the platform has it (a
    file system that refuses it, a network or FAT volume, gets a plain fsync), else
    :func:`os.fsync`.

    Raises:
        OSError: as :func:`os.fsync`.
    """
    if _F_FULLFSYNC is not None:
        try:
            fcntl.fcntl(fd, _F_FULLFSYNC)
            return
        except OSError:
            pass
    os.fsync(fd)
