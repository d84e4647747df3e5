"""Running the emulator: in-process (:class:`Emulator`) or standalone (:func:`run_standalone`)."""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any

import attrs
from aiohttp import web

from .._serving import AppServer
from ._app import SCHEDULER, create_app
from ._config import DEMO_APP_ID, DEMO_APP_SECRET, EmulatorConfig
from ._state import Scheduler

__all__ = ["Emulator", "run_standalone"]


class Emulator:
    """The emulator served over HTTP on a local port, as an async context manager.

    Example::

        async with Emulator(time_scale=1000) as emu:
            client = SymblClient(app_id=emu.app_id, app_secret=emu.app_secret,
                                 base_url=emu.url)

    Args:
        config: behaviour; :class:`EmulatorConfig` defaults when ``None``.
        host: interface to bind (loopback by default).
        port: port to bind; 0 picks a free one (read it back from :attr:`url`).
        **config_fields: :class:`EmulatorConfig` fields, applied over ``config``.
    """

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        **config_fields: Any,
    ) -> None:
        base = config or EmulatorConfig()
        self.config: EmulatorConfig = attrs.evolve(base, **config_fields) if config_fields else base
        self.host = host
        self.port = port
        self.app: web.Application | None = None
        self._server: AppServer | None = None

    @property
    def app_id(self) -> str:
        """An appId the emulator accepts (the first configured one, or the demo id)."""
        if self.config.credentials:
            return next(iter(self.config.credentials))
        return DEMO_APP_ID

    @property
    def app_secret(self) -> str:
        """The appSecret that goes with :attr:`app_id`."""
        if self.config.credentials:
            return self.config.credentials[self.app_id]
        return DEMO_APP_SECRET

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321``.

        Raises:
            RuntimeError: if the emulator is not running.
        """
        if self._server is None:
            raise RuntimeError("the emulator is not running: use 'async with Emulator()'")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def scheduler(self) -> Scheduler:
        """The running scheduler (jobs, conversations, counters)."""
        if self.app is None:
            raise RuntimeError("the emulator is not running: use 'async with Emulator()'")
        return self.app[SCHEDULER]

    def stats(self) -> dict[str, Any]:
        """The counters ``GET /_emulator/stats`` answers."""
        return self.scheduler.stats()

    def jobs(self) -> list[dict[str, Any]]:
        """The jobs ``GET /_emulator/jobs`` lists."""
        return self.scheduler.jobs_view()

    async def wait_idle(self) -> None:
        """Wait until every submitted job has ended (no job holds a slot)."""
        await self.scheduler.wait_idle()

    async def start(self) -> None:
        """Bind the port and start serving.

        Raises:
            RuntimeError: if already running.
        """
        if self._server is not None:
            raise RuntimeError("the emulator is already running")
        app = create_app(self.config)
        # A paced uplink (upload_bandwidth) listens with a small receive buffer: the bytes
        # the pacing holds back wait on the client's side, as they do behind a real slow
        # uplink, not megabytes deep in this host's buffer after the client's kernel has
        # taken them as delivered (a client would then wait for an answer to a body the
        # service is still reading).
        server = AppServer(
            app, self.host, self.port,
            receive_buffer=_PACED_RCVBUF if self.config.upload_bandwidth else None,
        )
        await server.start()
        self.port = server.addresses[0][1]
        self.app, self._server = app, server

    async def close(self) -> None:
        """Stop serving, stop the job timer and cancel webhook deliveries. Safe to call twice."""
        server, self._server = self._server, None
        if server is not None:
            await server.stop()

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


_PACED_RCVBUF = 64 * 1024


async def run_standalone(
    config: EmulatorConfig | None = None, host: str = "127.0.0.1", port: int = 8080
) -> None:
    """Serve the emulator until cancelled, after printing one line with its URL.

    The demo appId/appSecret are printed too when they are the accepted pair (the
    default); other configured secrets are never printed.
    """
    async with Emulator(config, host=host, port=port) as emulator:
        line = f"Symbl emulator listening on {emulator.url}"
        credentials = emulator.config.credentials
        if credentials is None:
            line += f" (any appId/appSecret works, e.g. {DEMO_APP_ID} / {DEMO_APP_SECRET})"
        elif dict(credentials) == {DEMO_APP_ID: DEMO_APP_SECRET}:
            line += f" (appId {DEMO_APP_ID}, appSecret {DEMO_APP_SECRET})"
        else:
            line += f" (appId {', '.join(credentials)}; appSecret as configured)"
        print(line, flush=True)
        await asyncio.Event().wait()
