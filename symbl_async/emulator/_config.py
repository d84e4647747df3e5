"""Configuration of the emulator: credentials, limits, the time scale and fault knobs."""

from __future__ import annotations

import hashlib
import math
import types
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

_Validator = Callable[[object, Any, Any], None]

__all__ = [
    "DEMO_APP_ID",
    "DEMO_APP_SECRET",
    "EXCLUSIVE_SUBMIT_FAULTS",
    "SUBMIT_FAULT_STATUSES",
    "TOKEN_FAULT_STATUSES",
    "EmulatorConfig",
]

DEMO_APP_ID = "emulator-app-id"
DEMO_APP_SECRET = "emulator-app-secret"

SUBMIT_FAULT_STATUSES = frozenset({500, 502, 503, 504})
TOKEN_FAULT_STATUSES = frozenset({500, 502, 503, 504})

#: Submit faults that exclude each other, in the order they are drawn: kind -> rate field.
EXCLUSIVE_SUBMIT_FAULTS = {
    "error_before": "submit_error_before_rate",
    "reset_before": "submit_reset_before_rate",
    "hold": "submit_hold_rate",
    "error_after": "submit_error_after_rate",
    "reset_after": "submit_reset_after_rate",
    "lost_answer": "submit_lost_answer_rate",
}

# Deterministic lengths for URLs nobody configured: 1 to 30 minutes.
_URL_MIN_S = 60.0
_URL_MAX_S = 1800.0



def _pair(value: Iterable[float]) -> tuple[float, float]:
    # A typed converter (``converter=tuple`` leaves mypy with an unsolved type variable).
    items = tuple(value)
    if len(items) != 2:
        raise ValueError(f"must be a (low, high) pair, got {items!r}")
    return (items[0], items[1])


def _ints(value: Iterable[int]) -> tuple[int, ...]:
    return tuple(value)


def _names(value: Iterable[str]) -> frozenset[str]:
    return frozenset(value)

def _frozen_mapping(value: Mapping[str, float] | None) -> Mapping[str, float]:
    return types.MappingProxyType(dict(value or {}))


def _frozen_credentials(value: Mapping[str, str] | None) -> Mapping[str, str] | None:
    return None if value is None else types.MappingProxyType(dict(value))


def _demo_credentials() -> Mapping[str, str]:
    return types.MappingProxyType({DEMO_APP_ID: DEMO_APP_SECRET})


def _range(
    instance: object, attribute: attrs.Attribute[tuple[float, float]], value: object
) -> None:
    ok = (
        isinstance(value, tuple)
        and len(value) == 2
        and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0
            for v in value
        )
        and value[0] <= value[1]
    )
    if not ok:
        raise ValueError(
            f"{attribute.name} must be (low, high) with 0 <= low <= high, got {value!r}"
        )


def _statuses(allowed: frozenset[int]) -> _Validator:
    def check(instance: object, attribute: attrs.Attribute[tuple[int, ...]], value: object) -> None:
        if not (
            isinstance(value, tuple)
            and value
            and all(isinstance(v, int) and not isinstance(v, bool) and v in allowed for v in value)
        ):
            raise ValueError(
                f"{attribute.name} must be a non-empty tuple of statuses from "
                f"{sorted(allowed)}, got {value!r}"
            )

    return check


def _choice(*allowed: str) -> _Validator:
    def check(instance: object, attribute: attrs.Attribute[str], value: object) -> None:
        if value not in allowed:
            raise ValueError(f"{attribute.name} must be one of {', '.join(allowed)}, got {value!r}")

    return check


