"""Every field the API documents has a place in a model: nothing documented is dropped.

The keys are copied from ``schemas.json`` (Symbl's swagger-generated ``symbl-rest`` models,
named in the comments) and from the docs' examples where those add to it.
"""

from __future__ import annotations

import attrs
import pytest

from symbl_async import models
from symbl_async.core import JobInfo
from symbl_async.models import camel_case

DOCUMENTED: list[tuple[str, tuple[str, ...]]] = [
    # schemas.json
    ("Conversation", ("id", "type", "name", "startTime", "endTime", "members")),
    (
        "Message",
        (
            "id",
            "text",
            "from",
            "startTime",
            "endTime",
            "conversationId",
            "phrases",
            "sentiment",
            "words",
        ),
    ),
    ("Topic", ("id", "text", "type", "score", "messageIds", "entities", "sentiment", "parentRefs")),
    ("Question", ("id", "text", "type", "score", "messageIds", "from")),
    ("ActionItem", ("id", "text", "type", "score", "messageIds", "entities", "definitive")),
    ("ActionItem", ("phrases", "assignee", "from", "dueBy")),
    ("FollowUp", ("id", "text", "type", "score", "messageIds", "entities", "phrases", "from")),
    ("FollowUp", ("definitive", "assignee", "dueBy")),
    ("InsightItem", ("id", "text", "type", "score", "messageIds", "entities")),
    (
        "Entity",
        ("type", "text", "messageRefs", "value", "start", "end", "customType"),
    ),  # EntitiesTag
    ("Entity", ("type", "text", "offset", "value")),  # Tag
    ("TrackerMatch", ("messageRefs", "type", "value", "insightRefs")),
    ("InsightRef", ("text", "offset", "type", "id")),
    ("MessageRef", ("id", "text", "offset")),
    ("Member", ("id", "name", "email")),  # MembersInfo, ModelFrom
    ("Member", ("id", "name", "userId")),  # FromPayload
    ("AnalyticsMember", ("id", "name", "userId", "pace", "talkTime", "listenTime", "overlap")),
    ("Overlap", ("overlapDuration", "overlappingMembers")),
    ("OverlappingMember", ("id", "name", "userId", "percent", "seconds")),
    ("Pace", ("wpm",)),
    ("TalkTime", ("percentage", "seconds")),
    ("Metric", ("type", "percent", "seconds")),
    ("Phrase", ("type", "text")),
    ("ParentRef", ("type", "text")),
    ("Sentiment", ("polarity", "suggested")),
    ("Polarity", ("score",)),
    ("Word", ("word", "startTime", "endTime", "speakerTag")),
    ("Tracker", ("id", "name", "matches")),  # TrackersListResponse
    # The docs' examples and REFERENCE.md, beyond schemas.json
    ("Conversation", ("metadata",)),
    ("Message", ("timeOffset", "duration")),
    ("InsightItem", ("from", "assignee", "dueBy", "definitive", "phrases")),
    ("Entity", ("id", "subType", "category", "matches")),  # current entities shape
    ("EntityMatch", ("value", "messageRefs")),
    ("MessageRef", ("startTime", "endTime")),
    ("SummaryItem", ("id", "text", "messageRefs")),
    ("Transcript", ("payload", "contentType")),
    ("Word", ("timeOffset", "duration", "score")),
]


@pytest.mark.parametrize(("model", "keys"), DOCUMENTED, ids=[f"{m}-{k[0]}" for m, k in DOCUMENTED])
def test_every_documented_key_is_a_field(model: str, keys: tuple[str, ...]) -> None:
    cls = getattr(models, model)
    fields = {camel_case(a.name) for a in attrs.fields(cls)}

    assert set(keys) - fields == set()


def test_job_status_answer_is_covered() -> None:
    assert {camel_case(a.name) for a in attrs.fields(JobInfo)} >= {"id", "status"}
