"""The ``symbl-async process`` command: checks before anything runs, then the run.

``process INPUT... --out DIR`` runs a batch (:func:`symbl_async.batch._api.process_many`) over
files, folders (recursively, media files only), URLs and ``--manifest`` files, with a
ledger (default ``DIR/ledger.sqlite3``) so that running the same command again resumes it.
What can be checked is checked before anything is created: every flag and path (without
creating a folder or a ledger), the credentials and the base URL, then the server (it must
answer with a token). Only then are the output folder and ledger made; a usage error after
that (a ledger another run holds, a rerun refused for its options) removes what this
command created (``_leftovers``), so it leaves nothing behind. Ctrl-C, SIGTERM or SIGHUP
(the terminal closed) once stops submitting, lets submits on the wire settle, and prints
the command that resumes; twice quits at once (every ledger transition is its own
transaction, so the ledger is consistent either way). ``--dry-run`` says what the run
would do (``_dry_run``).

Its flags are defined in ``_process_args``; the progress display is ``_progress``, the
report of what folder walks left out ``_skips``. Messages name the library's parameters as
this command's flags (:data:`OPTION_FLAGS`).

Exit status: 0 when every item succeeded (or was done earlier), 1 when some failed or a
folder walk left out what looks like a recording (or nothing was found at all), 2 on
usage errors (bad flag, unwritable output folder, unreadable manifest, missing or refused
credentials, a server that cannot be reached), 130 after Ctrl-C, 143 after SIGTERM, 129
after SIGHUP. A dry run exits as the run would before it submits: 1 when an input would
fail at once (or nothing was found), 2 on usage errors, else 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
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

from symbl_async.batch._api import LEDGER_FILE, BatchRun, process_many
from symbl_async.batch._inputs import Source, SourceError, expand_inputs, read_manifest
from symbl_async.batch._ledger import SqliteLedger
from symbl_async.batch._output import check_output_dir
from symbl_async.batch._rerun import read_webhook_token, shared_webhook_token
from symbl_async.batch._results import BatchSummary
from symbl_async.batch._slots import PLAN_LIMITS, JobSlots
from symbl_async.cli._dry_run import DryRun
from symbl_async.cli._leftovers import Leftovers
from symbl_async.cli._loop import LoopFactory, run
from symbl_async.cli._process_args import DEFAULT_LIMIT, EMULATOR_TIME_SCALE
from symbl_async.cli._progress import ProgressDisplay
from symbl_async.cli._skips import Skips
from symbl_async.client._client import SymblClient
from symbl_async.client._waiting import PollSchedule
from symbl_async.core._checks import is_database_url, redact_url
from symbl_async.core._options import ProcessingOptions, check_http_url
from symbl_async.errors import (
    AuthenticationError,
    SymblConnectionError,
    SymblError,
    ValidationError,
)
from symbl_async.models._converter import camel_case

__all__ = [
    "EXIT_FAILED", "EXIT_HUNG_UP", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_TERMINATED",
    "EXIT_USAGE",
    "OPTION_FLAGS",
    "run_batch_command",
]

# How the library's messages (process_many(option_names=...), and the errors this command
# prints) name its parameters and the processing options, said as this command's flags: a
# processing option without a flag of its own by its name in the API's JSON, as
# --options-json takes it.
OPTION_FLAGS: dict[str, str] = {
    **{field.name: camel_case(field.name) for field in attrs.fields(ProcessingOptions)},
    "confidence_threshold": "--confidence-threshold",
    "language_code": "--language-code",
    "detect_phrases": "--detect-phrases",
    "enable_summary": "--enable-summary",
    "options": "processing options",
    "include": "--include",
    "max_concurrent_jobs": "--max-concurrent-jobs",
    "plan": "--plan",
    "ledger": "--ledger",
    "ledger_path": "--ledger",
    "out_dir": "--out",
    "base_url": "--base-url",
    "retry_failed": "--retry-failed",
    "reprocess": "--reprocess",
    "lookahead": "--lookahead",
    "wait_timeout": "--wait-timeout",
    "wait_mode": "--wait",
    "lookup_grace": "--lookup-grace",
    "lease": "--lease",
    "fetch_timeout": "--fetch-timeout",
    "ledger_outage": "--ledger-outage",
    "uploads_at_once": "--uploads-at-once",
    "transcripts": "--transcripts",
}

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # the shell's convention for "ended by SIGINT"
EXIT_TERMINATED = 143  # ... and for "ended by SIGTERM"
EXIT_HUNG_UP = 129  # ... and for "ended by SIGHUP"


class _UsageError(Exception):
    """A bad flag or unusable path: print it and exit 2 before anything is submitted."""


def _said(exc: ValidationError) -> str:
    """A library's ValidationError as this command says it: the field as its flag."""
    return f"{OPTION_FLAGS.get(exc.field, exc.field)}: {exc.rule}"


