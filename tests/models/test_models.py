"""Models and the converter, on the docs' own examples (seeds 000 and 003) and plain data."""

from __future__ import annotations

import copy
import datetime as dt
import importlib
import json
import pkgutil
from typing import Any

import attrs
import cattrs
import pytest

from symbl_async import models
from symbl_async.core._jobs import JobInfo, JobStatus
from symbl_async.errors import ResponseDecodeError
from symbl_async.models import (
    ActionItem,
    Analytics,
    Conversation,
    ConversationInsights,
    Entity,
    FollowUp,
    InsightItem,
    InsightType,
    Member,
    Message,
    MetricType,
    SentimentSuggestion,
    SummaryItem,
    Topic,
    Tracker,
    Transcript,
)
from symbl_async.models._converter import (
    OpenStrEnum,
    camel_case,
    converter,
    json_key,
    structure,
    unstructure,
)

UTC = dt.timezone.utc

# The analytics response example of seeds/000 (docs "Receive Conversation Analytics"), verbatim.
ANALYTICS_EXAMPLE = """
{
  "metrics": [
    {"type": "total_silence", "percent": 29.061, "seconds": 23.432},
    {"type": "total_talk_time", "percent": 70.939, "seconds": 57.199},
    {"type": "total_overlap", "percent": 55.071, "seconds": 31.5}
  ],
  "members": [
    {
      "id": "acc63fbe-c3cd-4daa-8ab0-b088142e5a0f",
      "name": "Speaker 1",
      "pace": {"wpm": 68},
      "talkTime": {"percentage": 40.912, "seconds": 23.401},
      "listenTime": {"percentage": 59.088, "seconds": 33.798},
      "overlap": {
        "overlapDuration": 31.5,
        "overlappingMembers": [
          {"id": "a52def45-be6e-484f-908b-9ac66eaecabb", "name": "Speaker 2",
           "percent": 61.58, "seconds": 24.94},
          {"id": "a52def45-be6e-484f-908b-9ac66eaecacb", "name": "Speaker 3",
           "percent": 7.51, "seconds": 1.9},
          {"id": "a52def45-be6e-484f-908b-9ac56eaecabb", "name": "Speaker 4",
           "percent": 12.199, "seconds": 4.66}
        ]
      }
    },
    {
      "id": "a52def45-be6e-484f-908b-9ac66eaecabb",
      "name": "Speaker 2",
      "pace": {"wpm": 132},
      "talkTime": {"percentage": 29.894, "seconds": 17.099},
      "listenTime": {"percentage": 70.106, "seconds": 40.1},
      "overlap": {
        "overlapDuration": 24.94,
        "overlappingMembers": [
          {"id": "acc63fbe-c3cd-4daa-8ab0-b088142e5a0f", "name": "Speaker 1",
           "percent": 61.58, "seconds": 24.94}
        ]
      }
    },
    {
      "id": "a52def45-be6e-484f-908b-9ac66eaecacb",
      "name": "Speaker 3",
      "pace": {"wpm": 189},
      "talkTime": {"percentage": 3.322, "seconds": 1.9},
      "listenTime": {"percentage": 96.678, "seconds": 55.299},
      "overlap": {
        "overlapDuration": 1.9,
        "overlappingMembers": [
          {"id": "acc63fbe-c3cd-4daa-8ab0-b088142e5a0f", "name": "Speaker 1",
           "percent": 7.51, "seconds": 1.9}
        ]
      }
    },
    {
      "id": "a52def45-be6e-484f-908b-9ac56eaecabb",
      "name": "Speaker 4",
      "pace": {"wpm": 152},
      "talkTime": {"percentage": 25.873, "seconds": 14.799},
      "listenTime": {"percentage": 74.127, "seconds": 42.4},
      "overlap": {
        "overlapDuration": 4.66,
        "overlappingMembers": [
          {"id": "acc63fbe-c3cd-4daa-8ab0-b088142e5a0f", "name": "Speaker 1",
           "percent": 12.199, "seconds": 4.66}
        ]
      }
    }
  ]
}
"""

