"""What a completed job adds to its conversation: media time now, messages when read.

Building thousands of transcripts at once would make the emulator a slow instrument;
so a job's messages are built lazily, the first time its conversation is read.
"""

from __future__ import annotations

import uuid

from ._content import script_from_text, synthetic_script
from ._insights import stable_id
from ._model import Conversation, Job, Member, Message, ScriptLine
from ._speakers import apply_turns

__all__ = ["apply_completed"]


def _script(job: Job) -> list[ScriptLine]:
    if job.kind == "text":
        return script_from_text(job.options.messages)[0]
    return synthetic_script(job.script_seed, job.media_duration, job.options)

def apply_completed(conversation: Conversation, job: Job) -> None:
    """Book a completed job's media now; build its messages when first read."""
    offset = conversation.media_end
    first = not conversation.raw_messages and not conversation.pending and offset == 0
    if first and job.first_start is not None:
        conversation.start_time = job.first_start  # timed text sets the clock
    if job.kind == "text":
        script = _script(job)  # small, and its span may exceed the media length
        last = max((line.end for line in script), default=0.0)
    else:
        script, last = None, job.media_duration  # synthetic lines end within the media
    conversation.media_end = offset + max(job.media_duration, last)
    conversation.completed_options.append(job.options)

    def build() -> None:
        lines = script if script is not None else _script(job)
        first_new = len(conversation.raw_messages)
        for line in lines:
            member = _member(conversation, line)
            index = str(len(conversation.raw_messages))
            conversation.raw_messages.append(
                Message(
                    id=stable_id(conversation.id, "message", index),
                    text=line.text,
                    member_id=member.id,
                    start=round(offset + line.start, 3),
                    end=round(offset + line.end, 3),
                    scored=line.scored,
                    detect_phrases=job.options.detect_phrases,
                    job_id=job.id,
                    english=job.options.english,
                )
            )
        # Speaker events sent earlier cover the media this job appended, too.
        apply_turns(conversation, conversation.raw_messages[first_new:])

    conversation.pending.append(build)

def _member(conversation: Conversation, line: ScriptLine) -> Member:
    for member in conversation.raw_members.values():
        if member.name == line.speaker:
            return member
    member_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{conversation.id}/{line.speaker}"))
    member = Member(member_id, line.speaker, line.email, line.user_id)
    conversation.raw_members[member_id] = member
    return member
