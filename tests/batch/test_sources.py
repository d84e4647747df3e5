"""Sources: coercion, stable keys, folder walks and lazy manifests."""

from __future__ import annotations

import enum
import json
import os
import re
from pathlib import Path

import attrs
import pytest

from symbl_async.batch._sources import (
    FileSource,
    SourceError,
    TextSource,
    UrlSource,
    canonical_options,
    coerce_source,
    describe_source,
    expand_inputs,
    item_key,
    read_manifest,
    submit_name,
)
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
    assert submit_name(key) == "symbl-async-" + key[:24]
    assert submit_name("call-0001") == submit_name("call-0001")
    assert re.fullmatch(r"symbl-async-[0-9a-f]{24}", submit_name("call-0001"))
    assert submit_name("call-0001") != submit_name("call-0002")


def test_unreadable_file_key_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"missing\.wav") as info:
        item_key(FileSource(tmp_path / "missing.wav"))
    assert info.value.field == "path"


def test_describe_source() -> None:
    assert describe_source(FileSource("/r/a.wav")) == "/r/a.wav"
    assert describe_source(UrlSource("https://x.example/a", "audio")) == "https://x.example/a"
    assert describe_source(TextSource(MESSAGES)) == "text: 1 message(s)"


# --- inputs ---------------------------------------------------------------------------


def test_folders_are_walked_recursively_sorted_media_only(tmp_path: Path) -> None:
    root = tmp_path / "rec"
    for name in ["b.wav", "a.MP3", "notes.txt", "sub/c.mp4", "sub/deep/d.flac", "z.ogg",
                 ".hidden.wav", "._a.wav", ".cache/e.wav", "sub/readme.md"]:
        write(root / name)
    (root / "empty").mkdir()
    got = list(expand_inputs([root]))
    assert got == [
        FileSource(root / "a.MP3"),
        FileSource(root / "b.wav"),
        FileSource(root / "sub/c.mp4"),
        FileSource(root / "sub/deep/d.flac"),
        FileSource(root / "z.ogg"),
    ]
    assert got[2].kind == "video"  # type: ignore[union-attr]


def test_inputs_mix_urls_files_and_missing_paths(tmp_path: Path) -> None:
    notes = write(tmp_path / "call.raw")
    missing = tmp_path / "nope.wav"
    url = "https://cdn.example.com/x.mp4"
    got = list(expand_inputs([url, str(notes), missing, "ftp://h/x.wav"]))
    assert got[0] == UrlSource(url, "video")
    assert got[1] == FileSource(notes)  # named on purpose: taken whatever its extension
    assert isinstance(got[2], SourceError)
    assert got[2].origin == str(missing)
    assert str(missing) in str(got[2]) and "no such file" in str(got[2])
    assert isinstance(got[3], SourceError)


def test_expand_inputs_is_lazy(tmp_path: Path) -> None:
    def inputs() -> object:
        yield str(write(tmp_path / "a.wav"))
        raise AssertionError("read past the first item")

    first = next(expand_inputs(inputs()))  # type: ignore[arg-type]
    assert first == FileSource(tmp_path / "a.wav")


# --- manifests ------------------------------------------------------------------------


def test_csv_manifest(tmp_path: Path) -> None:
    write(tmp_path / "media" / "a.wav")
    write(tmp_path / "abs.mp4")
    manifest = tmp_path / "batch.csv"
    manifest.write_text(
        "source,duration,key,kind,options\n"
        "media/a.wav,12.5,,,\n"
        f"{tmp_path / 'abs.mp4'},,k2,,\"{{\"\"languageCode\"\": \"\"es-ES\"\"}}\"\n"
        "\n"
        "https://cdn.example.com/x,60,,video,\n"
        "\"[{\"\"payload\"\": {\"\"content\"\": \"\"hi\"\"}}]\",,,text,\n",
        encoding="utf-8",
    )
    got = list(read_manifest(manifest))
    assert got == [
        FileSource(tmp_path / "media" / "a.wav", duration=12.5),
        FileSource(tmp_path / "abs.mp4", key="k2", options={"languageCode": "es-ES"}),
        UrlSource("https://cdn.example.com/x", "video", duration=60.0),
        TextSource([{"payload": {"content": "hi"}}]),
    ]


def test_csv_malformed_rows_name_their_lines_and_the_batch_goes_on(tmp_path: Path) -> None:
    write(tmp_path / "a.wav")
    manifest = tmp_path / "batch.csv"
    manifest.write_bytes(
        b"\xef\xbb\xbfsource,duration,options\n"  # a BOM, as Excel writes
        b"a.wav,abc,\n"  # 2: bad duration
        b"a.wav,1,2,3\n"  # 3: too many fields
        b"missing.wav,,\n"  # 4: no such file
        b"\"multi\nline.wav\",-5,\n"  # 5-6: negative duration, reported at its first line
        b"a.wav,,[1]\n"  # 7: options not an object
        b",3,\n"  # 8: no source
        b"caf\xe9.wav,,\n"  # 9: not UTF-8
        b"a.wav,7,\n"  # 10: fine
    )
    got = list(read_manifest(manifest))
    errors = [g for g in got if isinstance(g, SourceError)]
    assert [(e.line, e.message.split(":")[0]) for e in errors] == [
        (2, "duration"),
        (3, "expected 3 fields, got 4"),
        (4, "source"),
        (5, "duration"),
        (7, "options"),
        (8, "source"),
        (9, "not valid UTF-8"),
    ]
    assert errors[0].raw == "a.wav,abc,"
    assert str(errors[0]).startswith(f"{manifest} line 2: duration")
    assert "missing.wav" in errors[2].message
    assert got[-1] == FileSource(tmp_path / "a.wav", duration=7.0)