# The messages response example of seeds/003 (docs "GET Speech to Text"), with its JSON
# repaired and every value kept: a trailing comma after "submit the documents" and after
# "score": 0.2 removed, the missing comma after the second message's "from" added, and the
# unclosed "messages" array and outer object closed.
MESSAGES_EXAMPLE = """
{
  "messages": [
    {
      "id": "6412283618000896",
      "text": "Best package for you is $69.99 per month.",
      "from": {"name": "Roger", "email": "Roger@example.com"},
      "startTime": "2020-07-10T11:16:21.024Z",
      "endTime": "2020-07-10T11:16:26.724Z",
      "timeOffset": 5.9,
      "duration": 1,
      "conversationId": "6749556955938816",
      "phrases": [{"type": "action_phrase", "text": "submit the documents"}],
      "sentiment": {"polarity": {"score": 0.6}, "suggested": "positive"},
      "words": [
        {"word": "Best", "startTime": "2020-08-18T11:10:14.536Z",
         "endTime": "2020-08-18T11:10:15.536Z", "score": 0.91, "timeOffset": 5.9,
         "duration": 0.2},
        {"word": "package", "startTime": "2020-08-18T11:10:16.536Z",
         "endTime": "2020-08-18T11:10:17.536Z", "score": 0.80, "timeOffset": 6.1,
         "duration": 0.1},
        {"word": "for", "startTime": "2020-08-18T11:10:18.536Z",
         "endTime": "2020-08-18T11:10:19.536Z", "score": 0.68, "timeOffset": 6.2,
         "duration": 0.1},
        {"word": "you", "startTime": "2020-08-18T11:10:20.536Z",
         "endTime": "2020-08-18T11:10:22.536Z", "score": 0.68, "timeOffset": 6.3,
         "duration": 0.3},
        {"word": "is", "startTime": "2020-08-18T11:10:22.536Z",
         "endTime": "2020-08-18T11:10:25.536Z", "score": 0.68, "timeOffset": 6.6,
         "duration": 0.3},
        {"word": "$69.99", "startTime": "2020-08-18T11:10:25.536Z",
         "endTime": "2020-08-18T11:10:27.536Z", "score": 0.68, "timeOffset": 6.67,
         "duration": 0.3},
        {"word": "per", "startTime": "2020-08-18T11:10:27.536Z",
         "endTime": "2020-08-18T11:10:29.536Z", "score": 0.67, "timeOffset": 6.6,
         "duration": 0.4},
        {"word": "month.", "startTime": "2020-08-18T11:10:30.536Z",
         "endTime": "2020-08-18T11:10:32.536Z", "score": 0.67, "timeOffset": 6.8,
         "duration": 0.5}
      ]
    },
    {
      "id": "5661493169225728",
      "text": "Okay, Where is the file?",
      "from": {"name": "John", "email": "John@example.com"},
      "startTime": "2020-08-18T11:11:14.536Z",
      "endTime": "2020-08-18T11:11:18.536Z",
      "timeOffset": 15.27,
      "duration": 1.23,
      "conversationId": "5139780136337408",
      "phrases": [],
      "sentiment": {"polarity": {"score": 0.2}, "suggested": "neutral"},
      "words": [
        {"word": "Okay,", "startTime": "2020-08-18T11:11:14.536Z",
         "endTime": "2020-08-18T11:11:14.936Z", "score": 0.91, "timeOffset": 15.25,
         "duration": 0.59},
        {"word": "Where", "startTime": "2020-08-18T11:11:14.936Z",
         "endTime": "2020-08-18T11:11:15.436Z", "score": 0.91, "timeOffset": 15.25,
         "duration": 0.59},
        {"word": "is", "startTime": "2020-08-18T11:11:16.236Z",
         "endTime": "2020-08-18T11:11:16.536Z", "score": 0.88, "timeOffset": 15.25,
         "duration": 0.58},
        {"word": "the", "startTime": "2020-08-18T11:11:16.536Z",
         "endTime": "2020-08-18T11:11:16.936Z", "score": 0.85, "timeOffset": 15.25,
         "duration": 0.58},
        {"word": "file?", "startTime": "2020-08-18T11:11:16.936Z",
         "endTime": "2020-08-18T11:11:17.236Z", "score": 0.89, "timeOffset": 15.25,
         "duration": 0.59}
      ]
    }
  ]
}
"""


