"""Benchmark a long-lived client's memory: does it grow with the jobs it has processed?

A service keeps one :class:`~symbl_async.SymblClient` for months. Here one client processes
``--waves`` waves of ``--per-wave`` recordings (``process_audio_url``, at most 50 at once)
against a ``symbl-async emulator`` in its own process (so the emulator's own records are
not counted), in poll mode or, with ``--mode hybrid``/``webhook``, with an embedded
webhook receiver. After each wave: the Python heap (``tracemalloc``, after a collection)
and the process's RSS. A leak shows as a heap that keeps growing per wave; what the client
remembers on purpose (the receiver's last ``max_recent`` jobs, 10,000 by default) grows
until its bound, then stays flat. At the end, the largest allocation sites.

Run from the repository root::

    .venv/bin/python benchmarks/bench_soak.py --waves 13 --per-wave 1000 --mode hybrid
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import tracemalloc

from _common import EmulatorProcess

from symbl_async import PollSchedule, SymblClient, WebhookReceiver
from symbl_async.emulator import DEMO_APP_ID, DEMO_APP_SECRET

_SCALE = 2000.0


def _rss_mb() -> float:
    """The process's resident set (Linux's /proc; elsewhere NaN: the heap is what counts)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return float("nan")


async def soak(url: str, *, waves: int, per_wave: int, mode: str, at_once: int) -> None:
    tracemalloc.start()
    receiver = WebhookReceiver() if mode != "poll" else None
    if receiver is not None:
        await receiver.start()
    try:
        async with SymblClient(app_id=DEMO_APP_ID, app_secret=DEMO_APP_SECRET, base_url=url,
                               poll=PollSchedule(time_scale=_SCALE), receiver=receiver,
                               wait_mode=mode) as client:
            gate = asyncio.Semaphore(at_once)

            async def one(i: int) -> None:
                async with gate:
                    await client.process_audio_url(
                        f"https://media.test/soak{i}.mp3?emulator_duration=60")

            done = 0
            print(f"mode {mode}, {waves} waves of {per_wave}, {at_once} at once")
            print("  jobs   heap MB   RSS MB")
            for _ in range(waves):
                await asyncio.gather(*(one(done + i) for i in range(per_wave)))
                done += per_wave
                gc.collect()
                heap, _ = tracemalloc.get_traced_memory()
                print(f"{done:6d}  {heap / 2**20:8.2f}  {_rss_mb():7.1f}", flush=True)
            print("largest allocation sites now:")
            for stat in tracemalloc.take_snapshot().statistics("lineno")[:8]:
                print(f"  {stat}")
    finally:
        if receiver is not None:
            await receiver.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waves", type=int, default=6)
    parser.add_argument("--per-wave", type=int, default=1000)
    parser.add_argument("--mode", choices=("poll", "hybrid", "webhook"), default="poll")
    parser.add_argument("--at-once", type=int, default=50)
    args = parser.parse_args()
    flags = ["--time-scale", f"{_SCALE:g}", "--concurrency-limit", str(args.at_once)]
    with EmulatorProcess(flags, cpu=None) as emu:
        asyncio.run(soak(emu.url, waves=args.waves, per_wave=args.per_wave, mode=args.mode,
                         at_once=args.at_once))


if __name__ == "__main__":
    main()
