"""The ``symbl-async process`` command: checks before anything runs, then the run.

``process INPUT... --out DIR`` runs a batch (:func:`symbl_async.batch._api.process_many`) over
files, folders (recursively, media files only), URLs and ``--manifest`` files, with a
ledger (default ``DIR/ledger.sqlite3``) so that running the same command again resumes it.
Every flag is checked, and the output folder and ledger opened, before anything is
submitted. Ctrl-C once stops submitting, lets submits on the wire settle, and prints the
command that resumes; twice quits at once (every ledger transition is its own
transaction, so the ledger is consistent either way).

Its flags are defined in ``_process_args``; the progress display is ``_progress``, the
report of what folder walks left out ``_skips``.

Exit status: 0 when every item succeeded (or was done earlier), 1 when some failed or a
folder walk left out what looks like a recording (or nothing was found at all), 2 on
usage errors (bad flag, unwritable output folder, unreadable manifest, missing or refused
credentials), 130 after Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import shlex
import signal
import sys
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import attrs

from symbl_async.batch._api import LEDGER_FILE, process_many
from symbl_async.batch._inputs import Source, SourceError, expand_inputs, read_manifest
from symbl_async.batch._ledger import SqliteLedger
from symbl_async.batch._output import check_output_dir
from symbl_async.batch._rerun import batch_webhook_token
from symbl_async.batch._results import BatchSummary
from symbl_async.batch._slots import PLAN_LIMITS, JobSlots
from symbl_async.cli._process_args import DEFAULT_LIMIT, EMULATOR_TIME_SCALE
from symbl_async.cli._progress import ProgressDisplay
from symbl_async.cli._skips import Skips
from symbl_async.client._client import SymblClient
from symbl_async.client._waiting import PollSchedule
from symbl_async.core._checks import is_database_url, redact_url
from symbl_async.core._options import ProcessingOptions, check_http_url
from symbl_async.errors import AuthenticationError, SymblError, ValidationError
from symbl_async.webhooks._receiver import WebhookReceiver

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "run_batch_command"]

# How the library's messages name its parameters, said as this command's flags.
OPTION_FLAGS = {"retry_failed": "--retry-failed", "reprocess": "--reprocess"}

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # the shell's convention for "ended by SIGINT"


class _UsageError(Exception):
    """A bad flag or unusable path: print it and exit 2 before anything is submitted."""


def run_batch_command(args: argparse.Namespace, argv: list[str]) -> int:
    """Run ``process`` from parsed arguments.

    Args:
        args: the namespace from the ``symbl-async`` parser.
        argv: the arguments as given (for the command that resumes the batch).

    Returns:
        The exit status (see the module docstring).
    """
    try:
        plan = _plan(args)
    except _UsageError as exc:
        print(f"symbl-async process: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return asyncio.run(_process(args, plan, argv))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except _UsageError as exc:
        print(f"symbl-async process: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


# -- process: checks before anything runs --------------------------------------------


@attrs.frozen(kw_only=True)
class _Plan:
    """What the checks of ``process`` settled."""

    out: Path
    ledger: Path | str  # str: a postgresql:// URL
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
    ledger_path: Path | str
    if isinstance(args.ledger, str):  # postgresql://: a batch shared by workers
        ledger_path = args.ledger
        try:
            import asyncpg  # noqa: F401
        except ImportError:
            raise _UsageError(
                "--ledger: a postgresql:// ledger needs asyncpg: "
                "pip install 'symbl_async[postgres]'"
            ) from None
    else:
        ledger_path = (args.ledger or out / LEDGER_FILE).absolute()
        try:
            SqliteLedger.open(ledger_path).close()
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
        limit = args.max_concurrent_jobs or DEFAULT_LIMIT
    time_scale = args.time_scale or (EMULATOR_TIME_SCALE if args.emulator else 1.0)
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


def _sources(
    inputs: Iterable[str], manifests: Iterable[Path], skips: Skips
) -> Iterator[Source | SourceError]:
    yield from expand_inputs(inputs, on_skip=skips)
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
    # A postgresql:// ledger's password never reaches the terminal (nor a log of it): the
    # command shows ***@ instead; give it again, or set PGPASSWORD.
    shown = [_hide_password(arg) for arg in argv]
    return f"(cd {shlex.quote(os.getcwd())} && {shlex.join(prefix + shown)})"


def _hide_password(arg: str) -> str:
    flag, sep, value = arg.partition("=") if arg.startswith("--") else ("", "", arg)
    if is_database_url(value):
        return flag + sep + redact_url(value)
    return arg


# -- process: the run -------------------------------------------------------------------


def _path_hint(base_url: str) -> str:
    """Why a base URL with a path was probably refused (``http://host/v1``)."""
    path = urllib.parse.urlsplit(base_url).path.rstrip("/")
    if not path:
        return ""
    return (
        f" (its path {path!r} looks wrong: --base-url is the API root, e.g. "
        "https://api.symbl.ai, without /v1)"
    )


async def _connect(
    stack: contextlib.AsyncExitStack, args: argparse.Namespace, plan: _Plan
) -> SymblClient:
    """The client (and its emulator, receiver) for the run, its server checked once."""
    from symbl_async.emulator import Emulator

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
            # The batch's own token, kept in its ledger: jobs an earlier run (or a crashed
            # one) submitted still call this URL (same --webhook-port / public URL).
            # (A shared batch's workers each have their own receiver and token.)
            token=None if isinstance(plan.ledger, str) else batch_webhook_token(plan.ledger),
            # Lagging confirmations are asked again on the service's clock.
            reconfirm_delay=1.0 / plan.time_scale,
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
        hint = _path_hint(client.base_url)
        raise _UsageError(f"credentials refused by {client.base_url}{hint}: {exc}") from exc
    except SymblError as exc:
        hint = _path_hint(client.base_url)
        raise _UsageError(f"cannot use {client.base_url}{hint}: {exc}") from exc
    return client


async def _process(args: argparse.Namespace, plan: _Plan, argv: list[str]) -> int:
    async with contextlib.AsyncExitStack() as stack:
        client = await _connect(stack, args, plan)
        slots = JobSlots(
            plan.limit,
            backoff_base=1.0 / plan.time_scale,
            backoff_cap=30.0 / plan.time_scale,
        )
        tty = sys.stderr.isatty()
        display = ProgressDisplay(sys.stderr, tty=tty, interval=args.progress_interval)
        skips = Skips()
        run = process_many(
            client,
            _sources(args.inputs, plan.manifests, skips),
            options=plan.options,
            include=args.include,
            transcripts=args.transcripts,
            slots=slots,
            ledger=plan.ledger,
            out_dir=plan.out,
            retry_failed=args.retry_failed,
            reprocess=args.reprocess,
            lookahead=args.lookahead,
            wait_timeout=args.wait_timeout,
            lookup_grace=args.lookup_grace,
            lease=args.lease,
            fetch_timeout=args.fetch_timeout,
            ledger_outage=args.ledger_outage,
            wait_mode=args.wait,
            on_event=display.on_event,
            option_names=OPTION_FLAGS,
        )
        command = resume_command(argv)
        undo = _catch_ctrl_c(_on_sigint(display, run.stop, command))
        try:
            with display.logging_around(logging.getLogger("symbl_async")):
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
            undo()
        display.finish()
        summary = run.summary
        assert summary is not None
        return _report(summary, skips, plan, command)


def _catch_ctrl_c(handler: Callable[[], None]) -> Callable[[], None]:
    """Call ``handler`` on the event loop for each Ctrl-C (SIGINT); returns the undo.

    The loop's own signal handling where it has one (POSIX); elsewhere (Windows' event
    loops raise NotImplementedError) a plain ``signal.signal`` handler that hands over to
    the loop.
    """
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGINT, handler)
    except NotImplementedError:
        previous = signal.signal(signal.SIGINT, lambda *_: loop.call_soon_threadsafe(handler))

        def restore() -> None:
            signal.signal(signal.SIGINT, previous)

        return restore

    def remove() -> None:
        loop.remove_signal_handler(signal.SIGINT)

    return remove


