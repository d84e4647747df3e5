"""Sources: coercion, validation and stable keys."""

from __future__ import annotations

import enum
import json
import os
import re
from pathlib import Path

import attrs
import pytest

from symbl_async.batch._inputs import (
    FileSource,
    TextSource,
    UrlSource,
    canonical_options,
    coerce_source,
    describe_source,
    item_key,
)
from symbl_async.batch._items import readable_stem, submit_name
from symbl_async.errors import ValidationError

MESSAGES = [{"payload": {"content": "Hello there", "contentType": "text/plain"}}]


class Mode(str, enum.Enum):
    PHONE = "phone"


@attrs.frozen
class Vocab:
    words: tuple[str, ...]


@attrs.frozen(kw_only=True)
class Options:
    """Stands in for the package's ProcessingOptions: snake_case attrs, None = not sent."""

    language_code: str | None = None
    confidence_threshold: float | None = None
    mode: Mode | None = None
    vocab: Vocab | None = None
    name: str | None = None
    webhook_url: str | None = None


def write(path: Path, data: bytes = b"RIFF....WAVEfmt ") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# --- coercion -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("https://cdn.example.com/call.mp4", "video"),
        ("http://cdn.example.com/a/b.MOV?sig=1", "video"),
        ("https://cdn.example.com/x.m4v", "video"),
        ("https://cdn.example.com/call.wav", "audio"),
        ("https://cdn.example.com/stream", "audio"),
        ("HTTPS://cdn.example.com/call.mp3", "audio"),
    ],
)
def test_urls_become_url_sources_with_kind_from_extension(url: str, kind: str) -> None:
    assert coerce_source(url) == UrlSource(url, kind)  # type: ignore[arg-type]


def test_paths_messages_and_sources() -> None:
    assert coerce_source("rec/a.wav") == FileSource(Path("rec/a.wav"))
    assert coerce_source(Path("rec/b.MP4")).kind == "video"  # type: ignore[union-attr]
    text = coerce_source({"messages": MESSAGES, "key": "k1"})
    assert text == TextSource(MESSAGES, key="k1")
    source = UrlSource("https://x.example/a.wav", "audio", duration=3.0)
    assert coerce_source(source) is source


@pytest.mark.parametrize("bad", ["ftp://host/a.wav", "s3://bucket/a.wav", 42, {"url": "x"}])
def test_unsupported_items_are_refused(bad: object) -> None:
    with pytest.raises(ValidationError):
        coerce_source(bad)


def test_source_fields_are_validated() -> None:
    with pytest.raises(ValidationError, match="duration"):
        FileSource("a.wav", duration=-1)
    with pytest.raises(ValidationError, match="kind"):
        UrlSource("https://x.example/a.wav", "text")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="key"):
        UrlSource("https://x.example/a.wav", "audio", key="")
    with pytest.raises(ValidationError, match=r"messages\[0\]"):
        TextSource([{"payload": {}}])
    with pytest.raises(ValidationError, match="messages"):
        TextSource([])


# --- keys -----------------------------------------------------------------------------


def test_canonical_options_are_order_and_spelling_independent() -> None:
    attrs_form = Options(language_code="en-US", mode=Mode.PHONE, vocab=Vocab(("a", "b")))
    mapping_form = {"vocab": {"words": ["a", "b"]}, "mode": "phone", "languageCode": "en-US"}
    assert canonical_options(attrs_form) == canonical_options(mapping_form)
    assert canonical_options(attrs_form) == (
        '{"language_code":"en-US","mode":"phone","vocab":{"words":["a","b"]}}'
    )
    assert canonical_options(None) == canonical_options({}) == canonical_options(Options()) == "{}"
    assert canonical_options({"confidenceThreshold": 1}) == canonical_options(
        Options(confidence_threshold=1.0)
    )
    with pytest.raises(ValidationError, match="options"):
        canonical_options({"x": object()})
    with pytest.raises(ValidationError, match="options"):
        canonical_options(["not", "a", "mapping"])


