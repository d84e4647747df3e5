"""Media helpers: sniffing, extensions, WAV headers, the incremental MP4 parser, probing."""

from __future__ import annotations

import io
import struct
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from symbl_async.core import _media as media
from symbl_async.core._media import (
    AUDIO_CONTENT_TYPES,
    VIDEO_CONTENT_TYPES,
    MediaProbe,
    Mp4DurationParser,
    content_type_from_extension,
    probe_file,
    sniff_content_type,
    wav_duration,
)

DEMO = Path(__file__).resolve().parents[2] / "symbl_async" / "demo_data"


# --- builders ---------------------------------------------------------------------------


def make_wav(seconds: float, *, rate: int = 8000, channels: int = 1, width: int = 2) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(b"\x00" * int(seconds * rate) * channels * width)
    return buf.getvalue()


def with_list_chunk(wav_bytes: bytes, payload: bytes) -> bytes:
    """Insert a LIST chunk (odd sizes get a pad byte) between fmt and data."""
    at = wav_bytes.index(b"data")
    chunk = b"LIST" + struct.pack("<I", len(payload)) + payload + b"\x00" * (len(payload) & 1)
    body = wav_bytes[12:at] + chunk + wav_bytes[at:]
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body


def box(kind: bytes, payload: bytes = b"", *, large: bool = False) -> bytes:
    if large:
        return struct.pack(">I4sQ", 1, kind, 16 + len(payload)) + payload
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def mvhd(seconds: float, *, version: int = 0, timescale: int = 600) -> bytes:
    units = round(seconds * timescale)
    if version == 1:
        head = struct.pack(">B3xQQIQ", 1, 0, 0, timescale, units)
    else:
        head = struct.pack(">B3xIIII", 0, 0, 0, timescale, units)
    return box(b"mvhd", head + bytes(80))  # rate, volume, matrix, next track id


def ftyp() -> bytes:
    return box(b"ftyp", b"isom\x00\x00\x02\x00isomiso2mp41")


def moov(seconds: float, *, version: int = 0, large: bool = False) -> bytes:
    return box(b"moov", box(b"udta", b"x" * 13) + mvhd(seconds, version=version), large=large)


def mp4(
    seconds: float, *, mdat_size: int = 1000, moov_first: bool = True, version: int = 0
) -> bytes:
    mdat = box(b"mdat", bytes(mdat_size))
    parts = (
        [moov(seconds, version=version), mdat]
        if moov_first
        else [mdat, moov(seconds, version=version)]
    )
    return ftyp() + b"".join(parts)


def chunks(data: bytes, size: int) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


# --- sniffing and extensions -------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (make_wav(0.1)[:16], "audio/wav"),
        (b"ID3\x04\x00\x00\x00\x00\x00\x00", "audio/mpeg"),
        (b"\xff\xfb\x90\x64" + bytes(8), "audio/mpeg"),  # MPEG-1 layer III frame
        (b"\xff\xf3\x90\x64" + bytes(8), "audio/mpeg"),  # MPEG-2 layer III frame
        (b"\xff\xf1\x50\x80" + bytes(8), "audio/aac"),  # ADTS: same sync, layer bits 00
        (ftyp()[:16], "video/mp4"),
        (b"fLaC\x00\x00\x00\x22" + bytes(8), "audio/flac"),
        (b"OggS\x00\x02" + bytes(10), "audio/ogg"),
        (b"#!AMR\n" + bytes(6), "audio/amr"),
        (b"FORM\x00\x00\x10\x00AIFF", "audio/aiff"),
        (b"RIFF\x00\x00\x00\x00AVI ", None),
        (b"hello world, not media", None),
        (b"", None),
        (b"\xff", None),
    ],
)
def test_sniff_content_type(head: bytes, expected: str | None) -> None:
    assert sniff_content_type(head) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("call.wav", "audio/wav"),
        ("/a/b/CALL.WAV", "audio/wav"),
        ("song.mp3", "audio/mpeg"),
        ("video.mp4", "video/mp4"),
        ("video.m4v", "video/mp4"),
        ("voice.m4a", "audio/mp4"),
        ("x.flac", "audio/flac"),
        ("x.ogg", "audio/ogg"),
        ("x.opus", "audio/opus"),
        ("x.aac", "audio/aac"),
        ("x.amr", "audio/amr"),
        ("x.aiff", "audio/aiff"),
        ("x.wma", "audio/x-ms-wma"),
        ("x.ac3", "audio/ac3"),
        ("notes.txt", None),
        ("no_extension", None),
    ],
)
def test_content_type_from_extension(name: str, expected: str | None) -> None:
    assert content_type_from_extension(name) == expected


def test_documented_upload_types() -> None:
    assert {"audio/wav", "audio/wave", "audio/mpeg", "audio/mp3"} == AUDIO_CONTENT_TYPES
    assert {"video/mp4"} == VIDEO_CONTENT_TYPES


