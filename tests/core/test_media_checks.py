"""core._media_checks: telling text (and non-WAV under a WAV name) from media, on bytes."""

from __future__ import annotations

import io
import wave

import pytest

from symbl_async.core import looks_like_text, media_header_problem, sniff_content_type


def wav_bytes() -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x00" * 800)
    return buf.getvalue()


@pytest.mark.parametrize(
    "head",
    [
        b"Speaker 1: hello there\r\nSpeaker 2: hi\n",
        b"<!DOCTYPE html><html><body>404 Not Found</body></html>",
        '{"messages": [{"payload": {"content": "caf\u00e9 \u00fcber"}}]}'.encode(),
        "\u00e9t\u00e9 ".encode() * 3000,  # a two-byte character cut at 8 KB
    ],
)
def test_text_is_recognised(head: bytes) -> None:
    assert looks_like_text(head)
    assert media_header_problem(head, "audio/wav", sniff_content_type(head)) == (
        "looks like text, not audio or video"
    )
    assert media_header_problem(head, None, None) == "looks like text, not audio or video"


@pytest.mark.parametrize(
    "head",
    [
        b"",
        wav_bytes(),
        b"ID3\x03\x00\x00\x00\x00\x00\x00" + b"\x00" * 100,
        bytes([0xFF, 0xFB, 0x90, 0x00]) + b"\x00" * 100,
        b"\x01\x02\x03\xfe\xff" * 20,  # binary, not UTF-8
        b"abc\x00def",  # a NUL byte
        bytes(range(1, 32)) * 4,  # control characters, no NUL
    ],
)
def test_media_and_binary_are_not_text(head: bytes) -> None:
    assert not looks_like_text(head)


def test_a_wav_claim_needs_a_riff_header() -> None:
    mp3 = bytes([0xFF, 0xFB, 0x90, 0x00]) + b"\x00" * 100

    assert media_header_problem(wav_bytes(), "audio/wav", "audio/wav") is None
    assert media_header_problem(mp3, "audio/wav", sniff_content_type(mp3)) == (
        "is not a WAV file (its header is audio/mpeg)"
    )
    assert media_header_problem(b"\x01\x02" * 50, "audio/x-wav", None) == (
        "is not a WAV file (its header is not RIFF/WAVE)"
    )
    # Other formats are not held to a signature: MP3s may start with junk.
    assert media_header_problem(b"\x01\x02" * 50, "audio/mpeg", None) is None
