"""Receiving Symbl's job-status webhooks.

``_receiver`` (``WebhookReceiver``: settings, token, the framework-neutral ``handle`` /
``handle_stream``, the relay's side; it *has* the parts below), ``_watches`` (its watch
table: ``JobWatch``es, forward-only statuses, remembered early webhooks), ``_confirm``
(the table's confirmations of a claimed end with ``GET /v1/job``, asked again while it
lags), ``_attempts`` (which job a submit attempt created, from webhooks sent to the
attempt's URL), ``_stats`` (``WebhookStats``, the counters the parts share), ``_server``
(the own aiohttp server and the aiohttp route adapter), ``_fastapi`` (the FastAPI router;
import :mod:`symbl_async.fastapi`), ``_pg_relay`` (``PostgresRelay``: deliveries handed
between processes through PostgreSQL; asyncpg is imported when it starts).

May import: :mod:`symbl_async.core`, :mod:`symbl_async.errors`, aiohttp.
"""

from __future__ import annotations

from symbl_async.webhooks._pg_relay import PostgresRelay
from symbl_async.webhooks._receiver import (
    ConfirmFunc,
    JobWatch,
    WebhookEvent,
    WebhookReceiver,
    WebhookStats,
    parse_webhook,
)

__all__ = [
    "ConfirmFunc",
    "JobWatch",
    "PostgresRelay",
    "WebhookEvent",
    "WebhookReceiver",
    "WebhookStats",
    "parse_webhook",
]
