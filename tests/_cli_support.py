"""What the CLI tests share: an emulator in a thread, the CLI in process or in a child.

The CLI runs in process (``symbl_async.cli.main(argv)``, so coverage sees it) against an
emulator served from a background thread with its own event loop: ``main`` runs its own
``asyncio.run`` in the test's (main) thread, where its SIGINT handler can be installed.
Only the signal tests start the CLI as a child process.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import logging
import os
import sqlite3
import subprocess
import sys
import threading
import wave
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import attrs
import pytest
from aiohttp import web

from symbl_async.cli import main
from symbl_async.emulator import Emulator, EmulatorConfig, create_app
from symbl_async.emulator import _server as emulator_server

ROOT = Path(__file__).resolve().parents[1]
SCALE = 2000
CLI = [sys.executable, "-m", "symbl_async.cli._main"]

# A command typed at a terminal starts with Ctrl-C and a hang-up at their defaults. A test
# runner started under nohup, or as a script's background job (a CI script's `cmd &`), has
# SIGHUP or SIGINT ignored, and its children inherit that; the CLI rightly keeps a signal
# that was ignored at its start ignored. So what a test delivers one of them to starts
# through this: the defaults set, then exec (which keeps them, and the CLI's argv).
_DEFAULT_STOP_SIGNALS = (
    "import os, signal, sys; "
    "[signal.signal(getattr(signal, name), signal.SIG_DFL) "
    "for name in ('SIGINT', 'SIGHUP') if hasattr(signal, name)]; "
)


def as_from_a_terminal(argv: list[str], before: str = "") -> list[str]:
    """``argv`` (a Python command: the interpreter first) started with SIGINT and SIGHUP at
    their defaults, after ``before`` (more Python statements); as it is on Windows, whose
    exec does not replace the process (and where nothing is inherited ignored)."""
    if os.name == "nt":
        return list(argv)
    become = "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"
    return [sys.executable, "-c", _DEFAULT_STOP_SIGNALS + before + become, *argv[1:]]


APP_ID = "emulator-app-id"
APP_SECRET = "emulator-app-secret"


def request_kind(request: web.Request) -> str | None:
    """What a request to the emulator is, for a :class:`Gate`; ``None``: its own routes."""
    path = request.path
    if path.startswith("/_emulator/"):
        return None
    if path.startswith("/oauth2/"):
        return "token"
    if path.startswith("/v1/process/"):
        return "submit"
    if path.startswith("/v1/job/"):
        return "job"
    if path.rstrip("/") == "/v1/conversations":
        # A lookup by name filters on the attempt's name (conversation.name=="..."); the
        # CLI's credential check at start-up lists one conversation unfiltered (apart:
        # holding lookups must not keep a run from starting).
        return "list" if "conversation.name==" in request.query.get("filter", "") else "check"
    if path.endswith("/messages"):
        return "messages"
    if path.startswith("/v1/conversations/"):
        return "insights"
    return "other"


@attrs.define
class Gate:
    """A door in front of the emulator's routes: counts requests by :func:`request_kind` and
    holds those of the kinds in ``hold`` until :meth:`release`, so that a test can kill a
    client while one is surely in flight. Released requests go on to the service (a request
    in flight when its client died still lands), or with ``drop`` never reach it (the
    connection died before the request was read). Counters are read from the test's thread
    (plain ints behind the GIL)."""

    hold: set[str] = attrs.field(factory=set)
    seen: collections.Counter[str] = attrs.field(factory=collections.Counter)
    held: collections.Counter[str] = attrs.field(factory=collections.Counter)
    loop: asyncio.AbstractEventLoop | None = None
    _opened: asyncio.Event | None = None
    _dropped: set[int] = attrs.field(factory=set)  # ids of events whose requests are dropped

    def reset(self, *hold: str, drop: bool = False) -> None:
        """Release what is held (see :meth:`release`), then hold these kinds from now on
        (none: let everything through); counters restart."""
        self.release(drop=drop)
        self.hold = set(hold)
        self.seen = collections.Counter()
        self.held = collections.Counter()

    def release(self, *, drop: bool = False) -> None:
        """Stop holding; held requests go on to the service, or with ``drop`` are refused."""
        self.hold = set()
        opened = self._opened
        if self.loop is not None and opened is not None:
            if drop:
                self._dropped.add(id(opened))
            self.loop.call_soon_threadsafe(opened.set)

    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        kind = request_kind(request)
        if kind is not None:
            self.seen[kind] += 1
            if kind in self.hold:
                if self._opened is None or self._opened.is_set():
                    self._opened = asyncio.Event()
                opened = self._opened
                self.held[kind] += 1
                # Bounded: a test that forgets to release does not hang the emulator.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(opened.wait(), timeout=60)
                if id(opened) in self._dropped:
                    raise web.HTTPServiceUnavailable()  # never reached the service
        return await handler(request)


@attrs.frozen
class Threaded:
    """An emulator running in a thread; ``stats()`` and ``jobs()`` are read on its own loop."""

    url: str
    emulator: Emulator
    loop: asyncio.AbstractEventLoop

    def stats(self) -> dict[str, Any]:
        async def read() -> dict[str, Any]:
            return self.emulator.stats()

        return asyncio.run_coroutine_threadsafe(read(), self.loop).result(timeout=30)

    def jobs(self) -> list[dict[str, Any]]:
        async def read() -> list[dict[str, Any]]:
            return self.emulator.jobs()

        return asyncio.run_coroutine_threadsafe(read(), self.loop).result(timeout=30)


@contextlib.contextmanager
def threaded_emulator(
    limit: int = 3, gate: Gate | None = None, *, scale: float = SCALE, **settings: Any
) -> Iterator[Threaded]:
    """An emulator in a thread; ``gate``, if given, sees (and may hold) every request;
    ``scale``: its time scale (the CLI's ``--time-scale`` must match)."""
    started: concurrent.futures.Future[Threaded] = concurrent.futures.Future()
    stop: asyncio.Event | None = None

    def gated_app(config: EmulatorConfig | None = None) -> web.Application:
        app = create_app(config)
        if gate is not None:
            app.middlewares.append(gate.middleware)  # inside the emulator's own middleware
        return app

    async def serve() -> None:
        nonlocal stop
        stop = asyncio.Event()
        emu = Emulator(time_scale=scale, concurrency_limit=limit, **settings)
        if gate is not None:
            gate.loop = asyncio.get_running_loop()
        # The emulator has no hook for an extra middleware: its app is built in start().
        with mock.patch.object(emulator_server, "create_app", gated_app):
            await emu.start()
        try:
            started.set_result(Threaded(emu.url, emu, asyncio.get_running_loop()))
            await stop.wait()
        finally:
            if gate is not None:
                gate.release()
            await emu.close()

    def run() -> None:
        try:
            asyncio.run(serve())
        except BaseException as exc:  # surfaced to the test through the future
            if not started.done():
                started.set_exception(exc)

    thread = threading.Thread(target=run, name="emulator", daemon=True)
    thread.start()
    emu = started.result(timeout=30)
    try:
        yield emu
    finally:
        assert stop is not None
        emu.loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=30)
        assert not thread.is_alive(), "the emulator thread did not stop"


