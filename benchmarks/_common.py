"""Shared parts of the benchmarks: the workload, percentiles, and an emulator in its own process.

``bench_batch.py``, ``bench_webhooks.py``, ``bench_systems.py`` and ``bench_uplink.py``
draw the same seeded log-normal media lengths; ``bench_systems.py`` and ``bench_uplink.py``
also run the ``symbl-async emulator`` command in a child process pinned to one core, read
its ``/_emulator/*`` records, and judge runs against the emulator's processing model
(:func:`model_slot_seconds`) and the slots its jobs held (:func:`occupancy`).
"""

from __future__ import annotations

import ctypes
import json
import math
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from symbl_async.emulator import EmulatorConfig

MAX_MEDIA = 4 * 3600.0
"""Media lengths are capped at 4 hours (the longest recording the benchmarks draw)."""

_PR_SET_PDEATHSIG = 1  # linux/prctl.h
_URL_LINE = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")


def media_lengths(count: int, median: float, sigma: float, seed: int) -> list[float]:
    """Seeded log-normal media lengths in seconds (tenths), capped at :data:`MAX_MEDIA`."""
    rng = random.Random(seed)
    return [
        round(min(rng.lognormvariate(math.log(median), sigma), MAX_MEDIA), 1) for _ in range(count)
    ]


def write_url_manifest(path: Path, lengths: Sequence[float], prefix: str) -> list[str]:
    """A CSV manifest (``source,duration``) of emulator URLs, one per length, named
    ``<prefix><i>.mp3`` (``?emulator_duration=`` sets how long the emulator's job says the
    media is); returns the URLs."""
    urls = [f"https://media.test/{prefix}{i}.mp3?emulator_duration={d:g}"
            for i, d in enumerate(lengths)]
    rows = ["source,duration", *(f"{u},{d:g}" for u, d in zip(urls, lengths, strict=True))]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return urls


def model_slot_seconds(lengths: Sequence[float], processing_factor: float | None = None,
                       ) -> list[float]:
    """Service seconds each job holds a slot in the emulator's model, before any run.

    ``processing_factor x media + processing_overhead`` of processing plus the
    ``queue_delay`` spent ``scheduled`` (``EmulatorConfig``'s defaults; ``processing_factor``
    None: its default too). A run's own figures use the jobs' actual ``processingTime``.
    """
    config = EmulatorConfig()
    factor = config.processing_factor if processing_factor is None else processing_factor
    return [factor * d + config.processing_overhead + config.queue_delay for d in lengths]


def occupancy(jobs: Sequence[dict[str, Any]]) -> list[tuple[float, int]]:
    """(service time, jobs holding a slot) after each submit or end, in time order.

    ``jobs`` as ``/_emulator/jobs`` lists them; a job not ended (``finishedAt`` None) is
    counted from its submit on.
    """
    events = sorted([(j["submittedAt"], 1) for j in jobs]
                    + [(j["finishedAt"], -1) for j in jobs if j["finishedAt"] is not None],
                    key=lambda e: (e[0], e[1]))
    steps, current = [], 0
    for at, change in events:
        current += change
        steps.append((at, current))
    return steps


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile (``share`` in 0..1) of a non-empty sequence."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def split_cpus() -> tuple[int | None, set[int] | None]:
    """The emulator's core and the client's cores; ``(None, None)`` with a single core."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None, None
    return cpus[-1], set(cpus[:-1])


def child_setup(cpus: set[int] | None) -> Callable[[], None]:
    """A ``preexec_fn``: pin the child to ``cpus`` (None: leave it), and end it with us.

    The child gets SIGTERM when this process dies, even by SIGKILL (Linux
    ``PR_SET_PDEATHSIG``), so no emulator or client outlives an interrupted benchmark.
    """

    def setup() -> None:
        if cpus is not None:
            os.sched_setaffinity(0, cpus)
        if sys.platform == "linux":
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

    return setup


def exit_on_sigterm() -> None:
    """Make SIGTERM raise ``SystemExit``: it unwinds through the context managers (and
    ``subprocess.run``), which stop the children and delete the temporary files."""

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)


def emulator_command() -> list[str]:
    """The ``symbl-async`` command of this interpreter's environment."""
    script = Path(sys.executable).with_name("symbl-async")
    if script.exists():
        return [str(script)]
    found = shutil.which("symbl-async")
    if found is None:
        raise RuntimeError("the symbl-async command is not installed (pip install -e .)")
    return [found]


def stop_process(process: subprocess.Popen[Any]) -> None:
    """Stop a child still running: terminate it, then kill it after 10 s."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


class EmulatorProcess:
    """``symbl-async emulator --port 0 ...`` in a child process, stopped on exit.

    Args:
        flags: extra command-line flags (``--time-scale 100`` ...).
        cpu: the core to pin it to, or None.
        start_timeout: seconds to wait for its "listening on" line.
    """

    def __init__(self, flags: Sequence[str], *, cpu: int | None, start_timeout: float = 60.0):
        self.flags = list(flags)
        self.cpu = cpu
        self.start_timeout = start_timeout
        self.url = ""
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> EmulatorProcess:
        command = [*emulator_command(), "emulator", "--host", "127.0.0.1", "--port", "0",
                   *self.flags]
        self._process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            preexec_fn=child_setup(None if self.cpu is None else {self.cpu}),
        )
        deadline = time.monotonic() + self.start_timeout
        assert self._process.stdout is not None
        # One line is printed at start-up; readline blocks, so the deadline is checked
        # between lines and a dead child (EOF) ends the loop.
        while time.monotonic() < deadline:
            line = self._process.stdout.readline()
            if not line:
                break
            match = _URL_LINE.search(line)
            if match:
                self.url = match.group(1)
                return self
        self.stop()
        raise RuntimeError(f"the emulator did not start: {' '.join(command)}")

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop the child (terminate, then kill after 10 s)."""
        process, self._process = self._process, None
        if process is not None:
            stop_process(process)

    def get(self, path: str) -> Any:
        """``GET`` an ``/_emulator/...`` record as JSON."""
        with urllib.request.urlopen(self.url + path, timeout=120) as answer:
            return json.loads(answer.read())

    def stats(self) -> dict[str, Any]:
        """``GET /_emulator/stats``."""
        result: dict[str, Any] = self.get("/_emulator/stats")
        return result

    def jobs(self) -> list[dict[str, Any]]:
        """``GET /_emulator/jobs``: the jobs, with their times on the emulator's clock."""
        result: list[dict[str, Any]] = self.get("/_emulator/jobs")["jobs"]
        return result


def clock_origin(url: str, time_scale: float, samples: int = 5) -> float:
    """The emulator's start on this machine's ``time.monotonic()`` clock (system-wide on Linux).

    The emulator stamps jobs in service seconds since its start; its ``/_emulator/stats``
    ``clock`` is read between two monotonic readings, and the sample with the shortest
    round trip wins (its error is at most half that round trip).
    """
    best: tuple[float, float] | None = None
    for _ in range(samples):
        before = time.monotonic()
        with urllib.request.urlopen(url + "/_emulator/stats", timeout=30) as answer:
            clock = float(json.loads(answer.read())["clock"])
        after = time.monotonic()
        origin = (before + after) / 2 - clock / time_scale
        if best is None or after - before < best[0]:
            best = (after - before, origin)
    assert best is not None
    return best[1]
