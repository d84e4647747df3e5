"""``--wait webhook`` across a crash: the rerun's receiver has the batch's token (kept in the
ledger), so jobs the killed run submitted still reach it; jobs that ended while no receiver
was up are asked about once."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import pytest
from _cli_support import (
    CLI,
    CliRun,
    child_env,
    ledger_counts,
    process_args,
    threaded_emulator,
)
from _polling import eventually_blocking

from symbl_async.batch import batch_webhook_token
from symbl_async.batch._ledger import SqliteLedger as Ledger


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("fixed_port", [True, False])
def test_a_killed_webhook_run_is_finished_by_its_rerun(
    fixed_port: bool, tmp_path: Path, cli: CliRun
) -> None:
    manifest = tmp_path / "batch.jsonl"
    # Two jobs end while no receiver is up; two still run when the rerun's receiver starts.
    durations = [2000, 2000, 12000, 12000]
    manifest.write_text("".join(
        json.dumps({"source": f"https://media.test/w{i}.mp3?emulator_duration={d}",
                    "duration": d}) + "\n"
        for i, d in enumerate(durations)
    ))
    out = tmp_path / "out"
    ledger = out / "ledger.sqlite3"
    port = free_port() if fixed_port else 0
    with threaded_emulator(limit=4) as emu:
        args = [*process_args(emu.url, out, "--manifest", str(manifest)),
                "--max-concurrent-jobs", "4", "--wait", "webhook", "--webhook-port", str(port),
                "--wait-timeout", "20"]
        proc = subprocess.Popen([*CLI, *args], cwd=tmp_path, env=child_env(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            eventually_blocking(lambda: ledger_counts(ledger).get("submitted") == 4, timeout=60)
        finally:
            proc.kill()
            proc.wait()
        token = batch_webhook_token(ledger)  # the killed run's, read back from its ledger
        eventually_blocking(lambda: emu.stats()["jobs_completed"] >= 2, timeout=60)
        before = emu.stats()
        assert before["active_jobs"] == 2
        done = cli(*args)
        stats = emu.stats()
    assert done.returncode == 0, done.stderr
    assert stats["jobs_submitted"] == 4 and not stats["duplicate_names"]
    assert before["webhooks_failed"] >= 2  # the ended jobs' webhooks found nobody
    if fixed_port:
        # The running jobs' webhooks reached the rerun's receiver (same port, same token)...
        assert stats["webhooks_sent"] - before["webhooks_sent"] >= 2
        assert stats["webhooks_failed"] == before["webhooks_failed"]
        assert "waited for by polling" not in done.stderr  # ...so nothing fell back to polls
    else:
        # Another port: their webhooks reach nobody; the rerun says so and polls them.
        assert stats["webhooks_failed"] - before["webhooks_failed"] >= 2
        assert "waited for by polling" in done.stderr
    assert ledger_counts(ledger).get("fetched") == 4
    with Ledger.open(ledger) as db:
        assert db.get_meta("webhook_token") == token
    assert token not in done.stdout + done.stderr
