"""``project(data, T)`` against the models' own round trip, ``unstructure(structure(data, T))``.

The property: for any decoded JSON, both give the same data, or both raise
``ResponseDecodeError``. Answers are generated from each model's attrs fields: mostly
values of the right type (so the fast path runs), mixed with the odd values the converter
copes with (numbers for strings, ``"true"`` for booleans, other time formats, nulls,
unknown keys, wrong shapes).
"""

from __future__ import annotations

import datetime as dt
import json
import types
from typing import Any, Union, get_args, get_origin

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symbl_async.errors import ResponseDecodeError
from symbl_async.models import (
    ActionItem,
    Analytics,
    Conversation,
    Entity,
    FollowUp,
    InsightItem,
    Member,
    Message,
    Question,
    SummaryItem,
    Topic,
    Tracker,
    Transcript,
    _projection,
)
from symbl_async.models._converter import JSON_KEY, OpenStrEnum, camel_case, structure, unstructure
from symbl_async.models._projection import project

KINDS: list[Any] = [
    Conversation, Analytics, Transcript,
    *(list[cls] for cls in (Message, Topic, Question, ActionItem, FollowUp, Member,  # type: ignore[valid-type]
                            Entity, Tracker, SummaryItem, InsightItem)),
]

TIMES = st.one_of(
    st.datetimes(
        min_value=dt.datetime(1970, 1, 1), max_value=dt.datetime(2100, 1, 1),
        timezones=st.just(dt.timezone.utc),
    ).map(lambda d: d.isoformat(timespec="milliseconds").replace("+00:00", "Z")),
    st.tuples(  # any number of fraction digits
        st.datetimes(max_value=dt.datetime(9999, 1, 1)), st.text("0123456789", max_size=8)
    ).map(lambda t: f"{t[0].isoformat(timespec='seconds')}{'.' if t[1] else ''}{t[1]}Z"),
    st.sampled_from([
        "2020-07-21T16:04:19.99Z", "2020-07-21T16:04:19Z", "2020-07-21T16:04:19.000Z",
        "2020-07-21T16:04:19.120000Z", "2020-07-21T16:04:19.000120Z", "2021-08-09T18:30:00+05:30",
        "2020-06-21 16:00:00", "2021-08-09", "2020-02-30T00:00:00Z", "2020-07-21T16:04:19.1234567Z",
        "2020-07-21t16:04:19z", " 2020-07-21T16:04:19Z", "2020-13-01T00:00:00Z", "yesterday",
    ]),
)
ODD = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=False),
    st.sampled_from(["", "true", "False", "1.5", "x"]), st.just([]), st.just({}), st.just([None]),
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=6,
)


def values(type_: Any, depth: int = 0) -> st.SearchStrategy[Any]:
    """Values for a field of ``type_``: right-typed ones, most of the time."""
    origin = get_origin(type_)
    if origin is Union or origin is types.UnionType:
        (inner,) = [arg for arg in get_args(type_) if arg is not type(None)]
        return values(inner, depth)
    if origin is tuple:
        return st.lists(values(get_args(type_)[0], depth + 1), max_size=3 if depth < 2 else 1)
    if origin is dict:
        return st.dictionaries(st.text(max_size=4), JSON, max_size=3)
    if type_ is Any:
        return JSON
    if attrs.has(type_):
        return objects(type_, depth + 1)
    if isinstance(type_, type) and issubclass(type_, OpenStrEnum):
        return st.sampled_from([member.value for member in type_] + ["new_kind"])
    # Each type's values, then values the converter coerces (or refuses) instead.
    simple: dict[Any, st.SearchStrategy[Any]] = {
        str: st.text(max_size=6) | st.integers(-3, 3) | st.floats(-2, 2),
        bool: st.booleans() | st.sampled_from(["true", "FALSE", 0, 1]),
        int: st.integers(-10, 10**6) | st.sampled_from([1.7, True, "3", -0.0]),
        float: st.floats(allow_nan=False) | st.integers(-5, 5) | st.sampled_from([True, "1.5"]),
        dt.datetime: TIMES,
    }
    return simple[type_]


def _key(field: attrs.Attribute[Any]) -> str:
    explicit = field.metadata.get(JSON_KEY)
    return explicit if isinstance(explicit, str) else camel_case(field.name)


