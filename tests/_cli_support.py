"""What the CLI tests share: an emulator in a thread, the CLI in process or in a child.

The CLI runs in process (``symbl_async.cli.main(argv)``, so coverage sees it) against an
emulator served from a background thread with its own event loop: ``main`` runs its own
``asyncio.run`` in the test's (main) thread, where its SIGINT handler can be installed.
Only the signal tests start the CLI as a child process.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import sqlite3
import subprocess
import sys
import threading
import wave
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from symbl_async.cli import main
from symbl_async.emulator import Emulator

ROOT = Path(__file__).resolve().parents[1]
SCALE = 2000
CLI = [sys.executable, "-m", "symbl_async.cli._main"]
APP_ID = "emulator-app-id"
APP_SECRET = "emulator-app-secret"


@attrs.frozen
class Threaded:
    """An emulator running in a thread; ``stats()`` is read on its own loop."""

    url: str
    emulator: Emulator
    loop: asyncio.AbstractEventLoop

    def stats(self) -> dict[str, Any]:
        async def read() -> dict[str, Any]:
            return self.emulator.stats()

        return asyncio.run_coroutine_threadsafe(read(), self.loop).result(timeout=30)


@contextlib.contextmanager
def threaded_emulator(limit: int = 3, **settings: Any) -> Iterator[Threaded]:
    started: concurrent.futures.Future[Threaded] = concurrent.futures.Future()
    stop: asyncio.Event | None = None

    async def serve() -> None:
        nonlocal stop
        stop = asyncio.Event()
        emu = Emulator(time_scale=SCALE, concurrency_limit=limit, **settings)
        async with emu:
            started.set_result(Threaded(emu.url, emu, asyncio.get_running_loop()))
            await stop.wait()

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
