"""Tiny, valid audio files of a known length, built byte by byte (no encoder needed).

Each has only what a duration reader needs: stream headers, and silence or empty frames.
"""

from __future__ import annotations

import struct

__all__ = ["aiff_bytes", "flac_bytes", "mp3_bytes", "opus_bytes"]


def mp3_bytes(frames: int) -> bytes:
    """MPEG-1 Layer III, 128 kbit/s, 44.1 kHz: ``frames`` frames of 417 bytes (1152 samples)."""
    header = bytes([0xFF, 0xFB, 0x90, 0x00])
    return (header + b"\x00" * (417 - len(header))) * frames


def flac_bytes(seconds: float, rate: int = 16000) -> bytes:
    """A FLAC header whose STREAMINFO states ``seconds`` of mono 16-bit audio."""
    total = int(seconds * rate)
    packed = (rate << 44) | (0 << 41) | (15 << 36) | total
    info = (
        struct.pack(">HH", 4096, 4096)
        + b"\x00" * 6
        + packed.to_bytes(8, "big")
        + b"\x00" * 16  # MD5 of the samples: unknown
    )
    return b"fLaC" + bytes([0x80]) + len(info).to_bytes(3, "big") + info


def aiff_bytes(seconds: float, rate: int = 8000) -> bytes:
    """A mono 16-bit AIFF of silence."""
    frames = int(seconds * rate)
    exponent = 16383 + rate.bit_length() - 1
    mantissa = rate << (64 - rate.bit_length())
    comm = struct.pack(">hLh", 1, frames, 16) + struct.pack(">HQ", exponent, mantissa)
    ssnd = struct.pack(">LL", 0, 0) + b"\x00\x00" * frames
    body = (
        b"AIFF"
        + b"COMM"
        + struct.pack(">L", len(comm))
        + comm
        + b"SSND"
        + struct.pack(">L", len(ssnd))
        + ssnd
    )
    return b"FORM" + struct.pack(">L", len(body)) + body


def _ogg_page(data: bytes, granule: int, sequence: int, flags: int) -> bytes:
    lacing = [255] * (len(data) // 255) + [len(data) % 255]
    header = struct.pack("<BBqIIIB", 0, flags, granule, 1, sequence, 0, len(lacing))
    return b"OggS" + header + bytes(lacing) + data


def opus_bytes(seconds: float, pre_skip: int = 312) -> bytes:
    """An Ogg Opus stream whose last page's granule position gives ``seconds``."""
    head = b"OpusHead" + struct.pack("<BBHIhB", 1, 1, pre_skip, 48000, 0, 0)
    tags = b"OpusTags" + struct.pack("<I", 4) + b"test" + struct.pack("<I", 0)
    last = int(seconds * 48000) + pre_skip
    return _ogg_page(head, 0, 0, 2) + _ogg_page(tags, 0, 1, 0) + _ogg_page(b"\x00" * 40, last, 2, 4)