@pytest.fixture
def analytics_json() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(ANALYTICS_EXAMPLE)
    return data


@pytest.fixture
def messages_json() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(MESSAGES_EXAMPLE)
    return data


def _messages(data: dict[str, Any]) -> list[Message]:
    return structure(data["messages"], list[Message])


# -- the docs' analytics example ---------------------------------------------------------


def test_analytics_example_metrics(analytics_json: dict[str, Any]) -> None:
    analytics = structure(analytics_json, Analytics)

    assert [(m.type, m.percent, m.seconds) for m in analytics.metrics] == [
        (MetricType.TOTAL_SILENCE, 29.061, 23.432),
        (MetricType.TOTAL_TALK_TIME, 70.939, 57.199),
        (MetricType.TOTAL_OVERLAP, 55.071, 31.5),
    ]


def test_analytics_example_members(analytics_json: dict[str, Any]) -> None:
    analytics = structure(analytics_json, Analytics)

    assert [m.name for m in analytics.members] == [
        "Speaker 1",
        "Speaker 2",
        "Speaker 3",
        "Speaker 4",
    ]
    assert [m.pace.wpm for m in analytics.members if m.pace] == [68, 132, 189, 152]
    first = analytics.members[0]
    assert first.id == "acc63fbe-c3cd-4daa-8ab0-b088142e5a0f"
    assert first.user_id is None
    assert first.talk_time is not None and first.listen_time is not None
    assert (first.talk_time.percentage, first.talk_time.seconds) == (40.912, 23.401)
    assert (first.listen_time.percentage, first.listen_time.seconds) == (59.088, 33.798)
    last = analytics.members[3]
    assert last.talk_time is not None and last.listen_time is not None
    assert (last.talk_time.percentage, last.listen_time.seconds) == (25.873, 42.4)


def test_analytics_example_overlapping_members(analytics_json: dict[str, Any]) -> None:
    analytics = structure(analytics_json, Analytics)

    overlap = analytics.members[0].overlap
    assert overlap is not None
    assert overlap.overlap_duration == 31.5
    assert [(o.name, o.id, o.percent, o.seconds) for o in overlap.overlapping_members] == [
        ("Speaker 2", "a52def45-be6e-484f-908b-9ac66eaecabb", 61.58, 24.94),
        ("Speaker 3", "a52def45-be6e-484f-908b-9ac66eaecacb", 7.51, 1.9),
        ("Speaker 4", "a52def45-be6e-484f-908b-9ac56eaecabb", 12.199, 4.66),
    ]
    # The other three each overlap only with Speaker 1, for the same seconds as above.
    for member, seconds in zip(analytics.members[1:], (24.94, 1.9, 4.66), strict=True):
        assert member.overlap is not None
        assert member.overlap.overlap_duration == seconds
        (only,) = member.overlap.overlapping_members
        assert (only.name, only.seconds) == ("Speaker 1", seconds)


def test_analytics_example_round_trips(analytics_json: dict[str, Any]) -> None:
    original = copy.deepcopy(analytics_json)

    assert unstructure(structure(analytics_json, Analytics)) == original


# -- the docs' messages example ----------------------------------------------------------


def test_messages_example_top_level(messages_json: dict[str, Any]) -> None:
    first, second = _messages(messages_json)

    assert first.id == "6412283618000896"
    assert first.text == "Best package for you is $69.99 per month."
    assert first.from_ == Member(name="Roger", email="Roger@example.com")
    assert first.start_time == dt.datetime(2020, 7, 10, 11, 16, 21, 24000, tzinfo=UTC)
    assert first.end_time == dt.datetime(2020, 7, 10, 11, 16, 26, 724000, tzinfo=UTC)
    assert (first.time_offset, first.duration) == (5.9, 1.0)
    assert first.conversation_id == "6749556955938816"
    assert [(p.type, p.text) for p in first.phrases] == [("action_phrase", "submit the documents")]
    assert second.id == "5661493169225728"
    assert second.text == "Okay, Where is the file?"
    assert second.from_ is not None and second.from_.name == "John"
    assert (second.time_offset, second.duration) == (15.27, 1.23)
    assert second.conversation_id == "5139780136337408"
    assert second.phrases == ()


