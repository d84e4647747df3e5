"""Compare whole systems on one batch: ours (poll, webhook, hybrid), a baseline, the official SDK.

Each run starts a fresh ``symbl-async emulator`` in its own process pinned to one core
(``--time-scale``, ``--concurrency-limit``, optionally ``--processing-factor``) and runs
one system alone in a child process pinned to the other core(s), over the same batch of
``--jobs`` URL jobs (``?emulator_duration=SECONDS``; seeded log-normal media lengths,
median ``--median`` s, sigma ``--sigma``, capped at 4 h). Systems are interleaved over
``--rounds`` rounds (the order rotates each round) and the table shows medians.

Every figure comes from the emulator's own records (``/_emulator/stats``,
``/_emulator/jobs``) or from the client's child process itself:

- **makespan / LB**: first submit to last end (the emulator's job times) over the lower
  bound ``max(sum of job times / limit, longest job)``, a job's time being its actual
  ``processingTime`` plus the queue delay (what it must hold a slot for);
- **status GETs per job**: ``job_status_requests`` / N; **429s**: ``rejected_429``;
- **client CPU ms per job**: user + system CPU of the child / N (interpreter start and
  imports included); **peak RSS**: the child's ``ru_maxrss``;
- **detection delay**: when the client learned that a job had ended minus the job's end
  (``finishedAt``), in real milliseconds and in service seconds (x time scale): what it
  would be against the real service;
- **slot use**: sum of the jobs' slot time / (limit x makespan).

Writes ``systems.json`` and ``systems.md`` to ``--out`` (default
``benchmarks/results``), and with matplotlib (the ``bench`` extra) two PNGs: slot
occupancy over time per system, and the distribution of detection delays.

Symbl's official SDK is not in the ``bench`` extra (it requires ``pyaudio``, which needs
system headers); its row runs when it is installed as REFERENCE.md says::

    .venv/bin/pip install --no-deps symbl symbl-rest
    .venv/bin/pip install urllib3 six certifi python-dateutil websocket-client

and is skipped, with the reason printed, otherwise.

Run from the repository root::

    .venv/bin/python benchmarks/bench_systems.py --quick          # N=300, 1 round
    .venv/bin/python benchmarks/bench_systems.py --jobs 2000 --rounds 3
    .venv/bin/python benchmarks/bench_systems.py --quick --processing-factor 0.0833
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import (
    EmulatorProcess,
    child_setup,
    exit_on_sigterm,
    media_lengths,
    model_slot_seconds,
    occupancy,
    percentile,
    split_cpus,
)
from _systems import SYSTEMS, child_main, sdk_missing

from symbl_async.emulator import DEMO_APP_ID, DEMO_APP_SECRET, EmulatorConfig

LABELS = {
    "poll": "ours, poll (the default)",
    "webhook": "ours, webhook",
    "hybrid": "ours, hybrid",
    "baseline": "aiohttp + Semaphore script, polls every 5 s",
    "sdk": "Symbl's official SDK",
}
RESULTS = Path(__file__).resolve().parent / "results"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2000, help="N, jobs in the batch")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (medians)")
    parser.add_argument("--quick", action="store_true", help="N=300, 1 round")
    parser.add_argument("--limit", type=int, default=50, help="concurrent-job limit")
    parser.add_argument("--time-scale", type=float, default=100.0)
    parser.add_argument("--processing-factor", type=float, default=None,
                        help="the emulator's processing_factor (default: its own, 0.25)")
    parser.add_argument("--webhook-drop-rate", type=float, default=None,
                        help="the emulator drops this share of webhooks (hybrid's safety "
                             "polls find those ends)")
    parser.add_argument("--median", type=float, default=600.0, help="median media seconds")
    parser.add_argument("--sigma", type=float, default=0.6)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--systems", default=",".join(SYSTEMS),
                        help=f"comma-separated, from {','.join(SYSTEMS)}")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for JSON/MD/PNG")
    parser.add_argument("--name", default="systems", help="base name of the output files")
    parser.add_argument("--child", metavar="SPEC", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.jobs, args.rounds = 300, 1
    systems = [s for s in args.systems.split(",") if s]
    unknown = set(systems) - set(SYSTEMS)
    if unknown or not systems:
        parser.error(f"--systems: unknown {sorted(unknown)}; choose from {', '.join(SYSTEMS)}")
    if args.jobs < 1 or args.rounds < 1 or args.limit < 1:
        parser.error("--jobs, --rounds and --limit must be >= 1")
    args.systems = systems
    return args


def emulator_flags(args: argparse.Namespace) -> list[str]:
    flags = ["--time-scale", f"{args.time_scale:g}", "--concurrency-limit", str(args.limit)]
    if args.processing_factor is not None:
        flags += ["--processing-factor", repr(args.processing_factor)]
    if args.webhook_drop_rate is not None:
        flags += ["--webhook-drop-rate", repr(args.webhook_drop_rate)]
    return flags


def nominal_bound(args: argparse.Namespace, lengths: list[float]) -> float:
    """The lower bound from the emulator's model, before any run (for time limits)."""
    times = model_slot_seconds(lengths, args.processing_factor)
    limit: int = args.limit
    return max(sum(times) / limit, max(times))


