"""The conversation list, paging through it, and metadata: what is sent and what comes back.

Request shapes against a fake Requester; paging and name lookups also against the real
emulator server on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
from collections.abc import AsyncIterator, Mapping
from typing import Any, NamedTuple

import pytest

from symbl_async import PollSchedule, ProcessingOptions, SymblClient, TextMessage
from symbl_async.client._conversations import ConversationsAPI
from symbl_async.emulator import Emulator
from symbl_async.errors import ValidationError
from symbl_async.models import Conversation

UTC = dt.timezone.utc
LIST = "/v1/conversations"


class Call(NamedTuple):
    method: str
    path: str
    params: dict[str, str] | None
    json: Any


class PagedRequester:
    """Serves ``total`` conversations through limit/offset, recording every request."""

    def __init__(self, total: int, *, ignore_offset: bool = False) -> None:
        self.rows = [{"id": str(n), "name": f"c{n}"} for n in range(total)]
        self.ignore_offset = ignore_offset
        self.calls: list[Call] = []
        self.answer: Any = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        idempotent: bool | None = None,
    ) -> Any:
        self.calls.append(Call(method, path, None if params is None else dict(params), json))
        if self.answer is not None:
            return copy.deepcopy(self.answer)
        params = params or {}
        limit = int(params.get("limit", "20"))
        offset = 0 if self.ignore_offset else int(params.get("offset", "0"))
        return {"conversations": self.rows[offset : offset + limit]}


async def test_list_sends_every_documented_parameter() -> None:
    fake = PagedRequester(0)
    api = ConversationsAPI(fake)

    await api.list(
        name="Weekly sync",
        filter="conversation.type==meeting",
        sort="conversation.name",
        limit=0,
        offset=5,
        order="desc",
        start_time=dt.datetime(2021, 8, 9, 18, 30, tzinfo=UTC),
        end_time=dt.datetime(2021, 8, 13, 18, 30, tzinfo=UTC),
    )

    assert fake.calls == [
        Call(
            "GET",
            LIST,
            {
                "filter": 'conversation.name=="Weekly sync";conversation.type==meeting',
                "sort": "conversation.name",
                "limit": "0",
                "offset": "5",
                "order": "desc",
                "startTime": "2021-08-09T18:30:00Z",
                "endTime": "2021-08-13T18:30:00Z",
            },
            None,
        )
    ]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"filter": "conversation.name==a,conversation.name==b"}, "filter"),
        ({"name": "x", "filter": "conversation.type==a;conversation.id==b"}, "filter"),
        ({"start_time": dt.datetime(2021, 8, 9)}, "start_time"),
        ({"order": "up"}, "order"),
        ({"limit": 70000}, "limit"),
    ],
)
async def test_list_refuses_bad_arguments_before_sending(
    kwargs: dict[str, Any], field: str
) -> None:
    fake = PagedRequester(3)

    with pytest.raises(ValidationError) as raised:
        await ConversationsAPI(fake).list(**kwargs)

    assert raised.value.field == field
    assert fake.calls == []


async def test_iterate_pages_by_offset_until_a_short_page() -> None:
    fake = PagedRequester(7)
    start = dt.datetime(2021, 1, 1, tzinfo=UTC)

    found = [
        c.id
        async for c in ConversationsAPI(fake).iterate(page_size=3, start_time=start, order="asc")
    ]

    assert found == [str(n) for n in range(7)]
    assert [(c.params or {}).get("offset") for c in fake.calls] == ["0", "3", "6"]
    assert all(
        c.params is not None
        and c.params["limit"] == "3"
        and c.params["startTime"] == "2021-01-01T00:00:00Z"
        and c.params["order"] == "asc"
        for c in fake.calls
    )


async def test_iterate_on_an_exact_multiple_asks_once_more() -> None:
    fake = PagedRequester(4)

    found = [c.id async for c in ConversationsAPI(fake).iterate(page_size=2)]

    assert found == ["0", "1", "2", "3"]
    assert len(fake.calls) == 3  # the third, empty page is how the end is known


async def test_iterate_stops_when_offset_is_ignored() -> None:
    fake = PagedRequester(10, ignore_offset=True)

    found = [c.id async for c in ConversationsAPI(fake).iterate(page_size=2)]

    assert found == ["0", "1"]
    assert len(fake.calls) == 2  # the second page brought nothing new: stop, not loop


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"page_size": 0}, "page_size"),
        ({"page_size": 65537}, "page_size"),
        ({"page_size": True}, "page_size"),
        ({"filter": "a==1 or b==2"}, "filter"),
        ({"end_time": dt.datetime(2021, 8, 9)}, "end_time"),
    ],
)
def test_iterate_checks_its_arguments_when_called(kwargs: dict[str, Any], field: str) -> None:
    fake = PagedRequester(3)

    with pytest.raises(ValidationError) as raised:
        ConversationsAPI(fake).iterate(**kwargs)

    assert raised.value.field == field
    assert fake.calls == []


async def test_update_metadata_puts_the_metadata() -> None:
    fake = PagedRequester(0)
    fake.answer = {"id": "4931769134481408", "metadata": {"key": "value", "agentId": "johndoe"}}
    metadata: dict[str, Any] = {"key": "value", "agentId": "johndoe"}

    updated = await ConversationsAPI(fake).update_metadata("4931769134481408", metadata)

    assert updated == Conversation(id="4931769134481408", metadata=metadata)
    assert fake.calls == [Call("PUT", f"{LIST}/4931769134481408", None, {"metadata": metadata})]


@pytest.mark.parametrize(
    ("conversation_id", "metadata", "field"),
    [
        ("", {"a": 1}, "conversation_id"),
        ("..", {"a": 1}, "conversation_id"),
        ("c1", ["a"], "metadata"),
        ("c1", {"": 1}, "metadata"),
        ("c1", {1: 1}, "metadata"),
        ("c1", {"a": object()}, "metadata"),
        ("c1", {"a": float("nan")}, "metadata"),
    ],
)
async def test_update_metadata_refuses_bad_input(
    conversation_id: str, metadata: Any, field: str
) -> None:
    fake = PagedRequester(0)

    with pytest.raises(ValidationError) as raised:
        await ConversationsAPI(fake).update_metadata(conversation_id, metadata)

    assert raised.value.field == field
    assert fake.calls == []


# -- against the emulator ----------------------------------------------------------------

SCALE = 1000.0


@pytest.fixture
async def client() -> AsyncIterator[SymblClient]:
    async with (
        Emulator(time_scale=SCALE) as emu,
        SymblClient(
            app_id=emu.app_id,
            app_secret=emu.app_secret,
            base_url=emu.url,
            poll=PollSchedule(time_scale=SCALE),
            wait_timeout=60,
        ) as c,
    ):
        yield c


async def test_iterate_finds_every_conversation_on_the_emulator(client: SymblClient) -> None:
    text = [TextMessage(content="Hello there.", speaker_name="Ana")]
    jobs = await asyncio.gather(
        *(client.submit_text(text, options=ProcessingOptions(name=f"paged-{n}")) for n in range(5))
    )
    since = dt.datetime.now(UTC) - dt.timedelta(hours=1)

    found = [c async for c in client.conversations.iterate(page_size=2, start_time=since)]

    assert sorted(c.id for c in found) == sorted(j.conversation_id for j in jobs)
    assert {c.name for c in found} == {f"paged-{n}" for n in range(5)}
    one = await client.conversations.list(name="paged-3", start_time=since)
    assert [c.id for c in one] == [jobs[3].conversation_id]