def _mostly(typed: st.SearchStrategy[Any], one_in: int) -> st.SearchStrategy[Any]:
    """``typed``, or an odd value once in ``one_in`` draws: an answer with an odd value at
    every level would only test the error path."""
    return st.sampled_from([True] * (one_in - 1) + [False]).flatmap(
        lambda typed_one: typed if typed_one else ODD
    )


def objects(cls: type[Any], depth: int = 0) -> st.SearchStrategy[Any]:
    """Answers for an attrs model: required keys there (mostly well typed), the others maybe
    absent, null or odd, and an unknown key."""
    if depth > 3:
        return st.just({})
    attrs.resolve_types(cls)
    required, optional = {}, {}
    for field in attrs.fields(cls):
        typed = values(field.type, depth)
        if field.default is attrs.NOTHING:
            required[_key(field)] = _mostly(typed, 200)
        else:
            optional[_key(field)] = _mostly(typed, 60)
    return st.fixed_dictionaries(required, optional={**optional, "unknownKey": JSON})


def answers(type_: Any) -> st.SearchStrategy[Any]:
    if get_origin(type_) is list:
        return _mostly(st.lists(objects(get_args(type_)[0]), max_size=3), 10)
    return _mostly(objects(type_), 10)


def _model_path(data: Any, type_: Any) -> str:
    """The JSON text the models give (5.0 and 5, True and 1 differ there), or the error."""
    try:
        return json.dumps(unstructure(structure(data, type_)))
    except ResponseDecodeError:
        return "ResponseDecodeError"


def _projected(data: Any, type_: Any) -> str:
    try:
        return json.dumps(project(data, type_))
    except ResponseDecodeError:
        return "ResponseDecodeError"


@pytest.mark.parametrize("type_", KINDS, ids=str)
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])  # examples: conftest
@given(data=st.data())
def test_project_gives_what_the_models_give(type_: Any, data: st.DataObject) -> None:
    answer = data.draw(answers(type_))
    assert _projected(answer, type_) == _model_path(answer, type_)


def test_well_typed_answers_never_reach_the_converter(monkeypatch: pytest.MonkeyPatch) -> None:
    message = {
        "id": "m1", "text": "Hi.", "from": {"id": "u1", "name": "Ana", "extra": 1},
        "startTime": "2020-07-21T16:04:19.990Z", "endTime": "2020-07-21T16:04:20Z",
        "timeOffset": 3, "duration": 1.5, "conversationId": "c1", "phrases": [],
        "sentiment": {"polarity": {"score": -0.5}, "suggested": "negative"},
        "words": [{"word": "Hi.", "startTime": "2020-07-21T16:04:19.000250Z", "score": 1}],
        "unknown": {"kept": False},
    }
    expected = unstructure(structure([message], list[Message]))

    def refuse(*args: Any) -> Any:
        raise AssertionError("the converter was used")

    monkeypatch.setattr(_projection, "structure", refuse)
    assert json.dumps(project([message], list[Message])) == json.dumps(expected)
    assert expected[0]["timeOffset"] == 3.0 and "unknown" not in expected[0]


def _summary(ref: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"id": "s1", "text": "Agreed.", "messageRefs": [ref]}]


def _action(**fields: Any) -> list[dict[str, Any]]:
    return [{"id": "a1", "text": "Send it.", **fields}]


def _message(**fields: Any) -> list[dict[str, Any]]:
    return [{"id": "m1", "text": "Hi.", **fields}]


def _values(*values: Any) -> tuple[Any, ...]:
    return values


# Values the converter coerces, or refuses, at each kind of field.
ODD_CASES: list[tuple[Any, Any]] = [
    *[(list[Message], _message(id=v)) for v in _values(7, 1.5, True, None, [], "m1")],
    *[(list[Message], _message(startTime=v)) for v in _values(
        "2020-07-21T16:04:19.99Z", "2021-08-09T18:30:00+05:30", "2020-07-21T16:04:19.000Z",
        "2020-07-21T16:04:19.120000Z", "2020-02-30T00:00:00Z", "2021-08-09", 3,
        "2020-07-21T16:04:19.000000Z", "2020-07-21T16:04:19.000120Z", "2020-07-21T16:04:19.5Z",
        "2020-07-21T16:04:19.1234567Z", "2020-07-21T16:04:19.0000001Z", "0000-01-01T00:00:00Z",
        "2020-07-21T16:04:19.\u0661\u0662\u0663Z", "2020-07-21T16:04:\u0661\u0662Z")],
    *[(list[Message], _message(timeOffset=v)) for v in _values(5, True, "1.5", "x", [])],
    *[(list[Message], _message(**{"from": v})) for v in _values("Ana", "id", [], 1, {})],
    *[(list[SummaryItem], _summary({"offset": v})) for v in _values(True, 1.7, "3", "x", 4)],
    *[(list[ActionItem], _action(definitive=v)) for v in _values("true", "False", 0, 1, 2)],
    *[(list[ActionItem], _action(type=v)) for v in _values("question", "new_kind", 1, None)],
    *[(list[ActionItem], _action(messageIds=v)) for v in _values("ab", {"m1": 1}, [1], 5)],
    (list[Message], _message(text=None)),
    (list[Message], [{"id": "m1"}]),
    (list[Message], "ab"),
    (Conversation, {"id": "c1", "metadata": {"team": "x"}, "members": "ab"}),
    (Analytics, [1]),
]


