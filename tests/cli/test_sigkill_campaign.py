"""The SIGKILL campaign: the CLI killed at many distinct points of a batch, then rerun.

Each point is a condition on what another program can see: the ledger (read-only SQLite),
the emulator's own records (stats, jobs) and a :class:`~_cli_support.Gate` in front of the
emulator's routes, which counts requests by kind and can hold some (a token request, a
submit, a lookup by name, an insight fetch) so that the kill lands while one is surely in
flight. Emulator faults open the windows the issue names: ``submit_delay`` and
``submit_lost_answer`` keep a created job's answer away, ``submit_hold`` keeps a submit from
the service, ``submit_error_after``/``submit_reset_after`` leave an attempt ``unknown`` for
the grace period. Some points kill the rerun too (a resume killed in its own lookups or
waits). Then the command is run again until it succeeds, and the promise is checked from the
emulator's records: every input fetched, its insights file present and valid JSON, no name
and no content created twice, the account limit never exceeded. On both ledgers (a killed
PostgreSQL worker's items are adopted once its lease, two seconds here, has run out).
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
import wave
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest
from _cli_support import (
    CLI,
    Gate,
    Threaded,
    child_env,
    process_args,
    run_child,
    threaded_emulator,
)
from _ledgers import CliLedger
from _polling import eventually_blocking

ITEMS = 10
LIMIT = 3


@attrs.frozen
class Seen:
    """What the test sees while a run goes: the ledger, the emulator and the gate."""

    emu: Threaded
    gate: Gate
    ledger: CliLedger
    out: Path

    def counts(self) -> dict[str, int]:
        return self.ledger.counts(self.out)

    def rows(self) -> list[dict[str, Any]]:
        return self.ledger.rows(self.out)

    def stats(self) -> dict[str, Any]:
        return self.emu.stats()

    def fault(self, kind: str) -> int:
        return int(self.stats()["faults"].get(kind, 0))


When = Callable[[Seen], bool]


@attrs.frozen
class Kill:
    """Kill one run when ``when`` holds, while the gate holds requests of ``hold`` kinds."""

    when: When
    hold: tuple[str, ...] = ()
    drop: bool = False  # held requests never reach the service (else they land after the kill)


@attrs.frozen
class Point:
    faults: Mapping[str, Any]
    kills: tuple[Kill, ...]
    args: tuple[str, ...] = ()


def created_unanswered(s: Seen) -> bool:
    """The service created a job whose attempt the ledger still shows as ``submitting``."""
    created = {str(job["name"]) for job in s.emu.jobs()}
    return any(r["state"] == "submitting" and r["attempt_name"] in created for r in s.rows())


def in_grace(s: Seen) -> bool:
    """An attempt is ``unknown`` and well inside its grace period (``--lookup-grace 1``,
    counted from when its submit ended): no lookup may conclude yet."""
    now = time.time()
    return any(r["state"] == "unknown" and r["grace_until"] is not None
               and r["grace_until"] - now > 0.2 for r in s.rows())


def adopted_waiting(s: Seen) -> bool:
    """A job found by name (no job id) is being watched through its conversation."""
    return any(r["state"] == "submitted" and r["job_id"] is None for r in s.rows())


def held(kind: str) -> When:
    return lambda s: s.gate.held[kind] >= 1


def state_at_least(state: str, n: int) -> When:
    return lambda s: s.counts().get(state, 0) >= n


DELAY = {"submit_delay_rate": 1.0, "submit_delay": (0.4, 0.4), "seed": 1}
LOST = {"submit_lost_answer_rate": 0.3, "submit_lost_answer_hold": 0.3, "seed": 2}
ERROR_AFTER = {"submit_error_after_rate": 0.3, "seed": 3}

POINTS: dict[str, Point] = {
    # Start-up, before anything reached the service: the first token is on its way.
    "startup-token-in-flight": Point({}, (Kill(held("token"), hold=("token",)),)),
    # The intent is committed and its submit never reaches the service.
    "intent-committed-submit-never-arrives": Point(
        {}, (Kill(lambda s: s.counts().get("submitting", 0) >= 1 and s.gate.held["submit"] >= 1,
                  hold=("submit",), drop=True),)
    ),
    # The intent is committed, its submit on the wire; it lands after the kill.
    "intent-committed-submit-lands-late": Point(
        {}, (Kill(lambda s: s.counts().get("submitting", 0) >= 1 and s.gate.held["submit"] >= 1,
                  hold=("submit",)),)
    ),
    # The service holds the submit before creating the job (submit_hold < lookup grace).
    "held-submit-before-job": Point(
        {"submit_hold_rate": 1.0, "submit_hold": (0.4, 0.4), "seed": 4},
        (Kill(lambda s: s.fault("submit_hold") >= 1 and s.stats()["jobs_submitted"] == 0),),
    ),
    # Between the service creating a job and its answer arriving: a delayed answer...
    "job-created-answer-delayed": Point(DELAY, (Kill(created_unanswered),)),
    # ...and an answer that never comes.
    "job-created-answer-lost": Point(
        LOST, (Kill(lambda s: s.fault("submit_lost_answer") >= 1 and created_unanswered(s)),)
    ),
    # A 500 after the job was created: the attempt is unknown, waiting out the grace period.
    # (Lookups by name are held: the one made at once would find the job and end the
    # wait before a kill could land in it.)
    "grace-after-500": Point(ERROR_AFTER, (Kill(in_grace, hold=("list",)),)),
    # The same after a reset once the job was created.
    "grace-after-reset": Point(
        {"submit_reset_after_rate": 0.3, "seed": 5}, (Kill(in_grace, hold=("list",)),)
    ),
    # A reset before any job: unknown too (the body may have been read), so the same wait.
    "grace-after-reset-before-job": Point(
        {"submit_reset_before_rate": 0.3, "seed": 6}, (Kill(in_grace),)
    ),
    # The lookup by name is on the wire.
    "during-lookup-by-name": Point(ERROR_AFTER, (Kill(held("list"), hold=("list",)),)),
    # A lookup found nothing: the new attempt's intent (attempt 2) is committed.
    "new-attempt-after-not-found": Point(
        {"submit_reset_before_rate": 0.3, "seed": 6},
        (Kill(lambda s: any(r["attempts"] >= 2 for r in s.rows())),),
    ),
    # A lookup found the job: it is adopted and watched through its conversation.
    "adopted-by-name-waiting": Point(LOST, (Kill(adopted_waiting),)),
    # 503 (not created): the slot was given back, the item waits a backoff to resend.
    "backoff-after-503": Point(
        {"submit_error_before_rate": 0.4, "submit_error_before_statuses": (503,), "seed": 7},
        (Kill(lambda s: s.stats()["responses_by_status"].get("503", 0) >= 1),),
    ),
    # 429: another team's job holds a slot of the account (for ever: however slow the
    # child's start-up, its first submits meet a full account).
    "backoff-after-429": Point(
        {"foreign_jobs": 1},
        (Kill(lambda s: s.stats()["rejected_429"] >= 1),),
    ),
    # Short-lived tokens, and the token endpoint fails now and then: killed mid-batch
    # after a failed refresh. Token faults are drawn per request, so how many a run meets
    # depends on how long it takes: seed 186 makes the first token request fail and the
    # first refresh too (F.F....F..F: the kill point comes with the first refresh, which a
    # 0.2 s token brings early in the batch, whatever the machine's load), and never more
    # than 2 in a row in the first 200 requests, so that a run stretched by load meets a
    # flaky endpoint, never an outage (5 failures in a row would fail the item).
    "token-refresh-errors": Point(
        {"token_error_rate": 0.3, "token_lifetime": 0.2, "seed": 186},
        (Kill(lambda s: s.counts().get("ever_submitted", 0) >= 1
              and s.fault("token_500") + s.fault("token_503") >= 2),),
    ),
    # Every slot busy, polling the jobs.
    "waiting-all-slots": Point({}, (Kill(state_at_least("submitted", LIMIT)),)),
    # Polling through transient 404s of GET /v1/job.
    "waiting-through-job-404s": Point(
        {"job_status_404_rate": 0.5, "seed": 9},
        (Kill(lambda s: s.fault("job_status_404") >= 2),),
    ),
    # A job completed, its insights being fetched (messages on the wire).
    "fetching-messages": Point({}, (Kill(held("messages"), hold=("messages",)),)),
    # The other insight endpoints on the wire.
    "fetching-insights": Point({}, (Kill(held("insights"), hold=("insights",)),)),
    # Half the batch fetched.
    "half-fetched": Point({}, (Kill(state_at_least("fetched", ITEMS // 2)),)),
    # Everything fetched, before the summary and exit.
    "all-fetched-before-exit": Point({}, (Kill(state_at_least("fetched", ITEMS)),)),
    # Resumes killed in their own steps: the lookup of an attempt left submitting...
    "resume-killed-in-startup-lookup": Point(
        DELAY, (Kill(created_unanswered), Kill(held("list"), hold=("list",)))
    ),
    # ...the wait for a job adopted by name...
    "resume-killed-waiting-for-adopted": Point(
        DELAY, (Kill(created_unanswered), Kill(adopted_waiting))
    ),
    # ...and the grace period of an attempt the killed run left unknown. Lookups are held
    # (the one at once would find the created job and end the wait before a kill), and the
    # grace is 5 s, so that the rerun, started after the first kill, is still inside it.
    "resume-killed-in-grace": Point(
        ERROR_AFTER, (Kill(in_grace, hold=("list",)), Kill(in_grace, hold=("list",))),
        ("--lookup-grace", "5"),
    ),
    # Hybrid waits (webhooks plus a slow poll) with webhooks lost.
    "hybrid-waiting": Point(
        {"webhook_drop_rate": 0.3, "seed": 10},
        (Kill(state_at_least("submitted", 2)),), ("--wait", "hybrid"),
    ),
    # Pure webhook waits: the rerun's receiver is new; the old jobs must still be learned.
    "webhook-waiting": Point(
        {}, (Kill(state_at_least("submitted", 2)),), ("--wait", "webhook"),
    ),
}


def kill_when(args: list[str], cwd: Path, seen: Seen, kill: Kill) -> None:
    """Run the command; SIGKILL it once ``kill.when`` holds. Fails if it ended first."""
    seen.gate.reset(*kill.hold)
    proc = subprocess.Popen(args, cwd=cwd, env=child_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        eventually_blocking(lambda: proc.poll() is not None or kill.when(seen), timeout=60)
        assert proc.poll() is None, "the run ended before the kill point was reached"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        proc.kill()
        proc.wait()
        seen.gate.reset(drop=kill.drop)


def outcome(seen: Seen, out: Path, sources: list[str]) -> dict[str, Any]:
    """Lost and paid-twice counts, from the emulator's records and the files."""
    stats = seen.stats()
    rows = {r["source"]: r for r in seen.rows()}
    lost = []
    for source in sources:
        row = rows.get(source)
        path = None if row is None or row["output_path"] is None else Path(row["output_path"])
        if row is None or row["state"] != "fetched" or path is None or not path.exists():
            lost.append(source)
            continue
        body = json.loads(path.read_text())  # valid JSON, or the test fails here
        if not body.get("messages"):
            lost.append(source)  # an empty transcript is not complete insights
    paid = stats["submits_by_content"]
    return {
        "lost": len(lost),
        "paid_twice": sum(n - 1 for n in paid.values() if n > 1),
        "not_paid": sum(1 for s in sources if paid.get(f"url:{s}", 0) == 0),
        "duplicate_names": stats["duplicate_names"],
        "max_concurrent": stats["max_concurrent_jobs"],
        "max_concurrent_client": stats["max_concurrent_client_jobs"],
    }


