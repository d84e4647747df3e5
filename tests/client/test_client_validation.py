"""Bad input gets a typed error naming the field and the rule, and nothing is sent."""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aioresponses import aioresponses

from symbl_async import (
    PollSchedule,
    ProcessingOptions,
    RetryPolicy,
    SafetyPollSchedule,
    SymblClient,
    TextMessage,
    Timeouts,
    ValidationError,
)

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


def build(**kwargs: Any) -> Call:
    """A case that constructs a client with these arguments (credentials filled in)."""

    async def call(_: SymblClient) -> Any:
        return SymblClient(**{"app_id": "a", "app_secret": "b", "base_url": BASE, **kwargs})

    return call


def make(factory: Callable[[], object]) -> Call:
    """A case that calls something synchronous (a configuration class, a setter)."""

    async def call(_: SymblClient) -> Any:
        return factory()

    return call


def make_on(action: Callable[[SymblClient], object]) -> Call:
    """A case that does something synchronous with the client."""

    async def call(client: SymblClient) -> Any:
        return action(client)

    return call


def set_webhook_url(client: SymblClient, value: str) -> None:
    client.webhook_url = value


URL = "https://x.test/a.wav"
HI = [TextMessage(content="hi")]
NAN, INF = math.nan, math.inf
LONG_NAME = "n" * 100_000

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
    # -- client construction ---------------------------------------------------------
    ("empty base_url", build(base_url=""), "base_url", "non-empty"),
    ("blank base_url", build(base_url="   "), "base_url", "non-empty"),
    ("password in base_url", build(base_url="http://u:pw@h.test"), "base_url", "credentials"),
    ("user in base_url", build(base_url="http://token@h.test"), "base_url", "credentials"),
    ("base_url with /v1", build(base_url=BASE + "/v1"), "base_url", "looks wrong"),
    ("base_url with /v1/", build(base_url=BASE + "/v1/"), "base_url", "looks wrong"),
    ("base_url with /oauth2", build(base_url=BASE + "/oauth2"), "base_url", "looks wrong"),
    ("base_url with a query", build(base_url=BASE + "/?a=1"), "base_url", "query"),
    ("ftp base_url", build(base_url="ftp://h.test"), "base_url", "http(s)"),
    ("nan wait_timeout", build(wait_timeout=NAN), "wait_timeout", "finite"),
    ("inf wait_timeout", build(wait_timeout=INF), "wait_timeout", "finite"),
    ("string wait_timeout", build(wait_timeout="10"), "wait_timeout", "not str"),
    ("zero wait_timeout", build(wait_timeout=0), "wait_timeout", "> 0"),
    ("negative wait_timeout", build(wait_timeout=-1), "wait_timeout", "> 0"),
    ("bool wait_timeout", build(wait_timeout=True), "wait_timeout", "not bool"),
    ("negative token_skew", build(token_skew=-5), "token_skew", ">= 0"),
    ("nan token_skew", build(token_skew=NAN), "token_skew", "finite"),
    ("string token_skew", build(token_skew="300"), "token_skew", "not str"),
    ("CR/LF in access_token", build(access_token="t\r\nX-Evil: 1"), "access_token", "control"),
    ("NUL in access_token", build(access_token="t\x00u"), "access_token", "control"),
    ("empty access_token", build(access_token=""), "access_token", "non-empty"),
    ("empty app_id", build(app_id=""), "app_id", "non-empty"),
    ("blank app_secret", build(app_secret=" "), "app_secret", "non-empty"),
    ("timeouts type", build(timeouts={"read": 1}), "timeouts", "Timeouts"),
    ("retry type", build(retry=5), "retry", "RetryPolicy"),
    ("poll type", build(poll="fast"), "poll", "PollSchedule"),
    ("unknown wait_mode", build(wait_mode="sometimes"), "wait_mode", "'poll'"),
    ("safety_poll type", build(safety_poll=1), "safety_poll", "SafetyPollSchedule"),
    ("receiver type", build(receiver=object()), "receiver", "WebhookReceiver"),
    # -- configuration classes ---------------------------------------------------------
    ("negative read timeout", make(lambda: Timeouts(read=-1)), "read", "> 0"),
    ("zero connect timeout", make(lambda: Timeouts(connect=0)), "connect", "> 0"),
    ("nan total timeout", make(lambda: Timeouts(total=NAN)), "total", "finite"),
    ("inf upload_total", make(lambda: Timeouts(upload_total=INF)), "upload_total", "finite"),
    ("zero upload_floor", make(lambda: Timeouts(upload_floor=0)), "upload_floor", "> 0"),
    (
        "negative upload throughput",
        make(lambda: Timeouts(upload_min_throughput=-1)),
        "upload_min_throughput",
        "> 0",
    ),
    ("string read timeout", make(lambda: Timeouts(read="60")), "read", "not str"),  # type: ignore[arg-type]
    ("zero max_tries", make(lambda: RetryPolicy(max_tries=0)), "max_tries", ">= 1"),
    ("fractional max_tries", make(lambda: RetryPolicy(max_tries=1.5)), "max_tries", "integer"),  # type: ignore[arg-type]
    ("zero max_time", make(lambda: RetryPolicy(max_time=0)), "max_time", "> 0"),
    ("negative backoff base", make(lambda: RetryPolicy(base=-1)), "base", ">= 0"),
    ("nan backoff cap", make(lambda: RetryPolicy(cap=NAN)), "cap", "finite"),
    (
        "negative retry_after_cap",
        make(lambda: RetryPolicy(retry_after_cap=-1)),
        "retry_after_cap",
        ">= 0",
    ),
    ("zero time_scale", make(lambda: PollSchedule(time_scale=0)), "time_scale", "> 0"),
    ("nan time_scale", make(lambda: PollSchedule(time_scale=NAN)), "time_scale", "finite"),
    (
        "zero initial_interval",
        make(lambda: PollSchedule(initial_interval=0)),
        "initial_interval",
        "> 0",
    ),
    ("shrinking growth", make(lambda: PollSchedule(growth=0.5)), "growth", ">= 1"),
    ("jitter of 1", make(lambda: PollSchedule(jitter=1)), "jitter", "< 1"),
    (
        "first_poll_fraction over 1",
        make(lambda: PollSchedule(first_poll_fraction=2)),
        "first_poll_fraction",
        "<= 1",
    ),
    (
        "negative expected_factor",
        make(lambda: PollSchedule(expected_factor=-1)),
        "expected_factor",
        ">= 0",
    ),
    (
        "zero safety first_poll_factor",
        make(lambda: SafetyPollSchedule(first_poll_factor=0)),
        "first_poll_factor",
        "> 0",
    ),
    ("shrinking safety growth", make(lambda: SafetyPollSchedule(growth=0.9)), "growth", ">= 1"),
    # -- calls ------------------------------------------------------------------------
    (
        "inf duration",
        lambda c: c.submit_audio_url(URL, media_duration=INF),
        "media_duration",
        "finite",
    ),
    (
        "nan duration",
        lambda c: c.submit_video_url(URL, media_duration=NAN),
        "media_duration",
        "finite",
    ),
    (
        "string duration",
        lambda c: c.submit_audio_url(URL, media_duration="60"),  # type: ignore[arg-type]
        "media_duration",
        "not str",
    ),
    (
        "bool duration",
        lambda c: c.append_audio_url("1", URL, media_duration=True),
        "media_duration",
        "not bool",
    ),
    ("nan wait timeout", lambda c: c.wait("j", timeout=NAN), "timeout", "finite"),
    ("inf wait timeout", lambda c: c.wait("j", timeout=INF), "timeout", "finite"),
    ("string wait timeout", lambda c: c.wait("j", timeout="10"), "timeout", "not str"),  # type: ignore[arg-type]
    ("negative wait timeout", lambda c: c.wait("j", timeout=-1), "timeout", "> 0"),
    ("wait on ..", lambda c: c.wait(".."), "job", "'..'"),
    ("wait on .", lambda c: c.wait("."), "job", "'..'"),
    ("job id ..", lambda c: c.get_job(".."), "job_id", "'..'"),
    ("job id .", lambda c: c.get_job(" . "), "job_id", "'..'"),
    ("job id not a string", lambda c: c.get_job(None), "job_id", "non-empty"),  # type: ignore[arg-type]
    ("append url to ..", lambda c: c.append_audio_url("..", URL), "conversation_id", "'..'"),
    ("append video url to .", lambda c: c.append_video_url(".", URL), "conversation_id", "'..'"),
    ("append text to ..", lambda c: c.append_text("..", HI), "conversation_id", "'..'"),
    (
        "append audio file to ..",
        lambda c: c.append_audio_file("..", DEMO / "meeting.wav"),
        "conversation_id",
        "'..'",
    ),
    (
        "append video file to ..",
        lambda c: c.append_video_file("..", DEMO / "meeting.mp4"),
        "conversation_id",
        "'..'",
    ),
    (
        "100,000-character name",
        lambda c: c.submit_audio_url(URL, options=ProcessingOptions(name=LONG_NAME)),
        "name",
        "at most 500",
    ),
    (
        "501-character name on text",
        lambda c: c.submit_text(HI, options=ProcessingOptions(name="n" * 501)),
        "name",
        "at most 500",
    ),
    (
        "long name on upload",
        lambda c: c.submit_audio_file(
            DEMO / "meeting.wav", options=ProcessingOptions(name=LONG_NAME)
        ),
        "name",
        "at most 500",
    ),
    (
        "process with nan timeout",
        lambda c: c.process_audio_url(URL, timeout=NAN),
        "timeout",
        "finite",
    ),
    (
        "process with string timeout",
        lambda c: c.process_text(HI, timeout="5"),  # type: ignore[arg-type]
        "timeout",
        "not str",
    ),
    (
        "process with inf duration",
        lambda c: c.process_audio_url(URL, media_duration=INF),
        "media_duration",
        "finite",
    ),
    (
        "process with unknown wait mode",
        lambda c: c.process_video_url(URL, wait_mode="later"),
        "wait_mode",
        "'poll'",
    ),
    ("webhook wait without receiver", lambda c: c.wait("j", mode="webhook"), "mode", "receiver"),
    (
        "ftp webhook_url",
        make_on(lambda c: set_webhook_url(c, "ftp://x.test/")),
        "webhook_url",
        "http",
    ),
    ("not a url", lambda c: c.submit_video_url("not a url"), "url", "http or https"),
    ("insights of ..", lambda c: c.fetch_insights(".."), "conversation_id", "'..'"),
    ("delete ..", lambda c: c.conversations.delete(".."), "conversation_id", "'..'"),
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


