"""The pure core: protocol rules as plain data in, plain data out; no aiohttp, no asyncio.

What lives here: job and status types (``_jobs``); mapping an HTTP answer (or a failure
to get one) to a decision: return the data, raise this error, retry, refresh the token,
with ``Retry-After``, redirects and when a submit's outcome is unknown (``_http``:
``decide``); argument checks shared by every configuration class: finite numbers, ids as
one path segment, the API root (``_checks``); processing options, their rules and the
request bodies and query strings they become (``_options``, ``_option_items``); text
conversations (``_text``); media sniffing and durations (``_media``) and whether an
upload is media at all (``_media_checks``); ISO 8601 times on every Python
(``_isotime``); the conversation list's query string and filter rules (``_listing``);
webhook body decoding (``_webhook``); poll schedules (``_polling``); the learned
processing-time model (``_estimate``) and the poll plan derived from it (``_pollplan``);
what makes a write durable on each platform: fsync, and ``F_FULLFSYNC`` on macOS
(``_durable``).

May import: the standard library, ``attrs`` and :mod:`symbl_async.errors`. Nothing
here does network I/O or needs an event loop, so all of it is tested on plain data.
"""

from __future__ import annotations

from symbl_async.core._checks import (
    check_base_url,
    check_number,
    path_segment,
)
from symbl_async.core._http import (
    IDEMPOTENT_METHODS,
    RETRYABLE_STATUSES,
    Answer,
    Call,
    Decision,
    Done,
    Fail,
    Failure,
    FailureKind,
    Refresh,
    Retry,
    decide,
    decode_body,
    error_for_status,
    error_message,
    is_submit,
    parse_retry_after,
    redact_url,
)
from symbl_async.core._isotime import (
    format_iso,
    parse_iso,
)
from symbl_async.core._jobs import (
    Job,
    JobInfo,
    JobStatus,
)
from symbl_async.core._listing import (
    LIST_LIMIT_MAX,
    check_list_filter,
    list_query,
    rsql_quote,
)
from symbl_async.core._media import (
    AUDIO_CONTENT_TYPES,
    VIDEO_CONTENT_TYPES,
    MediaProbe,
    Mp4DurationParser,
    content_type_from_extension,
    probe_file,
    sniff_content_type,
    wav_duration,
)
from symbl_async.core._media_checks import (
    looks_like_text,
    media_header_problem,
)
from symbl_async.core._options import (
    ChannelMetadata,
    CustomEntity,
    ProcessingOptions,
    Speaker,
    Tracker,
    check_http_url,
    check_metadata,
)
from symbl_async.core._polling import (
    PollSchedule,
    SafetyPollSchedule,
    WaitMode,
    parse_wait_mode,
    wake_times,
)
from symbl_async.core._text import (
    TextMessage,
    messages_to_json,
)
from symbl_async.core._webhook import (
    WebhookEvent,
    parse_webhook,
)

__all__ = [
    "AUDIO_CONTENT_TYPES",
    "IDEMPOTENT_METHODS",
    "LIST_LIMIT_MAX",
    "RETRYABLE_STATUSES",
    "VIDEO_CONTENT_TYPES",
    "Answer",
    "Call",
    "ChannelMetadata",
    "CustomEntity",
    "Decision",
    "Done",
    "Fail",
    "Failure",
    "FailureKind",
    "Job",
    "JobInfo",
    "JobStatus",
    "MediaProbe",
    "Mp4DurationParser",
    "PollSchedule",
    "ProcessingOptions",
    "Refresh",
    "Retry",
    "SafetyPollSchedule",
    "Speaker",
    "TextMessage",
    "Tracker",
    "WaitMode",
    "WebhookEvent",
    "check_base_url",
    "check_http_url",
    "check_list_filter",
    "check_metadata",
    "check_number",
    "content_type_from_extension",
    "decide",
    "decode_body",
    "error_for_status",
    "error_message",
    "format_iso",
    "is_submit",
    "list_query",
    "looks_like_text",
    "media_header_problem",
    "messages_to_json",
    "parse_iso",
    "parse_retry_after",
    "parse_wait_mode",
    "parse_webhook",
    "path_segment",
    "probe_file",
    "redact_url",
    "rsql_quote",
    "sniff_content_type",
    "wake_times",
    "wav_duration",
]