def measure(
    system: str, args: argparse.Namespace, urls: list[str], lengths: list[float], workdir: Path,
    client_cpus: set[int] | None, emulator_cpu: int | None,
) -> dict[str, Any]:
    """One run of one system against a fresh emulator; its metrics and raw series."""
    queue_delay = EmulatorConfig().queue_delay
    limit_s = 4 * nominal_bound(args, lengths) / args.time_scale + 120
    with EmulatorProcess(emulator_flags(args), cpu=emulator_cpu) as emu, \
            tempfile.TemporaryDirectory(dir=workdir) as tmp:
        spec = {
            "system": system, "url": emu.url, "time_scale": args.time_scale,
            "app_id": DEMO_APP_ID, "app_secret": DEMO_APP_SECRET, "limit": args.limit, "urls": urls,
            "durations": lengths, "out_dir": str(Path(tmp) / "out"),
            "result_path": str(Path(tmp) / "result.json"),
        }
        Path(spec["out_dir"]).mkdir()
        spec_path = Path(tmp) / "spec.json"
        spec_path.write_text(json.dumps(spec))
        # subprocess.run kills the child on any exception (Ctrl-C, the time limit).
        subprocess.run(
            [sys.executable, __file__, "--child", str(spec_path)], check=True, timeout=limit_s,
            preexec_fn=child_setup(client_cpus),
        )
        child = json.loads(Path(spec["result_path"]).read_text())
        # Insight files only: process_many also writes summary.json there.
        written = sum(1 for f in Path(spec["out_dir"]).glob("*.json") if f.name != "summary.json")
        stats, jobs = emu.stats(), emu.jobs()
    n = len(urls)
    slot_times = [j["processingTime"] + queue_delay for j in jobs]
    bound = max(sum(slot_times) / args.limit, max(slot_times))
    makespan = max(j["finishedAt"] for j in jobs) - min(j["submittedAt"] for j in jobs)
    held = sum(j["finishedAt"] - j["submittedAt"] for j in jobs)
    ends = {j["jobId"]: child["origin"] + j["finishedAt"] / args.time_scale for j in jobs}
    delays = sorted((at - ends[job_id]) * 1000 for job_id, at in child["learned"].items())
    return {
        "system": system,
        "jobs_created": len(jobs),
        "completed": child["completed"],
        "detected": len(delays),
        "insight_files": written,
        "lower_bound_s": bound,
        "makespan_s": makespan,
        "makespan_over_lb": makespan / bound,
        "slot_use": held / (args.limit * makespan),
        "status_gets_per_job": stats["job_status_requests"] / n,
        "rejected_429": stats["rejected_429"],
        "max_concurrent_jobs": stats["max_concurrent_jobs"],
        "duplicates": len(stats["duplicate_names"]),
        "webhooks_per_job": stats["webhooks_sent"] / n,
        "cpu_ms_per_job": child["cpu_s"] * 1000 / n,
        "maxrss_mb": child["maxrss_mb"],
        "wall_s": child["wall_s"],
        "detection_p50_ms": percentile(delays, 0.5) if delays else None,
        "detection_p99_ms": percentile(delays, 0.99) if delays else None,
        "detection_mean_ms": statistics.mean(delays) if delays else None,
        "detection_max_ms": delays[-1] if delays else None,
        "detection_ms": delays,
        "occupancy": occupancy(jobs),
    }


METRICS = (
    "makespan_over_lb", "slot_use", "status_gets_per_job", "rejected_429", "cpu_ms_per_job",
    "maxrss_mb", "detection_p50_ms", "detection_p99_ms", "detection_mean_ms",
    "detection_max_ms", "wall_s", "lower_bound_s",
    "makespan_s", "webhooks_per_job", "max_concurrent_jobs", "duplicates",
)


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the rounds of one system's runs."""
    medians: dict[str, Any] = {"rounds": len(runs)}
    for key in METRICS:
        values = [r[key] for r in runs if r[key] is not None]
        medians[key] = statistics.median(values) if values else None
    return medians


