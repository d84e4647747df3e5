"""The Conversation API as documented, end to end on the emulator of branch `emulator`.

Entities in both shapes the API has used, summary while a job runs, metadata at submit and
with PUT, the list's limit 0 and order. These need the emulator changes of branch
``emulator`` (entities_shape, summary 404 while running, PUT metadata, list defaults):
merge this branch after that one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest

from symbl_async import (
    CustomEntity,
    EntityCategory,
    NotFoundError,
    PollSchedule,
    ProcessingOptions,
    SymblClient,
    TextMessage,
)
from symbl_async.emulator import Emulator

SCALE = 1000.0
UTC = dt.timezone.utc
TEXT = [
    TextMessage(content="The marketing director will call you today.", speaker_name="Ana"),
    TextMessage(content="Great, I will send the contract tomorrow.", speaker_name="Ben"),
]
OPTIONS = ProcessingOptions(
    detect_entities=True,
    entities=(CustomEntity(custom_type="Company Executives", text="marketing director"),),
)


def _client(emu: Emulator) -> SymblClient:
    return SymblClient(
        app_id=emu.app_id,
        app_secret=emu.app_secret,
        base_url=emu.url,
        poll=PollSchedule(time_scale=SCALE),
        wait_timeout=60,
    )


@pytest.fixture
async def client() -> AsyncIterator[SymblClient]:
    async with Emulator(time_scale=SCALE) as emu, _client(emu) as c:
        yield c


@pytest.mark.parametrize("shape", ["current", "legacy"])
async def test_entities_of_either_shape_read_the_same(shape: str) -> None:
    async with Emulator(time_scale=SCALE, entities_shape=shape) as emu, _client(emu) as client:
        job = await client.submit_text(TEXT, options=OPTIONS)
        await client.wait(job)
        entities = await client.conversations.entities(job.conversation_id)

    custom = [e for e in entities if e.is_custom]
    assert len(custom) == 1
    assert [str(v).lower() for v in custom[0].values] == ["marketing director"]
    assert [r.text for r in custom[0].all_message_refs] == [TEXT[0].content]
    dates = [e for e in entities if (e.type or "").lower() == "date"]
    assert dates, "detectEntities finds today and tomorrow"
    assert all(e.resolved_datetime is not None for e in dates)
    if shape == "current":
        assert all(e.id and e.category is not None for e in entities)
        assert custom[0].category is EntityCategory.CUSTOM
    else:
        assert all(e.matches == () and e.message_refs for e in entities)


async def test_summary_is_not_found_while_the_job_runs() -> None:
    async with Emulator(time_scale=0.01) as emu, _client(emu) as client:
        job = await client.submit_text(TEXT)
        with pytest.raises(NotFoundError):
            await client.conversations.summary(job.conversation_id)


async def test_summary_without_enable_summary(client: SymblClient) -> None:
    job = await client.submit_text(TEXT)
    await client.wait(job)

    first = await client.conversations.summary(job.conversation_id)
    again = await client.conversations.summary(job.conversation_id, refresh=True)

    assert first and again


async def test_metadata_at_submit_and_with_put(client: SymblClient) -> None:
    labels: dict[str, Any] = {"agentId": "johndoe", "tags": ["sales"]}
    job = await client.submit_text(TEXT, options=ProcessingOptions(metadata=labels))
    await client.wait(job)
    assert (await client.conversations.get(job.conversation_id)).metadata == labels

    updated = await client.conversations.update_metadata(
        job.conversation_id, {"agentId": "mary", "customerId": "889988999"}
    )

    assert updated.id == job.conversation_id
    assert updated.metadata is not None and updated.metadata["agentId"] == "mary"
    fetched = await client.conversations.get(job.conversation_id)
    assert fetched.metadata == updated.metadata


async def test_list_limit_zero_and_order(client: SymblClient) -> None:
    jobs = [
        await client.submit_text(TEXT, options=ProcessingOptions(name=f"ordered-{n}"))
        for n in range(3)
    ]
    since = dt.datetime.now(UTC) - dt.timedelta(hours=1)

    assert await client.conversations.list(limit=0, start_time=since) == []
    ascending = await client.conversations.list(start_time=since)
    descending = await client.conversations.list(start_time=since, order="desc")

    ids = [j.conversation_id for j in jobs]
    assert [c.id for c in ascending] == ids
    assert [c.id for c in descending] == ids[::-1]
