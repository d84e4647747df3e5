"""``symbl-async status``: the item counts of a batch, read without writing anything.

Given the output folder (``--out DIR``, or ``--ledger`` naming a folder) it reads
``DIR/ledger.sqlite3``. The SQLite file is opened read-only (``mode=ro``): looking at a
batch must not create files or folders, change the ledger, or wait on a batch that is
running (SQLite's WAL lets a reader in while the writer works).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sqlite3
import sys
import urllib.parse
from pathlib import Path
from typing import Any, TextIO

from symbl_async.batch._api import LEDGER_FILE
from symbl_async.batch._ledger import ItemState, Ledger
from symbl_async.errors import SymblError

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
        "--ledger", type=Path, metavar="PATH", help="the ledger file (or the folder holding it)"
    )
    status.add_argument("--json", action="store_true", help="print the counts as JSON")


def _error(text: str) -> int:
    print(f"symbl-async status: error: {text}", file=sys.stderr)
    return EXIT_USAGE


def _open_read_only(path: Path) -> Ledger:
    # mode=ro still creates the -shm (and -wal) files of a WAL database when they are
    # absent; immutable=1 creates nothing and is exact when there is no -wal (the last
    # run closed cleanly and checkpointed). With a -wal (a run going on, or killed), the
    # files already exist and mode=ro reads the latest commits through them.
    wal = path.with_name(path.name + "-wal")
    query = "mode=ro" if wal.exists() else "mode=ro&immutable=1"
    uri = "file:" + urllib.parse.quote(str(path.absolute())) + "?" + query
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=10.0)
    try:
        # A file that is not a ledger fails here, not halfway through the listing.
        conn.execute("SELECT state FROM items LIMIT 1").fetchall()
    except sqlite3.Error:
        conn.close()
        raise
    return Ledger(conn, path)


def run_status(args: argparse.Namespace, out: TextIO) -> int:
    """Print the counts of the ledger named by ``--out`` or ``--ledger``.

    Args:
        args: the parsed ``status`` arguments.
        out: where the counts go.

    Returns:
        0, or 2 when there is no readable ledger there.
    """
    path: Path = args.out if args.out is not None else args.ledger
    if path.is_dir():
        path = path / LEDGER_FILE
    if not path.is_file():
        return _error(f"no ledger at {str(path)!r}")
    try:
        with _open_read_only(path) as ledger:
            counts = ledger.counts()
            failed = list(itertools.islice(ledger.items(ItemState.FAILED), 20))
    except (sqlite3.Error, SymblError) as exc:
        return _error(f"cannot read the ledger {str(path)!r}: {exc}")
    total = sum(counts.values())
    if args.json:
        print(json.dumps({**counts, "total": total}), file=out)
        return EXIT_OK
    print(f"ledger {path}", file=out)
    for state, count in counts.items():
        print(f"  {state:<11}{count:>8}", file=out)
    print(f"  {'total':<11}{total:>8}", file=out)
    for item in failed:
        print(f"  failed: {item.source}: {item.error}", file=out)
    if counts[ItemState.FAILED.value] > len(failed):
        print(f"  ... and {counts[ItemState.FAILED.value] - len(failed)} more failed", file=out)
    return EXIT_OK
