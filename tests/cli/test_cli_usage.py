"""``symbl-async process`` tells the truth and leaves no debris (issue 18, items 3, 4, 5).

A usage error (missing or refused credentials, a wrong base URL, a server that cannot be
reached, a ledger another run holds, a rerun refused for its options or its service) exits
2 with one line and leaves the disk as it was: no empty output folder with an empty
ledger, and an output folder with earlier results byte for byte as it was. Messages name
the library's parameters as the command's flags, never in Python spelling.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import inspect
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import attrs
import filelock
import pytest
from _cli_support import CliRun, process_args, threaded_emulator, tree

from symbl_async.batch._api import process_many
from symbl_async.batch._ledger import SqliteLedger
from symbl_async.cli._batch import OPTION_FLAGS
from symbl_async.cli._leftovers import Leftovers
from symbl_async.cli._main import build_parser
from symbl_async.core._options import ProcessingOptions

URL = "https://media.test/u.mp3?emulator_duration=30"
# What a shell user must never read: the library's parameters in Python spelling.
PYTHON_SPELLING = re.compile(
    r"\b(retry_failed|reprocess=|lookup_grace|wait_timeout|fetch_timeout|ledger_outage|"
    r"out_dir|ledger_path|base_url|app_id|app_secret|access_token|wait_mode|"
    r"max_concurrent_jobs|enable_summary|confidence_threshold|language_code|"
    r"detect_phrases|enable_all_trackers)\b|=True\b"
)


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def one_error_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("symbl-async process: error: "), stderr
    assert not PYTHON_SPELLING.search(stderr), stderr
    return lines[0]


# -- item 3: nothing left behind ---------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "said"),
    [
        ("no credentials", "credentials are missing: set SYMBL_APP_ID and SYMBL_APP_SECRET"),
        ("wrong secret", "credentials refused by http://127.0.0.1:"),
        ("/v1", "--base-url: looks wrong: its path '/v1'"),
        ("ftp", "--base-url: must be an absolute http(s) URL"),
        ("unreachable", "the connection was refused"),
    ],
)
@pytest.mark.parametrize("nested", [False, True])
def test_a_usage_error_exits_2_in_one_line_and_leaves_nothing(
    tmp_path: Path, cli: CliRun, monkeypatch: pytest.MonkeyPatch, case: str, said: str,
    nested: bool,
) -> None:
    out = tmp_path / "a" / "b" / "out" if nested else tmp_path / "out"
    before = tree(tmp_path)
    with threaded_emulator() as emu:
        base = {"/v1": emu.url + "/v1", "ftp": emu.url.replace("http", "ftp", 1),
                "unreachable": f"http://127.0.0.1:{closed_port()}"}.get(case, emu.url)
        if case == "no credentials":
            monkeypatch.delenv("SYMBL_APP_ID")
            monkeypatch.delenv("SYMBL_APP_SECRET")
        if case == "wrong secret":
            monkeypatch.setenv("SYMBL_APP_SECRET", "not-the-secret")
        done = cli(*process_args(base, out, URL))
        stats = emu.stats()
    assert done.returncode == 2
    assert said in one_error_line(done.stderr)
    assert "ssl" not in done.stderr and "Traceback" not in done.stderr
    assert stats["submits_received"] == 0
    assert tree(tmp_path) == before  # no folder, no ledger


@pytest.fixture
def earlier(tmp_path: Path, cli: CliRun) -> Iterator[tuple[Path, str]]:
    """An output folder with the results of a finished run, and the emulator it used."""
    with threaded_emulator() as emu:
        out = tmp_path / "out"
        done = cli(*process_args(emu.url, out, URL))
        assert done.returncode == 0, done.stderr
        yield out, emu.url


@pytest.mark.parametrize(
    "case",
    ["no credentials", "wrong secret", "/v1", "unreachable", "options changed",
     "another service", "ledger held", "webhook port busy"],
)
def test_an_output_folder_with_earlier_results_is_left_untouched(
    tmp_path: Path, cli: CliRun, monkeypatch: pytest.MonkeyPatch,
    earlier: tuple[Path, str], case: str,
) -> None:
    out, url = earlier
    before = tree(tmp_path)
    extra: list[str] = []
    base = url
    with contextlib.ExitStack() as stack:
        if case == "no credentials":
            monkeypatch.delenv("SYMBL_APP_SECRET")
            monkeypatch.delenv("SYMBL_APP_ID")
        elif case == "wrong secret":
            monkeypatch.setenv("SYMBL_APP_SECRET", "not-the-secret")
        elif case == "/v1":
            base = url + "/v1"
        elif case == "unreachable":
            base = f"http://127.0.0.1:{closed_port()}"
        elif case == "options changed":
            extra = ["--enable-summary"]
        elif case == "another service":
            base = stack.enter_context(threaded_emulator()).url
        elif case == "ledger held":  # another run of the batch is going on
            stack.enter_context(filelock.FileLock(str(out / "ledger.sqlite3.lock"), timeout=0))
        elif case == "webhook port busy":
            busy = stack.enter_context(socket.socket())
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            extra = ["--wait", "hybrid", "--webhook-port", str(busy.getsockname()[1])]
        done = cli(*process_args(base, out, URL), *extra)
    assert done.returncode == 2
    one_error_line(done.stderr)
    assert tree(tmp_path) == before


def test_a_usage_error_found_after_the_folder_was_made_removes_it(
    tmp_path: Path, cli: CliRun, earlier: tuple[Path, str]
) -> None:
    # Another run holds the ledger, or the rerun is refused: found once the new output
    # folder exists (the ledger's lock and rows are the run's to read); the folder goes,
    # the ledger (not this command's) stays as it was.
    out, url = earlier
    ledger = out / "ledger.sqlite3"
    before = tree(tmp_path)
    with filelock.FileLock(str(ledger) + ".lock", timeout=0):
        held = cli(*process_args(url, tmp_path / "x" / "new", URL), "--ledger", str(ledger))
    refused = cli(*process_args(url, tmp_path / "y", URL), "--ledger", str(ledger),
                  "--confidence-threshold", "0.7")
    assert held.returncode == 2 and refused.returncode == 2
    assert "--ledger: " in one_error_line(held.stderr) and "in use by another run" in held.stderr
    assert one_error_line(refused.stderr).endswith(
        "processing options: differ from this batch's (--confidence-threshold: unset -> 0.7);"
        " every item would be processed and paid for again. Use another ledger (another "
        "output folder), or --reprocess to do exactly that")
    assert tree(tmp_path) == before


def _ledger_with(path: Path, items: int) -> None:
    from symbl_async.batch._ledger import Pending

    with SqliteLedger.open(path) as db:
        db.add_pending([Pending(f"k{i}", "s", "n", None, None) for i in range(items)])


def test_leftovers_remove_only_what_the_run_created(tmp_path: Path) -> None:
    # A new folder (two levels) and a new ledger, made under the batch's lock: removed.
    out = tmp_path / "a" / "out"
    gone = Leftovers(out, out / "ledger.sqlite3")
    out.mkdir(parents=True)
    with filelock.FileLock(str(out / "ledger.sqlite3.lock"), timeout=0):
        _ledger_with(out / "ledger.sqlite3", 0)
    gone.remove()
    assert list(tmp_path.iterdir()) == []

    # A ledger that records an item may record a paid job: never removed (nor its folder).
    kept = Leftovers(out, out / "ledger.sqlite3")
    out.mkdir(parents=True)
    (out / "ledger.sqlite3.lock").touch()
    _ledger_with(out / "ledger.sqlite3", 1)
    kept.remove()
    assert sorted(p.name for p in out.iterdir()) == ["ledger.sqlite3", "ledger.sqlite3.lock"]

    # Another run holds the lock now: its ledger stays, empty or not.
    other = tmp_path / "other"
    held = Leftovers(other, other / "ledger.sqlite3")
    other.mkdir()
    with filelock.FileLock(str(other / "ledger.sqlite3.lock"), timeout=0):
        _ledger_with(other / "ledger.sqlite3", 0)
        held.remove()
    assert (other / "ledger.sqlite3").exists()

    # A folder someone filled meanwhile stays, with what is in it; a folder that was there
    # before is never removed.
    filled = tmp_path / "filled" / "out"
    note = Leftovers(filled, None)
    filled.mkdir(parents=True)
    (filled / "mine.txt").write_text("someone's")
    note.remove()
    assert (filled / "mine.txt").read_text() == "someone's"
    existing = Leftovers(tmp_path, None)
    existing.remove()
    assert tmp_path.is_dir()


# -- item 4: messages speak the command's language ------------------------------------------


def test_a_failed_item_says_retry_with_the_flag(tmp_path: Path, cli: CliRun) -> None:
    broken = "https://media.test/broken.mp3?emulator_duration=30"
    out = tmp_path / "out"
    with threaded_emulator(fail_inputs=frozenset({broken})) as emu:
        first = cli(*process_args(emu.url, out, broken))
        again = cli(*process_args(emu.url, out, broken))
    assert first.returncode == 1 and again.returncode == 1
    shown = again.stdout + again.stderr
    assert "failed in an earlier run: " in shown and "; retry with --retry-failed" in shown
    assert not PYTHON_SPELLING.search(first.stdout + first.stderr + shown), shown


def test_other_options_are_named_as_the_flags_or_json_that_set_them(
    tmp_path: Path, cli: CliRun, earlier: tuple[Path, str]
) -> None:
    out, url = earlier
    refused = cli(*process_args(url, out, URL), "--enable-summary", "--options-json",
                  '{"enableAllTrackers": true}')
    assert refused.returncode == 2
    line = one_error_line(refused.stderr)
    assert ("processing options: differ from this batch's (enableAllTrackers: unset -> True, "
            "--enable-summary: unset -> True)") in line
    assert line.endswith("or --reprocess to do exactly that")


def test_another_service_is_named_as_the_base_url_flag(
    tmp_path: Path, cli: CliRun, earlier: tuple[Path, str]
) -> None:
    out, url = earlier
    with threaded_emulator() as other:
        refused = cli(*process_args(other.url, out, URL))
        assert other.stats()["submits_received"] == 0
    line = one_error_line(refused.stderr)
    assert (f"error: --base-url: this batch was made with {url} (app id emulator-app-id); "
            f"this run uses {other.url}") in line
    assert "Use another ledger (another output folder), or --reprocess" in line


def _named_in_messages() -> set[str]:
    """The parameters the batch library names in its messages: ``say(names, "x")``,
    ``named(names, "x")`` and the fields of the ValidationErrors it raises."""
    root = Path(inspect.getfile(process_many)).parent
    found: set[str] = set()
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            func = node.func.id if isinstance(node.func, ast.Name) else None
            at = {"say": 1, "named": 1, "ValidationError": 0}.get(func or "")
            if at is not None and len(node.args) > at:
                arg = node.args[at]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    found.add(arg.value)
    return found


def test_every_parameter_a_message_names_is_mapped_to_its_flag() -> None:
    # Not reachable from the command: it never passes these.
    not_cli = {"client", "sources", "ordered", "slots", "on_event", "option_names"}
    parameters = set(inspect.signature(process_many).parameters) - not_cli
    options = {f.name for f in attrs.fields(ProcessingOptions)}
    named = _named_in_messages()
    assert {"retry_failed", "reprocess", "lease", "out_dir", "options"} <= named
    unmapped = {n for n in named & (parameters | options) if n not in OPTION_FLAGS}
    assert unmapped == set()
    assert parameters <= set(OPTION_FLAGS)
    flags = {o for a in subcommands()["process"]._actions for o in a.option_strings}
    for name, said in OPTION_FLAGS.items():
        assert said in flags or not said.startswith("--"), (name, said)


# -- item 5: small ones ------------------------------------------------------------------


def test_an_unreachable_server_is_said_in_words_naming_the_url(
    tmp_path: Path, cli: CliRun
) -> None:
    port = closed_port()
    done = cli("process", URL, "--out", str(tmp_path / "o"), "--base-url",
               f"http://127.0.0.1:{port}")
    assert done.returncode == 2
    assert one_error_line(done.stderr) == (
        f"symbl-async process: error: cannot connect to http://127.0.0.1:{port}: the "
        "connection was refused (nothing listens at that address and port). Is the server "
        "up, and the base URL right?")


def test_status_of_an_empty_database_says_there_is_no_batch(
    cli: CliRun, pg_url: str
) -> None:
    done = cli("status", "--ledger", pg_url)
    assert done.returncode == 2
    assert done.stderr.startswith("symbl-async status: error: no batch in this database (")
    assert "UndefinedTable" not in done.stderr and "relation" not in done.stderr
    assert "pw-Secret" not in done.stderr  # the URL's password is never shown


def test_no_help_shows_a_default_of_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "1000")  # one line per flag: nothing split by wrapping
    commands = subcommands()
    assert set(commands) == {"demo", "emulator", "process", "status"}
    for name, sub in commands.items():
        text = sub.format_help()
        assert "(default: None)" not in text and "default: None" not in text, name
