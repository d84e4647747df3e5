"""How far an upload has got: shared by the transport (which updates it) and its readers
(a batch's uplink and progress line), so it lives here, with no I/O."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import attrs

__all__ = ["UploadProgress"]


@attrs.define(kw_only=True, eq=False)
class UploadProgress:
    """How far an upload has got, updated in place while it runs.

    Pass one to a file submit (``progress=``) and read it from any coroutine meanwhile.

    Attributes:
        total: the body's size in bytes (its ``Content-Length``); ``None`` until it starts.
        sent: bytes of the current attempt handed to the connection.
        attempts: attempts started; a resend (after a cut-off, which created nothing)
            starts again from 0 bytes.
        started_at: ``time.monotonic()`` when the current attempt started.
        moved_at: ``time.monotonic()`` when its bytes last moved.
        hold: awaited before the body's last kilobyte is handed over, once the peer has
            taken the rest (``None``: no pause). The service creates a job only once it
            has every ``Content-Length`` byte, so an upload held there has created
            nothing yet: a batch uploads a file while
            the account is full and lets its last bytes go once a job slot is free. A
            hold that raises (or is cancelled) cuts the upload off: nothing is created.
            No stall is counted while it waits.
        holding: the upload waits on ``hold`` now (or on its caller's fence:
            ``symbl_async.core._fence``).
        held_for: seconds the current attempt waited on ``hold`` (and the fence).
    """

    total: int | None = None
    sent: int = 0
    attempts: int = 0
    started_at: float | None = None
    moved_at: float | None = None
    hold: Callable[[], Awaitable[None]] | None = None
    holding: bool = False
    held_for: float = 0.0

    @property
    def fraction(self) -> float | None:
        """``sent / total`` (``None`` before the upload starts)."""
        if self.total is None:
            return None
        return self.sent / self.total if self.total else 1.0

    @property
    def rate(self) -> float | None:
        """Bytes per second of the current attempt so far (``None`` before it starts)."""
        if self.started_at is None:
            return None
        elapsed = time.monotonic() - self.started_at
        return self.sent / elapsed if elapsed > 0 else None

    def begin(self, total: int, now: float) -> None:
        """A new attempt of ``total`` bytes starts at ``now`` (the transport calls it)."""
        self.total, self.sent, self.started_at, self.moved_at = total, 0, now, now
        self.held_for = 0.0
        self.attempts += 1
