"""symbl_async: an asyncio-native client for the Symbl.ai Async API.

Quick start::

    async with SymblClient(app_id=..., app_secret=...) as client:
        insights = await client.process_audio_url("https://example.com/call.wav")

Webhooks instead of polling: attach a :class:`WebhookReceiver` (``SymblClient(...,
receiver=receiver)``); submits then carry its ``webhookUrl`` and waits default to
``hybrid`` (webhooks plus a slow safety poll).

Run offline against the bundled emulator: ``async with Emulator() as emu:`` and pass
``base_url=emu.url`` with the emulator's ``app_id``/``app_secret``.
"""

__version__ = "0.1.0"

from .client import DEFAULT_BASE_URL, SymblClient
from .errors import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ClientClosedError,
    ConcurrencyLimitError,
    JobFailedError,
    NotFoundError,
    RequestInfo,
    ResponseDecodeError,
    ServerError,
    SubmitOutcomeUnknownError,
    SymblConnectionError,
    SymblError,
    SymblTimeoutError,
    ValidationError,
    WaitTimeoutError,
)
from .jobs import Job, JobInfo, JobStatus
from .options import ChannelMetadata, CustomEntity, ProcessingOptions, Speaker, Tracker
from .text import TextMessage
from .transport import RetryPolicy, Timeouts
from .waiting import PollSchedule, SafetyPollSchedule, WaitMode
from .webhooks import WebhookReceiver

__all__ = [
    "DEFAULT_BASE_URL",
    "APIStatusError",
    "AuthenticationError",
    "BadRequestError",
    "ChannelMetadata",
    "ClientClosedError",
    "ConcurrencyLimitError",
    "CustomEntity",
    "Job",
    "JobFailedError",
    "JobInfo",
    "JobStatus",
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
]
