"""The README's Python snippets type-check under ``mypy --strict`` and run.

Each ```python block in README.md is a complete program. They run as files, in a child
Python, against an emulator on 127.0.0.1 (``SYMBL_BASE_URL`` and the emulator's
credentials in the environment, as a user would set them for the real service). One
piece of scaffolding: the emulator works ``SCALE`` times faster than the service, so the
runner gives clients built without a ``poll=`` schedule the same time scale (a client
would otherwise wait the real service's minutes for its first poll).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from _cli_support import APP_ID, APP_SECRET, SCALE, threaded_emulator

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)

RUNNER = f"""
import runpy, sys
from symbl_async import PollSchedule
from symbl_async.client import _client

_init = _client.SymblClient.__init__

def _scaled(self, *args, **kwargs):
    if kwargs.get("poll") is None:
        kwargs["poll"] = PollSchedule(time_scale={SCALE})
    _init(self, *args, **kwargs)

_client.SymblClient.__init__ = _scaled
runpy.run_path(sys.argv[1], run_name="__main__")
"""


def snippets() -> list[str]:
    return BLOCK.findall((ROOT / "README.md").read_text())


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    readme = (ROOT / "README.md").read_text()
    command = re.search(r"^```sh\n(\.ci/install-postgresql .*)\n```", readme, re.M)
    assert command is not None, "README.md lost its test command"
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert command.group(1) in ci, "the README's test command is not a line of .ci/run"


def test_the_readme_has_python_snippets() -> None:
    assert len(snippets()) >= 4


def test_every_snippet_type_checks(tmp_path: Path) -> None:
    for i, code in enumerate(snippets()):
        (tmp_path / f"snippet_{i}.py").write_text(code)
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / ".mypy"),
         str(tmp_path)],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("index", range(len(snippets())))
def test_every_snippet_runs(index: int, tmp_path: Path) -> None:
    path = tmp_path / "snippet.py"
    path.write_text(snippets()[index])
    runner = tmp_path / "runner.py"
    runner.write_text(RUNNER)
    with threaded_emulator(limit=5) as emu:
        env = {
            **os.environ,
            "SYMBL_BASE_URL": emu.url,
            "SYMBL_APP_ID": APP_ID,
            "SYMBL_APP_SECRET": APP_SECRET,
        }
        done = subprocess.run(
            [sys.executable, str(runner), str(path)],
            capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path, env=env,
        )
        stats = emu.stats()
    assert done.returncode == 0, done.stdout + done.stderr
    assert stats["jobs_completed"] >= 1 or "emulator" in snippets()[index]
    assert stats["duplicate_names"] == {}
