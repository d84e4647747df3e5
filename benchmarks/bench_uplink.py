"""Real-sized file uploads over a limited uplink: ours, ours uploading from every slot, a script,
ours on a shared PostgreSQL ledger, in one process or in worker processes.

The workload: ``--files`` real WAVs (8 kHz, 16-bit mono PCM: a RIFF header giving the
data's length, the file's number in its first samples so that no two files are the same,
then silence, written as sparse files so that making them costs nothing)
with seeded log-normal lengths (median ``--median`` s, sigma ``--sigma``; 120 files make
725 MB), made on the fly in a temporary folder and deleted at the end. A workload over
1 GB is refused.

Each run starts a fresh ``symbl-async emulator`` in its own process pinned to one core,
with ``--time-scale`` (the service's processing is scaled), ``--concurrency-limit`` and
``--upload-bandwidth`` (the request bodies of all uploads together are read at that many
bytes per real second: a client's uplink, not scaled). The system runs in this process,
pinned to the other core(s): the emulator, which measures everything, is apart either
way, and the run's start is this process's clock just before the system starts (no
interpreter start or imports in it, for every system but ``ours-workers``, whose worker
processes start then: their interpreter start, imports and the CLI's credential check are
in their run, as for anyone running the command). Every run is bounded by a time limit
(4 x the lower bound from the emulator's model, plus 2 minutes). Cells (limit x uplink)
run in turn; within a cell the systems' order rotates from cell to cell.

Systems:

- ``ours``: ``symbl_async.process_many`` in poll mode over the paths as they are (it reads
  each WAV's length from its header), its default ``uploads_at_once`` (two uploads on the
  wire at once, the longest recording first);
- ``ours-unbounded``: the same with ``uploads_at_once=None``: every free slot uploads at
  once (the behaviour before the uplink);
- ``script``: ``baseline_semaphore.run_batch`` (aiohttp + ``asyncio.Semaphore(limit)``):
  each file streamed as the body of ``POST /v1/process/audio`` while holding a permit, the
  job polled every 5 service seconds, its insights fetched;
- ``ours-postgres``: ``ours`` with its ledger a ``postgresql://`` URL (a shared batch's
  ledger) instead of the SQLite file in its output folder;
- ``ours-workers``: ``--workers`` (default 2) ``symbl-async process`` commands started
  together, each given the same paths, ``--ledger`` the same ``postgresql://`` URL,
  ``--max-concurrent-jobs`` the cell's limit, ``--wait poll``, ``--time-scale`` the cell's,
  its own ``--out`` and its default ``--uploads-at-once``: one account and one uplink
  shared by the workers, which run on the client core(s) like the other systems. Each
  worker's exit code is recorded, and the last lines of the log of one that failed.

The first three are the default (``--systems``). The two PostgreSQL systems need the
``postgres`` extra and the server binaries (``.ci/install-postgresql``): one server is
started for the whole benchmark by ``tests/_postgres.py`` (in a temporary folder, on the
client core(s), ``fsync=off``) only when one of them is chosen, and stopped at the end;
each of their runs gets a fresh database on it, dropped after the run.

Every figure comes from the emulator's records (``/_emulator/stats``, ``/_emulator/jobs``)
and this process's clock, never from what a system says of itself (the emulator's clock
is mapped onto ``time.monotonic()`` by :func:`_common.clock_origin`):

- **makespan**: the run's start to the last job's end;
- **LB**: ``max(total bytes / uplink + the shortest processing, sum of processing / limit,
  the longest (upload + its processing))``, a job's processing being its actual
  ``processingTime`` plus the queue delay (what it holds a slot for), in real seconds;
- **first job**: the run's start to the first job's creation, against the target
  ``2 x (its own bytes / uplink)``, and when the link started carrying bytes (estimated
  from the first sample with bytes read, as if the link had been full since);
- **uploads at once** (``uploads_max_at_once``), **bytes sent / file bytes**
  (``upload_bytes`` over the files' total: 1.000 means no byte went twice), **cut**
  (``uploads_cut``: bodies that ended before their Content-Length, e.g. an upload timeout),
  **429s** (``rejected_429``: a file submit is refused only after its body was read),
  **jobs created**, **paid twice** (``duplicate_names``), **fetched** (insight files
  written, in every worker's output folder), **exit codes** (the workers' processes);
- where the time went: **last upload** (the last job's creation, against ``total bytes /
  uplink``: the link was busy that share of the time until then), **tail** (the last job's
  creation to the makespan, against that job's own processing), **link idle** (sampled
  ``upload_bytes`` moving below a tenth of the uplink, before the last upload) and **slots
  full** (every slot held by a job at the emulator, before the last upload).

Targets (issue 19): makespan <= 1.03 x LB, 0 uploads cut, no byte uploaded twice, 0 429s,
the first job within its target. The table marks the ones a run misses.

Writes ``<name>.json`` and ``<name>.md`` to ``--out`` (default ``benchmarks/results``;
``uplink``, or ``uplink-quick`` with ``--quick``), and with matplotlib (the ``bench``
extra) ``<name>.png``: per run, the jobs holding a slot at the emulator and the uplink's
throughput (sampled every half second) over time.

Run from the repository root::

    .venv/bin/python benchmarks/bench_uplink.py --quick      # 40 files; 20x10, 50x2
    .venv/bin/python benchmarks/bench_uplink.py              # 120 files; 20,50 x 10,5,2 MB/s
    .venv/bin/python benchmarks/bench_uplink.py --cells 20x10,20x5,50x5,50x2
    .venv/bin/python benchmarks/bench_uplink.py --quick \
        --systems ours,ours-postgres,ours-workers --workers 2 --name uplink-quick-shared
    # where the slots bind (uploads ahead matter); the workers' logs at DEBUG kept:
    .venv/bin/python benchmarks/bench_uplink.py --cells 5x10,10x20 \
        --systems ours,ours-postgres,ours-workers --name uplink-slotbound-shared \
        --keep-logs /tmp/uplink-logs
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import shlex
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Coroutine, Iterator, Sequence
from pathlib import Path
from typing import Any

from _common import (
    EmulatorProcess,
    child_setup,
    clock_origin,
    emulator_command,
    exit_on_sigterm,
    media_lengths,
    model_slot_seconds,
    occupancy,
    split_cpus,
    stop_process,
)
from _systems import run_baseline, run_ours

from symbl_async.emulator import DEMO_APP_ID, DEMO_APP_SECRET, EmulatorConfig

RATE = 8000
"""Samples per second of the WAVs (8 kHz, 16-bit mono: 16,000 bytes per second)."""
SAMPLE_BYTES = 2
HEADER_BYTES = 44
MB = 1_000_000
MAX_WORKLOAD = 1_000_000_000
"""Bytes of files at most (1 GB): sparse, but the uplink must carry them all, per system."""
DEFAULT_SYSTEMS = ("ours", "ours-unbounded", "script")
SHARED = ("ours-postgres", "ours-workers")
"""The systems on a PostgreSQL ledger (a server is started when one of them runs)."""
SYSTEMS = (*DEFAULT_SYSTEMS, *SHARED)
LABELS = {
    "ours": "ours (2 uploads at once)",
    "ours-unbounded": "ours, uploads_at_once=None",
    "script": "aiohttp + Semaphore script",
    "ours-postgres": "ours, PostgreSQL ledger",
    "ours-workers": "symbl-async process workers, one PostgreSQL ledger",
}
WORKER_LOG_LINES = 25
"""Lines kept from the end of the log of a worker that failed."""
QUICK_CELLS = "20x10,50x2"
TARGET_RATIO = 1.03
SAMPLE_EVERY = 0.5
"""Seconds between two readings of the emulator's counters (for the plot and link idle)."""
RESULTS = Path(__file__).resolve().parent / "results"


