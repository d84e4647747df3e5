"""A webhook receiver's counters: :class:`WebhookStats`.

Shared by the receiver's parts, each counting what it sees: the receiver (requests and
rejections, deliveries handed to the relay), its watch table (what each webhook did to a
watched job) and the table's confirmations.
"""

from __future__ import annotations

import collections

import attrs

__all__ = ["WebhookStats"]


@attrs.define
class WebhookStats:
    """Counters of a receiver; every request reaching it lands in exactly one of
    ``rejected``, ``unknown_jobs``, ``duplicates``, ``stale`` or ``accepted``.

    Attributes:
        received: requests that reached the receiver (right token or not).
        accepted: webhooks that moved a watched job forward.
        duplicates: webhooks repeating a watched job's status (or claiming an end
            already being confirmed), dropped.
        stale: webhooks ranked below what a watched job already reached, dropped.
        unknown_jobs: valid webhooks for jobs nobody watches; acknowledged, remembered.
        rejected: answered with an error status, by reason: ``bad_token`` (404),
            ``too_large`` (413), ``invalid_body`` / ``invalid_job_id`` /
            ``invalid_status`` (400), ``closed`` (503), ``incomplete_body`` (the
            client went away mid-body; nothing answered).
        confirmations: calls made to ``confirm`` (re-confirmations included).
        confirmation_mismatches: confirmations where the API's status differed from
            the webhook's.
        confirmation_errors: confirmations that raised.
        reconfirmations: confirmations repeated because the previous one lagged
            (a non-terminal status) or raised.
        relayed_out: deliveries for jobs this process does not watch, handed to the
            relay (``relay=``) for the process that does.
        relayed_in: deliveries another process received, handed over by the relay, that
            moved a job watched here forward (not requests: outside the five above).
    """

    received: int = 0
    accepted: int = 0
    duplicates: int = 0
    stale: int = 0
    unknown_jobs: int = 0
    rejected: collections.Counter[str] = attrs.field(factory=collections.Counter)
    confirmations: int = 0
    confirmation_mismatches: int = 0
    confirmation_errors: int = 0
    reconfirmations: int = 0
    relayed_out: int = 0
    relayed_in: int = 0
