"""Chaos benchmark: a 2,000-item batch under every fault at once, in poll and in hybrid mode.

Issue 8's "Done when". For each wait mode (``poll``, then ``hybrid``), with a fresh
emulator and a fresh out folder:

1. An emulator is started **in its own process** (``symbl-async emulator --port 0 ...``,
   its URL read from the line it prints) with an account limit of 20 and all its fault
   knobs on together, seeded: 5xx and resets before and after the job is created, lost
   answers, held submits, delayed answers, transient 404s on ``GET /v1/job``, token
   endpoint failures, a small rate of jobs that end ``failed``, jobs slower or faster than
   the model, two foreign jobs holding two of the 20 slots for ever (so 429s happen), webhook
   drops, duplicates, reordering and delays, and tokens that expire every few seconds.
2. The **real CLI**, also in its own process, processes a CSV manifest of N URL items
   (``https://media.test/<i>.mp3?emulator_duration=<s>``, log-normal lengths, seeded, each
   row with its ``duration`` so longest-first works): ``symbl-async process --manifest ...
   --out DIR --max-concurrent-jobs 20 --lookup-grace G --time-scale S --wait MODE``.
3. It is rerun with ``--retry-failed`` while items are left failed, at most 10 times (a job
   found by name whose end the API cannot show is settled only once no job of it could
   still run: the learned time for four hours of media, a few reruns of ``--wait-timeout``).
4. The outcome is counted from the emulator's own records and the out folder (see
   ``_chaos_report.py``): items, fetched complete, failed (reasons grouped), lost, paid
   twice, ``duplicate_names``/``duplicate_contents``, max concurrent (client only and with
   the foreign jobs), 429s, and the faults the emulator actually applied.

Results go to ``benchmarks/results/chaos.json`` and ``chaos.md`` (``chaos-quick.*`` with
``--quick``). Run from the repository root::

    .venv/bin/python benchmarks/bench_chaos.py            # N=2000, both modes
    .venv/bin/python benchmarks/bench_chaos.py --quick    # N=200
    .venv/bin/python benchmarks/bench_chaos.py --postgres postgresql://u@host/db
        # the same on a PostgreSQL ledger: a fresh database per mode, made on that server

With ``--postgres`` each mode runs on a PostgreSQL ledger (``--ledger``, a database made
for it and dropped after), else on the default SQLite ledger in the out folder.

The exit status is 1 when any mode lost an item or paid one twice.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _chaos_report import analyse, lines
from _common import media_lengths, write_url_manifest

ROOT = Path(__file__).resolve().parent.parent
# The installed console script, as a user runs it (``python -m`` of the package's module
# would also work but warns about runpy's double import).
_SCRIPT = Path(sys.executable).parent / "symbl-async"
CLI = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "symbl_async.cli._main"]
APP_ID, APP_SECRET = "emulator-app-id", "emulator-app-secret"
MAX_RERUNS = 10

# Every fault at once. The exclusive submit faults add up to 0.24 of submits; a delay comes
# on top of any of them. Held submits and delayed answers end within 1.5 + 1 real seconds,
# so a lookup grace of 5 s covers a request still in flight (the engine's own rule).
FAULTS: dict[str, str | list[str]] = {
    "--submit-error-before-rate": "0.05",  # 500/502/503/504, no job
    "--submit-reset-before-rate": "0.03",
    "--submit-hold-rate": "0.03",
    "--submit-hold": ["0.2", "1.5"],
    "--submit-error-after-rate": "0.05",  # 500/502/504, job created
    "--submit-reset-after-rate": "0.04",
    "--submit-lost-answer-rate": "0.04",
    "--submit-lost-answer-hold": "3",
    "--submit-delay-rate": "0.05",
    "--submit-delay": ["0.1", "1.0"],
    "--job-status-404-rate": "0.05",
    "--token-error-rate": "0.1",
    "--token-lifetime": "5",  # real seconds: a token expires many times per run
    "--job-failure-rate": "0.01",
    "--processing-jitter": ["0.5", "2.0"],
    "--foreign-jobs": "2",
    "--webhook-drop-rate": "0.1",
    "--webhook-duplicate-rate": "0.1",
    "--webhook-reorder-rate": "0.1",
    "--webhook-delay": ["0", "0.2"],
}


def write_manifest(path: Path, lengths: list[float], seed: int) -> list[str]:
    return write_url_manifest(path, lengths, prefix=f"s{seed}-")


def fault_flags() -> list[str]:
    flags: list[str] = []
    for flag, value in FAULTS.items():
        flags += [flag, *(value if isinstance(value, list) else [value])]
    return flags


class EmulatorProcess:
    """``symbl-async emulator --port 0`` in a child process; its URL from its first line."""

    def __init__(self, args: argparse.Namespace, log: Path) -> None:
        argv = [*CLI, "emulator", "--port", "0", "--concurrency-limit", str(args.limit),
                "--time-scale", str(args.time_scale), "--seed", str(args.seed), *fault_flags()]
        self.log = log.open("w", encoding="utf-8")
        self.proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=self.log,
                                     text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # blocks until it listens (or dies: "")
        if "listening on " not in line:
            self.stop()
            raise RuntimeError(f"the emulator did not start: {line!r}; see {log}")
        self.url = line.split("listening on ", 1)[1].split()[0]

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=60) as answer:
            return json.loads(answer.read())

    def message_counts(self, conversation_ids: list[str]) -> dict[str, int]:
        """The final number of messages of each conversation, as the emulator serves them.

        Read after every job ended, so they are the complete transcripts a fetched file
        must match. The emulator's own token faults are retried here (bounded).
        """
        token = ""
        counts: dict[str, int] = {}
        for conversation_id in conversation_ids:
            for _ in range(20):
                try:
                    if not token:
                        token = self._token()
                    request = urllib.request.Request(
                        f"{self.url}/v1/conversations/{conversation_id}/messages",
                        headers={"x-api-key": token})
                    with urllib.request.urlopen(request, timeout=60) as answer:
                        counts[conversation_id] = len(json.loads(answer.read())["messages"])
                    break
                except urllib.error.HTTPError as exc:
                    if exc.code == 401:
                        token = ""  # expired (short lifetimes): get another
                    elif exc.code < 500:
                        raise
        return counts

    def _token(self) -> str:
        body = json.dumps({"type": "application", "appId": APP_ID, "appSecret": APP_SECRET})
        request = urllib.request.Request(self.url + "/oauth2/token:generate",
                                         data=body.encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as answer:
            return str(json.loads(answer.read())["accessToken"])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        self.log.close()


def run_cli(argv: list[str], log: Path, timeout: float) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SYMBL_APP_ID": APP_ID,
           "SYMBL_APP_SECRET": APP_SECRET}
    t0 = time.monotonic()
    with log.open("a", encoding="utf-8") as out:
        out.write(f"$ symbl-async {' '.join(argv)}\n")
        out.flush()
        done = subprocess.run([*CLI, *argv], cwd=ROOT, env=env, stdout=out, stderr=out,
                              timeout=timeout, check=False)
    return {"argv": argv, "returncode": done.returncode,
            "seconds": round(time.monotonic() - t0, 1)}


def failed_left(out: Path) -> int:
    path = out / "results.jsonl"
    if not path.exists():
        return -1
    return sum(json.loads(line)["status"] == "failed"
               for line in path.read_text(encoding="utf-8").splitlines() if line.strip())


def run_mode(mode: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """One mode's batch, its reruns and its counts (see the module docstring)."""
    folder = work / mode
    folder.mkdir()
    lengths = media_lengths(args.items, args.median, args.sigma, args.seed)
    urls = write_manifest(folder / "manifest.csv", lengths, args.seed)
    out = folder / "out"
    t0 = time.monotonic()
    emulator = EmulatorProcess(args, folder / "emulator.log")
    try:
        base = ["process", "--manifest", str(folder / "manifest.csv"), "--out", str(out),
                "--max-concurrent-jobs", str(args.limit), "--base-url", emulator.url,
                "--time-scale", str(args.time_scale), "--lookup-grace", str(args.lookup_grace),
                "--wait", mode, "--wait-timeout", str(args.wait_timeout),
                "--progress-interval", "10"]
        if args.ledger_url is not None:
            base += ["--ledger", args.ledger_url]
        runs = [run_cli(base, folder / "cli.log", args.run_timeout)]
        left = failed_left(out)
        # Rerun while something is left: an item left unresolved (a job found by name whose
        # end the API cannot show) is settled by the first rerun once no job of it could
        # still be running, so a rerun without progress is no reason to stop.
        while len(runs) <= MAX_RERUNS and left != 0:
            runs.append(run_cli([*base, "--retry-failed"], folder / "cli.log",
                                args.run_timeout))
            left = failed_left(out)
        stats = emulator.get("/_emulator/stats")
        jobs = emulator.get("/_emulator/jobs")["jobs"]
        finals = emulator.message_counts(
            [j["conversationId"] for j in jobs if j["status"] == "completed" and not j["foreign"]])
    finally:
        emulator.stop()
    (folder / "emulator-jobs.json").write_text(json.dumps(jobs), encoding="utf-8")
    report = analyse(out, urls, stats, jobs, finals)
    report.update(mode=mode, runs=runs, wall_seconds=round(time.monotonic() - t0, 1),
                  media_seconds_total=round(sum(lengths)), folder=str(folder))
    return report


