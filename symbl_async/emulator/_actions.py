"""What a sentence commits someone to: whether it is an action item, its action phrase,
whether it is definitive, and who is asked to act.

Pure rules on one sentence's text; :mod:`._insights` turns the answer into an insight
with its ``assignee``. Who acts, as the docs' examples show it:

- a person the sentence names: "Mark will handle the process of filling up the forms..."
  (Symbl docs, 'GET Insights': assignee Mark, a ``person`` entity with ``assignee: true``),
  "Vikram you need to work on figuring out a plan..." (Symbl docs, 'GET Action Items':
  assignee Vikram);
- the listener of a request ("Can you send...", "Please schedule..."): the one asked;
- else the speaker ("I will send the proposal by Friday").
"""

from __future__ import annotations

import re

import attrs

__all__ = ["Action", "action_phrase", "find_action"]

_COMMITMENT = re.compile(
    r"\b(i will|i'll|we will|we'll|i am going to|i'm going to|we need to|you need to|"
    r"you have to|let's|let us|follow up|send|schedule|set up|get back to|email)\b",
    re.IGNORECASE,
)
_AUXILIARY = re.compile(
    r"^(i will|i'll|we will|we'll|i am going to|i'm going to|we need to|you need to|"
    r"you have to|let's|let us)$",
    re.I,
)
_DEFINITIVE = re.compile(r"\b(i will|i'll|we will|we'll|i am going to|i'm going to)\b", re.I)

# What may come before a name or a request at the start of a sentence.
_OPENER = r"(?:(?:hi|hello|hey|so|okay|ok|and|then|sure)\b,?\s+)?"
# "Mark will...", "Vikram you need to...", "Hi Ben, can you...": a capitalised word, then
# what asks or commits its bearer.
_NAMED = re.compile(
    _OPENER + r"(?P<name>(?-i:[A-Z][a-z]+))(?:,\s*|\s+)"
    r"(?P<verb>will|is going to|needs to|has to|should|must|you need to|you have to|"
    r"you will|you should|you must|can you|could you|would you|will you|please)\b",
    re.IGNORECASE,
)
# A request to whoever listens.
_REQUEST = re.compile(
    _OPENER + r"(?P<verb>can you|could you|would you|will you|please|you need to|"
    r"you have to|you should|you must)\b",
    re.IGNORECASE,
)
# Capitalised words that start sentences and name nobody.
_NOT_NAMES = frozenset(
    {
        "a", "also", "an", "and", "anybody", "anyone", "everybody", "everyone", "great",
        "he", "hello", "hey", "hi", "i", "it", "maybe", "nobody", "now", "ok", "okay", "our",
        "perhaps", "please", "she", "so", "somebody", "someone", "sure", "team", "thanks",
        "that", "the", "then", "there", "these", "they", "this", "those", "we", "well",
        "what", "when", "where", "which", "who", "why", "yes", "you", "your",
    }
)  # fmt: skip


@attrs.frozen
class Action:
    """What a sentence commits someone to.

    Attributes:
        phrase: the actionable part ("send the pricing proposal by Friday"), if any.
        definitive: conclusive, not open-ended ("I will complete this task today").
        named: the person the sentence names as the one to act, and where the name is.
        addressed: a request to the listener (nobody named): the listener acts.
    """

    phrase: str | None
    definitive: bool
    named: tuple[str, int] | None = None
    addressed: bool = False


def action_phrase(sentence: str) -> str | None:
    """The actionable part of a commitment: what follows "I will", "let's"...; else None."""
    match = _COMMITMENT.search(sentence)
    if match is None:
        return None
    start = match.end() if _AUXILIARY.match(match.group(0)) else match.start()
    return _rest(sentence, start)


def find_action(sentence: str) -> Action | None:
    """The action ``sentence`` asks for or commits to, or None when it is no action item."""
    named = _NAMED.match(sentence)
    if named is not None and named.group("name").lower() not in _NOT_NAMES:
        return Action(
            phrase=_rest(sentence, named.end()),
            definitive=True,
            named=(named.group("name"), named.start("name")),
        )
    if _COMMITMENT.search(sentence) is None:
        return None
    return Action(
        phrase=action_phrase(sentence),
        definitive=bool(_DEFINITIVE.search(sentence)),
        addressed=_REQUEST.match(sentence) is not None,
    )


def _rest(sentence: str, start: int) -> str | None:
    return sentence[start:].strip().rstrip(".!?") or None
