"""A check a submit makes right before its body's last bytes go: :func:`submit_fence`.

The service creates a job only once it has every ``Content-Length`` byte of a submit, and
it has no idempotency key: whoever lets a submit's last bytes go may pay for a job. A batch
shared by several workers lets a worker send only while it holds its lease, and another
worker adopts its items once the lease has run out, looks each submit it left on the way up
by name and, finding none, sends it again. A worker paused after its last lease check
(SIGSTOP, a frozen VM, a starved event loop) and woken after that adoption would send its
own copy as well: paid twice. So the transport asks the fence of the submits made inside
:func:`submit_fence` right before their last bytes, with nothing awaited between the
fence's return and the write (``symbl_async.transport._body``).

It is a context variable, not a parameter, because it belongs to the batch's lease and
not to the submit: every path a batch submits by (a claim's submit, an upload started
ahead of its slot) runs inside the block, and a program's own submits outside it are not
fenced by a batch's lease.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Awaitable, Callable, Iterator

__all__ = ["Fence", "current_fence", "submit_fence"]

Fence = Callable[[], Awaitable[None]]
"""Awaited right before a submit's last bytes go; what it raises cuts the body off (the
submit created nothing) and is raised to the submit's caller as it is."""

_FENCE: contextvars.ContextVar[Fence | None] = contextvars.ContextVar(
    "symbl_async_submit_fence", default=None)


@contextlib.contextmanager
def submit_fence(fence: Fence | None) -> Iterator[None]:
    """Fence the submits made inside this block, and in tasks created inside it, with
    ``fence`` (``None``: no fence)."""
    token = _FENCE.set(fence)
    try:
        yield
    finally:
        _FENCE.reset(token)


def current_fence() -> Fence | None:
    """The fence of the submits made here, if any."""
    return _FENCE.get()