def write_results(reports: list[dict[str, Any]], args: argparse.Namespace,
                  printed: list[str]) -> Path:
    results = ROOT / "benchmarks" / "results"
    results.mkdir(parents=True, exist_ok=True)
    stem = ("chaos-quick" if args.quick else "chaos") + ("-postgres" if args.postgres else "")
    setup = {k: v for k, v in vars(args).items() if k not in ("postgres", "ledger_url")}
    setup["ledger"] = "postgresql" if args.postgres else "sqlite"
    setup["faults"] = FAULTS
    (results / f"{stem}.json").write_text(
        json.dumps({"setup": setup, "modes": reports}, indent=2, default=str) + "\n",
        encoding="utf-8")
    md = [f"# Chaos benchmark ({args.items} items, limit {args.limit}, seed {args.seed}, "
          f"time scale {args.time_scale:g})", "",
          f"Command: `{' '.join(sys.argv)}`", "",
          "Faults (emulator flags): `" + " ".join(fault_flags()) + "`", "", "```",
          *printed, "```", ""]
    (results / f"{stem}.md").write_text("\n".join(md), encoding="utf-8")
    return results / f"{stem}.json"


def _new_database(server: str) -> str:
    import asyncio
    import uuid

    import asyncpg

    name = f"chaos_{uuid.uuid4().hex[:10]}"

    async def make() -> None:
        conn = await asyncpg.connect(server)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(make())
    head, _, _ = server.rpartition("/")
    return f"{head}/{name}"