@attrs.frozen
class Ran:
    returncode: int
    stdout: str
    stderr: str


CliRun = Callable[..., Ran]


@contextlib.contextmanager
def cli_runner(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[CliRun]:
    """``run(*argv)`` runs ``main(argv)`` in ``tmp_path`` with the emulator's credentials
    (for a module's ``cli`` fixture). The package logger's handlers and level, which
    ``-v`` changes, are restored afterwards."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SYMBL_APP_ID", APP_ID)
    monkeypatch.setenv("SYMBL_APP_SECRET", APP_SECRET)
    package = logging.getLogger("symbl_async")
    handlers, level = list(package.handlers), package.level

    def run(*argv: str) -> Ran:
        capsys.readouterr()
        code = main(list(argv))
        captured = capsys.readouterr()
        return Ran(code, captured.out, captured.err)

    try:
        yield run
    finally:
        for handler in list(package.handlers):
            if handler not in handlers:
                package.removeHandler(handler)
        package.setLevel(level)


@pytest.fixture
def cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[CliRun]:
    """``cli(*argv)``: :func:`cli_runner` for a test (this module is a pytest plugin)."""
    with cli_runner(capsys, monkeypatch, tmp_path) as run:
        yield run


def tree(root: Path) -> dict[str, bytes | None]:
    """Every entry under ``root``: a file's bytes, None for a folder."""
    return {str(p.relative_to(root)): None if p.is_dir() else p.read_bytes()
            for p in sorted(root.rglob("*"))}


def child_env() -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SYMBL_APP_ID": APP_ID,
        "SYMBL_APP_SECRET": APP_SECRET,
    }


def run_child(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], cwd=cwd, env=child_env(), capture_output=True, text=True, timeout=timeout
    )


def ledger_counts(path: Path) -> dict[str, int]:
    """Read the ledger the way another program would; empty while it does not exist yet."""
    if not path.exists():
        return {}
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)
        try:
            rows = conn.execute("SELECT state, COUNT(*) FROM items GROUP BY state").fetchall()
            started = conn.execute(
                "SELECT COUNT(*) FROM items WHERE submitted_at IS NOT NULL"
            ).fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return {}
    return {**dict(rows), "ever_submitted": started}


def write_wav(path: Path, seconds: float) -> None:
    # 1 kHz, 8-bit mono keeps a minute of "audio" at 60 KB.
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(1000)
        w.writeframes(b"\x80" * int(seconds * 1000))


def write_manifest(path: Path, count: int, seconds: float, prefix: str = "m") -> None:
    rows = ["source,duration"]
    rows += [
        f"https://media.test/{prefix}{i}.mp3?emulator_duration={seconds:g},{seconds:g}"
        for i in range(count)
    ]
    path.write_text("\n".join(rows) + "\n")


def process_args(url: str, out: Path, *inputs: str) -> list[str]:
    return [
        "process", *inputs, "--out", str(out), "--max-concurrent-jobs", "3",
        "--base-url", url, "--time-scale", str(SCALE), "--progress-interval", "0.2",
        # Submits to the local emulator land within milliseconds: a second of grace before
        # a lookup concludes "no job" is plenty, and keeps reruns after a kill quick.
        "--lookup-grace", "1",
    ]
