"""Benchmark the transport's own CPU per request, with the network taken out or not.

By default a stand-in session answers every request at once with a canned 200, so what is
timed is ours: building the request, the retry loop, ``core._http.decide``, decoding, and
``get_job``'s parsing. Process CPU time over ``--requests`` calls, after a warm-up.

``--emulator``: the same ``get_job`` against a ``symbl-async emulator`` in its own process
(pinned to the last core, this process to the others), interleaved with the same GET made
by aiohttp alone on the same session and token (``session.get`` and ``read``), over
``--rounds`` rounds. Both are timed in the same minutes, so their ratio (what our layers add
to aiohttp's own request path) means more than either figure on a host whose speed moves.

Compare two versions by running this file with each on ``PYTHONPATH``, e.g. an older
commit unpacked with ``git archive <commit> symbl_async | tar -x -C /tmp/old``::

    PYTHONPATH=/tmp/old python benchmarks/bench_transport.py
    python benchmarks/bench_transport.py
    python benchmarks/bench_transport.py --emulator --requests 2000 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from typing import Any, ClassVar

import aiohttp
from _common import EmulatorProcess, split_cpus

import symbl_async
from symbl_async import SymblClient
from symbl_async.emulator import DEMO_APP_ID, DEMO_APP_SECRET


class _Answer:
    status = 200
    headers: ClassVar[dict[str, str]] = {"Content-Type": "application/json"}

    async def read(self) -> bytes:
        return b'{"id": "j", "status": "in_progress"}'

    async def __aenter__(self) -> _Answer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


class _Session:
    closed = False

    def request(self, *args: Any, **kwargs: Any) -> _Answer:
        return _Answer()

    async def close(self) -> None:
        return None


async def _run(requests: int) -> float:
    client = SymblClient(access_token="t", base_url="http://x.test", session=_Session())  # type: ignore[arg-type]
    for _ in range(1000):
        await client.get_job("j")
    started = time.process_time()
    for _ in range(requests):
        await client.get_job("j")
    return (time.process_time() - started) / requests


async def _against(url: str, requests: int, rounds: int) -> dict[str, list[float]]:
    """CPU per request of ``get_job`` and of aiohttp alone, interleaved, in seconds."""
    async with aiohttp.ClientSession() as session:
        credentials = {"type": "application", "appId": DEMO_APP_ID, "appSecret": DEMO_APP_SECRET}
        async with session.post(f"{url}/oauth2/token:generate", json=credentials) as answer:
            token = (await answer.json())["accessToken"]
        client = SymblClient(access_token=token, base_url=url, session=session)
        job = await client.submit_text([{"payload": {"content": "Hello there."}}])
        await client.wait(job)
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        job_url = f"{url}/v1/job/{job.job_id}"

        async def ours() -> None:
            for _ in range(requests):
                await client.get_job(job.job_id)

        async def alone() -> None:
            for _ in range(requests):
                async with session.get(job_url, headers=headers) as answer:
                    await answer.read()

        runs = [("symbl_async get_job", ours), ("aiohttp alone", alone)]
        times: dict[str, list[float]] = {name: [] for name, _ in runs}
        for round_ in range(rounds + 1):  # the first round warms up, uncounted
            for name, run in runs if round_ % 2 else runs[::-1]:  # each goes first in turn
                started = time.process_time()
                await run()
                if round_:
                    times[name].append((time.process_time() - started) / requests)
        return times


def _emulator_run(requests: int, rounds: int) -> None:
    emulator_cpu, client_cpus = split_cpus()
    with EmulatorProcess(["--time-scale", "1000"], cpu=emulator_cpu) as emulator:
        if client_cpus is not None:
            os.sched_setaffinity(0, client_cpus)
        times = asyncio.run(_against(emulator.url, requests, rounds))
    for name, values in times.items():
        shown = " / ".join(f"{value * 1e3:.3f}" for value in values)
        print(f"{name:20s} {shown} ms of CPU per request ({requests} requests a round)")
    ratios = [a / b for a, b in zip(*times.values(), strict=True)]
    print("ratio, round by round: " + " / ".join(f"{ratio:.2f}" for ratio in ratios)
          + f" (median {statistics.median(ratios):.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=None,
                        help="requests per measure (default 20000; 2000 with --emulator)")
    parser.add_argument("--emulator", action="store_true",
                        help="against an emulator process, beside aiohttp alone")
    parser.add_argument("--rounds", type=int, default=3, help="with --emulator")
    args = parser.parse_args()
    if args.emulator:
        _emulator_run(args.requests or 2000, args.rounds)
        return
    requests = args.requests or 20_000
    per_request = asyncio.run(_run(requests))
    where = symbl_async.__file__.rsplit("/symbl_async", 1)[0]
    print(f"{where}: {per_request * 1e6:.1f} us of CPU per get_job ({requests} requests)")


if __name__ == "__main__":
    main()
