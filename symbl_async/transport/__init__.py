"""The I/O layer: the aiohttp transport and the token manager.

A thin adapter over :mod:`symbl_async.core`: it sends requests, and asks the core what
an answer means and whether to retry. ``_transport`` (``Transport``, the ``Requester``
protocol), ``_body`` (a submit's body: sent at most once, counted; ``UploadProgress``,
``UploadMeter``), ``_config`` (``Timeouts``, ``RetryPolicy``) and ``_auth``
(``Credentials``, ``TokenManager``).

May import: :mod:`symbl_async.core`, :mod:`symbl_async.errors`, aiohttp, backoff.
"""

from __future__ import annotations

from symbl_async.transport._auth import (
    Credentials,
    TokenManager,
)
from symbl_async.transport._body import (
    UploadMeter,
    UploadProgress,
)
from symbl_async.transport._config import (
    RetryPolicy,
    Timeouts,
)
from symbl_async.transport._transport import (
    Requester,
    Transport,
)

__all__ = [
    "Credentials",
    "Requester",
    "RetryPolicy",
    "Timeouts",
    "TokenManager",
    "Transport",
    "UploadMeter",
    "UploadProgress",
]
