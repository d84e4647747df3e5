"""Mount a :class:`~symbl_async.WebhookReceiver` into a FastAPI app (extra ``fastapi``).

The router lives in :mod:`symbl_async.webhooks`; this module keeps the documented
import path ``from symbl_async.fastapi import fastapi_router``.
"""

from symbl_async.webhooks._fastapi import fastapi_router

__all__ = ["fastapi_router"]
