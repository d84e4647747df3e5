"""``symbl-async process`` and ``status`` in process (``main(argv)``), against an emulator.

The emulator runs in a thread (``_cli_support.threaded_emulator``); ``main`` runs in the
test's thread, as the console script would. Signals: ``test_cli_signals.py``.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
from pathlib import Path

import pytest
from _captions import check_srt, check_vtt
from _cli_support import (
    APP_SECRET,
    CliRun,
    process_args,
    threaded_emulator,
    write_manifest,
    write_wav,
)
from aioresponses import aioresponses

from symbl_async.batch._ledger import SqliteLedger as Ledger
from symbl_async.batch._results import BatchEvent, BatchProgress
from symbl_async.cli._progress import ProgressDisplay

SCALE = 2000


def test_happy_path_writes_everything_and_status_counts_it(tmp_path: Path, cli: CliRun) -> None:
    media = tmp_path / "media"
    (media / "sub").mkdir(parents=True)
    write_wav(media / "a.wav", 40)
    write_wav(media / "sub" / "b.WAV", 20)
    (media / "notes.md").write_text("not media: skipped when walking a folder")
    manifest = tmp_path / "list.csv"
    write_manifest(manifest, 2, 90)
    out = tmp_path / "out"
    with threaded_emulator() as emu:
        done = cli(
            *process_args(emu.url, out, str(media),
                          "https://media.test/x.mp4?emulator_duration=30"),
            "--manifest", str(manifest), "--include", "messages,topics",
            "--confidence-threshold", "0.6", "--detect-phrases",
        )
        assert done.returncode == 0, done.stderr
        assert emu.stats()["jobs_submitted"] == 5
    assert "5 fetched" in done.stdout and "0 failed" in done.stdout
    assert "progress: " in done.stderr
    # The notes were left out, said so, and are no reason to fail.
    assert "left out of folders: 1 not a supported media file (.md)" in done.stdout
    assert "skipped: " not in done.stdout
    insights = sorted(out.rglob("*.json"))
    insights.remove(out / "summary.json")
    assert len(insights) == 5
    # The folder's subfolder is mirrored: media/sub/b.WAV -> out/sub/b-<12 hex>.json.
    assert [p.parent for p in insights].count(out / "sub") == 1
    assert re.fullmatch(r"b-[0-9a-f]{12}\.json", next(out.glob("sub/*.json")).name)
    assert set(json.loads(insights[0].read_text())) >= {"messages", "topics"}
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert sorted(line["status"] for line in lines) == ["fetched"] * 5
    assert json.loads((out / "summary.json").read_text())["fetched"] == 5

    status = cli("status", "--ledger", str(out / "ledger.sqlite3"))
    assert status.returncode == 0
    assert re.search(r"fetched\s+5\b", status.stdout) and re.search(r"total\s+5\b", status.stdout)
    as_json = cli("status", "--ledger", str(out / "ledger.sqlite3"), "--json")
    assert json.loads(as_json.stdout)["fetched"] == 5
    missing = cli("status", "--ledger", str(tmp_path / "nope.sqlite3"))
    assert missing.returncode == 2 and "no ledger" in missing.stderr


def test_bad_inputs_fail_alone_with_exit_1(tmp_path: Path, cli: CliRun) -> None:
    out = tmp_path / "out"
    missing = tmp_path / "missing.wav"
    manifest = tmp_path / "rows.csv"
    manifest.write_text(
        "source,duration\n"
        "https://media.test/3.mp3?emulator_duration=30,30\n"
        "https://media.test/4.mp3,not-a-number\n"
    )
    with threaded_emulator() as emu:
        done = cli(
            *process_args(emu.url, out, "https://media.test/1.mp3?emulator_duration=30",
                          str(missing), "https://media.test/2.mp3?emulator_duration=30"),
            "--manifest", str(manifest),
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
        ["--include", " , "],
        ["--transcripts", "srt,pdf"],
        ["--transcripts", ","],
        ["--options-json", "[1]"],
        ["--options-json", "{not json"],
        ["--options-json", '{"confidenceThreshold": 7}'],
        ["--emulator", "--base-url", "http://127.0.0.1:9"],
        ["--plan", "free", "--max-concurrent-jobs", "3"],
        ["--webhook-port", "9000"],
        ["--wait", "hybrid", "--webhook-public-url", "ftp://hooks.example.net"],
        ["--wait", "sometimes"],
        ["--log-level", "LOUD"],
    ],
)
def test_bad_flags_exit_2(
    tmp_path: Path, cli: CliRun, capsys: pytest.CaptureFixture[str], flags: list[str]
) -> None:
    try:
        done = cli("process", "https://media.test/a.mp3", "--out", str(tmp_path / "o"), *flags)
        code, err = done.returncode, done.stderr
    except SystemExit as exc:  # argparse's own checks exit 2 from parse_args
        code, err = int(str(exc.code)), capsys.readouterr().err
    assert code == 2, err
    assert "error" in err


def test_no_input_at_all_is_a_usage_error(tmp_path: Path, cli: CliRun) -> None:
    done = cli("process", "--out", str(tmp_path / "o"))
    assert done.returncode == 2 and "give at least one INPUT" in done.stderr


def test_unreadable_manifest_and_ledger_stop_before_anything(tmp_path: Path, cli: CliRun) -> None:
    bad = cli("process", "--manifest", str(tmp_path / "none.csv"), "--out", str(tmp_path / "o"))
    assert bad.returncode == 2 and "--manifest" in bad.stderr
    not_sqlite = tmp_path / "x.sqlite3"
    not_sqlite.write_text("not a database")
    ledger = cli("process", "https://media.test/a.mp3", "--out", str(tmp_path / "o"),
                 "--ledger", str(not_sqlite))
    assert ledger.returncode == 2 and "--ledger" in ledger.stderr


def test_an_unwritable_output_folder_stops_before_any_submit(tmp_path: Path, cli: CliRun) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with threaded_emulator() as emu:
        done = cli(*process_args(emu.url, blocker / "out", "https://media.test/a.mp3"))
        assert emu.stats()["jobs_submitted"] == 0
    assert done.returncode == 2
    assert "--out" in done.stderr and "cannot write" in done.stderr


def test_a_base_url_with_a_path_is_said_to_look_wrong(tmp_path: Path, cli: CliRun) -> None:
    with threaded_emulator() as emu:
        done = cli(*process_args(emu.url + "/v1", tmp_path / "out", "https://media.test/a.mp3"))
        assert emu.stats()["jobs_submitted"] == 0
    assert done.returncode == 2
    # Refused before any request (core._checks.check_base_url), naming the path.
    assert "'/v1'" in done.stderr and "looks wrong" in done.stderr and "API root" in done.stderr
    assert done.stderr.count("\n") == 1  # one line, no traceback


def test_an_unreachable_server_is_one_line(tmp_path: Path, cli: CliRun) -> None:
    done = cli("process", "https://media.test/a.mp3", "--out", str(tmp_path / "o"),
               "--base-url", "http://127.0.0.1:9")
    assert done.returncode == 2
    assert "cannot connect to http://127.0.0.1:9" in done.stderr and "Traceback" not in done.stderr


def test_folders_report_what_they_left_out_and_exit_1(tmp_path: Path, cli: CliRun) -> None:
    media = tmp_path / "media"
    media.mkdir()
    write_wav(media / "ok.wav", 30)
    for name in ("talk.avi", "talk.webm", "talk.mkv", "notes.md", ".hidden.wav"):
        (media / name).write_bytes(b"x")
    os.symlink(tmp_path / "gone.wav", media / "dangling.wav")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    os.symlink(outside, media / "linked-folder")
    with threaded_emulator() as emu:
        done = cli(*process_args(emu.url, tmp_path / "out", str(media)))
        assert emu.stats()["jobs_submitted"] == 1
    assert done.returncode == 1, done.stderr
    assert "1 fetched" in done.stdout
    out = done.stdout
    for path, reason in [
        ("talk.avi", "not a supported media file (.avi)"),
        ("talk.webm", "not a supported media file (.webm)"),
        ("talk.mkv", "not a supported media file (.mkv)"),
        ("dangling.wav", "broken link"),
        ("linked-folder", "symlinked folder (not followed)"),
    ]:
        assert f"skipped: {media / path}: {reason}" in out
    assert "1 hidden" in out and "1 not a supported media file (.md)" in out
    assert "notes.md" not in out and "convert other recordings" in out


def test_a_folder_with_nothing_to_process_is_an_error(tmp_path: Path, cli: CliRun) -> None:
    media = tmp_path / "media"
    media.mkdir()
    (media / "readme.md").write_text("no recordings here")
    with threaded_emulator() as emu:
        done = cli(*process_args(emu.url, tmp_path / "out", str(media)))
    assert done.returncode == 1
    assert "no recordings found" in done.stderr
    assert "1 not a supported media file (.md)" in done.stdout


def test_status_reads_the_out_folder_and_writes_nothing(tmp_path: Path, cli: CliRun) -> None:
    out = tmp_path / "out"
    with threaded_emulator() as emu:
        done = cli(*process_args(emu.url, out, "https://media.test/s.mp3?emulator_duration=30"))
    assert done.returncode == 0, done.stderr
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.iterdir()}
    for flags in (["--out", str(out)], ["--ledger", str(out)], ["--json", "--out", str(out)]):
        status = cli("status", *flags)
        assert status.returncode == 0, status.stderr
        assert "fetched" in status.stdout
    after = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.iterdir()}
    assert after == before
    # A folder without a ledger is not created into one.
    empty = tmp_path / "empty"
    empty.mkdir()
    nothing = cli("status", "--out", str(empty))
    assert nothing.returncode == 2 and "no ledger" in nothing.stderr
    assert list(empty.iterdir()) == []
    assert cli("status", "--out", str(tmp_path / "absent")).returncode == 2
    assert not (tmp_path / "absent").exists()


def test_status_of_a_file_that_is_not_a_ledger(tmp_path: Path, cli: CliRun) -> None:
    other = tmp_path / "other.sqlite3"
    other.write_bytes(b"SQLite format 3\x00" + b"\x00" * 100)
    done = cli("status", "--ledger", str(other))
    assert done.returncode == 2 and "as a ledger" in done.stderr, done.stderr


def test_status_lists_failures(tmp_path: Path, cli: CliRun) -> None:
    out = tmp_path / "out"
    broken = [f"https://media.test/broken{i}.mp3?emulator_duration=30" for i in range(22)]
    with threaded_emulator(fail_inputs=frozenset(broken)) as emu:
        done = cli(*process_args(emu.url, out, *broken))
    assert done.returncode == 1
    status = cli("status", "--out", str(out))
    assert re.search(r"failed\s+22\b", status.stdout), status.stdout
    assert status.stdout.count("  failed: ") == 20
    assert "... and 2 more failed" in status.stdout


@pytest.mark.integration
def test_emulator_mode_runs_against_an_in_process_emulator(tmp_path: Path, cli: CliRun) -> None:
    out = tmp_path / "out"
    done = cli(
        "process", "https://media.test/e.mp3?emulator_duration=60", "--out", str(out),
        "--emulator", "--time-scale", str(SCALE), "--plan", "trial",
    )
    assert done.returncode == 0, done.stderr
    assert "1 fetched" in done.stdout
    assert (out / "results.jsonl").read_text().count("\n") == 1


def test_webhook_waiting_through_the_cli(tmp_path: Path, cli: CliRun) -> None:
    """The emulator calls the CLI's embedded receiver over real HTTP."""
    manifest = tmp_path / "batch.csv"
    write_manifest(manifest, 6, 120.0, prefix="hook")
    with threaded_emulator() as emu:
        done = cli(
            *process_args(emu.url, tmp_path / "out"), "--manifest", str(manifest),
            "--wait", "webhook",
        )
        stats = emu.stats()
    assert done.returncode == 0, done.stderr
    assert stats["jobs_submitted"] == 6
    assert stats["webhooks_sent"] >= 6 * 3  # scheduled, in_progress, completed per job
    # webhook mode never polls: the only job reads are the receiver's confirmations
    assert stats["job_status_requests"] == 6
    lines = (tmp_path / "out" / "results.jsonl").read_text().splitlines()
    assert [json.loads(line)["status"] for line in lines] == ["fetched"] * 6


