"""The emulator's records: jobs, conversations, members, messages.

Times inside a conversation are service seconds from its ``start_time``; job
times are seconds on the emulator's clock (service seconds since it started).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import attrs

from ._options import SubmitOptions

__all__ = [
    "Conversation",
    "Job",
    "Member",
    "Message",
    "ScriptLine",
    "SpeakerTurn",
    "Word",
    "iso",
]


def iso(moment: datetime) -> str:
    """Format as the service does: ``2020-07-10T11:16:21.024Z``."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@attrs.frozen
class ScriptLine:
    """A message a job will add, timed from the start of that job's media."""

    speaker: str
    text: str
    start: float
    end: float
    email: str | None = None
    user_id: str | None = None
    scored: bool = True  # speech has word confidences; submitted text does not


@attrs.frozen
class SpeakerTurn:
    """A stretch of a conversation one user spoke in, from ``PUT .../speakers`` events.

    ``start`` and ``end`` are seconds from the conversation's start (``end`` may be
    infinite: started speaking and never stopped).
    """

    member_id: str
    name: str | None
    email: str | None
    start: float
    end: float


@attrs.define(slots=True)
class Word:
    """One word of a message, with its timing (and confidence, for speech)."""

    text: str
    start: float
    end: float
    score: float | None


@attrs.define
class Member:
    """A participant of a conversation."""

    id: str
    name: str
    email: str | None = None
    user_id: str | None = None

    def as_json(self) -> dict[str, Any]:
        """``{id, name, email}``, leaving out an unknown email."""
        out: dict[str, Any] = {"id": self.id, "name": self.name}
        if self.email:
            out["email"] = self.email
        return out


@attrs.define
class Message:
    """A transcribed (or submitted) sentence of a conversation.

    Its words are computed when asked for, not stored: a long conversation would
    otherwise hold thousands of word objects nobody reads.
    """

    id: str
    text: str
    member_id: str
    start: float
    end: float
    scored: bool  # speech has word confidences; submitted text does not
    detect_phrases: bool
    job_id: str
    # Insights are detected in English only (see ``Conversation.english_messages``).
    english: bool = True

    @property
    def words(self) -> list[Word]:
        """Each word with its timing, the message's time split in proportion to word length."""
        texts = self.text.split()
        if not texts:
            return []
        weights = [len(t) + 1 for t in texts]
        step = (self.end - self.start) / sum(weights)
        cursor = self.start
        words = []
        for index, (text, weight) in enumerate(zip(texts, weights, strict=True)):
            score = None
            if self.scored:
                digest = hashlib.sha256(f"{self.text}\x1f{index}".encode()).digest()
                score = round(0.6 + 0.39 * digest[0] / 255, 2)
            end = cursor + weight * step
            words.append(Word(text, round(cursor, 3), round(end, 3), score))
            cursor = end
        return words


@attrs.define(eq=False)
class Conversation:
    """A conversation and what its completed jobs produced."""

    id: str
    seq: int  # creation order, for stable sorting
    start_time: datetime
    name: str | None = None
    # When it was submitted: what GET /v1/conversations windows and orders by. Equal to
    # start_time unless timed text moved start_time to its first message.
    created_at: datetime = attrs.field(
        default=attrs.Factory(lambda self: self.start_time, takes_self=True)
    )
    metadata: dict[str, Any] = attrs.field(factory=dict)
    summary: list[dict[str, Any]] | None = None  # generated on first read, or refresh
    media_end: float = 0.0  # service seconds of media processed so far
    completed_options: list[SubmitOptions] = attrs.field(factory=list)
    tail: Job | None = None  # the last job submitted for it, for in-order processing
    # What completed jobs add, built on first read rather than when the job ends,
    # so that ending thousands of jobs at once costs little.
    pending: list[Callable[[], None]] = attrs.field(factory=list)
    raw_members: dict[str, Member] = attrs.field(factory=dict)
    raw_messages: list[Message] = attrs.field(factory=list)
    # Who spoke when, from the latest speaker events; they attribute later messages too.
    speaker_turns: list[SpeakerTurn] = attrs.field(factory=list)

    def _materialize(self) -> None:
        while self.pending:
            self.pending.pop(0)()

    @property
    def members(self) -> dict[str, Member]:
        """Everyone who spoke, by member id."""
        self._materialize()
        return self.raw_members

    @property
    def messages(self) -> list[Message]:
        """The messages of every completed job, in order."""
        self._materialize()
        return self.raw_messages

    @property
    def english_messages(self) -> list[Message]:
        """The messages insights are detected in: those of jobs in an English language.

        "Insights like Action items, follow-ups, topics, etc are detected for English
        language only" (Symbl docs, 'What languages does Async API Support?'): messages
        of other languages are transcribed, and every insight list leaves them out.
        """
        return [m for m in self.messages if m.english]

    @property
    def display_name(self) -> str:
        """The submitted name, or the conversationId as the docs say."""
        return self.name or self.id

    @property
    def end_time(self) -> datetime:
        """When the processed media ends."""
        return self.start_time + timedelta(seconds=self.media_end)

    @property
    def confidence_threshold(self) -> float:
        """The threshold of the latest completed submit (0.5 by default)."""
        return self.completed_options[-1].confidence_threshold if self.completed_options else 0.5


@attrs.define(eq=False)
class Job:
    """A submitted job and its life on the emulator's clock."""

    id: str
    conversation_id: str
    kind: str  # "audio", "video" or "text"
    options: SubmitOptions
    media_duration: float
    processing_time: float  # service seconds in_progress
    will_fail: bool
    script_seed: bytes  # what the synthetic transcript is drawn from (unused for text)
    submitted_at: float
    first_start: datetime | None = None  # a text submit's first message time, if given
    foreign: bool = False  # holds a slot for someone else on the account
    status: str = "scheduled"
    started_at: float | None = None
    finished_at: float | None = None
    seen_at: float | None = None  # the first status GET that answered its end
    ready: bool = False  # its queue delay has passed
    blocked: bool = False  # an earlier job of its conversation has not ended
    follower: Job | None = None  # the next job of the same conversation

    @property
    def name(self) -> str | None:
        """The ``name`` the submit carried."""
        return self.options.name

    @property
    def is_terminal(self) -> bool:
        """Whether the job ended (and no longer holds a slot)."""
        return self.status in ("completed", "failed")

    def as_json(self) -> dict[str, Any]:
        """The ``/_emulator/jobs`` view of this job."""
        return {
            "jobId": self.id,
            "conversationId": self.conversation_id,
            "name": self.name,
            "kind": self.kind,
            "status": self.status,
            "mediaDuration": self.media_duration,
            # None: a foreign job that holds its slot for ever (JSON has no Infinity).
            "processingTime": None if math.isinf(self.processing_time) else self.processing_time,
            "submittedAt": self.submitted_at,
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
            # When a client first learned the end from a status GET (detection delay:
            # seenAt - finishedAt); None until then, and for a job only a webhook told of.
            "seenAt": self.seen_at,
            "foreign": self.foreign,
        }
