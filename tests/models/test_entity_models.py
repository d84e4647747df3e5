"""Entities in both shapes the API has used, and other fields the docs show, on plain data."""

from __future__ import annotations

import datetime as dt
from typing import Any

from symbl_async.models import (
    Analytics,
    Entity,
    EntityCategory,
    EntityMatch,
    FollowUp,
    InsightItem,
    InsightType,
    MessageRef,
    structure,
    unstructure,
)

UTC = dt.timezone.utc

# The current docs ("Get detected entities") and Symbl's Go SDK.
CURRENT_SHAPE: dict[str, Any] = {
    "entities": [
        {
            "id": "5680195183083520",
            "type": "Vehicle",
            "subType": "TeslaModel",
            "category": "Custom",
            "matches": [
                {
                    "value": "Model X",
                    "messageRefs": [
                        {
                            "id": "4890962370215936",
                            "startTime": "2022-05-10T19:29:12.99Z",
                            "endTime": "2022-05-10T19:29:16.5Z",
                            "text": "I want to order a Model X.",
                            "offset": 18,
                        }
                    ],
                },
                {"value": "Model S", "messageRefs": [{"id": "m2", "offset": 3}]},
            ],
        },
        {
            "id": "6201957131247616",
            "type": "date",
            "subType": "date",
            "category": "Managed",
            "matches": [{"value": "2022-05-11", "messageRefs": [{"id": "m3", "text": "tomorrow"}]}],
        },
    ]
}

# The 2022 docs (docs/conversation-api/api-reference/entities.md), one item per value.
OLD_SHAPE: dict[str, Any] = {
    "entities": [
        {
            "type": "custom",
            "customType": "Company Executives",
            "value": "marketing director",
            "text": "marketing director",
            "messageRefs": [
                {
                    "id": "5118221462011904",
                    "text": "The marketing director is out-of-town due to some work.",
                    "offset": 4,
                }
            ],
        },
        {
            "type": "date",
            "value": "2020-07-15",
            "text": "today",
            "messageRefs": [
                {"id": "6141473464516608", "text": "I help you today.", "offset": 11},
                {"id": "4603163403354112", "text": "offer you today.", "offset": 10},
            ],
        },
    ]
}


def test_current_shape_keeps_every_field() -> None:
    vehicle, date = structure(CURRENT_SHAPE["entities"], list[Entity])

    assert (vehicle.id, vehicle.type, vehicle.sub_type) == (
        "5680195183083520",
        "Vehicle",
        "TeslaModel",
    )
    assert vehicle.category is EntityCategory.CUSTOM and vehicle.is_custom
    assert date.category is EntityCategory.MANAGED and not date.is_custom
    assert vehicle.values == ("Model X", "Model S")
    ref = vehicle.matches[0].message_refs[0]
    assert ref == MessageRef(
        id="4890962370215936",
        text="I want to order a Model X.",
        offset=18,
        start_time=dt.datetime(2022, 5, 10, 19, 29, 12, 990000, tzinfo=UTC),
        end_time=dt.datetime(2022, 5, 10, 19, 29, 16, 500000, tzinfo=UTC),
    )
    assert [r.id for r in vehicle.all_message_refs] == ["4890962370215936", "m2"]
    assert date.resolved_datetime == dt.datetime(2022, 5, 11, tzinfo=UTC)
    # Nothing is lost on the way back out.
    assert unstructure(vehicle) == CURRENT_SHAPE["entities"][0] | {
        "messageRefs": [],
        "matches": [
            CURRENT_SHAPE["entities"][0]["matches"][0]
            | {
                "messageRefs": [
                    CURRENT_SHAPE["entities"][0]["matches"][0]["messageRefs"][0]
                    | {
                        "startTime": "2022-05-10T19:29:12.990Z",
                        "endTime": "2022-05-10T19:29:16.500Z",
                    }
                ]
            },
            CURRENT_SHAPE["entities"][0]["matches"][1],
        ],
    }


def test_old_shape_keeps_every_field() -> None:
    custom, date = structure(OLD_SHAPE["entities"], list[Entity])

    assert (custom.type, custom.custom_type, custom.value, custom.text) == (
        "custom",
        "Company Executives",
        "marketing director",
        "marketing director",
    )
    assert custom.is_custom and custom.category is None and custom.matches == ()
    assert custom.values == ("marketing director",)
    assert custom.message_refs[0].offset == 4
    # A date entity's value is the date "today" resolved to.
    assert (date.text, date.value) == ("today", "2020-07-15")
    assert date.resolved_datetime == dt.datetime(2020, 7, 15, tzinfo=UTC)
    assert [r.id for r in date.all_message_refs] == ["6141473464516608", "4603163403354112"]
    # Back out, an empty ``matches`` list is the only addition.
    assert unstructure([custom, date]) == [
        {**entity, "matches": []} for entity in OLD_SHAPE["entities"]
    ]