def test_a_busy_webhook_port_is_a_usage_error(tmp_path: Path, cli: CliRun) -> None:
    import socket

    with socket.socket() as busy, threaded_emulator() as emu:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = cli(*process_args(emu.url, tmp_path / "out", "https://media.test/a.mp3"),
                   "--wait", "hybrid", "--webhook-port", str(port))
    assert done.returncode == 2 and "cannot start the webhook receiver" in done.stderr


def test_verbose_and_log_level_log_the_package_to_stderr(tmp_path: Path, cli: CliRun) -> None:
    package = logging.getLogger("symbl_async")
    with threaded_emulator() as emu:
        quiet = cli(*process_args(emu.url, tmp_path / "a", "https://media.test/q.mp3"))
        assert package.level == logging.WARNING
        loud = cli("-v", *process_args(emu.url, tmp_path / "b", "https://media.test/q.mp3"))
        assert package.level == logging.INFO
        debug = cli(*process_args(emu.url, tmp_path / "c", "https://media.test/q.mp3"),
                    "-vv")
        assert package.level == logging.DEBUG
        named = cli(*process_args(emu.url, tmp_path / "d", "https://media.test/q.mp3"),
                    "--log-level", "debug")
        assert package.level == logging.DEBUG
    assert {quiet.returncode, loud.returncode, debug.returncode, named.returncode} == {0}
    assert " DEBUG symbl_async." not in quiet.stderr + loud.stderr
    assert " DEBUG symbl_async.transport" in debug.stderr and " DEBUG " in named.stderr
    assert "emulator-app-secret" not in debug.stderr + named.stderr
    assert len(package.handlers) == 1  # one handler, however often main() runs


