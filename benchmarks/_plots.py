"""PNG plots of ``bench_systems.py`` and ``bench_uplink.py`` results (needs matplotlib: the
``bench`` extra).

Importing this module fails with ``ImportError`` when matplotlib is missing; the
benchmark then prints its table without plots.
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt


def plot_all(
    runs: dict[str, list[dict[str, Any]]], labels: dict[str, str], args: argparse.Namespace,
    base: Path,
) -> list[Path]:
    """Draw ``<base>_occupancy.png`` and ``<base>_detection.png``; return their paths."""
    systems = [s for s, results in runs.items() if results]
    if not systems:
        return []
    return [_occupancy(runs, systems, labels, args, base), _detection(runs, systems, labels, base)]


def _occupancy(
    runs: dict[str, list[dict[str, Any]]], systems: list[str], labels: dict[str, str],
    args: argparse.Namespace, base: Path,
) -> Path:
    figure, axes = plt.subplots(len(systems), 1, sharex=True, squeeze=False,
                                figsize=(10, 1.9 * len(systems) + 0.8))
    for ax, system in zip(axes[:, 0], systems, strict=True):
        run = runs[system][0]  # the first round: every system on the same batch
        steps = run["occupancy"]
        start = steps[0][0]
        hours = [(at - start) / 3600 for at, _ in steps]
        ax.step(hours, [count for _, count in steps], where="post", linewidth=0.8)
        ax.axhline(args.limit, color="grey", linestyle=":", linewidth=0.8)
        ax.axvline(run["lower_bound_s"] / 3600, color="red", linestyle="--", linewidth=0.8)
        ax.set_ylim(0, args.limit * 1.15)
        ax.set_ylabel("jobs")
        ax.set_title(f"{labels[system]}: makespan / LB {run['makespan_over_lb']:.3f}, "
                     f"slot use {run['slot_use']:.3f}", fontsize=9, loc="left")
    axes[-1, 0].set_xlabel("service hours since the first submit (red: lower bound; "
                           "dotted: the limit)")
    figure.suptitle(f"Slot occupancy (emulator's job times), N={args.jobs}, "
                    f"limit {args.limit}, round 1", fontsize=10)
    figure.tight_layout()
    path = base.with_name(base.name + "_occupancy.png")
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _detection(
    runs: dict[str, list[dict[str, Any]]], systems: list[str], labels: dict[str, str],
    base: Path,
) -> Path:
    figure, ax = plt.subplots(figsize=(9, 5))
    for system in systems:
        delays = sorted(d for run in runs[system] for d in run["detection_ms"])
        if not delays:
            continue
        # A floor of 0.1 ms: the log axis cannot show zero or the few slightly negative
        # values the clock alignment leaves (its error is half a local round trip).
        shown = [max(d, 0.1) for d in delays]
        share = [(i + 1) / len(shown) for i in range(len(shown))]
        ax.step(shown, share, where="post", label=labels[system])
    ax.set_xscale("log")
    ax.set_xlabel("detection delay, real ms (job's end -> client knows it); all rounds")
    ax.set_ylabel("share of jobs")
    ax.grid(True, which="both", linewidth=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title("Distribution of detection delays (x time scale = service ms)", fontsize=10)
    figure.tight_layout()
    path = base.with_name(base.name + "_detection.png")
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def plot_uplink(
    runs: list[dict[str, Any]], cells: Sequence[tuple[int, float]], systems: Sequence[str],
    labels: dict[str, str], base: Path,
) -> Path:
    """Draw ``<base>.png``: a row per cell (limit x uplink), a column per system; in each,
    the jobs holding a slot at the emulator and the uplink's throughput over time."""
    figure, axes = plt.subplots(len(cells), len(systems), sharex="row", squeeze=False,
                                figsize=(4.2 * len(systems), 2.6 * len(cells) + 0.6))
    found = {(run["limit"], run["mbps"], run["system"]): run for run in runs}
    for row, (limit, mbps) in enumerate(cells):
        for column, system in enumerate(systems):
            ax = axes[row, column]
            run = found.get((limit, mbps, system))
            if run is None or "occupancy" not in run:
                ax.set_axis_off()
                continue
            steps = [(0.0, 0), *run["occupancy"]]
            ax.step([at for at, _ in steps], [n for _, n in steps], where="post",
                    linewidth=0.8, label="jobs holding a slot")
            ax.axhline(limit, color="grey", linestyle=":", linewidth=0.8)
            ax.axvline(run["lower_bound_s"], color="red", linestyle="--", linewidth=0.8)
            ax.set_ylim(0, limit * 1.15)
            ax.set_ylabel("jobs", fontsize=8)
            link = ax.twinx()
            samples = [(0.0, 0), *((at, sent) for at, sent, _ in run["samples"])]
            link.step([at for at, _ in samples[1:]],
                      [(b2 - b1) / (a2 - a1) / 1e6 if a2 > a1 else 0.0
                       for (a1, b1), (a2, b2) in itertools.pairwise(samples)],
                      where="pre", color="tab:orange", linewidth=0.7, label="uplink MB/s")
            link.set_ylim(0, mbps * 1.3)
            link.set_ylabel("MB/s", fontsize=8, color="tab:orange")
            ratio = run["makespan_over_lb"]
            ax.set_title(f"{labels[system]}\nlimit {limit}, {mbps:g} MB/s: makespan / LB "
                         f"{'n/a' if ratio is None else format(ratio, '.3f')}",
                         fontsize=8, loc="left")
            ax.tick_params(labelsize=7)
            link.tick_params(labelsize=7)
    for ax in axes[-1, :]:
        ax.set_xlabel("real seconds since the run's start (red: LB)", fontsize=8)
    figure.suptitle("Jobs holding a slot at the emulator (blue; dotted: the limit) and the "
                    "uplink's throughput (orange, sampled every 0.5 s)", fontsize=10)
    figure.tight_layout()
    path = base.with_name(base.name + ".png")
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