# --- WAV ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "rate", "channels", "width"),
    [(2.0, 8000, 1, 2), (1.5, 44100, 2, 2), (0.25, 16000, 1, 1)],
)
def test_wav_duration_from_header(seconds: float, rate: int, channels: int, width: int) -> None:
    data = make_wav(seconds, rate=rate, channels=channels, width=width)
    assert wav_duration(data[:44]) == pytest.approx(seconds)


def test_wav_duration_steps_over_extra_chunks() -> None:
    data = with_list_chunk(make_wav(3.0), b"INFOISFT\x05\x00\x00\x00demo\x00")  # odd size
    assert wav_duration(data[:200]) == pytest.approx(3.0)


@pytest.mark.parametrize(
    "head",
    [
        b"",
        b"RIFF\x00\x00\x00\x00WAVE",  # no chunks
        make_wav(1.0)[:30],  # cut inside fmt
        b"RIFF\x24\x00\x00\x00WAVEdata\x10\x00\x00\x00",  # data before any fmt
        mp4(1.0)[:64],
    ],
)
def test_wav_duration_unreadable(head: bytes) -> None:
    assert wav_duration(head) is None


def test_wav_duration_unknown_size_of_a_streamed_wav() -> None:
    head = bytearray(make_wav(1.0)[:44])
    head[40:44] = b"\xff\xff\xff\xff"
    assert wav_duration(bytes(head)) is None


# --- MP4 parser --------------------------------------------------------------------------


@pytest.mark.parametrize("chunk_size", [1, 7, 4096])
@pytest.mark.parametrize("moov_first", [True, False])
@pytest.mark.parametrize("version", [0, 1])
def test_mp4_parser_in_chunks(chunk_size: int, moov_first: bool, version: int) -> None:
    data = mp4(95.5, mdat_size=20_000, moov_first=moov_first, version=version)
    parser = Mp4DurationParser()
    for chunk in chunks(data, chunk_size):
        parser.feed(chunk)
    assert parser.duration == pytest.approx(95.5)
    assert parser.done and parser.error is None


def test_mp4_parser_counts_over_a_large_mdat_without_buffering() -> None:
    mdat_size = 64 * 1024 * 1024
    parser = Mp4DurationParser()
    parser.feed(ftyp() + struct.pack(">I4s", 8 + mdat_size, b"mdat"))
    zeros = bytes(1 << 20)
    for _ in range(mdat_size >> 20):
        parser.feed(zeros)
        assert parser.duration is None and not parser.done
    parser.feed(moov(3600.0))
    assert parser.duration == pytest.approx(3600.0)
    assert len(parser._header) == 0 and parser._payload is None  # nothing held


def test_mp4_parser_stops_reading_once_found() -> None:
    parser = Mp4DurationParser()
    parser.feed(ftyp() + moov(12.0))
    assert parser.done and parser.duration == pytest.approx(12.0)
    parser.feed(b"\x00" * 10)  # trailing bytes are ignored
    assert parser.duration == pytest.approx(12.0)


@pytest.mark.parametrize("chunk_size", [1, 7, 4096])
def test_mp4_parser_64_bit_sizes(chunk_size: int) -> None:
    data = ftyp() + box(b"mdat", bytes(5000), large=True) + moov(42.0, version=1, large=True)
    parser = Mp4DurationParser()
    for chunk in chunks(data, chunk_size):
        parser.feed(chunk)
    assert parser.duration == pytest.approx(42.0)


def test_mp4_parser_skip_over_a_huge_64_bit_mdat() -> None:
    huge = 6 * 1024**3  # bigger than 32 bits can say
    parser = Mp4DurationParser()
    parser.feed(ftyp() + struct.pack(">I4sQ", 1, b"mdat", huge))
    assert parser.skippable == huge - 16
    parser.skip(parser.skippable)
    parser.feed(moov(7.0))
    assert parser.duration == pytest.approx(7.0)
    with pytest.raises(ValueError):
        parser.skip(1)


def test_mp4_parser_size_zero_box_runs_to_end_of_file() -> None:
    after_moov = Mp4DurationParser()
    after_moov.feed(ftyp() + moov(9.0) + struct.pack(">I4s", 0, b"mdat") + bytes(100))
    assert after_moov.duration == pytest.approx(9.0)

    moov_to_eof = Mp4DurationParser()
    moov_to_eof.feed(ftyp() + struct.pack(">I4s", 0, b"moov") + mvhd(8.0))
    assert moov_to_eof.duration == pytest.approx(8.0)

    mdat_to_eof = Mp4DurationParser()
    mdat_to_eof.feed(ftyp() + struct.pack(">I4s", 0, b"mdat") + bytes(100))
    assert mdat_to_eof.done and mdat_to_eof.duration is None and mdat_to_eof.error


