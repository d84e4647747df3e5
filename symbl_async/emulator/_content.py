"""Deterministic transcripts: what a job adds to its conversation.

Text submits become one message per submitted item. Audio, video and URL submits
become a synthetic sales meeting drawn from a bank of sentences by a generator
seeded with a hash of the input (the URL, or the upload's first KB and size), so
the same input always yields the same transcript and the same insights.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from datetime import datetime

from ._model import ScriptLine
from ._options import SubmitOptions, TextMessage

__all__ = ["SECONDS_PER_WORD", "script_from_text", "synthetic_script", "text_span"]

#: Speaking pace assumed wherever timings are not given (150 words per minute).
SECONDS_PER_WORD = 0.4
_GAP = 0.6  # pause between consecutive untimed messages
_SECONDS_PER_MESSAGE = 8.0  # one message per this much synthetic media
_MAX_MESSAGES = 150

# A sales/discovery call. Questions end in "?", commitments ("I will", "let's",
# "send", "schedule", ...) feed action items and follow-ups, and prices, dates
# and percentages feed entity detection.
SENTENCE_BANK: tuple[str, ...] = (
    "Thanks everyone for joining the call today.",
    "Could you walk me through how your team handles customer onboarding today?",
    "Right now onboarding takes about three weeks and it is mostly manual.",
    "What are the biggest problems you see with the current process?",
    "The main issue is that data entry errors delay the first invoice.",
    "Our platform automates the onboarding workflow end to end.",
    "Most customers cut onboarding time by 40% in the first quarter.",
    "How does the pricing work for a team of our size?",
    "The best package for you is $69.99 per user per month.",
    "We also offer an annual plan with a 15% discount.",
    "I will send you the pricing proposal by Friday.",
    "Does the platform integrate with Salesforce?",
    "Yes, the Salesforce integration is included in every plan.",
    "Let's schedule a technical demo with your engineering team next week.",
    "We need to review the security questionnaire before the pilot.",
    "I'll follow up with our security team about the questionnaire.",
    "Who else should be involved in the decision?",
    "Our finance director will need to approve the budget.",
    "Can you send the case study about the retail customer?",
    "Sure, I will email the case study after this meeting.",
    "What does the implementation timeline look like?",
    "A typical implementation takes four to six weeks.",
    "That timeline works well for our launch plan.",
    "We are concerned about migrating the historical data.",
    "Our migration team handles the historical data import for you.",
    "Let's set up a pilot with two regional teams.",
    "The pilot should measure onboarding time and invoice accuracy.",
    "I think this could be a great fit for us.",
    "Unfortunately the current contract renews at the end of the month.",
    "We need to decide before the renewal date.",
    "I will get back to you tomorrow with the contract terms.",
    "Is there a free trial for the pilot period?",
    "We can offer a thirty day trial for the pilot teams.",
    "Please schedule a call with our procurement team.",
    "The reporting dashboard looks very useful for the managers.",
    "How do you handle customer support during the rollout?",
    "Every customer gets a dedicated success manager.",
    "That is good to hear, support was a problem with our last vendor.",
    "I'll send a summary of today's discussion to everyone.",
    "Thanks, this was a productive meeting.",
)


def _rng(seed: bytes) -> random.Random:
    return random.Random(int.from_bytes(hashlib.sha256(seed).digest()[:8], "big"))


def _speakers(options: SubmitOptions, rng: random.Random) -> list[tuple[str, str | None]]:
    """Names (and emails) of who speaks: channel metadata, the diarization count, or 2-4.

    Diarization wins over channel metadata when both are on: "If the Diarization feature
    is set to true, it will take priority over Speaker recognition per Channel" (Symbl
    docs, 'Frequently Asked Questions').
    """
    if options.channel_metadata and not options.enable_diarization:
        return [
            (c.name or f"Speaker {c.channel}", c.email)
            for c in sorted(options.channel_metadata, key=lambda c: c.channel)
        ]
    count = options.speaker_count if options.speaker_count else rng.randint(2, 4)
    return [(f"Speaker {i}", None) for i in range(1, count + 1)]


def synthetic_script(seed: bytes, media_seconds: float, options: SubmitOptions) -> list[ScriptLine]:
    """A meeting transcript spread over ``media_seconds``, the same for the same ``seed``.

    Args:
        seed: identifies the input (a URL, or an upload's first KB and size).
        media_seconds: length of the media; messages are spread over it.
        options: the submit's options (speaker names and count).
    """
    rng = _rng(seed)
    speakers = _speakers(options, rng)
    if media_seconds <= 0:
        return []
    count = min(_MAX_MESSAGES, max(1, round(media_seconds / _SECONDS_PER_MESSAGE)))
    slot = media_seconds / count
    sentences: list[str] = []
    while len(sentences) < count:
        start = rng.randrange(len(SENTENCE_BANK))  # a contiguous run reads like a dialogue
        sentences.extend(SENTENCE_BANK[start:] + SENTENCE_BANK[:start])
    lines = []
    speaker = 0
    for index, text in enumerate(sentences[:count]):
        if index and (len(speakers) > 1 and rng.random() < 0.8):
            speaker = (speaker + rng.randint(1, len(speakers) - 1)) % len(speakers)
        spoken = min(len(text.split()) * SECONDS_PER_WORD, slot * 0.9)
        begin = index * slot + rng.uniform(0, slot - spoken)
        name, email = speakers[speaker]
        lines.append(ScriptLine(name, text, round(begin, 3), round(begin + spoken, 3), email))
    return lines


def text_span(messages: Sequence[TextMessage]) -> float:
    """Media-equivalent length of a text submit: its timed span, else 0.4 s per word."""
    starts = [m.start for m in messages if m.start is not None]
    ends = [m.end for m in messages if m.end is not None]
    if starts and ends:
        return max((max(ends) - min(starts)).total_seconds(), 0.0)
    words = sum(len(m.content.split()) for m in messages)
    return words * SECONDS_PER_WORD + _GAP * (len(messages) - 1)


def script_from_text(messages: Sequence[TextMessage]) -> tuple[list[ScriptLine], datetime | None]:
    """One line per submitted message, and the first message's start time if given.

    Timed messages keep their times (relative to the earliest start); untimed ones
    follow the previous message at 0.4 s per word.
    """
    starts = [m.start for m in messages if m.start is not None]
    origin = min(starts) if starts else None
    lines = []
    cursor = 0.0
    for message in messages:
        spoken = len(message.content.split()) * SECONDS_PER_WORD
        if origin is not None and message.start is not None:
            begin = (message.start - origin).total_seconds()
            end = (message.end - origin).total_seconds() if message.end else begin + spoken
        else:
            begin = cursor
            end = begin + spoken
        cursor = end + _GAP
        # No "from": one unnamed speaker, rather than inventing who said what.
        name = message.speaker_name or message.speaker_user_id or "Speaker 1"
        email = (
            message.speaker_user_id
            if message.speaker_user_id and "@" in message.speaker_user_id
            else None
        )
        lines.append(
            ScriptLine(
                name,
                message.content,
                round(begin, 3),
                round(end, 3),
                email=email,
                user_id=message.speaker_user_id,
                scored=False,
            )
        )
    return lines, origin