def test_messages_example_sentiment(messages_json: dict[str, Any]) -> None:
    first, second = _messages(messages_json)

    assert first.sentiment is not None and first.sentiment.polarity is not None
    assert first.sentiment.polarity.score == 0.6
    assert first.sentiment.suggested is SentimentSuggestion.POSITIVE
    assert second.sentiment is not None and second.sentiment.polarity is not None
    assert second.sentiment.polarity.score == 0.2
    assert second.sentiment.suggested is SentimentSuggestion.NEUTRAL


def test_messages_example_words(messages_json: dict[str, Any]) -> None:
    first, second = _messages(messages_json)

    assert " ".join(w.word for w in first.words) == first.text
    assert [w.score for w in first.words] == [0.91, 0.80, 0.68, 0.68, 0.68, 0.68, 0.67, 0.67]
    assert [w.time_offset for w in first.words] == [5.9, 6.1, 6.2, 6.3, 6.6, 6.67, 6.6, 6.8]
    assert [w.duration for w in first.words] == [0.2, 0.1, 0.1, 0.3, 0.3, 0.3, 0.4, 0.5]
    assert first.words[5].start_time == dt.datetime(2020, 8, 18, 11, 10, 25, 536000, tzinfo=UTC)
    assert [w.word for w in second.words] == ["Okay,", "Where", "is", "the", "file?"]
    assert [w.score for w in second.words] == [0.91, 0.91, 0.88, 0.85, 0.89]
    assert {w.time_offset for w in second.words} == {15.25}


def test_messages_example_datetimes_are_aware_utc(messages_json: dict[str, Any]) -> None:
    stamps: list[dt.datetime | None] = []
    for message in _messages(messages_json):
        stamps += [message.start_time, message.end_time]
        stamps += [stamp for word in message.words for stamp in (word.start_time, word.end_time)]

    assert len(stamps) == 2 * (2 + 8 + 5)
    assert all(s is not None and s.utcoffset() == dt.timedelta(0) for s in stamps)


def test_messages_example_round_trips(messages_json: dict[str, Any]) -> None:
    original = copy.deepcopy(messages_json)
    parsed = _messages(messages_json)

    assert unstructure(parsed) == original["messages"]
    assert structure(unstructure(parsed), list[Message]) == parsed


# -- leniency ----------------------------------------------------------------------------


def test_unknown_keys_are_ignored_at_every_level(messages_json: dict[str, Any]) -> None:
    noisy = copy.deepcopy(messages_json)
    message = noisy["messages"][0]
    message["brandNewField"] = {"anything": [1, 2]}
    message["from"]["avatarUrl"] = "https://example.com/a.png"
    message["sentiment"]["polarity"]["magnitude"] = 3
    message["words"][0]["confidenceBand"] = "high"

    assert _messages(noisy) == _messages(messages_json)


def test_unknown_enum_values_are_kept_and_round_trip() -> None:
    sentiment = structure({"suggested": "ecstatic"}, models.Sentiment)
    metric = structure({"type": "total_monologue", "percent": 1.5}, models.Metric)

    assert sentiment.suggested is not None
    assert sentiment.suggested.value == "ecstatic"
    assert sentiment.suggested not in list(SentimentSuggestion)
    assert metric.type is not None and metric.type.value == "total_monologue"
    assert unstructure(metric) == {"type": "total_monologue", "percent": 1.5}


def test_non_string_enum_value_is_rejected() -> None:
    with pytest.raises(ResponseDecodeError) as info:
        structure({"suggested": 7}, models.Sentiment)
    assert isinstance(info.value.__cause__, cattrs.BaseValidationError)


