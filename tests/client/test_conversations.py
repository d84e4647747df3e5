"""ConversationsAPI against a fake Requester: what each call sends, and what it makes of answers."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, NamedTuple

import pytest

from symbl_async.client._conversations import ALL_INCLUDE, DEFAULT_INCLUDE, ConversationsAPI
from symbl_async.errors import NotFoundError, ValidationError
from symbl_async.models import (
    ActionItem,
    Analytics,
    AnalyticsMember,
    Conversation,
    ConversationInsights,
    Entity,
    FollowUp,
    InsightItem,
    InsightType,
    Member,
    Message,
    MessageRef,
    Metric,
    MetricType,
    Pace,
    Question,
    SummaryItem,
    Topic,
    Tracker,
    TrackerMatch,
    Transcript,
)


class Call(NamedTuple):
    method: str
    path: str
    params: dict[str, str] | None
    json: Any
    idempotent: bool | None


Handler = Callable[[Call], Awaitable[Any]]


class FakeRequester:
    """Records every request and answers from a table (or a handler, for timing tests)."""

    def __init__(
        self, answers: Mapping[tuple[str, str], Any] | None = None, handler: Handler | None = None
    ) -> None:
        self.answers = dict(answers or {})
        self.handler = handler
        self.calls: list[Call] = []

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        idempotent: bool | None = None,
    ) -> Any:
        call = Call(method, path, None if params is None else dict(params), json, idempotent)
        self.calls.append(call)
        if self.handler is not None:
            return await self.handler(call)
        return copy.deepcopy(self.answers[(method, path)])


CID = "6749556955938816"
BASE = f"/v1/conversations/{CID}"

# One canned answer per read, in the documented shape (REFERENCE.md, Conversation API).
ANSWERS: dict[tuple[str, str], Any] = {
    ("GET", BASE): {
        "id": CID,
        "type": "meeting",
        "name": "Weekly sync",
        "members": [{"id": "u1", "name": "Roger", "email": "roger@example.com"}],
        "metadata": {"team": "sales"},
    },
    ("GET", f"{BASE}/messages"): {
        "messages": [
            {"id": "m1", "text": "Hello there.", "from": {"name": "Roger"}, "words": []},
            {"id": "m2", "text": "Where is the file?", "conversationId": CID},
        ]
    },
    ("GET", f"{BASE}/topics"): {
        "topics": [{"id": "t1", "text": "file transfer", "score": 0.7, "messageIds": ["m2"]}]
    },
    ("GET", f"{BASE}/questions"): {
        "questions": [{"id": "q1", "text": "Where is the file?", "type": "question"}]
    },
    ("GET", f"{BASE}/action-items"): {
        "actionItems": [{"id": "a1", "text": "Send the file.", "definitive": True}]
    },
    ("GET", f"{BASE}/follow-ups"): {
        "followUps": [{"id": "f1", "text": "Call Roger on Monday.", "type": "follow_up"}]
    },
    ("GET", f"{BASE}/members"): {
        "members": [{"id": "u1", "name": "Roger"}, {"id": "u2", "name": "John"}]
    },
    ("GET", f"{BASE}/analytics"): {
        "metrics": [{"type": "total_silence", "percent": 29.061, "seconds": 23.432}],
        "members": [{"id": "u1", "name": "Roger", "pace": {"wpm": 68}}],
    },
    ("GET", f"{BASE}/entities"): {
        "entities": [
            {
                "type": "custom",
                "customType": "Product",
                "value": "ACME 9000",
                "text": "acme",
                "messageRefs": [{"id": "m1", "text": "the acme", "offset": 4}],
            }
        ]
    },
    ("GET", f"{BASE}/trackers-detected"): [
        {"id": "k1", "name": "Money", "matches": [{"type": "vocabulary", "value": "price"}]}
    ],
    ("GET", f"{BASE}/summary"): {
        "summary": [{"id": "s1", "text": "They agreed.", "messageRefs": [{"id": "m1"}]}]
    },
    ("GET", f"{BASE}/insights"): {
        "insights": [
            {"id": "q1", "text": "Where is the file?", "type": "question"},
            {"id": "a1", "text": "Send the file.", "type": "action_item"},
        ]
    },
    ("POST", f"{BASE}/transcript"): {
        "transcript": {"payload": "Roger: Hello there.", "contentType": "text/markdown"}
    },
}

EXPECTED: dict[str, Any] = {
    "conversation": Conversation(
        id=CID,
        type="meeting",
        name="Weekly sync",
        members=(Member(id="u1", name="Roger", email="roger@example.com"),),
        metadata={"team": "sales"},
    ),
    "messages": [
        Message(id="m1", text="Hello there.", from_=Member(name="Roger")),
        Message(id="m2", text="Where is the file?", conversation_id=CID),
    ],
    "topics": [Topic(id="t1", text="file transfer", score=0.7, message_ids=("m2",))],
    "questions": [Question(id="q1", text="Where is the file?", type=InsightType.QUESTION)],
    "action_items": [ActionItem(id="a1", text="Send the file.", definitive=True)],
    "follow_ups": [FollowUp(id="f1", text="Call Roger on Monday.", type=InsightType.FOLLOW_UP)],
    "members": [Member(id="u1", name="Roger"), Member(id="u2", name="John")],
    "analytics": Analytics(
        metrics=(Metric(type=MetricType.TOTAL_SILENCE, percent=29.061, seconds=23.432),),
        members=(AnalyticsMember(id="u1", name="Roger", pace=Pace(wpm=68)),),
    ),
    "entities": [
        Entity(
            type="custom",
            custom_type="Product",
            value="ACME 9000",
            text="acme",
            message_refs=(MessageRef(id="m1", text="the acme", offset=4),),
        )
    ],
    "trackers": [
        Tracker(id="k1", name="Money", matches=(TrackerMatch(type="vocabulary", value="price"),))
    ],
    "summary": [SummaryItem(id="s1", text="They agreed.", message_refs=(MessageRef(id="m1"),))],
    "insights": [
        InsightItem(id="q1", text="Where is the file?", type=InsightType.QUESTION),
        InsightItem(id="a1", text="Send the file.", type=InsightType.ACTION_ITEM),
    ],
    "transcript": Transcript(payload="Roger: Hello there.", content_type="text/markdown"),
}

PATHS: dict[str, tuple[str, str]] = {
    "conversation": ("GET", BASE),
    "messages": ("GET", f"{BASE}/messages"),
    "topics": ("GET", f"{BASE}/topics"),
    "questions": ("GET", f"{BASE}/questions"),
    "action_items": ("GET", f"{BASE}/action-items"),
    "follow_ups": ("GET", f"{BASE}/follow-ups"),
    "members": ("GET", f"{BASE}/members"),
    "analytics": ("GET", f"{BASE}/analytics"),
    "entities": ("GET", f"{BASE}/entities"),
    "trackers": ("GET", f"{BASE}/trackers-detected"),
    "summary": ("GET", f"{BASE}/summary"),
    "insights": ("GET", f"{BASE}/insights"),
    "transcript": ("POST", f"{BASE}/transcript"),
}


def _api(
    answers: Mapping[tuple[str, str], Any] = ANSWERS,
) -> tuple[ConversationsAPI, FakeRequester]:
    fake = FakeRequester(answers)
    return ConversationsAPI(fake), fake


def _get(path: str, params: dict[str, str] | None = None) -> Call:
    return Call("GET", path, params, None, None)


# -- each call: what is sent, and what comes back ----------------------------------------


class Case(NamedTuple):
    call: Callable[[ConversationsAPI], Awaitable[Any]]
    sent: Call
    result: Any


READS: dict[str, Case] = {
    "get": Case(lambda api: api.get(CID), _get(BASE), EXPECTED["conversation"]),
    "messages": Case(lambda api: api.messages(CID), _get(f"{BASE}/messages"), EXPECTED["messages"]),
    "messages-verbose-sentiment": Case(
        lambda api: api.messages(CID, verbose=True, sentiment=True),
        _get(f"{BASE}/messages", {"verbose": "true", "sentiment": "true"}),
        EXPECTED["messages"],
    ),
    "messages-sentiment": Case(
        lambda api: api.messages(CID, verbose=False, sentiment=True),
        _get(f"{BASE}/messages", {"sentiment": "true"}),
        EXPECTED["messages"],
    ),
    "topics": Case(lambda api: api.topics(CID), _get(f"{BASE}/topics"), EXPECTED["topics"]),
    "topics-flags": Case(
        lambda api: api.topics(CID, sentiment=True, parent_refs=True),
        _get(f"{BASE}/topics", {"sentiment": "true", "parentRefs": "true"}),
        EXPECTED["topics"],
    ),
    "questions": Case(
        lambda api: api.questions(CID), _get(f"{BASE}/questions"), EXPECTED["questions"]
    ),
    "action_items": Case(
        lambda api: api.action_items(CID), _get(f"{BASE}/action-items"), EXPECTED["action_items"]
    ),
    "follow_ups": Case(
        lambda api: api.follow_ups(CID), _get(f"{BASE}/follow-ups"), EXPECTED["follow_ups"]
    ),
    "members": Case(lambda api: api.members(CID), _get(f"{BASE}/members"), EXPECTED["members"]),
    "analytics": Case(
        lambda api: api.analytics(CID), _get(f"{BASE}/analytics"), EXPECTED["analytics"]
    ),
    "entities": Case(lambda api: api.entities(CID), _get(f"{BASE}/entities"), EXPECTED["entities"]),
    "trackers": Case(
        lambda api: api.trackers(CID), _get(f"{BASE}/trackers-detected"), EXPECTED["trackers"]
    ),
    "summary": Case(lambda api: api.summary(CID), _get(f"{BASE}/summary"), EXPECTED["summary"]),
    "summary-refresh": Case(
        lambda api: api.summary(CID, refresh=True),
        _get(f"{BASE}/summary", {"refresh": "true"}),
        EXPECTED["summary"],
    ),
    "insights": Case(lambda api: api.insights(CID), _get(f"{BASE}/insights"), EXPECTED["insights"]),
    "transcript": Case(
        lambda api: api.transcript(CID),
        Call("POST", f"{BASE}/transcript", None, {"contentType": "text/markdown"}, True),
        EXPECTED["transcript"],
    ),
    "transcript-srt-options": Case(
        lambda api: api.transcript(
            CID,
            content_type="text/srt",
            create_paragraphs=True,
            phrases={"highlightOnlyInsightKeyPhrases": True},
        ),
        Call(
            "POST",
            f"{BASE}/transcript",
            None,
            {
                "createParagraphs": True,
                "phrases": {"highlightOnlyInsightKeyPhrases": True},
                "contentType": "text/srt",
            },
            True,
        ),
        EXPECTED["transcript"],
    ),
}


@pytest.mark.parametrize("case", READS.values(), ids=READS.keys())
async def test_each_read_sends_the_documented_request(case: Case) -> None:
    api, fake = _api()

    result = await case.call(api)

    assert fake.calls == [case.sent]
    assert result == case.result


async def test_delete() -> None:
    api, fake = _api({("DELETE", BASE): {"message": "successfully deleted the conversation"}})

    assert await api.delete(CID) == "successfully deleted the conversation"
    assert fake.calls == [Call("DELETE", BASE, None, None, None)]


async def test_update_member_quotes_the_member_id() -> None:
    path = f"{BASE}/members/m%201%2Fx"
    api, fake = _api({("PUT", path): {"message": "Member with id: m 1/x updated."}})

    message = await api.update_member(CID, "m 1/x", name="Roger", email="roger@example.com")

    assert message == "Member with id: m 1/x updated."
    body = {"id": "m 1/x", "name": "Roger", "email": "roger@example.com"}
    assert fake.calls == [Call("PUT", path, None, body, None)]


async def test_update_member_sends_only_what_changes() -> None:
    path = f"{BASE}/members/u1"
    api, fake = _api({("PUT", path): {}})

    assert await api.update_member(CID, "u1", email="new@example.com") is None
    assert fake.calls == [Call("PUT", path, None, {"id": "u1", "email": "new@example.com"}, None)]


async def test_update_speakers() -> None:
    events = [
        {
            "type": "started_speaking",
            "user": {"name": "Roger", "email": "roger@example.com"},
            "offset": {"seconds": 0, "nanos": 0},
        },
        {"type": "stopped_speaking", "user": {"name": "Roger"}, "offset": {"seconds": 12}},
    ]
    api, fake = _api({("PUT", f"{BASE}/speakers"): {"message": "Speaker events associated."}})

    assert await api.update_speakers(CID, events) == "Speaker events associated."
    assert fake.calls == [Call("PUT", f"{BASE}/speakers", None, {"speakerEvents": events}, None)]


async def test_list_without_arguments() -> None:
    api, fake = _api({("GET", "/v1/conversations"): {"conversations": [{"id": "1"}, {"id": "2"}]}})

    assert await api.list() == [Conversation(id="1"), Conversation(id="2")]
    assert fake.calls == [_get("/v1/conversations")]


async def test_list_builds_an_rsql_name_filter_with_quoting() -> None:
    api, fake = _api({("GET", "/v1/conversations"): {"conversations": []}})

    assert await api.list(name='Weekly "sync" \\ room') == []
    assert fake.calls == [
        _get("/v1/conversations", {"filter": 'conversation.name=="Weekly \\"sync\\" \\\\ room"'})
    ]


async def test_list_combines_name_and_filter_and_pages() -> None:
    api, fake = _api({("GET", "/v1/conversations"): {"conversations": [{"id": "7"}]}})

    result = await api.list(
        name="job-42",
        filter="conversation.type==meeting",
        sort="conversation.startTime==DESC",
        limit=10,
        offset=0,
    )

    assert result == [Conversation(id="7")]
    assert fake.calls == [
        _get(
            "/v1/conversations",
            {
                "filter": 'conversation.name=="job-42";conversation.type==meeting',
                "sort": "conversation.startTime==DESC",
                "limit": "10",
                "offset": "0",
            },
        )
    ]


async def test_path_unsafe_conversation_ids_are_quoted() -> None:
    path = "/v1/conversations/a%2Fb%20c%3F/messages"
    api, fake = _api({("GET", path): {"messages": []}})

    assert await api.messages("a/b c?") == []
    assert fake.calls == [_get(path)]


async def test_trackers_accepts_a_wrapped_list_too() -> None:
    wrapped = {"trackers": ANSWERS[("GET", f"{BASE}/trackers-detected")]}
    api, _ = _api({("GET", f"{BASE}/trackers-detected"): wrapped})

    assert await api.trackers(CID) == EXPECTED["trackers"]


async def test_missing_or_null_lists_are_empty() -> None:
    api, _ = _api(
        {("GET", f"{BASE}/topics"): {}, ("GET", f"{BASE}/questions"): {"questions": None}}
    )

    assert await api.topics(CID) == []
    assert await api.questions(CID) == []


# -- fetch_insights ----------------------------------------------------------------------


def _insights(include: tuple[str, ...]) -> ConversationInsights:
    fields: dict[str, Any] = {
        name: tuple(value) if isinstance(value, list) else value
        for name, value in EXPECTED.items()
        if name in include
    }
    return ConversationInsights(conversation_id=CID, **fields)


async def test_fetch_insights_runs_the_requests_concurrently() -> None:
    everyone_started = asyncio.Event()
    started: list[Call] = []

    async def handler(call: Call) -> Any:
        started.append(call)
        if len(started) == len(DEFAULT_INCLUDE):
            everyone_started.set()
        # Nobody answers before every request is in flight: one at a time would hang here.
        await everyone_started.wait()
        return copy.deepcopy(ANSWERS[(call.method, call.path)])

    api = ConversationsAPI(FakeRequester(handler=handler))

    insights = await asyncio.wait_for(api.fetch_insights(CID), timeout=5)

    assert sorted((c.method, c.path) for c in started) == sorted(
        PATHS[name] for name in DEFAULT_INCLUDE
    )
    assert insights == _insights(DEFAULT_INCLUDE)
    assert insights.entities is None and insights.transcript is None


async def test_fetch_insights_all_kinds() -> None:
    api, fake = _api()

    insights = await api.fetch_insights(CID, include=ALL_INCLUDE)

    assert insights == _insights(ALL_INCLUDE)
    assert sorted((c.method, c.path) for c in fake.calls) == sorted(PATHS.values())
    assert [c.idempotent for c in fake.calls if c.method == "POST"] == [True]


async def test_fetch_insights_chosen_kinds_once_each() -> None:
    api, fake = _api()

    insights = await api.fetch_insights(CID, include=["summary", "analytics", "summary"])

    assert insights == _insights(("summary", "analytics"))
    assert sorted(c.path for c in fake.calls) == [f"{BASE}/analytics", f"{BASE}/summary"]


async def test_one_failed_fetch_cancels_the_others_and_raises() -> None:
    error = NotFoundError(404, "The conversation could not be found")
    everyone_started = asyncio.Event()
    started: list[str] = []
    cancelled: list[str] = []

    async def handler(call: Call) -> Any:
        started.append(call.path)
        if len(started) == len(DEFAULT_INCLUDE):
            everyone_started.set()
        await everyone_started.wait()
        if call.path.endswith("/topics"):
            raise error
        try:
            await asyncio.Event().wait()  # never answers
        except asyncio.CancelledError:
            cancelled.append(call.path)
            raise

    api = ConversationsAPI(FakeRequester(handler=handler))

    with pytest.raises(NotFoundError) as raised:
        await asyncio.wait_for(api.fetch_insights(CID), timeout=5)

    assert raised.value is error
    others = [PATHS[name][1] for name in DEFAULT_INCLUDE if name != "topics"]
    assert sorted(cancelled) == sorted(others)
    assert asyncio.all_tasks() == {asyncio.current_task()}


async def test_cancelling_fetch_insights_cancels_its_requests() -> None:
    everyone_started = asyncio.Event()
    started: list[str] = []
    cancelled: list[str] = []

    async def handler(call: Call) -> Any:
        started.append(call.path)
        if len(started) == 2:
            everyone_started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(call.path)
            raise

    api = ConversationsAPI(FakeRequester(handler=handler))
    task = asyncio.ensure_future(api.fetch_insights(CID, include=["messages", "members"]))
    await asyncio.wait_for(everyone_started.wait(), timeout=5)

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert sorted(cancelled) == [f"{BASE}/members", f"{BASE}/messages"]
    assert asyncio.all_tasks() == {asyncio.current_task()}


# -- validation: raised before anything is sent -----------------------------------------

VALID_NAMES = ", ".join(ALL_INCLUDE)

INVALID: dict[str, tuple[Callable[[ConversationsAPI], Awaitable[Any]], str, str]] = {
    "empty id": (lambda api: api.get(""), "conversation_id", "must be a non-empty string"),
    "blank id": (lambda api: api.messages("  \t"), "conversation_id", "must be a non-empty string"),
    "None id": (lambda api: api.topics(None), "conversation_id", "must be a non-empty string"),  # type: ignore[arg-type]
    "int id": (lambda api: api.analytics(42), "conversation_id", "must be a non-empty string"),  # type: ignore[arg-type]
    "dot-dot id": (lambda api: api.summary(".."), "conversation_id", "must not be '.' or '..'"),
    "delete empty id": (
        lambda api: api.delete(""),
        "conversation_id",
        "must be a non-empty string",
    ),
    "transcript empty id": (
        lambda api: api.transcript(" "),
        "conversation_id",
        "must be a non-empty string",
    ),
    "fetch empty id": (
        lambda api: api.fetch_insights(""),
        "conversation_id",
        "must be a non-empty string",
    ),
    "unknown include": (
        lambda api: api.fetch_insights(CID, include=["messages", "sentiments"]),
        "include",
        f"unknown ['sentiments']; valid names: {VALID_NAMES}",
    ),
    "include as a string": (
        lambda api: api.fetch_insights(CID, include="messages"),
        "include",
        f"must be a collection of names from: {VALID_NAMES}",
    ),
    "empty include": (
        lambda api: api.fetch_insights(CID, include=[]),
        "include",
        f"must name at least one of: {VALID_NAMES}",
    ),
    "transcript content type": (
        lambda api: api.transcript(CID, content_type="text/html"),
        "content_type",
        "must be one of text/markdown, text/srt",
    ),
    "transcript contentType option": (
        lambda api: api.transcript(CID, contentType="text/srt"),
        "contentType",
        "pass it as content_type",
    ),
    "empty member id": (
        lambda api: api.update_member(CID, "", name="Roger"),
        "member_id",
        "must be a non-empty string",
    ),
    "member change missing": (
        lambda api: api.update_member(CID, "u1"),
        "name",
        "give name or email (or both) to change",
    ),
    "empty member name": (
        lambda api: api.update_member(CID, "u1", name=""),
        "name",
        "must be a non-empty string",
    ),
    "no speaker events": (
        lambda api: api.update_speakers(CID, []),
        "speaker_events",
        "must be a non-empty list of objects",
    ),
    "speaker events not objects": (
        lambda api: api.update_speakers(CID, ["started_speaking"]),  # type: ignore[list-item]
        "speaker_events",
        "must be a non-empty list of objects",
    ),
    "flag not a bool": (
        lambda api: api.messages(CID, verbose="yes"),  # type: ignore[arg-type]
        "verbose",
        "must be True or False",
    ),
    "list empty name": (lambda api: api.list(name=""), "name", "must be a non-empty string"),
    "list limit too large": (
        lambda api: api.list(limit=65537),
        "limit",
        "must be 0 to 65536, got 65537",
    ),
    "list negative offset": (
        lambda api: api.list(offset=-1),
        "offset",
        "must be at least 0, got -1",
    ),
    "list bool limit": (
        lambda api: api.list(limit=True),
        "limit",
        "must be an integer",
    ),
}


@pytest.mark.parametrize(("call", "field", "rule"), INVALID.values(), ids=INVALID.keys())
async def test_validation_errors_send_nothing(
    call: Callable[[ConversationsAPI], Awaitable[Any]], field: str, rule: str
) -> None:
    api, fake = _api()

    with pytest.raises(ValidationError) as raised:
        await call(api)

    assert (raised.value.field, raised.value.rule) == (field, rule)
    assert fake.calls == []


@pytest.mark.parametrize(
    "answer",
    [
        {"messages": [{"id": "m1"}]},  # a message without its required text
        {"messages": [{"id": "m1", "text": None}]},
        {"messages": "not a list"},
    ],
)
async def test_badly_shaped_answer_is_a_symbl_error(answer: Any) -> None:
    from symbl_async.errors import ResponseDecodeError, SymblError

    api = ConversationsAPI(FakeRequester({("GET", f"{BASE}/messages"): answer}))
    with pytest.raises(ResponseDecodeError) as info:
        await api.messages(CID)
    assert isinstance(info.value, SymblError)
    assert "Message" in str(info.value)
    assert info.value.__cause__ is not None


# -- fetch_insights_json: the same requests and errors, the same JSON without models -----


@pytest.mark.parametrize("include", [DEFAULT_INCLUDE, ALL_INCLUDE, ("transcript", "summary")])
async def test_fetch_insights_json_sends_the_same_requests_and_gives_to_json(
    include: tuple[str, ...],
) -> None:
    models_api, models_fake = _api()
    json_api, json_fake = _api()

    expected = (await models_api.fetch_insights(CID, include=include)).to_json()
    data = await json_api.fetch_insights_json(CID, include=include)

    assert data == expected
    assert list(data) == list(expected)  # the same key order, so the same file
    assert sorted(json_fake.calls) == sorted(models_fake.calls)


async def test_fetch_insights_json_validates_like_fetch_insights() -> None:
    api, fake = _api()
    calls: list[tuple[Callable[[], Awaitable[Any]], str]] = [
        (lambda: api.fetch_insights_json(""), "conversation_id"),
        (lambda: api.fetch_insights_json(".."), "conversation_id"),
        (lambda: api.fetch_insights_json(CID, include="messages"), "include"),
        (lambda: api.fetch_insights_json(CID, include=["messages", "sentiments"]), "include"),
        (lambda: api.fetch_insights_json(CID, include=[]), "include"),
    ]
    for call, field in calls:
        with pytest.raises(ValidationError) as raised:
            await call()
        assert raised.value.field == field
    assert fake.calls == []


@pytest.mark.parametrize(
    ("kind", "answer"),
    [
        ("messages", {"messages": [{"id": "m1"}]}),  # a message without its required text
        ("messages", {"messages": [{"id": "m1", "text": None}]}),
        ("messages", {"messages": 7}),
        ("messages", 42),  # the answer is not an object
        ("topics", {"topics": [{"id": "t1", "text": "x", "messageIds": [None]}]}),
        ("analytics", 42),
        ("conversation", {"name": "no id"}),
        ("transcript", {"transcript": {"contentType": "text/markdown"}}),
    ],
)
async def test_fetch_insights_json_raises_the_model_paths_error(kind: str, answer: Any) -> None:
    from symbl_async.errors import ResponseDecodeError

    answers = {**ANSWERS, PATHS[kind]: answer}
    errors = []
    for fetch in ("fetch_insights", "fetch_insights_json"):
        api, _ = _api(answers)
        with pytest.raises(ResponseDecodeError) as raised:
            await getattr(api, fetch)(CID, include=[kind])
        errors.append(str(raised.value))
    assert errors[0] == errors[1]


@pytest.mark.parametrize(
    "answer",
    [{}, {"messages": None}, "", [], {"messages": [], "other": 1}],
    ids=["list missing", "list null", "empty string", "bare list", "extra key"],
)
async def test_fetch_insights_json_reads_odd_but_accepted_answers_alike(answer: Any) -> None:
    answers = {**ANSWERS, PATHS["messages"]: answer}
    models_api, _ = _api(answers)
    json_api, _ = _api(answers)

    expected = (await models_api.fetch_insights(CID, include=["messages"])).to_json()

    assert await json_api.fetch_insights_json(CID, include=["messages"]) == expected
    assert expected["messages"] == []
