"""``SymblClient``: the asyncio client for the whole Symbl Async API."""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

import aiohttp

from symbl_async.client._attempts import WebhookAttempts
from symbl_async.client._conversations import DEFAULT_INCLUDE, ConversationsAPI
from symbl_async.client._modelwatch import ModelWatch
from symbl_async.client._processing import Processing
from symbl_async.client._settings import DEFAULT_BASE_URL, resolve_base_url, resolve_credentials
from symbl_async.client._submits import AUTO_NAME_PREFIX
from symbl_async.client._waiting import (
    PollSchedule,
    SafetyPollSchedule,
    Waiter,
    WaitMode,
    make_waiter,
    parse_wait_mode,
)
from symbl_async.core._checks import check_number, path_segment
from symbl_async.core._estimate import ProcessingTimeModel
from symbl_async.core._jobs import Job, JobInfo, JobStatus
from symbl_async.core._options import check_http_url
from symbl_async.errors import SymblError, ValidationError
from symbl_async.models._models import ConversationInsights
from symbl_async.transport._transport import RetryPolicy, Timeouts, Transport
from symbl_async.webhooks._receiver import WebhookReceiver

if TYPE_CHECKING:
    from symbl_async.batch._api import process_many as _batch_process_many

__all__ = ["AUTO_NAME_PREFIX", "DEFAULT_BASE_URL", "SymblClient"]

log = logging.getLogger("symbl_async.client._client")


