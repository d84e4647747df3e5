"""The ``symbl-async process`` and ``symbl-async status`` commands.

``process INPUT... --out DIR`` runs a batch (:func:`symbl_async.batch._api.process_many`) over
files, folders (recursively, media files only), URLs and ``--manifest`` files, with a
ledger (default ``DIR/ledger.sqlite3``) so that running the same command again resumes it.
Every flag is checked, and the output folder and ledger opened, before anything is
submitted. Ctrl-C once stops submitting, lets submits on the wire settle, and prints the
command that resumes; twice quits at once (every ledger transition is its own
transaction, so the ledger is consistent either way).

Exit status: 0 when every item succeeded (or was done earlier), 1 when some failed, 2 on
usage errors (bad flag, unwritable output folder, unreadable manifest, missing or refused
credentials), 130 after Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import os
import shlex
import signal
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

import attrs

from symbl_async.batch._api import LEDGER_FILE, process_many
from symbl_async.batch._ledger import ItemState, Ledger
from symbl_async.batch._manifests import expand_inputs, read_manifest
from symbl_async.batch._results import BatchEvent, BatchProgress
from symbl_async.batch._slots import PLAN_LIMITS, JobSlots
from symbl_async.batch._sources import Source, SourceError
from symbl_async.batch._writer import check_output_dir
from symbl_async.cli._argtypes import non_negative_float, port, positive_float, positive_int
from symbl_async.client._conversations import ALL_INCLUDE, DEFAULT_INCLUDE
from symbl_async.core._options import ProcessingOptions, check_http_url
from symbl_async.errors import AuthenticationError, SymblError, ValidationError

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "ProgressDisplay",
           "add_batch_commands", "run_batch_command"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # the shell's convention for "ended by SIGINT"
_DEFAULT_LIMIT = 50  # adapted down on 429s; give --plan or --max-concurrent-jobs to skip probing
_EMULATOR_TIME_SCALE = 1000.0


class _UsageError(Exception):
    """A bad flag or unusable path: print it and exit 2 before anything is submitted."""


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


def _options_json(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("must be a JSON object")
    return value


def add_batch_commands(subparsers: Any) -> None:
    """Register ``process`` and ``status`` on the ``symbl-async`` subcommand parsers.

    Args:
        subparsers: what ``ArgumentParser.add_subparsers()`` returned.
    """
    proc = subparsers.add_parser(
        "process",
        help="process many recordings with every job slot busy; rerun to resume",
        description="Process files, folders (recursively, media files only), URLs and "
        "manifests; write one insights JSON per item, results.jsonl and summary.json to "
        "--out. Running the same command again resumes the batch.",
    )
    proc.add_argument("inputs", nargs="*", metavar="INPUT", help="files, folders or URLs")
    proc.add_argument(
        "--manifest", action="append", default=[], type=Path, metavar="FILE",
        help="a CSV or JSONL manifest (columns/keys: source, duration, key, kind, options); "
        "may be repeated",
    )
    proc.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder")
    proc.add_argument(
        "--ledger", type=Path, metavar="PATH",
        help=f"the SQLite ledger that makes reruns resume (default: DIR/{LEDGER_FILE})",
    )
    limits = proc.add_mutually_exclusive_group()
    limits.add_argument(
        "--max-concurrent-jobs", type=positive_int, metavar="N",
        help=f"the account's concurrent-job limit (default {_DEFAULT_LIMIT}, adapted down "
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
        help=f"service speed-up: the in-process emulator's (default {_EMULATOR_TIME_SCALE:g}),"
        " or that of the emulator --base-url points at, so that polls match (default 1)",
    )
    run = proc.add_argument_group("run")
    run.add_argument("--retry-failed", action="store_true",
                     help="retry items that failed in an earlier run")
    run.add_argument("--lookahead", type=positive_int, default=256, metavar="N",
                     help="inputs read ahead to start the longest first (default %(default)s)")
    run.add_argument("--wait-timeout", type=positive_float, metavar="SECONDS",
                     help="give up waiting for one job after this long (it stays submitted)")
    run.add_argument("--lookup-grace", type=non_negative_float, metavar="SECONDS",
                     help="after a submit got no answer, wait this long before a lookup by "
                     "name may conclude it created no job (default: submit timeout + 60 s)")
    hooks = proc.add_argument_group("waiting")
    hooks.add_argument(
        "--wait", choices=("poll", "webhook", "hybrid"), default="poll",
        help="how job ends are detected: polling GET /v1/job (default), webhooks to an "
        "embedded receiver, or hybrid (webhooks plus a slow safety poll)",
    )
    hooks.add_argument("--webhook-host", metavar="HOST",
                       help="address the webhook receiver binds (default 127.0.0.1)")
    hooks.add_argument("--webhook-port", type=port, metavar="PORT",
                       help="port of the webhook receiver (default: any free port)")
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

    status = subparsers.add_parser("status", help="print the item counts of a batch's ledger")
    status.add_argument("--ledger", required=True, type=Path, metavar="PATH", help="the ledger")
    status.add_argument("--json", action="store_true", help="print the counts as JSON")


def run_batch_command(args: argparse.Namespace) -> int:
    """Run ``process`` or ``status`` from parsed arguments.

    Args:
        args: the namespace from the ``symbl-async`` parser.

    Returns:
        The exit status (see the module docstring).
    """
    if args.command == "status":
        return _status(args, sys.stdout)
    try:
        plan = _plan(args)
    except _UsageError as exc:
        print(f"symbl-async process: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return asyncio.run(_process(args, plan))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except _UsageError as exc:
        print(f"symbl-async process: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


# -- status --------------------------------------------------------------------------


def _status(args: argparse.Namespace, out: TextIO) -> int:
    path: Path = args.ledger
    if not path.is_file():
        print(f"symbl-async status: error: no ledger at {str(path)!r}", file=sys.stderr)
        return EXIT_USAGE
    try:
        ledger = Ledger.open(path)
    except ValidationError as exc:
        print(f"symbl-async status: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    with ledger:
        counts = ledger.counts()
        failed = list(itertools.islice(ledger.items(ItemState.FAILED), 20))
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


# -- process: checks before anything runs --------------------------------------------


@attrs.frozen(kw_only=True)
class _Plan:
    """What the checks of ``process`` settled."""

    out: Path
    ledger: Path
    options: ProcessingOptions | None
    limit: int
    time_scale: float
    manifests: list[Path]


def _plan(args: argparse.Namespace) -> _Plan:
    """Check every flag and path; raise :class:`_UsageError` before anything runs."""
    if not args.inputs and not args.manifest:
        raise _UsageError("give at least one INPUT (file, folder or URL) or --manifest FILE")
    options = _processing_options(args)
    try:
        out = check_output_dir(args.out)
    except ValidationError as exc:
        raise _UsageError(f"--out: {exc.rule}") from exc
    ledger_path = (args.ledger or out / LEDGER_FILE).absolute()
    try:
        Ledger.open(ledger_path).close()
    except ValidationError as exc:
        raise _UsageError(f"--ledger: {exc.rule}") from exc
    for manifest in args.manifest:
        try:
            read_manifest(manifest).close()
        except ValidationError as exc:
            raise _UsageError(f"--manifest: {exc.rule}") from exc
    receiver_flags = [
        flag for flag, value in (("--webhook-host", args.webhook_host),
                                 ("--webhook-port", args.webhook_port),
                                 ("--webhook-public-url", args.webhook_public_url))
        if value is not None
    ]
    if receiver_flags and args.wait == "poll":
        raise _UsageError(f"{receiver_flags[0]} needs --wait webhook or --wait hybrid")
    if args.webhook_public_url is not None:
        try:
            check_http_url(args.webhook_public_url, "--webhook-public-url")
        except ValidationError as exc:
            raise _UsageError(str(exc)) from exc
    if args.plan is not None:
        limit = PLAN_LIMITS[args.plan]
    else:
        limit = args.max_concurrent_jobs or _DEFAULT_LIMIT
    time_scale = args.time_scale or (_EMULATOR_TIME_SCALE if args.emulator else 1.0)
    return _Plan(out=out, ledger=ledger_path, options=options, limit=limit,
                 time_scale=time_scale, manifests=list(args.manifest))


def _processing_options(args: argparse.Namespace) -> ProcessingOptions | None:
    data: dict[str, Any] = dict(args.options_json or {})
    flags = {
        "confidenceThreshold": args.confidence_threshold,
        "languageCode": args.language_code,
        "detectPhrases": args.detect_phrases,
        "enableSummary": args.enable_summary,
    }
    data.update({k: v for k, v in flags.items() if v is not None})
    if not data:
        return None
    try:
        return ProcessingOptions.from_json(data)
    except ValidationError as exc:
        raise _UsageError(f"processing options: {exc}") from exc


def _sources(inputs: Iterable[str], manifests: Iterable[Path]) -> Iterator[Source | SourceError]:
    yield from expand_inputs(inputs)
    for manifest in manifests:
        rows = read_manifest(manifest)
        try:
            yield from rows
        finally:
            rows.close()


def resume_command(argv: list[str]) -> str:
    """The exact command line that reruns (and so resumes) this batch.

    Args:
        argv: the arguments after the program name, as given.

    Returns:
        A shell command that changes to the current folder and reruns the program.
    """
    program = Path(sys.argv[0]).name
    if program in ("cli.py", "__main__.py", "-c") or program.endswith(".py"):
        prefix = [sys.executable, "-m", "symbl_async.cli._main"]
    else:
        prefix = [program or "symbl-async"]
    return f"(cd {shlex.quote(os.getcwd())} && {shlex.join(prefix + argv)})"


# -- process: the run -------------------------------------------------------------------


async def _process(args: argparse.Namespace, plan: _Plan) -> int:
    from symbl_async.client._client import SymblClient
    from symbl_async.client._waiting import PollSchedule
    from symbl_async.emulator import Emulator
    from symbl_async.webhooks._receiver import WebhookReceiver

    async with contextlib.AsyncExitStack() as stack:
        client_args: dict[str, Any] = {"base_url": args.base_url}
        if args.emulator:
            emulator = Emulator(time_scale=plan.time_scale, concurrency_limit=plan.limit)
            await stack.enter_async_context(emulator)
            client_args = {"base_url": emulator.url, "app_id": emulator.app_id,
                           "app_secret": emulator.app_secret}
        if args.wait != "poll":
            receiver = WebhookReceiver(
                host=args.webhook_host or "127.0.0.1",
                port=args.webhook_port or 0,
                public_url=args.webhook_public_url,
            )
            try:
                await stack.enter_async_context(receiver)
            except OSError as exc:
                raise _UsageError(f"cannot start the webhook receiver: {exc}") from exc
            client_args["receiver"] = receiver
        try:
            client = SymblClient(**client_args, poll=PollSchedule(time_scale=plan.time_scale))
        except ValidationError as exc:
            raise _UsageError(str(exc)) from exc
        await stack.enter_async_context(client)
        try:
            # One cheap read: refused credentials or an unreachable server stop us here,
            # not as a failure recorded for every item.
            await client.conversations.list(limit=1)
        except AuthenticationError as exc:
            raise _UsageError(f"credentials refused by {client.base_url}: {exc}") from exc
        except SymblError as exc:
            raise _UsageError(f"cannot use {client.base_url}: {exc}") from exc

        slots = JobSlots(
            plan.limit,
            backoff_base=1.0 / plan.time_scale,
            backoff_cap=30.0 / plan.time_scale,
        )
        tty = sys.stderr.isatty()
        display = ProgressDisplay(sys.stderr, tty=tty, interval=args.progress_interval)
        run = process_many(
            client,
            _sources(args.inputs, plan.manifests),
            options=plan.options,
            include=args.include,
            slots=slots,
            ledger=plan.ledger,
            out_dir=plan.out,
            retry_failed=args.retry_failed,
            lookahead=args.lookahead,
            wait_timeout=args.wait_timeout,
            lookup_grace=args.lookup_grace,
            wait_mode=args.wait,
            on_event=display.on_event,
        )
        command = resume_command(sys.argv[1:])
        interrupts = 0

        def on_sigint() -> None:
            nonlocal interrupts
            interrupts += 1
            if interrupts == 1:
                display.note(
                    "Ctrl-C: no new submits; letting submits in flight settle "
                    "(Ctrl-C again to quit at once)"
                )
                run.stop()
                return
            display.note(f"quitting now; the ledger is consistent. Resume with:\n  {command}")
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(EXIT_INTERRUPTED)

        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, on_sigint)
        try:
            async with run:
                async for result in run:
                    if result.status == "failed":
                        display.note(f"failed: {result.source}: {result.error}")
        except ValidationError as exc:
            raise _UsageError(str(exc)) from exc
        except (SymblError, OSError) as exc:
            # Credentials refused mid-run, the ledger's disk full, an input unreadable: the
            # ledger is consistent, so fixing the cause and rerunning resumes.
            display.finish()
            print(f"symbl-async process: error: {exc}", file=sys.stderr)
            print(f"Fix the problem, then resume with:\n  {command}", file=sys.stderr)
            return EXIT_FAILED
        finally:
            loop.remove_signal_handler(signal.SIGINT)
        display.finish()
        summary = run.summary
        assert summary is not None
        print(summary.format())
        print(f"results: {plan.out}  ledger: {plan.ledger}")
        if summary.interrupted:
            print(f"Interrupted. Resume with:\n  {command}", file=sys.stderr)
            return EXIT_INTERRUPTED
        return EXIT_OK if summary.progress.failed == 0 else EXIT_FAILED


class ProgressDisplay:
    """A live progress bar on a terminal (``\\r`` redraws), plain periodic lines otherwise."""

    def __init__(self, stream: TextIO, *, tty: bool, interval: float, width: int = 24) -> None:
        """Draw on ``stream``.

        Args:
            stream: usually ``sys.stderr``.
            tty: redraw one line in place; else print a line every ``interval`` seconds.
            interval: seconds between plain lines.
            width: characters of the bar.
        """
        self._stream = stream
        self._tty = tty
        self._interval = interval
        self._width = width
        self._last = -math.inf  # the first event always draws
        self._drawn = False
        self._progress = BatchProgress()

    def on_event(self, event: BatchEvent) -> None:
        """The ``on_event`` callback of the batch."""
        self._progress = event.progress
        now = time.monotonic()
        if self._tty:
            if now - self._last >= 0.1 or event.kind == "finished":
                self._last = now
                self._redraw()
        elif now - self._last >= self._interval or event.kind == "finished":
            self._last = now
            print("progress: " + self.line(self._progress), file=self._stream, flush=True)

    def note(self, text: str) -> None:
        """Print a message line without breaking the bar."""
        if self._tty and self._drawn:
            self._stream.write("\r\x1b[K")
        print(text, file=self._stream, flush=True)
        if self._tty:
            self._redraw()

    def finish(self) -> None:
        """Draw the last state and end the bar's line."""
        if self._tty:
            self._redraw()
            self._stream.write("\n")
            self._stream.flush()
            self._drawn = False

    def _redraw(self) -> None:
        p = self._progress
        total = p.total
        if total:
            filled = round(self._width * p.done / total)
            bar = "[" + "#" * filled + "." * (self._width - filled) + "] "
        else:
            bar = ""
        self._stream.write("\r\x1b[K" + bar + self.line(p))
        self._stream.flush()
        self._drawn = True

    @staticmethod
    def line(p: BatchProgress) -> str:
        """One line of counters: done/total, submitted, running, failed, 429s, ETA."""
        total = str(p.total) if p.total is not None else f"{p.read}+"
        eta = p.eta()
        parts = [
            f"done {p.done}/{total}",
            f"submitted {p.submitted}",
            f"running {p.running}",
            f"failed {p.failed}",
            f"skipped {p.skipped}",
            f"429s {p.rejected_429}",
            f"elapsed {_duration(p.elapsed)}",
            f"ETA {_duration(eta) if eta is not None else '?'}",
        ]
        return ", ".join(parts)


def _duration(seconds: float) -> str:
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