def run_batch_command(
    args: argparse.Namespace, argv: list[str], *, loop: LoopFactory | None = None
) -> int:
    """Run ``process`` from parsed arguments.

    Args:
        args: the namespace from the ``symbl-async`` parser.
        argv: the arguments as given (for the command that resumes the batch).
        loop: makes the event loop the batch runs on (``symbl_async.cli._loop``);
            ``None``: asyncio's own.

    Returns:
        The exit status (see the module docstring).
    """
    try:
        plan = _plan(args)
    except _UsageError as exc:
        print(f"symbl-async process: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return run(_process(args, plan, argv), loop)
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
    limit_given: bool
    time_scale: float
    manifests: list[Path]


def _plan(args: argparse.Namespace) -> _Plan:
    """Check every flag and path, creating nothing; raise :class:`_UsageError`."""
    if not args.inputs and not args.manifest:
        raise _UsageError("give at least one INPUT (file, folder or URL) or --manifest FILE")
    if args.price_per_minute is not None and not args.dry_run:
        raise _UsageError("--price-per-minute needs --dry-run")
    options = _processing_options(args)
    out = Path(args.out).absolute()
    _check_creatable(out, "--out")
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
        _check_ledger_file(ledger_path, read_only=args.dry_run)
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
                 limit_given=args.plan is not None or args.max_concurrent_jobs is not None,
                 time_scale=time_scale, manifests=list(args.manifest))


def _check_creatable(path: Path, flag: str) -> None:
    """A folder that exists and can be written, or can be created; nothing is created."""
    existing = next(p for p in (path, *path.parents) if p.exists() or p == Path(p.anchor))
    if existing == path and not path.is_dir():
        raise _UsageError(f"{flag}: cannot write to {str(path)!r}: it is a file, not a folder")
    if not existing.is_dir():
        raise _UsageError(f"{flag}: cannot write to {str(path)!r}: {str(existing)!r} is a file, "
                          "not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise _UsageError(f"{flag}: cannot write to {str(path)!r}: {str(existing)!r} is not "
                          "writable")


def _check_ledger_file(path: Path, *, read_only: bool) -> None:
    """An existing ledger must be one this version reads (a dry run only reads it); a
    missing one must be creatable. Nothing is created."""
    if not path.exists():
        _check_creatable(path.parent, "--ledger")
        return
    try:
        if read_only:
            SqliteLedger.open_read_only(path).close()
        else:
            SqliteLedger.open(path).close()
    except ValidationError as exc:
        raise _UsageError(f"--ledger: {exc.rule}") from exc


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


