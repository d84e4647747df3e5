"""The analytics' overlap of two speakers' talk: a merge pass over sorted intervals, checked
against the plain pairwise definition on random and touching intervals."""

from __future__ import annotations

import itertools
import random

from symbl_async.emulator._render import _intersection, _union

Interval = tuple[float, float]


def pairwise(a: list[Interval], b: list[Interval]) -> list[Interval]:
    out = [
        (max(s1, s2), min(e1, e2))
        for (s1, e1), (s2, e2) in itertools.product(a, b)
        if min(e1, e2) > max(s1, s2)
    ]
    return _union(out)


def test_the_merge_pass_equals_the_pairwise_overlap() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        a = _union((x, x + rng.choice([0.0, 1.0, rng.uniform(0, 8)]))
                   for x in (float(rng.randint(0, 60)) for _ in range(rng.randint(0, 10))))
        b = _union((x, x + rng.choice([0.0, 2.0, rng.uniform(0, 8)]))
                   for x in (float(rng.randint(0, 60)) for _ in range(rng.randint(0, 10))))
        assert _intersection(a, b) == pairwise(a, b)


def test_touching_and_nested_intervals() -> None:
    assert _intersection([(0.0, 5.0)], [(5.0, 6.0)]) == []
    assert _intersection([(0.0, 10.0)], [(1.0, 2.0), (3.0, 4.0)]) == [(1.0, 2.0), (3.0, 4.0)]
    assert _intersection([(1.0, 2.0), (3.0, 4.0)], [(0.0, 10.0)]) == [(1.0, 2.0), (3.0, 4.0)]
    assert _intersection([], [(0.0, 1.0)]) == []
