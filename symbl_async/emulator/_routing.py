"""What every route shares: the scheduler's app key, API errors and their JSON form."""

from __future__ import annotations

import contextlib
import json
import socket
import struct
from typing import Any

from aiohttp import web

from ._state import Scheduler
from ._uplink import Uplink, body_chunks

__all__ = [
    "CONVERSATION_NOT_FOUND",
    "SCHEDULER",
    "TOKEN_FAILED",
    "ApiError",
    "ConnectionDropped",
    "drop_connection",
    "json_body",
    "query_flag",
]

SCHEDULER = web.AppKey("scheduler", Scheduler)

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


class ConnectionDropped(Exception):
    """Raised by a route that dropped the connection: nothing is answered."""


def drop_connection(request: web.Request, *, reset: bool) -> ConnectionDropped:
    """Close the request's connection without an answer; returns the exception to raise.

    With ``reset`` the socket lingers 0 s, so the peer gets a TCP RST (a client sees
    "connection reset"); otherwise an orderly close ("server disconnected").
    """
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if reset and sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        if reset:
            transport.abort()
        else:
            transport.close()
    return ConnectionDropped()


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object body.

    Raises:
        ApiError: 400 when the body is not valid JSON or not an object.
    """
    uplink = request.app[SCHEDULER].uplink
    if uplink is None:
        raw = await request.read()
    else:
        raw = await _read_paced(request, uplink)
    try:
        body = json.loads(raw) if raw.strip() else None
    except ValueError:
        raise ApiError(400, "The request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object")
    return body


async def _read_paced(request: web.Request, uplink: Uplink) -> bytes:
    """``request.read()`` through the uplink, with the same size limit (413 beyond it)."""
    limit = request.client_max_size
    body = bytearray()
    async for chunk in body_chunks(request, uplink):
        body += chunk
        if limit and len(body) > limit:
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=len(body))
    return bytes(body)


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
