"""Seeded chaos through the real CLI: ``symbl-async process`` against a misbehaving emulator.

Each emulator fault alone, then all of them together (poll and hybrid waits, the latter with
webhooks dropped, duplicated and reordered): a first run, then ``--retry-failed`` reruns
until nothing is left (bounded). The promise is checked from the emulator's own records:
every input ends fetched with complete insights, or failed because every job the service
ran for it ended ``failed``; no attempt name created twice, and no recording paid twice
except to retry a job the service failed; the account's limit never exceeded. On both
ledgers (SQLite and PostgreSQL).
"""

from __future__ import annotations

import collections
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from _cli_support import CliRun, Threaded, process_args, threaded_emulator
from _ledgers import CliLedger

# A chaos campaign: the system tier (tests/_tiers.py), whatever it runs in.
pytestmark = pytest.mark.system

ITEMS = 12
LIMIT = 3
RERUNS = 6
ALWAYS_FAILS = 3  # the input whose jobs always end 'failed' (fail_inputs)

EXCLUSIVE = {
    "submit_error_before_rate": 0.1,
    "submit_reset_before_rate": 0.1,
    "submit_hold_rate": 0.1,
    "submit_error_after_rate": 0.1,
    "submit_reset_after_rate": 0.1,
    "submit_lost_answer_rate": 0.1,
}
# Holds, lost answers and delays stay well under the one second of --lookup-grace: a held
# submit lands before a lookup may conclude that it created nothing.
TIMINGS: Mapping[str, Any] = {
    "submit_hold": (0.1, 0.4),
    "submit_lost_answer_hold": 0.3,
    "submit_delay": (0.05, 0.3),
}
FAULTS: dict[str, dict[str, Any]] = {
    "error-before": {"submit_error_before_rate": 0.3},
    "error-before-503": {"submit_error_before_rate": 0.3, "submit_error_before_statuses": (503,)},
    "reset-before": {"submit_reset_before_rate": 0.3},
    "hold": {"submit_hold_rate": 0.3},
    "error-after": {"submit_error_after_rate": 0.3},
    "reset-after": {"submit_reset_after_rate": 0.3},
    "lost-answer": {"submit_lost_answer_rate": 0.3},
    "delay": {"submit_delay_rate": 0.5},
    "job-status-404": {"job_status_404_rate": 0.3},
    "token-errors": {"token_error_rate": 0.3, "token_lifetime": 0.5},
    "jitter": {"processing_jitter": (0.3, 3.0)},
    "foreign-jobs": {"foreign_jobs": 1, "foreign_job_duration": 1500.0},
    "job-failures": {"job_failure_rate": 0.2},
    "fail-inputs": {},  # fail_inputs only (added to every case)
    "all": {
        **EXCLUSIVE, "submit_delay_rate": 0.3, "job_status_404_rate": 0.2,
        "token_error_rate": 0.2, "token_lifetime": 0.5, "processing_jitter": (0.3, 3.0),
        "foreign_jobs": 1, "foreign_job_duration": 1500.0, "job_failure_rate": 0.1,
    },
}
WEBHOOKS = {"webhook_drop_rate": 0.3, "webhook_duplicate_rate": 0.3, "webhook_reorder_rate": 0.3}


def run_until_done(
    cli: CliRun, args: list[str], ledger: CliLedger, out: Path, failing: str
) -> int:
    """The first run, then ``--retry-failed`` reruns until only the ``failing`` input is left
    (bounded; whether it failed for the service's reason is checked afterwards). Returns
    the number of runs."""
    runs = 0
    while runs <= RERUNS:
        done = cli(*args, *(["--retry-failed"] if runs else []))
        runs += 1
        assert "Traceback" not in done.stderr, done.stderr
        left = {r["source"] for r in ledger.rows(out) if r["state"] != "fetched"}
        if done.returncode == 0 or left <= {failing}:
            break
    return runs


