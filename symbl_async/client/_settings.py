"""How a :class:`~symbl_async.SymblClient` finds its credentials and API root.

Arguments first, then the environment (``SYMBL_APP_ID``, ``SYMBL_APP_SECRET``,
``SYMBL_BASE_URL``), then the real service; every value checked before anything is sent.
"""

from __future__ import annotations

import logging
import os
from urllib.parse import urlsplit

from symbl_async.core._checks import check_base_url
from symbl_async.errors import ValidationError
from symbl_async.transport._auth import Credentials

__all__ = ["DEFAULT_BASE_URL", "non_empty", "resolve_base_url", "resolve_credentials"]

log = logging.getLogger("symbl_async.client._settings")

DEFAULT_BASE_URL = "https://api.symbl.ai"


def non_empty(value: object, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(field, "must be a non-empty string")
    return value.strip()


def resolve_credentials(
    app_id: str | None, app_secret: str | None, access_token: str | None
) -> tuple[Credentials | None, str | None]:
    """App credentials (arguments, else the environment) and the ready token, checked."""
    app_id = app_id if app_id is not None else os.environ.get("SYMBL_APP_ID")
    app_secret = app_secret if app_secret is not None else os.environ.get("SYMBL_APP_SECRET")
    credentials = None
    if app_id or app_secret:
        credentials = Credentials(non_empty(app_id, "app_id"), non_empty(app_secret, "app_secret"))
    if access_token is not None:
        access_token = non_empty(access_token, "access_token")
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in access_token):
            # It goes into a header, where CR/LF would split it (aiohttp refuses).
            raise ValidationError("access_token", "must not contain control characters")
    if credentials is None and access_token is None:
        raise ValidationError(
            "app_id",
            "credentials are missing: pass app_id and app_secret (or access_token), "
            "or set SYMBL_APP_ID and SYMBL_APP_SECRET",
        )
    return credentials, access_token


def resolve_base_url(base_url: str | None) -> str:
    """The API root: the argument, else ``$SYMBL_BASE_URL``, else the real service."""
    if base_url is None:
        env = os.environ.get("SYMBL_BASE_URL")
        url = DEFAULT_BASE_URL if env is None else check_base_url(env, "$SYMBL_BASE_URL")
    else:
        url = check_base_url(base_url)
    if urlsplit(url).path:
        log.warning(
            "base_url %s has a path: fine behind a reverse proxy, but the Symbl API root has none",
            url,
        )
    return url
