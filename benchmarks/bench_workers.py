"""Workers sharing one account through a PostgreSQL ledger, next to one process (issue 9).

One batch (``--jobs`` URL jobs, seeded log-normal lengths, median ``--median`` s, sigma
``--sigma``), run three ways, each against a fresh emulator in its own process
(``--concurrency-limit`` = ``--limit``, ``--time-scale``):

- **1 process, SQLite**: ``symbl-async process`` with its default ledger;
- **1 process, PostgreSQL**: the same, ``--ledger postgresql://...``;
- **N workers, PostgreSQL**: ``--workers`` processes of that command on the same input and
  ledger, started together.

Every figure comes from the emulator's own records: makespan (first submit to last end)
over the lower bound ``max(sum of job times / limit, longest job)`` (a job's time being its
processing time plus the queue delay, what it holds a slot for), the highest number of jobs
at once (its sweep over job start and end times) against the limit, jobs per recording
(paid twice), 429s. A makespan below the lower bound would mean more jobs at once than the
limit allows: the run is then flagged ``OVER-ADMITTED``.

The PostgreSQL server is started in a temporary folder by ``tests/_postgres.py`` (the one
the tests use; run ``.ci/install-postgresql`` first on a machine without PostgreSQL).

Run from the repository root::

    .venv/bin/python benchmarks/bench_workers.py --quick        # N=300
    .venv/bin/python benchmarks/bench_workers.py                # N=2000, 4 workers, limit 50

Writes ``workers.json`` and ``workers.md`` to ``--out`` (default ``benchmarks/results``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import EmulatorProcess, emulator_command, media_lengths, percentile

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from _postgres import PostgresServer

from symbl_async.emulator import DEMO_APP_ID, DEMO_APP_SECRET, EmulatorConfig

RESULTS = Path(__file__).resolve().parent / "results"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--time-scale", type=float, default=100.0)
    parser.add_argument("--median", type=float, default=600.0)
    parser.add_argument("--sigma", type=float, default=0.6)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--quick", action="store_true", help="N=300")
    parser.add_argument("--systems", default="sqlite,postgres,workers",
                        help="which of sqlite, postgres, workers to run (comma-separated)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.quick:
        args.jobs = 300
    return args


def write_manifest(path: Path, lengths: list[float]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for i, seconds in enumerate(lengths):
            url = f"https://media.test/w{i}.mp3?emulator_duration={seconds:.1f}"
            f.write(json.dumps({"source": url, "duration": round(seconds, 1)}) + "\n")


def worker_command(args: argparse.Namespace, emu: EmulatorProcess, manifest: Path, out: Path,
                   ledger: str | None) -> list[str]:
    command = [
        *emulator_command(), "process", "--manifest", str(manifest), "--out", str(out),
        "--base-url", emu.url, "--max-concurrent-jobs", str(args.limit),
        "--time-scale", f"{args.time_scale:g}", "--progress-interval", "5",
    ]
    return command + (["--ledger", ledger] if ledger is not None else [])


def measure(args: argparse.Namespace, label: str, workers: int, ledger: str | None,
            manifest: Path, lengths: list[float], workdir: Path) -> dict[str, Any]:
    queue_delay = EmulatorConfig().queue_delay
    flags = ["--time-scale", f"{args.time_scale:g}", "--concurrency-limit", str(args.limit),
             "--app-id", DEMO_APP_ID, "--app-secret", DEMO_APP_SECRET]
    env = {"SYMBL_APP_ID": DEMO_APP_ID, "SYMBL_APP_SECRET": DEMO_APP_SECRET}
    nominal = max(sum(0.25 * d + 30 + queue_delay for d in lengths) / args.limit,
                  max(lengths))
    timeout = 4 * nominal / args.time_scale + 180
    load_before = os.getloadavg()
    with EmulatorProcess(flags, cpu=None) as emu:
        started = time.monotonic()
        procs = []
        for i in range(workers):
            out = workdir / f"{label}-out{i}"
            log = (workdir / f"{label}-w{i}.log").open("wb")
            procs.append((subprocess.Popen(
                worker_command(args, emu, manifest, out, ledger), stdout=log,
                stderr=subprocess.STDOUT, env={**os.environ, **env}), log))
        codes, failed_logs = [], {}
        for i, (proc, log) in enumerate(procs):
            codes.append(proc.wait(timeout=max(1.0, timeout - (time.monotonic() - started))))
            log.close()
            if codes[-1] != 0:  # what a worker that failed said last (its folder goes)
                lines = (workdir / f"{label}-w{i}.log").read_text(errors="replace").splitlines()
                failed_logs[f"w{i}"] = lines[-25:]
                print(f"worker {i} of {label!r} exited {codes[-1]}:", *lines[-25:], sep="\n  ")
        wall = time.monotonic() - started
        stats, jobs = emu.stats(), emu.jobs()
    claims = []  # each worker's claims from its ledger (summary.json), if it finished
    for i in range(workers):
        summary = workdir / f"{label}-out{i}" / "summary.json"
        if summary.is_file():
            claims.append(json.loads(summary.read_text()).get("claims") or {})
    slot_times = [j["processingTime"] + queue_delay for j in jobs]
    bound = max(sum(slot_times) / args.limit, max(slot_times))
    makespan = max(j["finishedAt"] for j in jobs) - min(j["submittedAt"] for j in jobs)
    # A slot's refill: the k-th job to end frees the slot the (limit + k)-th submit takes
    # (the account is full until then), so that submit's lateness after that end is the
    # time the slot stood idle: detecting the end, recording it, claiming, submitting.
    ends = sorted(j["finishedAt"] for j in jobs)
    starts = sorted(j["submittedAt"] for j in jobs)
    gaps = [max(0.0, starts[args.limit + k] - end)
            for k, end in enumerate(ends[: len(starts) - args.limit])]
    # The gap's two parts: the poll that sees the end (the emulator's first status GET
    # that answered it), then the worker's chain (record the end, claim, submit): the
    # (limit + k)-th submit after the k-th end seen.
    detections = [j["seenAt"] - j["finishedAt"] for j in jobs
                  if j.get("seenAt") is not None and j["finishedAt"] is not None]
    seen = sorted(j["seenAt"] for j in jobs if j.get("seenAt") is not None)
    chains = [max(0.0, starts[args.limit + k] - at)
              for k, at in enumerate(seen[: len(starts) - args.limit])]
    # Where the idle slot time went (limit x makespan - the jobs' slot time), as shares of
    # the lower bound: the ramp (slots not yet filled after the first submit), the refills
    # (the gaps above) and the tail (slots emptied before the last job ended). While the
    # account is full they add up to makespan / LB - 1.
    scale = args.limit * bound
    first, last = starts[0], ends[-1]
    ramp = sum(s - first for s in starts[: args.limit]) / scale
    tail = sum(last - e for e in ends[-args.limit:]) / scale
    per_name: dict[str, int] = {}
    for job in jobs:
        base = str(job["name"]).rsplit("-", 1)[0]
        per_name[base] = per_name.get(base, 0) + 1
    return {
        "system": label,
        "workers": workers,
        "exit_codes": codes,
        "failed_logs": failed_logs,
        "jobs": len(lengths),
        "jobs_created": len(jobs),
        "paid_twice": sum(n - 1 for n in per_name.values()),
        "max_concurrent_jobs": stats["max_concurrent_jobs"],
        "limit": args.limit,
        "rejected_429": stats["rejected_429"],
        "lower_bound_s": bound,
        "makespan_s": makespan,
        "makespan_over_lb": makespan / bound,
        "over_admitted": makespan < bound * 0.999 or stats["max_concurrent_jobs"] > args.limit,
        "status_gets_per_job": stats["job_status_requests"] / len(lengths),
        "wall_s": wall,
        "claims": claims,
        "items_per_claim": (sum(c.get("items", 0) for c in claims)
                            / max(1, sum(c.get("transactions", 0) for c in claims))),
        "claim_p50_ms": max((c["p50_seconds"] * 1000 for c in claims
                             if c.get("p50_seconds") is not None), default=None),
        "claim_p99_ms": max((c["p99_seconds"] * 1000 for c in claims
                             if c.get("p99_seconds") is not None), default=None),
        "load_before": load_before,
        "refill_gap_p50_s": percentile(gaps, 0.5) if gaps else None,
        "refill_gap_p99_s": percentile(gaps, 0.99) if gaps else None,
        "refill_gap_mean_s": sum(gaps) / len(gaps) if gaps else None,
        "detection_p50_s": percentile(sorted(detections), 0.5) if detections else None,
        "detection_mean_s": sum(detections) / len(detections) if detections else None,
        "chain_p50_s": percentile(sorted(chains), 0.5) if chains else None,
        "chain_mean_s": sum(chains) / len(chains) if chains else None,
        "idle_ramp": ramp,
        "idle_refills": sum(gaps) / scale,
        "idle_tail": tail,
    }


def table(args: argparse.Namespace, rows: list[dict[str, Any]]) -> str:
    lines = [
        f"N={args.jobs}, limit {args.limit}, time scale {args.time_scale:g}, log-normal "
        f"lengths (median {args.median:g} s, sigma {args.sigma:g}), seed {args.seed}",
        "",
        "| system | workers | makespan / LB | max concurrent / limit | paid twice | 429s "
        "| status GETs per job | items per claim | claim p50 / p99 ms "
        "| refill gap p50 / p99 / mean (service s) | of it: detection p50 / mean "
        "| then the chain p50 / mean | idle: ramp / refills / tail "
        "| all exited 0 | load before |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- "
        "| --- | --- |",
    ]

    def ms(value: float | None) -> str:
        return "?" if value is None else f"{value:.1f}"

    for r in rows:
        flag = " OVER-ADMITTED" if r["over_admitted"] else ""
        lines.append(
            f"| {r['system']}{flag} | {r['workers']} | {r['makespan_over_lb']:.3f} "
            f"| {r['max_concurrent_jobs']} / {r['limit']} | {r['paid_twice']} "
            f"| {r['rejected_429']} | {r['status_gets_per_job']:.2f} "
            f"| {r['items_per_claim']:.2f} | {ms(r['claim_p50_ms'])} / {ms(r['claim_p99_ms'])} "
            f"| {ms(r['refill_gap_p50_s'])} / {ms(r['refill_gap_p99_s'])} "
            f"/ {ms(r['refill_gap_mean_s'])} "
            f"| {ms(r.get('detection_p50_s'))} / {ms(r.get('detection_mean_s'))} "
            f"| {ms(r.get('chain_p50_s'))} / {ms(r.get('chain_mean_s'))} "
            f"| {r['idle_ramp']:.3f} / {r['idle_refills']:.3f} / {r['idle_tail']:.3f} "
            f"| {all(c == 0 for c in r['exit_codes'])} "
            f"| {' / '.join(f'{x:.1f}' for x in r['load_before'])} |"
        )
    lines += ["", "Claims: each worker's claims of items from its ledger (`summary.json`); the "
              "p50 and p99 columns show the worst worker's. Refill gap: how late the (limit +"
              " k)-th submit came after the k-th job's end, from the emulator's records (the "
              "slot's idle time); of it, detection: the first status GET that answered a "
              "job's end after that end (`seenAt`), and the chain: the (limit + k)-th submit "
              "after the k-th end seen. Idle: the slot time left unused, as a share of the "
              "lower bound, split into the ramp (slots not yet filled after the first "
              "submit), the refills and the tail (slots emptied before the last end); while "
              "the account is full they add up to makespan / LB - 1. Load: the 1/5/15-minute "
              "load average before the run (2 cores)."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    lengths = media_lengths(args.jobs, args.median, args.sigma, args.seed)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-workers-") as tmp:
        workdir = Path(tmp)
        manifest = workdir / "batch.jsonl"
        write_manifest(manifest, lengths)
        systems = set(args.systems.split(","))
        if "sqlite" in systems:
            rows.append(measure(args, "1 process, SQLite", 1, None, manifest, lengths, workdir))
        shared = [(label, n) for key, label, n in (
            ("postgres", "1 process, PostgreSQL", 1),
            ("workers", f"{args.workers} workers, PostgreSQL", args.workers)) if key in systems]
        server = PostgresServer()
        try:
            if shared:
                server.start()
            for label, workers in shared:
                url = asyncio.run(server.create_database())
                rows.append(measure(args, label, workers, url, manifest, lengths, workdir))
        finally:
            server.close()
    text = table(args, rows)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "workers.md").write_text(text)
    (args.out / "workers.json").write_text(json.dumps(
        {"args": {k: str(v) for k, v in vars(args).items()}, "runs": rows}, indent=1))
    if any(r["over_admitted"] or r["paid_twice"] for r in rows):
        sys.exit("a run over-admitted or paid twice")


if __name__ == "__main__":
    main()
