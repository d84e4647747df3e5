"""JSON views of a conversation: itself, messages, members, analytics, transcripts.

Key names and shapes follow the docs' examples (``seeds/000`` for analytics,
``seeds/003`` for messages) and ``schemas.json``.
"""

from __future__ import annotations

import collections
import itertools
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from ._actions import find_action
from ._insights import action_items, message_sentiment, phrases
from ._model import Conversation, Message, iso

__all__ = ["TRANSCRIPT_TYPES", "analytics", "conversation", "members", "messages", "transcript"]

TRANSCRIPT_TYPES = ("text/markdown", "text/srt")

Interval = tuple[float, float]


def conversation(conv: Conversation) -> dict[str, Any]:
    """``GET /v1/conversations/{id}``."""
    return {
        "id": conv.id,
        "type": "meeting",
        "name": conv.display_name,
        "startTime": iso(conv.start_time),
        "endTime": iso(conv.end_time),
        "members": members(conv),
        "metadata": dict(conv.metadata),
    }


def members(conv: Conversation) -> list[dict[str, Any]]:
    """``members[]``: ``{id, name, email}`` of everyone who spoke."""
    return [member.as_json() for member in conv.members.values()]


def _time_offset(conv: Conversation) -> float:
    # timeOffset counts from the first message of the conversation (seeds/003).
    return conv.messages[0].start if conv.messages else 0.0


def messages(conv: Conversation, *, verbose: bool, sentiment: bool) -> list[dict[str, Any]]:
    """``messages[]``; ``verbose`` adds ``words``, ``sentiment`` adds ``sentiment``."""
    origin = _time_offset(conv)
    return [_message(conv, m, origin, verbose, sentiment) for m in conv.messages]


def _message(
    conv: Conversation, message: Message, origin: float, verbose: bool, sentiment: bool
) -> dict[str, Any]:
    start = conv.start_time
    out: dict[str, Any] = {
        "id": message.id,
        "text": message.text,
        "from": conv.members[message.member_id].as_json(),
        "startTime": iso(start + timedelta(seconds=message.start)),
        "endTime": iso(start + timedelta(seconds=message.end)),
        "timeOffset": round(message.start - origin, 2),
        "duration": round(message.end - message.start, 2),
        "conversationId": conv.id,
        "phrases": phrases(message),
    }
    if sentiment:
        out["sentiment"] = message_sentiment(message.text)
    if verbose:
        words = []
        for word in message.words:
            item: dict[str, Any] = {
                "word": word.text,
                "startTime": iso(start + timedelta(seconds=word.start)),
                "endTime": iso(start + timedelta(seconds=word.end)),
            }
            # "A processed text conversation will not return any confidence score" (seeds/003).
            if word.score is not None:
                item["score"] = word.score
            item["timeOffset"] = round(word.start - origin, 2)
            item["duration"] = round(word.end - word.start, 2)
            words.append(item)
        out["words"] = words
    return out


