"""What every route shares: the engine's app key, API errors and their JSON form."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from .state import Engine

__all__ = [
    "CONVERSATION_NOT_FOUND",
    "ENGINE",
    "TOKEN_FAILED",
    "ApiError",
    "json_body",
    "query_flag",
]

ENGINE = web.AppKey("engine", Engine)

TOKEN_FAILED = "Token validation failed for provided token."
CONVERSATION_NOT_FOUND = (
    "The conversation and/or it's metadata you asked could not be found, "
    "please check the input provided"
)


class ApiError(Exception):
    """Raised by a route; the middleware answers ``status`` with ``body`` as JSON."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {**extra, "message": message}


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object body.

    Raises:
        ApiError: 400 when the body is not valid JSON or not an object.
    """
    raw = await request.read()
    try:
        body = json.loads(raw) if raw.strip() else None
    except ValueError:
        raise ApiError(400, "The request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object")
    return body


def query_flag(request: web.Request, name: str) -> bool:
    """A boolean query parameter (``true``/``1``); absent means false.

    Raises:
        ApiError: 400 for a value that is not a boolean.
    """
    value = request.query.get(name)
    if value is None or value == "":
        return False
    lowered = value.lower()
    if lowered not in ("true", "false", "1", "0"):
        raise ApiError(400, f"{name} must be true or false")
    return lowered in ("true", "1")