def test_sparse_payloads_parse_with_defaults() -> None:
    message = structure({"id": "m1", "text": "hi"}, Message)
    conversation = structure({"id": "c1"}, Conversation)

    assert message == Message(id="m1", text="hi")
    assert (message.from_, message.sentiment, message.words, message.phrases) == (
        None,
        None,
        (),
        (),
    )
    assert conversation.members == () and conversation.metadata is None


def test_nulls_take_defaults() -> None:
    message = structure(
        {"id": "m1", "text": "hi", "words": None, "sentiment": None, "from": None}, Message
    )

    assert message == Message(id="m1", text="hi")


@pytest.mark.parametrize(
    ("cls", "data"),
    [
        (Message, {"text": "no id"}),
        (Message, {"id": "m1"}),
        (Topic, {"id": "t1", "text": None}),
        (Transcript, {"contentType": "text/srt"}),
    ],
)
def test_missing_required_fields_raise(cls: type[Any], data: dict[str, Any]) -> None:
    with pytest.raises(ResponseDecodeError) as info:
        structure(data, cls)
    assert isinstance(info.value.__cause__, cattrs.BaseValidationError)


def test_models_are_frozen() -> None:
    message = Message(id="m1", text="hi")

    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        message.text = "changed"  # type: ignore[misc]


# -- the other answers -------------------------------------------------------------------


def test_conversation_with_metadata_and_members() -> None:
    conversation = structure(
        {
            "id": "5815170693595136",
            "type": "meeting",
            "name": "BusinessMeeting",
            "startTime": "2020-02-12T11:32:08.000Z",
            "endTime": "2020-02-12T11:37:31.134Z",
            "members": [{"id": "m1", "name": "John", "email": "john@example.com"}],
            "metadata": {"team": "sales", "tags": ["q1"]},
        },
        Conversation,
    )

    assert conversation.name == "BusinessMeeting"
    assert conversation.start_time == dt.datetime(2020, 2, 12, 11, 32, 8, tzinfo=UTC)
    assert conversation.members == (Member(id="m1", name="John", email="john@example.com"),)
    assert conversation.metadata == {"team": "sales", "tags": ["q1"]}
    assert unstructure(conversation)["startTime"] == "2020-02-12T11:32:08Z"


def test_action_item_and_follow_up_share_a_shape() -> None:
    data = {
        "id": "a1",
        "text": "Send the contract by Friday.",
        "type": "action_item",
        "score": 0.9,
        "messageIds": ["m1", "m2"],
        "definitive": True,
        "assignee": {"id": "u1", "name": "Roger", "email": "roger@example.com"},
        "from": {"id": "u2", "name": "John", "userId": "john@example.com"},
        "dueBy": "2020-08-21T00:00:00+02:00",
        "phrases": [{"type": "action_phrase", "text": "send the contract"}],
        "entities": [{"type": "date", "text": "Friday", "offset": 21, "value": "2020-08-21"}],
    }

    action = structure(data, ActionItem)
    follow_up = structure({**data, "type": "follow_up"}, FollowUp)

    assert action.type is InsightType.ACTION_ITEM and follow_up.type is InsightType.FOLLOW_UP
    assert action.message_ids == ("m1", "m2")
    assert action.definitive is True
    assert action.assignee is not None and action.assignee.name == "Roger"
    assert action.from_ is not None and action.from_.user_id == "john@example.com"
    assert action.due_by == dt.datetime(2020, 8, 20, 22, 0, tzinfo=UTC)
    assert action.entities[0] == Entity(type="date", text="Friday", offset=21, value="2020-08-21")
    assert not isinstance(follow_up, ActionItem)
    assert unstructure(action)["dueBy"] == "2020-08-20T22:00:00Z"


