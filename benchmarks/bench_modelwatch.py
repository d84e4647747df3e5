"""Benchmark what each learned end costs the waits that share the model, by their number.

In a batch every job running waits on a plan made from one processing-time model, so up to
the account's limit of waits sleep on it. Each end the model learns checks every sleeping
wait's plan (:meth:`~symbl_async.core._pollplan.PollPlan.moved`), and wakes those whose
estimate moved materially to re-plan: a cost per job that grows with the limit. Here ``N``
waits sleep on real :class:`~symbl_async.client._waiting.ModelWatch` sleeps (each woken wait
re-plans and sleeps again, as a batch's do), while ends are learned one after the other;
the figure is process CPU per learned end, the wake-ups and re-plans included, after a
warm-up. Media lengths are log-normal (median 600 s, sigma 0.6), ends near the model's
estimate (sigma 0.1), with a fixed seed.

Compare two versions by running this file with each on ``PYTHONPATH``, e.g. an older
commit unpacked with ``git archive <commit> symbl_async | tar -x -C /tmp/old``::

    PYTHONPATH=/tmp/old python benchmarks/bench_modelwatch.py
    python benchmarks/bench_modelwatch.py --waits 50 500 2000 --ends 300 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time

from symbl_async.client._waiting import ModelWatch
from symbl_async.core._estimate import ProcessingTimeModel
from symbl_async.core._pollplan import PollPlan

_MEDIA = 600.0
_KIND = "audio"


async def _wait(watch: ModelWatch, plan: PollPlan, woken: list[int]) -> None:
    """Sleep toward the plan's poll (far away: only the model wakes it), re-planning
    whenever woken, as a batch's wait does."""
    while True:
        if await watch.sleep(plan, 1e6):
            woken[0] += 1
            plan.replan(plan.last + 1.0)


async def one_round(waits: int, ends: int, seed: int) -> tuple[float, float]:
    """CPU ms per learned end with ``waits`` waits sleeping, and wake-ups per end."""
    rnd = random.Random(seed)
    model = ProcessingTimeModel()
    watch = ModelWatch(model)
    for _ in range(80):  # warm: the model has seen a first few waves
        length = _MEDIA * rnd.lognormvariate(0, 0.6)
        model.observe(_KIND, length, (0.25 * length + 30) * rnd.lognormvariate(0, 0.1))
    woken = [0]
    tasks = []
    for _ in range(waits):
        plan = PollPlan(model, _KIND, _MEDIA * rnd.lognormvariate(0, 0.6),
                        budget=2.0, floor=1.0, cap=60.0)
        plan.next()
        tasks.append(asyncio.create_task(_wait(watch, plan, woken)))
    await asyncio.sleep(0)  # every wait asleep
    try:
        started = time.process_time()
        for _ in range(ends):
            length = _MEDIA * rnd.lognormvariate(0, 0.6)
            end = (0.25 * length + 30) * rnd.lognormvariate(0, 0.1)
            watch.observe_between(_KIND, length, end * 0.95, end * 1.05)
            await asyncio.sleep(0)  # the woken waits re-plan and sleep again
            await asyncio.sleep(0)
        spent = time.process_time() - started
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return spent * 1000 / ends, woken[0] / ends


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waits", type=int, nargs="+", default=[50, 500, 2000],
                        help="waits sleeping on the model (the account's limit)")
    parser.add_argument("--ends", type=int, default=300, help="ends learned per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    results: dict[int, list[tuple[float, float]]] = {n: [] for n in args.waits}
    for round_ in range(args.rounds):  # interleaved: the host's speed moves
        for n in args.waits:
            results[n].append(asyncio.run(one_round(n, args.ends, seed=round_)))
    print("waits  CPU ms per learned end (each round; median)  wake-ups per end")
    for n, rows in results.items():
        cpu = [ms for ms, _ in rows]
        print(f"{n:5d}  {' '.join(f'{ms:.3f}' for ms in cpu)}  ({statistics.median(cpu):.3f})"
              f"  {statistics.median(w for _, w in rows):.1f}")


if __name__ == "__main__":
    main()
