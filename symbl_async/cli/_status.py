"""``symbl-async status``: the item counts of a batch, read without writing anything.

Given the output folder (``--out DIR``, or ``--ledger`` naming a folder) it reads
``DIR/ledger.sqlite3``. The SQLite file is opened read-only (``mode=ro``): looking at a
batch must not create files or folders, change the ledger, or wait on a batch that is
running (SQLite's WAL lets a reader in while the writer works).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from symbl_async.batch._api import LEDGER_FILE
from symbl_async.batch._ledger import ItemState, SqliteLedger
from symbl_async.batch._ledger._postgres import batch_version
from symbl_async.cli._argtypes import ledger_arg
from symbl_async.core._checks import redact_url
from symbl_async.errors import SymblError, ValidationError

__all__ = ["add_status_command", "run_status"]

EXIT_OK = 0
EXIT_USAGE = 2


def add_status_command(subparsers: Any) -> None:
    """Register ``status`` on the ``symbl-async`` subcommand parsers.

    Args:
        subparsers: what ``ArgumentParser.add_subparsers()`` returned.
    """
    status = subparsers.add_parser(
        "status",
        help="print the item counts of a batch (reads its ledger; writes nothing)",
    )
    where = status.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--out", type=Path, metavar="DIR", help=f"the batch's output folder (reads {LEDGER_FILE})"
    )
    where.add_argument(
        "--ledger", type=ledger_arg, metavar="PATH|URL",
        help="the ledger file (or the folder holding it), or a shared batch's postgresql:// URL",
    )
    status.add_argument("--json", action="store_true", help="print the counts as JSON")


class _NoBatch(Exception):
    """The database holds no batch."""


def _error(text: str) -> int:
    print(f"symbl-async status: error: {text}", file=sys.stderr)
    return EXIT_USAGE


def run_status(args: argparse.Namespace, out: TextIO) -> int:
    """Print the counts of the ledger named by ``--out`` or ``--ledger``.

    Args:
        args: the parsed ``status`` arguments.
        out: where the counts go.

    Returns:
        0, or 2 when there is no readable ledger there.
    """
    if isinstance(args.ledger, str):
        return _shared_status(args.ledger, args.json, out)
    path: Path = args.out if args.out is not None else args.ledger
    if path.is_dir():
        path = path / LEDGER_FILE
    if not path.is_file():
        return _error(f"no ledger at {str(path)!r}")
    try:
        with SqliteLedger.open_read_only(path) as ledger:
            counts = ledger.counts()
            failed = list(itertools.islice(ledger.items(ItemState.FAILED), 20))
    except ValidationError as exc:
        return _error(exc.rule)
    except SymblError as exc:
        return _error(f"cannot read the ledger {str(path)!r}: {exc}")
    _print_counts(str(path), counts, [(i.source, i.error) for i in failed], args.json, out)
    return EXIT_OK


def _print_counts(where: str, counts: dict[str, int], failed: list[tuple[str, str | None]],
                  as_json: bool, out: TextIO, extra: dict[str, int] | None = None) -> None:
    total = sum(counts.values())
    if as_json:
        print(json.dumps({**counts, "total": total, **(extra or {})}), file=out)
        return
    print(f"ledger {where}", file=out)
    for name, count in (extra or {}).items():
        print(f"  {name:<11}{count:>8}", file=out)
    for state, count in counts.items():
        print(f"  {state:<11}{count:>8}", file=out)
    print(f"  {'total':<11}{total:>8}", file=out)
    for source, error in failed:
        print(f"  failed: {source}: {error}", file=out)
    if counts[ItemState.FAILED.value] > len(failed):
        print(f"  ... and {counts[ItemState.FAILED.value] - len(failed)} more failed", file=out)


def _shared_status(url: str, as_json: bool, out: TextIO) -> int:
    """A shared batch's counts and workers, read with plain SELECTs (nothing created)."""
    try:
        import asyncpg
    except ImportError:
        return _error("a postgresql:// ledger needs asyncpg: pip install 'symbl_async[postgres]'")

    async def read() -> tuple[dict[str, int], list[tuple[str, str | None]], dict[str, int]]:
        conn = await asyncpg.connect(url, timeout=30)
        try:
            if await batch_version(conn) is None:
                raise _NoBatch
            rows = await conn.fetch("SELECT state, count(*) FROM items GROUP BY state")
            failed = await conn.fetch(
                "SELECT source, error FROM items WHERE state = 'failed' ORDER BY key LIMIT 20"
            )
            alive = await conn.fetchval(
                "SELECT count(*) FROM workers WHERE lease_until > now()"
            )
        finally:
            await conn.close()
        counts = {state.value: 0 for state in ItemState}
        counts.update({r[0]: int(r[1]) for r in rows})
        return counts, [(r[0], r[1]) for r in failed], {"workers": int(alive)}

    try:
        counts, failed, extra = asyncio.run(read())
    except _NoBatch:
        return _error(f"no batch in this database ({redact_url(url)}): no worker has run "
                      "with it as --ledger yet")
    except Exception as exc:  # asyncpg's errors, OSError: no server, no ledger there
        return _error(f"cannot read the ledger {redact_url(url)!r}: "
                      f"{type(exc).__name__}: {redact_url(str(exc))}")
    _print_counts(redact_url(url), counts, failed, as_json, out, extra)
    return EXIT_OK

