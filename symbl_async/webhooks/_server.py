"""The receiver's own aiohttp server, and the aiohttp route adapter.

Both are thin: a request is handed to the receiver's framework-neutral
``handle_stream`` (looked up at each request), whose status is the answer.

The own server runs without aiohttp's access log: it would write the path, hence the
secret token, in every line.
"""

from __future__ import annotations

import http
import logging
import re
import urllib.parse
from collections.abc import AsyncIterable
from typing import Protocol

from aiohttp import web

from symbl_async._serving import AppServer
from symbl_async.errors import ValidationError

__all__ = [
    "OwnServer",
    "StreamHandler",
    "check_public_url",
    "check_token",
    "normalize_prefix",
    "read_limited",
    "routes_for",
]

logger = logging.getLogger("symbl_async.webhooks._server")

_READ_CHUNK = 1024


class StreamHandler(Protocol):
    """What the route adapter needs of a receiver."""

    async def handle_stream(
        self,
        path_token: str,
        chunks: AsyncIterable[bytes],
        *,
        content_length: int | None = None,
        attempt: str | None = None,
    ) -> int: ...


def normalize_prefix(prefix: str, field: str = "path_prefix") -> str:
    """A mount path without its trailing slash.

    Raises:
        ValidationError: it does not start with ``/`` (and is not empty), or holds a
            brace (aiohttp would read it as a route variable).
    """
    prefix = prefix.rstrip("/")
    if prefix and not prefix.startswith("/"):
        raise ValidationError(field, "must start with '/' (or be empty)")
    if "{" in prefix or "}" in prefix:
        raise ValidationError(field, "must not contain '{' or '}'")
    return prefix


def check_public_url(public_url: str) -> str:
    """An absolute http(s) URL without query or fragment, trailing slash removed.

    Raises:
        ValidationError: it is not one.
    """
    try:
        url = urllib.parse.urlsplit(public_url)
        host = url.hostname
    except (TypeError, ValueError, AttributeError) as exc:
        raise ValidationError("public_url", "must be an http(s) URL") from exc
    if url.scheme not in ("http", "https") or not host:
        raise ValidationError("public_url", "must be an absolute http(s) URL")
    if url.query or url.fragment:
        raise ValidationError("public_url", "must not have a query or fragment")
    return public_url.rstrip("/")


# A given token is a credential like a generated one (token_urlsafe(32): 43 characters,
# 256 bits): at least 32 characters of the URL-safe alphabet (192 bits if random), and a
# single URL path segment.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{32,256}")


def check_token(token: object) -> str:
    """A receiver's secret path token, given by the caller.

    Raises:
        ValidationError: it is not 32 to 256 URL-safe characters.
    """
    if not isinstance(token, str) or not _TOKEN.fullmatch(token):
        raise ValidationError(
            "token",
            "must be 32 to 256 URL-safe characters (A-Z, a-z, 0-9, '-', '_'), "
            "e.g. secrets.token_urlsafe(32)",
        )
    return token


async def read_limited(chunks: AsyncIterable[bytes], limit: int) -> bytes | None:
    """Read at most ``limit`` bytes of a body; ``None`` when it is longer."""
    buffer = bytearray()
    iterator = aiter(chunks)
    try:
        async for chunk in iterator:
            buffer += chunk
            if len(buffer) > limit:
                return None
    finally:
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            await aclose()
    return bytes(buffer)


def routes_for(receiver: StreamHandler, prefix: str) -> list[web.RouteDef]:
    """aiohttp route definitions for ``POST {prefix}/{token}``, answered by ``receiver``."""

    async def handler(request: web.Request) -> web.Response:
        # Passed only when the URL has one: a wrapped handle_stream from before it existed
        # keeps working for plain URLs.
        attempt = request.query.get("attempt")
        extra = {} if attempt is None else {"attempt": attempt}
        status = await receiver.handle_stream(
            request.match_info["token"],
            request.content.iter_chunked(_READ_CHUNK),
            content_length=request.content_length,
            **extra,
        )
        return web.Response(status=status, text=f"{status}: {http.HTTPStatus(status).phrase}")

    return [web.post(prefix + "/{token}", handler)]


def base_url(public_url: str | None, bound: tuple[str, int] | None) -> str:
    """The base of a receiver's callback URL: ``public_url``, else the bound address.

    Raises:
        RuntimeError: neither is known yet.
    """
    if public_url is not None:
        return public_url
    if bound is None:
        raise RuntimeError(
            "callback_url is known once the receiver is started (async with), "
            "or when public_url is set"
        )
    host, port = bound
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class OwnServer:
    """An aiohttp server on ``host:port`` serving the given routes (port 0: any free one)."""

    def __init__(self, host: str, port: int) -> None:
        self._host = host
        self._port = port
        self._server: AppServer | None = None
        self.bound: tuple[str, int] | None = None

    @property
    def started(self) -> bool:
        """Whether it is serving."""
        return self._server is not None

    async def start(self, routes: list[web.RouteDef]) -> None:
        """Bind and serve.

        Raises:
            OSError: the address could not be bound.
        """
        app = web.Application()
        app.add_routes(routes)
        server = AppServer(app, self._host, self._port)
        await server.start()
        self._server = server
        self.bound = server.addresses[0]
        logger.debug("webhook receiver listening on %s:%s", *self.bound)

    async def stop(self) -> None:
        """Stop serving (safe when never started)."""
        server, self._server = self._server, None
        if server is not None:
            await server.stop()
