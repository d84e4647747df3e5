"""The client's side of webhooks per submit attempt (a mixin of :class:`~symbl_async.SymblClient`).

A batch gives each attempt its own ``webhookUrl`` (:meth:`WebhookAttempts.webhook_url_for`):
when a submit's answer is lost and the job is found again by name (no job id), a webhook
delivered to that URL names the job (:meth:`WebhookAttempts.job_id_for_attempt`). The batch
engine reaches these through its ``BatchClient`` Protocol, never through the receiver.
"""

from __future__ import annotations

from symbl_async.core._checks import check_number
from symbl_async.core._webhook import with_attempt
from symbl_async.errors import ValidationError
from symbl_async.webhooks._receiver import WebhookReceiver

__all__ = ["WebhookAttempts"]


class WebhookAttempts:
    """What a batch asks of the attached receiver: its token, URLs and deliveries per attempt."""

    _receiver: WebhookReceiver | None

    @property
    def webhook_url(self) -> str | None:
        raise NotImplementedError  # provided by SymblClient

    @property
    def webhook_token(self) -> str | None:
        """The attached receiver's secret token (None without one); a credential.

        A batch stores it with its ledger, so a rerun can start its receiver with the same
        token (``WebhookReceiver(token=...)``) and still hear about earlier jobs.
        """
        return self._receiver.token if self._receiver is not None else None

    def webhook_url_for(self, attempt: str) -> str | None:
        """The ``webhookUrl`` for one submit attempt: :attr:`webhook_url` plus its tag.

        Args:
            attempt: the attempt's submit name.

        Returns:
            The URL (it holds the receiver's token: do not log it), or None when no
            receiver is attached (the submit then carries :attr:`webhook_url`, if any).

        Raises:
            ValidationError: the receiver has no callback URL yet (not started).
        """
        if self._receiver is None:
            return None
        try:
            url = self.webhook_url
        except RuntimeError as exc:
            raise ValidationError(
                "receiver", "has no callback URL yet: start it before submitting"
            ) from exc
        return None if url is None else with_attempt(url, attempt)

    async def job_id_for_attempt(self, attempt: str, timeout: float | None) -> str | None:
        """The job id a webhook sent to this attempt's URL named, waiting up to ``timeout``.

        Args:
            attempt: the attempt's submit name (as given to :meth:`webhook_url_for`).
            timeout: seconds to wait for such a webhook; 0 only looks; None: no limit.

        Returns:
            The job id (unconfirmed: ask ``GET /v1/job`` before relying on it), or None
            (no receiver, no such webhook in time, or the receiver closed).
        """
        if timeout is not None:
            timeout = check_number(timeout, "timeout")
        if self._receiver is None:
            return None
        if timeout == 0:
            return self._receiver.job_for_attempt(attempt)
        return await self._receiver.wait_job_for_attempt(attempt, timeout)
