"""``symbl-async process`` and ``status`` in subprocesses, against a standalone emulator.

Crash and resume: the command is SIGKILLed at several points of a batch and run again until
it succeeds; every item must end fetched, and no submit name may reach the service twice.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import signal
import sqlite3
import subprocess
import sys
import urllib.request
import wave
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from _polling import eventually_blocking

ROOT = Path(__file__).resolve().parents[2]
SCALE = 2000
CLI = [sys.executable, "-m", "symbl_async.cli._main"]


@attrs.frozen
class Standalone:
    url: str
    proc: subprocess.Popen[str]

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.url + "/_emulator/stats", timeout=5) as answer:
            stats: dict[str, Any] = json.load(answer)
        return stats


def env() -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SYMBL_APP_ID": "emulator-app-id",
        "SYMBL_APP_SECRET": "emulator-app-secret",
    }


@contextlib.contextmanager
def standalone_emulator(limit: int = 3) -> Iterator[Standalone]:
    proc = subprocess.Popen(
        [*CLI, "emulator", "--port", "0", "--concurrency-limit", str(limit),
         "--time-scale", str(SCALE)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env(),
    )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 20)
        assert ready, "the emulator printed nothing"
        line = proc.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert found and not found.group().endswith(":0"), line
        yield Standalone(found.group(), proc)
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def ledger_counts(path: Path) -> dict[str, int]:
    """Read the ledger the way another program would; empty while it does not exist yet."""
    if not path.exists():
        return {}
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)
        try:
            rows = conn.execute("SELECT state, COUNT(*) FROM items GROUP BY state").fetchall()
            started = conn.execute(
                "SELECT COUNT(*) FROM items WHERE submitted_at IS NOT NULL"
            ).fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return {}
    return {**dict(rows), "ever_submitted": started}


def run_cli(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], cwd=cwd, env=env(), capture_output=True, text=True, timeout=timeout
    )


def write_wav(path: Path, seconds: float) -> None:
    # 1 kHz, 8-bit mono keeps a minute of "audio" at 60 KB.
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(1000)
        w.writeframes(b"\x80" * int(seconds * 1000))


def write_manifest(path: Path, count: int, seconds: float, prefix: str = "m") -> None:
    rows = ["source,duration"]
    rows += [
        f"https://media.test/{prefix}{i}.mp3?emulator_duration={seconds:g},{seconds:g}"
        for i in range(count)
    ]
    path.write_text("\n".join(rows) + "\n")


def process_args(emu: Standalone, out: Path, *inputs: str) -> list[str]:
    return [
        "process", *inputs, "--out", str(out), "--max-concurrent-jobs", "3",
        "--base-url", emu.url, "--time-scale", str(SCALE), "--progress-interval", "0.2",
        # Submits to the local emulator land within milliseconds: a second of grace before
        # a lookup concludes "no job" is plenty, and keeps reruns after a kill quick.
        "--lookup-grace", "1",
    ]


def test_happy_path_writes_everything_and_status_counts_it(tmp_path: Path) -> None:
    media = tmp_path / "media"
    (media / "sub").mkdir(parents=True)
    write_wav(media / "a.wav", 40)
    write_wav(media / "sub" / "b.WAV", 20)
    (media / "notes.txt").write_text("not media: skipped when walking a folder")
    manifest = tmp_path / "list.csv"
    write_manifest(manifest, 2, 90)
    out = tmp_path / "out"
    with standalone_emulator() as emu:
        done = run_cli(
            *process_args(emu, out, str(media), "https://media.test/x.mp4?emulator_duration=30"),
            "--manifest", str(manifest), "--include", "messages,topics",
            "--confidence-threshold", "0.6", "--detect-phrases", cwd=tmp_path,
        )
        assert done.returncode == 0, done.stderr
        assert emu.stats()["jobs_submitted"] == 5
    assert "5 fetched" in done.stdout and "0 failed" in done.stdout
    assert "progress: " in done.stderr
    insights = sorted(out.glob("*.json"))
    insights.remove(out / "summary.json")
    assert len(insights) == 5
    assert set(json.loads(insights[0].read_text())) >= {"messages", "topics"}
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert sorted(line["status"] for line in lines) == ["fetched"] * 5
    assert json.loads((out / "summary.json").read_text())["fetched"] == 5

    status = run_cli("status", "--ledger", str(out / "ledger.sqlite3"), cwd=tmp_path)
    assert status.returncode == 0
    assert re.search(r"fetched\s+5\b", status.stdout) and re.search(r"total\s+5\b", status.stdout)
    as_json = run_cli("status", "--ledger", str(out / "ledger.sqlite3"), "--json", cwd=tmp_path)
    assert json.loads(as_json.stdout)["fetched"] == 5
    missing = run_cli("status", "--ledger", str(tmp_path / "nope.sqlite3"), cwd=tmp_path)
    assert missing.returncode == 2 and "no ledger" in missing.stderr


def test_bad_inputs_fail_alone_with_exit_1(tmp_path: Path) -> None:
    out = tmp_path / "out"
    missing = tmp_path / "missing.wav"
    manifest = tmp_path / "rows.csv"
    manifest.write_text(
        "source,duration\n"
        "https://media.test/3.mp3?emulator_duration=30,30\n"
        "https://media.test/4.mp3,not-a-number\n"
    )
    with standalone_emulator() as emu:
        done = run_cli(
            *process_args(emu, out, "https://media.test/1.mp3?emulator_duration=30", str(missing),
                          "https://media.test/2.mp3?emulator_duration=30"),
            "--manifest", str(manifest), cwd=tmp_path,
        )
    assert done.returncode == 1, done.stderr
    assert f"failed: {missing}: no such file or folder" in done.stderr
    assert f"failed: {manifest} line 3: duration: must be a number" in done.stderr
    assert "3 fetched" in done.stdout and "2 failed" in done.stdout
    assert f"{manifest} line 3" in done.stdout  # the summary lists the failures too
    assert len(list(out.glob("*.json"))) == 3 + 1  # three insights files and summary.json


@pytest.mark.parametrize(
    "flags",
    [
        ["--plan", "gold"],
        ["--max-concurrent-jobs", "0"],
        ["--confidence-threshold", "2"],
        ["--include", "messages,nope"],
        ["--options-json", "[1]"],
        ["--emulator", "--base-url", "http://127.0.0.1:9"],
        ["--plan", "free", "--max-concurrent-jobs", "3"],
        ["--webhook-port", "9000"],
        ["--wait", "hybrid", "--webhook-public-url", "ftp://hooks.example.net"],
        ["--wait", "sometimes"],
    ],
)
def test_bad_flags_exit_2(tmp_path: Path, flags: list[str]) -> None:
    done = run_cli("process", "https://media.test/a.mp3", "--out", str(tmp_path / "o"), *flags,
                   cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "error" in done.stderr


def test_an_unwritable_output_folder_stops_before_any_submit(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with standalone_emulator() as emu:
        done = run_cli(
            *process_args(emu, blocker / "out", "https://media.test/a.mp3"), cwd=tmp_path
        )
        assert emu.stats()["jobs_submitted"] == 0
    assert done.returncode == 2
    assert "--out" in done.stderr and "cannot write" in done.stderr


def kill_when(args: list[str], cwd: Path, condition: Callable[[], bool]) -> None:
    """Run the command and SIGKILL it as soon as ``condition`` holds (or it has ended)."""
    proc = subprocess.Popen(args, cwd=cwd, env=env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        eventually_blocking(lambda: proc.poll() is not None or condition())
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()


def test_crash_and_resume_processes_every_item_exactly_once(tmp_path: Path) -> None:
    manifest = tmp_path / "batch.jsonl"
    count = 30
    manifest.write_text(
        "".join(
            json.dumps({"source": f"https://media.test/c{i}.mp3?emulator_duration=600",
                        "duration": 600}) + "\n"
            for i in range(count)
        )
    )
    out = tmp_path / "out"
    ledger = out / "ledger.sqlite3"
    with standalone_emulator() as emu:
        args = [*CLI, *process_args(emu, out, "--manifest", str(manifest))]
        kill_points: list[Callable[[dict[str, int]], bool]] = [
            lambda c: c.get("submitting", 0) > 0,  # a submit on the wire, or about to be
            lambda c: c.get("ever_submitted", 0) >= 10,
            lambda c: c.get("submitting", 0) > 0 and c.get("ever_submitted", 0) >= 15,
            lambda c: c.get("fetched", 0) >= 20,
        ]
        for should_kill in kill_points:
            kill_when(args, tmp_path, lambda: should_kill(ledger_counts(ledger)))  # noqa: B023
        for _ in range(3):
            done = run_cli(*args[len(CLI):], cwd=tmp_path)
            if done.returncode == 0:
                break
        assert done.returncode == 0, done.stderr
        stats = emu.stats()
    counts = ledger_counts(ledger)
    assert counts.get("fetched") == count and sum(
        counts.get(s, 0) for s in ("pending", "submitting", "submitted", "completed", "failed")
    ) == 0
    names = stats["submits_by_name"]
    assert len(names) == count and set(names.values()) == {1}
    assert stats["jobs_submitted"] == count
    lines = (out / "results.jsonl").read_text().splitlines()
    assert len(lines) == count
    assert len(list(out.glob("*.json"))) == count + 1


def test_ctrl_c_stops_submitting_and_prints_the_resume_command(tmp_path: Path) -> None:
    manifest = tmp_path / "long.csv"
    write_manifest(manifest, 30, 1200)  # ~0.17 s per job: the batch takes ~1.7 s
    out = tmp_path / "out"
    ledger = out / "ledger.sqlite3"
    with standalone_emulator() as emu:
        args = process_args(emu, out, "--manifest", str(manifest))
        proc = subprocess.Popen([*CLI, *args], cwd=tmp_path, env=env(), text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            eventually_blocking(lambda: ledger_counts(ledger).get("ever_submitted", 0) >= 3)
            proc.send_signal(signal.SIGINT)
            _, stderr = proc.communicate(timeout=30)
        finally:
            proc.kill()
            proc.wait()
        assert proc.returncode == 130, stderr
        assert "Resume with:" in stderr and "symbl_async.cli._main process" in stderr
        assert "--manifest" in stderr.split("Resume with:")[1]
        counts = ledger_counts(ledger)
        assert counts.get("submitting", 0) == 0
        assert counts.get("fetched", 0) < 30
        done = run_cli(*args, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        names = emu.stats()["submits_by_name"]
    assert len(names) == 30 and set(names.values()) == {1}
    assert "30 input(s)" in done.stdout


def test_progress_display_draws_a_bar_on_a_terminal_and_lines_otherwise() -> None:
    import io

    from symbl_async.batch._results import BatchEvent, BatchProgress
    from symbl_async.cli._batch import ProgressDisplay

    progress = BatchProgress(read=10, input_done=True, submitted=6, running=3, limit=3,
                             fetched=4, failed=1, skipped=0, rejected_429=2, elapsed=50.0)
    tty = io.StringIO()
    bar = ProgressDisplay(tty, tty=True, interval=10)
    bar.on_event(BatchEvent(kind="result", progress=progress))
    bar.note("failed: x: boom")
    bar.finish()
    text = tty.getvalue()
    assert text.startswith("\r\x1b[K[")
    assert "done 5/10" in text and "running 3" in text and "429s 2" in text
    assert "ETA 50s" in text  # 5 left at 10 s per processed item
    assert "failed: x: boom\n" in text and text.endswith("\n")

    plain = io.StringIO()
    lines = ProgressDisplay(plain, tty=False, interval=3600)
    lines.on_event(BatchEvent(kind="read", progress=BatchProgress(read=1)))
    lines.on_event(BatchEvent(kind="read", progress=BatchProgress(read=2)))  # too soon
    lines.on_event(BatchEvent(kind="finished", progress=progress))
    assert plain.getvalue().count("progress: ") == 2 and "\r" not in plain.getvalue()
    assert "done 0/1+" in plain.getvalue()


def test_emulator_mode_runs_against_an_in_process_emulator(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = run_cli(
        "process", "https://media.test/e.mp3?emulator_duration=60", "--out", str(out),
        "--emulator", "--time-scale", str(SCALE), "--plan", "trial", cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "1 fetched" in done.stdout
    assert (out / "results.jsonl").read_text().count("\n") == 1


def test_webhook_waiting_through_the_cli(tmp_path: Path) -> None:
    """The standalone emulator calls the CLI's embedded receiver over real HTTP."""
    manifest = tmp_path / "batch.csv"
    write_manifest(manifest, 6, 120.0, prefix="hook")
    with standalone_emulator() as emu:
        done = run_cli(
            *process_args(emu, tmp_path / "out"), "--manifest", str(manifest), "--wait", "webhook",
            cwd=tmp_path,
        )
        stats = emu.stats()
    assert done.returncode == 0, done.stderr
    assert stats["jobs_submitted"] == 6
    assert stats["webhooks_sent"] >= 6 * 3  # scheduled, in_progress, completed per job
    # webhook mode never polls: the only job reads are the receiver's confirmations
    assert stats["job_status_requests"] == 6
    lines = (tmp_path / "out" / "results.jsonl").read_text().splitlines()
    assert [json.loads(line)["status"] for line in lines] == ["fetched"] * 6
