"""The ``symbl-async`` command: ``demo``, ``emulator``, ``process`` and ``status``.

Exit status: 0 on success, 1 when work failed, 2 on usage errors. Errors the user can
fix (a busy port, an output path that is a file) are one line on stderr, never a
traceback. ``-v`` / ``--log-level`` log the package's own loggers to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from symbl_async._version import __version__
from symbl_async.cli._argtypes import positive_float
from symbl_async.cli._batch import run_batch_command
from symbl_async.cli._emulator import add_emulator_arguments, config_from_args
from symbl_async.cli._loop import LoopChoiceError, LoopFactory, loop_factory, run
from symbl_async.cli._process_args import add_process_command
from symbl_async.cli._status import add_status_command, run_status

__all__ = ["build_parser", "main"]

_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_GC_YOUNG = 20_000  # allocations between two young collections in a batch (default 700)
_handler: logging.Handler | None = None  # the handler main() installed, replaced per call


def _add_logging_flags(parser: argparse.ArgumentParser, default: object) -> None:
    # On the main parser and on every subcommand, so that both "symbl-async -v process"
    # and "symbl-async process -v" work; the subcommands' defaults are SUPPRESS so they
    # do not reset what was given before the subcommand.
    parser.add_argument(
        "-v", "--verbose", action="count", default=default,
        help="log more to stderr: -v INFO, -vv DEBUG",
    )
    parser.add_argument(
        "--log-level", choices=_LEVELS, type=str.upper, default=default,
        help="log level of the package's loggers on stderr (default WARNING)",
    )


def _setup_logging(args: argparse.Namespace) -> None:
    """Log ``symbl_async.*`` to stderr at the chosen level; other libraries stay quiet."""
    global _handler
    level_name = args.log_level or ("DEBUG" if args.verbose >= 2 else
                                    "INFO" if args.verbose == 1 else "WARNING")
    package = logging.getLogger("symbl_async")
    if _handler is not None:
        package.removeHandler(_handler)
    _handler = logging.StreamHandler(sys.stderr)
    _handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    package.addHandler(_handler)
    package.setLevel(level_name)
    # asyncpg (a shared ledger) logs its pool's reconnect attempts as warnings with
    # tracebacks while a database restarts: expected, and retried; shown with -vv only.
    driver = logging.getLogger("asyncpg")
    for handler in list(driver.handlers):
        if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stderr:
            driver.removeHandler(handler)
    driver.addHandler(_handler)
    driver.propagate = False
    driver.setLevel("WARNING" if level_name == "DEBUG" else "ERROR")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="symbl-async", description="Symbl.ai Async API client, batch runner and emulator."
    )
    parser.add_argument("--version", action="version", version=f"symbl_async {__version__}")
    _add_logging_flags(parser, None)
    parser.set_defaults(verbose=0)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", help="process a bundled sample set on the embedded emulator")
    demo.add_argument(
        "--out",
        type=Path,
        default=Path("symbl-demo-insights"),
        help="folder for the insights JSON files (default: %(default)s)",
    )
    demo.add_argument(
        "--time-scale",
        type=positive_float,
        default=500.0,
        help="emulator speed-up over real processing time (default: %(default)s)",
    )

    emu = commands.add_parser(
        "emulator",
        help="serve the Symbl API emulator until interrupted",
        description="Serve the Symbl API emulator, with optional seeded fault injection.",
    )
    add_emulator_arguments(emu)

    add_process_command(commands)
    add_status_command(commands)
    for sub in commands.choices.values():
        _add_logging_flags(sub, argparse.SUPPRESS)
    return parser


def _error(command: str, text: str, status: int = 2) -> int:
    print(f"symbl-async {command}: error: {text}", file=sys.stderr)
    return status


def _run_emulator(args: argparse.Namespace) -> int:
    from symbl_async.emulator import run_standalone

    try:
        config = config_from_args(args)
    except ValueError as exc:  # flags that do not go together
        return _error("emulator", str(exc))
    try:
        asyncio.run(run_standalone(config, host=args.host, port=args.port))
    except KeyboardInterrupt:
        print("emulator stopped", file=sys.stderr)
    except OSError as exc:
        # A busy port, an address not on this machine: the user's to fix.
        reason = exc.strerror or str(exc)
        return _error("emulator", f"cannot listen on {args.host}:{args.port}: {reason}")
    return 0


def _run_demo(args: argparse.Namespace, loop: LoopFactory | None) -> int:
    from symbl_async.cli._demo import run_demo

    out: Path = args.out.resolve()
    if out.exists() and not out.is_dir():
        return _error("demo", f"--out {str(args.out)!r} exists and is not a folder")
    try:
        run(run_demo(out, time_scale=args.time_scale, out=sys.stdout), loop)
    except OSError as exc:
        return _error("demo", f"cannot write to {str(out)!r}: {exc.strerror or exc}", 1)
    return 0


def _tune_gc() -> None:
    """Set the garbage collector for a long batch in a process of its own.

    A batch decodes about 50 kB of JSON per job (a ten-minute conversation's insights):
    with the default threshold (700), that made a young collection every few requests,
    and the full ones walked every object the imports made, 0.2 s of a 600-job run's
    5.3 s of CPU. The JSON trees hold no cycles and die within a job, so young
    collections are made rarely (the count is of containers made and not yet freed: the
    trees freed with their job do not add up, and the heap stayed as it was), and what
    exists once the command is set up is frozen out of the full collections (modules,
    classes, the parser: never garbage). Only for the console script (``argv`` not
    given): a program that calls :func:`main` owns its collector.
    """
    gc.freeze()
    gc.set_threshold(_GC_YOUNG)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``symbl-async`` console script.

    Args:
        argv: the arguments after the program name; ``sys.argv[1:]`` by default (the
            console script: ``process`` then tunes the garbage collector for the
            batch, see :func:`_tune_gc`).

    Returns:
        The exit status.
    """
    given = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(given)
    _setup_logging(args)
    loop: LoopFactory | None = None  # asyncio's own, for a program that calls main()
    if argv is None and args.command in ("demo", "process"):
        # The console script: the process is the command's own (see symbl_async.cli._loop).
        try:
            loop = loop_factory()
        except LoopChoiceError as exc:
            return _error(args.command, str(exc))
    if args.command == "demo":
        return _run_demo(args, loop)
    if args.command == "process":
        if argv is None:
            _tune_gc()
        return run_batch_command(args, given, loop=loop)
    if args.command == "status":
        return run_status(args, sys.stdout)
    return _run_emulator(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