@pytest.mark.parametrize("point", list(POINTS))
def test_killed_at_a_point_then_rerun_loses_nothing_and_pays_once(
    point: str, tmp_path: Path, cli_ledger: CliLedger
) -> None:
    spec = POINTS[point]
    sources = [f"https://media.test/{point}/k{i}.mp3?emulator_duration=600" for i in range(ITEMS)]
    manifest = tmp_path / "batch.jsonl"
    manifest.write_text(
        "".join(json.dumps({"source": s, "duration": 600}) + "\n" for s in sources)
    )
    out = tmp_path / "out"
    gate = Gate()
    with threaded_emulator(LIMIT, gate, **spec.faults) as emu:
        seen = Seen(emu, gate, cli_ledger, out)
        args = [*process_args(emu.url, out, "--manifest", str(manifest)), *spec.args,
                *cli_ledger.args()]
        for kill in spec.kills:
            kill_when([*CLI, *args], tmp_path, seen, kill)
        for _ in range(4):  # bounded: a rerun after a kill mid-lookup may itself need one more
            done = run_child(*args, cwd=tmp_path)
            if done.returncode == 0:
                break
        assert done.returncode == 0, done.stderr
        result = outcome(seen, out, sources)
    print(f"\nkill point {point}: {result}")
    assert result["lost"] == 0 and result["not_paid"] == 0, result
    assert result["paid_twice"] == 0 and result["duplicate_names"] == {}, result
    assert result["max_concurrent"] <= LIMIT, result
    assert len((out / "results.jsonl").read_text().splitlines()) == ITEMS