def wav_size(seconds: float) -> int:
    """Bytes of a WAV of ``seconds`` (header included)."""
    return HEADER_BYTES + round(seconds * RATE) * SAMPLE_BYTES


def wav_header(data_bytes: int) -> bytes:
    """The canonical 44-byte header of a PCM WAV: mono, 8 kHz, 16-bit, ``data_bytes``."""
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + data_bytes, b"WAVE", b"fmt ", 16, 1, 1, RATE,
        RATE * SAMPLE_BYTES, SAMPLE_BYTES, 8 * SAMPLE_BYTES, b"data", data_bytes,
    )


def write_wavs(folder: Path, lengths: Sequence[float]) -> list[Path]:
    """One WAV per length in ``folder``: its header, its number in the first four samples,
    then silence (a sparse file).

    The number makes every file unique, as recordings are: two lengths drawn alike
    (120 draws to a tenth of a second hold two such pairs) would otherwise make identical
    files, one item to ``process_many`` (it processes identical files once) and two paid
    jobs to the script.
    """
    paths = []
    for i, seconds in enumerate(lengths):
        path = folder / f"rec-{i:03d}.wav"
        size = wav_size(seconds)
        with path.open("wb") as file:
            file.write(wav_header(size - HEADER_BYTES) + struct.pack("<Q", i + 1))
            file.truncate(size)  # zeros, without writing them
        paths.append(path)
    return paths