def _drop_database(server: str, url: str) -> None:
    import asyncio

    import asyncpg

    async def drop() -> None:
        conn = await asyncpg.connect(server)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{url.rpartition("/")[2]}"'
                               " WITH (FORCE)")
        finally:
            await conn.close()

    asyncio.run(drop())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 items instead of 2,000")
    parser.add_argument("--items", type=int, default=None)
    parser.add_argument("--modes", default="poll,hybrid")
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--median", type=float, default=300.0, help="median media seconds")
    parser.add_argument("--sigma", type=float, default=0.6)
    parser.add_argument("--time-scale", type=float, default=500.0)
    parser.add_argument("--lookup-grace", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=8)
    # Real seconds. The longest job here (4 h of media, slowest jitter) takes ~7,300 service
    # seconds, 15 s at scale 500; the CLI's default (4 h, real) would keep an item whose
    # end the API cannot show (a job found by name that failed, in poll mode) for 4 h.
    parser.add_argument("--wait-timeout", type=float, default=30.0,
                        help="the CLI's --wait-timeout, real seconds")
    parser.add_argument("--run-timeout", type=float, default=1800.0,
                        help="real seconds one CLI run may take")
    parser.add_argument("--postgres", metavar="URL",
                        help="run on PostgreSQL ledgers: a fresh database per mode on this "
                        "server (the URL's database is where it is made)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the work folder (always kept when a mode shows a problem)")
    args = parser.parse_args()
    if args.items is None:
        args.items = 200 if args.quick else 2000
    work = Path(tempfile.mkdtemp(prefix="bench-chaos-"))
    reports, printed = [], []
    for mode in args.modes.split(","):
        args.ledger_url = None if args.postgres is None else _new_database(args.postgres)
        try:
            report = run_mode(mode, args, work)
        finally:
            if args.ledger_url is not None:
                _drop_database(args.postgres, args.ledger_url)
        report["ledger"] = "postgresql" if args.postgres else "sqlite"
        reports.append(report)
        for line in lines(mode, report):
            print(line, flush=True)
            printed.append(line)
        for problem in report["lost_items"][:3] + report["paid_twice_items"][:3]:
            print(f"[{mode}] PROBLEM {json.dumps(problem)[:2000]}", flush=True)
    problem = any(r["lost"] or r["paid_twice"] for r in reports)
    print(f"written: {write_results(reports, args, printed)}")
    if args.keep or problem:
        print(f"work folder (ledgers, logs, emulator jobs): {work}")
    else:
        shutil.rmtree(work)
    return 1 if problem else 0


if __name__ == "__main__":
    sys.exit(main())
