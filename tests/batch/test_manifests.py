"""Reading inputs: folder walks, mixed inputs and lazy CSV/JSONL manifests."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from symbl_async.batch._inputs import (
    FileSource,
    SourceError,
    TextSource,
    UrlSource,
    expand_inputs,
    read_manifest,
)
from symbl_async.errors import ValidationError

MESSAGES = [{"payload": {"content": "Hello there", "contentType": "text/plain"}}]


def write(path: Path, data: bytes = b"RIFF....WAVEfmt ") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# --- inputs ---------------------------------------------------------------------------


def test_folders_are_walked_recursively_sorted_media_and_text_only(tmp_path: Path) -> None:
    root = tmp_path / "rec"
    for name in ["b.wav", "a.MP3", "notes.txt", "sub/c.mp4", "sub/deep/d.flac", "z.ogg",
                 ".hidden.wav", "._a.wav", ".cache/e.wav", "sub/readme.md"]:
        write(root / name)
    (root / "empty").mkdir()
    got = list(expand_inputs([root]))
    assert got == [
        FileSource(root / "a.MP3"),
        FileSource(root / "b.wav"),
        FileSource(root / "notes.txt"),
        FileSource(root / "sub/c.mp4"),
        FileSource(root / "sub/deep/d.flac"),
        FileSource(root / "z.ogg"),
    ]
    assert [s.kind for s in got] == [  # type: ignore[union-attr]
        "audio", "audio", "text", "video", "audio", "audio"]
    # Each keeps where it was found in the folder given: its insights go there too.
    assert [s.relative for s in got] == [  # type: ignore[union-attr]
        "a.MP3", "b.wav", "notes.txt", "sub/c.mp4", "sub/deep/d.flac", "z.ogg"]
    (direct,) = expand_inputs([root / "sub" / "c.mp4"])
    assert isinstance(direct, FileSource) and direct.relative is None


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