# -- the progress display (pure) ----------------------------------------------------------

PROGRESS = BatchProgress(read=10, input_done=True, submitted=6, running=3, limit=3,
                         fetched=4, failed=1, skipped=0, rejected_429=2, elapsed=50.0)


def test_progress_display_draws_a_bar_on_a_terminal_and_lines_otherwise() -> None:
    tty = io.StringIO()
    bar = ProgressDisplay(tty, tty=True, interval=10, columns=lambda: 200)
    bar.on_event(BatchEvent(kind="result", progress=PROGRESS))
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
    lines.on_event(BatchEvent(kind="finished", progress=PROGRESS))
    assert plain.getvalue().count("progress: ") == 2 and "\r" not in plain.getvalue()
    assert "done 0/1+" in plain.getvalue()


@pytest.mark.parametrize("columns", [20, 40, 60, 80, 100, 120, 200])
def test_the_bar_never_wraps_at_any_terminal_width(columns: int) -> None:
    stream = io.StringIO()
    display = ProgressDisplay(stream, tty=True, interval=10, columns=lambda: columns)
    long = BatchProgress(read=123456, input_done=True, submitted=99999, running=50, limit=50,
                         fetched=88888, failed=777, skipped=6666, rejected_429=12345,
                         elapsed=98765.0)
    for progress in (PROGRESS, long):
        display.on_event(BatchEvent(kind="finished", progress=progress))
        drawn = stream.getvalue().rsplit("\r\x1b[K", 1)[1]
        assert len(drawn) <= columns - 1, drawn
        assert drawn.startswith(("[", "done")) or columns < 20
        assert "done " in drawn
    wide = stream.getvalue().rsplit("\r\x1b[K", 1)[1]
    if columns >= 200:
        assert "elapsed" in wide and wide.startswith("[")  # room for everything
    if columns == 80:
        assert "failed 777" in wide  # important counters stay at 80 columns


