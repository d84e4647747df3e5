"""Access tokens: generated with ``POST /oauth2/token:generate``, cached, refreshed early.

One lock and a re-check after taking it, so a hundred coroutines that find the token
stale cause one refresh (STYLE.md habit 7). Secrets never appear in a repr or a log.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from symbl_async.core._http import TOKEN_PATH
from symbl_async.errors import AuthenticationError, SymblError

__all__ = ["TOKEN_PATH", "Credentials", "TokenManager"]

log = logging.getLogger("symbl_async.transport._auth")


class Credentials:
    """An app id and secret; the secret stays out of ``repr``."""

    __slots__ = ("app_id", "app_secret")

    def __init__(self, app_id: str, app_secret: str) -> None:
        self.app_id = app_id
        self.app_secret = app_secret

    def __repr__(self) -> str:
        return f"Credentials(app_id={self.app_id!r}, app_secret='***')"

    def body(self) -> dict[str, str]:
        return {"type": "application", "appId": self.app_id, "appSecret": self.app_secret}


# Sends the token request (without auth) and returns the decoded JSON body.
TokenFetcher = Callable[[dict[str, str]], Awaitable[Any]]


class TokenManager:
    """Hands out a valid access token, refreshing it before it expires.

    Args:
        fetch: sends the token request; supplied by the transport.
        credentials: app id and secret, or ``None`` when only a fixed token is known.
        access_token: a ready token (used until the service refuses it).
        skew: refresh this many seconds before expiry (capped at a tenth of the
            token's lifetime, so short-lived tokens are still used).
        clock: monotonic clock, injectable for tests.
    """

    def __init__(
        self,
        fetch: TokenFetcher,
        *,
        credentials: Credentials | None,
        access_token: str | None = None,
        skew: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._credentials = credentials
        self._token = access_token
        self._expires_at = float("inf") if access_token else 0.0
        self._skew = skew
        self._clock = clock
        self._lock = asyncio.Lock()
        self.refreshes = 0

    def __repr__(self) -> str:
        token = "***" if self._token else None
        return f"TokenManager(credentials={self._credentials!r}, token={token})"

    @property
    def can_refresh(self) -> bool:
        """Whether a new token can be generated (app credentials are known)."""
        return self._credentials is not None

    def _valid(self) -> bool:
        return self._token is not None and self._clock() < self._expires_at

    async def token(self) -> str:
        """A token valid for at least the skew; generates one if needed."""
        if self._valid():
            assert self._token is not None
            return self._token
        async with self._lock:
            if not self._valid():  # someone else may have refreshed while we waited
                await self._refresh()
            assert self._token is not None
            return self._token

    async def invalidate(self, rejected: str) -> bool:
        """Forget ``rejected`` after a 401; return whether a retry makes sense.

        Only the token that was refused is dropped: if another coroutine already
        replaced it, the new one is kept and used for the retry.
        """
        if not self.can_refresh:
            return False
        async with self._lock:
            if self._token == rejected:
                self._token = None
                self._expires_at = 0.0
        return True

    async def _refresh(self) -> None:
        if self._credentials is None:
            raise AuthenticationError(
                401,
                "the access token was refused and no app_id/app_secret are set to get a new one",
            )
        started = self._clock()
        body = await self._fetch(self._credentials.body())
        token = body.get("accessToken") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise SymblError("the token endpoint answered without an accessToken")
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in token):
            # It goes into a header: refuse it here rather than let aiohttp raise later.
            raise SymblError("the token endpoint answered a malformed accessToken")
        lifetime = body.get("expiresIn")
        try:
            seconds = float(lifetime) if lifetime is not None else 86400.0
        except (TypeError, ValueError):
            seconds = 86400.0
        margin = min(self._skew, seconds / 10)
        self._token = token
        self._expires_at = started + seconds - margin
        self.refreshes += 1
        log.debug("access token generated, valid for %.0f s", seconds)