class SymblClient(Processing, WebhookAttempts):
    """An ``async with`` client for the Symbl.ai Async API.

    Args:
        app_id: application id; defaults to ``$SYMBL_APP_ID``.
        app_secret: application secret; defaults to ``$SYMBL_APP_SECRET``.
        access_token: a ready access token (no app secret needed; cannot be renewed
            unless app credentials are also given).
        base_url: the API root; defaults to ``$SYMBL_BASE_URL``, else
            ``https://api.symbl.ai``. Point it at an emulator's ``url`` to run offline.
            The root only: no path such as ``/v1``, no ``user:password@``; an empty
            value is refused (it never means the real service).
        session: an ``aiohttp.ClientSession`` to borrow; it is never closed by us.
        timeouts: request timeouts.
        retry: how requests that are safe to repeat are retried.
        poll: when ``wait`` polls a job's status.
        wait_timeout: default deadline of ``wait``, in seconds.
        auto_name: give unnamed new conversations a unique ``name`` so a submit
            whose outcome is unknown can be looked up.
        token_skew: renew the access token this many seconds before it expires (>= 0).
        receiver: a :class:`WebhookReceiver` to attach (see :meth:`attach_receiver`).
        wait_mode: how ``wait`` and the ``process_*`` helpers wait by default:
            ``"poll"``, ``"webhook"`` or ``"hybrid"``; default ``"hybrid"`` when a
            receiver is attached, else ``"poll"``.
        safety_poll: the shape of hybrid waiting's safety poll (it builds on ``poll``).
        confirm_webhooks: confirm a receiver's terminal webhooks with ``GET /v1/job``
            (this client's :meth:`get_job`) before releasing waiters, unless the
            receiver has its own ``confirm`` function.

    Raises:
        ValidationError: no usable credentials, an ``access_token`` with control
            characters, a bad ``base_url``, ``wait_timeout``, ``token_skew``,
            ``wait_mode`` or ``receiver``, or a configuration of the wrong type.
    """

    def __init__(
        self,
        *,
        app_id: str | None = None,
        app_secret: str | None = None,
        access_token: str | None = None,
        base_url: str | None = None,
        session: aiohttp.ClientSession | None = None,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        poll: PollSchedule | None = None,
        wait_timeout: float = 4 * 3600.0,
        auto_name: bool = True,
        token_skew: float = 300.0,
        receiver: WebhookReceiver | None = None,
        wait_mode: WaitMode | str | None = None,
        safety_poll: SafetyPollSchedule | None = None,
        confirm_webhooks: bool = True,
    ) -> None:
        credentials, access_token = resolve_credentials(app_id, app_secret, access_token)
        url = resolve_base_url(base_url)
        wait_timeout = check_number(wait_timeout, "wait_timeout", strict=True)
        token_skew = check_number(token_skew, "token_skew")
        for value, field, cls in (
            (timeouts, "timeouts", Timeouts),
            (retry, "retry", RetryPolicy),
            (poll, "poll", PollSchedule),
        ):
            if value is not None and not isinstance(value, cls):
                raise ValidationError(field, f"must be a {cls.__name__}")
        # Only the value is checked here: a receiver may still be attached later.
        mode = None if wait_mode is None else parse_wait_mode(wait_mode, "wait_mode")
        if safety_poll is not None and not isinstance(safety_poll, SafetyPollSchedule):
            raise ValidationError("safety_poll", "must be a SafetyPollSchedule")
        self._transport = Transport(
            base_url=url,
            credentials=credentials,
            access_token=access_token,
            session=session,
            timeouts=timeouts,
            retry=retry,
            token_skew=token_skew,
        )
        self.poll = poll or PollSchedule()
        # Learned from every job this client waits for (see PollSchedule.learn); a
        # batch ledger may load saved observations into it so a rerun starts warm.
        self.processing_model: ProcessingTimeModel = self.poll.new_model()
        self._model_watch = ModelWatch(self.processing_model)
        self.wait_timeout = wait_timeout
        self.auto_name = auto_name
        self.conversations = ConversationsAPI(self._transport)
        self.safety_poll = safety_poll or SafetyPollSchedule()
        self._wait_mode = mode
        self._webhook_url: str | None = None
        self._receiver: WebhookReceiver | None = None
        if receiver is not None:
            self.attach_receiver(receiver, confirm=confirm_webhooks)

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<SymblClient {self.base_url} {state}>"

    @property
    def base_url(self) -> str:
        return self._transport.base_url

    @property
    def transport(self) -> Transport:
        """The transport, for its counters (``requests_sent``, ``retries``)."""
        return self._transport

    @property
    def closed(self) -> bool:
        return self._transport.closed

    def submit_deadline(self, upload_size: int | None = None) -> float | None:
        """The longest one submit can last from its send, in seconds (None: no bound).

        Its request cannot land later than that after the send, but for the service's own
        handling (a batch's lookup grace adds a margin). For an upload it is the upload's
        cap (``Timeouts.upload_deadline``), which a slow but moving upload may use whole.

        Args:
            upload_size: the upload's size in bytes; ``None`` for a URL or text submit.
        """
        t = self._transport.timeouts
        if upload_size is None:
            return t.total
        return t.upload_deadline(upload_size)

    # -- webhooks and wait modes ----------------------------------------------------

    @property
    def receiver(self) -> WebhookReceiver | None:
        """The attached webhook receiver, if any."""
        return self._receiver

    @property
    def wait_mode(self) -> WaitMode:
        """How ``wait`` waits by default: as configured, else ``hybrid`` with a receiver,
        else ``poll``."""
        if self._wait_mode is not None:
            return self._wait_mode
        return WaitMode.HYBRID if self._receiver is not None else WaitMode.POLL

    @property
    def webhook_url(self) -> str | None:
        """The ``webhookUrl`` submits carry unless their options name one.

        The URL set here, else the attached receiver's ``callback_url`` (read at each
        submit, so the receiver may be started after it was attached), else ``None``.
        It holds the receiver's secret token: do not log it.

        Raises:
            RuntimeError: the attached receiver has no URL yet (not started, no
                ``public_url``).
        """
        if self._webhook_url is not None:
            return self._webhook_url
        return self._receiver.callback_url if self._receiver is not None else None

    @webhook_url.setter
    def webhook_url(self, value: str | None) -> None:
        self._webhook_url = None if value is None else check_http_url(value, "webhook_url")

    def attach_receiver(self, receiver: WebhookReceiver, *, confirm: bool = True) -> None:
        """Send the webhooks of this client's jobs to ``receiver``, and wait on it.

        From now on, submits carry ``webhookUrl=receiver.callback_url`` (unless their
        options, or :attr:`webhook_url` set by hand, name another URL), and ``wait``
        defaults to ``hybrid`` (unless the client was given a ``wait_mode``). Attaching
        makes no request; the receiver need not be started yet, only before the first
        submit.

        Args:
            receiver: the receiver; one receiver serves one client best (its
                confirmations go through this client).
            confirm: when the receiver has no ``confirm`` function, give it this
                client's :meth:`get_job`, so terminal webhooks are confirmed with
                ``GET /v1/job/{jobId}`` before waiters are released. ``False`` leaves
                the receiver as it is (without a function, it trusts webhooks).

        Raises:
            ValidationError: ``receiver`` is not an open :class:`WebhookReceiver`.
        """
        if not isinstance(receiver, WebhookReceiver):
            raise ValidationError("receiver", "must be a WebhookReceiver")
        if receiver.closed:
            raise ValidationError("receiver", "is closed; create a new WebhookReceiver")
        if confirm and receiver.confirm is None:
            receiver.set_confirm(self.get_job)
        self._receiver = receiver

    def waiter(
        self,
        mode: WaitMode | str | None = None,
        *,
        schedule: PollSchedule | None = None,
        field: str = "mode",
    ) -> Waiter:
        """The waiting strategy ``wait`` would use; no request is made.

        Args:
            mode: ``"poll"``, ``"webhook"`` or ``"hybrid"``; default :attr:`wait_mode`.
            schedule: overrides the client's poll schedule (hybrid's safety poll
                builds on it too).
            field: the argument name to blame in errors.

        Returns:
            A :class:`~symbl_async.client._waiting.Waiter`: ``await waiter.wait(job, timeout=...)``.

        Raises:
            ValidationError: an unknown mode, or a webhook mode without a receiver.
        """
        if mode is None:
            mode, field = self.wait_mode, "wait_mode"
        if schedule is not None and not isinstance(schedule, PollSchedule):
            raise ValidationError("schedule", "must be a PollSchedule")
        return make_waiter(
            mode,
            get_job=self.get_job,
            schedule=schedule or self.poll,
            receiver=self._receiver,
            safety=self.safety_poll,
            field=field,
            model=self.processing_model if schedule is None else None,
            watch=self._watch() if schedule is None else None,
        )

    def _watch(self) -> ModelWatch:
        """The one watch of ``processing_model`` (a new one if the model was replaced)."""
        if self._model_watch.model is not self.processing_model:
            self._model_watch = ModelWatch(self.processing_model)
        return self._model_watch

    def _submit_webhook_url(self) -> str | None:
        try:
            return self.webhook_url
        except RuntimeError as exc:
            raise ValidationError(
                "receiver",
                "has no callback URL yet: start it (async with receiver) or give it "
                "public_url, before submitting",
            ) from exc

    async def __aenter__(self) -> SymblClient:
        self._transport._get_session()  # refuses a closed client
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Release the connection pool (unless borrowed); the client cannot be reused."""
        await self._transport.close()

    # -- batches --------------------------------------------------------------------

    # ``client.process_many(sources, ...)`` is ``symbl_async.process_many(client, sources,
    # ...)``, kept as an alias because the 0.1 README documented it. The batch engine never
    # imports the client (it takes a ``BatchClient``), so importing it here, when the alias
    # is called, makes no cycle; type checkers see the real signature, so a misspelt
    # keyword is an error, not an ``**kwargs`` that swallows it.
    if TYPE_CHECKING:
        process_many = _batch_process_many
    else:

        def process_many(self, *args, **kwargs):
            """Alias of :func:`symbl_async.process_many` with this client first."""
            from symbl_async.batch._api import process_many

            return process_many(self, *args, **kwargs)

    # -- jobs -----------------------------------------------------------------------

    async def get_job(self, job_id: str) -> JobInfo:
        """``GET /v1/job/{jobId}``: a job's current status.

        Raises:
            ValidationError: empty job id.
            NotFoundError: no such job.
        """
        segment = path_segment(job_id, "job_id")
        job_id = job_id.strip()
        answer = await self._transport.request("GET", "/v1/job/" + segment)
        if not isinstance(answer, Mapping) or not isinstance(answer.get("status"), str):
            raise SymblError(f"the Job API answered without a status for job {job_id}: {answer!r}")
        return JobInfo(id=str(answer.get("id") or job_id), status=JobStatus(answer["status"]))

    async def wait(
        self,
        job: Job | str,
        *,
        timeout: float | None = None,
        schedule: PollSchedule | None = None,
        mode: WaitMode | str | None = None,
    ) -> JobInfo:
        """Wait until a job is completed.

        Args:
            job: a :class:`Job` from a submit, or a job id.
            timeout: seconds to wait at most (default: the client's ``wait_timeout``).
            schedule: overrides the client's poll schedule.
            mode: ``"poll"`` (poll ``GET /v1/job``), ``"webhook"`` (only the attached
                receiver's confirmed webhooks; no polls) or ``"hybrid"`` (webhooks, plus
                a slow safety poll); default :attr:`wait_mode`. The webhook modes rely on
                the job having been submitted with the receiver's URL (submits through
                this client are); ``hybrid`` still ends a job submitted without it, by
                its safety poll.

        Returns:
            The completed job's status.

        Raises:
            ValidationError: a bad timeout or mode, or a webhook mode without a
                receiver; raised before anything is sent.
            JobFailedError: the job ended ``failed``.
            WaitTimeoutError: the deadline passed; the job may still be running.
            ClientClosedError: the receiver was closed while waiting on it.
        """
        waiter = self.waiter(mode, schedule=schedule)
        if isinstance(job, str):
            path_segment(job, "job")  # now, not at the first poll
            job = Job(job_id=job.strip(), conversation_id="")
        return await waiter.wait(job, timeout=self._timeout(timeout))

    def _timeout(self, timeout: float | None) -> float:
        if timeout is None:
            return self.wait_timeout
        return check_number(timeout, "timeout", strict=True)

    # -- insights -------------------------------------------------------------------

    async def fetch_insights(
        self, conversation_id: str, include: Collection[str] = DEFAULT_INCLUDE
    ) -> ConversationInsights:
        """Fetch a chosen set of insights concurrently into one object.

        Args:
            conversation_id: the conversation.
            include: names of ``ConversationInsights`` fields to fetch.
        """
        return await self.conversations.fetch_insights(conversation_id, include=include)

    async def fetch_insights_json(
        self, conversation_id: str, include: Collection[str] = DEFAULT_INCLUDE
    ) -> dict[str, Any]:
        """Fetch a chosen set of insights concurrently, as JSON-ready data (no models).

        Args:
            conversation_id: the conversation.
            include: names of ``ConversationInsights`` fields to fetch.

        Returns:
            What :meth:`fetch_insights` followed by ``.to_json()`` gives, built faster.
        """
        return await self.conversations.fetch_insights_json(conversation_id, include=include)