async def _shared_token(url: str) -> str:
    try:
        return await shared_webhook_token(url)
    except ValidationError as exc:
        raise _UsageError(f"--ledger: {exc.rule}") from exc


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
    """The client (its emulator, its receiver) for the run, its server checked once.

    In this order, so that a usage error leaves nothing behind and costs nothing: the
    credentials and base URL (no request), the server (one cheap read: refused credentials
    or an unreachable server stop us here, not as a failure recorded for every item), then
    the webhook receiver (not for a dry run).
    """
    client_args: dict[str, Any] = {"base_url": args.base_url}
    if args.emulator:
        from symbl_async.emulator import Emulator  # its server: only when it runs one

        emulator = Emulator(time_scale=plan.time_scale, concurrency_limit=plan.limit)
        await stack.enter_async_context(emulator)
        client_args = {"base_url": emulator.url, "app_id": emulator.app_id,
                       "app_secret": emulator.app_secret}
    try:
        client = SymblClient(**client_args, poll=PollSchedule(time_scale=plan.time_scale))
    except ValidationError as exc:
        if exc.field in ("app_id", "app_secret"):  # the command takes them from there
            raise _UsageError(_credentials_problem(exc)) from exc
        if exc.field == "base_url" and args.base_url is None:  # it came from there
            raise _UsageError(f"$SYMBL_BASE_URL: {exc.rule}") from exc
        raise _UsageError(_said(exc)) from exc
    await stack.enter_async_context(client)
    try:
        await client.conversations.list(limit=1)
    except AuthenticationError as exc:
        hint = _path_hint(client.base_url)
        raise _UsageError(f"credentials refused by {client.base_url}{hint}: {exc}") from exc
    except SymblConnectionError as exc:
        raise _UsageError(f"{exc}. Is the server up, and the base URL right?") from exc
    except SymblError as exc:
        hint = _path_hint(client.base_url)
        raise _UsageError(f"cannot use {client.base_url}{hint}: {exc}") from exc
    if args.wait != "poll" and not args.dry_run:
        # Imported here: a run that polls never loads the receiver (aiohttp's server).
        from symbl_async.webhooks._pg_relay import PostgresRelay
        from symbl_async.webhooks._receiver import WebhookReceiver

        receiver = WebhookReceiver(
            host=args.webhook_host or "127.0.0.1",
            port=args.webhook_port or 0,
            public_url=args.webhook_public_url,
            # The batch's own token, kept in its ledger (read here, never created: a run
            # stores its receiver's): jobs an earlier run (or a crashed one, or another
            # worker) submitted still call this URL (same --webhook-port / public URL). A
            # shared batch's workers share one token (made once, in its database) and relay
            # deliveries to each other through it, so a job adopted from a worker that is
            # gone is heard too.
            token=(await _shared_token(plan.ledger) if isinstance(plan.ledger, str)
                   else _stored_token(plan.ledger)),
            relay=PostgresRelay(plan.ledger) if isinstance(plan.ledger, str) else None,
            # Lagging confirmations are asked again on the service's clock.
            reconfirm_delay=1.0 / plan.time_scale,
        )
        try:
            await stack.enter_async_context(receiver)
        except OSError as exc:
            raise _UsageError(f"cannot start the webhook receiver: {exc}") from exc
        client.attach_receiver(receiver)
    return client


def _credentials_problem(exc: ValidationError) -> str:
    names = {"app_id": "SYMBL_APP_ID", "app_secret": "SYMBL_APP_SECRET"}
    if not any(os.environ.get(name) for name in names.values()):
        return "credentials are missing: set SYMBL_APP_ID and SYMBL_APP_SECRET (or try --emulator)"
    return f"${names[exc.field]}: {exc.rule}"


def _stored_token(ledger: Path) -> str | None:
    try:
        return read_webhook_token(ledger)
    except ValidationError as exc:
        raise _UsageError(_said(exc)) from exc


async def _process(args: argparse.Namespace, plan: _Plan, argv: list[str]) -> int:
    async with contextlib.AsyncExitStack() as stack:
        client = await _connect(stack, args, plan)
        if args.dry_run:
            return await _dry_run(args, plan, client)
        leftovers = Leftovers(plan.out, plan.ledger if isinstance(plan.ledger, Path) else None)
        try:
            return await _run(args, plan, argv, client)
        except _UsageError:
            leftovers.remove()
            raise


