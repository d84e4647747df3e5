"""Benchmark the transport's own CPU per request, with the network taken out.

A stand-in session answers every request at once with a canned 200, so what is timed
is ours: building the request, the retry loop, ``core._http.decide``, decoding, and
``get_job``'s parsing. Process CPU time over ``--requests`` calls, after a warm-up.

Compare two versions by running this file with each on ``PYTHONPATH``, e.g. an older
commit unpacked with ``git archive <commit> symbl_async | tar -x -C /tmp/old``::

    PYTHONPATH=/tmp/old python benchmarks/bench_transport.py
    python benchmarks/bench_transport.py
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any, ClassVar

import symbl_async
from symbl_async import SymblClient


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    args = parser.parse_args()
    per_request = asyncio.run(_run(args.requests))
    where = symbl_async.__file__.rsplit("/symbl_async", 1)[0]
    print(f"{where}: {per_request * 1e6:.1f} us of CPU per get_job ({args.requests} requests)")


if __name__ == "__main__":
    main()
