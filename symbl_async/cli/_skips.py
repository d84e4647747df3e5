"""What the folder walks of ``symbl-async process`` left out, reported after the summary.

A folder is walked for the formats the API takes (``MEDIA_EXTENSIONS``, and text
conversations); anything else used to vanish silently, so a folder of ``.mkv`` files read
as "0 inputs" and exit 0. Every entry left out is counted by reason. Those that look like
a recording the user meant to process (an audio or video type the API does not take, a
broken link, a symlinked folder, a special file) are listed and make the exit status 1;
hidden entries, other files (images, JSON without messages) and a batch's own output
folder are only counted.
"""

from __future__ import annotations

import collections
import mimetypes
from typing import TextIO

from symbl_async.batch._inputs import MEDIA_EXTENSIONS, SKIP_NO_MESSAGES, SKIP_OUTPUT_FOLDER

__all__ = ["Skips"]

_LISTED = 20  # entries listed by name; the rest are counted


def _looks_like_media(path: str) -> bool:
    kind, _ = mimetypes.guess_type(path, strict=False)
    return kind is not None and kind.split("/")[0] in ("audio", "video")


class Skips:
    """Collects ``(path, reason)`` from ``expand_inputs(on_skip=...)`` (bounded memory)."""

    def __init__(self) -> None:
        self.by_reason: collections.Counter[str] = collections.Counter()
        self.worrying = 0
        self.listed: list[tuple[str, str]] = []

    def __call__(self, path: str, reason: str) -> None:
        """Record one entry left out."""
        # An unsupported file's reason names its extension, so counts go by extension.
        self.by_reason[reason] += 1
        if reason in ("hidden", SKIP_NO_MESSAGES, SKIP_OUTPUT_FOLDER):
            return
        if reason.startswith("not a supported media file") and not _looks_like_media(path):
            return
        self.worrying += 1
        if len(self.listed) < _LISTED:
            self.listed.append((path, reason))

    @property
    def total(self) -> int:
        """Entries left out."""
        return sum(self.by_reason.values())

    def report(self, out: TextIO) -> None:
        """Print what was left out, and why (nothing when nothing was)."""
        if not self.total:
            return
        counts = ", ".join(f"{n} {reason}" for reason, n in sorted(self.by_reason.items()))
        print(f"left out of folders: {counts}", file=out)
        for path, reason in self.listed:
            print(f"  skipped: {path}: {reason}", file=out)
        if self.worrying > len(self.listed):
            print(f"  ... and {self.worrying - len(self.listed)} more", file=out)
        if self.worrying:
            formats = " ".join(sorted(MEDIA_EXTENSIONS))
            print(
                f"  The API takes {formats}: convert other recordings (e.g. with ffmpeg), "
                "fix broken links, then rerun the same command (finished items are kept).",
                file=out,
            )
