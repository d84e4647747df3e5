"""Test tiers: every test is ``unit``, ``integration`` or ``system``, found from what it uses.

Loaded as a pytest plugin by ``tests/conftest.py``.

- ``unit``: plain data, fakes, ``aioresponses``; no server, no child process.
- ``integration``: a server in this process on 127.0.0.1 (the emulator, a webhook
  receiver, uvicorn), no child process.
- ``system``: child processes (the CLI, uvicorn workers, mypy), PostgreSQL, SIGKILL, chaos
  campaigns.

A test gets its tier from what it reaches: its own code, the functions and classes of its
module and of ``tests/`` that it calls (followed through calls), and the fixtures it uses
(``pg_url`` reaches ``PostgresServer``, ``emu`` reaches ``Emulator``). The highest tier
whose names (``SYSTEM_NAMES``, ``INTEGRATION_NAMES``) show up wins; nothing found: ``unit``.
An explicit ``@pytest.mark.unit`` / ``integration`` / ``system`` (or a module's
``pytestmark``) overrides that; two tiers on one test is a collection error.

The names are a guess made before the test runs, so while it runs the plugin watches what
it does: a ``unit`` test that listens on a socket or starts a process, or an
``integration`` test that starts a process, fails at teardown with the mark to add. Run one
tier with ``-m unit`` (or ``-m "unit or integration"``); the terminal summary counts the
tests of each tier and the time they took, so drift shows.
"""

from __future__ import annotations

import functools
import inspect
import socket
import subprocess
import sys
import threading
import types
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

__all__ = ["INTEGRATION_NAMES", "SYSTEM_NAMES", "TIERS", "tier_of"]

TIERS = ("unit", "integration", "system")
"""From the least to the most the test needs: the order in which they win."""

SYSTEM_NAMES = frozenset({
    "subprocess", "create_subprocess_exec", "create_subprocess_shell",  # child processes
    "run_child",  # the CLI in a child (tests/_cli_support.py)
    "PostgresServer",  # a PostgreSQL server (tests/_postgres.py)
})
INTEGRATION_NAMES = frozenset({
    "Emulator", "threaded_emulator",  # the emulator on 127.0.0.1
    "TCPSite", "SockSite", "start_server", "create_server", "uvicorn",  # any other server
    "AppServer",  # the package's own server class (symbl_async._serving)
})

_TESTS = Path(__file__).resolve().parent
_THIS = Path(__file__).resolve()


def _file_of(obj: object) -> str | None:
    """The source file of a function or class, if it has one."""
    if isinstance(obj, type):
        filename = getattr(sys.modules.get(obj.__module__), "__file__", None)
        return filename if isinstance(filename, str) else None
    code = getattr(inspect.unwrap(obj), "__code__", None)  # type: ignore[arg-type]
    return code.co_filename if isinstance(code, types.CodeType) else None


@functools.cache
def _in_suite(filename: str) -> bool:
    """Whether a file holds test code worth following: ``tests/`` (not this plugin)."""
    path = Path(filename).resolve()
    return path.is_relative_to(_TESTS) and path != _THIS


def _followed(obj: object, home: str | None) -> bool:
    """Whether to follow a function or class a test refers to: it is in the test's own
    file (``home``) or in the suite; never the package, the standard library or pytest."""
    filename = _file_of(obj)
    return filename is not None and (filename == home or _in_suite(filename))


def _codes(code: types.CodeType) -> Iterator[types.CodeType]:
    """A code object and those nested in it (inner functions, lambdas, comprehensions)."""
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _codes(const)


def _reached(obj: object, home: str | None, seen: set[int]) -> set[str]:
    """The global and attribute names used by a function (or a class's methods), and by
    the test-code functions and classes it refers to, followed recursively."""
    if id(obj) in seen:
        return set()
    seen.add(id(obj))
    if isinstance(obj, type):
        names: set[str] = set()
        for member in vars(obj).values():
            names |= _reached(member, home, seen)
        return names
    func: Any = inspect.unwrap(obj) if callable(obj) else obj
    func = getattr(func, "__func__", func)  # bound and static methods
    code = getattr(func, "__code__", None)
    if not isinstance(code, types.CodeType):
        return set()
    names = set()
    scope: dict[str, Any] = getattr(func, "__globals__", {})
    for nested in _codes(code):
        for name in nested.co_names:
            names.add(name)
            target = scope.get(name)
            if (inspect.isfunction(target) or inspect.isclass(target)) and _followed(
                target, home
            ):
                names |= _reached(target, home, seen)
    return names


@functools.cache
def _names(obj: object) -> frozenset[str]:
    return frozenset(_reached(obj, _file_of(obj), set()))