def test_the_bar_follows_a_resized_terminal() -> None:
    width = [200]
    stream = io.StringIO()
    display = ProgressDisplay(stream, tty=True, interval=10, columns=lambda: width[0])
    display.on_event(BatchEvent(kind="finished", progress=PROGRESS))
    width[0] = 30
    display.note("resized")
    assert len(stream.getvalue().rsplit("\r\x1b[K", 1)[1]) <= 29


@pytest.mark.parametrize(
    ("base", "hint"),
    # A path that is not an API path (a proxy prefix, say) is allowed, so only a refusal
    # of the credentials can tell it is wrong; '/v1' itself is refused earlier.
    [("https://api.example.test", False), ("https://api.example.test/proxy", True)],
)
def test_refused_credentials_stop_before_any_submit(
    tmp_path: Path, cli: CliRun, base: str, hint: bool
) -> None:
    # Scripted: a base URL with a path (not the emulator's) must be refused too.
    with aioresponses() as mocked:
        mocked.post(f"{base}/oauth2/token:generate", status=401,
                    payload={"message": "Invalid appId or appSecret"}, repeat=True)
        done = cli("process", "https://media.test/a.mp3", "--out", str(tmp_path / "o"),
                   "--base-url", base)
        submits = [key for key in mocked.requests if "/v1/process" in str(key[1])]
    assert done.returncode == 2
    *warnings, error = done.stderr.splitlines()
    assert error.startswith(f"symbl-async process: error: credentials refused by {base}")
    assert ("looks wrong" in error) is hint
    # The one extra line a path may bring is the client's own warning about it.
    assert len(warnings) == int(hint) and submits == []
    assert all("WARNING" in line and "has a path" in line for line in warnings)
    assert APP_SECRET not in done.stderr


