"""Sources: coercion, validation and stable keys."""

from __future__ import annotations

import enum
import json
import os
import random
import re
from pathlib import Path, PurePath
from typing import Any

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
    name_parts,
)
from symbl_async.batch._items import PreparedItem, prepare_item, readable_stem, submit_name
from symbl_async.core._options import ProcessingOptions
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


def _wav(data_bytes: int) -> bytes:
    """A mono 16-bit 8 kHz WAV whose data are a fixed pattern (the same on every run)."""
    data = bytes((i * 7) % 251 for i in range(data_bytes))
    return (b"RIFF" + (36 + len(data)).to_bytes(4, "little") + b"WAVEfmt "
            + (16).to_bytes(4, "little") + (1).to_bytes(2, "little")
            + (1).to_bytes(2, "little") + (8000).to_bytes(4, "little")
            + (16000).to_bytes(4, "little") + (2).to_bytes(2, "little")
            + (16).to_bytes(2, "little") + b"data" + len(data).to_bytes(4, "little") + data)


# Keys recorded by earlier versions (computed with the code of 5f6f597): a key that
# changed between versions would make a rerun after an upgrade pay for every item again.
# Sizes: under one MiB, between one and two (the ends overlap), over two.
RECORDED_FILE_KEYS = {
    1600: ("752ca1c5e17d26ccb7451cfdc84fa374b12bddcf4292e841721e50e9ac85d305",
           "33b9e4c90468c4c123a43f76643774da51dad98dabf2911cbd372e552ccbb7d6"),
    1_500_000: ("c1e26e7a4d1f7c00d07acbcae5fa58f6f153e069fed5198e9a3f008475621833",
                "089d21f45655f2e0ba0492efcf2c45094f3b98b6153b6ce0d2abeb31b25ab43e"),
    2_700_000: ("fea699f2af546e05c2e29be77fffe823f30c31fe9ba7adbcba5ca25784df1817",
                "a25a7a9e33de89f268d8c94f7c8d23878c7f313be8828cc5aa1c1eb6627f9d5d"),
}


@pytest.mark.parametrize("data_bytes", sorted(RECORDED_FILE_KEYS))
def test_file_keys_are_the_ones_earlier_versions_recorded(
    tmp_path: Path, data_bytes: int
) -> None:
    f = write(tmp_path / "call.wav", _wav(data_bytes))
    plain, english = RECORDED_FILE_KEYS[data_bytes]
    us = ProcessingOptions(language_code="en-US")
    assert item_key(FileSource(f)) == plain
    assert item_key(FileSource(f), us) == english
    # The batch's check reads the file once for its probe and its key: the same keys.
    for options, key in ((None, plain), (us, english)):
        prepared = prepare_item(f, options)
        assert isinstance(prepared, PreparedItem), prepared
        assert prepared.key == key
        assert prepared.duration == pytest.approx(data_bytes / 16000)


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


@pytest.mark.parametrize(
    ("make", "rule"),
    [
        (lambda p: p / "missing.wav", "does not exist"),
        (lambda p: p / "a.wav" / "below.wav", "does not exist"),  # a file as a folder
        (lambda p: p / "dangling.wav", "does not exist"),
        (lambda p: p, "is not a regular file"),
        # Not opened: opening a FIFO would wait for a writer.
        pytest.param(lambda p: _fifo(p / "pipe.wav"), "is not a regular file",
                     marks=pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs")),
        (lambda p: write(p / "empty.wav", b""), "is empty"),
        (lambda p: write(p / "notes.bin", b"plain words, not audio"),
         "is not a supported audio or video file"),
        (lambda p: FileSource(p / "a.wav", kind="video"), "must be MP4 video"),
    ],
)
def test_a_file_the_batch_cannot_send_fails_before_any_request_saying_why(
    tmp_path: Path, make: Any, rule: str
) -> None:
    write(tmp_path / "a.wav", _wav(1600))
    os.symlink(tmp_path / "gone.wav", tmp_path / "dangling.wav")
    given = make(tmp_path)
    result = prepare_item(given, None)
    assert not isinstance(result, PreparedItem)
    assert result.status == "failed" and result.key is None
    assert isinstance(result.exception, ValidationError)
    assert result.exception.field == "file"
    assert rule in str(result.error)


def test_a_file_that_cannot_be_looked_at_fails_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A folder the run may not search (EACCES on the stat): that input fails, saying why;
    # before, the PermissionError left the check and ended the whole batch's input.
    f = write(tmp_path / "locked" / "a.wav", _wav(1600))
    real_stat = os.stat

    def stat(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        if os.fspath(path) == str(f):
            raise PermissionError(13, "Permission denied", str(f))
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", stat)
    result = prepare_item(f, None)
    assert not isinstance(result, PreparedItem)
    assert isinstance(result.exception, ValidationError)
    assert result.exception.field == "file"
    assert "cannot be read: Permission denied" in str(result.error)


def test_url_and_text_keys_are_the_ones_earlier_versions_recorded() -> None:
    assert item_key(UrlSource("https://media.test/a.mp3", "audio")) == (
        "f04ea93752d8be44b706865f9e0a23064f817a929c3a77d3571fef7d23124bfa")
    assert item_key(TextSource([{"payload": {"content": "hi"}, "from": {"name": "A"}}])) == (
        "c9b24916d3b7717c98db6683f7435b284f5fc41d31e850ccd6e1180add2c5c65")


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
        ("/rec/take.2.tar.gz", "take.2.tar"),
        ("/rec/.hidden", "hidden"),
        ("/rec/..a", "item"),  # pathlib's stem: "."
        ("/rec/a.", "a"),
        ("/rec/sub/", "sub"),
        ("/rec/sub/.", "sub"),
        ("https://cdn.example.com/x/y.z.mp3", "y.z"),
    ],
)
def test_names_are_readable_after_the_input(label: str, stem: str) -> None:
    assert readable_stem(label) == stem
    key = "f" * 64
    assert submit_name(key, label) == f"{stem}-ffffffffffff"


@pytest.mark.parametrize(
    ("path", "parts"),
    [
        ("a.wav", ("a", ".wav")), ("/r/x.tar.gz", ("x.tar", ".gz")), (".hidden", (".hidden", "")),
        ("..a", (".", ".a")), ("a.", ("a.", "")), ("a..", ("a..", "")), ("noext", ("noext", "")),
        ("/r/sub/", ("sub", "")), ("/r/sub/.", ("sub", "")), ("", ("", "")), ("/", ("", "")),
        ("/r/..", ("..", "")), ("C.D/e", ("e", "")),
    ],
)
def test_name_parts_are_pathlibs_stem_and_suffix(path: str, parts: tuple[str, str]) -> None:
    assert name_parts(path) == parts


def test_name_parts_agree_with_pathlib_on_random_paths() -> None:
    rng = random.Random(7)
    for _ in range(20_000):
        path = "".join(rng.choice("ab./ .-") for _ in range(rng.randint(0, 9)))
        if path.rstrip("/").endswith("."):
            continue  # a trailing dot: Python 3.14's pathlib calls it a suffix, 3.11's not
        pure = PurePath(path)
        assert name_parts(path) == (pure.stem, pure.suffix), path


def test_unreadable_file_key_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"missing\.wav") as info:
        item_key(FileSource(tmp_path / "missing.wav"))
    assert info.value.field == "path"


def test_describe_source() -> None:
    assert describe_source(FileSource("/r/a.wav")) == "/r/a.wav"
    assert describe_source(UrlSource("https://x.example/a", "audio")) == "https://x.example/a"
    assert describe_source(TextSource(MESSAGES)) == "text: 1 message(s)"
