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
from symbl_async.cli._argtypes import port, positive_float, positive_int, rate
from symbl_async.cli._batch import add_batch_commands, run_batch_command

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

    emu = commands.add_parser("emulator", help="serve the Symbl API emulator until interrupted")
    emu.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    emu.add_argument("--port", type=port, default=8080, help="port, 0 for any free one")
    emu.add_argument(
        "--concurrency-limit",
        type=positive_int,
        default=50,
        help="concurrent jobs per account (trial 2, free 5, paid 50)",
    )
    emu.add_argument(
        "--time-scale",
        type=positive_float,
        default=1.0,
        help="divide processing times by this factor",
    )
    emu.add_argument(
        "--token-lifetime",
        type=positive_float,
        default=86400.0,
        help="access token lifetime in seconds",
    )
    emu.add_argument(
        "--webhook-drop-rate", type=rate, default=0.0, help="share of webhooks silently dropped"
    )
    emu.add_argument(
        "--webhook-duplicate-rate", type=rate, default=0.0, help="share of webhooks sent twice"
    )
    emu.add_argument("--seed", type=int, default=0, help="seed of the fault knobs")

    add_batch_commands(commands)
    return parser


def _run_emulator(args: argparse.Namespace) -> int:
    from symbl_async.emulator import EmulatorConfig, run_standalone

    config = EmulatorConfig(
        concurrency_limit=args.concurrency_limit,
        time_scale=args.time_scale,
        token_lifetime=args.token_lifetime,
        webhook_drop_rate=args.webhook_drop_rate,
        webhook_duplicate_rate=args.webhook_duplicate_rate,
        seed=args.seed,
    )
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
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        return _run_demo(args)
    if args.command in ("process", "status"):
        return run_batch_command(args)
    return _run_emulator(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
