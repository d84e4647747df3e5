"""The emulator's command-line flags and the configuration they build."""

from __future__ import annotations

import argparse

import attrs
import pytest

from symbl_async.cli._emulator import add_emulator_arguments, config_from_args
from symbl_async.emulator import EmulatorConfig

# The flags ``symbl-async emulator`` had before this module, with their old defaults.
OLD_FLAGS = {
    "host": "127.0.0.1",
    "port": 8080,
    "concurrency_limit": 50,
    "time_scale": 1.0,
    "token_lifetime": 86400.0,
    "webhook_drop_rate": 0.0,
    "webhook_duplicate_rate": 0.0,
    "seed": 0,
}


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="emulator")
    add_emulator_arguments(parser)
    return parser.parse_args(argv)


def test_no_flags_is_the_default_config() -> None:
    args = parse()
    assert (args.host, args.port) == ("127.0.0.1", 8080)
    assert config_from_args(args) == EmulatorConfig()
    config = config_from_args(args)
    for name, value in OLD_FLAGS.items():
        if name not in ("host", "port"):
            assert getattr(config, name) == value


def test_every_knob_has_a_flag() -> None:
    args = parse(
        *("--port", "0", "--concurrency-limit", "5", "--time-scale", "100"),
        *("--token-lifetime", "60", "--processing-factor", "0.5", "--processing-overhead", "2"),
        *("--processing-jitter", "0.5", "2", "--queue-delay", "0"),
        *("--url-duration", "https://m.test/a.mp3?x=1=90", "--fail-input", "bad-call"),
        *("--job-failure-rate", "0.1", "--submit-error-before-rate", "0.1"),
        *("--submit-error-before-statuses", "503", "--submit-reset-before-rate", "0.1"),
        *("--submit-hold-rate", "0.1", "--submit-hold", "1", "3"),
        *("--submit-error-after-rate", "0.1", "--submit-error-after-statuses", "500,504"),
        *("--submit-reset-after-rate", "0.1", "--submit-lost-answer-rate", "0.1"),
        *("--submit-lost-answer-hold", "5", "--submit-delay-rate", "0.5"),
        *("--submit-delay", "0", "0.5", "--job-status-404-rate", "0.2"),
        *("--token-error-rate", "0.3", "--token-error-statuses", "500,503"),
        *("--foreign-jobs", "3", "--foreign-job-duration", "600"),
        *("--webhook-drop-rate", "0.1", "--webhook-duplicate-rate", "0.2"),
        *("--webhook-reorder-rate", "0.3", "--webhook-delay", "0", "1", "--webhook-timeout", "2"),
        *("--webhook-body-key", "id", "--entities-shape", "legacy"),
        *("--upload-bandwidth", "250000", "--wall-clock-offset", "-86400", "--seed", "7"),
        *("--app-id", "me", "--app-secret", "s3cret"),
    )
    config = config_from_args(args)
    assert args.port == 0
    expected = EmulatorConfig(
        credentials={"me": "s3cret"},
        concurrency_limit=5,
        time_scale=100.0,
        token_lifetime=60.0,
        processing_factor=0.5,
        processing_overhead=2.0,
        processing_jitter=(0.5, 2.0),
        queue_delay=0.0,
        url_durations={"https://m.test/a.mp3?x=1": 90.0},
        fail_inputs={"bad-call"},
        job_failure_rate=0.1,
        submit_error_before_rate=0.1,
        submit_error_before_statuses=(503,),
        submit_reset_before_rate=0.1,
        submit_hold_rate=0.1,
        submit_hold=(1.0, 3.0),
        submit_error_after_rate=0.1,
        submit_error_after_statuses=(500, 504),
        submit_reset_after_rate=0.1,
        submit_lost_answer_rate=0.1,
        submit_lost_answer_hold=5.0,
        submit_delay_rate=0.5,
        submit_delay=(0.0, 0.5),
        job_status_404_rate=0.2,
        token_error_rate=0.3,
        token_error_statuses=(500, 503),
        foreign_jobs=3,
        foreign_job_duration=600.0,
        webhook_drop_rate=0.1,
        webhook_duplicate_rate=0.2,
        webhook_reorder_rate=0.3,
        webhook_delay=(0.0, 1.0),
        webhook_timeout=2.0,
        webhook_body_key="id",
        entities_shape="legacy",
        upload_bandwidth=250000.0,
        wall_clock_offset=-86400.0,
        seed=7,
    )
    assert config == expected
    # Every field of the config but credentials (two flags) has been set from a flag.
    changed = {f.name for f in attrs.fields(EmulatorConfig) if getattr(config, f.name) != f.default}
    assert len(changed) >= len(attrs.fields(EmulatorConfig)) - 1


def test_accept_any_credentials() -> None:
    assert config_from_args(parse("--accept-any-credentials")).credentials is None


@pytest.mark.parametrize(
    "argv",
    [
        ["--app-id", "me"],
        ["--app-secret", "s"],
        ["--app-id", "", "--app-secret", "s"],
        ["--accept-any-credentials", "--app-id", "a", "--app-secret", "b"],
        ["--submit-error-before-rate", "0.7", "--submit-reset-after-rate", "0.7"],
        ["--submit-hold", "3", "1"],
    ],
)
def test_flags_that_do_not_go_together(argv: list[str]) -> None:
    with pytest.raises(ValueError):
        config_from_args(parse(*argv))


@pytest.mark.parametrize(
    "argv",
    [
        ["--submit-error-after-statuses", "404"],
        ["--token-error-statuses", "abc"],
        ["--job-failure-rate", "2"],
        ["--foreign-jobs", "-1"],
        ["--url-duration", "no-seconds"],
        ["--entities-shape", "new"],
        ["--port", "70000"],
        ["--submit-delay", "1"],
        ["--upload-bandwidth", "0"],
    ],
)
def test_bad_flag_values_are_usage_errors(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parse(*argv)
    assert exc.value.code == 2
