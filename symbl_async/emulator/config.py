"""Configuration of the emulator: credentials, limits, the time scale and fault knobs."""

from __future__ import annotations

import hashlib
import math
import types
import urllib.parse
from collections.abc import Mapping

import attrs

__all__ = ["DEMO_APP_ID", "DEMO_APP_SECRET", "EmulatorConfig"]

DEMO_APP_ID = "emulator-app-id"
DEMO_APP_SECRET = "emulator-app-secret"

# Deterministic lengths for URLs nobody configured: 1 to 30 minutes.
_URL_MIN_S = 60.0
_URL_MAX_S = 1800.0


def _frozen_mapping(value: Mapping[str, float] | None) -> Mapping[str, float]:
    return types.MappingProxyType(dict(value or {}))


def _frozen_credentials(value: Mapping[str, str] | None) -> Mapping[str, str] | None:
    return None if value is None else types.MappingProxyType(dict(value))


def _positive(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ValueError(f"{attribute.name} must be a positive number, got {value!r}")


def _non_negative(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
        raise ValueError(f"{attribute.name} must be a number >= 0, got {value!r}")


def _rate(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not (isinstance(value, (int, float)) and 0.0 <= value <= 1.0):
        raise ValueError(f"{attribute.name} must be between 0 and 1, got {value!r}")


@attrs.frozen(kw_only=True)
class EmulatorConfig:
    """How the emulator behaves. Every number is validated (``ValueError`` names the field).

    Service time runs ``time_scale`` times faster than real time: a job's
    processing time is ``(processing_factor * media_seconds + processing_overhead)
    / time_scale`` real seconds and it waits ``queue_delay / time_scale`` in
    ``scheduled`` first. Token lifetimes and webhook delays are real seconds.

    Media length of a URL submit, first match wins:

    1. ``url_durations[url]``;
    2. an ``emulator_duration=SECONDS`` query parameter in the URL
       (``https://example.com/a.mp3?emulator_duration=600``), handy for benchmarks;
    3. a deterministic value from a hash of the URL, between 60 and 1800 seconds.

    Attributes:
        credentials: appId -> appSecret accepted by ``/oauth2/token:generate``;
            ``None`` accepts any non-empty pair.
        token_lifetime: seconds an access token stays valid.
        concurrency_limit: jobs that may be active at once, across all tokens
            (the account limit: 2 trial, 5 free, 50 Pro).
        time_scale: how much faster than real time the service works.
        processing_factor: service seconds of processing per second of media.
        processing_overhead: fixed service seconds of processing per job.
        queue_delay: service seconds a job spends ``scheduled`` before it starts.
        url_durations: media length (seconds) of given URLs.
        fail_inputs: URLs and submit ``name`` values whose jobs end ``failed``.
        webhook_drop_rate: chance that a webhook delivery is silently lost.
        webhook_duplicate_rate: chance that a delivery is sent twice.
        webhook_reorder_rate: chance that a non-final delivery is held back and
            sent after the next delivery of the same job.
        webhook_delay: ``(low, high)`` real seconds; each delivery waits a
            uniformly drawn delay in that range.
        webhook_timeout: real seconds before a delivery attempt is abandoned.
        seed: seeds the one random generator behind every fault, for reproducible runs.
    """

    credentials: Mapping[str, str] | None = attrs.field(default=None, converter=_frozen_credentials)
    token_lifetime: float = attrs.field(default=86400.0, validator=_positive)
    concurrency_limit: int = attrs.field(default=50)
    time_scale: float = attrs.field(default=1.0, validator=_positive)
    processing_factor: float = attrs.field(default=0.25, validator=_non_negative)
    processing_overhead: float = attrs.field(default=30.0, validator=_non_negative)
    queue_delay: float = attrs.field(default=1.0, validator=_non_negative)
    url_durations: Mapping[str, float] = attrs.field(factory=dict, converter=_frozen_mapping)
    fail_inputs: frozenset[str] = attrs.field(factory=frozenset, converter=frozenset)
    webhook_drop_rate: float = attrs.field(default=0.0, validator=_rate)
    webhook_duplicate_rate: float = attrs.field(default=0.0, validator=_rate)
    webhook_reorder_rate: float = attrs.field(default=0.0, validator=_rate)
    webhook_delay: tuple[float, float] = attrs.field(default=(0.0, 0.0), converter=tuple)
    webhook_timeout: float = attrs.field(default=5.0, validator=_positive)
    seed: int = 0

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
