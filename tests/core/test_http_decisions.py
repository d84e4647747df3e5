"""The retry / refresh / "outcome unknown" rules of ``core._http.decide``, on plain data.

No aiohttp, no event loop: each case is a request, what happened to one attempt, and
the decision the transport must act on.
"""

from __future__ import annotations

import pytest

from symbl_async.core._http import (
    TOKEN_PATH,
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
    redact_url,
)
from symbl_async.errors import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConcurrencyLimitError,
    NotFoundError,
    ServerError,
    SubmitOutcomeUnknownError,
    SymblConnectionError,
    SymblError,
    SymblTimeoutError,
)

URL = "https://api.symbl.ai"
JOB = b'{"conversationId": "1", "jobId": "j1"}'


def call(method: str, path: str, idempotent: bool | None = None) -> Call:
    return Call(method=method, path=path, url=URL + path, idempotent=idempotent, name="n-1")


SUBMIT = call("POST", "/v1/process/audio/url")
APPEND = call("PUT", "/v1/process/text/123")
READ = call("GET", "/v1/job/j1")
DELETE = call("DELETE", "/v1/conversations/1")
TRANSCRIPT = call("POST", "/v1/conversations/1/transcript")
TOKEN = call("POST", TOKEN_PATH, idempotent=True)


def answer(status: int, body: bytes = b"", **headers: str) -> Answer:
    return Answer(status=status, headers=headers, body=body)


def failure(kind: FailureKind) -> Failure:
    return Failure(kind=kind, detail="boom", cause=OSError("boom"))


NOT_CONNECTED = failure(FailureKind.NOT_CONNECTED)
TIMEOUT = failure(FailureKind.TIMEOUT)
BROKEN = failure(FailureKind.BROKEN)

# (label, call, outcome, attempt, decision type, error type or None)
CASES: list[tuple[str, Call, Answer | Failure, int, type, type | None]] = [
    # -- a submit: created, not created (the service said so), or unknown ----------
    ("submit created", SUBMIT, answer(201, JOB), 1, Done, None),
    ("append created", APPEND, answer(200, JOB), 1, Done, None),
    ("submit never connected", SUBMIT, NOT_CONNECTED, 1, Retry, SymblConnectionError),
    ("submit 400", SUBMIT, answer(400, b'{"message": "bad"}'), 1, Fail, BadRequestError),
    ("submit 401", SUBMIT, answer(401), 1, Refresh, AuthenticationError),
    ("submit 401 again", SUBMIT, answer(401), 1, Fail, AuthenticationError),  # refreshed
    ("submit 403", SUBMIT, answer(403), 1, Fail, APIStatusError),
    ("submit 413", SUBMIT, answer(413), 1, Fail, APIStatusError),
    ("submit 429", SUBMIT, answer(429), 1, Fail, ConcurrencyLimitError),
    ("submit 503", SUBMIT, answer(503), 1, Retry, ServerError),
    ("submit 503 later", SUBMIT, answer(503), 4, Retry, ServerError),
    ("submit 500", SUBMIT, answer(500), 1, Fail, SubmitOutcomeUnknownError),
    ("submit 502", SUBMIT, answer(502), 1, Fail, SubmitOutcomeUnknownError),
    ("submit 504", SUBMIT, answer(504), 1, Fail, SubmitOutcomeUnknownError),
    ("append 500", APPEND, answer(500), 1, Fail, SubmitOutcomeUnknownError),
    ("submit 2xx no body", SUBMIT, answer(201), 1, Fail, SubmitOutcomeUnknownError),
    ("submit 2xx no jobId", SUBMIT, answer(200, b'{"a": 1}'), 1, Fail, SubmitOutcomeUnknownError),
    ("submit 2xx html", SUBMIT, answer(200, b"<html>"), 1, Fail, SubmitOutcomeUnknownError),
    ("submit timeout", SUBMIT, TIMEOUT, 1, Fail, SubmitOutcomeUnknownError),
    ("submit reset", SUBMIT, BROKEN, 1, Fail, SubmitOutcomeUnknownError),
    ("submit redirect", SUBMIT, answer(307, Location="https://x/"), 1, Fail, APIStatusError),
    # -- a read: retried on what is transient --------------------------------------
    ("read ok", READ, answer(200, b'{"status": "completed"}'), 1, Done, None),
    ("read 500", READ, answer(500), 1, Retry, ServerError),
    ("read 502", READ, answer(502), 2, Retry, ServerError),
    ("read 503", READ, answer(503), 1, Retry, ServerError),
    ("read 504", READ, answer(504), 1, Retry, ServerError),
    ("read 429", READ, answer(429), 1, Retry, ConcurrencyLimitError),
    ("read 404", READ, answer(404), 1, Fail, NotFoundError),
    ("read 404 on a retry", READ, answer(404), 2, Fail, NotFoundError),
    ("read 400", READ, answer(400), 1, Fail, BadRequestError),
    ("read 401", READ, answer(401), 1, Refresh, AuthenticationError),
    ("read never connected", READ, NOT_CONNECTED, 1, Retry, SymblConnectionError),
    ("read timeout", READ, TIMEOUT, 1, Retry, SymblTimeoutError),
    ("read reset", READ, BROKEN, 1, Retry, SymblConnectionError),
    ("read redirect", READ, answer(302, Location="/elsewhere"), 1, Fail, APIStatusError),
    # -- a DELETE whose earlier answer was lost --------------------------------------
    ("delete ok", DELETE, answer(200, b'{"message": "deleted"}'), 1, Done, None),
    ("delete 404 first", DELETE, answer(404), 1, Fail, NotFoundError),
    ("delete 404 on a retry", DELETE, answer(404), 2, Done, None),
    ("delete 500", DELETE, answer(500), 1, Retry, ServerError),
    # -- a POST that is not a submit and not safe to repeat --------------------------
    ("transcript 500", TRANSCRIPT, answer(500), 1, Fail, ServerError),
    ("transcript 503", TRANSCRIPT, answer(503), 1, Retry, ServerError),
    ("transcript reset", TRANSCRIPT, BROKEN, 1, Fail, SymblConnectionError),
    ("transcript never connected", TRANSCRIPT, NOT_CONNECTED, 1, Retry, SymblConnectionError),
    # -- the token request (marked safe to repeat) -----------------------------------
    ("token 500", TOKEN, answer(500), 1, Retry, ServerError),
    ("token 404", TOKEN, answer(404), 1, Fail, NotFoundError),
]


