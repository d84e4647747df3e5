"""Durations of the audio formats read with mutagen, on small files built byte by byte."""

from __future__ import annotations

from pathlib import Path

import pytest
from _media_samples import aiff_bytes, flac_bytes, mp3_bytes, opus_bytes

from symbl_async import SymblClient, ValidationError
from symbl_async.client._durations import read_duration
from symbl_async.emulator import Emulator

# 1148 frames of 1152 samples at 44.1 kHz, 417 bytes at 128 kbit/s: mutagen estimates
# from the bit rate and the size (no Xing header), 1148 * 417 * 8 / 128000 s.
MP3_SECONDS = 1148 * 417 * 8 / 128000


@pytest.mark.parametrize(
    ("name", "data", "seconds"),
    [
        ("call.mp3", mp3_bytes(1148), MP3_SECONDS),
        ("call.flac", flac_bytes(12.5), 12.5),
        ("call.aiff", aiff_bytes(3.0), 3.0),
        ("call.opus", opus_bytes(7.25), 7.25),
    ],
)
def test_durations_from_paths_and_bytes(
    tmp_path: Path, name: str, data: bytes, seconds: float
) -> None:
    path = tmp_path / name
    path.write_bytes(data)

    assert read_duration(path) == pytest.approx(seconds, rel=1e-3)
    assert read_duration(str(path)) == pytest.approx(seconds, rel=1e-3)
    assert read_duration(data) == pytest.approx(seconds, rel=1e-3)


@pytest.mark.parametrize(
    "data",
    [
        b"Speaker 1: hello\nSpeaker 2: hi\n",
        b"\x00" * 1000,
        b"fLaC\x80\x00\x00",  # a FLAC header cut short
        flac_bytes(0.0),  # a stream that states no samples
    ],
)
def test_unknown_or_broken_media_gives_none(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "x.flac"
    path.write_bytes(data)

    assert read_duration(path) is None
    assert read_duration(data) is None


def test_a_missing_file_gives_none(tmp_path: Path) -> None:
    assert read_duration(tmp_path / "gone.mp3") is None


async def test_an_mp3_submit_carries_its_duration(tmp_path: Path) -> None:
    path = tmp_path / "call.mp3"
    path.write_bytes(mp3_bytes(1148))
    async with (
        Emulator(time_scale=1000.0) as emu,
        SymblClient(app_id=emu.app_id, app_secret=emu.app_secret, base_url=emu.url) as client,
    ):
        job = await client.submit_audio_file(path)
        text = tmp_path / "notes.wav"
        text.write_text("Speaker 1: hello\n")
        with pytest.raises(ValidationError, match=r"notes\.wav looks like text"):
            await client.submit_audio_file(text)
        submitted = emu.stats()["jobs_submitted"]

    assert job.media_duration == pytest.approx(MP3_SECONDS, rel=1e-3)
    assert submitted == 1  # the text file never reached the service