def test_topic_tracker_summary_insight_entity() -> None:
    topic = structure(
        {
            "id": "t1",
            "text": "pricing",
            "type": "topic",
            "score": 0.7,
            "messageIds": ["m1"],
            "sentiment": {"polarity": {"score": -0.3}, "suggested": "negative"},
            "parentRefs": [{"type": "topic", "text": "sales"}],
        },
        Topic,
    )
    tracker = structure(
        {
            "id": "k1",
            "name": "Money",
            "matches": [
                {
                    "type": "vocabulary",
                    "value": "price",
                    "messageRefs": [{"id": "m1", "text": "the price is", "offset": 4}],
                    "insightRefs": [
                        {"id": "q1", "text": "what price?", "offset": 5, "type": "question"}
                    ],
                }
            ],
        },
        Tracker,
    )
    summary = structure(
        {"id": "s1", "text": "They agreed.", "messageRefs": [{"id": "m9"}]}, SummaryItem
    )
    insight = structure({"id": "i1", "text": "Where?", "type": "question"}, InsightItem)
    entity = structure(
        {
            "type": "custom",
            "customType": "Product",
            "value": "ACME 9000",
            "text": "acme",
            "messageRefs": [{"id": "m1", "text": "the acme", "offset": 4}],
        },
        Entity,
    )

    assert topic.sentiment is not None and topic.sentiment.suggested is SentimentSuggestion.NEGATIVE
    assert [(p.type, p.text) for p in topic.parent_refs] == [("topic", "sales")]
    match = tracker.matches[0]
    assert (match.value, match.message_refs[0].offset) == ("price", 4)
    assert (match.insight_refs[0].id, match.insight_refs[0].type) == ("q1", "question")
    assert summary.message_refs[0].id == "m9"
    assert insight.type is InsightType.QUESTION
    assert (entity.custom_type, entity.value, entity.message_refs[0].text) == (
        "Product",
        "ACME 9000",
        "the acme",
    )


def test_conversation_insights_to_json(
    analytics_json: dict[str, Any], messages_json: dict[str, Any]
) -> None:
    insights = ConversationInsights(
        conversation_id="6749556955938816",
        analytics=structure(analytics_json, Analytics),
        messages=tuple(_messages(messages_json)),
        action_items=(ActionItem(id="a1", text="Call back"),),
        follow_ups=(),
        transcript=Transcript(payload="# Meeting", content_type="text/markdown"),
    )

    data = insights.to_json()

    assert set(data) == {
        "conversationId",
        "analytics",
        "messages",
        "actionItems",
        "followUps",
        "transcript",
    }
    assert data["actionItems"] == [
        {"id": "a1", "text": "Call back", "messageIds": [], "entities": [], "phrases": []}
    ]
    assert data["followUps"] == []
    assert data["transcript"] == {"payload": "# Meeting", "contentType": "text/markdown"}
    assert data["messages"] == messages_json["messages"]
    assert structure(json.loads(json.dumps(data)), ConversationInsights) == insights


# -- the converter's own rules -----------------------------------------------------------


def test_job_info_ignores_extra_keys() -> None:
    info = structure({"id": "9b1deb4d", "status": "in_progress", "extra": 1}, JobInfo)

    assert info == JobInfo(id="9b1deb4d", status=JobStatus.IN_PROGRESS)


def test_job_info_keeps_an_unknown_status() -> None:
    info = structure({"id": "9b1deb4d", "status": "paused"}, JobInfo)

    assert info.status.value == "paused"
    assert not info.status.is_terminal
    assert unstructure(info) == {"id": "9b1deb4d", "status": "paused"}
    assert type(unstructure(info)["status"]) is str


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2020-07-10T11:16:21.024Z", dt.datetime(2020, 7, 10, 11, 16, 21, 24000, tzinfo=UTC)),
        ("2020-07-10T11:16:21Z", dt.datetime(2020, 7, 10, 11, 16, 21, tzinfo=UTC)),
        ("2020-07-10T13:16:21.5+02:00", dt.datetime(2020, 7, 10, 11, 16, 21, 500000, tzinfo=UTC)),
        (
            "2020-07-10T11:16:21.123456789Z",
            dt.datetime(2020, 7, 10, 11, 16, 21, 123456, tzinfo=UTC),
        ),
        ("2020-07-10T11:16:21", dt.datetime(2020, 7, 10, 11, 16, 21, tzinfo=UTC)),
        # The docs' text example: 2 fractional digits (3.10's fromisoformat refuses them).
        ("2020-07-21T16:04:19.99Z", dt.datetime(2020, 7, 21, 16, 4, 19, 990000, tzinfo=UTC)),
    ],
)
def test_datetimes_parse_to_aware(text: str, expected: dt.datetime) -> None:
    parsed = structure(text, dt.datetime)

    assert parsed == expected
    assert parsed.tzinfo is not None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (dt.datetime(2020, 7, 10, 11, 16, 21, 24000, tzinfo=UTC), "2020-07-10T11:16:21.024Z"),
        (dt.datetime(2020, 7, 10, 11, 16, 21, tzinfo=UTC), "2020-07-10T11:16:21Z"),
        (dt.datetime(2020, 7, 10, 11, 16, 21, 5, tzinfo=UTC), "2020-07-10T11:16:21.000005Z"),
        (
            dt.datetime(2020, 7, 10, 13, 16, 21, tzinfo=dt.timezone(dt.timedelta(hours=2))),
            "2020-07-10T11:16:21Z",
        ),
    ],
)
def test_datetimes_unstructure_to_iso_z(value: dt.datetime, expected: str) -> None:
    assert unstructure(value) == expected