def test_an_unknown_category_and_a_value_that_is_no_date_are_kept() -> None:
    entity = structure(
        {"type": "person", "category": "Partner", "matches": [{"value": {"name": "Mark"}}]}, Entity
    )

    assert entity.category is not None and entity.category.value == "Partner"
    assert entity.values == ({"name": "Mark"},)
    assert entity.resolved_datetime is None
    assert EntityMatch(value="x").message_refs == ()


def test_follow_up_entities_keep_their_ranges() -> None:
    # The follow-ups example (docs/conversation-api/api-reference/follow-ups.md).
    follow_up = structure(
        {
            "id": "4526427164639111",
            "text": "We need to have a call with Richard Holmes.",
            "type": "follow_up",
            "entities": [
                {"type": "date", "text": "today", "offset": 28, "value": "2020-06-22"},
                {
                    "type": "datetimerange",
                    "text": "yesterday evening",
                    "offset": 67,
                    "start": "2020-06-21 16:00:00",
                    "end": "2020-06-21 20:00:00",
                },
                {
                    "type": "timerange",
                    "text": "afternoon",
                    "offset": 34,
                    "start": "12:00:00",
                    "end": "15:00:00",
                },
                {
                    "type": "person",
                    "text": "Richard Holmes",
                    "offset": 110,
                    "value": {"name": "Richard Holmes"},
                },
            ],
        },
        FollowUp,
    )

    date, evening, afternoon, person = follow_up.entities
    assert date.resolved_datetime == dt.datetime(2020, 6, 22, tzinfo=UTC)
    assert (evening.start, evening.end) == ("2020-06-21 16:00:00", "2020-06-21 20:00:00")
    assert (afternoon.start, afternoon.end, afternoon.offset) == ("12:00:00", "15:00:00", 34)
    assert person.value == {"name": "Richard Holmes"}
    assert unstructure(afternoon) == {
        "type": "timerange",
        "text": "afternoon",
        "offset": 34,
        "start": "12:00:00",
        "end": "15:00:00",
        "matches": [],
        "messageRefs": [],
    }


def test_insights_include_follow_ups() -> None:
    # The insights example (docs/conversation-api/api-reference/insights.md) lists all three.
    items = structure(
        [
            {"id": "1", "text": "Where?", "type": "question"},
            {
                "id": "2",
                "text": "Mark will file.",
                "type": "action_item",
                "assignee": {"name": "Mark"},
            },
            {
                "id": "3",
                "text": "We need to have a call with David after this.",
                "type": "follow_up",
                "score": 0.9999100121510935,
                "messageIds": ["4696021397405696"],
                "entities": [
                    {"type": "person", "text": "David", "offset": 34, "value": {"name": "David"}}
                ],
                "from": {"name": "Customer", "userId": "customer@email.com"},
                "assignee": {"name": "Customer", "email": "customer@email.com"},
            },
        ],
        list[InsightItem],
    )

    assert [i.type for i in items] == [
        InsightType.QUESTION,
        InsightType.ACTION_ITEM,
        InsightType.FOLLOW_UP,
    ]
    follow_up = items[2]
    assert follow_up.from_ is not None and follow_up.from_.user_id == "customer@email.com"
    assert follow_up.assignee is not None and follow_up.assignee.email == "customer@email.com"
    assert follow_up.entities[0].value == {"name": "David"}


def test_overlapping_members_carry_their_user_id() -> None:
    analytics = structure(
        {
            "members": [
                {
                    "id": "m1",
                    "userId": "john@example.com",
                    "overlap": {
                        "overlapDuration": 3.5,
                        "overlappingMembers": [
                            {
                                "id": "m2",
                                "name": "Mary",
                                "userId": "mary@example.com",
                                "percent": 10.5,
                                "seconds": 3.5,
                            }
                        ],
                    },
                }
            ]
        },
        Analytics,
    )

    member = analytics.members[0]
    assert member.user_id == "john@example.com"
    assert member.overlap is not None
    overlapping = member.overlap.overlapping_members[0]
    assert (overlapping.user_id, overlapping.seconds) == ("mary@example.com", 3.5)
    assert unstructure(analytics)["members"][0]["overlap"]["overlappingMembers"][0]["userId"] == (
        "mary@example.com"
    )