@pytest.mark.parametrize(("type_", "odd"), ODD_CASES, ids=[repr(c[1])[:60] for c in ODD_CASES])
def test_odd_answers_give_what_the_models_give(type_: Any, odd: Any) -> None:
    assert _projected(odd, type_) == _model_path(odd, type_)


def _calendar_sweep() -> list[str]:
    """Times at every edge of the usual form: each month's last days in leap and common
    years (and 1900, 2000), hours, minutes and seconds past their range, year 0000, and
    fractions of 0, 2, 3 and 4 digits."""
    dates = [
        f"{year}-{month:02d}-{day:02d}"
        for year in ("0000", "0001", "1900", "2000", "2023", "2024", "2100", "9999")
        for month in range(14)
        for day in (0, 1, 9, 10, 19, 20, 27, 28, 29, 30, 31, 32)
    ]
    clocks = ["00:00:00", "19:59:59", "23:30:00", "24:00:00", "12:60:00", "12:00:60"]
    fractions = ["", ".000", ".001", ".120", ".999", ".12", ".1234", ".000000"]
    return [f"{d}T{c}{f}Z" for d in dates for c in clocks for f in fractions]


def test_the_usual_form_of_a_time_is_kept_only_when_the_models_keep_it() -> None:
    # The one-match path (_CANONICAL_TIME) must accept only times the longer way gives
    # back unchanged; the rest take the longer way, then the converter, as before.
    kept = 0
    for text in _calendar_sweep():
        if _projection._CANONICAL_TIME(text) is not None:
            kept += 1
            assert _model_path(text, dt.datetime) == json.dumps(text), text
        assert _projected(text, dt.datetime) == _model_path(text, dt.datetime), text
        answer = _message(startTime=text)
        assert _projected(answer, list[Message]) == _model_path(answer, list[Message]), text
    assert kept > 1000  # the usual form does take the one match


def test_an_unsupported_type_is_refused() -> None:
    with pytest.raises(TypeError):
        project({}, dict[str, int])


@attrs.frozen(kw_only=True)
class _Odd:
    id: str
    tags: frozenset[str] = frozenset()


def test_a_model_without_a_fast_path_is_refused_every_time() -> None:
    # Refused when first used, and not left half-built for the next call.
    for _ in range(2):
        with pytest.raises(TypeError):
            project({"id": "x"}, _Odd)
    assert _Odd not in _projection._CLASSES


@attrs.frozen(kw_only=True)
class _Node:
    id: str
    score: float | None = None
    children: tuple[_Node, ...] = ()
    parent: _Node | None = None


def test_a_model_that_holds_itself_is_projected_at_every_depth(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A model's projector is generated after its fields': a field of the model itself
    # goes through a forwarder registered first. Well typed: the converter is not used.
    tree = {"id": "a", "score": 1, "children": [
        {"id": "b", "children": [{"id": "c", "parent": {"id": "b", "x": 1}}]}, {"id": "d"}]}
    expected = unstructure(structure(tree, _Node))

    def refuse(*args: Any) -> Any:
        raise AssertionError("the converter was used")

    monkeypatch.setattr(_projection, "structure", refuse)
    assert json.dumps(project(tree, _Node)) == json.dumps(expected)
    assert expected["score"] == 1.0 and expected["children"][1]["children"] == []
    monkeypatch.undo()
    odd = {"id": "a", "children": [{"id": "b", "children": [{"id": 3}]}]}  # deep: slow path
    assert _projected(odd, _Node) == _model_path(odd, _Node)