def check_promise(
    emu: Threaded, out: Path, sources: list[str], ledger: CliLedger
) -> dict[str, Any]:
    """Every input fetched complete, or failed because the service failed each of its jobs;
    nothing paid twice but retries of failed jobs; the limit held. Returns the figures."""
    stats, jobs = emu.stats(), emu.jobs()
    rows = {r["source"]: r for r in ledger.rows(out)}
    base = {str(r["name"]): r["source"] for r in rows.values()}  # each attempt adds "-<n>"
    by_source: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for job in jobs:
        source = base.get(str(job["name"]).rsplit("-", 1)[0])
        if source is not None:  # not a foreign job
            by_source[source].append(job)
    failed: list[str] = []
    unresolved: list[str] = []
    by_name: list[str] = []  # found by name: no job id to ask whether it failed
    for source in sources:
        row, its_jobs = rows[source], by_source[source]
        if row["state"] == "fetched":
            body = json.loads(Path(row["output_path"]).read_text())
            assert body.get("messages") and "topics" in body, source  # complete insights
            assert any(j["status"] == "completed" for j in its_jobs), source
        else:
            # 'submitted': found by name (no job id), so the API cannot say it failed; it
            # is left for the next run until no job of it could still run, then settled
            # failed by its missing transcript (see batch/_lookup.py).
            assert row["state"] in ("failed", "submitted"), row
            statuses = [j["status"] for j in its_jobs]
            assert statuses and set(statuses) == {"failed"}, (row, its_jobs)
            failed.append(source)
            if row["job_id"] is None:
                by_name.append(source)
            if row["state"] == "submitted":
                assert row["job_id"] is None, row  # with its job id, its end is known
                unresolved.append(source)
        # Paid twice = a second job for a recording whose first one had not failed.
        not_failed = [j for j in its_jobs if j["status"] != "failed"]
        assert len(not_failed) <= 1, (source, its_jobs)
    assert stats["duplicate_names"] == {}, stats["duplicate_names"]
    assert stats["max_concurrent_jobs"] <= LIMIT
    lines = (out / "results.jsonl").read_text().splitlines()
    assert len(lines) == len(sources)
    return {"failed": len(failed), "unresolved": len(unresolved), "failed_sources": failed,
            "by_name_sources": by_name, "jobs": len(jobs), "429s": stats["rejected_429"],
            "faults": stats["faults"], "webhooks_dropped": stats["webhooks_dropped"]}


def chaos(
    cli: CliRun, tmp_path: Path, ledger: CliLedger, faults: Mapping[str, Any], *extra: str
) -> None:
    name = tmp_path.name
    sources = [f"https://media.test/{name}/c{i}.mp3?emulator_duration={300 + 60 * (i % 4)}"
               for i in range(ITEMS)]
    manifest = tmp_path / "batch.jsonl"
    manifest.write_text("".join(json.dumps({"source": s}) + "\n" for s in sources))
    out = tmp_path / "out"
    settings = {**TIMINGS, **faults, "fail_inputs": {sources[ALWAYS_FAILS]}, "seed": 11}
    with threaded_emulator(LIMIT, **settings) as emu:
        # A job found by name that the service failed can only end by this timeout (the
        # API gives no job id to ask); jobs last well under a second here.
        args = [*process_args(emu.url, out, "--manifest", str(manifest)), "--wait-timeout",
                "3", *ledger.args(), *extra]
        runs = run_until_done(cli, args, ledger, out, sources[ALWAYS_FAILS])
        figures = check_promise(emu, out, sources, ledger)
    # Only the input the service always fails, and any input whose submit's answer was
    # lost, whose job was then found by name, and which the service failed: the API
    # gives no job id to ask, so it stays 'submitted' until no job of it could still
    # run (job_max_seconds, mostly beyond these reruns), and a rerun after that settles
    # it failed (the next one would send it again). Seen once in a full run with four
    # workers on two cores: a found-by-name job among the 10 % that 'all' fails.
    left = set(figures.pop("failed_sources"))
    by_name = set(figures.pop("by_name_sources"))
    assert sources[ALWAYS_FAILS] in left, figures
    assert left - {sources[ALWAYS_FAILS]} <= by_name, figures
    print(f"\nchaos {name}: runs={runs} {figures}")


@pytest.mark.parametrize("fault", list(FAULTS))
def test_cli_under_one_fault_or_all_fetches_everything_once(
    fault: str, cli: CliRun, tmp_path: Path, cli_ledger: CliLedger
) -> None:
    chaos(cli, tmp_path, cli_ledger, FAULTS[fault])


@pytest.mark.parametrize("fault", ["webhooks", "all"])
def test_cli_hybrid_waits_survive_webhook_drops_and_duplicates(
    fault: str, cli: CliRun, tmp_path: Path, cli_ledger: CliLedger
) -> None:
    faults = WEBHOOKS if fault == "webhooks" else {**FAULTS["all"], **WEBHOOKS}
    chaos(cli, tmp_path, cli_ledger, faults, "--wait", "hybrid")
