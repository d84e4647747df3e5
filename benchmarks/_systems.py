"""The systems ``bench_systems.py`` compares, each run alone in a child process.

The child reads a JSON spec (emulator URL and credentials, the batch's URLs and media
lengths, or its local ``files``, the limit and time scale), runs one system over the whole
batch, and writes a
JSON result: when it learned that each job had ended (``time.monotonic()``, system-wide on
Linux, so the parent can line it up with the emulator's clock), the emulator's start on
that clock, and the child's own CPU time and peak RSS (``getrusage(RUSAGE_SELF)``: the
client's cost alone, interpreter start and imports included).

Systems:

- ``poll``, ``webhook``, ``hybrid``: ``symbl_async.process_many`` with that wait mode,
  its default insights (the same 8 fetches as the CLI), an output folder and its ledger
  there; the webhook modes with an embedded ``WebhookReceiver`` on 127.0.0.1. The time
  a job's end was learned is when ``SymblClient.wait`` returned for it. With ``files``
  the paths are given as they are (the batch reads each WAV's length from its header),
  and ``uploads_at_once``, when the spec has it, is passed on (``null``: no bound); so is
  ``ledger`` (a path or a ``postgresql://`` URL).
- ``baseline``: ``baseline_semaphore.run_batch`` (aiohttp + ``asyncio.Semaphore``),
  polling every 5 service seconds; it uploads the ``files`` when the spec has them.
- ``sdk``: Symbl's official synchronous SDK (``symbl``), pointed at the emulator, a thread
  per job polling every 30 service seconds, at most ``limit`` jobs at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from _common import clock_origin
from baseline_semaphore import run_batch

from symbl_async import JobInfo, PollSchedule, SymblClient, WebhookReceiver, process_many
from symbl_async.batch import JobSlots, UrlSource
from symbl_async.core import Job, WaitMode

OURS = ("poll", "webhook", "hybrid")
SYSTEMS = (*OURS, "baseline", "sdk")
BASELINE_POLL = 5.0
"""The baseline's poll interval in service seconds (divided by the time scale)."""
SDK_POLL = 30.0
"""The official SDK's fixed poll interval in service seconds (its own constant)."""


class TimedClient(SymblClient):
    """A :class:`SymblClient` that notes when each ``wait`` returned (the job's end learned)."""

    learned: dict[str, float]

    async def wait(
        self,
        job: Job | str,
        *,
        timeout: float | None = None,
        schedule: PollSchedule | None = None,
        mode: WaitMode | str | None = None,
    ) -> JobInfo:
        info = await super().wait(job, timeout=timeout, schedule=schedule, mode=mode)
        self.learned[info.id] = time.monotonic()
        return info


async def run_ours(spec: dict[str, Any], mode: str) -> tuple[dict[str, float], int]:
    """``process_many`` over the batch with ``wait_mode=mode``; (end learned per job, fetched)."""
    scale = float(spec["time_scale"])
    receiver = WebhookReceiver() if mode != "poll" else None
    client = TimedClient(
        app_id=spec["app_id"], app_secret=spec["app_secret"], base_url=spec["url"],
        poll=PollSchedule(time_scale=scale), receiver=receiver, wait_mode=mode,
    )
    client.learned = {}
    sources: list[UrlSource] | list[Path] = (
        [Path(path) for path in spec["files"]] if "files" in spec else [
            UrlSource(url, "audio", duration=seconds)
            for url, seconds in zip(spec["urls"], spec["durations"], strict=True)
        ]
    )
    # Absent: the library's default (two at once); null: no bound (every slot uploads).
    uplink: dict[str, Any] = (
        {"uploads_at_once": spec["uploads_at_once"]} if "uploads_at_once" in spec else {}
    )
    if "ledger" in spec:  # a path or a postgresql:// URL; absent: out_dir's SQLite ledger
        uplink["ledger"] = spec["ledger"]
    # The 429 backoff is in real seconds: scaled like everything else the service does.
    slots = JobSlots(spec["limit"], backoff_base=1.0 / scale, backoff_cap=30.0 / scale)
    fetched = 0
    try:
        if receiver is not None:
            await receiver.start()
        run = process_many(client, sources, slots=slots, out_dir=spec["out_dir"], wait_mode=mode,
                           **uplink)
        async with run:
            async for result in run:
                fetched += result.status == "fetched"
    finally:
        if receiver is not None:
            await receiver.close()
        await client.close()
    return client.learned, fetched


