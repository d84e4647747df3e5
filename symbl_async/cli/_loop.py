"""Which event loop the console script runs its command on: uvloop when installed.

uvloop (the ``speedups`` extra; it has no Windows build) runs the same coroutines with
less CPU spent in the loop and its sockets: 5-10 % less per request, about 5 % less for
the whole ``symbl-async process`` (benchmarks/results/cpu.md). Its other use: services
under uvicorn run on it when it is installed, so the suite's CLI children do too.

``SYMBL_ASYNC_EVENT_LOOP`` chooses: ``asyncio`` (the standard loop), ``uvloop`` (an error
when it is not installed), or unset for uvloop when it can be imported. Only the console
script chooses: a program that calls :func:`~symbl_async.cli.main` runs on asyncio's own
loop, as it owns the process (the same rule as for the garbage collector's tuning).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import sys
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar

__all__ = ["ENV_VAR", "LoopChoiceError", "LoopFactory", "loop_factory", "run"]

ENV_VAR = "SYMBL_ASYNC_EVENT_LOOP"
_CHOICES = ("asyncio", "uvloop")

_T = TypeVar("_T")
log = logging.getLogger(__name__)
LoopFactory = Callable[[], asyncio.AbstractEventLoop]


class LoopChoiceError(ValueError):
    """``SYMBL_ASYNC_EVENT_LOOP`` names no loop this machine can run."""


def loop_factory(environ: Mapping[str, str] | None = None) -> LoopFactory | None:
    """The loop ``SYMBL_ASYNC_EVENT_LOOP`` chooses; ``None`` for asyncio's own.

    Raises:
        LoopChoiceError: the variable names another loop, or uvloop while it is not
            installed.
    """
    raw = (os.environ if environ is None else environ).get(ENV_VAR, "")
    choice = raw.strip().lower()
    if choice not in ("", *_CHOICES):
        raise LoopChoiceError(
            f"{ENV_VAR}={raw!r}: must be 'asyncio' or 'uvloop' (unset: uvloop when "
            "installed)")
    if choice == "asyncio":
        return None
    try:
        uvloop = importlib.import_module("uvloop")
    except ImportError:
        if choice == "uvloop":
            raise LoopChoiceError(
                f"{ENV_VAR}=uvloop, but uvloop is not installed: pip install "
                "'symbl_async[speedups]' (not on Windows)") from None
        return None
    factory: LoopFactory = uvloop.new_event_loop
    return factory


def run(main: Coroutine[Any, Any, _T], factory: LoopFactory | None = None) -> _T:
    """``asyncio.run(main)``, on a loop ``factory`` makes when one is given."""
    log.debug("event loop: %s", "asyncio" if factory is None else factory.__module__)
    if factory is None:
        return asyncio.run(main)
    # asyncio.run with a loop of another kind: asyncio.Runner(loop_factory=...) from 3.11
    # on; on 3.10, uvloop's run does the same (the only other loop this module makes).
    if sys.version_info >= (3, 11):
        with asyncio.Runner(loop_factory=factory) as runner:
            return runner.run(main)
    uvloop: Any = importlib.import_module("uvloop")  # pragma: no cover - Python 3.10
    result: _T = uvloop.run(main, loop_factory=factory)  # pragma: no cover - Python 3.10
    return result  # pragma: no cover - Python 3.10