def _optional_positive(
    instance: object, attribute: attrs.Attribute[float | None], value: object
) -> None:
    if value is not None:
        _positive(instance, attribute, value)  # type: ignore[arg-type]


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _positive(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not (_number(value) and value > 0):
        raise ValueError(f"{attribute.name} must be a positive number, got {value!r}")


def _non_negative(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not (_number(value) and value >= 0):
        raise ValueError(f"{attribute.name} must be a number >= 0, got {value!r}")


def _rate(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not (_number(value) and 0.0 <= value <= 1.0):
        raise ValueError(f"{attribute.name} must be between 0 and 1, got {value!r}")


@attrs.frozen(kw_only=True)
class EmulatorConfig:
    """How the emulator behaves. Every number is validated (``ValueError`` names the field).

    Service time runs ``time_scale`` times faster than real time: a job's
    processing time is ``(processing_factor * media_seconds + processing_overhead)
    / time_scale`` real seconds (times a draw from ``processing_jitter``) and it
    waits ``queue_delay / time_scale`` in ``scheduled`` first. Token lifetimes,
    webhook delays and every submit fault's delay are real seconds.

    Media length of a URL submit, first match wins:

    1. ``url_durations[url]``;
    2. an ``emulator_duration=SECONDS`` query parameter in the URL
       (``https://example.com/a.mp3?emulator_duration=600``), handy for benchmarks;
    3. a deterministic value from a hash of the URL, between 60 and 1800 seconds.

    Faults on submits (the ten ``/v1/process/...`` routes) are drawn once per
    valid submit, in this order, and at most one applies (the ``*_rate`` values
    of the exclusive ones must add up to at most 1): ``error_before``,
    ``reset_before``, ``hold`` (then the job is created), ``error_after``,
    ``reset_after``, ``lost_answer``; a ``delay`` may come on top of any of them.
    The 503 is not among the default ``after`` statuses: HTTP says a 503 was
    not handled, and the project reference treats it as safe to resend.

    Attributes:
        credentials: appId -> appSecret accepted by ``/oauth2/token:generate``;
            the demo pair by default; ``None`` accepts any non-empty pair.
        token_lifetime: seconds an access token stays valid.
        concurrency_limit: jobs that may be active at once, across all tokens
            (the account limit: 2 trial, 50 paid).
        time_scale: how much faster than real time the service works.
        processing_factor: service seconds of processing per second of media.
        processing_overhead: fixed service seconds of processing per job.
        processing_jitter: ``(low, high)``: each job's processing time is
            multiplied by a seeded uniform draw in this range, so jobs can run
            slower or faster than the model above (``(1, 1)``: exactly the model).
        queue_delay: service seconds a job spends ``scheduled`` before it starts.
        url_durations: media length (seconds) of given URLs.
        fail_inputs: URLs and submit ``name`` values whose jobs end ``failed``.
        job_failure_rate: chance that any other job ends ``failed``.
        submit_error_before_rate: chance that a submit answers an error status
            from ``submit_error_before_statuses`` and no job is created.
        submit_error_before_statuses: statuses drawn from for the above.
        submit_reset_before_rate: chance that the connection is dropped with no
            answer and no job created.
        submit_hold_rate: chance that a submit is held ``submit_hold`` real
            seconds before its job is created (a client that gives up and looks
            the job up at once finds nothing; the job appears later).
        submit_hold: ``(low, high)`` real seconds of a hold.
        submit_error_after_rate: chance that the job is created (and runs, and
            holds a slot) but the answer is an error from
            ``submit_error_after_statuses``.
        submit_error_after_statuses: statuses drawn from for the above.
        submit_reset_after_rate: chance that the job is created and then the
            connection is dropped with no answer.
        submit_lost_answer_rate: chance that the job is created and the answer
            never comes: the connection stays silent for ``submit_lost_answer_hold``
            real seconds (or until the client leaves), then is dropped.
        submit_lost_answer_hold: real seconds a lost answer keeps the connection.
        submit_delay_rate: chance that an answer (or a drop) waits ``submit_delay``.
        submit_delay: ``(low, high)`` real seconds of an answer delay.
        job_status_404_rate: chance that ``GET /v1/job/{id}`` of an existing job
            answers the not-found 404 anyway.
        token_error_rate: chance that ``POST /oauth2/token:generate`` answers an
            error status from ``token_error_statuses``.
        token_error_statuses: statuses drawn from for the above.
        foreign_jobs: account slots taken, from start-up, by jobs nobody submitted
            through this API (another team on the same account).
        foreign_job_duration: service seconds those jobs hold their slots;
            ``None`` holds them for ever.
        webhook_drop_rate: chance that a webhook delivery is silently lost.
        webhook_duplicate_rate: chance that a delivery is sent twice.
        webhook_reorder_rate: chance that a non-final delivery is held back and
            sent after the next delivery of the same job.
        webhook_delay: ``(low, high)`` real seconds; each delivery waits a
            uniformly drawn delay in that range.
        webhook_timeout: real seconds before a delivery attempt is abandoned.
        webhook_body_key: the job id's key in a webhook body: ``"jobId"`` as the
            docs show, or ``"id"`` as Symbl's blog shows.
        entities_shape: ``"current"`` (``{id, type, subType, category, matches}``,
            today's docs) or ``"legacy"`` (``{type, customType, value, text,
            messageRefs}``, the 2022 docs).
        upload_bandwidth: bytes per real second at which request bodies, of all
            requests together, are read (a client's uplink shared by its uploads);
            ``None``: as fast as they come.
        wall_clock_offset: real seconds added to the wall clock the emulator
            dates conversations with and lists them by (negative: the past).
        seed: seeds the random generators behind every fault, for reproducible
            runs (each family of faults draws from its own generator derived
            from it, so turning one on does not change the draws of another).
    """

    credentials: Mapping[str, str] | None = attrs.field(
        factory=_demo_credentials, converter=_frozen_credentials
    )
    token_lifetime: float = attrs.field(default=86400.0, validator=_positive)
    concurrency_limit: int = attrs.field(default=50)
    time_scale: float = attrs.field(default=1.0, validator=_positive)
    processing_factor: float = attrs.field(default=0.25, validator=_non_negative)
    processing_overhead: float = attrs.field(default=30.0, validator=_non_negative)
    processing_jitter: tuple[float, float] = attrs.field(
        default=(1.0, 1.0), converter=_pair, validator=_range
    )
    queue_delay: float = attrs.field(default=1.0, validator=_non_negative)
    url_durations: Mapping[str, float] = attrs.field(factory=dict, converter=_frozen_mapping)
    fail_inputs: frozenset[str] = attrs.field(factory=frozenset, converter=_names)
    job_failure_rate: float = attrs.field(default=0.0, validator=_rate)
    submit_error_before_rate: float = attrs.field(default=0.0, validator=_rate)
    submit_error_before_statuses: tuple[int, ...] = attrs.field(
        default=(500, 502, 503, 504), converter=_ints, validator=_statuses(SUBMIT_FAULT_STATUSES)
    )
    submit_reset_before_rate: float = attrs.field(default=0.0, validator=_rate)
    submit_hold_rate: float = attrs.field(default=0.0, validator=_rate)
    submit_hold: tuple[float, float] = attrs.field(
        default=(1.0, 1.0), converter=_pair, validator=_range
    )
    submit_error_after_rate: float = attrs.field(default=0.0, validator=_rate)
    submit_error_after_statuses: tuple[int, ...] = attrs.field(
        default=(500, 502, 504), converter=_ints, validator=_statuses(SUBMIT_FAULT_STATUSES)
    )
    submit_reset_after_rate: float = attrs.field(default=0.0, validator=_rate)
    submit_lost_answer_rate: float = attrs.field(default=0.0, validator=_rate)
    submit_lost_answer_hold: float = attrs.field(default=30.0, validator=_positive)
    submit_delay_rate: float = attrs.field(default=0.0, validator=_rate)
    submit_delay: tuple[float, float] = attrs.field(
        default=(0.0, 0.0), converter=_pair, validator=_range
    )
    job_status_404_rate: float = attrs.field(default=0.0, validator=_rate)
    token_error_rate: float = attrs.field(default=0.0, validator=_rate)
    token_error_statuses: tuple[int, ...] = attrs.field(
        default=(500, 503), converter=_ints, validator=_statuses(TOKEN_FAULT_STATUSES)
    )
    foreign_jobs: int = attrs.field(default=0)
    foreign_job_duration: float | None = attrs.field(default=None, validator=_optional_positive)
    webhook_drop_rate: float = attrs.field(default=0.0, validator=_rate)
    webhook_duplicate_rate: float = attrs.field(default=0.0, validator=_rate)
    webhook_reorder_rate: float = attrs.field(default=0.0, validator=_rate)
    webhook_delay: tuple[float, float] = attrs.field(default=(0.0, 0.0), converter=_pair)
    webhook_timeout: float = attrs.field(default=5.0, validator=_positive)
    webhook_body_key: str = attrs.field(default="jobId", validator=_choice("jobId", "id"))
    entities_shape: str = attrs.field(default="current", validator=_choice("current", "legacy"))
    upload_bandwidth: float | None = attrs.field(default=None, validator=_optional_positive)
    wall_clock_offset: float = attrs.field(default=0.0)
    seed: int = 0

    @foreign_jobs.validator
    def _check_foreign(self, attribute: attrs.Attribute[int], value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"foreign_jobs must be an integer >= 0, got {value!r}")

    @wall_clock_offset.validator
    def _check_offset(self, attribute: attrs.Attribute[float], value: float) -> None:
        if not _number(value):
            raise ValueError(f"wall_clock_offset must be a finite number, got {value!r}")

    @submit_lost_answer_rate.validator
    def _check_exclusive(self, attribute: attrs.Attribute[float], value: float) -> None:
        # Runs after every rate field before it was set (attrs validates in order).
        total = sum(getattr(self, name) for name in EXCLUSIVE_SUBMIT_FAULTS.values())
        if total > 1.0 + 1e-9:
            fields = ", ".join(EXCLUSIVE_SUBMIT_FAULTS.values())
            raise ValueError(f"the submit fault rates ({fields}) must add up to at most 1")

    @concurrency_limit.validator
    def _check_limit(self, attribute: attrs.Attribute[int], value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"concurrency_limit must be an integer >= 1, got {value!r}")

    @webhook_delay.validator
    def _check_delay(
        self, attribute: attrs.Attribute[tuple[float, float]], value: tuple[float, float]
    ) -> None:
        ok = len(value) == 2 and all(
            isinstance(v, (int, float)) and math.isfinite(v) and v >= 0 for v in value
        )
        if not ok or value[0] > value[1]:
            raise ValueError(
                f"webhook_delay must be (low, high) with 0 <= low <= high, got {value!r}"
            )

    @credentials.validator
    def _check_credentials(
        self, attribute: attrs.Attribute[Mapping[str, str] | None], value: Mapping[str, str] | None
    ) -> None:
        if value is not None and (
            not value
            or not all(
                isinstance(k, str) and k and isinstance(v, str) and v for k, v in value.items()
            )
        ):
            raise ValueError("credentials must map non-empty appId strings to non-empty appSecrets")

    @url_durations.validator
    def _check_durations(
        self, attribute: attrs.Attribute[Mapping[str, float]], value: Mapping[str, float]
    ) -> None:
        for url, seconds in value.items():
            if not (isinstance(seconds, (int, float)) and math.isfinite(seconds) and seconds >= 0):
                raise ValueError(f"url_durations[{url!r}] must be a number >= 0, got {seconds!r}")

    def url_duration(self, url: str) -> float:
        """Media length in seconds the emulator assumes for ``url`` (see the class docstring)."""
        if url in self.url_durations:
            return float(self.url_durations[url])
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
        for raw in query.get("emulator_duration", []):
            try:
                seconds = float(raw)
            except ValueError:
                continue
            if math.isfinite(seconds) and seconds >= 0:
                return seconds
        digest = hashlib.sha256(url.encode()).digest()
        fraction = int.from_bytes(digest[:8], "big") / 2**64
        return round(_URL_MIN_S + fraction * (_URL_MAX_S - _URL_MIN_S), 3)

    def service_seconds(self, real_seconds: float) -> float:
        """Convert real seconds to the emulated service's seconds."""
        return real_seconds * self.time_scale

    def real_seconds(self, service_seconds: float) -> float:
        """Convert the emulated service's seconds to real seconds."""
        return service_seconds / self.time_scale

    def processing_time(self, media_seconds: float) -> float:
        """Service seconds a job spends ``in_progress`` for media of this length."""
        return self.processing_factor * media_seconds + self.processing_overhead