@pytest.mark.parametrize(
    ("label", "req", "outcome", "attempt", "kind", "error"), CASES, ids=[c[0] for c in CASES]
)
def test_decision(
    label: str,
    req: Call,
    outcome: Answer | Failure,
    attempt: int,
    kind: type,
    error: type | None,
) -> None:
    # "... again": the token was already refreshed once for this call.
    decision = decide(req, outcome, attempt=attempt, refreshed=label.endswith("again"))
    assert type(decision) is kind, decision
    if error is None:
        return
    assert not isinstance(decision, Done)
    assert type(decision.error) is error, decision.error
    if error is not SubmitOutcomeUnknownError and req.submit and kind is Fail:
        # The service said no: never reported as unknown, so no lookup is needed.
        assert not isinstance(decision.error, SubmitOutcomeUnknownError)


def test_done_carries_the_decoded_body() -> None:
    decision = decide(SUBMIT, answer(201, JOB))
    assert decision == Done({"conversationId": "1", "jobId": "j1"})
    assert decide(READ, answer(204)) == Done(None)


def test_unknown_outcome_carries_name_conversation_and_cause() -> None:
    append = Call(
        method="PUT", path="/v1/process/text/c9", url=URL, name="call-9", conversation_id="c9"
    )
    decision = decide(append, TIMEOUT)
    assert isinstance(decision, Fail)
    err = decision.error
    assert isinstance(err, SubmitOutcomeUnknownError)
    assert (err.name, err.conversation_id) == ("call-9", "c9")
    assert "call-9" in str(err)
    assert isinstance(err.__cause__, SymblTimeoutError)
    assert isinstance(err.__cause__.__cause__, OSError)  # the I/O layer's own exception


def test_a_500_on_a_submit_keeps_the_service_answer_as_cause() -> None:
    decision = decide(SUBMIT, answer(500, b'{"message": "Something went wrong"}'))
    assert isinstance(decision, Fail)
    assert isinstance(decision.error.__cause__, ServerError)
    assert decision.error.__cause__.message == "Something went wrong"


def test_retry_after_is_parsed_and_clamped() -> None:
    decision = decide(READ, Answer(status=503, headers={"retry-after": "120"}), retry_after_cap=30)
    assert isinstance(decision, Retry) and decision.retry_after == 30.0
    decision = decide(SUBMIT, Answer(status=503, headers={"Retry-After": "2"}))
    assert isinstance(decision, Retry) and decision.retry_after == 2.0
    assert isinstance(decision.error, ServerError) and decision.error.retry_after == 2.0


def test_redirect_names_its_target_redacted_and_blames_base_url() -> None:
    decision = decide(READ, answer(301, Location="http://u:secret@api.symbl.ai/v1/job/j1"))
    assert isinstance(decision, Fail)
    text = str(decision.error)
    assert "redirect" in text and "HTTP 301" in text and "the base URL" in text
    assert "secret" not in text and "***@api.symbl.ai" in text


def test_connection_errors_name_the_host_without_credentials() -> None:
    req = Call(method="GET", path="/v1/job/j", url="http://u:pw@host.test:1/v1/job/j")
    decision = decide(req, NOT_CONNECTED)
    assert isinstance(decision, Retry)
    assert "host.test:1" in str(decision.error) and "pw" not in str(decision.error)


def test_every_error_is_a_symbl_error() -> None:
    for _, req, outcome, attempt, _, _ in CASES:
        decision: Decision = decide(req, outcome, attempt=attempt)
        if not isinstance(decision, Done):
            assert isinstance(decision.error, SymblError)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://api.symbl.ai", "https://api.symbl.ai"),
        ("http://user:pass@host:8080/x?y=1", "http://***@host:8080/x?y=1"),
        ("http://token@host", "http://***@host"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


@pytest.mark.parametrize("req", [SUBMIT, APPEND], ids=["submit", "append"])
def test_a_submit_is_never_resent_once_its_job_may_exist(req: Call) -> None:
    """Every status a submit can get: only a 503 (not handled) or a 401 (refused, one
    refresh) sends it again; only 5xx other than 503 and a 2xx without jobId are unknown."""
    for status in range(200, 600):
        decision = decide(req, answer(status))
        if status == 503:
            assert isinstance(decision, Retry), status
        elif status == 401:
            assert isinstance(decision, Refresh), status
        else:
            assert isinstance(decision, Fail), status
            unknown = isinstance(decision.error, SubmitOutcomeUnknownError)
            assert unknown == (status < 300 or status >= 500), status
        assert isinstance(decide(req, answer(status, JOB)), Done) == (200 <= status < 300)
    for kind in FailureKind:
        decision = decide(req, failure(kind))
        assert isinstance(decision, Retry) == (kind is FailureKind.NOT_CONNECTED)
