"""The ``symbl-async`` command: ``demo``, ``emulator``, ``process`` and ``status``.

Exit status: 0 on success, 1 when work failed, 2 on usage errors.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from symbl_async._version import __version__
from symbl_async.cli._argtypes import positive_float
from symbl_async.cli._batch import add_batch_commands, run_batch_command
from symbl_async.cli._emulator import add_emulator_arguments, config_from_args

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="symbl-async", description="Symbl.ai Async API client, batch runner and emulator."
    )
    parser.add_argument("--version", action="version", version=f"symbl_async {__version__}")
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

    add_batch_commands(commands)
    return parser


def _run_emulator(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from symbl_async.emulator import run_standalone

    try:
        config = config_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        asyncio.run(run_standalone(config, host=args.host, port=args.port))
    except KeyboardInterrupt:
        print("emulator stopped", file=sys.stderr)
    return 0


def _run_demo(args: argparse.Namespace) -> int:
    from symbl_async.cli._demo import run_demo

    asyncio.run(run_demo(args.out.resolve(), time_scale=args.time_scale, out=sys.stdout))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``symbl-async`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        return _run_demo(args)
    if args.command in ("process", "status"):
        return run_batch_command(args)
    return _run_emulator(args, parser)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
