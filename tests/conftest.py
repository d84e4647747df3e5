"""Shared test set-up."""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import Iterator

import pytest
from _aioresponses_compat import install as _install_aioresponses_compat
from hypothesis import settings

_install_aioresponses_compat()

# Property tests: a quick profile by default (CI runs it on every push), a thorough one
# on demand: HYPOTHESIS_PROFILE=thorough (or pytest --hypothesis-profile=thorough). No
# deadline in either: a shared machine's pauses are not the code's slowness. The tests set
# what is theirs (step counts, health checks), never the number of examples.
settings.register_profile("ci", max_examples=30, deadline=None, print_blob=True)
settings.register_profile("thorough", max_examples=1000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

pytest_plugins = ["_tiers", "_emulator_api", "_postgres", "_ledgers", "_cli_support", "pytester"]


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """``-n auto``: two workers per core. Most tests wait on timers, servers and child
    processes, not on the CPU: on two cores the whole suite took 353-374 s with two
    workers and 184-235 s with three or four. The extra load found two races (a chaos
    test's expectation, a reservation left at a stop), both fixed.
    ``PYTEST_XDIST_AUTO_NUM_WORKERS`` still decides when it is set."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # xdist's own rule reads it
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cores = os.cpu_count() or 1
    return 2 * cores


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """What collection made lives to the end of the run (modules, the 1,500 test items,
    strategies): out of the garbage collector's sight (``gc.freeze``), so that a full
    collection in the middle of a test scans what the tests made, not those ~140,000
    objects too. Measured in xdist workers under load: full collections of 200,000-340,000
    objects paused a test's event loop for 0.3-0.7 s, in tests that time their work."""
    gc.collect()
    gc.freeze()


@pytest.fixture(autouse=True)
def _package_logging_is_restored() -> Iterator[None]:
    """The CLI's ``main()`` configures the package's logger (level, stderr handler); tests
    call it in process, so undo that after each test, or a later test's ``caplog`` would
    miss the DEBUG lines it asserts on."""
    package = logging.getLogger("symbl_async")
    level, handlers = package.level, list(package.handlers)
    yield
    package.setLevel(level)
    for handler in list(package.handlers):
        if handler not in handlers:
            package.removeHandler(handler)
