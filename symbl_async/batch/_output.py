"""Where a batch puts its files: the output folder, the files in it, and its locks.

:class:`ResultWriter` writes, in the output folder:

* ``<name>-<12 hex>.json``: the insights of each fetched item (written to a temporary file,
  fsynced, then renamed, so a file that exists is complete), in the subfolder its input
  was found in (``mon/standup.wav`` of a folder given as input: ``mon/standup-<12
  hex>.json``); its place is chosen when the item is first recorded and kept by the
  ledger (``output_path``), so reruns find it;
* beside it, the transcripts asked for (:data:`TRANSCRIPT_FORMATS`): ``.srt``, ``.vtt``,
  ``.md``, ``.txt``, with the insights file's name;
* ``results.jsonl``: one line per input of the run (key, source, status, job id,
  conversation id, error, timings, media length, insight counts). Lines are appended to a
  partial file of the worker's own as results come, and it is renamed to ``results.jsonl``
  when the run ends (also after Ctrl-C), so ``results.jsonl`` is always the complete report
  of a finished run; a rerun reports skipped items too, with the ids and paths the ledger
  kept;
* ``results.csv``: the same results as a spreadsheet opens them (one row per input: its
  source, status, conversation id, media minutes, processing seconds, and how many of each
  insight kind it holds), written and completed the same way;
* ``summary.json``: the :class:`~symbl_async.batch._results.BatchSummary`, written
  atomically at the end.

:func:`open_storage` checks the folder, takes the batch's lock (two runs of one SQLite batch
at once would both submit its pending items, paying twice; the OS drops the lock when the
process dies, even on SIGKILL, on every platform), opens the ledger's store and starts the
results, in that order, so that nothing is written before the lock is held. Workers of a
shared (PostgreSQL) batch take no lock: they may share an output folder, each with its own
partial results.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import errno
import hashlib
import json
import logging
import os
import re
import secrets
import tempfile
import time
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import IO, Any

import filelock

from symbl_async.batch._items import folder_of_spec, submit_name
from symbl_async.batch._ledger._sqlite import SqliteStore
from symbl_async.batch._ledger._states import LedgerItem
from symbl_async.batch._ledger._store import ItemStore
from symbl_async.batch._results import (
    LEDGER_FILE,
    RESULTS_CSV,
    RESULTS_FILE,
    SUMMARY_FILE,
    BatchResult,
    BatchSummary,
)
from symbl_async.core import _durable, _json
from symbl_async.core._checks import check_ledger_url, is_database_url
from symbl_async.errors import ValidationError
from symbl_async.models._converter import camel_case

log = logging.getLogger("symbl_async.batch")

__all__ = [
    "COUNTED_KINDS",
    "CSV_COLUMNS",
    "LEDGER_FILE",
    "TRANSCRIPT_FORMATS",
    "ResultWriter",
    "Storage",
    "check_output_dir",
    "inside",
    "insight_counts",
    "insights_filename",
    "lock_file",
    "open_storage",
    "outputs_missing",
    "outputs_record",
    "transcript_path",
    "with_ids",
]

TRANSCRIPT_FORMATS = ("srt", "vtt", "md", "txt")
"""Transcripts a batch can write beside each insights file: SRT and Markdown from Symbl's
formatted transcript (Symbl docs, "POST Formatted Transcript"), WebVTT and plain text
rendered from the messages (:mod:`symbl_async.core._captions`)."""

COUNTED_KINDS = ("messages", "questions", "action_items", "follow_ups", "topics", "members",
                 "entities", "trackers", "summary", "insights")
"""The insight kinds that are lists: ``results.csv`` counts the items of each."""

CSV_COLUMNS = ("input", "status", "conversation_id", "media_minutes", "processing_seconds",
               *COUNTED_KINDS, "output_path", "error", "job_id", "key")
"""``results.csv``'s columns; a count is empty when its kind was not fetched."""

