"""Count the instructions of the whole ``symbl-async process`` command, per job.

CPU time on a shared machine moves by a third between half hours, which hides changes of
a few percent. The instructions a process executes move far less: this runs the CLI
under ``valgrind --tool=callgrind`` (Linux; ``apt-get install valgrind``) against an
emulator in its own process on another core, and reads the count valgrind prints. Only
the client is counted.

For each tree (a folder holding a ``symbl_async`` package: this checkout by default, or
an older commit unpacked with ``git archive <commit> symbl_async | tar -x -C DIR``), one
run of a single job gives the fixed part (the import, the start, the end), then
``--pairs`` runs of ``--jobs`` jobs, the trees interleaved, give the part per job. A
whole run still varies by a few percent from one run to the next: timing decides how
many polls and loop turns it makes (the status GETs are reported beside it).

    python benchmarks/bench_instructions.py --jobs 200 --pairs 3 --trees . /tmp/old
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import EmulatorProcess, child_setup, media_lengths, split_cpus, write_url_manifest

from symbl_async.emulator import DEMO_APP_ID, DEMO_APP_SECRET

_COLLECTED = re.compile(r"Collected : (\d+)")
_SCALE = 100.0
_LIMIT = 50


def _manifest(path: Path, count: int, seed: int) -> None:
    write_url_manifest(path, media_lengths(count, 600.0, 0.6, seed), "b")


def _compile(tree: Path) -> None:
    """Bytecode for the tree, as a pip install leaves it (else every run compiles it)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(tree / "symbl_async")],
                   env=env, check=True, stdout=subprocess.DEVNULL)


def count(tree: Path, manifest: Path, emulator_cpu: int | None,
          client_cpus: set[int] | None) -> tuple[int, int]:
    """One CLI run under callgrind: (instructions, status GETs the emulator answered)."""
    flags = ["--time-scale", f"{_SCALE:g}", "--concurrency-limit", str(_LIMIT)]
    code = (f"import sys; sys.path.insert(0, {str(tree)!r}); "
            "from symbl_async.cli import main; sys.exit(main())")
    with EmulatorProcess(flags, cpu=emulator_cpu) as emulator, \
            tempfile.TemporaryDirectory(prefix="bench-instr-") as out:
        env = {**os.environ, "SYMBL_APP_ID": DEMO_APP_ID, "SYMBL_APP_SECRET": DEMO_APP_SECRET}
        done = subprocess.run(
            ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
             sys.executable, "-c", code, "process", "--manifest", str(manifest),
             "--out", out, "--base-url", emulator.url, "--time-scale", f"{_SCALE:g}",
             "--max-concurrent-jobs", str(_LIMIT)],
            env=env, cwd=tree, capture_output=True, text=True, timeout=3600,
            preexec_fn=child_setup(client_cpus))
        if done.returncode != 0:
            raise RuntimeError(f"the CLI failed ({done.returncode}): {done.stderr[-2000:]}")
        found = _COLLECTED.search(done.stderr)
        if found is None:
            raise RuntimeError("valgrind printed no instruction count")
        return int(found.group(1)), int(emulator.stats()["job_status_requests"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trees", nargs="+", type=Path, default=[Path(".")],
                        help="folders holding a symbl_async package (default: this one)")
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--pairs", type=int, default=3, help="runs of --jobs per tree")
    parser.add_argument("--scale-to", type=int, default=600,
                        help="also report per job at this many jobs, fixed part included")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (apt-get install valgrind)")
    if args.jobs < 2:
        sys.exit("--jobs must be at least 2")
    trees = [tree.absolute() for tree in args.trees]
    for tree in trees:
        if not (tree / "symbl_async" / "__init__.py").is_file():
            sys.exit(f"{tree} holds no symbl_async package")
        _compile(tree)
    emulator_cpu, client_cpus = split_cpus()
    with tempfile.TemporaryDirectory(prefix="bench-instr-") as folder:
        one, many = Path(folder) / "one.csv", Path(folder) / "many.csv"
        _manifest(one, 1, args.seed)
        _manifest(many, args.jobs, args.seed)
        fixed = {tree: count(tree, one, emulator_cpu, client_cpus)[0] for tree in trees}
        runs: dict[Path, list[tuple[int, int]]] = {tree: [] for tree in trees}
        for _ in range(args.pairs):
            for tree in trees:  # interleaved: a slow spell hits every tree alike
                runs[tree].append(count(tree, many, emulator_cpu, client_cpus))
    print(f"# instructions (M), whole CLI, {args.jobs} jobs, limit {_LIMIT}, "
          f"time scale {_SCALE:g}; one job first (the fixed part)")
    print(f"| tree | one job | {args.jobs} jobs, each run (status GETs) | per job after the "
          f"fixed part | per job at {args.scale_to} jobs |")
    print("| --- | --- | --- | --- | --- |")
    for tree in trees:
        totals = [total for total, _ in runs[tree]]
        mean = sum(totals) / len(totals)
        per_job = (mean - fixed[tree]) / (args.jobs - 1)
        at_scale = (fixed[tree] + (args.scale_to - 1) * per_job) / args.scale_to
        each = ", ".join(f"{t / 1e6:,.0f} ({gets})" for t, gets in runs[tree])
        print(f"| {tree} | {fixed[tree] / 1e6:,.0f} | {each} | {per_job / 1e6:.2f} | "
              f"{at_scale / 1e6:.2f} |")


if __name__ == "__main__":
    main()