def test_datetime_rejects_non_strings() -> None:
    with pytest.raises(ResponseDecodeError) as info:
        structure({"id": "c1", "startTime": 1594379781}, Conversation)
    assert isinstance(info.value.__cause__, cattrs.BaseValidationError)


def test_renames_and_omitted_nones() -> None:
    @attrs.frozen(kw_only=True)
    class Sample:
        from_: str
        user_id: str | None = None
        legacy: str | None = attrs.field(default=None, metadata=json_key("x-legacy"))

    sample = converter.structure({"from": "a", "userId": "b", "x-legacy": "c"}, Sample)

    assert sample == Sample(from_="a", user_id="b", legacy="c")
    assert converter.unstructure(sample) == {"from": "a", "userId": "b", "x-legacy": "c"}
    assert converter.unstructure(Sample(from_="a")) == {"from": "a"}


def test_open_str_enum() -> None:
    class Colour(OpenStrEnum):
        RED = "red"

    assert Colour("red") is Colour.RED
    teal = structure("teal", Colour)
    assert isinstance(teal, Colour) and teal not in list(Colour)
    assert unstructure(teal) == "teal" and str.__eq__(teal, "teal")
    with pytest.raises(ValueError, match="42"):
        Colour(42)


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("start_time", "startTime"),
        ("from_", "from"),
        ("id", "id"),
        ("overlapping_members", "overlappingMembers"),
        ("createParagraphs", "createParagraphs"),
    ],
)
def test_camel_case(name: str, key: str) -> None:
    assert camel_case(name) == key


def test_models_export_exactly_the_public_models() -> None:
    modules = [
        module
        for info in pkgutil.iter_modules(models.__path__)
        if info.name != "_converter"
        and (module := importlib.import_module(f"{models.__name__}.{info.name}"))
    ]
    public = {
        name
        for module in modules
        for name, value in vars(module).items()
        if not name.startswith("_")
        and isinstance(value, type)
        and value.__module__ == module.__name__
    }

    assert {name for name in models.__all__ if name[0].isupper()} == public
    assert {"ConversationInsights", "Word", "Entity", "EntityMatch"} <= public
    for module in modules:
        classes = {name for name in module.__all__ if isinstance(getattr(module, name), type)}
        assert classes <= public, module.__name__


def test_strings_and_booleans_are_not_coerced() -> None:
    item = structure({"id": 42, "text": "t", "definitive": "false"}, ActionItem)

    assert (item.id, item.definitive) == ("42", False)
    with pytest.raises(ResponseDecodeError) as info:
        structure({"id": "a1", "text": "t", "definitive": "maybe"}, ActionItem)
    assert isinstance(info.value.__cause__, cattrs.BaseValidationError)
    with pytest.raises(ResponseDecodeError) as info:
        structure({"id": "a1", "text": ["not", "a", "string"]}, ActionItem)
    assert isinstance(info.value.__cause__, cattrs.BaseValidationError)
