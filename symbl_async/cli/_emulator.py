"""Command-line flags of ``symbl-async emulator``, and the :class:`EmulatorConfig` they make.

Every flag but ``--host`` and ``--port`` is an :class:`EmulatorConfig` field (the
flag is the field's name with dashes); a flag left out keeps the field's default,
so the defaults live in one place. Ranges take two numbers: ``--submit-hold 1 5``.

    parser = argparse.ArgumentParser()
    add_emulator_arguments(parser)
    args = parser.parse_args()
    config = config_from_args(args)  # ValueError: say it as a usage error
    asyncio.run(run_standalone(config, host=args.host, port=args.port))
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from symbl_async.cli._argtypes import bounded, port, positive_float, positive_int, rate
from symbl_async.emulator import (
    DEMO_APP_ID,
    DEMO_APP_SECRET,
    SUBMIT_FAULT_STATUSES,
    TOKEN_FAULT_STATUSES,
    EmulatorConfig,
)

__all__ = ["add_emulator_arguments", "config_from_args"]

_non_negative = bounded(float, "a number", low=0.0)
_count = bounded(int, "a whole number", low=0)


def _statuses(allowed: frozenset[int]) -> Callable[[str], tuple[int, ...]]:
    def parse(text: str) -> tuple[int, ...]:
        try:
            values = tuple(int(part) for part in text.split(",") if part.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a list like 500,503") from None
        if not values or not set(values) <= allowed:
            raise argparse.ArgumentTypeError(
                f"must be a comma-separated list of {', '.join(map(str, sorted(allowed)))}"
            )
        return values

    return parse


def _url_duration(text: str) -> tuple[str, float]:
    url, sep, seconds = text.rpartition("=")
    try:
        value = float(seconds)
    except ValueError:
        value = -1.0
    if not sep or not url or not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected URL=SECONDS, got {text!r}")
    return url, value


def _default(name: str) -> Any:
    return getattr(EmulatorConfig(), name)


# (flag, argparse keyword arguments); the destination is a config field; help gets its default.
_FLAGS: list[tuple[str, dict[str, Any]]] = [
    ("--concurrency-limit", {"type": positive_int, "help": "concurrent jobs per account"}),
    ("--time-scale", {"type": positive_float, "help": "speed-up of processing over real time"}),
    ("--token-lifetime", {"type": positive_float, "help": "access token lifetime, seconds"}),
    (
        "--processing-factor",
        {"type": _non_negative, "help": "service seconds of processing per media second"},
    ),
    (
        "--processing-overhead",
        {"type": _non_negative, "help": "fixed service seconds of processing per job"},
    ),
    (
        "--processing-jitter",
        {
            "type": _non_negative,
            "nargs": 2,
            "metavar": ("LOW", "HIGH"),
            "help": "multiply each job's processing time by a draw in this range",
        },
    ),
    ("--queue-delay", {"type": _non_negative, "help": "service seconds a job stays scheduled"}),
    (
        "--url-duration",
        {
            "dest": "url_durations",
            "type": _url_duration,
            "action": "append",
            "metavar": "URL=SECONDS",
            "help": "media length of a URL (repeatable)",
        },
    ),
    (
        "--fail-input",
        {
            "dest": "fail_inputs",
            "action": "append",
            "metavar": "URL_OR_NAME",
            "help": "jobs of this URL or submit name end failed (repeatable)",
        },
    ),
    ("--job-failure-rate", {"type": rate, "help": "share of other jobs that end failed"}),
    (
        "--submit-error-before-rate",
        {"type": rate, "help": "share of submits answered 5xx with no job created"},
    ),
    (
        "--submit-error-before-statuses",
        {"type": _statuses(SUBMIT_FAULT_STATUSES), "help": "e.g. 500,502,503,504"},
    ),
    (
        "--submit-reset-before-rate",
        {"type": rate, "help": "share of submits whose connection drops, no job created"},
    ),
    (
        "--submit-hold-rate",
        {"type": rate, "help": "share of submits held before their job is created"},
    ),
    (
        "--submit-hold",
        {
            "type": _non_negative,
            "nargs": 2,
            "metavar": ("LOW", "HIGH"),
            "help": "real seconds a held submit waits",
        },
    ),
    (
        "--submit-error-after-rate",
        {"type": rate, "help": "share of submits answered 5xx after their job was created"},
    ),
    (
        "--submit-error-after-statuses",
        {"type": _statuses(SUBMIT_FAULT_STATUSES), "help": "e.g. 500,502,504"},
    ),
    (
        "--submit-reset-after-rate",
        {"type": rate, "help": "share of submits whose connection drops after job creation"},
    ),
    (
        "--submit-lost-answer-rate",
        {"type": rate, "help": "share of submits whose answer never comes (job created)"},
    ),
    (
        "--submit-lost-answer-hold",
        {"type": positive_float, "help": "real seconds a lost answer keeps the connection"},
    ),
    ("--submit-delay-rate", {"type": rate, "help": "share of submit answers delayed"}),
    (
        "--submit-delay",
        {
            "type": _non_negative,
            "nargs": 2,
            "metavar": ("LOW", "HIGH"),
            "help": "real seconds a delayed answer waits",
        },
    ),
    (
        "--job-status-404-rate",
        {"type": rate, "help": "share of job lookups answered 404 although the job exists"},
    ),
    ("--token-error-rate", {"type": rate, "help": "share of token requests answered 5xx"}),
    (
        "--token-error-statuses",
        {"type": _statuses(TOKEN_FAULT_STATUSES), "help": "e.g. 500,503"},
    ),
    ("--foreign-jobs", {"type": _count, "help": "slots taken by someone else's jobs"}),
    (
        "--foreign-job-duration",
        {"type": positive_float, "help": "service seconds they hold them (default: for ever)"},
    ),
    ("--webhook-drop-rate", {"type": rate, "help": "share of webhooks silently dropped"}),
    ("--webhook-duplicate-rate", {"type": rate, "help": "share of webhooks sent twice"}),
    (
        "--webhook-reorder-rate",
        {"type": rate, "help": "share of webhooks held back behind the next one"},
    ),
    (
        "--webhook-delay",
        {
            "type": _non_negative,
            "nargs": 2,
            "metavar": ("LOW", "HIGH"),
            "help": "real seconds each webhook waits",
        },
    ),
    ("--webhook-timeout", {"type": positive_float, "help": "real seconds per delivery"}),
    (
        "--webhook-body-key",
        {"choices": ("jobId", "id"), "help": "key of the job id in webhook bodies"},
    ),
    (
        "--entities-shape",
        {"choices": ("current", "legacy"), "help": "shape of GET .../entities items"},
    ),
    (
        "--upload-bandwidth",
        {
            "type": positive_float,
            "metavar": "BYTES_PER_SECOND",
            "help": "read request bodies, all together, at most this fast: a slow uplink "
            "(default: as fast as they come)",
        },
    ),
    (
        "--wall-clock-offset",
        {"type": float, "help": "real seconds added to the clock conversations are dated by"},
    ),
    ("--seed", {"type": int, "help": "seed of every fault knob"}),
]


def _dest(flag: str, kwargs: dict[str, Any]) -> str:
    return str(kwargs.get("dest", flag.removeprefix("--").replace("-", "_")))


def add_emulator_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the emulator's flags to ``parser`` (the ``emulator`` subcommand's parser)."""
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: %(default)s)"
    )
    parser.add_argument(
        "--port", type=port, default=8080, help="port, 0 for any free one (default: %(default)s)"
    )
    parser.add_argument("--app-id", help=f"the appId the emulator accepts (default: {DEMO_APP_ID})")
    parser.add_argument(
        "--app-secret",
        help=f"the appSecret that goes with --app-id (default: {DEMO_APP_SECRET})",
    )
    parser.add_argument(
        "--accept-any-credentials",
        action="store_true",
        help="accept any non-empty appId/appSecret pair",
    )
    for flag, kwargs in _FLAGS:
        dest = _dest(flag, kwargs)
        default = _default(dest)
        if default is None or isinstance(default, (frozenset, dict)) or hasattr(default, "items"):
            shown = ""  # None: the help says what no value means
        elif isinstance(default, tuple):
            shown = f" (default: {' '.join(map(str, default))})"
        else:
            shown = f" (default: {default})"
        options = {**kwargs, "help": kwargs["help"] + shown}
        options.setdefault("dest", dest)
        parser.add_argument(flag, default=None, **options)


