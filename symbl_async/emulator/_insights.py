"""Insights of a conversation, derived deterministically from its messages.

Simple rules stand in for Symbl's models: questions are sentences ending in "?",
action items are sentences with a commitment ("I will", "let's", "we need to",
"send", "schedule"...) or that ask a named person to act, with the person asked as
assignee (:mod:`._actions`), follow-ups are the action items that ask for contact or
a meeting, topics are the most frequent non-stopword words and word pairs.
Scores come from a hash of the text, so they are stable; items scoring below
the conversation's ``confidenceThreshold`` are left out, as the docs describe.
Only messages of completed jobs are ever looked at, and only those in English.
"""

from __future__ import annotations

import collections
import hashlib
import itertools
import re
import uuid
from datetime import date, datetime, timedelta, timezone
from typing import Any

from ._actions import Action, find_action
from ._model import Conversation, Member, Message, iso

__all__ = [
    "action_items",
    "follow_ups",
    "insights",
    "member_ref",
    "message_sentiment",
    "phrases",
    "questions",
    "sentiment_from_score",
    "stable_id",
    "summary",
    "topics",
    "trackers",
]

_FOLLOW_UP = re.compile(
    r"\b(follow up|send|schedule|set up|get back to|email|call|meeting|demo)\b", re.I
)
_MONEY = re.compile(r"\$\d[\d,]*(?:\.\d+)?")
_PERCENT = re.compile(r"\b\d+(?:\.\d+)?%")
_DATE = re.compile(
    r"\b(today|tomorrow|next week|end of the month|monday|tuesday|wednesday|thursday|friday)\b",
    re.I,
)
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WORD = re.compile(r"[a-z][a-z'-]+")


def _wordset(*lines: str) -> frozenset[str]:
    return frozenset(" ".join(lines).split())


_POSITIVE = _wordset(
    "great good useful productive thanks thank fit works well happy excellent love perfect",
    "best glad yes dedicated included",
)
_NEGATIVE = _wordset(
    "problem problems issue issues errors error delay delays concerned concern unfortunately",
    "manual bad expensive worried difficult slow",
)
_STOPWORDS = _wordset(
    "a about after all also an and any are as at be been before but by can could did do",
    "does every everyone first for four from get gets go going good great had has have",
    "how i i'll i'm if in into is it it's its just let let's like look looks main me more",
    "most mostly my need no not of on one or our out over please really right should six",
    "so some such sure takes than thanks that the their them then there these they this",
    "those three through to today too two typical up us very was we we'll we're well were",
    "what when where which who will with would yes you your",
)


