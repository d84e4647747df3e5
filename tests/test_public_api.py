"""The public surface is exactly what we mean to export (httpx's habit).

Each subpackage exports its public names in ``__all__``; everything else lives in
``_``-prefixed modules. The top level re-exports what users need, the response models
included.
"""

import importlib
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import symbl_async
from symbl_async import errors

SUBPACKAGES = ["core", "transport", "models", "client", "webhooks", "batch", "cli", "emulator"]


def test_top_level_exports_are_exactly_the_intended_ones() -> None:
    from symbl_async import models

    expected = {
        "DEFAULT_BASE_URL",
        "APIStatusError",
        "AuthenticationError",
        "BadRequestError",
        "BatchResult",
        "BatchRun",
        "BatchSummary",
        "ChannelMetadata",
        "ClientClosedError",
        "ConcurrencyLimitError",
        "CustomEntity",
        "DetectedTracker",
        "IllegalTransitionError",
        "Job",
        "JobFailedError",
        "JobInfo",
        "JobStatus",
        "LeaseLostError",
        "LedgerError",
        "NotFoundError",
        "PollSchedule",
        "ProcessingOptions",
        "RequestInfo",
        "ResponseDecodeError",
        "RetryPolicy",
        "SafetyPollSchedule",
        "ServerError",
        "Speaker",
        "SubmitOutcomeUnknownError",
        "SymblClient",
        "SymblConnectionError",
        "SymblError",
        "SymblTimeoutError",
        "TextMessage",
        "Timeouts",
        "Tracker",
        "ValidationError",
        "WaitMode",
        "WaitTimeoutError",
        "WebhookReceiver",
        "__version__",
        "process_many",
    }
    # Every response model, except the trackers-detected answer, which is exported as
    # DetectedTracker (Tracker is the processing option).
    expected |= {name for name in models.__all__ if name[0].isupper()} - {"Tracker"}
    assert sorted(symbl_async.__all__) == sorted(expected)
    for name in symbl_async.__all__:
        assert hasattr(symbl_async, name), name
    assert symbl_async.Tracker is symbl_async.core.Tracker
    assert symbl_async.DetectedTracker is models.Tracker


def test_every_subpackage_exports_what_it_defines_and_hides_the_rest() -> None:
    for sub in SUBPACKAGES:
        package = importlib.import_module(f"symbl_async.{sub}")
        assert package.__doc__ and "May import" in package.__doc__, sub
        for name in package.__all__:
            assert hasattr(package, name), f"symbl_async.{sub}.{name}"
        for info in pkgutil.iter_modules(package.__path__):
            assert info.name.startswith("_"), f"symbl_async.{sub}.{info.name} should be private"


def test_the_emulator_exports_what_tests_benchmarks_and_the_cli_use() -> None:
    from symbl_async import emulator

    assert sorted(emulator.__all__) == sorted(
        [
            "DEMO_APP_ID",
            "DEMO_APP_SECRET",
            "SUBMIT_FAULT_STATUSES",
            "TOKEN_FAULT_STATUSES",
            "Emulator",
            "EmulatorConfig",
            "create_app",
            "run_standalone",
        ]
    )


def test_documented_import_paths_still_work() -> None:
    from symbl_async.batch import LongestFirstWindow, process_many
    from symbl_async.cli import main
    from symbl_async.emulator import Emulator, EmulatorConfig
    from symbl_async.fastapi import fastapi_router

    assert callable(process_many) and callable(main) and callable(fastapi_router)
    assert all(isinstance(cls, type) for cls in (LongestFirstWindow, Emulator, EmulatorConfig))
    assert symbl_async.process_many is process_many


_HEAVY = {"aiohttp.web", "symbl_async.webhooks", "symbl_async.webhooks._receiver",
          "symbl_async.emulator._server", "symbl_async.emulator._app"}


def test_a_poll_mode_start_loads_neither_the_receiver_nor_the_emulators_server() -> None:
    # The console script imports symbl_async.cli (and the package with it) on every start:
    # the webhook receiver and the emulator's app (aiohttp's server, ~200 M instructions,
    # ~11 % of the import) load when used, not before. A fresh process: this one has them.
    code = ("import json, sys; import symbl_async.cli._main, symbl_async.cli._batch; "
            "print(json.dumps(sorted(sys.modules)))")
    loaded = set(json.loads(subprocess.run([sys.executable, "-c", code], check=True,
                                           capture_output=True, text=True).stdout))
    assert "symbl_async.emulator._config" in loaded  # the emulator command's flags
    assert loaded & _HEAVY == set()
    # And each still comes with the first use of its public name.
    code = ("import sys, symbl_async, symbl_async.emulator as e; symbl_async.WebhookReceiver; "
            "e.Emulator; e.create_app; print(sorted(m for m in sys.modules if 'emulator._' in m"
            " or 'webhooks._' in m))")
    used = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                          text=True).stdout
    assert all(name in used for name in ("webhooks._receiver", "emulator._server",
                                         "emulator._app"))


def test_a_poll_mode_batch_loads_neither_from_start_to_end(tmp_path: Path) -> None:
    # The whole run, not only the import: a function that imports the emulator or the
    # receiver before knowing it needs one would load them again.
    import _cli_support

    manifest = tmp_path / "m.csv"
    _cli_support.write_manifest(manifest, 2, 30)
    code = ("import json, sys; from symbl_async.cli import main; status = main(sys.argv[1:]); "
            "print(json.dumps([status, sorted(sys.modules)]))")
    with _cli_support.threaded_emulator() as emu:
        done = subprocess.run(
            [sys.executable, "-c", code,
             *_cli_support.process_args(emu.url, tmp_path / "out", "--manifest", str(manifest))],
            env=_cli_support.child_env(), cwd=tmp_path, capture_output=True, text=True,
            timeout=120)
    status, loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert status == 0, done.stderr
    assert set(loaded) & _HEAVY == set()


def test_a_missing_name_is_still_an_attribute_error() -> None:
    from symbl_async import emulator

    for package in (symbl_async, emulator):
        with pytest.raises(AttributeError, match="has no attribute 'NoSuchName'"):
            package.NoSuchName  # noqa: B018


def test_every_error_is_in_the_one_tree() -> None:
    for name in errors.__all__:
        obj = getattr(errors, name)
        if isinstance(obj, type) and issubclass(obj, BaseException):
            assert issubclass(obj, errors.SymblError), name
            assert obj.__name__ in errors.__doc__, f"{name} missing from the tree drawing"