def table(args: argparse.Namespace, summary: dict[str, Any], skipped: dict[str, str]) -> str:
    scale = args.time_scale
    dropped = "" if args.webhook_drop_rate is None else (
        f", {args.webhook_drop_rate:g} of webhooks dropped"
    )
    lines = [
        f"N={args.jobs}, limit {args.limit}, time scale {scale:g}, processing factor "
        f"{'default (0.25)' if args.processing_factor is None else f'{args.processing_factor:g}'}"
        f"{dropped}"
        f", log-normal media (median {args.median:g} s, sigma {args.sigma:g}, seed {args.seed})"
        f"; medians of {args.rounds} interleaved round(s)",
        "",
        "| system | makespan / LB | slot use | status GETs per job | 429s "
        "| client CPU ms per job | peak RSS | detection p50 / p99 (ms real) "
        "| detection p50 / p99 (service s) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for system in args.systems:
        if system in skipped:
            lines.append(f"| {LABELS[system]} | skipped: {skipped[system]} |||||||")
            continue
        m = summary[system]
        p50, p99 = m["detection_p50_ms"], m["detection_p99_ms"]
        real = "n/a" if p50 is None else f"{p50:.0f} / {p99:.0f}"
        service = "n/a" if p50 is None else f"{p50 * scale / 1000:.1f} / {p99 * scale / 1000:.1f}"
        lines.append(
            f"| {LABELS[system]} | {m['makespan_over_lb']:.3f} | {m['slot_use']:.3f} "
            f"| {m['status_gets_per_job']:.2f} | {m['rejected_429']:g} "
            f"| {m['cpu_ms_per_job']:.1f} | {m['maxrss_mb']:.0f} MB | {real} | {service} |"
        )
    lines += [
        "",
        "Detection delay: job end (emulator) to the client knowing it. In service seconds it is"
        " the real delay x the time scale: what polling would cost against the real service;"
        " webhook delivery is network time, which the time scale does not divide, so for the"
        " webhook modes the real-ms column is the one to read. Slot use: sum of the jobs'"
        " slot time / (limit x makespan).",
    ]
    return "\n".join(lines) + "\n"


def run_all(args: argparse.Namespace) -> tuple[dict[str, list[dict[str, Any]]], dict[str, str]]:
    lengths = media_lengths(args.jobs, args.median, args.sigma, args.seed)
    urls = [f"https://media.test/b{i}.mp3?emulator_duration={d:g}" for i, d in enumerate(lengths)]
    emulator_cpu, client_cpus = split_cpus()
    if emulator_cpu is None:
        print("warning: one CPU only; emulator and client are NOT on separate cores")
    skipped: dict[str, str] = {}
    if "sdk" in args.systems:
        reason = sdk_missing()
        if reason is not None:
            skipped["sdk"] = reason
            print(f"skipping the official SDK: {reason}")
    systems = [s for s in args.systems if s not in skipped]
    runs: dict[str, list[dict[str, Any]]] = {s: [] for s in systems}
    with tempfile.TemporaryDirectory(prefix="bench-systems-") as workdir:
        for round_ in range(args.rounds):
            # Rotated each round, so no system always runs first (cold caches) or last.
            order = systems[round_ % len(systems):] + systems[:round_ % len(systems)]
            for system in order:
                started = time.monotonic()
                result = measure(system, args, urls, lengths, Path(workdir),
                                 client_cpus, emulator_cpu)
                runs[system].append(result)
                print(f"round {round_ + 1}/{args.rounds} {system:<8} "
                      f"makespan/LB {result['makespan_over_lb']:.3f}  "
                      f"GETs/job {result['status_gets_per_job']:.2f}  "
                      f"CPU ms/job {result['cpu_ms_per_job']:.1f}  "
                      f"({time.monotonic() - started:.0f} s)", flush=True)
                counts = [result[k] for k in ("completed", "jobs_created", "detected",
                                              "insight_files")]
                if counts != [args.jobs] * 4:
                    print(f"  warning: completed, jobs created, ends detected, insight files: "
                          f"{counts}, for {args.jobs} inputs")
    return runs, skipped


def _compact(runs: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """The runs for the JSON file: series rounded, occupancy kept for round 1 (the plot's)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for system, results in runs.items():
        out[system] = []
        for round_, result in enumerate(results):
            kept = dict(result, detection_ms=[round(d, 2) for d in result["detection_ms"]])
            if round_:
                del kept["occupancy"]
            else:
                kept["occupancy"] = [[round(at, 1), n] for at, n in result["occupancy"]]
            out[system].append(kept)
    return out


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.child:
        child_main(args.child)
        return
    exit_on_sigterm()
    runs, skipped = run_all(args)
    summary = {system: summarize(results) for system, results in runs.items()}
    text = table(args, summary, skipped)
    print()
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    report = {"config": config, "summary": summary, "skipped": skipped, "runs": _compact(runs)}
    (args.out / f"{args.name}.json").write_text(json.dumps(report, separators=(",", ":")))
    (args.out / f"{args.name}.md").write_text(text)
    print(f"wrote {args.out / args.name}.json and .md")
    try:
        from _plots import plot_all
    except ImportError as error:
        print(f"no plots: {error} (pip install -e '.[bench]')")
        return
    for path in plot_all(runs, LABELS, args, args.out / args.name):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