def test_the_table_covers_enough_bad_inputs() -> None:
    assert len(CASES) >= 75
    assert len({label for label, *_ in CASES}) == len(CASES)


def test_out_of_range_options_fail_at_construction() -> None:
    with pytest.raises(ValidationError) as info:
        ProcessingOptions(confidence_threshold=0.2)
    assert "confidence_threshold" in str(info.value) and "0.5 and 1.0" in str(info.value)


def test_a_password_in_base_url_never_shows(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="symbl_async")
    with pytest.raises(ValidationError) as info:
        SymblClient(app_id="a", app_secret="b", base_url="http://user:hunter2@h.test:8080")
    assert "hunter2" not in str(info.value) and "user" not in str(info.value)
    assert "http://***@h.test:8080" in str(info.value)
    assert "hunter2" not in caplog.text


def test_an_empty_base_url_in_the_environment_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYMBL_BASE_URL", "")
    with pytest.raises(ValidationError) as info:
        SymblClient(app_id="a", app_secret="b")
    assert info.value.field == "base_url" and "SYMBL_BASE_URL" in str(info.value)


def test_a_base_url_with_a_proxy_prefix_is_allowed_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="symbl_async")
    client = SymblClient(app_id="a", app_secret="b", base_url="https://gw.test/symbl/")
    assert client.base_url == "https://gw.test/symbl"
    assert "has a path" in caplog.text and "/symbl" in caplog.text
    caplog.clear()
    SymblClient(app_id="a", app_secret="b", base_url="https://gw.test/")
    assert caplog.text == ""


async def test_submit_takes_exactly_one_source_that_fits_its_kind() -> None:
    async with SymblClient(app_id="a", app_secret="b", base_url="http://127.0.0.1:9") as client:
        for kwargs, field in (
            ({"kind": "audio"}, "submit"),
            ({"kind": "audio", "url": "https://m.test/a.mp3", "messages": []}, "submit"),
            ({"kind": "text", "url": "https://m.test/a.mp3"}, "kind"),
            ({"kind": "audio", "messages": [{"payload": {"content": "hi"}}]}, "kind"),
            ({"kind": "image", "url": "https://m.test/a.png"}, "kind"),
        ):
            with pytest.raises(ValidationError) as info:
                await client.submit(**kwargs)
            assert info.value.field == field, kwargs