def _fixture_funcs(item: pytest.Item) -> Iterator[object]:
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return
    home = str(item.path)
    for name in item.fixturenames:  # type: ignore[attr-defined]
        fixturedefs = info.name2fixturedefs.get(name, ())
        if fixturedefs and _followed(fixturedefs[-1].func, home):  # the closest one is used
            yield fixturedefs[-1].func


def _found_tier(item: pytest.Item) -> str:
    names: set[str] = set()
    for obj in (getattr(item, "obj", None), getattr(item, "cls", None), *_fixture_funcs(item)):
        if obj is not None:
            names |= _names(obj)
    if names & SYSTEM_NAMES:
        return "system"
    if names & INTEGRATION_NAMES:
        return "integration"
    return "unit"


def tier_of(item: pytest.Item) -> str:
    """The tier of a collected test: its explicit mark, else the one found from its code."""
    marked = {mark.name for mark in item.iter_markers() if mark.name in TIERS}
    if len(marked) > 1:
        raise pytest.UsageError(
            f"{item.nodeid} is marked with more than one tier ({', '.join(sorted(marked))}):"
            " keep one"
        )
    return marked.pop() if marked else _found_tier(item)


def pytest_configure(config: pytest.Config) -> None:
    _Watch.install()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # tryfirst: the tiers are marks before ``-m`` deselects by them.
    for item in items:
        tier = tier_of(item)
        if not item.get_closest_marker(tier):
            item.add_marker(tier)
        item.user_properties.append(("tier", tier))
    if hasattr(config, "workerinput"):
        # An xdist worker (each collects the same list, in the same order): the slow tiers
        # first, so that two workers share them and the last minute is small unit tests,
        # not one worker finishing a campaign while the other waits.
        items.sort(key=lambda item: -TIERS.index(_tier(item.user_properties) or "unit"))


def _tier(properties: Any) -> str | None:
    for key, value in properties:
        if key == "tier":
            return str(value)
    return None


# --- what a running test does ---------------------------------------------------------------


class _Watch:
    """Records servers started (``listen``) and processes started (``Popen``) while a test
    runs, from any thread (the CLI tests serve the emulator from a thread)."""

    current: list[str] | None = None
    _lock = threading.Lock()
    _installed = False

    @classmethod
    def note(cls, what: str) -> None:
        with cls._lock:
            if cls.current is not None:
                cls.current.append(what)

    @classmethod
    def install(cls) -> None:
        if cls._installed:
            return
        cls._installed = True
        listen = socket.socket.listen
        popen_init = subprocess.Popen.__init__

        def watched_listen(sock: socket.socket, *args: Any) -> None:
            cls.note(f"listened on {sock.getsockname()!r}")
            listen(sock, *args)

        def watched_popen_init(self: subprocess.Popen[Any], args: Any, *rest: Any,
                               **kwargs: Any) -> None:
            argv = [args] if isinstance(args, (str, bytes)) else list(args)
            cls.note(f"started the process {argv[:3]!r}")
            popen_init(self, args, *rest, **kwargs)

        socket.socket.listen = watched_listen  # type: ignore[method-assign,assignment]
        subprocess.Popen.__init__ = watched_popen_init  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def _tier_is_honest(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fails a test that does more than its tier allows, naming the mark to add."""
    tier = _tier(request.node.user_properties) or "unit"
    done: list[str] = []
    with _Watch._lock:
        _Watch.current = done
    try:
        yield
    finally:
        with _Watch._lock:
            _Watch.current = None
    servers = [what for what in done if what.startswith("listened")]
    processes = [what for what in done if what.startswith("started")]
    needed = "system" if processes else "integration" if servers else "unit"
    if TIERS.index(needed) > TIERS.index(tier):
        pytest.fail(
            f"this test is in the {tier!r} tier but it {'; '.join(done[:3])}: mark it"
            f" @pytest.mark.{needed}, or teach tests/_tiers.py the name that gives it away",
            pytrace=False,
        )


# --- the count per tier ---------------------------------------------------------------------


_TESTS_RUN: Counter[str] = Counter()
_SECONDS: defaultdict[str, float] = defaultdict(float)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # Runs in the xdist controller too, on the workers' reports (they carry user_properties).
    tier = _tier(report.user_properties)
    if tier is None:
        return
    if report.when == "setup":
        _TESTS_RUN[tier] += 1
    _SECONDS[tier] += report.duration


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _TESTS_RUN:
        return
    parts = [f"{_TESTS_RUN[tier]} {tier} ({_SECONDS[tier]:.0f} s)" for tier in TIERS
             if _TESTS_RUN[tier]]
    terminalreporter.write_line(f"tiers: {', '.join(parts)} (the tests' own time, summed)")
