"""The receiver's side of a relay (:mod:`symbl_async.webhooks._pg_relay`).

A mixin of :class:`~symbl_async.webhooks._receiver.WebhookReceiver`: deliveries for jobs
this process does not watch go to the relay; the relay's deliveries for jobs it watches
come back through :meth:`RelayHooks._relayed`; a new watch asks the relay's table first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from symbl_async.core._webhook import WebhookEvent

if TYPE_CHECKING:
    from symbl_async.webhooks._pg_relay import PostgresRelay
    from symbl_async.webhooks._state import JobWatch, WebhookStats

__all__ = ["RelayHooks"]


class RelayHooks:
    """Relay hooks; the attributes below are the receiver's (declared, not defined here)."""

    _relay: PostgresRelay | None
    _watches: dict[str, JobWatch]
    _closed: bool
    stats: WebhookStats
    # Defined by WatchState and AttemptIndex, later in the receiver's bases.
    _apply_relayed: Callable[[WebhookEvent], bool]
    _note_attempt: Callable[[str | None, str], None]

    def _attach_relay(self, relay: PostgresRelay | None) -> None:
        self._relay = relay
        if relay is not None:
            relay.attach(self._relayed, lambda: list(self._watches))

    def _to_relay(self, event: WebhookEvent, attempt: str | None) -> None:
        """A valid delivery arrived here: hand it on if another process may wait for it."""
        if self._relay is not None and event.job_id not in self._watches:
            self.stats.relayed_out += 1
            self._relay.ensure_started()
            self._relay.record(event, attempt)

    def _relayed(self, event: WebhookEvent, attempt: str | None, from_table: bool) -> bool:
        """A delivery another process received, from the relay (``from_table``: read when a
        watch began or the relay reconnected); True if it moved a watched job forward."""
        if self._closed:
            return False
        self._note_attempt(attempt, event.job_id)
        return self._apply_relayed(event)

    def watch(self, job_id: str) -> JobWatch:
        """As :meth:`WatchState.watch`; with a relay, its table is read for the job too (a
        delivery another process relayed before this watch began is there)."""
        new = self._relay is not None and job_id not in self._watches
        watch: JobWatch = super().watch(job_id)  # type: ignore[misc]
        if new and self._relay is not None:
            self._relay.ensure_started()
            self._relay.look_up([job_id])
        return watch
