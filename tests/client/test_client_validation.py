"""Bad input gets a typed error naming the field and the rule, and nothing is sent."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aioresponses import aioresponses

from symbl_async import ProcessingOptions, SymblClient, TextMessage, ValidationError

BASE = "http://127.0.0.1:9"
DEMO = Path(__file__).resolve().parents[2] / "symbl_async" / "demo_data"


@pytest.fixture
def mocked() -> Iterator[aioresponses]:
    with aioresponses() as m:
        yield m


@pytest.fixture
async def client() -> AsyncIterator[SymblClient]:
    async with SymblClient(app_id="a", app_secret="b", base_url=BASE) as c:
        yield c


def test_missing_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SYMBL_APP_ID", raising=False)
    monkeypatch.delenv("SYMBL_APP_SECRET", raising=False)
    with pytest.raises(ValidationError) as info:
        SymblClient()
    assert info.value.field == "app_id"
    assert "SYMBL_APP_ID" in info.value.rule
    with pytest.raises(ValidationError) as info:
        SymblClient(app_id="only-the-id")
    assert info.value.field == "app_secret"


def test_credentials_and_base_url_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYMBL_APP_ID", "env-id")
    monkeypatch.setenv("SYMBL_APP_SECRET", "env-secret")
    monkeypatch.setenv("SYMBL_BASE_URL", "http://127.0.0.1:8080/")
    client = SymblClient()
    assert client.base_url == "http://127.0.0.1:8080"
    assert "env-secret" not in repr(client)
    monkeypatch.delenv("SYMBL_BASE_URL")
    assert SymblClient().base_url == "https://api.symbl.ai"


@pytest.mark.parametrize("url", ["ftp://host/x", "not a url", "http://"])
def test_bad_base_url(url: str) -> None:
    with pytest.raises(ValidationError) as info:
        SymblClient(app_id="a", app_secret="b", base_url=url)
    assert info.value.field == "base_url"


Call = Callable[[SymblClient], Awaitable[Any]]
CASES: list[tuple[str, Call, str, str]] = [
    ("bad url", lambda c: c.submit_audio_url("ftp://example.com/a.wav"), "url", "http or https"),
    ("empty url", lambda c: c.submit_video_url(""), "url", "non-empty"),
    ("relative url", lambda c: c.append_audio_url("123", "/a.wav"), "url", "http or https"),
    ("missing file", lambda c: c.submit_audio_file("/nonexistent/a.wav"), "file", "does not exist"),
    ("non-mp4 video", lambda c: c.submit_video_file(DEMO / "meeting.wav"), "file", "must be MP4"),
    (
        "unknown content type",
        lambda c: c.submit_audio_file(b"\x00\x01" * 64),
        "content_type",
        "cannot tell",
    ),
    ("empty text", lambda c: c.submit_text([]), "messages", "at least one"),
    (
        "empty message",
        lambda c: c.submit_text([TextMessage(content="")]),
        "messages[0].content",
        "non-empty",
    ),
    (
        "speech option on text",
        lambda c: c.submit_text(
            [TextMessage(content="hi")], options=ProcessingOptions(mode="phone")
        ),
        "mode",
        "audio and video only",
    ),
    (
        "empty conversation id",
        lambda c: c.append_text(" ", [TextMessage(content="hi")]),
        "conversation_id",
        "non-empty",
    ),
    (
        "empty conversation id on upload",
        lambda c: c.append_audio_file("", DEMO / "meeting.wav"),
        "conversation_id",
        "non-empty",
    ),
    ("empty job id", lambda c: c.get_job(""), "job_id", "non-empty"),
    ("empty job for wait", lambda c: c.wait(""), "job", "non-empty"),
    ("bad wait timeout", lambda c: c.wait("j", timeout=0), "timeout", "> 0"),
    (
        "negative duration",
        lambda c: c.submit_audio_url("https://x.test/a.wav", media_duration=-1),
        "media_duration",
        ">= 0",
    ),
    (
        "options type",
        lambda c: c.submit_audio_url("https://x.test/a.wav", options={"name": "x"}),  # type: ignore[arg-type]
        "options",
        "ProcessingOptions",
    ),
    ("insights of empty id", lambda c: c.fetch_insights(""), "conversation_id", "non-empty"),
    (
        "messages of empty id",
        lambda c: c.conversations.messages(""),
        "conversation_id",
        "non-empty",
    ),
    (
        "unknown include before submitting",
        lambda c: c.process_audio_url("https://x.test/a.wav", include=("topics", "vibes")),
        "include",
        "vibes",
    ),
]


@pytest.mark.parametrize(("label", "call", "field", "rule"), CASES, ids=[c[0] for c in CASES])
async def test_bad_input_raises_before_any_request(
    client: SymblClient, mocked: aioresponses, label: str, call: Call, field: str, rule: str
) -> None:
    with pytest.raises(ValidationError) as info:
        await call(client)
    assert info.value.field == field, str(info.value)
    assert rule in str(info.value)
    assert mocked.requests == {}, f"{label}: a request was sent"


def test_out_of_range_options_fail_at_construction() -> None:
    with pytest.raises(ValidationError) as info:
        ProcessingOptions(confidence_threshold=0.2)
    assert "confidence_threshold" in str(info.value) and "0.5 and 1.0" in str(info.value)