def config_from_args(args: argparse.Namespace) -> EmulatorConfig:
    """The :class:`EmulatorConfig` the parsed flags describe (defaults for flags left out).

    Raises:
        ValueError: when the flags do not go together (``--app-id`` without
            ``--app-secret``, submit fault rates adding up to more than 1, ...).
    """
    fields: dict[str, Any] = {}
    for flag, kwargs in _FLAGS:
        dest = _dest(flag, kwargs)
        value = getattr(args, dest, None)
        if value is None:
            continue
        if dest == "url_durations":
            value = dict(value)
        elif isinstance(value, list):
            value = tuple(value) if dest != "fail_inputs" else frozenset(value)
        fields[dest] = value
    app_id, app_secret = getattr(args, "app_id", None), getattr(args, "app_secret", None)
    if (app_id is None) != (app_secret is None):
        raise ValueError("--app-id and --app-secret go together: give both or neither")
    if getattr(args, "accept_any_credentials", False):
        if app_id is not None:
            raise ValueError("--accept-any-credentials does not go with --app-id/--app-secret")
        fields["credentials"] = None
    elif app_id is not None and app_secret is not None:
        if not app_id or not app_secret:
            raise ValueError("--app-id and --app-secret must not be empty")
        fields["credentials"] = {app_id: app_secret}
    return EmulatorConfig(**fields)
