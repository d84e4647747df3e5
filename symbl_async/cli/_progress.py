"""The progress display of ``symbl-async process``: a bar on a terminal, lines otherwise.

On a terminal the bar is redrawn in place with ``\\r``, so it must never be wider than
the terminal: a line one character too long wraps, and every redraw then leaves a
stacked half-line behind (a ~120-character line at 80 columns left 21 of them). The
width is read at each redraw (``shutil.get_terminal_size``, so a resized window is
followed); counters are dropped least important first, then the bar shrinks, then the
line is cut. Our own ~50 lines rather than ``rich``/``tqdm``: one line of counters does
not justify a dependency, and :meth:`ProgressDisplay.note` must interleave messages
with the bar, which both libraries do only through their own print functions.
"""

from __future__ import annotations

import contextlib
import logging
import math
import shutil
import time
from collections.abc import Callable, Iterator
from typing import TextIO

from symbl_async.batch._results import BatchEvent, BatchProgress

__all__ = ["ProgressDisplay", "duration"]

_MIN_BAR = 10  # below this many characters a bar says nothing; it is left out


def _terminal_columns() -> int:
    return shutil.get_terminal_size(fallback=(80, 24)).columns


class ProgressDisplay:
    """A live progress bar on a terminal (``\\r`` redraws), plain periodic lines otherwise."""

    def __init__(
        self,
        stream: TextIO,
        *,
        tty: bool,
        interval: float,
        width: int = 24,
        columns: Callable[[], int] = _terminal_columns,
    ) -> None:
        """Draw on ``stream``.

        Args:
            stream: usually ``sys.stderr``.
            tty: redraw one line in place; else print a line every ``interval`` seconds.
            interval: seconds between plain lines.
            width: characters of the bar at most.
            columns: the terminal's width now (read at each redraw).
        """
        self._stream = stream
        self._tty = tty
        self._interval = interval
        self._width = width
        self._columns = columns
        self._last = -math.inf  # the first event always draws
        self._drawn = False
        self._progress = BatchProgress()
        self._lost = False  # a write failed: the terminal is gone (hung up, a closed pipe)

    def on_event(self, event: BatchEvent) -> None:
        """The ``on_event`` callback of the batch."""
        self.show(event.progress, final=event.kind == "finished")

    def tick(self, progress: BatchProgress) -> None:
        """Show the counters now, events or not: jobs take minutes, and a line that only
        moves when one ends looks like a hang (call it every second or so)."""
        self.show(progress)

    def show(self, progress: BatchProgress, *, final: bool = False) -> None:
        """Draw ``progress`` (a bar at most ten times a second; a line every interval)."""
        self._progress = progress
        now = time.monotonic()
        if self._tty:
            if now - self._last >= 0.1 or final:
                self._last = now
                self._redraw()
        elif now - self._last >= self._interval or final:
            self._last = now
            self._write("progress: " + self.line(self._progress) + "\n")

    def note(self, text: str) -> None:
        """Print a message line without breaking the bar."""
        self._write(("\r\x1b[K" if self._tty and self._drawn else "") + text + "\n")
        if self._tty:
            self._redraw()

    def _write(self, text: str) -> None:
        """Write and flush; once a write fails (a hung-up terminal says EIO, a closed pipe
        EPIPE), write nothing more: the batch goes on, its results are in files."""
        if self._lost:
            return
        try:
            self._stream.write(text)
            self._stream.flush()
        except OSError:
            self._lost = True

    @contextlib.contextmanager
    def logging_around(self, logger: logging.Logger) -> Iterator[None]:
        """While on a terminal, clear the bar before each line that ``logger``'s
        handlers write to this display's stream (``-v``); the next event redraws it.
        Without this, a log line would be glued to the end of the bar."""
        handlers = [
            h for h in logger.handlers
            if self._tty and isinstance(h, logging.StreamHandler) and h.stream is self._stream
        ]
        for handler in handlers:
            handler.addFilter(self._clear_for_log)
        try:
            yield
        finally:
            for handler in handlers:
                handler.removeFilter(self._clear_for_log)

    def _clear_for_log(self, record: logging.LogRecord) -> bool:
        if self._drawn:
            self._write("\r\x1b[K")
            self._drawn = False
        return True

    def finish(self) -> None:
        """Draw the last state and end the bar's line."""
        if self._tty:
            self._redraw()
            self._write("\n")
            self._drawn = False

    def _redraw(self) -> None:
        # One column spare: some terminals wrap when the last column is written.
        self._write("\r\x1b[K" + self.fit(self._progress, self._columns() - 1))
        self._drawn = True

    def fit(self, p: BatchProgress, columns: int) -> str:
        """The bar and counters in at most ``columns`` characters."""
        parts = self.parts(p)
        # Least important first; "done" is never dropped.
        for drop in ("elapsed", "429s", "unknown", "skipped", "waiting", "submitted",
                     "uploading", "running", "ETA", "failed"):
            if len(self._bar(p, self._width) + ", ".join(parts.values())) <= columns:
                break
            if len(parts) > 1:
                parts.pop(drop, None)
        text = ", ".join(parts.values())
        room = columns - len(text) - 3  # "[" "] "
        bar = self._bar(p, min(self._width, room)) if room >= _MIN_BAR else ""
        return (bar + text)[: max(columns, 0)]

    @staticmethod
    def _bar(p: BatchProgress, width: int) -> str:
        if not p.total:
            return ""
        filled = round(width * p.done / p.total)
        return "[" + "#" * filled + "." * (width - filled) + "] "

    @staticmethod
    def parts(p: BatchProgress) -> dict[str, str]:
        """The counters, by name, in display order."""
        total = str(p.total) if p.total is not None else f"{p.read}+"
        eta = p.eta()
        # A guess (from the prior: no job has ended yet) is marked "~".
        shown = "?" if eta is None else ("~" if p.estimate_is_guess else "") + duration(eta)
        parts = {
            "done": f"done {p.done}/{total}",
            "submitted": f"submitted {p.submitted}",
            # The slots held are jobs running, uploads on the wire (but those ahead of
            # their slots), and uploads queued.
            "running": f"running {max(p.running - p.slot_uploads, 0)}",
            "uploading": _uploading(p),
            "waiting": f"waiting {p.waiting}",
            "unknown": f"unknown {p.unknown}",
            "failed": f"failed {p.failed}",
            "skipped": f"skipped {p.skipped}",
            "429s": f"429s {p.rejected_429}",
            "elapsed": f"elapsed {duration(p.elapsed)}",
            "ETA": f"ETA {shown}",
        }
        if not p.unknown:  # rare: said only while some are
            del parts["unknown"]
        if not p.uploading and not p.upload_queued:
            del parts["uploading"]
        return parts

    @classmethod
    def line(cls, p: BatchProgress) -> str:
        """One line of counters: done/total, submitted, running, failed, 429s, ETA."""
        return ", ".join(cls.parts(p).values())


def _uploading(p: BatchProgress) -> str:
    """``uploading 2 (1 ahead of its slot, +3 queued, 41/96 MB, 9.8 MB/s)``."""
    details = [f"{p.upload_ahead} ahead of {'its slot' if p.upload_ahead == 1 else 'slots'}"
               ] if p.upload_ahead else []
    if p.upload_queued:
        details.append(f"+{p.upload_queued} queued")
    if p.upload_total:
        details.append(f"{megabytes(p.upload_sent)}/{megabytes(p.upload_total)} MB")
    if p.upload_rate is not None:
        details.append(f"{megabytes(p.upload_rate)} MB/s")
    return f"uploading {p.uploading}" + (f" ({', '.join(details)})" if details else "")


def megabytes(size: float) -> str:
    """Bytes as megabytes: ``0.4``, ``41``."""
    return f"{size / 1e6:.1f}" if size < 10e6 else f"{size / 1e6:.0f}"


def duration(seconds: float) -> str:
    """``42s``, ``3m05s`` or ``2h07m``."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
