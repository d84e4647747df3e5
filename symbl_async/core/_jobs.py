"""Jobs: their status, the handle a submit returns, and how we wait for them."""

from __future__ import annotations

import enum
import time

import attrs

__all__ = ["Job", "JobInfo", "JobStatus"]


class JobStatus(str, enum.Enum):
    """Status of an Async API job; unknown values from the service are kept, not rejected.

    Order of progress: ``scheduled`` < ``in_progress`` < ``completed`` / ``failed``.
    """

    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"

    @classmethod
    def _missing_(cls, value: object) -> JobStatus:
        # A status the docs do not list: keep it as a pseudo-member so parsing never
        # breaks; it counts as "not finished" and ranks with scheduled.
        if not isinstance(value, str):
            return None  # type: ignore[return-value]
        member = str.__new__(cls, value)
        member._name_ = value.upper()
        member._value_ = value
        return member

    @property
    def is_terminal(self) -> bool:
        """True for ``completed`` and ``failed``: the job no longer holds a slot."""
        return self in (JobStatus.COMPLETED, JobStatus.FAILED)

    @property
    def rank(self) -> int:
        """Position in the job's life, for "status only moves forward" checks."""
        return _RANK.get(self.value, 0)


_RANK = {"scheduled": 0, "in_progress": 1, "completed": 2, "failed": 2}


@attrs.frozen(kw_only=True)
class JobInfo:
    """Answer of ``GET /v1/job/{jobId}``."""

    id: str
    status: JobStatus


@attrs.frozen(kw_only=True)
class Job:
    """A submitted job: what a submit returns and what ``wait`` takes.

    Attributes:
        job_id: id for the Job API.
        conversation_id: id for the Conversation API.
        name: the ``name`` the submit carried, if any (used to look a job up).
        media_duration: length of the submitted media in seconds, when known;
            it lets waiting skip polls that could not succeed.
        submitted_at: ``time.monotonic()`` when the submit was answered.
        kind: ``"audio"``, ``"video"`` or ``"text"`` (what was submitted), when known;
            processing times are learned per kind.
    """

    job_id: str
    conversation_id: str
    name: str | None = None
    media_duration: float | None = None
    submitted_at: float = attrs.field(factory=time.monotonic)
    kind: str | None = None
