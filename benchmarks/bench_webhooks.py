"""Benchmark webhook waiting: detection latency, receiver throughput, batch makespan.

Three parts:

1. **Detection latency.** ``--jobs`` URL jobs (default 300; log-normal media lengths,
   median ``--median`` s) are submitted at once to an emulator at ``--time-scale``
   (default 100), served by a child process pinned to its own core when there are two,
   and waited for in each mode: ``poll``, ``webhook``
   (confirmed with ``GET /v1/job``), ``webhook`` with confirmation off, and ``hybrid``.
   Latency is the wall-clock time from the emulator's status change to ``completed``
   until the waiting coroutine resumes. The emulator stamps ``finishedAt`` in service
   seconds since its start; the child reads its start on the monotonic clock (system-wide
   on Linux) as ``time.monotonic() - scheduler.now() / time_scale`` (the two read back to
   back), so each job's end is ``t0 + finishedAt / time_scale`` in wall-clock time.
   Reported: median, p99 and max (real milliseconds), ``GET /v1/job`` requests per job,
   and webhooks delivered.
   Poll latency is set by the poll schedule, which the time scale divides: at the real
   service's speed it is ``time_scale`` times larger (column "p50/p99 at 1x"); webhook
   latency is network and confirmation time, which the time scale does not divide.
   Client and receiver share this process's event loop.
2. **Receiver throughput.** A :class:`~symbl_async.WebhookReceiver` runs its own aiohttp
   server alone in a child process pinned to one core; this process, pinned to the other
   core when there is one, sends ``--deliveries`` webhooks (``scheduled``,
   ``in_progress``, ``completed`` per job, in order per job) over ``--connections``
   keep-alive connections with a minimal raw HTTP/1.1 client (cheaper than aiohttp's
   client, so the sender is less of a bottleneck). Two cases: jobs watched, with an
   instant fake ``confirm`` (every webhook takes the accepted path, every job one
   confirmation); and jobs nobody watches, confirmation off (the remember path).
   Reported: deliveries per second absorbed (wall clock), the receiver process's CPU use,
   and deliveries per CPU-second of the receiver (its capacity on one saturated core).
3. **Batch makespan with webhooks.** ``symbl_async.batch._api.process_many`` runs
   ``--batch-jobs`` jobs (default 500) at ``--limit`` concurrent jobs (default 50) with
   ``wait_mode="hybrid"`` and, for comparison, ``"poll"``; the makespan (first submit to
   last end, from the emulator's job timestamps) is compared with the lower bound
   ``max(sum of job times / limit, longest job)``, as ``benchmarks/bench_batch.py`` does
   (there, client and emulator share one event loop). Skipped, with a message, when
   ``symbl_async.batch._api`` is missing.

Run from the repository root::

    .venv/bin/python benchmarks/bench_webhooks.py
    .venv/bin/python benchmarks/bench_webhooks.py --jobs 100 --deliveries 30000 \\
        --batch-jobs 200                                           # quicker
    .venv/bin/python benchmarks/bench_webhooks.py --skip-latency --skip-batch   # part 2
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
import urllib.parse
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import media_lengths, percentile

from symbl_async import JobStatus, PollSchedule, SymblClient, WebhookReceiver
from symbl_async.emulator import Emulator

MODES = (
    ("poll", "poll", True),
    ("webhook", "webhook", True),
    ("webhook, no confirmation", "webhook", False),
    ("hybrid", "hybrid", True),
)


# -- part 1: detection latency ---------------------------------------------------------


def _emulator_child(conn: Connection, scale: float, limit: int, cpu: int | None) -> None:
    """Serve an emulator until told to stop; report its start, jobs and counters."""
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})

    async def main() -> None:
        async with Emulator(time_scale=scale, concurrency_limit=limit) as emu:
            # CLOCK_MONOTONIC is system-wide on Linux: the parent can use this t0 as is.
            t0 = time.monotonic() - emu.scheduler.now() / scale
            conn.send((emu.url, emu.app_id, emu.app_secret, t0))
            assert await asyncio.to_thread(conn.recv) == "stop"
            conn.send((emu.jobs(), emu.stats()))

    asyncio.run(main())


async def latency(args: argparse.Namespace, mode: str, confirm: bool) -> dict[str, Any]:
    scale = args.time_scale
    lengths = media_lengths(args.jobs, args.median, args.sigma, args.seed)
    resumed: dict[str, float] = {}
    cpus = sorted(os.sched_getaffinity(0))
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(
        target=_emulator_child,
        args=(child, scale, args.jobs + 10, cpus[-1] if len(cpus) > 1 else None),
    )
    process.start()
    try:
        url, app_id, app_secret, t0 = await asyncio.to_thread(parent.recv)
        receiver = WebhookReceiver() if mode != "poll" else None
        client = SymblClient(
            app_id=app_id,
            app_secret=app_secret,
            base_url=url,
            poll=PollSchedule(time_scale=scale),
            receiver=receiver,
            confirm_webhooks=confirm,
        )
        try:
            if receiver is not None:
                await receiver.start()

            async def one(i: int, seconds: float) -> None:
                media = f"https://media.test/l{i}.mp3?emulator_duration={seconds:g}"
                job = await client.submit_audio_url(media, media_duration=seconds)
                await client.wait(job, mode=mode, timeout=3600)
                resumed[job.job_id] = time.monotonic()

            await asyncio.gather(*(one(i, d) for i, d in enumerate(lengths)))
        finally:
            if receiver is not None:
                await receiver.close()
            await client.close()
        parent.send("stop")
        jobs, stats = await asyncio.to_thread(parent.recv)
    finally:
        process.join(30)
    ends = {job["jobId"]: t0 + job["finishedAt"] / scale for job in jobs}
    late = [(resumed[job_id] - ends[job_id]) * 1000 for job_id in resumed]
    return {
        "p50_ms": statistics.median(late),
        "p99_ms": percentile(late, 0.99),
        "max_ms": max(late),
        "min_ms": min(late),
        "status_per_job": stats["job_status_requests"] / args.jobs,
        "webhooks_per_job": stats["webhooks_sent"] / args.jobs,
        "confirmations_per_job": (
            receiver.stats.confirmations / args.jobs if receiver is not None else 0.0
        ),
    }


def print_latency(args: argparse.Namespace) -> None:
    print(
        f"\nDetection latency: {args.jobs} jobs at once, time scale {args.time_scale:g}, "
        f"median media {args.median:g} s (status change -> waiter resumes)"
    )
    header = (
        f"| {'mode':<26} | {'p50 ms':>8} | {'p99 ms':>8} | {'max ms':>8} | "
        f"{'p50/p99 at 1x':>15} | {'GET job/job':>11} | {'webhooks/job':>12} |"
    )
    print(header)
    print("|" + "|".join("-" * (len(c) + 0) for c in header.split("|")[1:-1]) + "|")
    for label, mode, confirm in MODES:
        r = asyncio.run(latency(args, mode, confirm))
        scaled = (r["p50_ms"] * args.time_scale / 1000, r["p99_ms"] * args.time_scale / 1000)
        at_1x = "{:.1f} / {:.1f} s".format(*scaled) if mode == "poll" else "same"
        print(
            f"| {label:<26} | {r['p50_ms']:>8.1f} | {r['p99_ms']:>8.1f} | {r['max_ms']:>8.1f} | "
            f"{at_1x:>15} | {r['status_per_job']:>11.2f} | {r['webhooks_per_job']:>12.2f} |"
        )


# -- part 2: receiver throughput -------------------------------------------------------


def _receiver_child(conn: Connection, watched: int, confirm: bool, cpu: int | None) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})

    async def instant_confirm(job_id: str) -> JobStatus:
        return JobStatus.COMPLETED

    async def main() -> None:
        receiver = WebhookReceiver(
            confirm=instant_confirm if confirm else None, max_recent=max(watched, 10_000)
        )
        async with receiver:
            for i in range(watched):
                receiver.watch(f"job-{i}")
            conn.send(receiver.callback_url)
            assert await asyncio.to_thread(conn.recv) == "go"
            cpu0, wall0 = time.process_time(), time.monotonic()
            conn.send("ready")
            assert await asyncio.to_thread(conn.recv) == "stop"
            cpu_used, wall = time.process_time() - cpu0, time.monotonic() - wall0
            s = receiver.stats
            finished = sum(1 for i in range(watched) if not receiver.is_watching(f"job-{i}"))
            conn.send(
                {
                    "cpu": cpu_used,
                    "wall": wall,
                    "received": s.received,
                    "accepted": s.accepted,
                    "unknown": s.unknown_jobs,
                    "rejected": sum(s.rejected.values()),
                    "confirmations": s.confirmations,
                    "watch_done": finished,
                }
            )

    asyncio.run(main())


async def _send_all(url: str, jobs: int, connections: int) -> float:
    """POST 3 webhooks per job over keep-alive connections; returns the seconds it took."""
    parts = urllib.parse.urlsplit(url)
    host, port, path = parts.hostname or "127.0.0.1", parts.port or 80, parts.path

    def request(job_id: str, status: str) -> bytes:
        body = f'{{"jobId": "{job_id}", "status": "{status}"}}'.encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    async def worker(k: int) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            for i in range(k, jobs, connections):
                for status in ("scheduled", "in_progress", "completed"):
                    writer.write(request(f"job-{i}", status))
                    head = await reader.readuntil(b"\r\n\r\n")
                    if not head.startswith(b"HTTP/1.1 200"):
                        raise RuntimeError(head.split(b"\r\n")[0].decode())
                    length = 0
                    for line in head.split(b"\r\n"):
                        if line.lower().startswith(b"content-length:"):
                            length = int(line.split(b":")[1])
                    await reader.readexactly(length)
        finally:
            writer.close()
            await writer.wait_closed()

    started = time.monotonic()
    await asyncio.gather(*(worker(k) for k in range(connections)))
    return time.monotonic() - started


def throughput(args: argparse.Namespace, watched: bool) -> dict[str, Any]:
    jobs = args.deliveries // 3
    cpus = sorted(os.sched_getaffinity(0))
    receiver_cpu = cpus[-1] if len(cpus) > 1 else None
    sender_cpus = set(cpus[:-1]) if len(cpus) > 1 else set(cpus)
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(
        target=_receiver_child, args=(child, jobs if watched else 0, watched, receiver_cpu)
    )
    process.start()
    own = os.sched_getaffinity(0)
    try:
        url = parent.recv()
        os.sched_setaffinity(0, sender_cpus)
        parent.send("go")
        assert parent.recv() == "ready"
        seconds = asyncio.run(_send_all(url, jobs, args.connections))
        parent.send("stop")
        result: dict[str, Any] = parent.recv()
    finally:
        os.sched_setaffinity(0, own)
        process.join(30)
    deliveries = jobs * 3
    if result["received"] != deliveries or result["rejected"]:
        raise RuntimeError(f"receiver saw {result}, expected {deliveries} clean deliveries")
    return {
        "deliveries": deliveries,
        "seconds": seconds,
        "per_s": deliveries / seconds,
        "cpu_share": result["cpu"] / result["wall"],
        "per_cpu_s": deliveries / result["cpu"],
        "confirmations": result["confirmations"],
        "watch_done": result["watch_done"],
        "accepted": result["accepted"],
        "unknown": result["unknown"],
        "pinned": receiver_cpu is not None,
    }


def print_throughput(args: argparse.Namespace) -> None:
    print(
        f"\nReceiver throughput: {args.deliveries // 3 * 3} deliveries over "
        f"{args.connections} keep-alive connections; receiver alone in a child process"
    )
    header = (
        f"| {'case':<40} | {'deliveries/s':>12} | {'receiver CPU':>12} | {'per CPU-second':>14} |"
    )
    print(header)
    print("|" + "|".join("-" * len(c) for c in header.split("|")[1:-1]) + "|")
    for label, watched in (
        ("watched jobs, instant confirm", True),
        ("unwatched jobs, no confirmation", False),
    ):
        r = throughput(args, watched)
        print(
            f"| {label:<40} | {r['per_s']:>12.0f} | {r['cpu_share']:>11.0%} | "
            f"{r['per_cpu_s']:>14.0f} |"
        )
        if watched:
            jobs = r["deliveries"] // 3
            assert r["confirmations"] == jobs and r["watch_done"] == 0, r
    pinning = "pinned to separate cores" if r["pinned"] else "NOT pinned (one CPU)"
    print(f"(receiver and sender {pinning}; sender: this process, raw HTTP/1.1)")


# -- part 3: batch makespan with webhooks ----------------------------------------------


async def batch_makespan(args: argparse.Namespace, mode: str) -> dict[str, Any]:
    """Makespan of ``process_many`` with ``wait_mode=mode`` against its lower bound."""
    from symbl_async.batch._api import process_many
    from symbl_async.batch._inputs import UrlSource
    from symbl_async.batch._slots import JobSlots

    lengths = media_lengths(args.batch_jobs, args.batch_median, args.sigma, args.seed)
    sources = [
        UrlSource(f"https://media.test/b{i}.mp3?emulator_duration={d:g}", "audio", duration=d)
        for i, d in enumerate(lengths)
    ]
    scale = args.batch_time_scale
    async with Emulator(time_scale=scale, concurrency_limit=args.limit) as emu:
        config = emu.config
        receiver = WebhookReceiver() if mode != "poll" else None
        client = SymblClient(
            app_id=emu.app_id,
            app_secret=emu.app_secret,
            base_url=emu.url,
            poll=PollSchedule(time_scale=scale),
            receiver=receiver,
        )
        try:
            if receiver is not None:
                await receiver.start()
            slots = JobSlots(args.limit, backoff_base=1.0 / scale, backoff_cap=30.0 / scale)
            with tempfile.TemporaryDirectory() as tmp:
                started = time.monotonic()
                run = process_many(
                    client,
                    sources,
                    slots=slots,
                    ledger=Path(tmp) / "ledger.sqlite3",
                    include=["conversation"],
                    wait_mode=mode,
                )
                async with run:
                    results = [r async for r in run]
                wall = time.monotonic() - started
        finally:
            if receiver is not None:
                await receiver.close()
            await client.close()
        stats = emu.stats()
        jobs = emu.jobs()
    if not all(r.status == "fetched" for r in results):
        raise RuntimeError("some batch jobs failed")
    job_times = [config.processing_time(d) + config.queue_delay for d in lengths]
    bound = max(sum(job_times) / args.limit, max(job_times))
    measured = max(j["finishedAt"] for j in jobs) - min(j["submittedAt"] for j in jobs)
    return {
        "bound": bound,
        "makespan": measured,
        "efficiency": bound / measured,
        "wall": wall,
        "status_per_job": stats["job_status_requests"] / args.batch_jobs,
        "webhooks_per_job": stats["webhooks_sent"] / args.batch_jobs,
        "rejected_429": stats["rejected_429"],
    }


def print_batch(args: argparse.Namespace) -> None:
    try:
        import symbl_async.batch._api  # noqa: F401
    except ImportError:
        print("\nBatch makespan: symbl_async.batch._api is not available; part skipped.")
        return
    print(
        f"\nBatch makespan: {args.batch_jobs} jobs, limit {args.limit}, "
        f"time scale {args.batch_time_scale:g}, median media {args.batch_median:g} s"
    )
    header = (
        f"| {'wait mode':<9} | {'bound (svc s)':>13} | {'makespan (svc s)':>16} | "
        f"{'bound/makespan':>14} | {'GET job/job':>11} | {'webhooks/job':>12} | {'429s':>5} |"
    )
    print(header)
    print("|" + "|".join("-" * len(c) for c in header.split("|")[1:-1]) + "|")
    for mode in ("hybrid", "poll"):
        r = asyncio.run(batch_makespan(args, mode))
        print(
            f"| {mode:<9} | {r['bound']:>13.0f} | {r['makespan']:>16.0f} | "
            f"{r['efficiency']:>14.3f} | {r['status_per_job']:>11.2f} | "
            f"{r['webhooks_per_job']:>12.2f} | {r['rejected_429']:>5} |"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=300, help="part 1: jobs per mode")
    parser.add_argument("--time-scale", type=float, default=100.0, help="part 1")
    parser.add_argument("--median", type=float, default=300.0, help="part 1: median media s")
    parser.add_argument("--sigma", type=float, default=0.6)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--deliveries", type=int, default=90_000, help="part 2")
    parser.add_argument("--connections", type=int, default=100, help="part 2")
    parser.add_argument("--batch-jobs", type=int, default=500, help="part 3")
    parser.add_argument("--limit", type=int, default=50, help="part 3: concurrent jobs")
    parser.add_argument("--batch-time-scale", type=float, default=200.0, help="part 3")
    parser.add_argument("--batch-median", type=float, default=600.0, help="part 3")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-batch", action="store_true")
    args = parser.parse_args(argv)
    if not args.skip_latency:
        print_latency(args)
    if not args.skip_throughput:
        print_throughput(args)
    if not args.skip_batch:
        print_batch(args)


if __name__ == "__main__":
    main()
