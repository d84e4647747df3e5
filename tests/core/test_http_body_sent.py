"""A submit cut off before its last byte left created nothing; after it, the outcome is
unknown. ``core._http.decide`` on plain data, and the batch's reading of the result."""

from __future__ import annotations

import pytest

from symbl_async.batch._worker import _not_created
from symbl_async.core._http import Call, Fail, Failure, FailureKind, Retry, decide
from symbl_async.errors import SubmitOutcomeUnknownError, SymblConnectionError, SymblTimeoutError

URL = "https://api.symbl.ai"
SUBMITS = [
    Call(method="POST", path="/v1/process/audio", url=URL + "/v1/process/audio", name="n-1"),
    Call(method="PUT", path="/v1/process/text/1", url=URL + "/v1/process/text/1", name="n-1"),
]
AFTER_THE_BODY = [FailureKind.TIMEOUT, FailureKind.BROKEN]


@pytest.mark.parametrize("call", SUBMITS, ids=["post", "put"])
@pytest.mark.parametrize("kind", AFTER_THE_BODY, ids=["timeout", "broken"])
@pytest.mark.parametrize("sent", [0, 1, 999])
def test_a_body_cut_short_created_nothing_and_is_resent(
    call: Call, kind: FailureKind, sent: int
) -> None:
    decision = decide(call, Failure(kind=kind, detail="reset", sent=sent, size=1000))
    assert isinstance(decision, Retry)
    error = decision.error
    assert not isinstance(error, SubmitOutcomeUnknownError)
    timed_out = kind is FailureKind.TIMEOUT
    assert isinstance(error, SymblTimeoutError if timed_out else SymblConnectionError)
    assert _not_created(error)
    assert f"after {sent} of 1000 bytes, so nothing was created" in str(error)


@pytest.mark.parametrize("call", SUBMITS, ids=["post", "put"])
@pytest.mark.parametrize("kind", AFTER_THE_BODY, ids=["timeout", "broken"])
@pytest.mark.parametrize(("sent", "size"), [(1000, 1000), (None, None), (0, None), (None, 5)])
def test_a_body_that_left_whole_or_uncounted_is_an_unknown_outcome(
    call: Call, kind: FailureKind, sent: int | None, size: int | None
) -> None:
    decision = decide(call, Failure(kind=kind, detail="reset", sent=sent, size=size))
    assert isinstance(decision, Fail)
    assert isinstance(decision.error, SubmitOutcomeUnknownError)
    assert not _not_created(decision.error)
    assert "nothing was created" not in str(decision.error)


def test_the_stall_detail_is_in_the_message() -> None:
    failure = Failure(
        kind=FailureKind.TIMEOUT, detail="no byte accepted for 60 s", sent=10, size=20
    )
    decision = decide(SUBMITS[0], failure)
    assert isinstance(decision, Retry)
    assert str(decision.error).endswith(
        "timed out: no byte accepted for 60 s after 10 of 20 bytes, so nothing was created"
    )
