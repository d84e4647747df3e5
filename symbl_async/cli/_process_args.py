"""The flags of ``symbl-async process`` (checked by argparse; cross-checks in ``_batch``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from symbl_async.batch._api import LEDGER_FILE
from symbl_async.batch._output import TRANSCRIPT_FORMATS
from symbl_async.batch._slots import PLAN_LIMITS
from symbl_async.batch._uplink import UPLOADS_AT_ONCE
from symbl_async.cli._argtypes import (
    ledger_arg,
    non_negative_float,
    port,
    positive_float,
    positive_int,
)
from symbl_async.client._conversations import ALL_INCLUDE, DEFAULT_INCLUDE

__all__ = ["DEFAULT_LIMIT", "EMULATOR_TIME_SCALE", "add_process_command"]

DEFAULT_LIMIT = 50  # adapted down on 429s; give --plan or --max-concurrent-jobs to skip probing
EMULATOR_TIME_SCALE = 1000.0


def _include(text: str) -> tuple[str, ...]:
    if text.strip() == "all":
        return ALL_INCLUDE
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in ALL_INCLUDE]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown {', '.join(unknown) or 'empty list'}; choose from {', '.join(ALL_INCLUDE)}"
            " or 'all'"
        )
    return names


def _transcripts(text: str) -> tuple[str, ...]:
    if text.strip() == "all":
        return TRANSCRIPT_FORMATS
    formats = tuple(dict.fromkeys(f.strip().lower() for f in text.split(",") if f.strip()))
    unknown = [f for f in formats if f not in TRANSCRIPT_FORMATS]
    if unknown or not formats:
        raise argparse.ArgumentTypeError(
            f"unknown {', '.join(unknown) or 'empty list'}; choose from "
            f"{', '.join(TRANSCRIPT_FORMATS)} or 'all'"
        )
    return formats


def _options_json(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("must be a JSON object")
    return value


def add_process_command(subparsers: Any) -> None:
    """Register ``process`` on the ``symbl-async`` subcommand parsers.

    Args:
        subparsers: what ``ArgumentParser.add_subparsers()`` returned.
    """
    # One flat list of flag definitions, in --help order: split into pieces it would
    # read worse, and each piece would need the same parser handles.
    proc = subparsers.add_parser(
        "process",
        help="process many recordings with every job slot busy; rerun to resume",
        description="Process files, folders (recursively: media files, .txt transcripts and "
        "JSON conversations), URLs and manifests; write one insights JSON per item (in the "
        "subfolder its input was found in), results.jsonl, results.csv and summary.json to "
        "--out. Running the same command again resumes the batch.",
    )
    proc.add_argument("inputs", nargs="*", metavar="INPUT",
                      help="files, folders or URLs (.txt and .json files are text "
                      "conversations)")
    proc.add_argument(
        "--manifest", action="append", default=[], type=Path, metavar="FILE",
        help="a CSV or JSONL manifest (columns/keys: source, duration, key, kind, options); "
        "may be repeated",
    )
    proc.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder")
    proc.add_argument(
        "--ledger", type=ledger_arg, metavar="PATH|URL",
        help=f"the SQLite ledger that makes reruns resume (default: DIR/{LEDGER_FILE}); or "
        "a postgresql:// URL, shared by every worker started on the same inputs (on this "
        "machine or others): together they keep within the account's limit; needs "
        "pip install 'symbl_async[postgres]'",
    )
    limits = proc.add_mutually_exclusive_group()
    limits.add_argument(
        "--max-concurrent-jobs", type=positive_int, metavar="N",
        help=f"the account's concurrent-job limit (default {DEFAULT_LIMIT}, adapted down "
        "on 429s)",
    )
    limits.add_argument(
        "--plan", choices=list(PLAN_LIMITS),
        help="the account's plan, for its limit: "
        + ", ".join(f"{k} {v}" for k, v in PLAN_LIMITS.items()),
    )
    proc.add_argument(
        "--include", type=_include, default=DEFAULT_INCLUDE, metavar="A,B,C",
        help=f"insights to fetch, or 'all' (default: {','.join(DEFAULT_INCLUDE)})",
    )
    proc.add_argument(
        "--transcripts", type=_transcripts, default=(), metavar="A,B",
        help="transcripts to write beside each insights file: srt and md (Symbl's "
        "formatted transcript), vtt and txt (from the messages' times), or 'all'; a rerun "
        "fetches those missing without submitting again",
    )
    opts = proc.add_argument_group("processing options")
    opts.add_argument("--confidence-threshold", type=float, metavar="X", help="0.5 to 1.0")
    opts.add_argument("--language-code", metavar="CODE", help="e.g. en-US")
    opts.add_argument("--detect-phrases", action="store_true", default=None,
                      help="detect action phrases")
    opts.add_argument("--enable-summary", action="store_true", default=None,
                      help="enable the summary insight")
    opts.add_argument(
        "--options-json", type=_options_json, metavar="JSON",
        help="any options as the API's JSON object, e.g. '{\"enableAllTrackers\": true}'; "
        "the flags above override it",
    )
    server = proc.add_argument_group("server")
    where = server.add_mutually_exclusive_group()
    where.add_argument(
        "--base-url", metavar="URL",
        help="API root (default: $SYMBL_BASE_URL or https://api.symbl.ai); credentials come "
        "from $SYMBL_APP_ID and $SYMBL_APP_SECRET",
    )
    where.add_argument(
        "--emulator", action="store_true",
        help="run against an in-process emulator (a demo: its jobs vanish when the command "
        "ends, so a later rerun cannot resume them)",
    )
    server.add_argument(
        "--time-scale", type=positive_float, metavar="X",
        help=f"service speed-up: the in-process emulator's (default {EMULATOR_TIME_SCALE:g}),"
        " or that of the emulator --base-url points at, so that polls match (default 1)",
    )
    run = proc.add_argument_group("run")
    run.add_argument(
        "--dry-run", action="store_true",
        help="say what the run would submit (counts by kind, media hours), skip (done or "
        "failed earlier, unsupported) and how long it would take at the account's limit; "
        "send nothing but the credential check, write nothing",
    )
    run.add_argument("--price-per-minute", type=non_negative_float, metavar="X",
                     help="with --dry-run: also say the expected cost at X per media minute")
    run.add_argument("--retry-failed", action="store_true",
                     help="retry items that failed in an earlier run")
    run.add_argument("--reprocess", action="store_true",
                     help="accept processing options that differ from the batch's first run: "
                     "every item is then submitted (and paid for) again")
    run.add_argument("--lookahead", type=positive_int, metavar="N",
                     help="inputs read ahead to start the longest first (default: 16 per "
                     "job slot, at least 256)")
    run.add_argument("--wait-timeout", type=positive_float, metavar="SECONDS",
                     help="give up waiting for one job after this long (it stays submitted)")
    run.add_argument("--lookup-grace", type=non_negative_float, metavar="SECONDS",
                     help="after a submit got no answer, wait this long before a lookup by "
                     "name may conclude it created no job (default: submit timeout + 60 s)")
    run.add_argument("--fetch-timeout", type=positive_float, default=1800.0, metavar="SECONDS",
                     help="keep fetching a finished job's insights this long (with backoff) "
                     "before the item fails (default %(default)s; a rerun with "
                     "--retry-failed fetches it again without paying)")
    run.add_argument("--uploads-at-once", type=positive_int, default=UPLOADS_AT_ONCE,
                     metavar="N",
                     help="file uploads on the wire at once, by this process (default "
                     "%(default)s: they fill the uplink; more only share it, and no job "
                     "starts until they all end). The bound is per worker: two workers on "
                     "one machine put up to twice as many on its uplink")
    run.add_argument("--ledger-outage", type=positive_float, default=300.0, metavar="SECONDS",
                     help="with a postgresql:// --ledger: how long this worker rides out the "
                     "database's absence (an outage, a failover) before it stops "
                     "(default %(default)s)")
    run.add_argument("--lease", type=positive_float, default=30.0, metavar="SECONDS",
                     help="with a postgresql:// --ledger: how long this worker may go silent "
                     "before the others adopt its jobs (default %(default)s)")
    hooks = proc.add_argument_group("waiting")
    hooks.add_argument(
        "--wait", choices=("poll", "webhook", "hybrid"), default="poll",
        help="how job ends are detected: polling GET /v1/job (default), webhooks to an "
        "embedded receiver, or hybrid (webhooks plus a slow safety poll)",
    )
    hooks.add_argument("--webhook-host", metavar="HOST",
                       help="address the webhook receiver binds (default 127.0.0.1)")
    hooks.add_argument("--webhook-port", type=port, metavar="PORT",
                       help="port of the webhook receiver (default: any free port; give "
                       "one, or --webhook-public-url, so that a rerun of the batch still "
                       "gets the webhooks of jobs an earlier run submitted)")
    hooks.add_argument(
        "--webhook-public-url", metavar="URL",
        help="URL at which the service reaches the receiver (a tunnel or reverse proxy); "
        "needed for the real service, which cannot call 127.0.0.1",
    )
    run.add_argument(
        "--progress-interval", type=positive_float, default=10.0, metavar="SECONDS",
        help="seconds between progress lines when stderr is not a terminal "
        "(default %(default)s)",
    )
