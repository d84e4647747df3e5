"""Reading a batch's inputs lazily: command-line paths and folders, and manifests.

:func:`expand_inputs` walks folders one directory at a time and :func:`read_manifest` streams
a CSV or JSONL manifest line by line, so memory stays bounded whatever the backlog's length.
A missing path or a malformed row is yielded as a
:class:`~symbl_async.batch._sources.SourceError` naming the line and the rule it broke, so
one bad row fails that item, not the batch.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from pathlib import Path, PurePath
from typing import Any
from urllib.parse import urlsplit

from symbl_async.batch._sources import (
    MEDIA_EXTENSIONS,
    URL_RE,
    FileSource,
    Source,
    SourceError,
    TextSource,
    UrlSource,
    check_duration,
    coerce_source,
    media_kind,
)
from symbl_async.errors import ValidationError

__all__ = ["MANIFEST_FIELDS", "expand_inputs", "read_manifest"]

MANIFEST_FIELDS = ("source", "duration", "key", "kind", "options")
_RAW_LIMIT = 500


def expand_inputs(
    inputs: Iterable[str | os.PathLike[str] | Source],
    on_skip: Callable[[str, str], None] = lambda path, reason: None,
) -> Iterator[Source | SourceError]:
    """Yield the sources named by command-line style inputs, lazily and in a stable order.

    URLs and sources pass through; a file is yielded whatever its extension (it was named on
    purpose); a folder is walked recursively, entries sorted by name, yielding media files
    only (:data:`MEDIA_EXTENSIONS`, case-insensitive). Hidden entries (``.name``, e.g. macOS
    ``._x.wav`` resource forks), other files, broken links and symlinked folders (no loops)
    are left out, each reported to ``on_skip``; symlinked files are followed.

    Args:
        inputs: paths, URLs or sources.
        on_skip: called with ``(path, reason)`` for each entry a folder walk leaves out.

    Yields:
        A source per recording, or a :class:`SourceError` for a missing or unreadable path
        or an unsupported URL (the batch goes on).
    """
    for item in inputs:
        if isinstance(item, str) and URL_RE.match(item):
            try:
                yield coerce_source(item)
            except ValidationError as exc:
                yield SourceError(message=str(exc), origin=item)
            continue
        if isinstance(item, (FileSource, UrlSource, TextSource)):
            yield item
            continue
        path = Path(item)
        if path.is_dir():
            yield from _walk(path, on_skip)
        elif path.is_file():
            yield FileSource(path)
        elif path.exists():
            yield SourceError(message="not a regular file or folder", origin=str(path))
        else:
            yield SourceError(message="no such file or folder", origin=str(path))


def _walk(folder: Path, on_skip: Callable[[str, str], None]) -> Iterator[Source | SourceError]:
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        yield SourceError(message=f"cannot list folder: {exc.strerror or exc}", origin=str(folder))
        return
    for entry in entries:
        try:
            if entry.name.startswith("."):
                on_skip(entry.path, "hidden")
            elif entry.is_dir(follow_symlinks=False):
                yield from _walk(Path(entry.path), on_skip)
            elif entry.is_file() and PurePath(entry.name).suffix.lower() in MEDIA_EXTENSIONS:
                yield FileSource(Path(entry.path))
            else:
                on_skip(entry.path, _skip_reason(entry))
        except OSError as exc:
            yield SourceError(message=f"cannot read: {exc.strerror or exc}", origin=entry.path)


def _skip_reason(entry: os.DirEntry[str]) -> str:
    if entry.is_file():
        return f"not a supported media file ({PurePath(entry.name).suffix or 'no extension'})"
    if entry.is_dir():
        return "symlinked folder (not followed)"
    return "broken link" if entry.is_symlink() else "not a regular file"


def read_manifest(path: str | os.PathLike[str]) -> Generator[Source | SourceError, None, None]:
    """Stream the sources listed in a CSV or JSONL manifest, one line at a time.

    Columns (CSV header) or keys (JSONL objects): ``source`` (required: a path, an http(s)
    URL, or for ``kind`` text a JSON array of messages), ``duration`` (seconds), ``key``,
    ``kind`` (audio, video or text; by default from the URL or file extension), ``options``
    (a JSON object). Relative paths are relative to the manifest's folder. Blank lines are
    skipped. The format and header are checked now; rows are read as they are consumed.

    Args:
        path: a ``.csv``, ``.jsonl`` or ``.ndjson`` file (UTF-8, a BOM is allowed).

    Returns:
        A generator of sources, with a :class:`SourceError` (naming the line and the rule)
        for each malformed row or missing file; the rows after it are still read. It holds
        the file open until exhausted: ``close()`` it to stop early.

    Raises:
        ValidationError: (field ``manifest``) for another extension, an unreadable file, or
            a CSV header without ``source`` or with unknown columns.
    """
    manifest = Path(path)
    suffix = manifest.suffix.lower()
    if suffix not in (".csv", ".jsonl", ".ndjson"):
        raise ValidationError(
            "manifest", f"{str(manifest)!r}: must end in .csv, .jsonl or .ndjson"
        )
    try:
        with _open_text(manifest) as f:
            header = next(csv.reader(f), None) if suffix == ".csv" else None
    except OSError as exc:
        raise ValidationError(
            "manifest", f"cannot read {str(manifest)!r}: {exc.strerror or exc}"
        ) from exc
    if suffix == ".csv":
        _check_header(manifest, header)
        return _read_csv(manifest)
    return _read_jsonl(manifest)


def _open_text(path: Path) -> Any:
    # surrogateescape: a bad byte fails its own row (see _row_source), not the whole file.
    return path.open(encoding="utf-8-sig", errors="surrogateescape", newline="")


def _check_header(manifest: Path, header: list[str] | None) -> None:
    if header is None:
        raise ValidationError("manifest", f"{str(manifest)!r}: empty, needs a header line")
    names = [h.strip() for h in header]
    unknown = [n for n in names if n not in MANIFEST_FIELDS]
    if "source" not in names or unknown or len(set(names)) != len(names):
        raise ValidationError(
            "manifest",
            f"{str(manifest)!r} line 1: header must name 'source' and only columns from "
            f"{', '.join(MANIFEST_FIELDS)}, each once; got {', '.join(names)}",
        )


def _read_csv(manifest: Path) -> Generator[Source | SourceError, None, None]:
    consumed: list[str] = []

    def lines(f: Iterable[str]) -> Iterator[str]:
        for text in f:
            consumed.append(text)
            yield text

    with _open_text(manifest) as f:
        reader = csv.reader(lines(f))
        header = [h.strip() for h in next(reader)]
        consumed.clear()
        start = reader.line_num + 1
        while True:
            problem = None
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:  # e.g. a field over csv.field_size_limit()
                row, problem = [], f"bad CSV: {exc}"
            raw = "".join(consumed).rstrip("\r\n")
            consumed.clear()
            line, start = start, reader.line_num + 1
            if problem is not None:
                yield _row_error(manifest, line, problem, raw)
            elif not any(cell.strip() for cell in row):
                continue  # a blank line
            elif len(row) != len(header):
                yield _row_error(
                    manifest, line, f"expected {len(header)} fields, got {len(row)}", raw
                )
            else:
                yield _row_source(manifest, line, raw, dict(zip(header, row, strict=True)), True)


def _read_jsonl(manifest: Path) -> Generator[Source | SourceError, None, None]:
    with _open_text(manifest) as f:
        for line, text in enumerate(f, start=1):
            raw = text.rstrip("\r\n")
            if not raw.strip():
                continue
            try:
                _check_utf8(raw)
                row = json.loads(raw)
            except ValueError as exc:
                yield _row_error(manifest, line, f"not a JSON object: {exc}", raw)
                continue
            if not isinstance(row, dict):
                yield _row_error(manifest, line, "not a JSON object", raw)
                continue
            yield _row_source(manifest, line, raw, row, False)


def _row_error(manifest: Path, line: int, message: str, raw: str) -> SourceError:
    return SourceError(message=message, origin=str(manifest), line=line, raw=raw[:_RAW_LIMIT])


def _check_utf8(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("not valid UTF-8") from exc


def _row_source(
    manifest: Path, line: int, raw: str, row: Mapping[str, Any], from_csv: bool
) -> Source | SourceError:
    try:
        if from_csv:
            _check_utf8(raw)
        return _parse_row(manifest, row, from_csv)
    except ValueError as exc:  # ValidationError included: "field: rule"
        return _row_error(manifest, line, str(exc), raw)


def _parse_row(manifest: Path, row: Mapping[str, Any], from_csv: bool) -> Source:
    # One check per manifest column, in column order; kept whole so the row's rules
    # read as a list.
    unknown = sorted(set(row) - set(MANIFEST_FIELDS))
    if unknown:
        raise ValidationError(unknown[0], f"unknown key; allowed: {', '.join(MANIFEST_FIELDS)}")

    def cell(name: str) -> Any:
        value = row.get(name)
        if from_csv and isinstance(value, str):
            value = value.strip() or None
        return value

    source, kind, key = cell("source"), cell("kind"), cell("key")
    if key is not None and not isinstance(key, str):
        raise ValidationError("key", "must be a string")
    duration = cell("duration")
    if isinstance(duration, str):
        try:
            duration = float(duration)
        except ValueError:
            raise ValidationError(
                "duration", f"must be a number of seconds, got {duration!r}"
            ) from None
    check_duration(None, None, duration)
    duration = None if duration is None else float(duration)
    options = cell("options")
    if isinstance(options, str) and from_csv:
        try:
            options = json.loads(options)
        except ValueError:
            raise ValidationError("options", "must be a JSON object") from None
    if options is not None and not isinstance(options, dict):
        raise ValidationError("options", "must be a JSON object")
    if kind not in (None, "audio", "video", "text"):
        raise ValidationError("kind", f"must be audio, video or text, got {kind!r}")
    if source is None or source == "":
        raise ValidationError("source", "is required")

    if kind == "text" or isinstance(source, list):
        if kind not in (None, "text"):
            raise ValidationError("kind", "a list of messages needs kind text")
        if isinstance(source, str):
            try:
                source = json.loads(source)
            except ValueError:
                source = None
        if not isinstance(source, list):
            raise ValidationError("source", "kind text needs a JSON array of messages")
        if duration is not None:
            raise ValidationError("duration", "does not apply to kind text")
        return TextSource(source, options=options, key=key)
    if not isinstance(source, str):
        raise ValidationError("source", "must be a path, an http(s) URL or a list of messages")
    if URL_RE.match(source):
        url_kind = kind or media_kind(urlsplit(source).path)
        return UrlSource(source, url_kind, options=options, key=key, duration=duration)
    file = Path(source)
    if not file.is_absolute():
        file = manifest.parent / file
    if not file.is_file():
        raise ValidationError("source", f"no such file {str(file)!r}")
    file_kind = kind or media_kind(file.name)
    return FileSource(file, options=options, key=key, duration=duration, kind=file_kind)
