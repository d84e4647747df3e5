"""End to end: the client against the real emulator server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import io
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from symbl_async import (
    ConcurrencyLimitError,
    JobFailedError,
    JobStatus,
    NotFoundError,
    PollSchedule,
    ProcessingOptions,
    SymblClient,
    TextMessage,
    Tracker,
    WaitTimeoutError,
)
from symbl_async.client._conversations import ALL_INCLUDE
from symbl_async.emulator import Emulator

SCALE = 1000.0
DEMO = Path(__file__).resolve().parents[2] / "symbl_async" / "demo_data"
TEXT = [
    TextMessage(
        content="Can you send me the pricing sheet?", speaker_name="Ana", user_id="ana@example.com"
    ),
    TextMessage(
        content="Sure, I will send it by Friday and schedule a demo.",
        speaker_name="Ben",
        user_id="ben@example.com",
    ),
]


def wav(seconds: float) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x00" * int(seconds * 8000))
    return buf.getvalue()


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(
        time_scale=SCALE, fail_inputs=frozenset({"https://media.test/broken.wav"})
    ) as e:
        yield e


@pytest.fixture
async def client(emu: Emulator) -> AsyncIterator[SymblClient]:
    async with SymblClient(
        app_id=emu.app_id,
        app_secret=emu.app_secret,
        base_url=emu.url,
        poll=PollSchedule(time_scale=SCALE),
        wait_timeout=60,
    ) as c:
        yield c


async def test_every_submit_endpoint(client: SymblClient, emu: Emulator, tmp_path: Path) -> None:
    audio = tmp_path / "call.wav"
    audio.write_bytes(wav(12.0))
    first = await client.submit_audio_file(audio, options=ProcessingOptions(name="e2e-audio"))
    assert first.media_duration == pytest.approx(12.0)
    jobs = [
        first,
        await client.submit_video_file(DEMO / "meeting.mp4"),
        await client.submit_audio_url("https://media.test/a.wav"),
        await client.submit_video_url("https://media.test/v.mp4"),
        await client.submit_text(TEXT),
        await client.append_audio_file(first.conversation_id, wav(3.0)),
        await client.append_audio_url(first.conversation_id, "https://media.test/b.wav"),
        await client.append_video_file(first.conversation_id, DEMO / "meeting.mp4"),
        await client.append_video_url(first.conversation_id, "https://media.test/c.mp4"),
        await client.append_text(first.conversation_id, TEXT),
    ]
    assert len({j.job_id for j in jobs}) == 10
    assert all(j.conversation_id == first.conversation_id for j in jobs[5:])
    done = await asyncio.gather(*(client.wait(j) for j in jobs))
    assert all(info.status is JobStatus.COMPLETED for info in done)
    stats = emu.stats()
    assert stats["jobs_submitted"] == 10
    assert stats["submits_by_name"]["e2e-audio"] == 1


async def test_auto_names_are_unique_and_findable(client: SymblClient) -> None:
    job = await client.submit_audio_url("https://media.test/a.wav")
    assert job.name and job.name.startswith("symbl-async-")
    found = await client.conversations.list(name=job.name)
    assert [c.id for c in found] == [job.conversation_id]
    other = await client.submit_audio_url("https://media.test/a.wav")
    assert other.name != job.name


async def test_process_text_returns_insights_from_the_text(client: SymblClient) -> None:
    insights = await client.process_text(TEXT, include=ALL_INCLUDE)
    assert insights.conversation_id and insights.job_id
    assert [m.text for m in insights.messages or ()] == [t.content for t in TEXT]
    assert any("pricing sheet" in q.text for q in insights.questions or ())
    assert any("send it by Friday" in a.text for a in insights.action_items or ())
    speakers = {m.name for m in insights.members or ()}
    assert speakers == {"Ana", "Ben"}
    assert insights.analytics is not None and len(insights.analytics.members) == 2
    assert insights.transcript is not None and "pricing sheet" in insights.transcript.payload


async def test_process_helpers_for_media(client: SymblClient) -> None:
    results = await asyncio.gather(
        client.process_audio_file(DEMO / "meeting.wav"),
        client.process_video_file(DEMO / "meeting.mp4"),
        client.process_audio_url("https://media.test/a.wav"),
        client.process_video_url("https://media.test/v.mp4"),
    )
    for insights in results:
        assert insights.messages, "a processed recording has messages"
        assert insights.conversation is not None
        assert insights.conversation.id == insights.conversation_id


async def test_same_input_gives_same_insights(client: SymblClient) -> None:
    a = await client.process_audio_url(
        "https://media.test/same.wav", include=("messages", "topics")
    )
    b = await client.process_audio_url(
        "https://media.test/same.wav", include=("messages", "topics")
    )
    assert [m.text for m in a.messages or ()] == [m.text for m in b.messages or ()]
    assert [t.text for t in a.topics or ()] == [t.text for t in b.topics or ()]


async def test_every_conversation_call(client: SymblClient) -> None:
    opts = ProcessingOptions(
        enable_summary=True,
        detect_phrases=True,
        trackers=[Tracker(name="Pricing", vocabulary=["pricing sheet"])],
    )
    job = await client.submit_text(TEXT, options=opts)
    await client.wait(job)
    conv = client.conversations
    cid = job.conversation_id
    assert (await conv.get(cid)).id == cid
    messages = await conv.messages(cid, verbose=True, sentiment=True)
    assert messages and messages[0].sentiment is not None
    assert await conv.topics(cid, sentiment=True, parent_refs=True)
    assert await conv.questions(cid)
    assert await conv.action_items(cid)
    await conv.follow_ups(cid)
    members = await conv.members(cid)
    assert {m.name for m in members} == {"Ana", "Ben"}
    analytics = await conv.analytics(cid)
    assert {m.name for m in analytics.members} == {"Ana", "Ben"}
    await conv.entities(cid)
    trackers = await conv.trackers(cid)
    assert any(t.name == "Pricing" and t.matches for t in trackers)
    assert await conv.summary(cid)
    assert await conv.insights(cid)
    srt = await conv.transcript(cid, content_type="text/srt")
    assert "-->" in srt.payload
    member = members[0]
    await conv.update_member(cid, member.id or "", name="Ana Lima", email="ana@example.com")
    assert "Ana Lima" in {m.name for m in await conv.members(cid)}
    event = {
        "type": "started_speaking",
        "user": {"name": "Ana Lima", "email": "ana@example.com"},
        "offset": {"seconds": 0, "nanos": 0},
    }
    assert await conv.update_speakers(cid, [event])
    await conv.delete(cid)
    with pytest.raises(NotFoundError) as info:
        await conv.get(cid)
    assert info.value.message  # the service's own message is kept


async def test_failed_job_raises(client: SymblClient) -> None:
    job = await client.submit_audio_url("https://media.test/broken.wav")
    with pytest.raises(JobFailedError) as info:
        await client.wait(job)
    assert info.value.job_id == job.job_id
    assert info.value.conversation_id == job.conversation_id


async def test_wait_timeout_keeps_the_ids() -> None:
    async with (
        Emulator(time_scale=1.0) as slow,
        SymblClient(
            app_id=slow.app_id,
            app_secret=slow.app_secret,
            base_url=slow.url,
            poll=PollSchedule(initial_interval=0.01, max_interval=0.01),
        ) as c,
    ):
        job = await c.submit_audio_url("https://media.test/long.wav")
        with pytest.raises(WaitTimeoutError) as info:
            await c.wait(job.job_id, timeout=0.05)
        assert info.value.job_id == job.job_id
        assert info.value.last_status in ("scheduled", "in_progress")


async def test_concurrency_limit_gives_concurrency_limit_error() -> None:
    async with (
        Emulator(time_scale=1.0, concurrency_limit=2) as small,
        SymblClient(app_id=small.app_id, app_secret=small.app_secret, base_url=small.url) as c,
    ):
        await c.submit_audio_url("https://media.test/1.wav")
        await c.submit_audio_url("https://media.test/2.wav")
        with pytest.raises(ConcurrencyLimitError) as info:
            await c.submit_audio_url("https://media.test/3.wav")
        assert info.value.status == 429
        assert "maximum of `2`" in info.value.message
        assert small.stats()["rejected_429"] == 1


async def test_unknown_job_is_not_found(client: SymblClient) -> None:
    with pytest.raises(NotFoundError):
        await client.get_job("00000000-0000-0000-0000-000000000000")


async def test_bad_credentials_against_emulator() -> None:
    async with (
        Emulator(credentials={"right-id": "right-secret"}) as e,
        SymblClient(app_id="right-id", app_secret="wrong", base_url=e.url) as c,
    ):
        from symbl_async import AuthenticationError

        with pytest.raises(AuthenticationError):
            await c.get_job("x")


async def test_borrowed_session_against_emulator(emu: Emulator) -> None:
    async with aiohttp.ClientSession() as session:
        async with SymblClient(
            app_id=emu.app_id, app_secret=emu.app_secret, base_url=emu.url, session=session
        ) as c:
            job = await c.submit_text(TEXT)
            assert (await c.get_job(job.job_id)).id == job.job_id
        assert not session.closed