def test_csv_row_over_the_field_size_limit_fails_alone(tmp_path: Path) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        "source,key\n"
        f"https://x.example/a.wav,{'k' * 200_000}\n"
        "https://x.example/b.wav,ok\n"
    )
    first, second = read_manifest(manifest)
    assert isinstance(first, SourceError)
    assert (first.line, first.message.split(":")[0]) == (2, "bad CSV")
    assert first.raw is not None and len(first.raw) == 500
    assert second == UrlSource("https://x.example/b.wav", "audio", key="ok")


@pytest.mark.parametrize(
    ("header", "rule"),
    [("path,duration\n", "source"), ("source,durtion\n", "durtion"), ("", "empty")],
)
def test_csv_bad_header_refuses_the_manifest(tmp_path: Path, header: str, rule: str) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text(header + "a.wav,1\n" if header else "")
    with pytest.raises(ValidationError, match=rule) as info:
        read_manifest(manifest)
    assert info.value.field == "manifest"


def test_jsonl_manifest_with_malformed_lines(tmp_path: Path) -> None:
    write(tmp_path / "a.wav")
    rows = [
        json.dumps({"source": "a.wav", "duration": 3, "options": {"mode": "phone"}}),
        "{not json",
        json.dumps(["a list"]),
        "",
        json.dumps({"source": "https://cdn.example.com/v.mp4", "key": "v1"}),
        json.dumps({"source": MESSAGES, "key": "t1"}),
        json.dumps({"source": "a.wav", "duration": True}),
        json.dumps({"source": "a.wav", "color": "red"}),
        json.dumps({"source": "a.wav", "kind": "image"}),
        json.dumps({"source": MESSAGES, "kind": "audio"}),
    ]
    manifest = tmp_path / "m.jsonl"
    manifest.write_bytes(("\n".join(rows) + "\n").encode() + b'{"source": "caf\xe9.wav"}\n')
    got = list(read_manifest(manifest))
    assert got[0] == FileSource(tmp_path / "a.wav", duration=3, options={"mode": "phone"})
    assert got[3] == UrlSource("https://cdn.example.com/v.mp4", "video", key="v1")
    assert got[4] == TextSource(MESSAGES, key="t1")
    errors = [(g.line, g.message.split(":")[0]) for g in got if isinstance(g, SourceError)]
    assert errors == [
        (2, "not a JSON object"),
        (3, "not a JSON object"),
        (7, "duration"),
        (8, "color"),
        (9, "kind"),
        (10, "kind"),
        (11, "not a JSON object"),
    ]
    assert "not valid UTF-8" in str(got[-1])


@pytest.mark.parametrize("name", ["m.txt", "m.json", "m"])
def test_unknown_manifest_extension_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValidationError, match="csv") as info:
        read_manifest(tmp_path / name)
    assert info.value.field == "manifest"


def test_missing_manifest_is_refused_at_once(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"nope\.jsonl"):
        read_manifest(tmp_path / "nope.jsonl")


def _os_position(path: Path) -> int:
    """Offset of this process's open file description of ``path`` (Linux /proc)."""
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == str(path):
                info = Path(f"/proc/self/fdinfo/{fd}").read_text()
                return int(info.split("pos:")[1].split()[0])
        except OSError:
            continue
    raise AssertionError(f"{path} is not open")


@pytest.mark.skipif(not Path("/proc/self/fdinfo").is_dir(), reason="needs Linux /proc")
@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_manifest_is_read_lazily(tmp_path: Path, fmt: str) -> None:
    manifest = tmp_path / f"big.{fmt}"
    with manifest.open("w") as f:
        if fmt == "csv":
            f.write("source,duration,key\n")
        for i in range(100_000):
            url = f"https://cdn.example.com/rec/{i:06d}.wav"
            if fmt == "csv":
                f.write(f"{url},{i % 600},key-{i}\n")
            else:
                f.write(json.dumps({"source": url, "duration": i % 600, "key": f"key-{i}"}) + "\n")
    size = manifest.stat().st_size
    rows = read_manifest(manifest)
    first = [next(rows) for _ in range(10)]
    assert [s.key for s in first] == [f"key-{i}" for i in range(10)]
    position = _os_position(manifest)
    assert 0 < position <= 64 * 1024 < size // 50
    rows.close()


def test_a_folder_walk_reports_every_entry_it_leaves_out(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.mp3").write_bytes(b"x")
    for name in ("a.wav", "c.mkv", "notes", ".hidden.wav"):
        (tmp_path / name).write_bytes(b"x")
    os.symlink(tmp_path / "missing.wav", tmp_path / "dangling.wav")
    os.symlink(tmp_path / "sub", tmp_path / "loop")
    os.mkfifo(tmp_path / "pipe.wav")
    skipped: list[tuple[str, str]] = []
    found = list(expand_inputs([tmp_path], on_skip=lambda p, r: skipped.append((p, r))))
    assert [Path(s.path).name for s in found if isinstance(s, FileSource)] == ["a.wav", "b.mp3"]
    assert sorted((Path(p).name, r) for p, r in skipped) == [
        (".hidden.wav", "hidden"),
        ("c.mkv", "not a supported media file (.mkv)"),
        ("dangling.wav", "broken link"),
        ("loop", "symlinked folder (not followed)"),
        ("notes", "not a supported media file (no extension)"),
        ("pipe.wav", "not a regular file"),
    ]
    # Without a callback, the walk is as before: silent.
    assert len(list(expand_inputs([tmp_path]))) == 2
