"""The files of a batch with an output folder; :class:`ResultWriter` puts there:

* ``<key>.json``: the insights of each fetched item (written to a temporary file, fsynced,
  then renamed, so a file that exists is complete);
* ``results.jsonl``: one line per input of the last run (key, source, status, job id,
  conversation id, error, timings). Lines are appended to ``results.jsonl.partial`` as
  results come, and the file is renamed to ``results.jsonl`` when the run ends (also after
  Ctrl-C), so ``results.jsonl`` is always the complete report of a finished run; a rerun
  reports skipped items too, with the ids and paths the ledger kept;
* ``summary.json``: the :class:`~symbl_async.batch._results.BatchSummary`, written
  atomically at the end.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import IO, Any

from symbl_async.batch._names import submit_name
from symbl_async.batch._results import RESULTS_FILE, SUMMARY_FILE, BatchResult, BatchSummary
from symbl_async.errors import ValidationError
from symbl_async.models._converter import camel_case

__all__ = [
    "ResultWriter",
    "check_output_dir",
    "insights_filename",
    "insights_missing",
    "with_ids",
]

_PARTIAL_SUFFIX = ".partial"
_SAFE_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def insights_filename(key: str, label: str = "") -> str:
    """Return the file name of an item's insights, named after the input.

    A key the batch derived (a sha256 hex) gives ``<input's name>-<12 hex>.json``
    (:func:`~symbl_async.batch._sources.submit_name`, as the conversation is named). A
    caller's own key gives ``<key>.json`` when it is safe; one with other characters than
    letters, digits, ``.``, ``_`` and ``-`` (or longer than 100) is cleaned and given a
    hash suffix, so distinct keys never share a file.

    Args:
        key: the item's ledger key.
        label: the input's label (a path, URL or text description).

    Returns:
        A file name (no folder).
    """
    if re.fullmatch(r"[0-9a-f]{64}", key):
        return submit_name(key, label) + ".json"
    if _SAFE_KEY.fullmatch(key):
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
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows cannot open a folder
        return
    try:
        os.fsync(fd)
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


def insights_missing(path: Path, include: Collection[str]) -> list[str]:
    """The insight kinds of ``include`` an insights file lacks (all of them when it is gone
    or unreadable); blocking (use a thread)."""
    data = _read_object(path)
    if data is None:
        return list(include)
    return [kind for kind in include if camel_case(kind) not in data]


def _read_object(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class ResultWriter:
    """Writes a batch's files in its output folder (see the module docstring)."""

    def __init__(self, out_dir: str | os.PathLike[str]) -> None:
        """Check the folder and start ``results.jsonl.partial`` afresh.

        Args:
            out_dir: the output folder; created if missing.

        Raises:
            ValidationError: (field ``out_dir``) when the folder cannot be written.
        """
        self.out_dir = check_output_dir(out_dir)
        self._results = self.out_dir / RESULTS_FILE
        self._partial = self.out_dir / (RESULTS_FILE + _PARTIAL_SUFFIX)
        try:
            self._lines: IO[str] | None = self._partial.open("w", encoding="utf-8")
        except OSError as exc:
            raise ValidationError(
                "out_dir", f"cannot write {str(self._partial)!r}: {exc.strerror or exc}"
            ) from exc

    def insights_path(self, key: str, label: str = "") -> Path:
        """Where the insights of the item with this key (and label) go."""
        return self.out_dir / insights_filename(key, label)

    def write_insights(self, key: str, insights: Mapping[str, Any], label: str = "") -> Path:
        """Write an item's insights as JSON, atomically; blocking (run it in a thread).

        Args:
            key: the item's ledger key (names the file, with ``label``).
            insights: JSON-ready data, as ``ConversationInsights.to_json()`` gives it.
            label: the input's label.

        Returns:
            The file written.

        Raises:
            OSError: when the file cannot be written.
        """
        path = self.insights_path(key, label)
        # A fetch for kinds an earlier run did not ask for adds them; it never drops what
        # the file already holds.
        data = {**(_read_object(path) or {}), **insights}
        # Compact: json's C encoder only runs without indent; the pure-Python one took 4x
        # as long here (0.28 vs 0.07 ms for a one-minute conversation). Any JSON viewer
        # (jq, an editor) shows it indented.
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        _write_atomically(path, text.encode("utf-8"))
        return path

    def write_line(self, result: BatchResult) -> None:
        """Append the result's line to ``results.jsonl.partial`` and flush it."""
        if self._lines is None:
            return
        self._lines.write(json.dumps(result.to_json(), ensure_ascii=False) + "\n")
        self._lines.flush()

    def finish(self, summary: BatchSummary) -> None:
        """Rename the partial results to ``results.jsonl`` and write ``summary.json``.

        Raises:
            OSError: when a file cannot be written.
        """
        if self._lines is not None:
            self._lines.flush()
            os.fsync(self._lines.fileno())
            self._lines.close()
            self._lines = None
            os.replace(self._partial, self._results)
            _fsync_folder(self.out_dir)
        data = json.dumps(summary.to_json(), ensure_ascii=False, indent=2) + "\n"
        _write_atomically(self.out_dir / SUMMARY_FILE, data.encode("utf-8"))

    def close(self) -> None:
        """Close the partial results without renaming them (idempotent)."""
        if self._lines is not None:
            self._lines.close()
            self._lines = None
