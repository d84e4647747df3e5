"""The several-workers service (``examples/fastapi_workers.py``) in a real ``uvicorn
--workers 2`` against the emulator (in a thread of the test process, delivering its webhooks
over HTTP to the app's public URL) and a real PostgreSQL server.

What proves the promise comes from the emulator's own records (its sweep of concurrent jobs,
its 429s, its jobs per name and per content, its webhook deliveries and their answers) and
from the shared database (the ledger, and the relay's record of which worker a relayed
delivery woke).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from _cli_support import ROOT, Threaded, child_env, threaded_emulator
from _polling import eventually

pytest.importorskip("fastapi")

LIMIT = 5
RECORDINGS = 30
SCALE = 500.0
DEADLINE = 180.0  # generous: two CPUs shared with other test runs


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_service(emu: Threaded, ledger: str, out: Path, port: int,
                  log: Path) -> subprocess.Popen[bytes]:
    env = {
        **child_env(),
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
        "SYMBL_BASE_URL": emu.url,
        "SYMBL_TIME_SCALE": f"{SCALE:g}",
        "SYMBL_LEDGER": ledger,
        "SYMBL_OUT": str(out),
        "SYMBL_WEBHOOK_TOKEN": secrets.token_urlsafe(32),
        "SYMBL_MAX_CONCURRENT_JOBS": str(LIMIT),
        "SYMBL_LEASE": "10",
    }
    args = [sys.executable, "-m", "uvicorn", "--factory", "examples.fastapi_workers:create_app",
            "--workers", "2", "--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
    with log.open("wb") as sink:
        # Its own session: the workers are the supervisor's children, and a group signal
        # reaches them even if the supervisor is gone.
        return subprocess.Popen(args, cwd=ROOT, env=env, stdout=sink,
                                stderr=subprocess.STDOUT, start_new_session=True)


@contextlib.contextmanager
def reaped(proc: subprocess.Popen[bytes]) -> Iterator[None]:
    """The supervisor and its workers end with the test: asked (SIGTERM: uvicorn stops its
    workers), killed as a group if they linger, always waited for."""
    try:
        yield
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # only this test's session
        proc.wait(30)


async def fetch(conn_url: str, sql: str) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(conn_url)
    try:
        return [dict(r) for r in await conn.fetch(sql)]
    finally:
        await conn.close()


def media(i: int) -> dict[str, Any]:
    # 1 to 8 minutes, so that longest-first has something to order.
    seconds = 60 * (1 + i % 8)
    return {"url": f"https://media.test/svc{i}.mp3?emulator_duration={seconds}",
            "mediaDuration": seconds}


async def test_two_uvicorn_workers_share_the_slots_and_the_webhooks(
    tmp_path: Path, pg_url: str
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "uvicorn.log"
    with threaded_emulator(LIMIT, scale=SCALE) as emu:
        proc = start_service(emu, pg_url, tmp_path / "out", port, log)
        with reaped(proc):
            async with aiohttp.ClientSession() as http:
                async def up() -> bool:
                    assert proc.poll() is None, log.read_text()
                    with contextlib.suppress(aiohttp.ClientError):
                        async with http.get(f"{base}/recordings/none") as response:
                            return response.status == 404
                    return False

                await eventually(up, timeout=60, interval=0.1)
                keys = []
                for i in range(RECORDINGS):
                    async with http.post(f"{base}/recordings", json=media(i)) as response:
                        assert response.status == 202, await response.text()
                        keys.append((await response.json())["key"])
                # The same recording again: the same key, nothing sent twice.
                async with http.post(f"{base}/recordings", json=media(0)) as response:
                    assert response.status == 202
                    assert (await response.json())["key"] == keys[0]
                assert len(set(keys)) == RECORDINGS
                done: dict[str, dict[str, Any]] = {}

                async def all_fetched() -> bool:
                    assert proc.poll() is None, log.read_text()
                    for key in keys:
                        if key in done:
                            continue
                        async with http.get(f"{base}/recordings/{key}") as response:
                            body = await response.json()
                            if response.status == 200:
                                assert body["state"] == "fetched", body
                                done[key] = body
                            else:
                                assert response.status == 202, body
                    return len(done) == RECORDINGS

                await eventually(all_fetched, timeout=DEADLINE, interval=0.2)
            stats = emu.stats()
            jobs = emu.jobs()
        relay = await fetch(pg_url, "SELECT job_id, origin, woke FROM webhook_relay")
        rows = await fetch(pg_url, "SELECT key, state, job_id FROM items")
    text = log.read_text()
    # Every recording ended with insights of its own conversation.
    assert all(body["insights"]["conversationId"] == body["conversationId"]
               for body in done.values())
    assert {r["state"] for r in rows} == {"fetched"} and len(rows) == RECORDINGS
    # Each created once; together within the account's limit; nothing refused.
    assert len(jobs) == RECORDINGS, len(jobs)
    assert not stats["duplicate_names"] and not stats["duplicate_contents"]
    assert stats["max_concurrent_jobs"] <= LIMIT, stats["max_concurrent_jobs"]
    assert stats["rejected_429"] == 0
    # Every delivery was answered 2xx (none 404 for reaching the other worker).
    assert stats["webhooks_sent"] >= RECORDINGS and stats["webhooks_failed"] == 0, stats
    # At least one delivery reached the worker that did not wait for its job, and the
    # relay handed it to the one that did (it records which process it woke).
    crossed = [r for r in relay if r["woke"] is not None and r["woke"] != r["origin"]]
    assert crossed, relay
    # The backlog was divided: both workers fetched insights (each into its own folder).
    folders = sorted((tmp_path / "out").iterdir())
    fetched = [sum(1 for p in f.glob("*.json") if p.name != "summary.json") for f in folders]
    assert len(fetched) == 2 and all(fetched) and sum(fetched) == RECORDINGS, fetched
    assert "Traceback" not in text, text
