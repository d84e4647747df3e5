"""The emulator's aiohttp application: authentication, routes and JSON errors.

Every route but ``POST /oauth2/token:generate`` and ``/_emulator/*`` needs a
valid token in ``Authorization: Bearer <token>`` or the deprecated
``x-api-key: <token>``. Every error answers JSON with a ``message``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web

from . import _conversations as conversations
from . import _submits as submits
from ._config import EmulatorConfig
from ._routing import SCHEDULER, TOKEN_FAILED, ApiError, ConnectionDropped, json_body
from ._state import Scheduler

__all__ = ["SCHEDULER", "TOKEN_PATH", "create_app"]

log = logging.getLogger("symbl_async.emulator")

TOKEN_PATH = "/oauth2/token:generate"
_INTERNAL = "/_emulator/"
_MAX_JSON_BODY = 64 * 1024 * 1024  # text submits can be large; uploads are streamed

_TOKEN_FAULT_MESSAGES = {
    500: "Something went wrong! Please contact support@symbl.ai",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _bearer_or_key(headers: Mapping[str, str]) -> list[str]:
    candidates = []
    scheme, _, value = headers.get("Authorization", "").partition(" ")
    # Case-sensitive, as the service is: "bearer <token>" is refused.
    if scheme == "Bearer" and value.strip():
        candidates.append(value.strip())
    key = headers.get("x-api-key", "").strip()
    if key:
        candidates.append(key)
    return candidates


def _authorized(scheduler: Scheduler, headers: Mapping[str, str]) -> bool:
    return any(scheduler.tokens.validate(token) for token in _bearer_or_key(headers))


@web.middleware
async def _middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    scheduler = request.app[SCHEDULER]
    internal = request.path.startswith(_INTERNAL)
    if not internal:
        scheduler.requests_total += 1
    response: web.StreamResponse
    try:
        needs_token = not internal and request.path != TOKEN_PATH
        if needs_token and not _authorized(scheduler, request.headers):
            scheduler.auth_failures += 1
            raise ApiError(401, TOKEN_FAILED)
        response = await handler(request)
    except ConnectionDropped:
        scheduler.submits_dropped += 1
        return web.Response(status=500)  # never reaches anyone: the transport is closed
    except ApiError as exc:
        response = web.json_response(exc.body, status=exc.status)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = web.json_response({"message": exc.reason}, status=exc.status)
    except Exception:
        log.exception("emulator route %s %s failed", request.method, request.path)
        response = web.json_response(
            {"message": "Something went wrong! Please contact support@symbl.ai"}, status=500
        )
    if not internal:
        scheduler.responses_by_status[response.status] += 1
    return response


def _expires_in(seconds: float) -> float:
    # Whole seconds as the service sends them; sub-second lifetimes (tests) stay exact.
    return int(seconds) if seconds >= 1 else round(seconds, 3)


async def generate_token(request: web.Request) -> web.Response:
    """``POST /oauth2/token:generate``: ``{"accessToken", "expiresIn"}``."""
    scheduler = request.app[SCHEDULER]
    body = await json_body(request)
    status = scheduler.faults.token_error()
    if status is not None:
        raise ApiError(status, _TOKEN_FAULT_MESSAGES[status])
    if body.get("type") != "application":
        raise ApiError(400, "type must be 'application'")
    app_id, app_secret = body.get("appId"), body.get("appSecret")
    if not (isinstance(app_id, str) and isinstance(app_secret, str)):
        raise ApiError(401, "appId and appSecret are required")
    if not scheduler.tokens.accepts(app_id, app_secret):
        raise ApiError(401, "Invalid appId or appSecret")
    token, seconds_left = scheduler.tokens.issue(app_id)
    return web.json_response({"accessToken": token, "expiresIn": _expires_in(seconds_left)})


async def emulator_stats(request: web.Request) -> web.Response:
    """``GET /_emulator/stats``: counters (no auth)."""
    return web.json_response(request.app[SCHEDULER].stats())


async def emulator_jobs(request: web.Request) -> web.Response:
    """``GET /_emulator/jobs``: every job with its timings on the emulator's clock (no auth)."""
    return web.json_response({"jobs": request.app[SCHEDULER].jobs_view()})


def create_app(config: EmulatorConfig | None = None) -> web.Application:
    """Build the emulator as an aiohttp application.

    Args:
        config: behaviour of the emulator; defaults to :class:`EmulatorConfig()`.

    Returns:
        An application whose scheduler (``app[SCHEDULER]``) starts and stops with it.
    """
    scheduler = Scheduler(config or EmulatorConfig())
    app = web.Application(middlewares=[_middleware], client_max_size=_MAX_JSON_BODY)
    app[SCHEDULER] = scheduler
    app.router.add_post(TOKEN_PATH, generate_token)
    app.router.add_get(_INTERNAL + "stats", emulator_stats)
    app.router.add_get(_INTERNAL + "jobs", emulator_jobs)
    app.add_routes(submits.routes)
    app.add_routes(conversations.routes)

    async def start(_: web.Application) -> None:
        await scheduler.start()

    async def stop(_: web.Application) -> None:
        await scheduler.close()

    async def shutting_down(_: web.Application) -> None:
        # Before open requests are awaited: requests held open by a fault let go now.
        scheduler.closing.set()

    app.on_startup.append(start)
    app.on_shutdown.append(shutting_down)
    app.on_cleanup.append(stop)
    return app
