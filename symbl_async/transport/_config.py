"""The transport's configuration: timeouts and the retry policy (frozen, checked)."""

from __future__ import annotations

import random
from collections.abc import Callable, Generator
from typing import Any

import aiohttp
import attrs

from symbl_async.core._checks import number_field

__all__ = ["RetryPolicy", "Timeouts"]


def _seconds(field: str) -> Callable[[Any, Any, Any], None]:
    return number_field(field, strict=True, optional=True)


@attrs.frozen(kw_only=True)
class Timeouts:
    """Request timeouts in seconds (``None``: no limit).

    ``total`` bounds a whole ordinary call. An upload may take long to send, and
    ``read`` does not apply while its body is written, so an upload gets its own
    deadline, scaled with its size: ``upload_floor + size / upload_min_throughput``
    seconds (a server that stops reading then fails the submit instead of holding it
    forever). ``upload_total``, when set, replaces that scaled deadline.

    Attributes:
        connect: opening a connection.
        read: between two reads of the answer.
        total: a whole ordinary request.
        upload_total: a whole upload, fixed; ``None`` scales it with the size.
        upload_floor: the scaled upload deadline's fixed part (sending starts, the
            service answers).
        upload_min_throughput: the slowest upload we wait for, in bytes per second;
            ``None`` puts no size-scaled deadline on uploads.

    Raises:
        ValidationError: a negative, zero, infinite or non-number value.
    """

    connect: float | None = attrs.field(default=10.0, validator=_seconds("connect"))
    read: float | None = attrs.field(default=60.0, validator=_seconds("read"))
    total: float | None = attrs.field(default=120.0, validator=_seconds("total"))
    upload_total: float | None = attrs.field(default=None, validator=_seconds("upload_total"))
    upload_floor: float = attrs.field(
        default=120.0, validator=number_field("upload_floor", strict=True)
    )
    # 100 kB/s (0.8 Mbit/s): a slow uplink still finishes; a stalled one fails in minutes.
    upload_min_throughput: float | None = attrs.field(
        default=100_000.0,
        validator=number_field("upload_min_throughput", strict=True, optional=True),
    )

    def upload_deadline(self, size: int | None) -> float | None:
        """Seconds a whole upload of ``size`` bytes may take (``None``: no limit)."""
        if self.upload_total is not None:
            return self.upload_total
        if self.upload_min_throughput is None:
            return None
        return self.upload_floor + max(size or 0, 0) / self.upload_min_throughput

    def client_timeout(self, *, upload_size: int | None = None) -> aiohttp.ClientTimeout:
        """aiohttp's timeout for an ordinary request, or an upload of ``upload_size``."""
        return aiohttp.ClientTimeout(
            total=self.total if upload_size is None else self.upload_deadline(upload_size),
            sock_connect=self.connect,
            sock_read=self.read,
        )


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How requests that are safe to repeat are retried.

    Attributes:
        max_tries: attempts in all, the first included.
        max_time: no new attempt starts after this many seconds.
        base: first wait's upper bound; it doubles per attempt (full jitter).
        cap: the longest computed wait.
        retry_after_cap: the longest wait a ``Retry-After`` header may impose.

    Raises:
        ValidationError: a value out of range (``max_tries`` below 1, ...).
    """

    max_tries: int = attrs.field(
        default=5, validator=number_field("max_tries", minimum=1, integer=True)
    )
    max_time: float = attrs.field(default=60.0, validator=number_field("max_time", strict=True))
    base: float = attrs.field(default=0.5, validator=number_field("base"))
    cap: float = attrs.field(default=10.0, validator=number_field("cap"))
    retry_after_cap: float = attrs.field(default=60.0, validator=number_field("retry_after_cap"))

    def waits(self, rng: random.Random) -> Generator[float, Any, None]:
        """Wait generator for ``backoff``: it is sent each failure and yields the wait."""
        attempt = 0
        # backoff primes the generator with send(None); what it yields then is unused.
        exc = yield 0.0
        while True:
            retry_after = getattr(exc, "retry_after", None)
            if retry_after is not None:
                delay = min(float(retry_after), self.retry_after_cap)
            else:
                delay = rng.uniform(0.0, min(self.cap, self.base * 2**attempt))
            attempt += 1
            exc = yield delay
