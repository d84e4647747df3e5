"""``symbl-async process`` as a child process, for what needs one: signals.

Crash and resume: the command is SIGKILLed at several points of a batch and run again until
it succeeds; every item must end fetched, and no submit name may reach the service twice.
Ctrl-C (SIGINT) and SIGTERM stop submitting and print the command that resumes; so does a
terminal that closes (SIGHUP), whose streams then go nowhere. The emulator runs in
a thread of the test process; the rest of the CLI is tested in process
(``test_process_cli.py``), and so is the signal handler's second signal (it quits the
process at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from _cli_support import (
    CLI,
    as_from_a_terminal,
    child_env,
    ledger_counts,
    process_args,
    run_child,
    threaded_emulator,
    write_manifest,
)
from _polling import eventually_blocking

from symbl_async.cli._batch import EXIT_HUNG_UP, StopSignals
from symbl_async.cli._progress import ProgressDisplay


def kill_when(args: list[str], cwd: Path, condition: Callable[[], bool]) -> None:
    """Run the command and SIGKILL it as soon as ``condition`` holds (or it has ended)."""
    proc = subprocess.Popen(args, cwd=cwd, env=child_env(), stdout=subprocess.DEVNULL,
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
    with threaded_emulator() as emu:
        args = [*CLI, *process_args(emu.url, out, "--manifest", str(manifest))]
        kill_points: list[Callable[[dict[str, int]], bool]] = [
            lambda c: c.get("submitting", 0) > 0,  # a submit on the wire, or about to be
            lambda c: c.get("ever_submitted", 0) >= 10,
            lambda c: c.get("submitting", 0) > 0 and c.get("ever_submitted", 0) >= 15,
            lambda c: c.get("fetched", 0) >= 20,
        ]
        for should_kill in kill_points:
            kill_when(args, tmp_path, lambda: should_kill(ledger_counts(ledger)))  # noqa: B023
        for _ in range(3):
            done = run_child(*args[len(CLI):], cwd=tmp_path)
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


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)],
                         ids=["ctrl-c", "sigterm"])
def test_a_stop_signal_stops_submitting_ends_cleanly_and_prints_the_resume_command(
    tmp_path: Path, signum: signal.Signals, status: int
) -> None:
    # SIGTERM is how containers, systemd and Kubernetes stop a process: it gets what
    # Ctrl-C gets (its default ended the process as a SIGKILL does, with no results or
    # summary written).
    manifest = tmp_path / "long.csv"
    write_manifest(manifest, 30, 1200)  # ~0.17 s per job: the batch takes ~1.7 s
    out = tmp_path / "out"
    ledger = out / "ledger.sqlite3"
    with threaded_emulator() as emu:
        args = process_args(emu.url, out, "--manifest", str(manifest))
        proc = subprocess.Popen(as_from_a_terminal([*CLI, *args]), cwd=tmp_path,
                                env=child_env(), text=True, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        try:
            eventually_blocking(lambda: ledger_counts(ledger).get("ever_submitted", 0) >= 3)
            proc.send_signal(signum)
            stdout, stderr = proc.communicate(timeout=30)
        finally:
            proc.kill()
            proc.wait()
        assert proc.returncode == status, stderr
        assert "no new submits" in stderr
        assert "Resume with:" in stderr and "symbl_async.cli._main process" in stderr
        assert "--manifest" in stderr.split("Resume with:")[1]
        # Ended as a run ends: its report, results and summary written, nothing partial.
        assert "job(s) submitted" in stdout
        summary = json.loads((out / "summary.json").read_text())
        assert summary["interrupted"] is True
        assert (out / "results.jsonl").is_file() and not list(out.glob("*.partial"))
        counts = ledger_counts(ledger)
        assert counts.get("submitting", 0) == 0
        assert counts.get("fetched", 0) < 30
        done = run_child(*args, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        names = emu.stats()["submits_by_name"]
    assert len(names) == 30 and set(names.values()) == {1}
    assert "30 input(s)" in done.stdout


@pytest.mark.skipif(os.name == "nt", reason="os.kill cannot deliver SIGTERM to a handler")
async def test_stop_signals_reach_the_loop_and_a_second_one_quits_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # In this process: the signals themselves (os.kill), then the second's os._exit.
    stopped = asyncio.Event()
    stops: list[None] = []

    def stop() -> None:
        stops.append(None)
        stopped.set()

    text = io.StringIO()
    stopper = StopSignals(ProgressDisplay(text, tty=False, interval=60), stop, "resume-me")
    def own(signum: int, frame: object) -> None:  # a program's own, calling main(argv)
        raise AssertionError("the program's handler ran during the batch")

    before = signal.signal(signal.SIGTERM, own)
    try:
        undo = stopper.install()
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            await asyncio.wait_for(stopped.wait(), 10)
        finally:
            undo()
        assert signal.getsignal(signal.SIGTERM) is own  # given back as it was
    finally:
        signal.signal(signal.SIGTERM, before)
    assert stops == [None] and stopper.exit_status == 143
    assert "SIGTERM: no new submits" in text.getvalue()

    quits: list[int] = []

    def fake_exit(status: int) -> None:
        quits.append(status)

    monkeypatch.setattr(os, "_exit", fake_exit)
    stopper.received("Ctrl-C", 130)  # the second: at once, with its own status
    assert quits == [130] and stops == [None]
    assert "quitting now; the ledger is consistent. Resume with:\n  resume-me" in text.getvalue()


# The child takes the pty as its controlling terminal (a new session, then TIOCSCTTY),
# then becomes the CLI: closing the pty's master side is the terminal closing.
_ON_A_TERMINAL = "import fcntl, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); "


@pytest.mark.skipif(os.name == "nt", reason="no SIGHUP or pseudo-terminals on Windows")
def test_a_closed_terminal_ends_the_run_cleanly_as_sigterm_does(tmp_path: Path) -> None:
    # An SSH session that drops, a terminal window closed: SIGHUP, and every write to the
    # terminal fails from then on. Its default ended the run as a SIGKILL does.
    import pty

    manifest = tmp_path / "long.csv"
    write_manifest(manifest, 30, 1200)
    out = tmp_path / "out"
    ledger = out / "ledger.sqlite3"
    with threaded_emulator() as emu:
        args = process_args(emu.url, out, "--manifest", str(manifest))
        master, child_side = pty.openpty()
        seen = bytearray()

        def drain() -> None:  # what the terminal shows, until it is closed
            with contextlib.suppress(OSError):
                while chunk := os.read(master, 4096):
                    seen.extend(chunk)

        proc = subprocess.Popen(
            as_from_a_terminal([*CLI, *args], before=_ON_A_TERMINAL), cwd=tmp_path,
            env=child_env(), stdin=child_side, stdout=child_side, stderr=child_side,
            start_new_session=True)
        os.close(child_side)
        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        try:
            eventually_blocking(lambda: ledger_counts(ledger).get("ever_submitted", 0) >= 3)
            eventually_blocking(lambda: b"submitted" in bytes(seen))  # its bar, drawn there
            os.close(master)  # the terminal closes: the kernel sends SIGHUP
            proc.wait(timeout=30)
        finally:
            proc.kill()
            proc.wait()
        assert proc.returncode == EXIT_HUNG_UP
        summary = json.loads((out / "summary.json").read_text())
        assert summary["interrupted"] is True
        assert (out / "results.jsonl").is_file() and not list(out.glob("*.partial"))
        counts = ledger_counts(ledger)
        assert counts.get("submitting", 0) == 0 and counts.get("fetched", 0) < 30
        done = run_child(*args, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        names = emu.stats()["submits_by_name"]
    assert len(names) == 30 and set(names.values()) == {1}


@pytest.mark.skipif(os.name == "nt", reason="no SIGHUP on Windows")
async def test_a_signal_ignored_before_the_run_stays_ignored() -> None:
    # nohup ignores SIGHUP, a script's "cmd &" SIGINT: they are meant to outlive the
    # terminal and its Ctrl-C. Python keeps an ignored SIGINT ignored; so does the batch.
    stops: list[None] = []
    handled = asyncio.Event()
    text = io.StringIO()
    stopper = StopSignals(ProgressDisplay(text, tty=False, interval=60),
                          lambda: stops.append(None), "resume-me")
    before = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGHUP, signal.SIGINT)}
    try:
        undo = stopper.install()
        try:
            os.kill(os.getpid(), signal.SIGHUP)
            os.kill(os.getpid(), signal.SIGINT)
            # A signal handled by the loop would run before this callback's turn.
            asyncio.get_running_loop().call_soon(handled.set)
            await asyncio.wait_for(handled.wait(), 10)
            await asyncio.sleep(0)
        finally:
            undo()
        assert all(signal.getsignal(s) is signal.SIG_IGN for s in before)
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)
    assert stops == [] and text.getvalue() == ""


@pytest.mark.skipif(os.name == "nt", reason="no SIGHUP on Windows")
def test_the_signal_tests_start_their_children_as_a_terminal_would() -> None:
    # The tests above deliver SIGINT and SIGHUP to a child; started under nohup or as a CI
    # script's background job, the runner (and so each child) has them ignored, and the
    # CLI keeps them ignored (the test above): the children must start from the defaults.
    look = ("import signal; print(signal.getsignal(signal.SIGINT) is signal.default_int_handler,"
            " signal.getsignal(signal.SIGHUP) is signal.SIG_DFL)")
    before = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGHUP, signal.SIGINT)}
    try:
        plain = subprocess.run([sys.executable, "-c", look], capture_output=True, text=True,
                               timeout=60)
        started = subprocess.run(as_from_a_terminal([sys.executable, "-c", look]),
                                 capture_output=True, text=True, timeout=60)
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)
    assert plain.stdout.split() == ["False", "False"]  # what the runner passes on
    assert started.stdout.split() == ["True", "True"], started.stderr


class _HungUp(io.StringIO):
    """A terminal that has hung up: every write fails, as a pty's does (EIO)."""

    writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        raise OSError(5, "Input/output error")


@pytest.mark.parametrize("tty", [True, False], ids=["bar", "lines"])
def test_the_progress_display_goes_quiet_when_its_terminal_is_gone(tty: bool) -> None:
    from symbl_async.batch._results import BatchProgress

    stream = _HungUp()
    display = ProgressDisplay(stream, tty=tty, interval=0)
    display.show(BatchProgress())  # the write fails: no error for the batch
    display.note("SIGHUP: no new submits")
    display.show(BatchProgress(), final=True)
    display.finish()
    assert stream.writes == 1  # and nothing more is tried