def parse_cells(text: str) -> list[tuple[int, float]]:
    """``"20x10,50x2"`` -> ``[(20, 10.0), (50, 2.0)]`` (limit x uplink in MB/s)."""
    cells = []
    for part in text.split(","):
        limit, _, mbps = part.strip().partition("x")
        cells.append((int(limit), float(mbps)))
    return cells


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--files", type=int, default=120, help="WAV files in the batch")
    parser.add_argument("--limits", default="20,50", help="concurrent-job limits")
    parser.add_argument("--bandwidths", default="10,5,2", help="uplinks, MB/s (10^6 bytes)")
    parser.add_argument("--cells", default=None,
                        help="LIMITxMBPS,... instead of --limits x --bandwidths")
    parser.add_argument("--quick", action="store_true",
                        help=f"40 files, cells {QUICK_CELLS} (a few minutes)")
    parser.add_argument("--time-scale", type=float, default=20.0)
    parser.add_argument("--median", type=float, default=300.0, help="median media seconds")
    parser.add_argument("--sigma", type=float, default=0.8)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--systems", default=",".join(DEFAULT_SYSTEMS),
                        help=f"comma-separated, from {','.join(SYSTEMS)}")
    parser.add_argument("--workers", type=int, default=2,
                        help="worker processes of ours-workers (default 2)")
    parser.add_argument("--worker-uploads", type=int, default=None, metavar="N",
                        help="--uploads-at-once of each ours-workers process (default: its "
                        "own default, 2)")
    parser.add_argument("--keep-logs", type=Path, default=None, metavar="DIR",
                        help="run the workers with -vv and keep their logs in DIR")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for JSON/MD/PNG")
    parser.add_argument("--name", default=None,
                        help="base name of the output files (uplink, or uplink-quick)")
    args = parser.parse_args(argv)
    if args.quick:
        args.files, args.cells = 40, args.cells or QUICK_CELLS
    try:
        args.cells = parse_cells(args.cells) if args.cells else [
            (int(limit), float(mbps))
            for limit in args.limits.split(",") for mbps in args.bandwidths.split(",")
        ]
    except ValueError as error:
        parser.error(f"--cells, --limits, --bandwidths: {error}")
    if any(limit < 1 or mbps <= 0 for limit, mbps in args.cells):
        parser.error("limits must be >= 1 and uplinks > 0 MB/s")
    systems = [s for s in args.systems.split(",") if s]
    unknown = set(systems) - set(SYSTEMS)
    if unknown or not systems:
        parser.error(f"--systems: unknown {sorted(unknown)}; choose from {', '.join(SYSTEMS)}")
    args.systems = systems
    if args.files < 1:
        parser.error("--files must be >= 1")
    if args.workers < 1:
        parser.error("--workers must be >= 1")
    args.name = args.name or ("uplink-quick" if args.quick else "uplink")
    return args


def lower_bound(sizes: Sequence[int], processing: Sequence[float], bandwidth: float,
                limit: int) -> tuple[float, str]:
    """The makespan's lower bound in real seconds, and which of its terms it is."""
    terms = {
        "link": sum(sizes) / bandwidth + min(processing),
        "slots": sum(processing) / limit,
        "longest": max(size / bandwidth + p for size, p in zip(sizes, processing, strict=True)),
    }
    term = max(terms, key=lambda name: terms[name])
    return terms[term], term


