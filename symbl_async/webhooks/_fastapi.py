"""FastAPI / Starlette adapter for :class:`~symbl_async.webhooks._receiver.WebhookReceiver`.

Needs the optional extra: ``pip install 'symbl_async[fastapi]'``. FastAPI is imported
only when :func:`fastapi_router` is called, so the core package never requires it.

::

    receiver = WebhookReceiver(public_url="https://hooks.example.net", confirm=client.get_job)
    app.include_router(fastapi_router(receiver))
    # give Symbl receiver.callback_url; await receiver.close() on shutdown

The path holds the receiver's secret token: run uvicorn with ``access_log=False`` (or
filter its access log), or the token lands in every log line.
"""

# No "from __future__ import annotations" here: FastAPI resolves the endpoint's
# annotations against this module's globals, where the lazily imported names are absent.

from typing import TYPE_CHECKING

from symbl_async.webhooks._receiver import WebhookReceiver
from symbl_async.webhooks._server import normalize_prefix

if TYPE_CHECKING:
    from fastapi import APIRouter

__all__ = ["fastapi_router"]


def fastapi_router(receiver: WebhookReceiver, *, prefix: str | None = None) -> "APIRouter":
    """Build a router serving ``POST {prefix}/{token}`` for the receiver.

    The body is streamed and never read past ``receiver.max_body``; the answer is the
    status :meth:`WebhookReceiver.handle_stream` returns. The route is left out of the
    OpenAPI schema.

    Args:
        receiver: the receiver that handles the webhooks (its own server need not run).
        prefix: mount path; defaults to ``receiver.path_prefix``. ``callback_url`` is
            built from ``path_prefix`` (and ``public_url``), so a different prefix, or a
            prefix given to ``include_router``, must be reflected in the ``webhookUrl``
            you submit (for the latter, put it at the end of ``public_url``).

    Returns:
        A router for ``app.include_router(...)``.

    Raises:
        ImportError: FastAPI is not installed.
        ValidationError: ``prefix`` does not start with ``/``.
    """
    try:
        from fastapi import APIRouter, Request, Response
    except ImportError as exc:
        raise ImportError(
            "symbl_async.webhooks._fastapi needs FastAPI: pip install 'symbl_async[fastapi]'"
        ) from exc

    mount = receiver.path_prefix if prefix is None else normalize_prefix(prefix, "prefix")
    router = APIRouter(prefix=mount)

    async def receive_symbl_webhook(token: str, request: Request) -> Response:
        attempt = request.query_params.get("attempt")
        extra = {} if attempt is None else {"attempt": attempt}
        status = await receiver.handle_stream(
            token,
            request.stream(),
            content_length=_content_length(request.headers.get("content-length")),
            **extra,
        )
        return Response(status_code=status)

    router.add_api_route(
        "/{token}", receive_symbl_webhook, methods=["POST"], include_in_schema=False
    )
    return router


def _content_length(value: str | None) -> int | None:
    # A malformed header is ignored: the limit is enforced while reading anyway.
    if value is None or not value.strip().isdigit():
        return None
    return int(value)