def test_mp4_parser_broken_and_unknown_durations() -> None:
    broken = Mp4DurationParser()
    broken.feed(ftyp() + struct.pack(">I4s", 3, b"free") + bytes(20))
    assert broken.done and broken.duration is None and "invalid box size" in (broken.error or "")

    unknown = Mp4DurationParser()
    payload = struct.pack(">B3xIIII", 0, 0, 0, 1000, 0xFFFFFFFF) + bytes(80)
    unknown.feed(ftyp() + box(b"moov", box(b"mvhd", payload)))
    assert unknown.done and unknown.duration is None

    stray = Mp4DurationParser()  # an mvhd outside moov is not the movie header
    stray.feed(ftyp() + mvhd(5.0) + moov(6.0))
    assert stray.duration == pytest.approx(6.0)


# --- MediaProbe --------------------------------------------------------------------------


@pytest.mark.parametrize("chunk_size", [1, 7, 4096, 1 << 20])
def test_probe_wav_and_mp4(chunk_size: int) -> None:
    for data, kind, seconds in [
        (make_wav(2.5), "audio/wav", 2.5),
        (mp4(30.0, mdat_size=100_000, moov_first=False), "video/mp4", 30.0),
    ]:
        probe = MediaProbe()
        for chunk in chunks(data, chunk_size):
            probe.feed(chunk)
        assert (probe.content_type, probe.size, probe.problem) == (kind, len(data), None)
        assert probe.duration == pytest.approx(seconds)
        assert len(probe.head) <= media.HEAD_LIMIT


def test_probe_wav_measures_what_arrived() -> None:
    truncated = make_wav(4.0)[: 44 + 8000 * 2]  # header says 4 s, 1 s arrived
    probe = MediaProbe()
    probe.feed(truncated)
    assert probe.duration == pytest.approx(1.0)

    streamed = bytearray(make_wav(2.0))
    streamed[40:44] = b"\xff\xff\xff\xff"
    probe = MediaProbe()
    probe.feed(bytes(streamed))
    assert probe.duration == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("data", "content_type", "problem"),
    [
        (b"", None, "empty"),
        (b"just some text, not audio", None, "could not be recognised"),
        (b"RIFF\x00\x00\x00\x00WAVEjunk", "audio/wav", "WAV header"),
        (ftyp() + box(b"mdat", bytes(50)), "video/mp4", "MP4"),
        (b"ID3\x04" + bytes(200), "audio/mpeg", None),
    ],
)
def test_probe_problems(data: bytes, content_type: str | None, problem: str | None) -> None:
    probe = MediaProbe()
    probe.feed(data)
    assert probe.content_type == content_type
    if problem is None:
        assert probe.problem is None and probe.duration is None
    else:
        assert problem in (probe.problem or "")


# --- probe_file --------------------------------------------------------------------------


class CountingReader(io.BufferedReader):
    bytes_read = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        CountingReader.bytes_read += len(data)
        return data


def test_probe_file_seeks_over_a_huge_sparse_mdat(tmp_path: Path, monkeypatch: Any) -> None:
    path = tmp_path / "long.mp4"
    mdat_size = 5 * 1024**3  # a 5 GB mdat with a 64-bit size: sparse on disk
    with open(path, "wb") as f:
        f.write(ftyp() + struct.pack(">I4sQ", 1, b"mdat", mdat_size))
        f.seek(len(ftyp()) + mdat_size)
        f.write(moov(7200.0))

    def counting_open(file: Any, mode: str = "r") -> CountingReader:
        assert mode == "rb"
        return CountingReader(io.FileIO(file, "r"))

    CountingReader.bytes_read = 0
    monkeypatch.setattr(media, "open", counting_open, raising=False)
    content_type, seconds = probe_file(path)
    assert content_type == "video/mp4" and seconds == pytest.approx(7200.0)
    assert CountingReader.bytes_read < 200_000


def test_probe_file_wav_and_extension_fallback(tmp_path: Path) -> None:
    wav_path = tmp_path / "a.wav"
    wav_path.write_bytes(with_list_chunk(make_wav(1.25), b"INFO"))
    content_type, seconds = probe_file(wav_path)
    assert content_type == "audio/wav" and seconds == pytest.approx(1.25)

    unknown_bytes = tmp_path / "b.flac"
    unknown_bytes.write_bytes(b"\x00" * 64)
    assert probe_file(unknown_bytes) == ("audio/flac", None)

    nothing = tmp_path / "c.bin"
    nothing.write_bytes(b"\x00" * 64)
    assert probe_file(nothing) == (None, None)

    with pytest.raises(OSError):
        probe_file(tmp_path / "missing.wav")


def test_bundled_demo_media() -> None:
    content_type, seconds = probe_file(DEMO / "meeting.wav")
    assert content_type == "audio/wav" and seconds is not None and 5 <= seconds <= 8
    with wave.open(str(DEMO / "meeting.wav")) as w:
        assert (w.getframerate(), w.getsampwidth(), w.getnchannels()) == (8000, 2, 1)
    assert (DEMO / "meeting.wav").stat().st_size < 150_000
    content_type, seconds = probe_file(DEMO / "meeting.mp4")
    assert content_type == "video/mp4" and seconds == pytest.approx(95.0)
