"""Generate the bundled demo media in ``symbl_async/demo_data/`` (standard library only).

- ``meeting.wav``: a real PCM WAV, 8 kHz, 16-bit, mono, 6.5 s of short sine-tone
  "utterances" separated by pauses (two alternating pitches, like two speakers).
- ``meeting.mp4``: a structurally valid MP4 (``ftyp`` + ``moov/mvhd`` stating
  95 s + a small ``mdat``): enough for anything that reads MP4 headers; it holds
  no playable tracks.

Usage: ``python benchmarks/make_demo_media.py [OUTPUT_DIR]``. The output is
byte-for-byte reproducible.
"""

from __future__ import annotations

import math
import struct
import sys
import wave
from pathlib import Path

RATE = 8000
MP4_DURATION_S = 95
# (start s, length s, frequency Hz): alternating "speakers" at two pitches.
UTTERANCES = [
    (0.3, 1.2, 220.0),
    (1.8, 0.9, 330.0),
    (3.0, 1.4, 220.0),
    (4.7, 1.5, 330.0),
]
WAV_SECONDS = 6.5


def wav_bytes_frames() -> bytes:
    """16-bit little-endian samples of the tone sequence, with short fades against clicks."""
    samples = [0] * int(WAV_SECONDS * RATE)
    fade = int(0.02 * RATE)
    for start, length, freq in UTTERANCES:
        first, count = int(start * RATE), int(length * RATE)
        for i in range(count):
            envelope = min(1.0, i / fade, (count - i) / fade)
            samples[first + i] = int(9000 * envelope * math.sin(2 * math.pi * freq * i / RATE))
    return struct.pack(f"<{len(samples)}h", *samples)


def write_wav(path: Path) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(wav_bytes_frames())


def box(box_type: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), box_type) + payload


def mvhd(timescale: int, duration: int) -> bytes:
    """A version-0 movie header box."""
    matrix = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
    payload = (
        struct.pack(">B3xIIII", 0, 0, 0, timescale, duration)
        + struct.pack(">IH10x", 0x00010000, 0x0100)  # rate 1.0, volume 1.0
        + matrix
        + bytes(24)  # pre_defined
        + struct.pack(">I", 2)  # next_track_ID
    )
    return box(b"mvhd", payload)


def mp4_bytes() -> bytes:
    ftyp = box(b"ftyp", b"isom" + struct.pack(">I", 0x200) + b"isomiso2mp41")
    moov = box(b"moov", mvhd(1000, MP4_DURATION_S * 1000))
    mdat = box(b"mdat", bytes(range(256)))
    return ftyp + moov + mdat


def main(argv: list[str]) -> None:
    default = Path(__file__).resolve().parent.parent / "symbl_async" / "demo_data"
    out = Path(argv[1]) if len(argv) > 1 else default
    out.mkdir(parents=True, exist_ok=True)
    write_wav(out / "meeting.wav")
    (out / "meeting.mp4").write_bytes(mp4_bytes())
    print(f"wrote {out / 'meeting.wav'} and {out / 'meeting.mp4'}")


if __name__ == "__main__":
    main(sys.argv)
