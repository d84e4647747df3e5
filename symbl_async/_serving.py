"""The package's own aiohttp servers (the emulator, the webhook receiver): how they start and stop.

:class:`AppServer` binds its listening sockets itself (as ``loop.create_server`` would) and
serves an application on them. Owning the sockets is what lets it stop without leaking a
connection: it stops accepting first, lets the connections already accepted reach aiohttp,
then closes the listeners and lets aiohttp close every connection.

Why not ``runner.cleanup()`` alone, which closes the listeners at once:

* asyncio builds an accepted connection's transport one loop pass after the accept, in a
  task. If the listener was closed in between, the transport's ``Server._attach()`` fails
  its assertion, asyncio swallows the error (it logs it in debug mode only), and the half
  built transport holds its socket open until garbage collection ("unclosed transport"
  and "unclosed socket" ResourceWarnings). That is CPython issue gh-109564, open on every
  version we support.
* A transport hands its connection to aiohttp one pass later still, and ``cleanup()``
  yields once between closing the listeners and closing "every" connection: one accepted
  just before the stop reached aiohttp after it had closed and forgotten the others.

Both were seen as unclosed sockets in the tests (on Python 3.10); a loop of stops under
load leaked a few connections in a hundred on 3.10 and 3.11 before this.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import socket

from aiohttp import web

# Loop passes from a connection's accept to aiohttp's connection_made: the accept task's
# first step builds the transport, the next pass hands it over; one more for the order of
# callbacks within a pass.
_ACCEPT_PASSES = 3


def listening_sockets(
    host: str, port: int, *, receive_buffer: int | None = None
) -> list[socket.socket]:
    """Sockets bound to every address ``host`` resolves to, as ``loop.create_server`` binds them.

    ``SO_REUSEADDR`` on POSIX (asyncio's default there), ``IPV6_V6ONLY`` on IPv6 sockets so
    an IPv4 socket can share the port; ``receive_buffer`` sets ``SO_RCVBUF`` before the
    socket listens (it then applies to the accepted connections). Port 0 binds a free port
    per socket, as asyncio does. A family the host lacks (no socket, or the address not
    available) is skipped, as asyncio skips it.

    Raises:
        OSError: ``host`` did not resolve, or an address could not be bound.
    """
    infos = socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )
    sockets: list[socket.socket] = []
    seen: set[tuple[int, object]] = set()
    try:
        for family, kind, proto, _, address in infos:
            if (family, address) in seen:
                continue
            seen.add((family, address))
            try:
                sock = socket.socket(family, kind, proto)
            except OSError:  # a family this host lacks, as asyncio assumes
                continue
            sockets.append(sock)
            if os.name == "posix":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6 and hasattr(socket, "IPV6_V6ONLY"):
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if receive_buffer is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
            try:
                sock.bind(address)
            except OSError as error:
                if error.errno != errno.EADDRNOTAVAIL:
                    raise OSError(
                        error.errno, f"error while attempting to bind on address {address!r}: "
                        f"{error.strerror}"
                    ) from None
                # The family is not enabled here (asyncio's bpo-30945 rule).
                sockets.pop().close()
        if not sockets:
            raise OSError(f"could not bind on any address of {host!r}")
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


class AppServer:
    """An aiohttp application served on ``host:port`` (port 0: a free one) until stopped."""

    def __init__(
        self, app: web.Application, host: str, port: int, *, receive_buffer: int | None = None
    ) -> None:
        self._app = app
        self._host = host
        self._port = port
        self._receive_buffer = receive_buffer
        self._runner: web.AppRunner | None = None
        self._sockets: list[socket.socket] = []

    @property
    def started(self) -> bool:
        """Whether it is serving."""
        return self._runner is not None

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """The bound ``(host, port)`` of each listening socket while it serves."""
        names = [sock.getsockname() for sock in self._sockets if sock.fileno() >= 0]
        return [(str(name[0]), int(name[1])) for name in names]

    async def start(self) -> None:
        """Bind and serve.

        Raises:
            RuntimeError: it is already started.
            OSError: the address could not be bound.
        """
        if self._runner is not None:
            raise RuntimeError("already serving")
        self._sockets = listening_sockets(
            self._host, self._port, receive_buffer=self._receive_buffer
        )
        # access_log=None: the receiver's paths hold its token, and the emulator's log
        # would be noise.
        runner = web.AppRunner(self._app, access_log=None)
        try:
            await runner.setup()
        except BaseException:
            for sock in self._sockets:
                sock.close()
            raise
        try:
            for sock in self._sockets:
                await web.SockSite(runner, sock).start()
        except BaseException:
            await self._stop(runner)
            raise
        self._runner = runner

    async def stop(self) -> None:
        """Stop accepting, close every connection accepted, clean up. Safe when not started."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await self._stop(runner)

    async def _stop(self, runner: web.AppRunner) -> None:
        loop = asyncio.get_running_loop()
        for sock in self._sockets:
            # Stop accepting, leaving the listener open: a selector loop's accept runs as a
            # reader on it. Other loops (proactor, uvloop) accept without a reader and
            # without the race; for them this does nothing.
            with contextlib.suppress(NotImplementedError, ValueError, OSError):
                loop.remove_reader(sock.fileno())
        # No new accept can start; those under way reach aiohttp within these passes (no
        # I/O between an accept and its connection_made).
        for _ in range(_ACCEPT_PASSES):
            await asyncio.sleep(0)
        try:
            await runner.cleanup()
        finally:
            for sock in self._sockets:  # closed by asyncio if it served them; else here
                sock.close()
