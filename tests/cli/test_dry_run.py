"""``symbl-async process --dry-run`` (issue 18, item 9), through ``main(argv)``.

What it says is what the run would do: the same intake judges each input against the
ledger (read read-only). Nothing is sent but the credential check (the emulator's gate
counts one token and one listing, no submit) and nothing is written (the folder's files
byte for byte, the PostgreSQL ledger's rows, no table created in an empty database).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import asyncpg
from _cli_support import SCALE, CliRun, Gate, threaded_emulator, tree, write_wav

from symbl_async.cli._dry_run import longest_first, span

OK1 = "https://media.test/ok1.mp3?emulator_duration=60"
OK2 = "https://media.test/ok2.mp3?emulator_duration=90"
BROKEN = "https://media.test/broken.mp3?emulator_duration=30"
NEW = "https://media.test/new.mp3?emulator_duration=45"


def run_args(url: str, out: Path, *more: str) -> list[str]:
    return ["process", *more, "--out", str(out), "--base-url", url, "--time-scale", str(SCALE),
            "--max-concurrent-jobs", "3", "--progress-interval", "0.2", "--lookup-grace", "1"]


def test_longest_first_fills_the_slot_that_frees_first() -> None:
    assert longest_first([3, 5, 3, 4, 3], 2) == 10  # 5+3 | 4+3+3
    assert longest_first([3, 5, 3, 4, 3], 3) == 7  # 5 | 4+3 | 3+3
    assert longest_first([], 5) == 0
    assert longest_first([7.0], 50) == 7.0
    assert [span(s) for s in (45, 89, 90, 600, 5369, 5400, 11100)] == [
        "45 s", "89 s", "2 min", "10 min", "89 min", "1 h 30 min", "3 h 05 min"]


def test_a_first_dry_run_counts_by_kind_and_guesses_the_time_and_cost(
    tmp_path: Path, cli: CliRun
) -> None:
    media = tmp_path / "media"
    media.mkdir()
    write_wav(media / "a.wav", 1200)
    write_wav(media / "b.wav", 600)
    (media / "empty.wav").write_bytes(b"")  # refused by the intake
    (media / "talk.mkv").write_bytes(b"x")  # left out of the folder: not a format the API takes
    manifest = tmp_path / "more.jsonl"
    manifest.write_text("\n".join(json.dumps(row) for row in [
        {"source": "https://media.test/m.mp3", "duration": 1800},
        {"source": "https://media.test/unknown.mp3"},
        {"source": [{"payload": {"content": "Shall we ship on Friday?"}}], "kind": "text"},
    ]) + "\n")
    out = tmp_path / "out"
    before = tree(tmp_path)
    gate = Gate()
    with threaded_emulator(gate=gate) as emu:
        done = cli("process", str(media), "https://media.test/v.mp4", "--manifest",
                   str(manifest), "--out", str(out), "--base-url", emu.url, "--time-scale", "1",
                   "--max-concurrent-jobs", "3", "--dry-run", "--price-per-minute", "0.5")
        stats = emu.stats()
    assert done.returncode == 1, done.stderr  # as the run would: an input fails at once
    assert dict(gate.seen) == {"token": 1, "check": 1}  # the credential check, nothing else
    assert stats["submits_received"] == 0
    assert tree(tmp_path) == before  # no output folder, no ledger
    lines = done.stdout.splitlines()
    assert lines[:2] == ["dry run: nothing was submitted, nothing written",
                         "7 input(s); no batch recorded yet: every input is new"]
    assert ("would submit 6 job(s): 2 audio files, 3 URLs, 1 text conversations; 1.00 media "
            "hours known (2 of unknown length)") in lines
    assert "would fail: 1 input(s) unsupported or invalid" in lines
    assert any(line.startswith(f"  failed: {media / 'empty.wav'}: ") for line in lines)
    # The prior (0.25 s per media second + 30 s): 480, 330, 180 and 30 (text) s over three
    # slots, longest first: 480 s.
    assert ("expected wall time at 3 concurrent jobs: about 8 min, longest first (a guess: "
            "no job of this kind has ended in this batch yet, and Symbl documents no "
            "processing time; 2 job(s) of unknown length not counted)") in lines
    assert ("expected cost: 30.00 for 60.0 media minutes at 0.5 per minute (2 of unknown "
            "length not counted)") in lines
    assert f"  skipped: {media / 'talk.mkv'}: not a supported media file (.mkv)" in lines


def manifest(path: Path, *sources: str) -> str:
    """A CSV manifest of URLs with their lengths (the emulator's): the run learns from
    jobs whose length it knows."""
    lengths = {OK1: 60, OK2: 90, BROKEN: 30, NEW: 45}
    path.write_text("source,duration\n" + "".join(f"{s},{lengths[s]}\n" for s in sources))
    return str(path)


def test_a_dry_run_says_what_the_rerun_does_and_writes_nothing(
    tmp_path: Path, cli: CliRun
) -> None:
    out = tmp_path / "out"
    gate = Gate()
    first_list = manifest(tmp_path / "first.csv", OK1, OK2, BROKEN)
    rerun_list = manifest(tmp_path / "rerun.csv", OK1, OK2, BROKEN, NEW, NEW)
    with threaded_emulator(gate=gate, fail_inputs=frozenset({BROKEN})) as emu:
        first = cli(*run_args(emu.url, out, "--manifest", first_list))
        assert first.returncode == 1, first.stderr
        results = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
        lost = next(r["output_path"] for r in results if r["source"] == OK2)
        Path(lost).unlink()  # its insights must be fetched again, never paid again
        before, paid = tree(tmp_path), emu.stats()["jobs_submitted"]
        gate.reset()
        plain = cli(*run_args(emu.url, out, "--manifest", rerun_list), "--dry-run")
        retry = cli(*run_args(emu.url, out, "--manifest", rerun_list), "--dry-run",
                    "--retry-failed")
        refused = cli(*run_args(emu.url, out, OK1), "--dry-run", "--enable-summary")
        seen = dict(gate.seen)
        assert emu.stats()["jobs_submitted"] == paid
        assert tree(tmp_path) == before
        real = cli(*run_args(emu.url, out, "--manifest", rerun_list), "--retry-failed")
        resubmitted = emu.stats()["jobs_submitted"] - paid
    assert seen == {"token": 3, "check": 3}
    assert plain.returncode == 0, plain.stderr
    said = plain.stdout.splitlines()
    assert f"5 input(s); judged against {out / 'ledger.sqlite3'} (read only)" in said
    assert "would submit 1 job(s): 1 URLs; 0.01 media hours" in said
    assert "would fetch 1 finished job(s) without submitting them" in said
    assert ("would skip: 1 done earlier, 1 duplicate input(s), 1 failed earlier "
            "(--retry-failed retries them)") in said
    # The first run learned how long audio jobs take, and left it in the ledger.
    assert any(line.startswith("expected wall time at 3 concurrent jobs: about ")
               and "from the processing times this batch's earlier runs learned" in line
               for line in said), said
    assert "would submit 2 job(s): 2 URLs; 0.02 media hours" in retry.stdout.splitlines()
    assert "failed earlier" not in retry.stdout
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.startswith("symbl-async process: error: processing options: differ "
                                     "from this batch's (--enable-summary: unset -> True)")
    # What the dry run said is what the run did: two submits (the new one and the retried
    # one), the lost file fetched again without paying.
    assert real.returncode == 1, real.stderr  # the broken one failed again
    assert resubmitted == 2
    assert Path(lost).exists()
    assert "retry_failed" not in plain.stdout + retry.stdout + refused.stderr


async def _dump(url: str) -> dict[str, Any]:
    conn = await asyncpg.connect(url)
    try:
        if await conn.fetchval("SELECT to_regclass('items') IS NULL"):
            tables = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = "
                                      "'public'")
            return {"tables": [r[0] for r in tables]}
        return {table: [tuple(r) for r in await conn.fetch(f"SELECT * FROM {table} ORDER BY 1")]
                for table in ("items", "meta", "workers", "account")}
    finally:
        await conn.close()


def test_a_dry_run_on_a_shared_ledger_reads_it_and_writes_nothing(
    tmp_path: Path, cli: CliRun, pg_url: str
) -> None:
    out = tmp_path / "out"
    with threaded_emulator(fail_inputs=frozenset({BROKEN})) as emu:
        empty = cli(*run_args(emu.url, out, OK1, BROKEN), "--ledger", pg_url, "--dry-run")
        assert asyncio.run(_dump(pg_url)) == {"tables": []}  # nothing created
        first = cli(*run_args(emu.url, out, OK1, BROKEN), "--ledger", pg_url)
        assert first.returncode == 1, first.stderr
        before, files, paid = asyncio.run(_dump(pg_url)), tree(tmp_path), emu.stats()
        again = cli(*run_args(emu.url, out, OK1, BROKEN, NEW), "--ledger", pg_url, "--dry-run")
        assert emu.stats()["jobs_submitted"] == paid["jobs_submitted"]
    assert empty.returncode == 0, empty.stderr
    assert "2 input(s); no batch recorded yet: every input is new" in empty.stdout
    assert "would submit 2 job(s): 2 URLs" in empty.stdout
    assert again.returncode == 0, again.stderr
    said = again.stdout.splitlines()
    assert "3 input(s); judged against the shared ledger (read only)" in said
    assert "would submit 1 job(s): 1 URLs; 0.00 media hours known (1 of unknown length)" in said
    assert ("would skip: 1 done earlier, 1 failed earlier (--retry-failed retries them)"
            in said)
    assert asyncio.run(_dump(pg_url)) == before
    assert tree(tmp_path) == files
    assert "pw-Secret" not in again.stdout + again.stderr


def test_price_per_minute_needs_dry_run(tmp_path: Path, cli: CliRun) -> None:
    done = cli("process", OK1, "--out", str(tmp_path / "o"), "--price-per-minute", "0.1")
    assert done.returncode == 2
    assert done.stderr == "symbl-async process: error: --price-per-minute needs --dry-run\n"
    assert list(tmp_path.iterdir()) == []
