"""The console script's event loop (``symbl_async.cli._loop``): uvloop when installed,
asyncio's own when asked (``SYMBL_ASYNC_EVENT_LOOP``) or when uvloop is missing, a clear
error for a choice this machine cannot run; a program that calls ``main()`` keeps asyncio's.

The other tests' child processes (``tests/cli``) run on uvloop, as users' do; the demo below
runs on both loops end to end."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import types
from pathlib import Path

import pytest
from _cli_support import CLI, child_env

from symbl_async.cli import _main, main
from symbl_async.cli._loop import ENV_VAR, LoopChoiceError, loop_factory, run


async def _loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


def _fake_uvloop(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    fake = types.ModuleType("uvloop")
    fake.new_event_loop = asyncio.new_event_loop  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "uvloop", fake)
    return fake


def _no_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop: ImportError


def test_uvloop_is_chosen_when_installed_and_nothing_is_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = _fake_uvloop(monkeypatch)
    assert loop_factory({}) is fake.new_event_loop
    assert loop_factory({ENV_VAR: ""}) is fake.new_event_loop
    assert loop_factory({ENV_VAR: " UVLoop "}) is fake.new_event_loop


def test_asyncio_is_chosen_when_asked_or_when_uvloop_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _fake_uvloop(monkeypatch)
    assert loop_factory({ENV_VAR: "asyncio"}) is None
    _no_uvloop(monkeypatch)
    assert loop_factory({}) is None
    assert loop_factory({ENV_VAR: "asyncio"}) is None


def test_a_loop_this_machine_cannot_run_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _no_uvloop(monkeypatch)
    with pytest.raises(LoopChoiceError, match=r"SYMBL_ASYNC_EVENT_LOOP=uvloop, but uvloop "
                       r"is not installed: pip install 'symbl_async\[speedups\]'"):
        loop_factory({ENV_VAR: "uvloop"})
    with pytest.raises(LoopChoiceError, match=r"SYMBL_ASYNC_EVENT_LOOP='trio': must be "
                       r"'asyncio' or 'uvloop'"):
        loop_factory({ENV_VAR: "trio"})


def test_run_runs_on_the_loop_chosen() -> None:
    assert run(_loop_module()).startswith("asyncio.")  # unix_events, windows_events
    assert run(_loop_module(), None).startswith("asyncio.")
    made: list[asyncio.AbstractEventLoop] = []

    def factory() -> asyncio.AbstractEventLoop:
        made.append(asyncio.new_event_loop())
        return made[-1]

    # Python 3.10 has no asyncio.Runner: run() hands the factory to uvloop's run there.
    if sys.version_info >= (3, 11):
        assert run(_loop_module(), factory).startswith("asyncio.")
        assert len(made) == 1 and made[0].is_closed()  # closed, as asyncio.run closes its own


def test_run_runs_on_uvloop_when_it_is_chosen() -> None:
    uvloop = pytest.importorskip("uvloop", reason="uvloop has no Windows build")
    factory = loop_factory({})
    assert factory is uvloop.new_event_loop
    assert run(_loop_module(), factory) == "uvloop"


def test_the_console_script_refuses_a_bad_choice_before_doing_anything(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(ENV_VAR, "trio")
    monkeypatch.setattr(sys, "argv", ["symbl-async", "process", "--out", str(tmp_path / "o"),
                                      "https://media.test/a.mp3"])
    assert main() == 2
    err = capsys.readouterr().err
    assert err.startswith("symbl-async process: error: SYMBL_ASYNC_EVENT_LOOP='trio'")
    assert not (tmp_path / "o").exists()  # nothing done: no output folder, no ledger


@pytest.mark.integration  # the demo's emulator listens on 127.0.0.1
def test_a_program_that_calls_main_keeps_asyncios_loop(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen: list[object] = []
    monkeypatch.setenv(ENV_VAR, "trio")  # not even read: main(argv) never chooses
    monkeypatch.setattr(_main, "loop_factory", lambda environ=None: seen.append(environ))
    out = tmp_path / "out"
    code = main(["demo", "--out", str(out), "--time-scale", "5000"])
    assert code == 0 and seen == [] and (out / "text.json").exists()


@pytest.mark.parametrize("choice", ["asyncio", "uvloop"])
def test_the_demo_runs_end_to_end_on_each_loop(tmp_path: Path, choice: str) -> None:
    if choice == "uvloop":
        pytest.importorskip("uvloop", reason="uvloop has no Windows build")
    out = tmp_path / "insights"
    done = subprocess.run(
        [*CLI, "--log-level", "DEBUG", "demo", "--out", str(out), "--time-scale", "5000"],
        cwd=tmp_path, env={**child_env(), ENV_VAR: choice}, capture_output=True, text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert f"event loop: {choice}" in done.stderr
    assert sorted(p.name for p in out.glob("*.json")) == [
        "audio-file.json", "audio-url.json", "text.json", "video-file.json"]