_PARTIAL_SUFFIX = ".partial"
_SAFE_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def insights_filename(key: str, label: str = "") -> str:
    """Return the file name of an item's insights, named after the input.

    A key the batch derived (a sha256 hex) gives ``<input's name>-<12 hex>.json``
    (:func:`~symbl_async.batch._sources.submit_name`, as the conversation is named). A
    caller's own key gives ``<key>.json`` when it is safe; one with other characters than
    letters, digits, ``.``, ``_`` and ``-`` (or longer than 100) is cleaned and given a
    hash suffix, so distinct keys never share a file; so does one that would be named
    like the batch's own ``summary.json``.

    Args:
        key: the item's ledger key.
        label: the input's label (a path, URL or text description).

    Returns:
        A file name (no folder).
    """
    if re.fullmatch(r"[0-9a-f]{64}", key):
        return submit_name(key, label) + ".json"
    if _SAFE_KEY.fullmatch(key) and (key + ".json").lower() != SUMMARY_FILE:
        return key + ".json"
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", key).strip("._-")[:60]
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
    return f"{cleaned}-{digest}.json" if cleaned else f"{digest}.json"


def check_output_dir(path: str | os.PathLike[str]) -> Path:
    """Create the output folder if needed and check that files can be written in it.

    Args:
        path: the folder.

    Returns:
        The folder, as an absolute path.

    Raises:
        ValidationError: (field ``out_dir``) when it cannot be created or written.
    """
    folder = Path(path).absolute()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check-"):
            pass
    except OSError as exc:
        raise ValidationError(
            "out_dir", f"cannot write to {str(folder)!r}: {exc.strerror or exc}"
        ) from exc
    return folder


