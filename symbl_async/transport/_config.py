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

    ``total`` bounds a whole ordinary call. An upload's body may take long to send over a
    slow or shared uplink, so its time is judged by progress, not size: it fails when no
    byte of it moves for ``upload_stall`` seconds (cut off before its last byte, it
    created nothing and is safe to send again). Once the last byte is handed over,
    ``read`` bounds the wait for the answer, which includes the peer reading what the
    kernel still buffers (megabytes at most). A loose cap on the whole upload stays, so
    that its outcome is known in bounded time (a batch waits that long before it looks a
    lost submit up): ``upload_total``, else ``upload_floor + size / upload_min_throughput``.

    Attributes:
        connect: opening a connection.
        read: between two reads of the answer.
        total: a whole ordinary request.
        upload_stall: an upload's body accepting no byte for this long fails it
            (``None``: no stall timeout).
        upload_total: the cap on a whole upload, fixed; ``None`` scales it with the size.
        upload_floor: the scaled cap's fixed part (sending starts, the service answers).
        upload_min_throughput: the scaled cap's slowest upload, in bytes per second, far
            below a working uplink's (the stall timeout catches a dead one); ``None``
            puts no cap on uploads.

    Raises:
        ValidationError: a negative, zero, infinite or non-number value.
    """

    connect: float | None = attrs.field(default=10.0, validator=_seconds("connect"))
    read: float | None = attrs.field(default=60.0, validator=_seconds("read"))
    total: float | None = attrs.field(default=120.0, validator=_seconds("total"))
    upload_stall: float | None = attrs.field(default=60.0, validator=_seconds("upload_stall"))
    upload_total: float | None = attrs.field(default=None, validator=_seconds("upload_total"))
    upload_floor: float = attrs.field(
        default=120.0, validator=number_field("upload_floor", strict=True)
    )
    # 10 kB/s (80 kbit/s): 50 uploads sharing a 2 MB/s uplink get 40 kB/s each, and the cap
    # at 100 kB/s cut a third of them off mid-body. The cap only bounds the outcome's wait.
    upload_min_throughput: float | None = attrs.field(
        default=10_000.0,
        validator=number_field("upload_min_throughput", strict=True, optional=True),
    )

    # Built once: every ordinary request takes it (an aiohttp.ClientTimeout per request
    # was 1 % of a batch's client CPU).
    _ordinary: aiohttp.ClientTimeout = attrs.field(init=False, eq=False, repr=False)

    @_ordinary.default
    def _ordinary_timeout(self) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(total=self.total, sock_connect=self.connect,
                                     sock_read=self.read)

    def upload_deadline(self, size: int | None) -> float | None:
        """The cap on a whole upload of ``size`` bytes, send to answer (``None``: none)."""
        if self.upload_total is not None:
            return self.upload_total
        if self.upload_min_throughput is None:
            return None
        return self.upload_floor + max(size or 0, 0) / self.upload_min_throughput

    def client_timeout(self, *, upload_size: int | None = None) -> aiohttp.ClientTimeout:
        """aiohttp's timeout for an ordinary request, or an upload of ``upload_size``."""
        if upload_size is None:
            return self._ordinary
        return aiohttp.ClientTimeout(
            total=self.upload_deadline(upload_size), sock_connect=self.connect,
            sock_read=self.read)


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
