"""Make aioresponses 0.7.x work with aiohttp >= 3.14 (test-only shim).

aiohttp 3.14 added a required ``stream_writer`` argument to ``ClientResponse``;
aioresponses (latest 0.7.9) does not pass it (pnuckowski/aioresponses#289, open).
aiohttp 3.14 is a security release, so pinning it lower is the wrong trade: instead
the response class aioresponses builds gets a stand-in writer that reports 0 bytes.
"""

from __future__ import annotations

import inspect
from typing import Any

import aioresponses.core
from aiohttp import ClientResponse


class _NoOutput:
    output_size = 0


class _CompatResponse(ClientResponse):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", _NoOutput())
        super().__init__(*args, **kwargs)


def install() -> None:
    """Patch aioresponses if this aiohttp needs it; a no-op otherwise."""
    if "stream_writer" in inspect.signature(ClientResponse.__init__).parameters:
        aioresponses.core.ClientResponse = _CompatResponse  # type: ignore[attr-defined]
