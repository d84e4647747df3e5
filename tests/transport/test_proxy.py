"""The session we create honours ``HTTP_PROXY``/``HTTPS_PROXY`` (``trust_env=True``),
checked end to end through a real local proxy."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from symbl_async import SymblClient


@pytest.fixture
async def proxy() -> AsyncIterator[tuple[str, list[tuple[str, str, str]]]]:
    """A forward proxy stand-in: answers every request itself and records it."""
    seen: list[tuple[str, str, str]] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append((request.method, request.host, request.path))
        if request.path == "/oauth2/token:generate":
            return web.json_response({"accessToken": "t", "expiresIn": 86400})
        return web.json_response({"id": "j", "status": "completed"})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}", seen
    finally:
        await runner.cleanup()


async def test_requests_go_through_the_proxy_from_the_environment(
    proxy: tuple[str, list[tuple[str, str, str]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy_url, seen = proxy
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy_url)
    monkeypatch.setenv("http_proxy", proxy_url)
    # A host that does not resolve: only the proxy can answer for it.
    async with SymblClient(app_id="a", app_secret="b", base_url="http://symbl.invalid") as c:
        info = await c.get_job("j")
    assert info.status.value == "completed"
    assert seen == [
        ("POST", "symbl.invalid", "/oauth2/token:generate"),
        ("GET", "symbl.invalid", "/v1/job/j"),
    ]


async def test_an_injected_session_is_used_as_given() -> None:
    import aiohttp

    async with aiohttp.ClientSession(trust_env=False) as session:
        client = SymblClient(access_token="t", base_url="http://x.test", session=session)
        assert client.transport._get_session() is session
    own = SymblClient(access_token="t", base_url="http://x.test")
    assert own.transport._get_session().trust_env is True
    await own.close()
