"""The public surface is exactly what we mean to export (httpx's habit)."""

import symbl_async
from symbl_async import errors


def test_top_level_exports_are_exactly_the_intended_ones() -> None:
    assert sorted(symbl_async.__all__) == sorted(
        [
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
    )
    for name in symbl_async.__all__:
        assert hasattr(symbl_async, name), name


def test_every_error_is_in_the_one_tree() -> None:
    for name in errors.__all__:
        obj = getattr(errors, name)
        if isinstance(obj, type) and issubclass(obj, BaseException):
            assert issubclass(obj, errors.SymblError), name
            assert obj.__name__ in errors.__doc__, f"{name} missing from the tree drawing"