def _write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file next to ``path``, fsync it, rename it over ``path``,
    then fsync the folder: without that, a power cut may lose the rename (the ledger would say
    "fetched" for a file that is not there)."""
    fd, tmp = _create_beside(path)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            _durable.fsync(f.fileno())
        _replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_folder(path.parent)


# Created as open() creates a file, its mode from the umask (0644 under the usual 022), as
# results.jsonl is: tempfile.mkstemp's 0600 would leave the insights, transcripts and
# summary readable by their owner only, and a service reading them under another user
# denied. Exclusive and not following links, as mkstemp.
_CREATE = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
           | getattr(os, "O_BINARY", 0))


# A temporary file's name: ``.<name>.<hex>.tmp``, the hex of this many random bytes (the
# sweep below recognises the same shape).
_TOKEN_BYTES = 4


def _create_beside(path: Path) -> tuple[int, str]:
    """Create a new, hidden temporary file in ``path``'s folder; its descriptor and name."""
    for _ in range(100):
        tmp = os.path.join(path.parent, f".{path.name}.{secrets.token_hex(_TOKEN_BYTES)}.tmp")
        try:
            return os.open(tmp, _CREATE, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {str(path)!r}")  # pragma: no cover


# A write cut off by a crash (SIGKILL, a power cut) leaves its temporary file behind, with
# _create_beside's name. A run removes those of its output folder older than an hour, in a
# thread beside its work. Younger ones may be a live write: workers of a shared batch may
# write in the same folder, each write's file lives for milliseconds, and a worker stopped
# for an hour has long lost its lease (its items went to others); at worst such a worker's
# rename then fails, and the item is failed with its job paid, which retry_failed fetches
# again without paying.
_TEMPORARY_NAME = re.compile(rf"\..+\.[0-9a-f]{{{2 * _TOKEN_BYTES}}}\.tmp")
STALE_TEMPORARY_AGE = 3600.0


def remove_stale_temporaries(folder: Path, *, age: float = STALE_TEMPORARY_AGE) -> int:
    """Remove, from ``folder`` and its subfolders, the temporary files of writes a crash
    cut off, once older than ``age`` seconds; blocking. Returns how many were removed.
    Other files, and what cannot be looked at or removed, are left as they are."""
    cutoff = time.time() - age
    removed = 0
    for root, _, names in os.walk(folder):
        for name in names:
            if not (name.endswith(".tmp") and _TEMPORARY_NAME.fullmatch(name)):
                continue
            path = os.path.join(root, name)
            try:
                if os.lstat(path).st_mtime < cutoff:
                    os.unlink(path)
                    removed += 1
            except OSError:  # gone meanwhile (another worker's sweep), or not ours to touch
                continue
    return removed


async def _sweep(folder: Path) -> None:
    """:func:`remove_stale_temporaries` in a thread; a failure is logged, not raised: the
    leftovers are clutter, not a reason to stop a batch."""
    try:
        removed = await asyncio.to_thread(remove_stale_temporaries, folder)
    except Exception as exc:  # logged: the leftovers are clutter
        log.warning("could not look for leftover temporary files in %s: %s", folder, exc)
        return
    if removed:
        log.info("removed %d temporary file(s) left by interrupted writes in %s",
                 removed, folder)


# Windows refuses a rename over a file another process has open: an antivirus scanning the
# file just written, the search indexer, a viewer. They let go within moments, so the
# rename is tried again for about 1.5 s before the write fails (pip does the same); a
# failed write fails the fetch of a job already paid for.
_RETRY_REPLACE = os.name == "nt"
_REPLACE_PAUSES = (0.05, 0.1, 0.2, 0.4, 0.8)


def _replace(src: str | Path, dst: Path) -> None:
    """:func:`os.replace`, tried again while Windows says another process holds ``dst``.
    Blocking: it may sleep about 1.5 s in all."""
    for pause in _REPLACE_PAUSES if _RETRY_REPLACE else ():
        try:
            os.replace(src, dst)
            return
        except PermissionError:
            time.sleep(pause)
    os.replace(src, dst)


def _make_folders(folder: Path) -> None:
    """Create ``folder`` and its missing parents, and make each new entry durable (the
    folder that holds it fsynced), as a file's rename is."""
    missing = []
    at = folder
    while not at.is_dir():
        missing.append(at)
        at = at.parent
    folder.mkdir(parents=True, exist_ok=True)
    for made in reversed(missing):
        _fsync_folder(made.parent)


# A file system whose folders cannot be fsynced (VirtualBox shared folders, some FUSE and
# Ceph volumes) answers EINVAL or ENOTSUP; failed writeback is EIO, ENOSPC or EDQUOT. Only
# the former are let pass (SQLite ignores a folder fsync's failure for the same reason):
# the file itself was fsynced, and failing the write would fail every fetch, each rerun's
# too, of a job already paid for.
_NO_FOLDER_FSYNC = frozenset({errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP})
_folder_fsync_refused = False


def _fsync_folder(folder: Path) -> None:
    global _folder_fsync_refused
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows cannot open a folder
        return
    try:
        _durable.fsync(fd)
    except OSError as exc:
        if exc.errno not in _NO_FOLDER_FSYNC:
            raise
        if not _folder_fsync_refused:
            _folder_fsync_refused = True
            log.warning("the file system of %s cannot fsync a folder (%s): a file renamed "
                        "into it may not survive a power cut", folder, exc.strerror or exc)
    finally:
        os.close(fd)


def with_ids(
    data: Mapping[str, Any], *, job_id: str | None, conversation_id: str
) -> dict[str, Any]:
    """The insights' JSON with the ids of the job that produced them, as
    ``attrs.evolve(insights, job_id=..., conversation_id=...).to_json()`` has them: first,
    and no ``jobId`` when the job is not known (a conversation found by name)."""
    ids = {"conversationId": conversation_id}
    if job_id is not None:
        ids["jobId"] = job_id
    rest = {k: v for k, v in data.items() if k not in ("conversationId", "jobId")}
    return {**ids, **rest}


def transcript_path(insights: Path, fmt: str) -> Path:
    """Where the transcript in ``fmt`` (``srt``...) of an insights file goes: beside it."""
    return insights.with_suffix("." + fmt)


def insight_counts(data: Mapping[str, Any]) -> dict[str, int]:
    """How many items each list kind of insights JSON holds (kinds it lacks: absent)."""
    counts = {}
    for kind in COUNTED_KINDS:
        value = data.get(camel_case(kind))
        if isinstance(value, list):
            counts[kind] = len(value)
    return counts


def inside(
    folder: Path, path: Path, *, real_folder: str | None = None,
    real_parents: dict[str, str] | None = None,
) -> bool:
    """Whether ``path`` is inside ``folder``, subfolders included, however either is
    spelled (``..``, symlinks); ``real_folder``: the folder's real path, if known.

    ``real_parents``: the real paths of the folders that held the paths asked about so
    far (filled in), for a group of paths in few folders: each folder is resolved once
    (a realpath is a stat per part of the path; a rerun asks of 100,000 files). The file's
    own name is then taken as it is: a link named as a file in the folder is inside (the
    batch writes none)."""
    real = real_folder if real_folder is not None else os.path.realpath(folder)
    parent, name = os.path.split(path)
    if real_parents is None or name in ("", ".", ".."):
        return os.path.realpath(path).startswith(real + os.sep)
    real_parent = real_parents.get(parent)
    if real_parent is None:
        real_parent = real_parents[parent] = os.path.realpath(parent)
    return os.path.join(real_parent, name).startswith(real + os.sep)


def outputs_record(path: Path, data: Mapping[str, Any]) -> str:
    """What the insights file at ``path``, just written with ``data``, holds, for the
    ledger (``LedgerItem.outputs``): its size and modification time, its keys and its
    insight counts, as JSON. Blocking (a stat).

    Raises:
        OSError: when the file cannot be looked at.
    """
    st = os.stat(path)
    return json.dumps({"size": st.st_size, "mtime_ns": st.st_mtime_ns, "keys": sorted(data),
                       "counts": insight_counts(data)}, separators=(",", ":"))


def _as_recorded(
    path: Path, recorded: str | None
) -> tuple[frozenset[str], dict[str, int]] | None:
    """The keys and counts ``recorded`` (:func:`outputs_record`) says the file holds, if
    the file is still the one it describes (same size, same modification time); else
    None: read the file.

    Raises:
        OSError: the file cannot be looked at (gone, or not allowed).
    """
    if recorded is None:
        return None
    try:
        record = json.loads(recorded)
        size, mtime_ns = record["size"], record["mtime_ns"]
        keys, counts = frozenset(record["keys"]), dict(record["counts"])
    except (ValueError, KeyError, TypeError):
        return None
    st = os.stat(path)
    # Changed since (edited, replaced by hand): read it. A file system with coarse times
    # could hide an edit of the same size within its tick; an edit is not how files lose
    # kinds (a run writes whole files, atomically).
    if st.st_size != size or st.st_mtime_ns != mtime_ns:
        return None
    return keys, counts


def outputs_missing(
    path: Path, include: Collection[str], transcripts: Collection[str] = (),
    recorded: str | None = None,
) -> tuple[str | None, dict[str, int]]:
    """What an item's files lack: of ``include`` in its insights file, and the transcripts
    asked for beside it; blocking (use a thread). ``recorded``: what the ledger says the
    file held when it was written (:func:`outputs_record`); when the file is unchanged
    since, it is trusted and the file is not read (real insights files are tens to
    hundreds of KB: a rerun over 100,000 finished items read gigabytes).

    Returns:
        ``"file missing"``, ``"unreadable"``, ``"lacks topics, questions"``, ``"no .vtt
        transcript"`` (or several, joined by ``; ``), or None when nothing is missing; and
        the insight counts of the file (empty when it cannot be read).
    """
    try:  # one stat, or one open: a rerun checks every finished item's file
        known = _as_recorded(path, recorded)
        if known is None:
            data = _json_object(path.read_bytes())
            known = None if data is None else (frozenset(data), insight_counts(data))
    except (FileNotFoundError, NotADirectoryError):
        return "file missing", {}
    except OSError:
        known = None
    if known is None:
        return "unreadable", {}
    keys, counts = known
    missing = [kind for kind in include if camel_case(kind) not in keys]
    said = ["lacks " + ", ".join(missing)] if missing else []
    said += [f"no .{fmt} transcript" for fmt in transcripts
             if not transcript_path(path, fmt).exists()]
    return "; ".join(said) or None, counts


def _read_object(path: Path) -> dict[str, Any] | None:
    try:
        return _json_object(path.read_bytes())
    except OSError:
        return None


def _json_object(data: bytes) -> dict[str, Any] | None:
    try:
        value = _json.loads(data)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _cell(value: object) -> str:
    """A CSV cell a spreadsheet shows as written: text that it would run as a formula
    (``=``, ``+``, ``-``, ``@`` first) is marked as text with a leading ``'``."""
    if value is None:
        return ""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def _csv_row(result: BatchResult) -> list[str]:
    started = result.timings.get("submitted")
    ended = result.timings.get("completed")
    processing = None if started is None or ended is None else round(ended - started, 3)
    minutes = None if result.media_seconds is None else round(result.media_seconds / 60, 3)
    return [
        _cell(result.source), result.status, _cell(result.conversation_id),
        "" if minutes is None else f"{minutes:g}",
        "" if processing is None else f"{processing:g}",
        *(str(result.counts[k]) if k in result.counts else "" for k in COUNTED_KINDS),
        _cell(result.output_path), _cell(result.error), _cell(result.job_id),
        _cell(result.key),
    ]


_LINE_JSON = json.JSONEncoder(ensure_ascii=False)  # one, not one per line (json.dumps)


class ResultWriter:
    """Writes a batch's files in its output folder (see the module docstring)."""

    def __init__(self, out_dir: str | os.PathLike[str], worker: str | None = None) -> None:
        """Check the folder and start the partial results afresh.

        Args:
            out_dir: the output folder; created if missing.
            worker: a tag for the partial results' name (``results.jsonl.<tag>.partial``),
                for workers sharing the folder; None: ``results.jsonl.partial``.

        Raises:
            ValidationError: (field ``out_dir``) when the folder cannot be written.
        """
        self.out_dir = check_output_dir(out_dir)
        self._real_out = os.path.realpath(self.out_dir)
        tag = "" if worker is None else "." + re.sub(r"[^A-Za-z0-9_-]+", "_", worker)[:60]
        # (final name, partial name, open partial file)
        self._files: list[tuple[Path, Path, IO[str]]] = []
        try:
            for name, newline in ((RESULTS_FILE, None), (RESULTS_CSV, "")):
                partial = self.out_dir / (name + tag + _PARTIAL_SUFFIX)
                # The CSV with a byte-order mark: spreadsheets then read it as UTF-8.
                encoding = "utf-8-sig" if name == RESULTS_CSV else "utf-8"
                self._files.append((self.out_dir / name, partial,
                                    partial.open("w", encoding=encoding, newline=newline)))
        except OSError as exc:
            self.close()
            raise ValidationError(
                "out_dir", f"cannot write in {str(self.out_dir)!r}: {exc.strerror or exc}"
            ) from exc
        self._csv = csv.writer(self._files[1][2])
        self._csv.writerow(CSV_COLUMNS)

    def holds(self, path: Path) -> bool:
        """Whether ``path`` is inside this output folder (however either is spelled)."""
        return inside(self.out_dir, path, real_folder=self._real_out)

    def insights_path(self, row: LedgerItem) -> Path:
        """Where an item's insights go: where they already are (the ledger's
        ``output_path``) when that is in this folder; else the subfolder its input was
        found in when it was first recorded, under :func:`insights_filename`."""
        if row.output_path is not None and self.holds(Path(row.output_path)):
            return Path(row.output_path)
        return self.out_dir / folder_of_spec(row.spec) / insights_filename(row.key, row.source)

    def read_insights(self, path: Path, conversation_id: str) -> dict[str, Any]:
        """The insights an item's file already holds, if they are of this conversation
        (else, or when missing or unreadable, none); blocking."""
        data = _read_object(path)
        if data is None or data.get("conversationId") != conversation_id:
            return {}
        return data

    def write_insights(self, path: Path, insights: Mapping[str, Any]) -> None:
        """Write an item's insights as JSON, atomically, creating its subfolder; blocking
        (run it in a thread).

        Args:
            path: where (:meth:`insights_path`).
            insights: JSON-ready data, as ``ConversationInsights.to_json()`` gives it.

        Raises:
            OSError: when the file cannot be written.
        """
        # Compact: json's C encoder only runs without indent; the pure-Python one took 4x
        # as long here (0.28 vs 0.07 ms for a one-minute conversation). Any JSON viewer
        # (jq, an editor) shows it indented.
        self._write(path, _json.dumps(insights))

    def write_transcript(self, path: Path, text: str) -> None:
        """Write a transcript (UTF-8) atomically; blocking.

        Raises:
            OSError: when the file cannot be written.
        """
        self._write(path, text.encode("utf-8"))

    def _write(self, path: Path, data: bytes) -> None:
        if not path.parent.is_dir():
            _make_folders(path.parent)
        _write_atomically(path, data)

    def write_line(self, result: BatchResult) -> None:
        """Append the result's line to the partial ``results.jsonl`` and ``results.csv``
        (buffered: :meth:`flush` shows them)."""
        if not self._files:
            return
        self._files[0][2].write(_LINE_JSON.encode(result.to_json()) + "\n")
        self._csv.writerow(_csv_row(result))

    def flush(self) -> None:
        """Hand the lines written so far to the system (someone may be reading the partial
        files as they grow)."""
        for _, _, f in self._files:
            f.flush()

    def finish(self, summary: BatchSummary) -> None:
        """Rename the partial results to ``results.jsonl`` and ``results.csv``, and write
        ``summary.json``.

        Raises:
            OSError: when a file cannot be written.
        """
        if self._files:
            files, self._files = self._files, []
            for _, _, f in files:
                f.flush()
                _durable.fsync(f.fileno())
                f.close()
            for final, partial, _ in files:
                _replace(partial, final)
            _fsync_folder(self.out_dir)
        data = json.dumps(summary.to_json(), ensure_ascii=False, indent=2) + "\n"
        _write_atomically(self.out_dir / SUMMARY_FILE, data.encode("utf-8"))

    def discard(self) -> None:
        """Close the partial results and delete them: the run never began (idempotent)."""
        files, self._files = self._files, []
        for _, partial, f in files:
            f.close()
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()

    def close(self) -> None:
        """Close the partial results without renaming them (idempotent)."""
        files, self._files = self._files, []
        for _, _, f in files:
            f.close()


class Storage:
    """An open store (owned or borrowed), the batch's lock, and the results writer if any."""

    def __init__(self) -> None:
        """Start empty; :func:`open_storage` fills it in."""
        self.store: ItemStore | None = None
        self.writer: ResultWriter | None = None
        self.owns_store = False
        self.lock: filelock.BaseFileLock | None = None
        self.tmpdir: tempfile.TemporaryDirectory[str] | None = None
        self.sweep: asyncio.Task[None] | None = None  # the output folder's leftovers

    @property
    def ledger_path(self) -> Path | None:
        """The SQLite file, when the ledger is one."""
        return self.store.path if isinstance(self.store, SqliteStore) else None

    async def close_store(self) -> None:
        """Close the store if owned (idempotent); the lock stays held until :meth:`close`."""
        if self.owns_store and self.store is not None:
            self.owns_store = False
            await self.store.aclose()

    async def close(self) -> None:
        """Close the results files (without finishing them), the store if owned, the lock.

        With the store already closed (:meth:`close_store`) nothing here waits, so a run's
        last files and its lock are released in one step of the event loop; then the sweep
        of the folder's leftover temporary files is waited for (normally long done).
        """
        if self.writer is not None:
            self.writer.close()
        await self.close_store()
        if self.lock is not None:
            self.lock.release()
            self.lock = None
        if self.tmpdir is not None:
            self.tmpdir.cleanup()
            self.tmpdir = None
        if self.sweep is not None:
            # Last, once all else is closed. Its thread cannot be stopped: waited for, as
            # the loop's end would (asyncio.wait: its outcome is not this close's).
            sweep, self.sweep = self.sweep, None
            await asyncio.wait([sweep])


async def open_storage(
    ledger: ItemStore | str | os.PathLike[str] | None,
    out_dir: str | os.PathLike[str] | None,
    *,
    outage: float = 300.0,
) -> Storage:
    """Check the output folder, lock and open the ledger, start the results files.

    Args:
        ledger: a store, a ``postgresql://`` URL (a batch shared by workers), a path to a
            SQLite ledger, or None: ``ledger.sqlite3`` in ``out_dir``, or a temporary one
            (deleted at the end: no resume) without ``out_dir``.
        out_dir: the output folder, or None for no files.
        outage: a ``postgresql://`` ledger's ``reconnect_timeout``.

    Returns:
        The storage; :meth:`Storage.close` it.

    Raises:
        ValidationError: (``out_dir``, ``ledger`` or ``ledger_path``) when the folder or
            the ledger cannot be used, or another run of the batch holds the ledger.
    """
    storage = Storage()
    try:
        out = None if out_dir is None else check_output_dir(out_dir)
        if isinstance(ledger, ItemStore):
            storage.store = ledger
            if isinstance(ledger, SqliteStore):
                storage.lock = _lock(ledger.path)
        elif is_database_url(ledger) or (isinstance(ledger, str) and "://" in ledger):
            # Imported here: asyncpg is an optional extra (symbl_async[postgres]).
            from symbl_async.batch._ledger._postgres import PostgresStore

            storage.store = await PostgresStore.connect(check_ledger_url(ledger),
                                                        reconnect_timeout=outage)
            storage.owns_store = True
        else:
            if ledger is not None:
                path = Path(ledger)
            elif out is not None:
                path = out / LEDGER_FILE
            else:
                storage.tmpdir = tempfile.TemporaryDirectory(prefix="symbl-batch-")
                path = Path(storage.tmpdir.name) / LEDGER_FILE
            storage.lock = _lock(path)
            # Under the lock, no other worker of this batch is alive: exclusive.
            storage.store = await SqliteStore.open(path, exclusive=True)
            storage.owns_store = True
        if out is not None:
            # Workers of a shared batch may share the folder: each its own partial results.
            tag = storage.store.worker_id if storage.store.shared else None
            storage.writer = ResultWriter(out, tag)
            storage.sweep = asyncio.create_task(_sweep(out))
    except BaseException:
        await storage.close()
        raise
    return storage


def lock_file(ledger: Path) -> Path:
    """The lock file a run holds beside its SQLite ledger: ``<ledger>.lock``."""
    return ledger.with_name(ledger.name + ".lock")


def _lock(path: Path) -> filelock.BaseFileLock:
    """Lock ``<path>.lock`` for this run: the OS releases it when the process ends.

    Raises:
        ValidationError: (field ``ledger_path``) when another run holds the lock, or the
            lock file cannot be created.
    """
    lock_path = lock_file(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(lock_path, timeout=0)
        lock.acquire()
    except filelock.Timeout:
        raise ValidationError(
            "ledger_path",
            f"{str(path)!r} is in use by another run of this batch: let it finish (or stop "
            "it) first",
        ) from None
    except OSError as exc:
        raise ValidationError(
            "ledger_path", f"cannot create {str(lock_path)!r}: {exc.strerror or exc}"
        ) from exc
    return lock
