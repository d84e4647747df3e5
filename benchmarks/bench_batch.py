"""Benchmark the batch runner: makespan against the lower bound, polls, 429s, memory.

Three parts:

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

3. **Large backlogs** (``--backlog-rows``, default 100,000; 0 skips it). What a user with
   that many recordings waits for, through ``process_many`` as a user calls it (SQLite
   ledger and output folder in a temporary folder on disk, ``--tmp``), with the instant
   fake client, for a manifest of URLs and for a folder of small WAV files
   (``--backlog-kinds``): a fresh batch's first submit (a run stopped once it came), the
   whole fresh batch (it leaves the backlog), and two reruns over the finished backlog,
   each with one new input last (every finished item is checked in the ledger and on
   disk before it): seconds to the new input's submit and for the whole rerun, RSS
   growth over each run and its peak (VmHWM, reset before each run), and tracemalloc's
   peak (the second rerun; the fresh batch with ``--backlog-trace-fresh``). ``--out``
   writes ``batch-backlog.md`` and ``.json``.

Run from the repository root::

    .venv/bin/python benchmarks/bench_batch.py
    .venv/bin/python benchmarks/bench_batch.py --jobs 500 --manifest-rows 20000   # quicker
    .venv/bin/python benchmarks/bench_batch.py --skip-makespan --skip-input \
        --out benchmarks/results                                    # large backlogs only
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import media_lengths, write_url_manifest

from symbl_async.batch._api import process_many
from symbl_async.batch._inputs import UrlSource, expand_inputs, read_manifest
from symbl_async.batch._slots import JobSlots
from symbl_async.client._client import SymblClient
from symbl_async.client._waiting import PollSchedule
from symbl_async.core._jobs import Job, JobInfo, JobStatus
from symbl_async.core._options import ProcessingOptions
from symbl_async.emulator import Emulator
from symbl_async.models._converter import camel_case
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
    write_url_manifest(path, media_lengths(rows, args.median, args.sigma, args.seed), "m")


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


# -- part 3: large backlogs -----------------------------------------------------------------


class BacklogClient(InstantClient):
    """The instant client, noting when the first submit reached it and when the submit of
    a source whose URL or path holds ``watch`` did; its insights hold every kind asked for
    (so that a rerun finds the files complete)."""

    def __init__(self, watch: str | None = None) -> None:
        super().__init__()
        self.watch = watch
        self.first_submit: float | None = None
        self.watched_submit: float | None = None
        self.submits = 0
        self.got_first = asyncio.Event()

    async def submit(
        self, kind: Any, *, file: Any = None, url: str | None = None, messages: Any = None,
        options: ProcessingOptions | None = None, media_duration: float | None = None,
        progress: Any = None,
    ) -> Job:
        now = time.monotonic()
        self.submits += 1
        if self.first_submit is None:
            self.first_submit = now
            self.got_first.set()
        where = os.fspath(file) if file is not None else url or ""
        if self.watch is not None and self.watch in where and self.watched_submit is None:
            self.watched_submit = now
        return await self.submit_audio_url(where, options=options,
                                           media_duration=media_duration)

    async def fetch_insights_json(
        self, conversation_id: str, include: Collection[str] = ()
    ) -> dict[str, Any]:
        return {"conversationId": conversation_id, **{camel_case(k): [] for k in include}}


def _rss_mb() -> tuple[float, float]:
    """This process's resident memory now and its peak since the last :func:`_reset_peak`
    (Linux's VmRSS and VmHWM), in MB."""
    fields = {}
    with open("/proc/self/status") as f:
        for line in f:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                fields[name] = int(value.split()[0]) / 1024
    return fields["VmRSS"], fields["VmHWM"]


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to VmRSS
        return True
    except OSError:
        return False


def make_backlog_inputs(base: Path, rows: int, kind: str, args: argparse.Namespace) -> Path:
    """A manifest of ``rows`` URLs, or a folder of ``rows`` small WAV files (44-byte header
    plus a tenth of a second of silence, each different); returns what to give."""
    if kind == "manifest":
        path = base / "manifest.csv"
        write_manifest(path, rows, args)
        return path
    folder = base / "recordings"
    folder.mkdir()
    for i in range(rows):
        (folder / f"rec{i:06d}.wav").write_bytes(_wav(i))
    return folder


def _wav(i: int, rate: int = 8000) -> bytes:
    data = i.to_bytes(4, "little") + bytes(rate // 10 * 2 - 4)  # 0.1 s, 16-bit mono
    return (b"RIFF" + (36 + len(data)).to_bytes(4, "little") + b"WAVEfmt "
            + (16).to_bytes(4, "little") + (1).to_bytes(2, "little")
            + (1).to_bytes(2, "little") + rate.to_bytes(4, "little")
            + (rate * 2).to_bytes(4, "little") + (2).to_bytes(2, "little")
            + (16).to_bytes(2, "little") + b"data" + len(data).to_bytes(4, "little") + data)


def _backlog_sources(given: Path, kind: str, extra: Path | None) -> Any:
    """The inputs as a user gives them (``read_manifest``, ``expand_inputs``), then the
    new input ``extra`` last: the rerun reaches it only after every finished item."""
    first = read_manifest(given) if kind == "manifest" else expand_inputs([given])
    if extra is None:
        return first
    return itertools.chain(first, expand_inputs([extra] if kind == "folder" else [
        f"https://media.test/{extra.name}.mp3"]))


async def backlog_run(
    given: Path, kind: str, base: Path, *, trace: bool, extra: Path | None = None,
    stop_at_first: bool = False, out: str = "out",
) -> dict[str, Any]:
    """One run through ``process_many`` with its ledger and output folder in ``base/out``:
    seconds to the first submit and to the submit of ``extra``, the whole run's seconds,
    RSS growth and peak, and the tracemalloc peak when ``trace``."""
    client = BacklogClient(watch=None if extra is None else extra.name)
    gc.collect()
    rss0, _ = _rss_mb()
    reset = _reset_peak()
    if trace:
        tracemalloc.start()
    count = 0
    async with client:
        cpu = time.process_time()
        started = time.monotonic()
        run = process_many(client, _backlog_sources(given, kind, extra),
                           max_concurrent_jobs=50, out_dir=base / out)
        async with run:
            if stop_at_first:
                async def first() -> None:
                    await client.got_first.wait()
                    run.stop()
                waiter = asyncio.ensure_future(first())
            async for _ in run:
                count += 1
            if stop_at_first:
                waiter.cancel()
        ended = time.monotonic()
        cpu = time.process_time() - cpu
    peak_traced = tracemalloc.get_traced_memory()[1] / 2**20 if trace else None
    if trace:
        tracemalloc.stop()
    rss1, hwm = _rss_mb()
    assert run.summary is not None
    assert client.first_submit is not None, "nothing was submitted"
    return {
        "traced": trace,
        "results": count,
        "submits": client.submits,
        "first_submit_s": client.first_submit - started,
        "new_submit_s": (None if client.watched_submit is None
                         else client.watched_submit - started),
        "seconds": ended - started,
        "cpu_s": cpu,  # the process's, all threads: what other load does not change
        "rss_growth_mb": rss1 - rss0,
        "rss_peak_growth_mb": (hwm - rss0) if reset else None,
        "tracemalloc_peak_mb": peak_traced,
    }


async def backlog(args: argparse.Namespace, kind: str) -> dict[str, Any]:
    """Part 3 for one kind of input (``manifest`` or ``folder``); see the module docstring."""
    rows = args.backlog_rows
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        base = Path(tmp)
        t = time.monotonic()
        given = make_backlog_inputs(base, rows, kind, args)
        extras = []
        for name in ("new1", "new2"):
            extras.append(base / f"{name}.wav")
            extras[-1].write_bytes(_wav(rows + len(extras)))
        setup = time.monotonic() - t
        out: dict[str, Any] = {"kind": kind, "rows": rows, "setup_s": setup}
        # The first submit, without tracemalloc: started, then stopped once it came.
        out["fresh_first"] = await backlog_run(given, kind, base, trace=False,
                                               stop_at_first=True, out="first")
        shutil.rmtree(base / "first")
        # The whole fresh batch (traced with --backlog-trace-fresh: several times slower,
        # its ledger's fsyncs on disk dominate); it leaves the backlog.
        out["fresh"] = await backlog_run(given, kind, base, trace=args.backlog_trace_fresh)
        assert out["fresh"]["results"] == rows
        # Reruns over the finished backlog, each with one new input last.
        out["rerun"] = await backlog_run(given, kind, base, trace=False, extra=extras[0])
        out["rerun_traced"] = None if args.backlog_skip_traced else await backlog_run(
            given, kind, base, trace=True, extra=extras[1])
        for name in ("rerun", "rerun_traced") if out["rerun_traced"] else ("rerun",):
            assert out[name]["results"] == rows + 1, out[name]
            assert out[name]["submits"] == 1, out[name]  # the new input only
        lines = (base / "out" / "results.jsonl").read_text().count("\n")
        assert lines == rows + 1, lines  # one line per input of the last run
    return out


_BACKLOG_RUNS = (("fresh_first", "fresh, until first submit"), ("fresh", "fresh, whole"),
                 ("rerun", "rerun + 1 new"), ("rerun_traced", "rerun + 1 new (traced)"))


def _backlog_rows(
    parts: list[dict[str, Any]],
) -> Iterator[tuple[dict[str, Any], str, dict[str, Any]]]:
    """Each part's runs that ran, with their labels, in the tables' order."""
    for part in parts:
        for name, label in _BACKLOG_RUNS:
            if part[name] is not None:
                yield part, label, part[name]


def print_backlog(parts: list[dict[str, Any]]) -> None:
    print("\nLarge backlogs (process_many, SQLite ledger and output folder on disk, instant "
          "fake client;\nthe new input comes last; RSS: growth over the run / peak growth):")
    print(f"| {'input':<9} | {'rows':>7} | {'run':<26} | {'first submit s':>14} | "
          f"{'new submit s':>12} | {'run s':>7} | {'CPU s':>7} | {'RSS MB':>13} | "
          f"{'traced peak MB':>14} |")
    print(f"|{'-' * 11}|{'-' * 9}|{'-' * 28}|{'-' * 16}|{'-' * 14}|{'-' * 9}|{'-' * 9}|"
          f"{'-' * 15}|{'-' * 16}|")
    for part, label, r in _backlog_rows(parts):
        new = "" if r["new_submit_s"] is None else f"{r['new_submit_s']:.2f}"
        peak = "" if r["rss_peak_growth_mb"] is None else f"{r['rss_peak_growth_mb']:.0f}"
        traced = ("" if r["tracemalloc_peak_mb"] is None
                  else f"{r['tracemalloc_peak_mb']:.1f}")
        print(f"| {part['kind']:<9} | {part['rows']:>7} | {label:<26} | "
              f"{r['first_submit_s']:>14.2f} | {new:>12} | {r['seconds']:>7.1f} | "
              f"{r['cpu_s']:>7.1f} | "
              f"{r['rss_growth_mb']:>5.0f} / {peak:>5} | {traced:>14} |")


def write_backlog(folder: Path, parts: list[dict[str, Any]], argv: list[str] | None) -> None:
    """``batch-backlog.json`` and ``.md``: the figures, the command and the machine's load."""
    folder.mkdir(parents=True, exist_ok=True)
    command = "python benchmarks/bench_batch.py " + " ".join(
        sys.argv[1:] if argv is None else argv)
    machine: dict[str, Any] = {"cpus": os.cpu_count(), "loadavg_before": LOAD_BEFORE,
                               "loadavg_after": os.getloadavg(),
               "python": platform.python_version(), "platform": platform.platform()}
    (folder / "batch-backlog.json").write_text(json.dumps(
        {"command": command, "machine": machine, "parts": parts}, indent=2) + "\n")
    lines = [
        "# Large backlogs", "",
        f"Command: `{command}`", "",
        f"Machine: {machine['cpus']} CPUs (shared), load average (1/5/15 min) before the "
        f"runs {' / '.join(f'{x:.2f}' for x in machine['loadavg_before'])}, after "
        f"{' / '.join(f'{x:.2f}' for x in machine['loadavg_after'])}; CPU s is this "
        "process's (all its threads), which other load changes little, "
        f"Python {machine['python']}.", "",
        "process_many with an SQLite ledger and an output folder on disk, a fake client "
        "that answers every call at once (the runner's own cost). The rerun's new input "
        "comes last, after every finished item. Seconds are from the call. RSS: growth "
        "over the run / peak growth over the run start (VmHWM). Traced runs run under "
        "tracemalloc (slower).", "",
        "| input | rows | run | first submit s | new submit s | run s | CPU s | RSS growth MB "
        "| RSS peak growth MB | tracemalloc peak MB |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]

    def num(value: float | None, fmt: str) -> str:
        return "" if value is None else format(value, fmt)

    for part, label, r in _backlog_rows(parts):
        lines.append(
            f"| {part['kind']} | {part['rows']} | {label} | "
            f"{r['first_submit_s']:.2f} | {num(r['new_submit_s'], '.2f')} | "
            f"{r['seconds']:.1f} | {r['cpu_s']:.1f} | {r['rss_growth_mb']:.0f} | "
            f"{num(r['rss_peak_growth_mb'], '.0f')} | "
            f"{num(r['tracemalloc_peak_mb'], '.1f')} |")
    lines.append("")
    (folder / "batch-backlog.md").write_text("\n".join(lines))


LOAD_BEFORE = os.getloadavg()


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
    parser.add_argument("--backlog-rows", type=int, default=100_000,
                        help="part 3: inputs of the large backlog (0: skip it)")
    parser.add_argument("--backlog-kinds", default="manifest,folder",
                        help="part 3: manifest, folder (of small WAV files), or both")
    parser.add_argument("--backlog-trace-fresh", action="store_true",
                        help="part 3: run the whole fresh batch under tracemalloc too")
    parser.add_argument("--backlog-skip-traced", action="store_true",
                        help="part 3: skip the traced rerun (quicker)")
    parser.add_argument("--out", type=Path, default=None,
                        help="write part 3's figures as batch-backlog.md and .json here")
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
    if args.backlog_rows > 0:
        parts = [asyncio.run(backlog(args, kind)) for kind in args.backlog_kinds.split(",")]
        print_backlog(parts)
        if args.out is not None:
            write_backlog(args.out, parts, argv)


if __name__ == "__main__":
    main()