def test_status_reads_a_ledger_that_a_run_holds_open(tmp_path: Path, cli: CliRun) -> None:
    out = tmp_path / "out"
    with threaded_emulator() as emu:
        done = cli(*process_args(emu.url, out, "https://media.test/w.mp3?emulator_duration=30"))
    assert done.returncode == 0, done.stderr
    # A writer holds the ledger (as a running batch does): its -wal and -shm exist.
    with Ledger.open(out / "ledger.sqlite3"):
        assert (out / "ledger.sqlite3-wal").exists()
        status = cli("status", "--out", str(out), "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["fetched"] == 1


def test_log_lines_do_not_glue_onto_the_bar() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("symbl_async.test_progress_logging")
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    logger.propagate = False
    try:
        display = ProgressDisplay(stream, tty=True, interval=10, columns=lambda: 100)
        with display.logging_around(logger):
            display.on_event(BatchEvent(kind="finished", progress=PROGRESS))
            logger.warning("something to say")
        logger.warning("after the run")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    text = stream.getvalue()
    # The bar line is cleared before the log line, so the message starts a line.
    assert "\r\x1b[Ksomething to say\n" in text
    assert text.endswith("something to say\nafter the run\n")  # the filter left with it
    assert not handler.filters


def test_a_rerun_with_another_flag_is_refused_and_reprocess_says_what_it_costs(
    tmp_path: Path, cli: CliRun
) -> None:
    out = tmp_path / "out"
    url = "https://media.test/r.mp3?emulator_duration=30"
    with threaded_emulator() as emu:
        assert cli(*process_args(emu.url, out, url)).returncode == 0
        refused = cli(*process_args(emu.url, out, url), "--enable-summary")
        assert emu.stats()["jobs_submitted"] == 1
        again = cli(*process_args(emu.url, out, url), "--enable-summary", "--reprocess")
        assert emu.stats()["jobs_submitted"] == 2
    assert refused.returncode == 2
    assert "--enable-summary" in refused.stderr and "--reprocess" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert again.returncode == 0, again.stderr


def test_file_names_that_are_not_utf8_are_processed_like_any_other(
    tmp_path: Path, cli: CliRun
) -> None:
    # Linux file names are bytes: Python keeps bytes that are not UTF-8 as surrogates,
    # which neither SQLite nor a UTF-8 results file takes. Such a file crashed the ledger
    # (no results line, no summary); with a duplicate input, the run exited 0 a line short.
    media = tmp_path / "media"
    media.mkdir()
    odd = os.fsdecode(b"caf\xe9-\xff.wav")
    write_wav(media / odd, 20)
    (media / os.fsdecode(b"notes-\xfe.md")).write_text("not media")
    out = tmp_path / "out"
    with threaded_emulator() as emu:
        done = cli(*process_args(emu.url, out, str(media), str(media / odd)))
        assert done.returncode == 0, done.stderr
        assert emu.stats()["jobs_submitted"] == 1
        again = cli(*process_args(emu.url, out, str(media)))
        assert again.returncode == 0, again.stderr
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [line["status"] for line in lines] == ["skipped"]
    assert lines[0]["source"].endswith("caf\\xe9-\\xff.wav")
    assert "Traceback" not in done.stderr + again.stderr
    assert "2 input(s): 2 fetched" in done.stdout and "1 duplicate" in done.stdout
    assert json.loads((out / "summary.json").read_text())["skipped"] == 1


def test_ctrl_c_works_where_the_loop_has_no_signal_handlers(
    tmp_path: Path, cli: CliRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Windows' event loops raise NotImplementedError from add_signal_handler (the run
    # crashed there); a plain signal handler hands Ctrl-C to the loop instead.
    import asyncio
    import signal
    import threading

    def unsupported(*_: object) -> None:
        raise NotImplementedError

    monkeypatch.setattr(asyncio.SelectorEventLoop, "add_signal_handler", unsupported)
    manifest = tmp_path / "long.csv"
    write_manifest(manifest, 30, 1200)
    out = tmp_path / "out"
    # Ctrl-C at its default, as from a terminal: a runner started under nohup or in the
    # background has it ignored, and the CLI keeps an ignored signal ignored.
    outer = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with threaded_emulator() as emu:
            submitted = threading.Event()

            def interrupt() -> None:
                while emu.stats()["jobs_submitted"] < 3:
                    if submitted.wait(0.01):
                        return
                signal.raise_signal(signal.SIGINT)

            sender = threading.Thread(target=interrupt)
            sender.start()
            try:
                done = cli(*process_args(emu.url, out, "--manifest", str(manifest)))
            finally:
                submitted.set()
                sender.join()
            sent = emu.stats()["jobs_submitted"]
        assert done.returncode == 130, done.stderr
        assert "Resume with:" in done.stderr and sent < 30
        # given back after the run
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, outer)


def test_the_progress_line_moves_while_jobs_run(tmp_path: Path, cli: CliRun) -> None:
    # Two long recordings: they are submitted at once and take a while. The line used to
    # read "submitted 0, running 0, elapsed 0s, ETA ?" until the first job ended.
    out = tmp_path / "out"
    manifest = tmp_path / "two.csv"
    write_manifest(manifest, 2, 1200)  # lengths known: the ETA is the prior's guess at once
    with threaded_emulator(2, scale=100) as emu:
        done = cli(*process_args(emu.url, out, "--manifest", str(manifest)),
                   "--time-scale", "100")
        assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("progress: ")]
    waiting = [line for line in lines if "done 0/2" in line and "submitted 2" in line]
    assert waiting, lines  # counted the moment they changed, not when a job ended
    assert any("running 2" in line and "ETA ~" in line for line in waiting), waiting
    # Elapsed time ticks while nothing else happens.
    assert len({line.rsplit("elapsed ", 1)[1].split(",")[0] for line in waiting}) >= 2, waiting


