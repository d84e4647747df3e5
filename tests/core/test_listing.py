"""core._listing: the query string of GET /v1/conversations and its filter rules, on plain data."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from symbl_async.core import check_list_filter, list_query
from symbl_async.errors import ValidationError

UTC = dt.timezone.utc


def test_nothing_given_sends_nothing() -> None:
    # The service's defaults then apply: 20, ascending, the last 7 days.
    assert list_query() == {}


def test_every_parameter_as_documented() -> None:
    params = list_query(
        name="Weekly sync",
        filter="conversation.type==meeting",
        sort="conversation.name",
        limit=0,
        offset=40,
        order="DESC",
        start_time=dt.datetime(2021, 8, 9, 18, 30, tzinfo=UTC),
        end_time=dt.datetime(
            2021, 8, 14, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))
        ),
    )

    assert params == {
        "filter": 'conversation.name=="Weekly sync";conversation.type==meeting',
        "sort": "conversation.name",
        "limit": "0",
        "offset": "40",
        "order": "desc",
        "startTime": "2021-08-09T18:30:00Z",
        "endTime": "2021-08-13T18:30:00Z",
    }


@pytest.mark.parametrize("limit", [0, 1, 20, 65536])
def test_limit_bounds_are_the_docs(limit: int) -> None:
    assert list_query(limit=limit) == {"limit": str(limit)}


@pytest.mark.parametrize(
    "expression",
    [
        'conversation.name=="a"',
        'conversation.name=="a, or b";conversation.type==meeting',  # comma inside quotes
        "conversation.name=in=(a,b,c)",  # comma inside an argument list
        'name=="x" and type==meeting',
        "(conversation.name==a;conversation.type==b);conversation.name!=c",
        "conversation.startTime=ge=2021-08-09T18:30:00Z;conversation.startTime<2021-09-01",
        "conversation.name=='it\\'s, here'",
    ],
)
def test_filters_the_docs_allow(expression: str) -> None:
    assert 1 <= len(check_list_filter(expression)) <= 2
    assert list_query(filter=expression) == {"filter": expression}


def test_fields_are_counted_once_and_without_prefix() -> None:
    assert check_list_filter('conversation.name=="a";name!="b";conversation.type==x') == {
        "name",
        "type",
    }


@pytest.mark.parametrize(
    ("kwargs", "field", "rule_part"),
    [
        ({"filter": "conversation.name==a,conversation.name==b"}, "filter", "must not use OR"),
        ({"filter": "conversation.name==a OR conversation.type==b"}, "filter", "must not use OR"),
        ({"filter": "a==1;b==2;c==3"}, "filter", "compares 3 fields"),
        # name= is one of the two fields.
        ({"name": "n", "filter": "a==1;b==2"}, "filter", "compares 3 fields"),
        ({"filter": "meeting"}, "filter", "must be RSQL"),
        ({"filter": 'conversation.name=="open'}, "filter", "never closed"),
        ({"filter": "conversation.name=in=(a,b"}, "filter", "never closed"),
        ({"filter": "   "}, "filter", "non-empty"),
        ({"name": 42}, "name", "non-empty"),
        ({"sort": "conversation.startTime,desc"}, "sort", "order="),
        ({"sort": "-conversation.startTime"}, "sort", "order="),
        ({"limit": 65537}, "limit", "0 to 65536"),
        ({"limit": -1}, "limit", "0 to 65536"),
        ({"limit": 2.0}, "limit", "integer"),
        ({"limit": True}, "limit", "integer"),
        ({"offset": -1}, "offset", "at least 0"),
        ({"offset": "5"}, "offset", "integer"),
        ({"order": "descending"}, "order", "'asc' or 'desc'"),
        ({"order": 1}, "order", "'asc' or 'desc'"),
        ({"start_time": "2021-08-09T18:30:00Z"}, "start_time", "datetime"),
        ({"start_time": dt.datetime(2021, 8, 9)}, "start_time", "timezone-aware"),
        ({"end_time": dt.datetime(2021, 8, 9)}, "end_time", "timezone-aware"),
        (
            {
                "start_time": dt.datetime(2021, 8, 9, tzinfo=UTC),
                "end_time": dt.datetime(2021, 8, 9, tzinfo=UTC),
            },
            "start_time",
            "before end_time",
        ),
    ],
)
def test_bad_arguments_are_refused_with_their_field(
    kwargs: dict[str, Any], field: str, rule_part: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        list_query(**kwargs)

    assert raised.value.field == field
    assert rule_part in raised.value.rule
