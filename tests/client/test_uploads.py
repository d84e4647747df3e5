"""Preparing uploads: content type, size, duration, streaming, without sending anything."""

from __future__ import annotations

import io
import tempfile
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from _media_samples import aiff_bytes, flac_bytes, mp3_bytes, opus_bytes

from symbl_async import ValidationError
from symbl_async.client._uploads import CHUNK_SIZE, prepare_upload

DEMO = Path(__file__).resolve().parents[2] / "symbl_async" / "demo_data"


def wav_bytes(seconds: float, rate: int = 8000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\x00\x00" * int(seconds * rate))
    return buf.getvalue()


def written(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


async def collect(body: object) -> bytes:
    assert hasattr(body, "__aiter__")
    return b"".join([chunk async for chunk in body])


async def test_wav_path_streams_in_chunks_with_duration(tmp_path: Path) -> None:
    path = tmp_path / "call.wav"
    data = wav_bytes(40.0)  # 640 KB: several chunks
    path.write_bytes(data)
    up = await prepare_upload(path, kind="audio")
    assert up.content_type == "audio/wav"
    assert up.size == len(data)
    assert up.duration == pytest.approx(40.0)
    chunks = [c async for c in up.body()]
    assert len(chunks) > 1 and max(len(c) for c in chunks) <= CHUNK_SIZE
    assert b"".join(chunks) == data
    assert await collect(up.body()) == data  # a fresh stream each time (replayable)


async def test_bytes_input(tmp_path: Path) -> None:
    data = wav_bytes(2.0)
    up = await prepare_upload(data, kind="audio")
    assert (up.content_type, up.size) == ("audio/wav", len(data))
    assert up.duration == pytest.approx(2.0)
    assert await collect(up.body()) == data


async def test_async_iterator_is_spooled_to_disk_and_cleaned_up() -> None:
    data = wav_bytes(3.0)
    tmp = Path(tempfile.gettempdir())
    before = set(tmp.glob("symbl-upload-*"))

    async def stream() -> AsyncIterator[bytes]:
        for i in range(0, len(data), 1000):
            yield data[i : i + 1000]

    up = await prepare_upload(stream(), kind="audio")
    assert up.size == len(data) and up.duration == pytest.approx(3.0)
    assert await collect(up.body()) == data
    spooled = set(tmp.glob("symbl-upload-*")) - before
    assert len(spooled) == 1 and next(iter(spooled)).stat().st_size == len(data)
    up.cleanup()
    assert not next(iter(spooled)).exists()


async def test_demo_mp4_is_video() -> None:
    up = await prepare_upload(DEMO / "meeting.mp4", kind="video")
    assert up.content_type == "video/mp4"
    assert up.duration is not None and up.duration > 0


async def test_content_type_argument_wins_and_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "call.bin"
    path.write_bytes(wav_bytes(1.0))
    up = await prepare_upload(path, kind="audio", content_type="audio/wave")
    assert up.content_type == "audio/wave"
    with pytest.raises(ValidationError) as info:
        await prepare_upload(path, kind="audio", content_type="text/plain")
    assert info.value.field == "content_type"


async def test_extension_used_before_header(tmp_path: Path) -> None:
    path = tmp_path / "call.mp3"
    path.write_bytes(b"ID3\x03\x00\x00\x00\x00\x00\x00" + b"\x00" * 100)
    up = await prepare_upload(path, kind="audio")
    assert up.content_type == "audio/mpeg"


async def test_other_audio_formats_go_without_content_type(tmp_path: Path) -> None:
    path = tmp_path / "call.flac"
    path.write_bytes(b"fLaC" + b"\x00" * 100)
    up = await prepare_upload(path, kind="audio")
    assert up.content_type is None  # the API auto-detects when the header is absent


@pytest.mark.parametrize(
    ("make", "field", "rule"),
    [
        (lambda p: p / "missing.wav", "file", "does not exist"),
        (lambda p: p, "file", "not a regular file"),
        (lambda p: written(p / "empty.wav", b""), "file", "is empty"),
        (lambda p: written(p / "x.dat", b"\x01\x02" * 50), "content_type", "cannot tell the media"),
    ],
)
async def test_bad_files(tmp_path: Path, make, field: str, rule: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError) as info:
        await prepare_upload(make(tmp_path), kind="audio")
    assert info.value.field == field and rule in info.value.rule


async def test_video_must_be_mp4(tmp_path: Path) -> None:
    wav = tmp_path / "clip.wav"
    wav.write_bytes(wav_bytes(1.0))
    with pytest.raises(ValidationError, match="must be MP4"):
        await prepare_upload(wav, kind="video")
    liar = tmp_path / "clip.mp4"  # an MP4 name over WAV bytes
    liar.write_bytes(wav_bytes(1.0))
    with pytest.raises(ValidationError, match=r"must be MP4 video \(found audio/wav\)"):
        await prepare_upload(liar, kind="video")
    with pytest.raises(ValidationError, match="content_type"):
        await prepare_upload(DEMO / "meeting.mp4", kind="video", content_type="video/webm")


async def test_video_given_to_audio_submit(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="use a video submit"):
        await prepare_upload(DEMO / "meeting.mp4", kind="audio")


async def test_bad_media_types() -> None:
    with pytest.raises(ValidationError, match="media"):
        await prepare_upload(b"", kind="audio")
    with pytest.raises(ValidationError, match="media"):
        await prepare_upload(12345, kind="audio")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "data", "seconds", "content_type"),
    [
        ("call.mp3", mp3_bytes(1148), 1148 * 417 * 8 / 128000, "audio/mpeg"),
        ("call.flac", flac_bytes(12.5), 12.5, None),
        ("call.aiff", aiff_bytes(3.0), 3.0, None),
        ("call.opus", opus_bytes(7.25), 7.25, None),
    ],
)
async def test_other_formats_get_a_duration_for_the_first_poll(
    tmp_path: Path, name: str, data: bytes, seconds: float, content_type: str | None
) -> None:
    from_path = await prepare_upload(written(tmp_path / name, data), kind="audio")
    from_bytes = await prepare_upload(data, kind="audio", content_type=content_type or "audio/mpeg")

    assert from_path.duration == pytest.approx(seconds, rel=1e-3)
    assert from_path.content_type == content_type
    assert from_bytes.duration == pytest.approx(seconds, rel=1e-3)


@pytest.mark.parametrize(
    ("name", "data", "rule"),
    [
        ("notes.wav", b"Speaker 1: hello\nSpeaker 2: hi\n" * 20, "looks like text"),
        ("notes.mp3", b"<html><body>Not Found</body></html>", "looks like text"),
        ("call.wav", mp3_bytes(10), "is not a WAV file (its header is audio/mpeg)"),
    ],
)
async def test_files_that_are_not_what_they_claim_are_refused_by_name(
    tmp_path: Path, name: str, data: bytes, rule: str
) -> None:
    path = written(tmp_path / name, data)

    with pytest.raises(ValidationError) as info:
        await prepare_upload(path, kind="audio")

    assert info.value.field == "file"
    assert str(path) in info.value.rule and rule in info.value.rule


async def test_text_bytes_are_refused_whatever_the_content_type() -> None:
    with pytest.raises(ValidationError) as info:
        await prepare_upload(b"just a transcript", kind="audio", content_type="audio/wav")

    assert info.value.field == "media"
    assert info.value.rule == "the media looks like text, not audio or video"