class StatsSampler:
    """Reads ``/_emulator/stats`` every :data:`SAMPLE_EVERY` s in a thread while a run goes:
    ``(monotonic, upload bytes, jobs holding a slot)``."""

    def __init__(self, emulator: EmulatorProcess) -> None:
        self.emulator = emulator
        self.samples: list[tuple[float, int, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> StatsSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY):
            try:
                stats = self.emulator.stats()
            except OSError:  # a slow answer or a closing emulator: skip this sample
                continue
            self.samples.append((time.monotonic(), stats["upload_bytes"], stats["active_jobs"]))


async def _bounded(work: Coroutine[Any, Any, tuple[dict[str, float], int]],
                   seconds: float) -> int:
    _, done = await asyncio.wait_for(work, seconds)
    return done


def run_system(system: str, spec: dict[str, Any], seconds: float,
               workers: int) -> tuple[int | None, str, dict[str, Any]]:
    """Run one system for at most ``seconds`` (in this process, or ``workers`` processes for
    ``ours-workers``): (items it completed, or None; why it did not end; what the workers
    said: their exit codes, summaries and failed logs)."""
    if system == "ours-workers":
        return run_workers(spec, workers, seconds)
    work = run_baseline(spec) if system == "script" else run_ours(spec, "poll")
    try:
        return asyncio.run(_bounded(work, seconds)), "", {}
    except TimeoutError:
        return None, f"timed out after {seconds:.0f} s", {}
    except Exception as error:  # reported in the table; the other runs go on
        return None, f"{type(error).__name__}: {error}", {}


def worker_command(spec: dict[str, Any], out: Path) -> list[str]:
    """One worker: ``symbl-async process`` over the spec's files, on its shared ledger."""
    return [
        *emulator_command(), "process", "--out", str(out), "--ledger", spec["ledger"],
        "--base-url", spec["url"], "--max-concurrent-jobs", str(spec["limit"]),
        "--wait", "poll", "--time-scale", f"{spec['time_scale']:g}",
        "--progress-interval", "5", *(["-vv"] if spec.get("keep_logs") else []),
        *([] if spec.get("worker_uploads") is None
          else ["--uploads-at-once", str(spec["worker_uploads"])]),
        *spec["files"],
    ]


def run_workers(spec: dict[str, Any], workers: int,
                seconds: float) -> tuple[int | None, str, dict[str, Any]]:
    """``workers`` ``symbl-async process`` commands started together on the same files and
    ledger, each with its own output folder (``<out_dir>/w<i>``) and log (beside
    ``out_dir``), for at most ``seconds`` (then stopped): (items they fetched, or None; why
    they did not end; their exit codes, summaries and the last log lines of those that
    failed)."""
    env = {**os.environ, "SYMBL_APP_ID": spec["app_id"], "SYMBL_APP_SECRET": spec["app_secret"]}
    root = Path(spec["out_dir"])
    logs = [root.parent / f"worker-{i}.log" for i in range(workers)]
    deadline = time.monotonic() + seconds
    processes: list[subprocess.Popen[bytes]] = []
    error = ""
    try:
        for i, log_path in enumerate(logs):
            with log_path.open("wb") as log:  # the child keeps its own copy of the handle
                processes.append(subprocess.Popen(
                    worker_command(spec, root / f"w{i}"), stdout=log,
                    stderr=subprocess.STDOUT, env=env,
                    # Pinned as this process is (the client core(s)); ended with it.
                    preexec_fn=child_setup(None),
                ))
        for process in processes:
            process.wait(max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        error = f"timed out after {seconds:.0f} s"
    finally:
        for process in processes:
            stop_process(process)
    codes = [process.returncode for process in processes]
    failed_logs = {}
    for i, code in enumerate(codes):
        if code != 0:  # what a worker that failed said last (its folder goes)
            lines = logs[i].read_text(errors="replace").splitlines()
            failed_logs[f"w{i}"] = lines[-WORKER_LOG_LINES:]
            print(f"worker {i} exited {code}:", *lines[-WORKER_LOG_LINES:], sep="\n  ")
    if spec.get("keep_logs"):
        kept = Path(spec["keep_logs"])
        kept.mkdir(parents=True, exist_ok=True)
        for i, log_path in enumerate(logs):
            shutil.copyfile(log_path, kept / f"{spec['cell']}-worker-{i}.log")
    summaries = []
    for i in range(workers):
        path = root / f"w{i}" / "summary.json"
        summary = json.loads(path.read_text()) if path.is_file() else {}
        summaries.append({key: summary.get(key) for key in (
            "fetched", "fetched_here", "failed", "jobs_created", "submits", "rejected_429",
            "claims")})
    if not error and any(codes):
        error = f"worker exit codes {codes}"
    completed = (None if error else
                 sum(summary["fetched_here"] or 0 for summary in summaries))
    return completed, error, {"workers": workers, "exit_codes": codes,
                              "failed_logs": failed_logs, "worker_summaries": summaries}


def _seconds_where(steps: Sequence[tuple[float, float]], until: float,
                   test: Any) -> float:
    """Seconds in ``[first step, until]`` during which ``test(value)`` holds, for a step
    function given as ``(time, value from then on)``."""
    total = 0.0
    for (at, value), (nxt, _) in zip(steps, [*steps[1:], (until, 0)], strict=True):
        end = min(nxt, until)
        if end > at and test(value):
            total += end - at
    return total


def figures(
    jobs: list[dict[str, Any]], stats: dict[str, Any], samples: list[tuple[float, int, int]],
    *, sizes: Sequence[int], lengths: Sequence[float], bandwidth: float, limit: int,
    scale: float, origin: float, started: float,
) -> dict[str, Any]:
    """A run's figures from the emulator's records, in real seconds since its start."""
    queue_delay = EmulatorConfig().queue_delay

    def real(service_time: float) -> float:
        return origin + service_time / scale - started

    def held(job: dict[str, Any]) -> float:
        return float(job["processingTime"] + queue_delay) / scale

    # Each file's processing: its first job's (the emulator reads the length from the
    # header), else the model's (a run cut short).
    by_length: dict[float, float] = {}
    for job in sorted(jobs, key=lambda j: j["submittedAt"]):
        if job["processingTime"] is not None:
            by_length.setdefault(round(job["mediaDuration"], 1), held(job))
    model = [s / scale for s in model_slot_seconds(lengths)]
    processing = [by_length.get(round(d, 1), m) for d, m in zip(lengths, model, strict=True)]
    bound, term = lower_bound(sizes, processing, bandwidth, limit)
    total = sum(sizes)
    out: dict[str, Any] = {
        "lower_bound_s": bound, "lower_bound_term": term, "link_s": total / bandwidth,
        "total_bytes": total, "upload_bytes": stats["upload_bytes"],
        "bytes_ratio": stats["upload_bytes"] / total,
        "uploads_max_at_once": stats["uploads_max_at_once"],
        "uploads_whole": stats["uploads_whole"], "uploads_cut": stats["uploads_cut"],
        "rejected_429": stats["rejected_429"], "jobs_created": stats["jobs_created"],
        "duplicate_names": len(stats["duplicate_names"]),
        "duplicate_contents": len(stats["duplicate_contents"]),
        "max_concurrent_jobs": stats["max_concurrent_jobs"],
        "makespan_s": None, "makespan_over_lb": None, "first_job_s": None,
        "first_job_target_s": None, "last_upload_s": None, "tail_s": None,
        "last_job_processing_s": None, "link_idle_s": None, "slots_full_s": None,
        "link_start_s": None,
    }
    if not jobs:
        return out
    first = min(jobs, key=lambda j: j["submittedAt"])
    last = max(jobs, key=lambda j: j["submittedAt"])
    last_upload = real(last["submittedAt"])
    out.update({
        "first_job_s": real(first["submittedAt"]),
        "first_job_target_s": 2 * wav_size(first["mediaDuration"]) / bandwidth,
        "last_upload_s": last_upload,
        "last_job_processing_s": held(last) if last["processingTime"] is not None else None,
    })
    steps = [(real(at), count) for at, count in occupancy(jobs)]
    out["slots_full_s"] = _seconds_where([(0.0, 0), *steps], last_upload,
                                         lambda count: count >= limit)
    moving = [(at, sent) for at, sent, _ in samples if sent > 0]
    if moving:  # as if the link had been full since its first byte (a floor of 0)
        out["link_start_s"] = max(moving[0][0] - started - moving[0][1] / bandwidth, 0.0)
    read = [(started, 0, 0), *samples]  # a fresh emulator: nothing read at the start
    rates = [(a - started, (b2 - b1) / (a2 - a)) for (a, b1, _), (a2, b2, _)
             in itertools.pairwise(read) if a2 > a]
    out["link_idle_s"] = _seconds_where(rates, last_upload,
                                        lambda rate: rate < bandwidth / 10)
    if all(j["finishedAt"] is not None for j in jobs):
        makespan = max(real(j["finishedAt"]) for j in jobs)
        out.update({"makespan_s": makespan, "makespan_over_lb": makespan / bound,
                    "tail_s": makespan - last_upload})
    out["occupancy"] = [[round(at, 2), count] for at, count in steps]
    out["samples"] = [[round(at - started, 2), sent, active] for at, sent, active in samples]
    return out


def misses(run: dict[str, Any], files: int) -> list[str]:
    """The targets a run missed, each with by how much."""
    found = []
    ratio = run["makespan_over_lb"]
    if ratio is None:
        found.append("no makespan")
    elif ratio > TARGET_RATIO:
        found.append(f"makespan {ratio:.3f} x LB (+{(ratio - TARGET_RATIO) * 100:.1f} pts)")
    first, target = run["first_job_s"], run["first_job_target_s"]
    if first is None or first > target:
        found.append("no first job" if first is None
                     else f"first job {first:.1f} s > {target:.1f} s")
    if run["uploads_cut"]:
        found.append(f"{run['uploads_cut']} cut")
    if run["upload_bytes"] != run["total_bytes"]:
        found.append(f"bytes x {run['bytes_ratio']:.3f}")
    if run["rejected_429"]:
        found.append(f"{run['rejected_429']} 429s")
    if run["duplicate_names"]:
        found.append(f"{run['duplicate_names']} paid twice")
    if run["fetched"] != files:
        found.append(f"fetched {run['fetched']}/{files}")
    if run["error"]:
        found.append(run["error"])
    return found


def measure(
    system: str, cell: tuple[int, float], args: argparse.Namespace, files: list[Path],
    sizes: list[int], lengths: list[float], workdir: Path, emulator_cpu: int | None,
    postgres: Any = None,
) -> dict[str, Any]:
    """One run of one system in one cell, against a fresh emulator (and, for the systems on
    a PostgreSQL ledger, a fresh database on ``postgres``, a ``PostgresServer``)."""
    limit, mbps = cell
    bandwidth = mbps * MB
    scale: float = args.time_scale
    nominal, _ = lower_bound(sizes, [s / scale for s in model_slot_seconds(lengths)],
                             bandwidth, limit)
    time_limit = 4 * nominal + 120
    flags = ["--time-scale", f"{scale:g}", "--concurrency-limit", str(limit),
             "--upload-bandwidth", f"{bandwidth:g}"]
    uptime_before = machine_load()
    print(f"before {system} at {limit}x{mbps:g}: {uptime_before}", flush=True)
    load_before = os.getloadavg()[0]
    ledger = asyncio.run(postgres.create_database()) if system in SHARED else None
    with EmulatorProcess(flags, cpu=emulator_cpu) as emu, \
            tempfile.TemporaryDirectory(dir=workdir) as tmp:
        spec: dict[str, Any] = {
            "url": emu.url, "time_scale": scale, "app_id": DEMO_APP_ID,
            "app_secret": DEMO_APP_SECRET, "limit": limit, "files": [str(f) for f in files],
            "out_dir": str(Path(tmp) / "out"),
        }
        if system == "ours-unbounded":
            spec["uploads_at_once"] = None
        if ledger is not None:
            spec["ledger"] = ledger
        if system == "ours-workers":
            spec["worker_uploads"] = args.worker_uploads
        if args.keep_logs is not None:
            spec["keep_logs"], spec["cell"] = str(args.keep_logs), f"{limit}x{mbps:g}"
        Path(spec["out_dir"]).mkdir()
        origin = clock_origin(emu.url, scale)
        with StatsSampler(emu) as sampler:
            started = time.monotonic()
            completed, error, said = run_system(system, spec, time_limit, args.workers)
            wall = time.monotonic() - started
        stats, jobs = emu.stats(), emu.jobs()
        # Insight files only: process_many also writes summary.json there (the workers in
        # their own subfolders).
        found = Path(spec["out_dir"]).glob("**/*.json" if system == "ours-workers" else "*.json")
        fetched = sum(1 for f in found if f.name != "summary.json")
    if ledger is not None:
        asyncio.run(postgres.drop_database(ledger))
    run = figures(jobs, stats, sampler.samples, sizes=sizes, lengths=lengths,
                  bandwidth=bandwidth, limit=limit, scale=scale, origin=origin, started=started)
    run.update({"system": system, "limit": limit, "mbps": mbps, "wall_s": wall,
                "completed": completed, "fetched": fetched, "error": error,
                "time_limit_s": time_limit, "load_before": load_before,
                "load_after": os.getloadavg()[0], "uptime_before": uptime_before,
                "workers": None, "exit_codes": None, "failed_logs": {}, **said})
    run["missed"] = misses(run, len(files))
    return run


def _num(value: float | None, form: str) -> str:
    return "n/a" if value is None else format(value, form)


def table(args: argparse.Namespace, runs: list[dict[str, Any]], workload: str,
          machine: list[str], labels: dict[str, str]) -> str:
    lines = [
        f"# Uploads over a limited uplink ({workload})",
        "",
        f"Command: `benchmarks/bench_uplink.py {' '.join(map(shlex.quote, args.argv))}`".rstrip()
        + f"; time scale {args.time_scale:g}; MB = 10^6 bytes. Machine: "
        + "; ".join(machine),
        "",
        "| limit | uplink | system | makespan / LB | makespan (LB, term) | first job (target) "
        "| uploads at once | bytes sent / file bytes | cut | 429s | jobs | paid twice "
        "| fetched | exit codes | last upload (bytes / uplink) | tail (last job's processing) "
        "| link idle | slots full | load 1 min | targets missed |",
        "| --- " * 20 + "|",
    ]
    for run in runs:
        lines.append(
            f"| {run['limit']} | {run['mbps']:g} MB/s | {labels[run['system']]} "
            f"| {_num(run['makespan_over_lb'], '.3f')} "
            f"| {_num(run['makespan_s'], '.1f')} s ({run['lower_bound_s']:.1f} s, "
            f"{run['lower_bound_term']}) "
            f"| {_num(run['first_job_s'], '.1f')} s ({_num(run['first_job_target_s'], '.1f')} s;"
            f" link from {_num(run['link_start_s'], '.1f')} s) "
            f"| {run['uploads_max_at_once']} | {run['bytes_ratio']:.3f} | {run['uploads_cut']} "
            f"| {run['rejected_429']} | {run['jobs_created']} | {run['duplicate_names']} "
            f"| {run['fetched']} "
            f"| {'-' if run['exit_codes'] is None else ', '.join(map(str, run['exit_codes']))} "
            f"| {_num(run['last_upload_s'], '.1f')} s ({run['link_s']:.1f} s) "
            f"| {_num(run['tail_s'], '.1f')} s ({_num(run['last_job_processing_s'], '.1f')} s) "
            f"| {_num(run['link_idle_s'], '.1f')} s | {_num(run['slots_full_s'], '.1f')} s "
            f"| {run['load_before']:.1f} -> {run['load_after']:.1f} "
            f"| {'; '.join(run['missed']) or 'none'} |"
        )
    lines += [
        "",
        "All times in real seconds from the run's start, from the emulator's records. LB = "
        "max(total bytes / uplink + the shortest processing (term `link`), sum of processing / "
        "limit (`slots`), the longest upload + its processing (`longest`)); processing = the "
        "jobs' actual processingTime + queue delay. First job: its creation; target 2 x (its "
        "own bytes / uplink); link from: when the first byte crossed the uplink, estimated from"
        " the first sample with bytes read as if the link had been full since (the client's "
        "start-up: token, reading the files, the ledger). Last upload: the last job's creation,"
        " next to the time the uplink needs for every byte. Tail: from then to the makespan, "
        "next to that last job's own processing. Link idle: before the last upload, time with "
        "the uplink carrying under a tenth of its rate (sampled every 0.5 s). Slots full: "
        "before the last upload, time with every slot held by a job at the emulator. Load: the "
        "machine's 1-minute load average before -> after the run (2 cores, shared). Exit "
        "codes: the worker processes' (`-`: the system ran in the benchmark's process).",
    ]
    for run in runs:
        for worker, tail in run["failed_logs"].items():
            lines += ["", f"Worker {worker} of {labels[run['system']]} at {run['limit']} x "
                      f"{run['mbps']:g} MB/s, the last lines of its log:", "", "```", *tail,
                      "```"]
    return "\n".join(lines) + "\n"


def machine_load() -> str:
    """``uptime``'s line (the load of the shared machine), or the load averages."""
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True,
                              timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "load average: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


@contextlib.contextmanager
def postgres_server() -> Iterator[Any]:
    """A PostgreSQL server (``tests/_postgres.py``'s ``PostgresServer``) in a temporary
    folder, started now, stopped and deleted on exit. Imported here: the other systems need
    neither it nor asyncpg."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from _postgres import PostgresServer

    server = PostgresServer()
    try:
        server.start_on_a_free_port()
        print(f"PostgreSQL on 127.0.0.1:{server.port} ({server.bindir})", flush=True)
        yield server
    finally:
        server.close()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else argv
    exit_on_sigterm()
    lengths = media_lengths(args.files, args.median, args.sigma, args.seed)
    sizes = [wav_size(d) for d in lengths]
    if sum(sizes) > MAX_WORKLOAD:
        raise SystemExit(f"the workload is {sum(sizes) / MB:.0f} MB, over the 1 GB this "
                         "benchmark allows: fewer --files, a lower --median or --sigma")
    workload = (f"{args.files} WAVs, 8 kHz 16-bit mono, log-normal lengths median "
                f"{args.median:g} s, sigma {args.sigma:g}, seed {args.seed}: "
                f"{sum(sizes) / MB:.1f} MB, {min(lengths):g} to {max(lengths):g} s")
    print(workload, flush=True)
    emulator_cpu, client_cpus = split_cpus()
    if client_cpus is None:
        print("warning: one CPU only; emulator and client are NOT on separate cores")
    else:
        os.sched_setaffinity(0, client_cpus)
    labels = {**LABELS, "ours-workers": f"{args.workers} x {LABELS['ours-workers']}"}
    machine = [f"at the start: {machine_load()}"]
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-uplink-") as workdir, \
            contextlib.ExitStack() as stack:
        files = write_wavs(Path(workdir), lengths)
        # Started after this process's pinning: the server runs on the client core(s).
        postgres = (stack.enter_context(postgres_server())
                    if set(args.systems) & set(SHARED) else None)
        for index, cell in enumerate(args.cells):
            # Rotated from cell to cell, so that no system always runs first or last.
            shift = index % len(args.systems)
            for system in args.systems[shift:] + args.systems[:shift]:
                run = measure(system, cell, args, files, sizes, lengths, Path(workdir),
                              emulator_cpu, postgres)
                runs.append(run)
                print(f"limit {cell[0]:>3} {cell[1]:>4g} MB/s {system:<15} "
                      f"makespan/LB {_num(run['makespan_over_lb'], '.3f')}  "
                      f"first job {_num(run['first_job_s'], '.1f')} s "
                      f"(target {_num(run['first_job_target_s'], '.1f')})  "
                      f"bytes x {run['bytes_ratio']:.3f}  cut {run['uploads_cut']}  "
                      f"429s {run['rejected_429']}  "
                      + ("" if run["exit_codes"] is None else f"exit codes {run['exit_codes']}  ")
                      + f"({run['wall_s']:.0f} s; "
                      f"missed: {'; '.join(run['missed']) or 'none'})", flush=True)
    machine.append(f"at the end: {machine_load()}")
    text = table(args, runs, workload, machine, labels)
    print()
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    report = {"config": config, "workload": workload, "machine": machine, "runs": runs}
    (args.out / f"{args.name}.json").write_text(json.dumps(report, separators=(",", ":")))
    (args.out / f"{args.name}.md").write_text(text)
    print(f"wrote {args.out / args.name}.json and .md")
    try:
        from _plots import plot_uplink
    except ImportError as error:
        print(f"no plot: {error} (pip install -e '.[bench]')")
        return
    print(f"wrote {plot_uplink(runs, args.cells, args.systems, labels, args.out / args.name)}")


if __name__ == "__main__":
    main()
