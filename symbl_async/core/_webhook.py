"""Webhook bodies: decoding Symbl's job-status callbacks; pure, no I/O.

Symbl POSTs ``{"jobId": ..., "status": ...}`` (the blog shows ``{"id": ..., "status":
...}``; both are accepted). Symbl docs, "POST Text API", section "webhookUrl"; and
``docs/service-notes.md``, "Webhooks".
"""

from __future__ import annotations

import hashlib
import json
import urllib.parse

import attrs

from symbl_async.core._jobs import JobStatus
from symbl_async.errors import ValidationError

__all__ = ["ATTEMPT_PARAM", "WebhookEvent", "attempt_tag", "parse_webhook", "with_attempt"]

ATTEMPT_PARAM = "attempt"
"""The query parameter of a ``webhookUrl`` that names the submit attempt it was sent with."""


def attempt_tag(attempt: str) -> str:
    """The short tag of an attempt's name carried in its ``webhookUrl``; pure.

    A digest, not the name: a name may be 500 characters of any script, which percent-encoded
    twice (the URL travels in an upload's query string) would overflow common request-line
    limits; the tag is 32 URL-safe characters and does not show the name in URLs.

    Args:
        attempt: the attempt's submit name.
    """
    return hashlib.sha256(attempt.encode("utf-8")).hexdigest()[:32]


def with_attempt(url: str, attempt: str) -> str:
    """``url`` with the attempt's tag added as the :data:`ATTEMPT_PARAM` query parameter."""
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    query = [(k, v) for k, v in query if k != ATTEMPT_PARAM]
    query.append((ATTEMPT_PARAM, attempt_tag(attempt)))
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))



@attrs.frozen(kw_only=True)
class WebhookEvent:
    """One decoded webhook: a job id and the status Symbl says it reached."""

    job_id: str
    status: JobStatus


def parse_webhook(body: bytes) -> WebhookEvent:
    """Decode a webhook body; pure, no I/O.

    Args:
        body: the raw request body.

    Returns:
        The job id (key ``jobId``, or ``id`` as in Symbl's blog) and status. A status
        the docs do not list is kept (it ranks with ``scheduled``).

    Raises:
        ValidationError: with ``field`` ``"body"`` (not a JSON object), ``"jobId"`` (no
            non-empty string ``jobId`` or ``id``) or ``"status"`` (no non-empty string
            ``status``). Messages never quote the body.
    """
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise ValidationError("body", "must be a JSON object") from exc
    if not isinstance(data, dict):
        raise ValidationError("body", f"must be a JSON object, not {type(data).__name__}")
    job_id = data.get("jobId")
    if job_id is None:
        job_id = data.get("id")
    if not isinstance(job_id, str) or not job_id:
        raise ValidationError("jobId", "must be a non-empty string (key jobId or id)")
    status = data.get("status")
    if not isinstance(status, str) or not status:
        raise ValidationError("status", "must be a non-empty string")
    return WebhookEvent(job_id=job_id, status=JobStatus(status))