async def run_baseline(spec: dict[str, Any]) -> tuple[dict[str, float], int]:
    """The semaphore script over the batch (its URLs, or its files uploaded); (end learned per
    job, jobs completed)."""
    learned: dict[str, float] = {}

    def note(job_id: str) -> None:
        learned[job_id] = time.monotonic()

    inputs = [Path(path) for path in spec["files"]] if "files" in spec else spec["urls"]
    done = await run_batch(
        spec["url"], spec["app_id"], spec["app_secret"], inputs,
        out_dir=Path(spec["out_dir"]), limit=spec["limit"],
        poll_every=BASELINE_POLL / float(spec["time_scale"]), on_completed=note,
    )
    return learned, done


def sdk_missing() -> str | None:
    """Why the official SDK cannot run here, or None when it can."""
    try:
        import symbl  # type: ignore[import-not-found,import-untyped,unused-ignore]  # noqa: F401
        import symbl_rest  # type: ignore[import-not-found,import-untyped,unused-ignore]  # noqa: F401
    except ImportError as error:
        return (f"the official SDK is not installed ({error}); see REFERENCE.md: "
                "pip install --no-deps symbl symbl-rest, plus urllib3 six certifi "
                "python-dateutil websocket-client")
    return None


def run_sdk(spec: dict[str, Any]) -> tuple[dict[str, float], int]:
    """The official SDK over the batch, ``limit`` jobs at once; (end learned, completed)."""
    import symbl_rest  # type: ignore[import-not-found,import-untyped,unused-ignore]

    # It logs every poll at INFO on the root logger (basicConfig at level NOTSET); a user
    # running a batch would turn that down, and this, done first, makes its call a no-op.
    logging.basicConfig(level=logging.WARNING)
    # Its urllib3 pool keeps 10 connections for up to 2 x limit threads: one warning per
    # discarded connection, thousands per run, which would bury the table.
    # (Its Configuration resets the level of "urllib3"; that of the module logger stays.)
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
    # Its base URL must be set before ``import symbl`` (REFERENCE.md).
    config = symbl_rest.Configuration()
    config.host = spec["url"]
    symbl_rest.Configuration.set_default(config)
    import symbl  # type: ignore[import-not-found,import-untyped,unused-ignore]
    from symbl.Conversations import (  # type: ignore[import-not-found,import-untyped,unused-ignore]
        Conversation,
    )

    # Its 30 s poll is a class constant: divided by the time scale like every other delay.
    Conversation._Conversation__INTERVAL_TIME_IN_SECONDS = SDK_POLL / float(spec["time_scale"])
    credentials = {"app_id": spec["app_id"], "app_secret": spec["app_secret"]}
    learned: dict[str, float] = {}
    permits = threading.BoundedSemaphore(spec["limit"])
    out_dir = Path(spec["out_dir"])

    def one(i: int, url: str) -> bool:
        ended = threading.Event()
        outcome: list[bool] = []

        def finish(ok: bool) -> Callable[[Any], None]:
            def callback(conversation: Any) -> None:
                learned[conversation.get_job_id()] = time.monotonic()
                outcome.append(ok)
                ended.set()
            return callback

        with permits:
            conversation = symbl.Audio.process_url(
                payload={"url": url, "name": f"item-{i}"}, credentials=credentials, wait=False,
            )
            conversation.on_complete(finish(True)).on_error(finish(False))
            ended.wait()
        if not outcome[0]:
            return False
        insights = [
            conversation.get_conversation(), conversation.get_messages(),
            conversation.get_topics(), conversation.get_questions(),
            conversation.get_action_items(), conversation.get_follow_ups(),
            conversation.get_members(), conversation.get_analytics(),
        ]
        (out_dir / f"{i}.json").write_text(json.dumps([str(x) for x in insights]))
        return True

    # A thread per job, as the SDK itself does with wait=False, capped at a sane pool.
    with ThreadPoolExecutor(max_workers=2 * spec["limit"]) as pool:
        done = sum(pool.map(one, range(len(spec["urls"])), spec["urls"]))
    return learned, done


def child_main(spec_path: str) -> None:
    """Run the system a spec names and write its result where the spec says."""
    spec = json.loads(Path(spec_path).read_text())
    origin = clock_origin(spec["url"], float(spec["time_scale"]))
    started = time.monotonic()
    system = spec["system"]
    if system in OURS:
        learned, done = asyncio.run(run_ours(spec, system))
    elif system == "baseline":
        learned, done = asyncio.run(run_baseline(spec))
    elif system == "sdk":
        learned, done = run_sdk(spec)
    else:
        raise SystemExit(f"unknown system {system!r}")
    wall = time.monotonic() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    Path(spec["result_path"]).write_text(json.dumps({
        "learned": learned,
        "completed": done,
        "origin": origin,
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "maxrss_mb": usage.ru_maxrss / 1024,  # kilobytes on Linux
    }))