async def _run(
    args: argparse.Namespace, plan: _Plan, argv: list[str], client: SymblClient
) -> int:
    # Long by process_many's arguments (one per flag) and the run's three companions: the
    # progress ticker, Ctrl-C, and the error said with the resume command.
    try:
        check_output_dir(plan.out)
    except ValidationError as exc:
        raise _UsageError(f"--out: {exc.rule}") from exc
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
        uploads_at_once=args.uploads_at_once,
        ledger_outage=args.ledger_outage,
        wait_mode=args.wait,
        on_event=display.on_event,
        option_names=OPTION_FLAGS,
    )
    command = resume_command(argv)
    stopper = StopSignals(display, run.stop, command)
    undo = stopper.install()
    ticker = asyncio.create_task(_tick(display, run))
    try:
        with display.logging_around(logging.getLogger("symbl_async")):
            async with run:
                async for result in run:
                    if result.status == "failed":
                        display.note(f"failed: {result.source}: {result.error}")
    except ValidationError as exc:
        raise _UsageError(_said(exc)) from exc
    except (SymblError, OSError) as exc:
        # Credentials refused mid-run, the ledger's disk full, an input unreadable: the
        # ledger is consistent, so fixing the cause and rerunning resumes.
        display.finish()
        print(f"symbl-async process: error: {exc}", file=sys.stderr)
        print(f"Fix the problem, then resume with:\n  {command}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        undo()
        ticker.cancel()
        await asyncio.gather(ticker, return_exceptions=True)
    display.finish()
    summary = run.summary
    assert summary is not None
    return _report(summary, skips, plan, command, stopper.exit_status)


async def _dry_run(args: argparse.Namespace, plan: _Plan, client: SymblClient) -> int:
    """Say what the run would do; send and write nothing (see ``_dry_run``)."""
    dry = DryRun(client=client, options=plan.options, include=args.include,
                 transcripts=args.transcripts, out=plan.out,
                 ledger=plan.ledger, retry_failed=args.retry_failed, reprocess=args.reprocess,
                 limit=plan.limit, limit_given=plan.limit_given,
                 price_per_minute=args.price_per_minute, names=OPTION_FLAGS)
    skips = Skips()
    try:
        forecast, had_ledger = await dry.forecast(_sources(args.inputs, plan.manifests, skips))
    except ValidationError as exc:
        raise _UsageError(_said(exc)) from exc
    except SymblError as exc:  # the ledger could not be read
        raise _UsageError(f"--ledger: {exc}") from exc
    dry.report(forecast, had_ledger, sys.stdout)
    skips.report(sys.stdout)
    if forecast.read == 0:
        print("symbl-async process: error: no recordings found in the inputs", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_FAILED if forecast.bad_count or skips.worrying else EXIT_OK


async def _tick(display: ProgressDisplay, run: BatchRun) -> None:
    """Show the counters every second (a line every ``--progress-interval`` outside a
    terminal), whether or not anything happened: elapsed time moves, and a line frozen
    while jobs run for minutes looks like a hang."""
    while run.summary is None:
        await asyncio.sleep(1.0)
        if run.summary is None:
            display.tick(run.progress)


class StopSignals:
    """Ctrl-C (SIGINT), SIGTERM and SIGHUP, as a batch's command takes them: the first
    stops submitting (:meth:`BatchRun.stop`: submits on the wire settle, the run ends and
    says how to resume), the second quits at once. SIGTERM is what a container's stop,
    systemd and Kubernetes send, then SIGKILL after a grace period; SIGHUP, what a closed
    terminal or a dropped SSH session sends. The first lets the run end cleanly (results
    and summary written, a shared batch's lease given back so that its peers take over at
    once), where their default would end the process as a SIGKILL does (the ledger is
    consistent either way).

    A signal ignored when the run starts stays ignored, as Python leaves SIGINT: ``nohup``
    ignores SIGHUP, and a shell script's ``&`` job SIGINT, so that they outlive the
    terminal and its Ctrl-C. After a SIGHUP, the standard streams that were the terminal
    are sent to the null device: the terminal is gone, and a write to it would fail.
    """

    _SIGNALS = tuple(
        (signum, name, status)
        for signum, name, status in (
            (signal.SIGINT, "Ctrl-C", EXIT_INTERRUPTED),
            (signal.SIGTERM, "SIGTERM", EXIT_TERMINATED),
            (getattr(signal, "SIGHUP", None), "SIGHUP", EXIT_HUNG_UP),  # POSIX only
        )
        if signum is not None
    )

    def __init__(self, display: ProgressDisplay, stop: Callable[[], None], command: str) -> None:
        self._display, self._stop, self._command = display, stop, command
        self.exit_status = EXIT_INTERRUPTED
        """The exit status of a run that a signal stopped: the shell's, for the first."""
        self._received = 0
        self._terminal: list[int] = []  # the standard streams' descriptors on a terminal

    def install(self) -> Callable[[], None]:
        """Handle both signals on the running loop; returns the undo.

        The loop's own signal handling where it has one (POSIX); elsewhere (Windows' event
        loops raise NotImplementedError) plain ``signal.signal`` handlers that hand over
        to the loop.
        """
        loop = asyncio.get_running_loop()
        # Looked at now: a hung-up terminal may no longer say it is one.
        self._terminal = _terminal_descriptors()
        undo: list[Callable[[], object]] = []
        for signum, name, status in self._SIGNALS:
            def handler(name: str = name, status: int = status) -> None:
                self.received(name, status)

            previous = signal.getsignal(signum)
            if previous is signal.SIG_IGN:
                continue  # nohup, or a script's background job: left as it was
            try:
                loop.add_signal_handler(signum, handler)
            except NotImplementedError:
                signal.signal(signum, lambda *_, h=handler: loop.call_soon_threadsafe(h))
            else:
                # Its removal leaves SIG_DFL: the handler before it (a program's own, when
                # it calls main(argv)) is put back after.
                undo.append(functools.partial(loop.remove_signal_handler, signum))
            if previous is not None:
                undo.append(functools.partial(signal.signal, signum, previous))

        def restore() -> None:
            for step in undo:
                step()

        return restore

    def received(self, name: str, status: int) -> None:
        """One signal, called on the event loop."""
        self._received += 1
        if status == EXIT_HUNG_UP:
            _leave_terminal(self._terminal)
        if self._received == 1:
            self.exit_status = status
            self._display.note(
                f"{name}: no new submits; letting submits in flight settle "
                f"({'Ctrl-C again' if name == 'Ctrl-C' else f'another {name} or Ctrl-C'} to "
                "quit at once)"
            )
            self._stop()
            return
        self._display.note(
            f"quitting now; the ledger is consistent. Resume with:\n  {self._command}")
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


def _terminal_descriptors() -> list[int]:
    """The descriptors of stdout and stderr that are a terminal."""
    found = []
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            fd = stream.fileno()
            if os.isatty(fd):
                found.append(fd)
    return found


def _leave_terminal(descriptors: Iterable[int]) -> None:
    """Point ``descriptors`` (the streams that were the terminal) at the null device, after
    SIGHUP: a write to a hung-up terminal fails with EIO, and Python's last flush of stdout
    would then change the exit status to 120. Files and pipes are left as they are."""
    for fd in descriptors:
        with contextlib.suppress(OSError):
            null = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(null, fd)
            finally:
                os.close(null)


def _report(
    summary: BatchSummary, skips: Skips, plan: _Plan, command: str, interrupted: int
) -> int:
    """Print the end of a run and return its exit status (``interrupted``: the status of
    a run a signal stopped)."""
    print(summary.format())
    skips.report(sys.stdout)
    print(f"results: {plan.out}  ledger: {redact_url(str(plan.ledger))}")
    if summary.interrupted:
        print(f"Interrupted. Resume with:\n  {command}", file=sys.stderr)
        return interrupted
    if summary.progress.read == 0:
        print("symbl-async process: error: no recordings found in the inputs", file=sys.stderr)
        return EXIT_FAILED
    failed = summary.progress.failed or skips.worrying
    return EXIT_FAILED if failed else EXIT_OK
