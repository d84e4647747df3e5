"""The transport's upload throughput and an upload's progress, on plain numbers."""

from __future__ import annotations

import pytest

from symbl_async import Timeouts, ValidationError
from symbl_async.transport import UploadMeter, UploadProgress


def test_the_meter_averages_bytes_over_sending_time_and_leaves_idle_time_out() -> None:
    meter = UploadMeter()
    assert meter.rate is None
    meter._started(0.0)
    meter._add(500_000, 0.5)
    assert meter._rate is None  # under a second of sending: no sample yet
    meter._add(500_000, 1.0)
    meter._stopped(1.0)
    assert meter.rate == pytest.approx(1e6)
    # 99 idle seconds, then a second at the same speed: the idle time is not counted.
    meter._started(100.0)
    meter._add(1_000_000, 101.0)
    meter._stopped(101.0)
    assert meter.rate == pytest.approx(1e6)
    # A slower second moves the average toward it, by about a tenth (a ~10 s average).
    meter._started(200.0)
    meter._add(100_000, 201.0)
    meter._stopped(201.0)
    assert meter.rate is not None and 0.85e6 < meter.rate < 0.95e6
    assert (meter.bytes_sent, meter.in_flight) == (2_100_000, 0)


def test_uploads_in_flight_together_add_up() -> None:
    meter = UploadMeter()
    meter._started(0.0)
    meter._started(0.0)
    meter._add(300_000, 0.6)
    meter._add(300_000, 0.7)
    meter._stopped(0.8)  # one ends; sending goes on
    assert meter.in_flight == 1
    meter._add(400_000, 1.2)
    meter._stopped(1.2)
    assert meter.rate == pytest.approx(1_000_000 / 1.2)


def test_progress_before_and_during_an_attempt() -> None:
    progress = UploadProgress()
    assert (progress.fraction, progress.rate, progress.attempts) == (None, None, 0)
    progress.begin(1000, 10.0)
    progress.sent = 250
    assert progress.fraction == 0.25 and progress.attempts == 1
    progress.begin(1000, 20.0)  # a resend starts over
    assert (progress.sent, progress.attempts, progress.started_at) == (0, 2, 20.0)


@pytest.mark.parametrize("value", [0, -1, float("inf")])
def test_a_bad_stall_timeout_is_refused(value: float) -> None:
    with pytest.raises(ValidationError) as info:
        Timeouts(upload_stall=value)
    assert info.value.field == "upload_stall"


def test_no_stall_timeout_is_allowed() -> None:
    assert Timeouts(upload_stall=None).upload_stall is None
