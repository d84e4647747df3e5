"""Webhook delivery: POST ``{"jobId", "status"}`` on every job status change.

The id's key is ``webhook_body_key``: ``jobId`` as the docs show, or ``id`` as
Symbl's blog shows.

Deliveries run as background tasks over real HTTP with a short timeout. Faults
are drawn from one seeded generator at the moment of each status change, so a
run with the same seed and the same job history loses, duplicates and reorders
the same deliveries:

- drop: the delivery is never sent;
- duplicate: it is sent twice, back to back;
- reorder: a non-final delivery is held back and sent right after the next
  delivery of the same job (the final one is never held: nothing would follow it);
- delay: each send first waits a uniform draw from ``webhook_delay`` real seconds.

A failed delivery (refused, timed out, non-2xx) is counted, never raised.
"""

from __future__ import annotations

import asyncio
import logging
import random
import urllib.parse

import aiohttp
import attrs

from ._config import EmulatorConfig

__all__ = ["WebhookSender"]

log = logging.getLogger("symbl_async.emulator.webhooks")


@attrs.frozen
class _Delivery:
    url: str
    body: dict[str, str]
    delays: tuple[float, ...]  # one per copy to send


class WebhookSender:
    """Sends job status webhooks, applying the configured faults, and counts the outcome."""

    def __init__(self, config: EmulatorConfig, rng: random.Random) -> None:
        self._config = config
        self._rng = rng
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._held: dict[str, _Delivery] = {}
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self.duplicated = 0
        self.reordered = 0

    async def start(self) -> None:
        """Open the HTTP session deliveries go through."""
        timeout = aiohttp.ClientTimeout(total=self._config.webhook_timeout)
        self._session = aiohttp.ClientSession(timeout=timeout, trust_env=False)

    async def close(self) -> None:
        """Cancel deliveries in flight and close the session."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._held.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    def notify(self, url: str, job_id: str, status: str, *, final: bool) -> None:
        """Schedule the delivery of one status change (with faults applied)."""
        rng = self._rng
        held = self._held.pop(job_id, None)
        batch: list[_Delivery] = []
        if rng.random() < self._config.webhook_drop_rate:
            self.dropped += 1
        else:
            copies = 2 if rng.random() < self._config.webhook_duplicate_rate else 1
            self.duplicated += copies - 1
            low, high = self._config.webhook_delay
            delays = tuple(rng.uniform(low, high) for _ in range(copies))
            body = {self._config.webhook_body_key: job_id, "status": status}
            delivery = _Delivery(url, body, delays)
            if not final and held is None and rng.random() < self._config.webhook_reorder_rate:
                self._held[job_id] = delivery
                self.reordered += 1
            else:
                batch.append(delivery)
        if held is not None:
            batch.append(held)  # the held-back delivery follows the newer one
        if batch:
            task = asyncio.get_running_loop().create_task(self._send_all(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _send_all(self, batch: list[_Delivery]) -> None:
        for delivery in batch:
            for delay in delivery.delays:
                if delay:
                    await asyncio.sleep(delay)
                await self._post(delivery)

    async def _post(self, delivery: _Delivery) -> None:
        assert self._session is not None, "WebhookSender.start() was not called"
        try:
            async with self._session.post(delivery.url, json=delivery.body) as response:
                await response.read()
                ok = 200 <= response.status < 300
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            # The URL's path and query carry the receiver's secret: log the origin only.
            log.debug("webhook to %s failed: %s", _origin(delivery.url), type(exc).__name__)
            ok = False
        if ok:
            self.sent += 1
        else:
            self.failed += 1


def _origin(url: str) -> str:
    """``scheme://host:port`` of a URL, without the path and query that hold secrets."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}:{parts.port}" if parts.hostname else "?"
