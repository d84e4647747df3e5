"""Receiving Symbl's job-status webhooks.

``_receiver`` (``WebhookReceiver``: its state, its own aiohttp server and the route
adapters), ``_fastapi`` (the FastAPI router; import :mod:`symbl_async.fastapi`).

May import: :mod:`symbl_async.core`, :mod:`symbl_async.errors`, aiohttp.
"""

from __future__ import annotations

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
    "WebhookEvent",
    "WebhookReceiver",
    "WebhookStats",
    "parse_webhook",
]
