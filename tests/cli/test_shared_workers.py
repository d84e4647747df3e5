"""Several worker processes on one PostgreSQL ledger and one account (issue 9).

Real parts only: a PostgreSQL server the tests start, the emulator on 127.0.0.1 (in a
thread of the test process), and ``symbl-async process`` in four child processes. What
proves the promise comes from the emulator's own records (jobs per name and per content,
its sweep of concurrent jobs, its 429s) and from the shared ledger.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import random
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
from _cli_support import CLI, Threaded, child_env, run_child, threaded_emulator
from _polling import eventually
from _postgres import PostgresServer

LIMIT = 10
WORKERS = 4
LEASE = 2.0
# For a test that kills no worker: nothing in it waits for a lease to run out, and on a
# loaded host (CI: four xdist workers, each with its own servers) one renewal once took
# 2.2 s of a 2 s lease, so the worker stopped, as it must, and the test failed.
CALM_LEASE = 10.0
# For the outage test: outages longer than the lease are its point, yet a lease of 2 s
# leaves the workers no margin for a stalled renewal on a loaded host. Its outages are
# sized from this lease.
OUTAGE_LEASE = 4.0
# How often the tests read the ledger while they wait: each read is a new connection (a
# server process forked), needless load beside the workers at eventually's 5 ms.
POLL = 0.05


def sources(count: int, prefix: str) -> list[str]:
    # Lengths from 1 to 8 minutes, so that longest-first has something to order.
    return [f"https://media.test/{prefix}{i}.mp3?emulator_duration={60 * (1 + i % 8)}"
            for i in range(count)]


def worker_args(emu: Threaded, out: Path, ledger: str, inputs: list[str],
                scale: float = 2000, lease: float = LEASE) -> list[str]:
    return [
        *CLI, "process", *inputs, "--out", str(out), "--ledger", ledger,
        "--max-concurrent-jobs", str(LIMIT), "--base-url", emu.url,
        "--time-scale", f"{scale:g}", "--progress-interval", "0.2", "--lookup-grace", "1",
        "--lease", str(lease),
    ]


def start(args: list[str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as sink:
        return subprocess.Popen(args, cwd=cwd, env=child_env(), stdout=sink,
                                stderr=subprocess.STDOUT)


@contextlib.contextmanager
def reaped(procs: list[subprocess.Popen[bytes]]) -> Iterator[None]:
    """Every worker ends with the test: killed if still running, always waited for."""
    try:
        yield
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGCONT)
                proc.kill()
            proc.wait(30)


async def finish(proc: subprocess.Popen[bytes], timeout: float = 150) -> int:
    return await asyncio.to_thread(proc.wait, timeout)


async def ledger_rows(url: str) -> list[dict[str, Any]]:
    """The ledger's items as another program reads them (none before the first worker
    created the tables)."""
    conn = await asyncpg.connect(url)
    try:
        return [dict(r) for r in await conn.fetch("SELECT key, state, owner, name FROM items")]
    except asyncpg.UndefinedTableError:
        return []
    finally:
        await conn.close()


def log_tails(folder: Path, workers: int) -> str:
    """The end of each worker's log, for a failure's message."""
    return "\n".join(f"w{i}.log: ...{(folder / f'w{i}.log').read_text()[-1500:]}"
                     for i in range(workers))


async def live_workers(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM workers"))
    except asyncpg.UndefinedTableError:
        return 0
    finally:
        await conn.close()


def check_promise(emu: Threaded, urls: list[str], rows: list[dict[str, Any]],
                  outs: list[Path]) -> dict[str, Any]:
    """0 lost, 0 paid twice, the limit never exceeded: from the emulator and the ledger."""
    stats = emu.stats()
    jobs = emu.jobs()
    per_url = collections.Counter(str(job["name"]).rsplit("-", 1)[0] for job in jobs)
    assert len(rows) == len(urls) and {r["state"] for r in rows} == {"fetched"}, (
        collections.Counter(r["state"] for r in rows))
    assert len(jobs) == len(urls) and set(per_url.values()) == {1}, per_url
    assert not stats["duplicate_names"] and not stats["duplicate_contents"]
    assert stats["max_concurrent_jobs"] <= LIMIT, stats["max_concurrent_jobs"]
    files = [p for out in outs for p in out.glob("*.json")
             if p.name not in ("summary.json",)]
    written = {json.loads(p.read_text())["conversationId"] for p in files}
    assert written == {job["conversationId"] for job in jobs}
    return stats


async def test_four_workers_share_one_account(tmp_path: Path, pg_url: str) -> None:
    urls = sources(60, "share")
    outs = [tmp_path / f"out{i}" for i in range(WORKERS)]
    with threaded_emulator(LIMIT) as emu:
        procs = [start(worker_args(emu, out, pg_url, urls, lease=CALM_LEASE), tmp_path,
                       tmp_path / f"w{i}.log") for i, out in enumerate(outs)]
        with reaped(procs):
            codes = [await finish(p) for p in procs]
        logs = [(tmp_path / f"w{i}.log").read_text() for i in range(WORKERS)]
        assert codes == [0] * WORKERS, logs
        stats = check_promise(emu, urls, await ledger_rows(pg_url), outs)
    # Together they kept within the account: the emulator refused nothing.
    assert stats["rejected_429"] == 0
    # The backlog was divided: more than one worker fetched insights.
    fetched_by = [sum(1 for p in out.glob("*.json") if p.name != "summary.json")
                  for out in outs]
    assert sum(1 for n in fetched_by if n) > 1, fetched_by
    # `status` reads the shared ledger (plain SELECTs) and never prints its password.
    shown = await asyncio.to_thread(run_child, "status", "--ledger", pg_url, "--json",
                                    cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    counts = json.loads(shown.stdout)
    assert counts["fetched"] == counts["total"] == 60 and counts["workers"] == 0
    human = await asyncio.to_thread(run_child, "status", "--ledger", pg_url, cwd=tmp_path)
    assert "fetched" in human.stdout and "pw-" not in human.stdout + human.stderr


async def test_killed_and_paused_workers_lose_nothing_and_pay_nothing_twice(
    tmp_path: Path, pg_url: str
) -> None:
    # Slower than the other tests (time scale 100): the batch must outlast the kills,
    # the lease (2 s) and the adoption.
    urls = sources(80, "kill")
    outs = [tmp_path / f"out{i}" for i in range(WORKERS)]
    with threaded_emulator(LIMIT, scale=100) as emu:
        # The three workers that are killed or paused keep the short lease (its end is
        # what the test waits for); the survivor, which must not be declared dead for a
        # renewal slowed by a loaded host, gets the calm one.
        procs = [start(worker_args(emu, out, pg_url, urls, scale=100,
                                   lease=CALM_LEASE if i == WORKERS - 1 else LEASE),
                       tmp_path, tmp_path / f"w{i}.log") for i, out in enumerate(outs)]
        paused = procs[2]
        with reaped(procs):
            # Every worker holds a running job (the paused one too, so that its return tests
            # the fence); a worker's id holds its process id.
            async def started() -> bool:
                rows = await ledger_rows(pg_url)
                return all(
                    any(r["state"] == "submitted" and f":{p.pid}:" in str(r["owner"])
                        for r in rows)
                    for p in procs
                )

            try:
                await eventually(started, timeout=60, interval=POLL)
            except AssertionError:
                raise AssertionError(
                    "not every worker held a running job at once: "
                    f"{await ledger_rows(pg_url)!r}\n{log_tails(tmp_path, len(procs))}"
                ) from None
            procs[0].send_signal(signal.SIGKILL)
            procs[1].send_signal(signal.SIGKILL)
            paused.send_signal(signal.SIGSTOP)
            try:
                # Past its lease: the last worker adopts the three others' items (their
                # rows in the workers table go with the adoption).
                async def adopted() -> bool:
                    return await live_workers(pg_url) == 1

                await eventually(adopted, timeout=60, interval=POLL)
            finally:
                paused.send_signal(signal.SIGCONT)
            # Back to a lease that is gone: its first write (or its next renewal) is
            # refused, and it stops.
            code = await finish(paused)
            log = (tmp_path / "w2.log").read_text()
            assert code != 0 and "lease ran out" in log, log
            assert "pw-" not in log  # the ledger URL's password is never printed
            assert await finish(procs[3]) == 0, (tmp_path / "w3.log").read_text()
        check_promise(emu, urls, await ledger_rows(pg_url), outs)


async def test_workers_ride_out_a_database_restart(
    tmp_path: Path, own_postgres: PostgresServer
) -> None:
    url = await own_postgres.create_database()
    urls = sources(40, "restart")
    outs = [tmp_path / f"out{i}" for i in range(2)]
    with threaded_emulator(LIMIT, scale=200) as emu:
        # Nothing here waits for a lease to run out (outages past the lease: the next test).
        procs = [start(worker_args(emu, out, url, urls, scale=200, lease=CALM_LEASE),
                       tmp_path, tmp_path / f"w{i}.log") for i, out in enumerate(outs)]
        with reaped(procs):
            async def halfway() -> bool:
                rows = await ledger_rows(url)
                return sum(1 for r in rows if r["state"] == "fetched") >= 10

            await eventually(halfway, timeout=60, interval=POLL)
            await asyncio.to_thread(own_postgres.stop, "immediate")
            await asyncio.to_thread(own_postgres.start)
            codes = [await finish(p) for p in procs]
        logs = [(tmp_path / f"w{i}.log").read_text() for i in range(2)]
        assert codes == [0, 0], logs
        check_promise(emu, urls, await ledger_rows(url), outs)


async def test_workers_ride_out_repeated_database_outages(
    tmp_path: Path, own_postgres: PostgresServer
) -> None:
    """DBOS-style: the database stopped and started again and again while workers run, some
    outages longer than their lease (4 s). Leases are timed by the database's clock, which
    runs on while it is away, so a worker that reconnects first used to adopt everyone's
    items before their renewals landed, and workers died with the outage. Now no worker is
    declared dead for an outage, nothing is submitted without a durable intent, and every
    worker goes on once the database is back."""
    url = await own_postgres.create_database()
    urls = sources(80, "outage")
    outs = [tmp_path / f"out{i}" for i in range(3)]
    rng = random.Random(5)
    with threaded_emulator(LIMIT, scale=100) as emu:
        procs = [start(worker_args(emu, out, url, urls, scale=100, lease=OUTAGE_LEASE),
                       tmp_path, tmp_path / f"w{i}.log") for i, out in enumerate(outs)]
        with reaped(procs):
            async def started() -> bool:
                return sum(1 for r in await ledger_rows(url) if r["state"] != "pending") >= 5

            await eventually(started, timeout=60, interval=POLL)
            outages = 0
            # Bounded: four outages, two of them past the lease, the longest 1.75 leases.
            for down in (1.75 * OUTAGE_LEASE, 0.3, 1.25 * OUTAGE_LEASE, 1.0):
                if all(p.poll() is not None for p in procs):
                    break
                mode: Any = rng.choice(["fast", "immediate"])
                await asyncio.to_thread(own_postgres.stop, mode)
                await asyncio.sleep(down)
                await asyncio.to_thread(own_postgres.start)
                outages += 1
                await asyncio.sleep(rng.uniform(0.5, 2.0))
            codes = [await finish(p) for p in procs]
        logs = [(tmp_path / f"w{i}.log").read_text() for i in range(len(procs))]
        assert outages >= 2, "the batch ended before the outages"
        assert codes == [0] * len(procs), logs
        assert not any("lease ran out" in log for log in logs), logs
        assert not any("Traceback" in log for log in logs), logs
        check_promise(emu, urls, await ledger_rows(url), outs)
