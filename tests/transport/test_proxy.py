"""The session we create honours ``HTTP_PROXY``/``HTTPS_PROXY``/``NO_PROXY``, read once when
it is made (not per request, as aiohttp's ``trust_env`` does), checked end to end through
a real local proxy; a ``.netrc`` entry for the API's host does not break our requests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from symbl_async import SymblClient
from symbl_async._serving import AppServer


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
    server = AppServer(app, "127.0.0.1", 0)
    await server.start()
    host, port = server.addresses[0]
    try:
        yield f"http://{host}:{port}", seen
    finally:
        await server.stop()


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
    # The environment is read once, by the transport: not by aiohttp on every request.
    assert own.transport._get_session().trust_env is False
    await own.close()


async def test_no_proxy_for_the_api_host_goes_direct(
    proxy: tuple[str, list[tuple[str, str, str]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy_url, seen = proxy
    monkeypatch.setenv("HTTP_PROXY", proxy_url)
    monkeypatch.setenv("http_proxy", proxy_url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    # The proxy's own address is the API here, so "direct" is a request it sees as the API.
    async with SymblClient(access_token="t", base_url=proxy_url) as c:
        info = await c.get_job("j")
    assert info.status.value == "completed"
    assert seen == [("GET", proxy_url.removeprefix("http://"), "/v1/job/j")]


async def test_a_netrc_entry_for_the_api_host_does_not_break_requests(
    proxy: tuple[str, list[tuple[str, str, str]]], monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    # aiohttp with trust_env=True turned this entry into basic auth next to our Bearer
    # header and refused every request ("Cannot combine AUTHORIZATION header").
    api_url, seen = proxy
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    async with SymblClient(access_token="t", base_url=api_url) as c:
        info = await c.get_job("j")
    assert info.status.value == "completed" and len(seen) == 1
