"""Webhook bodies: decoding Symbl's job-status callbacks; pure, no I/O.

Symbl POSTs ``{"jobId": ..., "status": ...}`` (the blog shows ``{"id": ..., "status":
...}``; both are accepted). See REFERENCE.md, "Webhooks".
"""

from __future__ import annotations

import json

import attrs

from symbl_async.core._jobs import JobStatus
from symbl_async.errors import ValidationError

__all__ = ["WebhookEvent", "parse_webhook"]


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