def stable_id(*parts: str) -> str:
    """A 16-digit numeric id derived from ``parts``: the same input, the same id."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return str(10**15 + int.from_bytes(digest[:8], "big") % (9 * 10**15))


def _score(text: str) -> float:
    fraction = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") / 2**32
    return round(0.7 + 0.29 * fraction, 3)


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]


def member_ref(member: Member) -> dict[str, Any]:
    """The ``from``/``assignee`` object of an insight: ``{id, name, userId}``."""
    ref: dict[str, Any] = {"id": member.id, "name": member.name}
    user_id = member.user_id or member.email
    if user_id:
        ref["userId"] = user_id
    return ref


def message_sentiment(text: str) -> dict[str, Any]:
    """``{polarity: {score}, suggested}`` from a small word lexicon."""
    words = _WORD.findall(text.lower())
    positive = sum(w in _POSITIVE for w in words)
    negative = sum(w in _NEGATIVE for w in words)
    return sentiment_from_score((positive - negative) / (positive + negative + 1))


def sentiment_from_score(score: float) -> dict[str, Any]:
    """A sentiment object for a polarity score in [-1, 1] (the docs' three bands)."""
    score = round(score, 3)
    suggested = "positive" if score >= 0.3 else "negative" if score <= -0.3 else "neutral"
    return {"polarity": {"score": score}, "suggested": suggested}


def phrases(message: Message) -> list[dict[str, str]]:
    """Action phrases of a message (empty unless its submit had ``detectPhrases``)."""
    if not (message.detect_phrases and message.english):
        return []
    found = (find_action(s) for s in _sentences(message.text))
    return [{"type": "action_phrase", "text": a.phrase} for a in found if a and a.phrase]


def _resolve_date(word: str, said: datetime) -> tuple[date, date]:
    """The first and last day a date phrase means, said at ``said`` (one day, or next week)."""
    word = word.lower()
    today = said.date()
    if word in _WEEKDAYS:
        day = today + timedelta(days=(_WEEKDAYS.index(word) - today.weekday() - 1) % 7 + 1)
        return day, day
    if word == "next week":
        monday = today + timedelta(days=7 - today.weekday())
        return monday, monday + timedelta(days=6)
    if word == "end of the month":
        first_next = (today.replace(day=28) + timedelta(days=4)).replace(day=1)
        last = first_next - timedelta(days=1)
        return last, last
    day = today + timedelta(days={"today": 0, "tomorrow": 1}.get(word, 0))
    return day, day


def _said_at(conversation: Conversation, message: Message) -> datetime:
    return conversation.start_time + timedelta(seconds=message.start)


def _date_entities(sentence: str, said: datetime) -> list[dict[str, Any]]:
    """Date entities of an insight, as in the follow-ups docs: ``{type, text, offset,
    value}`` for a day, ``{type, text, offset, start, end}`` for a range of days."""
    found = []
    for match in _DATE.finditer(sentence):
        first, last = _resolve_date(match.group(1), said)
        entity: dict[str, Any] = {"type": "date", "text": match.group(1), "offset": match.start()}
        if first == last:
            entity["value"] = first.isoformat()
        else:
            entity["type"] = "daterange"
            entity["start"] = f"{first.isoformat()} 00:00:00"
            entity["end"] = f"{last.isoformat()} 23:59:59"
        found.append(entity)
    return found


def _due_by(sentence: str, conversation: Conversation, message: Message) -> str | None:
    match = _DATE.search(sentence)
    if match is None:
        return None
    first, _ = _resolve_date(match.group(1), _said_at(conversation, message))
    return iso(datetime(first.year, first.month, first.day, tzinfo=timezone.utc))


def questions(conversation: Conversation) -> list[dict[str, Any]]:
    """``questions[]`` items: every sentence ending in "?"."""
    items = []
    for message in conversation.english_messages:
        for index, sentence in enumerate(_sentences(message.text)):
            if sentence.endswith("?") and _score(sentence) >= conversation.confidence_threshold:
                items.append(
                    {
                        "id": stable_id(conversation.id, "question", message.id, str(index)),
                        "text": sentence,
                        "type": "question",
                        "score": _score(sentence),
                        "messageIds": [message.id],
                        "from": member_ref(conversation.members[message.member_id]),
                    }
                )
    return items


def _commitments(conversation: Conversation, kind: str) -> list[dict[str, Any]]:
    items = []
    messages = conversation.english_messages
    for position, message in enumerate(messages):
        speaker = member_ref(conversation.members[message.member_id])
        for index, sentence in enumerate(_sentences(message.text)):
            action = find_action(sentence)
            if action is None:
                continue
            if kind == "follow_up" and not _FOLLOW_UP.search(sentence):
                continue
            if _score(sentence) < conversation.confidence_threshold:
                continue
            phrase = action.phrase if message.detect_phrases else None
            assignee, people = _assignee(conversation, messages, position, action)
            item: dict[str, Any] = {
                "id": stable_id(conversation.id, kind, message.id, str(index)),
                "text": sentence,
                "type": kind,
                "score": _score(sentence),
                "messageIds": [message.id],
                "entities": people + _date_entities(sentence, _said_at(conversation, message)),
                "phrases": [{"type": "action_phrase", "text": phrase}] if phrase else [],
                "definitive": action.definitive,
                "assignee": assignee or speaker,
                "from": speaker,
            }
            due = _due_by(sentence, conversation, message)
            if due is not None:
                item["dueBy"] = due
            items.append(item)
    return items


def _assignee(
    conversation: Conversation, messages: list[Message], position: int, action: Action
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """Who is asked to act (None: the speaker), and the ``person`` entity that names them.

    A named person is the member of that name if one spoke, else just ``{"name"}`` as in
    the docs' example; the listener of a request is the nearest other speaker, before
    the message or else after it.
    """
    if action.named is not None:
        name, offset = action.named
        entity = {
            "type": "person",
            "text": name,
            "offset": offset,
            "value": {"assignee": True, "name": name},
        }
        for member in conversation.members.values():
            if name.lower() in {member.name.lower(), *member.name.lower().split()[:1]}:
                return member_ref(member), [entity]
        return {"name": name}, [entity]
    if action.addressed:
        speaker = messages[position].member_id
        before, after = range(position - 1, -1, -1), range(position + 1, len(messages))
        for other in itertools.chain(before, after):
            if messages[other].member_id != speaker:
                return member_ref(conversation.members[messages[other].member_id]), []
    return None, []


def action_items(conversation: Conversation) -> list[dict[str, Any]]:
    """``actionItems[]``: sentences that commit someone to do something."""
    return _commitments(conversation, "action_item")


def follow_ups(conversation: Conversation) -> list[dict[str, Any]]:
    """``followUps[]``: action items about contacting someone or meeting again."""
    return _commitments(conversation, "follow_up")


def insights(conversation: Conversation) -> list[dict[str, Any]]:
    """``insights[]``: questions, action items and follow-ups, in conversation order."""
    order = {m.id: m.start for m in conversation.messages}
    items = questions(conversation) + action_items(conversation) + follow_ups(conversation)
    return sorted(items, key=lambda item: order[item["messageIds"][0]])


def topics(
    conversation: Conversation, *, sentiment: bool = False, parent_refs: bool = False
) -> list[dict[str, Any]]:
    """``topics[]``: the most frequent content words and word pairs (pairs weigh double)."""
    counts: collections.Counter[str] = collections.Counter()
    where: dict[str, list[Message]] = collections.defaultdict(list)
    for message in conversation.english_messages:
        seen: set[str] = set()
        for sentence in _sentences(message.text):
            words = _WORD.findall(sentence.lower())
            for i, word in enumerate(words):
                if word in _STOPWORDS or len(word) < 3:
                    continue
                terms = [word]
                nxt = words[i + 1] if i + 1 < len(words) else ""
                if nxt and nxt not in _STOPWORDS and len(nxt) >= 3:
                    terms.append(f"{word} {nxt}")
                for term in terms:
                    counts[term] += 2 if " " in term else 1
                    if term not in seen:
                        seen.add(term)
                        where[term].append(message)
    repeated = [(t, c) for t, c in counts.items() if len(where[t]) >= 2]
    ranked = sorted(repeated or counts.items(), key=lambda tc: (-tc[1], tc[0]))[:5]
    if not ranked:
        return []
    top = ranked[0][1]
    texts = {t for t, _ in ranked}
    items = []
    for term, count in ranked:
        score = round(0.5 + 0.5 * count / top, 3)
        if score < conversation.confidence_threshold:
            continue
        item: dict[str, Any] = {
            "id": stable_id(conversation.id, "topic", term),
            "text": term,
            "type": "topic",
            "score": score,
            "messageIds": [m.id for m in where[term]],
            "entities": [],
        }
        if sentiment:
            scores = [message_sentiment(m.text)["polarity"]["score"] for m in where[term]]
            item["sentiment"] = sentiment_from_score(sum(scores) / len(scores))
        if parent_refs:
            parents = [p for p in term.split() if " " in term and p in texts]
            item["parentRefs"] = [{"type": "topic", "text": p} for p in parents]
        items.append(item)
    return items


def _matches(phrase: str, text: str) -> int:
    """Offset of a tracker phrase in ``text``, or -1: exact, or all its content words."""
    lowered = text.lower()
    at = lowered.find(phrase.lower())
    if at >= 0:
        return at
    words = [w for w in _WORD.findall(phrase.lower()) if w not in _STOPWORDS]
    present = set(_WORD.findall(lowered))
    if len(words) >= 2 and all(w in present for w in words):
        return lowered.find(words[0])
    return -1


def trackers(conversation: Conversation) -> list[dict[str, Any]]:
    """Trackers of the submits with at least one vocabulary match."""
    vocabularies: dict[str, list[str]] = {}
    for options in conversation.completed_options:
        for tracker in options.trackers:
            merged = vocabularies.setdefault(tracker.name, [])
            merged.extend(v for v in tracker.vocabulary if v not in merged)
    insight_refs: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for item in insights(conversation):
        ref = {"type": item["type"], "id": item["id"], "text": item["text"], "offset": 0}
        insight_refs[item["messageIds"][0]].append(ref)
    detected = []
    for name, vocabulary in vocabularies.items():
        matches = []
        for phrase in vocabulary:
            refs, related = [], []
            for message in conversation.english_messages:
                at = _matches(phrase, message.text)
                if at >= 0:
                    refs.append({"id": message.id, "text": message.text, "offset": at})
                    related.extend(insight_refs.get(message.id, []))
            if refs:
                matches.append(
                    {
                        "type": "vocabulary",
                        "value": phrase,
                        "messageRefs": refs,
                        "insightRefs": related,
                    }
                )
        if matches:
            tracker_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"symbl-emulator/tracker/{name}"))
            detected.append({"id": tracker_id, "name": name, "matches": matches})
    return detected


def summary(conversation: Conversation) -> list[dict[str, Any]]:
    """``summary[]``: the messages that best cover the topics."""
    if not conversation.english_messages:
        return []
    terms = {t["text"] for t in topics(conversation)}

    def coverage(message: Message) -> int:
        lowered = message.text.lower()
        return sum(term in lowered for term in terms)

    best = sorted(conversation.english_messages, key=lambda m: (-coverage(m), m.start))[:3]
    best.sort(key=lambda m: m.start)
    return [
        {
            "id": stable_id(conversation.id, "summary", message.id),
            "text": f"{conversation.members[message.member_id].name}: {message.text}",
            "messageRefs": [{"id": message.id}],
        }
        for message in best
    ]
