"""Access tokens: issue, reuse while valid, validate.

Follows ``POST /oauth2/token:generate``: asking again for the same app while its
token is valid returns the same token with its remaining lifetime.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable, Mapping

import attrs

__all__ = ["TokenStore"]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@attrs.define
class _Token:
    value: str
    app_id: str
    expires_at: float  # on the monotonic clock


class TokenStore:
    """Issues and validates access tokens on a monotonic clock (real seconds)."""

    def __init__(
        self,
        credentials: Mapping[str, str] | None,
        lifetime: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._credentials = credentials
        self._lifetime = lifetime
        self._clock = clock
        self._by_value: dict[str, _Token] = {}
        self._by_app: dict[str, _Token] = {}
        self.issued = 0

    def accepts(self, app_id: str, app_secret: str) -> bool:
        """Whether this appId/appSecret pair may have a token."""
        if not app_id or not app_secret:
            return False
        if self._credentials is None:
            return True
        expected = self._credentials.get(app_id)
        return expected is not None and secrets.compare_digest(expected, app_secret)

    def issue(self, app_id: str) -> tuple[str, float]:
        """Return ``(token, seconds_left)``: the app's current token, or a new one."""
        now = self._clock()
        current = self._by_app.get(app_id)
        if current is not None and current.expires_at > now:
            return current.value, current.expires_at - now
        if current is not None:
            self._by_value.pop(current.value, None)
        token = _Token(self._mint(app_id), app_id, now + self._lifetime)
        self._by_value[token.value] = token
        self._by_app[app_id] = token
        self.issued += 1
        return token.value, self._lifetime

    def _mint(self, app_id: str) -> str:
        # Shaped like the service's JWTs, so clients that peek at them are not surprised;
        # the signature is random: nobody can verify it.
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        issued_at = int(time.time())
        claims: dict[str, object] = {
            "sub": app_id,
            "iat": issued_at,
            "exp": issued_at + int(self._lifetime),
            "jti": secrets.token_hex(8),
        }
        payload = _b64(json.dumps(claims).encode())
        return f"{header}.{payload}.{_b64(secrets.token_bytes(32))}"

    def validate(self, value: str) -> bool:
        """Whether ``value`` is a token this store issued and that has not expired."""
        token = self._by_value.get(value)
        return token is not None and token.expires_at > self._clock()