def _on_sigint(
    display: ProgressDisplay, stop: Callable[[], None], command: str
) -> Callable[[], None]:
    """The SIGINT handler: the first stops submitting, the second quits at once."""
    interrupts = 0

    def on_sigint() -> None:
        nonlocal interrupts
        interrupts += 1
        if interrupts == 1:
            display.note(
                "Ctrl-C: no new submits; letting submits in flight settle "
                "(Ctrl-C again to quit at once)"
            )
            stop()
            return
        display.note(f"quitting now; the ledger is consistent. Resume with:\n  {command}")
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_INTERRUPTED)

    return on_sigint


def _report(summary: BatchSummary, skips: Skips, plan: _Plan, command: str) -> int:
    """Print the end of a run and return its exit status."""
    print(summary.format())
    skips.report(sys.stdout)
    print(f"results: {plan.out}  ledger: {redact_url(str(plan.ledger))}")
    if summary.interrupted:
        print(f"Interrupted. Resume with:\n  {command}", file=sys.stderr)
        return EXIT_INTERRUPTED
    if summary.progress.read == 0:
        print("symbl-async process: error: no recordings found in the inputs", file=sys.stderr)
        return EXIT_FAILED
    failed = summary.progress.failed or skips.worrying
    return EXIT_FAILED if failed else EXIT_OK
