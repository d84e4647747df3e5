"""Shared test set-up."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from _aioresponses_compat import install as _install_aioresponses_compat

_install_aioresponses_compat()

pytest_plugins = ["_tiers", "_emulator_api", "_postgres"]


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
