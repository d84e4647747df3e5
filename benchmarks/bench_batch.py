"""Benchmark the batch runner: makespan against the lower bound, polls, 429s, memory.

Two parts:

1. **Makespan.** ``--jobs`` URL jobs (default 2,000) whose media lengths are log-normal
   (median ``--median`` s, default 600 = 10 minutes; sigma ``--sigma``, default 0.6; capped
   at 4 h) run at ``--limit`` concurrent jobs (default 50) against the in-process emulator at
   ``--time-scale`` (default 200). Each URL carries ``emulator_duration=`` so the emulator
   knows the length, and each source its ``duration`` so longest-first can use it. The
   makespan is measured in service seconds, both as wall time x time scale and from the
   emulator's job timestamps (first submit to last end), and compared with the lower bound
   ``max(sum of job times / limit, longest job)``. Also reported: ``GET /v1/job`` requests
   per job, 429s, and the process's peak RSS (``ru_maxrss``, which includes the emulator and
   everything it stores, since both run in this process). Client and emulator share one
   event loop: keep it well below saturation (the time scale and ``--include``, default
   ``conversation``, set the load), or the loop's lag shows up as makespan.
2. **Input side.** A ``--manifest-rows`` row CSV manifest (default 100,000) is streamed
   through the whole runner (manifest reader, keys, look-ahead window, dispatch, ledger,
   results) with a fake client that answers every call at once, so only the runner's own
   memory is measured with ``tracemalloc``: the memory in use after 25, 50, 75 and 100 % of
   the rows (flat: it does not grow with the input) and its peak, for 10 % of the rows and
   for all of them. The ledger lives on ``/dev/shm``
   when it exists (its fsyncs would otherwise dominate the time; they do not change memory).
   Before that, the runner's own CPU and wall time per item (10 % of the rows, no
   tracemalloc), with the ledger on ``/dev/shm`` and on disk (``--tmp`` or the temp folder).

Run from the repository root::

    .venv/bin/python benchmarks/bench_batch.py
    .venv/bin/python benchmarks/bench_batch.py --jobs 500 --manifest-rows 20000   # quicker
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import media_lengths
from symbl_async.batch._manifests import read_manifest

from symbl_async.batch._api import process_many
from symbl_async.batch._inputs import UrlSource
from symbl_async.batch._slots import JobSlots
from symbl_async.client._client import SymblClient
from symbl_async.client._waiting import PollSchedule
from symbl_async.core._jobs import Job, JobInfo, JobStatus
from symbl_async.core._options import ProcessingOptions
from symbl_async.emulator import Emulator
from symbl_async.models._models import ConversationInsights


async def makespan(args: argparse.Namespace) -> dict[str, Any]:
    lengths = media_lengths(args.jobs, args.median, args.sigma, args.seed)
    sources = [
        UrlSource(f"https://media.test/b{i}.mp3?emulator_duration={d:g}", "audio", duration=d)
        for i, d in enumerate(lengths)
    ]
    scale = args.time_scale
    async with Emulator(time_scale=scale, concurrency_limit=args.limit) as emu:
        config = emu.config
        async with SymblClient(
            app_id=emu.app_id, app_secret=emu.app_secret, base_url=emu.url,
            poll=PollSchedule(time_scale=scale),
        ) as client:
            slots = JobSlots(args.limit, backoff_base=1.0 / scale, backoff_cap=30.0 / scale)
            with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
                started = time.monotonic()
                run = process_many(
                    client, sources, slots=slots, ledger=Path(tmp) / "ledger.sqlite3",
                    include=args.include.split(","), lookahead=args.lookahead,
                )
                async with run:
                    results = [r async for r in run]
                wall = time.monotonic() - started
        stats = emu.stats()
        jobs = emu.jobs()
    job_times = [config.processing_time(d) + config.queue_delay for d in lengths]
    bound = max(sum(job_times) / args.limit, max(job_times))
    measured = max(j["finishedAt"] for j in jobs) - min(j["submittedAt"] for j in jobs)
    assert all(r.status == "fetched" for r in results), "some jobs failed"
    return {
        "jobs": args.jobs,
        "limit": args.limit,
        "time_scale": scale,
        "lower_bound_s": bound,
        "makespan_jobs_s": measured,
        "makespan_wall_s": wall * scale,
        "wall_s": wall,
        "efficiency": bound / measured,
        "status_requests_per_job": stats["job_status_requests"] / args.jobs,
        "rejected_429": stats["rejected_429"],
        "max_concurrent_jobs": stats["max_concurrent_jobs"],
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


class InstantClient(SymblClient):
    """A client whose every call succeeds at once, without any network: runner cost only."""

    def __init__(self) -> None:
        super().__init__(app_id="bench", app_secret="bench", base_url="http://127.0.0.1:9")
        self._ids = itertools.count(1)

    async def submit_audio_url(
        self, url: str, *, options: ProcessingOptions | None = None,
        media_duration: float | None = None,
    ) -> Job:
        # Ids from a counter: uuid4 reads os.urandom, a syscall that cost ~30 us here, which
        # would be timed as the runner's.
        n = next(self._ids)
        return Job(job_id=f"job-{n}", conversation_id=f"conv-{n}",
                   name=None if options is None else options.name, media_duration=media_duration)

    submit_video_url = submit_audio_url

    async def wait(self, job: Job | str, **kwargs: Any) -> JobInfo:
        job_id = job if isinstance(job, str) else job.job_id
        return JobInfo(id=job_id, status=JobStatus.COMPLETED)

    async def fetch_insights(
        self, conversation_id: str, include: Collection[str] = ()
    ) -> ConversationInsights:
        return ConversationInsights(conversation_id=conversation_id)

    async def fetch_insights_json(
        self, conversation_id: str, include: Collection[str] = ()
    ) -> dict[str, Any]:
        return {"conversationId": conversation_id}


def write_manifest(path: Path, rows: int, args: argparse.Namespace) -> None:
    lengths = media_lengths(rows, args.median, args.sigma, args.seed)
    with path.open("w") as f:
        f.write("source,duration\n")
        for i, d in enumerate(lengths):
            f.write(f"https://media.test/m{i}.mp3?emulator_duration={d:g},{d:g}\n")


async def stream_manifest(
    args: argparse.Namespace, rows: int, folder: str | None,
    on_result: Callable[[int], None] | None = None,
    on_start: Callable[[], None] | None = None,
) -> tuple[float, float]:
    """Stream a ``rows``-row manifest through the runner with the instant client, its
    ledger in a temporary folder under ``folder``: ``on_start()`` once the manifest is
    written, ``on_result(count)`` after each result. Returns the run's (CPU, wall) seconds.
    """
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        manifest = Path(tmp) / "manifest.csv"
        write_manifest(manifest, rows, args)
        async with InstantClient() as client:
            if on_start is not None:
                on_start()
            cpu, wall, count = time.process_time(), time.monotonic(), 0
            run = process_many(
                client, read_manifest(manifest), max_concurrent_jobs=args.limit,
                ledger=Path(tmp) / "ledger.sqlite3", lookahead=args.lookahead,
            )
            async with run:
                async for _ in run:
                    count += 1
                    if on_result is not None:
                        on_result(count)
            cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    assert count == rows
    return cpu, wall


async def input_side(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows_out = []
    for rows in (max(args.manifest_rows // 10, 1), args.manifest_rows):
        marks = {rows * q // 4: 0.0 for q in (1, 2, 3, 4)}

        def mark(count: int, marks: dict[int, float] = marks) -> None:
            if count in marks:
                marks[count] = tracemalloc.get_traced_memory()[0] / 2**20

        _, elapsed = await stream_manifest(args, rows, args.shm, mark, tracemalloc.start)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rows_out.append({"rows": rows, "tracemalloc_peak_mb": peak / 2**20,
                         "current_mb": list(marks.values()),
                         "seconds": elapsed, "rows_per_s": rows / elapsed})
    return rows_out


async def runner_cpu(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The runner's own CPU and wall time per item, without tracemalloc's overhead."""
    rows = max(args.manifest_rows // 10, 1)
    out = []
    for label, base in (("/dev/shm", args.shm), ("disk", args.tmp or tempfile.gettempdir())):
        if base is None:
            continue
        cpu, wall = await stream_manifest(args, rows, base)
        out.append({"ledger_on": label, "rows": rows, "cpu_ms_per_item": 1000 * cpu / rows,
                    "wall_ms_per_item": 1000 * wall / rows})
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--time-scale", type=float, default=200.0)
    parser.add_argument("--median", type=float, default=600.0, help="median media seconds")
    parser.add_argument("--sigma", type=float, default=0.6)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--lookahead", type=int, default=256)
    parser.add_argument("--include", default="conversation",
                        help="insights fetched per job (default: conversation, one cheap GET)")
    parser.add_argument("--manifest-rows", type=int, default=100_000)
    parser.add_argument("--tmp", default=None, help="folder for the part-1 ledger")
    parser.add_argument("--skip-makespan", action="store_true")
    parser.add_argument("--skip-input", action="store_true")
    args = parser.parse_args(argv)
    args.shm = "/dev/shm" if os.path.isdir("/dev/shm") else None

    if not args.skip_makespan:
        m = asyncio.run(makespan(args))
        print(f"\nMakespan: {m['jobs']} jobs, limit {m['limit']}, time scale {m['time_scale']:g}")
        print(f"| {'measure':<40} | {'value':>12} |")
        print(f"|{'-' * 42}|{'-' * 14}|")
        for label, value in [
            ("lower bound (service s)", f"{m['lower_bound_s']:.0f}"),
            ("makespan, emulator timestamps (service s)", f"{m['makespan_jobs_s']:.0f}"),
            ("makespan, wall x time scale (service s)", f"{m['makespan_wall_s']:.0f}"),
            ("lower bound / makespan", f"{m['efficiency']:.3f}"),
            ("wall time (s)", f"{m['wall_s']:.1f}"),
            ("GET /v1/job per job", f"{m['status_requests_per_job']:.2f}"),
            ("429s", str(m["rejected_429"])),
            ("max concurrent jobs seen", str(m["max_concurrent_jobs"])),
            ("peak RSS, with the emulator (MB)", f"{m['maxrss_mb']:.0f}"),
        ]:
            print(f"| {label:<40} | {value:>12} |")
    if not args.skip_input:
        print("\nRunner alone (instant fake client), per item:")
        print(f"| {'ledger on':>9} | {'rows':>7} | {'CPU ms':>7} | {'wall ms':>7} |")
        print(f"|{'-' * 11}|{'-' * 9}|{'-' * 9}|{'-' * 9}|")
        for row in asyncio.run(runner_cpu(args)):
            print(f"| {row['ledger_on']:>9} | {row['rows']:>7} | "
                  f"{row['cpu_ms_per_item']:>7.3f} | {row['wall_ms_per_item']:>7.3f} |")
        print(f"peak RSS of this process so far: "
              f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
        print("\nInput side (manifest streamed through the runner, instant fake client;")
        print("traced memory now, after 25/50/75/100 % of the rows, and its peak):")
        print(f"| {'rows':>8} | {'now MB at 25/50/75/100 %':>26} | {'peak MB':>8} | "
              f"{'seconds':>8} | {'rows/s':>7} |")
        print(f"|{'-' * 10}|{'-' * 28}|{'-' * 10}|{'-' * 10}|{'-' * 9}|")
        for row in asyncio.run(input_side(args)):
            now = " / ".join(f"{mb:.2f}" for mb in row["current_mb"])
            print(f"| {row['rows']:>8} | {now:>26} | {row['tracemalloc_peak_mb']:>8.2f} | "
                  f"{row['seconds']:>8.1f} | {row['rows_per_s']:>7.0f} |")


if __name__ == "__main__":
    main()
