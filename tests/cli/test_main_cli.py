"""``symbl-async demo``, ``emulator`` and the top-level flags, in process (``main(argv)``)."""

from __future__ import annotations

import gc
import json
import socket
import sys
from pathlib import Path
from typing import Any

import pytest
from _cli_support import CliRun

import symbl_async.emulator
from symbl_async import __version__
from symbl_async.cli import _main, main
from symbl_async.emulator import EmulatorConfig


@pytest.mark.integration
def test_demo_processes_the_bundled_set_and_says_it_is_synthetic(
    tmp_path: Path, cli: CliRun
) -> None:
    out = tmp_path / "insights"
    done = cli("demo", "--out", str(out), "--time-scale", "5000")
    assert done.returncode == 0, done.stderr
    files = sorted(p.name for p in out.glob("*.json"))
    assert files == ["audio-file.json", "audio-url.json", "text.json", "video-file.json"]
    text = json.loads((out / "text.json").read_text())
    assert text["messages"]
    assert "Processed 4 conversations" in done.stdout
    assert "== text (conversation " in done.stdout and "talk time:" in done.stdout
    # Made-up content is said to be made up, with the one command for the real service.
    assert "synthetic" in done.stdout and "emulator" in done.stdout
    assert "SYMBL_APP_ID=<app id> SYMBL_APP_SECRET=<app secret> symbl-async process" in (
        done.stdout
    )


def test_demo_out_that_is_a_file_is_one_line(tmp_path: Path, cli: CliRun) -> None:
    existing = tmp_path / "taken"
    existing.write_text("mine")
    done = cli("demo", "--out", str(existing))
    assert done.returncode == 2
    assert done.stderr == f"symbl-async demo: error: --out {str(existing)!r} exists and is " \
        "not a folder\n"
    assert existing.read_text() == "mine"


def test_demo_out_that_cannot_be_created_is_one_line(tmp_path: Path, cli: CliRun) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    done = cli("demo", "--out", str(blocker / "sub"), "--time-scale", "5000")
    assert done.returncode == 1
    assert done.stderr.startswith("symbl-async demo: error: cannot write to ")
    assert done.stderr.count("\n") == 1


def test_emulator_flags_become_its_config(
    cli: CliRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}

    async def fake_run_standalone(config: EmulatorConfig, host: str, port: int) -> None:
        seen.update(config=config, host=host, port=port)
        raise KeyboardInterrupt  # what Ctrl-C does to the real one

    monkeypatch.setattr(symbl_async.emulator, "run_standalone", fake_run_standalone)
    done = cli(
        "emulator", "--host", "0.0.0.0", "--port", "0", "--concurrency-limit", "7",
        "--time-scale", "10", "--token-lifetime", "60", "--webhook-drop-rate", "0.25",
        "--webhook-duplicate-rate", "0.5", "--seed", "3",
    )
    assert done.returncode == 0
    assert done.stderr == "emulator stopped\n"
    assert seen["host"] == "0.0.0.0" and seen["port"] == 0
    config = seen["config"]
    assert (config.concurrency_limit, config.time_scale, config.token_lifetime) == (7, 10, 60)
    assert (config.webhook_drop_rate, config.webhook_duplicate_rate, config.seed) == (
        0.25, 0.5, 3,
    )
    defaults = cli("emulator")
    assert defaults.returncode == 0
    assert seen["port"] == 8080 and seen["config"].concurrency_limit == 50


@pytest.mark.integration
def test_emulator_on_a_busy_port_is_one_line(cli: CliRun) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = cli("emulator", "--port", str(port))
    assert done.returncode == 2
    assert done.stderr.startswith(f"symbl-async emulator: error: cannot listen on 127.0.0.1:{port}")
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["nope"],
        ["emulator", "--port", "70000"],
        ["emulator", "--port", "http"],
        ["emulator", "--concurrency-limit", "0"],
        ["emulator", "--time-scale", "nan"],
        ["emulator", "--webhook-drop-rate", "1.5"],
        ["demo", "--time-scale", "0"],
        ["status"],
        ["status", "--out", "a", "--ledger", "b"],
        ["--log-level", "LOUD", "status", "--out", "a"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"symbl_async {__version__}"


def test_the_console_script_tunes_the_collector_for_a_batch_and_a_caller_keeps_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[object] = []
    loops: list[object] = []

    def batch(args: object, given: object, loop: object) -> int:
        loops.append(loop)
        return 0

    monkeypatch.setattr(_main, "run_batch_command", batch)
    monkeypatch.setattr(_main, "loop_factory", lambda: "the chosen loop")
    monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze"))
    monkeypatch.setattr(gc, "set_threshold", lambda *limits: calls.append(limits))
    argv = ["process", "https://media.test/a.mp3", "--out", "out"]
    assert main(argv) == 0  # a program calling main(argv) keeps its collector as it was
    assert calls == [] and loops == [None]  # and asyncio's loop
    monkeypatch.setattr(sys, "argv", ["symbl-async", *argv])
    assert main() == 0  # the console script: the batch's process is its own
    assert calls == ["freeze", (20_000,)] and loops == [None, "the chosen loop"]