def test_folders_of_recordings_and_conversations_with_transcripts_and_a_csv(
    tmp_path: Path, cli: CliRun
) -> None:
    meetings = tmp_path / "meetings"
    for day, seconds in (("mon", 40), ("tue", 20)):
        (meetings / day).mkdir(parents=True)
        write_wav(meetings / day / "standup.wav", seconds)
    (meetings / "mon" / "chat.txt").write_text(
        "Ana: Can you send the pricing sheet tomorrow?\nBen: Sure.\nBy noon.\n")
    (meetings / "tue" / "chat.json").write_text(json.dumps(
        [{"speaker": "Cy", "text": "Let's review the budget on Friday."}]))
    (meetings / "settings.json").write_text('{"theme": "dark"}')
    manifest = tmp_path / "more.csv"
    manifest.write_text("source,kind\nnotes/call.txt,text\n")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "call.txt").write_text("Di: Ship it on Monday.\n")
    out = tmp_path / "out"
    with threaded_emulator() as emu:
        done = cli(*process_args(emu.url, out, str(meetings)), "--manifest", str(manifest),
                   "--transcripts", "srt,vtt")
        assert done.returncode == 0, done.stderr
        assert emu.stats()["jobs_submitted"] == 5
        assert "5 fetched" in done.stdout
        assert "1 JSON without messages" in done.stdout  # said, and no reason to fail
        insights = sorted(p.relative_to(out).as_posix() for p in out.rglob("*-*.json"))
        assert [re.sub(r"-[0-9a-f]{12}\.json$", "", p) for p in insights] == [
            "mon/chat", "mon/standup", "notes/call", "tue/chat", "tue/standup"]
        for path in out.rglob("*-*.json"):
            check_srt(path.with_suffix(".srt").read_text())
            check_vtt(path.with_suffix(".vtt").read_text())
            assert not path.with_suffix(".md").exists()
        with (out / "results.csv").open(encoding="utf-8-sig", newline="") as f:
            table = list(csv.DictReader(f))
        assert sorted(Path(row["input"]).name for row in table) == [
            "call.txt", "chat.json", "chat.txt", "standup.wav", "standup.wav"]
        assert {row["status"] for row in table} == {"fetched"}
        assert all(int(row["messages"]) > 0 for row in table)
        minutes = sorted(row["media_minutes"] for row in table if row["input"].endswith(".wav"))
        assert minutes == ["0.333", "0.667"]

        # More transcripts on a rerun: fetched for the finished items, none paid again.
        again = cli(*process_args(emu.url, out, str(meetings)), "--manifest", str(manifest),
                    "--transcripts", "all")
        assert again.returncode == 0, again.stderr
        assert emu.stats()["jobs_submitted"] == 5
        assert "5 fetched" in again.stdout
        for path in out.rglob("*-*.json"):
            assert path.with_suffix(".md").read_text().strip()
            assert path.with_suffix(".txt").read_text().strip()
        done_again = cli(*process_args(emu.url, out, str(meetings)), "--manifest",
                         str(manifest), "--transcripts", "all")
        assert "5 skipped" in done_again.stdout