def test_killed_while_uploads_go_ahead_of_their_slots_then_rerun_pays_once(
    tmp_path: Path, cli_ledger: CliLedger
) -> None:
    """Local files over a slow link, jobs slower than their uploads: uploads go ahead of
    their slots while the account is full (on a shared ledger, each reserved in it first).
    Killed once the emulator saw one begin (it may be on its way, holding its last bytes,
    or sent), then rerun: every recording fetched, each paid for once, the limit never
    passed, and no reservation of the killed worker left behind."""
    scale = 30.0  # a 20-30 s recording runs ~1.2 s; its upload (~0.4 MB at 1 MB/s) ~0.4 s
    count = 16
    folder = tmp_path / "media"
    folder.mkdir()
    for i in range(count):
        with wave.open(str(folder / f"rec{i:02d}.wav"), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(8000)
            w.writeframes(b"\x00\x00" * int((20 + i / 2) * 8000))  # distinct contents
    out = tmp_path / "out"
    gate = Gate()
    with threaded_emulator(LIMIT, gate, scale=scale, upload_bandwidth=1_000_000) as emu:
        seen = Seen(emu, gate, cli_ledger, out)
        args = [*process_args(emu.url, out, str(folder)), "--time-scale", str(scale),
                *cli_ledger.args()]

        def ahead(seen: Seen) -> bool:
            if seen.stats()["uploads_begun_while_full"] < 1:
                return False
            # A shared ledger's: killed while it holds a reservation (the rerun lapses it).
            return cli_ledger.url is None or any(
                r["state"] == "pending" and r["owner"] is not None for r in seen.rows())

        kill_when([*CLI, *args], tmp_path, seen, Kill(ahead))
        for _ in range(4):  # bounded: a rerun may need one more after its own lookups
            done = run_child(*args, cwd=tmp_path)
            if done.returncode == 0:
                break
        assert done.returncode == 0, done.stderr
        stats = seen.stats()
        rows = seen.rows()
    assert sorted(r["state"] for r in rows) == ["fetched"] * count
    assert all(r["owner"] is None for r in rows)
    assert all(Path(r["output_path"]).exists() for r in rows)
    assert stats["duplicate_names"] == {} and stats["duplicate_contents"] == {}
    assert len(stats["submits_by_content"]) == count
    assert set(stats["submits_by_content"].values()) == {1}  # each recording paid once
    assert stats["max_concurrent_jobs"] <= LIMIT and stats["rejected_429"] == 0
    assert stats["uploads_whole"] == stats["jobs_created"]  # a cut body created nothing
