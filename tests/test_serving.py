"""The package's servers close every connection they accepted when they stop (``_serving``).

With ``runner.cleanup()`` alone, a connection accepted a loop pass or two before it stayed
open until garbage collection ("unclosed transport" ResourceWarnings in whatever test ran
next): its transport failed to attach to the closed server (CPython gh-109564, every
version), or it reached aiohttp after aiohttp had closed the connections it knew. Each
case connects, lets the loop run a given number of passes (so the stop meets the accept at
every stage: still in the backlog, accepted, transport built, handed to aiohttp), stops the
server and ends the loop; then nothing may be left unclosed.
"""

from __future__ import annotations

import asyncio
import gc
import socket
import warnings
from collections.abc import Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web

from symbl_async._serving import AppServer
from symbl_async.emulator import Emulator
from symbl_async.webhooks import WebhookReceiver

# The servers are parameters, which tests/_tiers.py does not follow.
pytestmark = pytest.mark.integration

Server = Callable[[], Awaitable[tuple[int, Callable[[], Awaitable[None]]]]]


async def _emulator() -> tuple[int, Callable[[], Awaitable[None]]]:
    emulator = Emulator()
    await emulator.start()
    return emulator.port, emulator.close


async def _paced_emulator() -> tuple[int, Callable[[], Awaitable[None]]]:
    emulator = Emulator(upload_bandwidth=1_000_000)
    await emulator.start()
    return emulator.port, emulator.close


async def _receiver() -> tuple[int, Callable[[], Awaitable[None]]]:
    receiver = WebhookReceiver()
    await receiver.start()
    assert receiver.port is not None
    return receiver.port, receiver.close


async def _stop_after(server: Server, passes: int) -> None:
    port, stop = await server()
    clients = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(3)]
    try:
        for _ in range(passes):
            await asyncio.sleep(0)
        await stop()
    finally:
        for client in clients:
            client.close()


@pytest.mark.parametrize(
    "server", [_emulator, _paced_emulator, _receiver], ids=["emulator", "paced", "receiver"]
)
def test_a_stop_closes_the_connections_accepted_just_before_it(server: Server) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        for passes in range(8):
            # A loop of its own each time: a transport left open is found when it ends.
            asyncio.run(_stop_after(server, passes))
        gc.collect()
    assert [str(w.message) for w in caught if w.category is ResourceWarning] == []


async def _ok(_: web.Request) -> web.Response:
    return web.Response(text="ok")


def _app() -> web.Application:
    app = web.Application()
    app.router.add_get("/", _ok)
    return app


async def test_a_taken_port_is_an_oserror_naming_the_address() -> None:
    first = AppServer(_app(), "127.0.0.1", 0)
    await first.start()
    try:
        [(_, port)] = first.addresses
        second = AppServer(_app(), "127.0.0.1", port)
        with pytest.raises(OSError, match=rf"127\.0\.0\.1', {port}"):
            await second.start()
        assert not second.started and second.addresses == []
        await second.stop()  # nothing to stop: fine
    finally:
        await first.stop()
    assert first.addresses == []


async def test_a_host_name_is_served_on_each_of_its_addresses() -> None:
    # What loop.create_server does: one socket per address "localhost" resolves to
    # (127.0.0.1, and ::1 where the host has IPv6), each answering.
    server = AppServer(_app(), "localhost", 0)
    await server.start()
    try:
        hosts = {host for host, _ in server.addresses}
        assert "127.0.0.1" in hosts and hosts <= {"127.0.0.1", "::1"}
        async with aiohttp.ClientSession() as session:
            for host, port in server.addresses:
                name = f"[{host}]" if ":" in host else host
                async with session.get(f"http://{name}:{port}/") as response:
                    assert await response.text() == "ok"
    finally:
        await server.stop()