def _union(intervals: Iterable[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _length(intervals: Iterable[Interval]) -> float:
    return sum((end - start for start, end in intervals), 0.0)


def _intersection(a: list[Interval], b: list[Interval]) -> list[Interval]:
    """The overlap of two sorted, disjoint interval lists (``_union``'s output), in one
    merge pass: the pairwise product took a third of the emulator's CPU in benchmarks."""
    out: list[Interval] = []
    i = j = 0
    while i < len(a) and j < len(b):
        (s1, e1), (s2, e2) = a[i], b[j]
        if min(e1, e2) > max(s1, s2):
            out.append((max(s1, s2), min(e1, e2)))
        if e1 < e2:
            i += 1
        else:
            j += 1
    return out


def _pct(part: float, whole: float) -> float:
    return round(100 * part / whole, 3) if whole > 0 else 0.0


def analytics(conv: Conversation) -> dict[str, Any]:
    """``{metrics[], members[]}`` computed from message timings, as in ``seeds/000``.

    Talk and listen percentages are shares of the total talk time; silence and
    talk are shares of the conversation's length; overlap is a share of talk time.
    """
    # One pass over the messages builds every metric of the seed example; kept whole.
    spoken = {
        member_id: _union((m.start, m.end) for m in conv.messages if m.member_id == member_id)
        for member_id in conv.members
    }
    talk = _union(itertools.chain.from_iterable(spoken.values()))
    talk_seconds = _length(talk)
    span = max(conv.media_end, talk[-1][1] if talk else 0.0)
    silence = max(span - talk_seconds, 0.0)
    pairs = {
        (a, b): _intersection(spoken[a], spoken[b]) for a, b in itertools.permutations(spoken, 2)
    }
    overlap_total = _length(_union(itertools.chain.from_iterable(pairs.values())))
    metrics = [
        {"type": "total_silence", "percent": _pct(silence, span), "seconds": round(silence, 3)},
        {
            "type": "total_talk_time",
            "percent": _pct(talk_seconds, span),
            "seconds": round(talk_seconds, 3),
        },
        {
            "type": "total_overlap",
            "percent": _pct(overlap_total, talk_seconds),
            "seconds": round(overlap_total, 3),
        },
    ]
    members_out = []
    for member_id, member in conv.members.items():
        own = _length(spoken[member_id])
        words = sum(len(m.text.split()) for m in conv.messages if m.member_id == member_id)
        overlapping = []
        for other_id, other in conv.members.items():
            seconds = _length(pairs.get((member_id, other_id), []))
            if other_id != member_id and seconds > 0:
                item: dict[str, Any] = {"id": other.id, "name": other.name}
                user_id = other.user_id or other.email
                if user_id:  # schemas.json: AnalyticsMembersInfoOverlapOverlappingMembers
                    item["userId"] = user_id
                item["percent"] = _pct(seconds, own)
                item["seconds"] = round(seconds, 3)
                overlapping.append(item)
        mine = _union(
            itertools.chain.from_iterable(v for (a, _), v in pairs.items() if a == member_id)
        )
        entry: dict[str, Any] = {
            "id": member.id,
            "name": member.name,
            "pace": {"wpm": round(words / (own / 60)) if own > 0 else 0},
            "talkTime": {"percentage": _pct(own, talk_seconds), "seconds": round(own, 3)},
            "listenTime": {
                "percentage": _pct(talk_seconds - own, talk_seconds),
                "seconds": round(talk_seconds - own, 3),
            },
            "overlap": {
                "overlapDuration": round(_length(mine), 3),
                "overlappingMembers": overlapping,
            },
        }
        if member.user_id:
            entry["userId"] = member.user_id
        members_out.append(entry)
    return {"metrics": metrics, "members": members_out}


def _clock(seconds: float, separator: str) -> str:
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def transcript(
    conv: Conversation,
    content_type: str,
    *,
    speaker_separation: bool = True,
    highlight: str | None = None,
) -> str:
    """The conversation as Markdown (a paragraph per speaker turn) or SRT (a cue per message).

    Args:
        highlight: ``"insights"`` marks the key phrases of insights, ``"all"`` those of
            messages too (``detectPhrases``), with ``<mark>`` tags in Markdown (Symbl docs,
            'POST Formatted Transcript', the ``phrases`` member); SRT stays unmarked.

    Raises:
        ValueError: for a content type other than ``text/markdown`` or ``text/srt``.
    """
    if content_type == "text/srt":
        cues = []
        for number, message in enumerate(conv.messages, start=1):
            name = conv.members[message.member_id].name
            timing = f"{_clock(message.start, ',')} --> {_clock(message.end, ',')}"
            cues.append(f"{number}\n{timing}\n{name}: {message.text}\n")
        return "\n".join(cues)
    if content_type != "text/markdown":
        raise ValueError(f"contentType must be one of {', '.join(TRANSCRIPT_TYPES)}")
    marked = _key_phrases(conv, messages_too=highlight == "all") if highlight else {}

    def text(message: Message) -> str:
        out = message.text
        for phrase in marked.get(message.id, ()):
            out = out.replace(phrase, f"<mark>{phrase}</mark>", 1)
        return out

    if not speaker_separation:
        return "\n\n".join(text(m) for m in conv.messages) + ("\n" if conv.messages else "")
    paragraphs = []
    for member_id, turn in itertools.groupby(conv.messages, key=lambda m: m.member_id):
        said = list(turn)
        name = conv.members[member_id].name
        stamp = _clock(said[0].start, ".")[:8]
        paragraphs.append(f"**{name}** ({stamp}): " + " ".join(text(m) for m in said))
    return "\n\n".join(paragraphs) + ("\n" if paragraphs else "")


def _key_phrases(conv: Conversation, *, messages_too: bool) -> dict[str, list[str]]:
    """Message id -> key phrases to mark: the action phrases of the action items (found
    with or without ``detectPhrases``; follow-ups are action items too), and with
    ``messages_too`` those of the messages (``detectPhrases`` only, as the docs say)."""
    found: dict[str, list[str]] = collections.defaultdict(list)
    for item in action_items(conv):
        action = find_action(item["text"])
        if action is not None and action.phrase:
            found[item["messageIds"][0]].append(action.phrase)
    if messages_too:
        for message in conv.messages:
            found[message.id].extend(p["text"] for p in phrases(message))
    return {message_id: list(dict.fromkeys(said)) for message_id, said in found.items()}
