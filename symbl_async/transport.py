"""The one place that sends requests, maps answers to errors and decides retries."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

__all__ = ["Requester"]


class Requester(Protocol):
    """What resource namespaces (``client.conversations``) need from the transport."""

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        idempotent: bool | None = None,
    ) -> Any:
        """Send an authenticated request and return the decoded JSON body.

        Args:
            method: HTTP method.
            path: path under the base URL, starting with ``/``.
            params: query string values, already strings.
            json: a JSON body.
            idempotent: whether repeating the request is safe (it is then retried on
                connection errors and 5xx); ``None`` derives it from the method
                (GET, HEAD, PUT and DELETE are, POST is not).

        Returns:
            The decoded JSON body, or ``None`` when the body was empty.

        Raises:
            APIStatusError: (a subclass per status) when the service answered an error.
            SymblConnectionError: when the service could not be reached.
        """
        ...