def test_file_key_is_stable_and_follows_content_not_place(tmp_path: Path) -> None:
    a = write(tmp_path / "a.wav", b"x" * 5000)
    key = item_key(FileSource(a))
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    assert item_key(FileSource(a)) == key
    os.utime(a, (1, 1))  # touched
    (tmp_path / "moved").mkdir()
    moved = a.rename(tmp_path / "moved" / "renamed.wav")
    assert item_key(FileSource(moved)) == key
    write(moved, b"x" * 4999 + b"y")  # changed, same size
    assert item_key(FileSource(moved)) != key


def test_large_file_key_sees_both_ends(tmp_path: Path) -> None:
    size = 3 * (1 << 20)
    f = write(tmp_path / "big.wav", b"\0" * size)
    key = item_key(FileSource(f))
    with f.open("r+b") as handle:
        handle.seek(size - 1)
        handle.write(b"\1")
    assert item_key(FileSource(f)) != key


def test_options_change_the_key_but_webhook_and_name_do_not(tmp_path: Path) -> None:
    f = write(tmp_path / "a.wav")
    plain = item_key(FileSource(f))
    assert item_key(FileSource(f, options=Options(language_code="es-ES"))) != plain
    assert item_key(FileSource(f, options=Options(webhook_url="https://h.example/1"))) == plain
    assert item_key(FileSource(f, options={"name": "mine"})) == plain
    assert item_key(FileSource(f, duration=12.0)) == plain


def test_url_and_text_keys(tmp_path: Path) -> None:
    url = "https://cdn.example.com/call.wav"
    assert item_key(UrlSource(url, "audio")) == item_key(UrlSource(url, "audio"))
    assert item_key(UrlSource(url, "audio")) != item_key(UrlSource(url, "video"))
    assert item_key(UrlSource(url, "audio")) != item_key(UrlSource(url + "?v=2", "audio"))
    assert item_key(TextSource(MESSAGES)) == item_key(TextSource(json.loads(json.dumps(MESSAGES))))
    other = [{"payload": {"content": "Bye"}}]
    assert item_key(TextSource(MESSAGES)) != item_key(TextSource(other))


def test_caller_key_wins_and_names_are_short_and_deterministic(tmp_path: Path) -> None:
    f = write(tmp_path / "a.wav")
    assert item_key(FileSource(f, key="call-0001")) == "call-0001"
    assert item_key(FileSource(tmp_path / "missing.wav", key="k")) == "k"  # file not read
    key = item_key(FileSource(f))
    assert submit_name(key, str(f)) == "a-" + key[:12]
    assert submit_name("call-0001") == submit_name("call-0001")
    assert re.fullmatch(r"item-[0-9a-f]{12}", submit_name("call-0001"))
    assert submit_name("call-0001") != submit_name("call-0002")


@pytest.mark.parametrize(
    ("label", "stem"),
    [
        ("/rec/My Call 01.wav", "My-Call-01"),
        ("https://cdn.example.com/a/call%20two.mp3?sig=x", "call-two"),
        ("https://cdn.example.com/", "cdn.example.com"),
        ("text: 3 message(s)", "text"),
        ("/rec/réunion.m4a", "réunion"),
        ("/rec/" + "x" * 80 + ".wav", "x" * 40),
        ("/rec/###.wav", "item"),
    ],
)
def test_names_are_readable_after_the_input(label: str, stem: str) -> None:
    assert readable_stem(label) == stem
    key = "f" * 64
    assert submit_name(key, label) == f"{stem}-ffffffffffff"


def test_unreadable_file_key_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"missing\.wav") as info:
        item_key(FileSource(tmp_path / "missing.wav"))
    assert info.value.field == "path"


def test_describe_source() -> None:
    assert describe_source(FileSource("/r/a.wav")) == "/r/a.wav"
    assert describe_source(UrlSource("https://x.example/a", "audio")) == "https://x.example/a"
    assert describe_source(TextSource(MESSAGES)) == "text: 1 message(s)"
