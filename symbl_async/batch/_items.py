"""Turning a batch's inputs into submittable items, naming them, and submitting one.

:func:`prepare_item` is the only place an input is checked: a bad input becomes a failed
:class:`~symbl_async.batch._results.BatchResult` (that item's failure, never the batch's), a
good one a :class:`PreparedItem` with its ledger key, its submit ``name``, its effective
options and its expected media length. It is blocking (it hashes and probes files): run it in
a thread for file inputs.

Names: what an item's submits are called in Symbl (:func:`submit_name`; each attempt adds its
number), deterministic from the item's key and its input, so that a submit lost in a crash
can be looked up by name, and readable, so that a user finds ``call-0142`` in the
conversation list and in the output folder. Where in the output folder: the subfolder its
input was found in (:func:`output_folder`), recorded with the item's submit (its spec) when
the item is first recorded, so that its place never moves.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any
from urllib.parse import unquote, urlsplit

import attrs

from symbl_async.batch._inputs import (
    SAMPLE_BYTES,
    URL_RE,
    FileSource,
    Source,
    SourceError,
    TextSource,
    UrlSource,
    coerce_source,
    describe_source,
    file_fingerprint,
    item_key,
    name_parts,
    printable,
    read_text_source,
    read_up_to,
)
from symbl_async.batch._protocol import BatchClient
from symbl_async.batch._results import BatchResult
from symbl_async.core._jobs import Job
from symbl_async.core._media import HEAD_LIMIT, probe_opened
from symbl_async.core._options import ProcessingOptions
from symbl_async.core._upload import UploadProgress
from symbl_async.errors import ValidationError

__all__ = [
    "PreparedItem", "folder_of_spec", "item_from_spec", "merge_options", "output_folder",
    "prepare_item", "readable_stem", "spec_of", "submit_item", "submit_name",
]


@attrs.frozen(kw_only=True)
class PreparedItem:
    """An input ready to submit.

    Attributes:
        source: the source.
        key: its ledger key (``item_key`` of the source with its
            effective options).
        name: the unique ``name`` its submits carry (``submit_name``).
        options: the effective options; each submit sets its attempt's ``name``
            (:func:`submit_item`), so they are shared by the batch's items, not copied.
        duration: expected media length in seconds, when known.
        label: a human label of the source.
        folder: the subfolder of the output folder its insights go in (``/``-separated,
            ``""``: the top), mirroring where its input was found (:func:`output_folder`).
    """

    source: Source
    key: str
    name: str
    options: ProcessingOptions
    duration: float | None
    label: str
    folder: str = ""

    @property
    def uploads(self) -> bool:
        """Whether its submit uploads a file (and so takes a turn on the uplink)."""
        return isinstance(self.source, FileSource) and self.source.kind != "text"

    def upload_size(self) -> int | None:
        """The file's size in bytes now, for a file source (None for a URL or text, or a
        file that cannot be read: its submit's bound is then unknown)."""
        if not isinstance(self.source, FileSource):
            return None
        try:
            return os.path.getsize(self.source.path)
        except OSError:
            return None


_NO_OPTIONS = ProcessingOptions()


def readable_stem(label: str) -> str:
    """A short, file-name-safe stem of an input's label: the file's or the URL's name.

    Args:
        label: what :func:`describe_source` says of the input (a path, a URL, or
            ``"text: N message(s)"``).

    Returns:
        Letters (any script), digits, ``.``, ``_`` and ``-`` only, at most 40 characters;
        ``"text"``
        for a text conversation, ``"item"`` when nothing readable is left.
    """
    if label.startswith("text: "):
        return "text"
    if URL_RE.match(label):
        parts = urlsplit(label)
        segment = unquote(parts.path.rstrip("/").rsplit("/", 1)[-1]) or parts.hostname or ""
        stem = name_parts(segment)[0] if parts.path.strip("/") else segment
    else:
        stem = name_parts(label)[0]
    cleaned = re.sub(r"[^\w.-]+", "-", stem).strip("._-")[:40].strip("._-")
    return cleaned or "item"


# Characters some file system refuses in a name (Windows' set, and control characters).
_UNSAFE_IN_NAMES = re.compile(r'[\x00-\x1f<>:"|?*\\]')
# What can make a relative path more than a bare name (a folder, or a drive on Windows).
_SEPARATORS = re.compile("[" + re.escape(os.sep + (os.altsep or "") + ":") + "]")


def output_folder(relative: str | None) -> str:
    """The subfolder of the output folder for an input found at ``relative`` (its path
    relative to the folder it was found in): that path's folders, each made safe to create
    (characters some file system refuses as ``_``, bytes that are not UTF-8 as ``_xff``).

    Returns:
        ``/``-separated folders, or ``""`` (the top) for None, a bare name, or a path that
        is absolute or climbs (``..``).
    """
    if not relative or not _SEPARATORS.search(relative):  # a bare name
        return ""
    path = PurePath(relative)
    if path.is_absolute() or ".." in path.parts:
        return ""
    folders = []
    for part in path.parent.parts:
        if part in ("", "."):
            continue
        safe = _UNSAFE_IN_NAMES.sub("_", printable(part)).rstrip(" .")
        folders.append(safe or "_")
    return "/".join(folders)


def folder_of_spec(spec: str | None) -> str:
    """The output subfolder an item's recorded submit (:func:`spec_of`) names; ``""`` for
    none (an item recorded before subfolders were mirrored)."""
    if not spec:
        return ""
    try:
        folder = json.loads(spec).get("folder", "")
    except (ValueError, AttributeError):
        return ""
    return output_folder(folder + "/x") if isinstance(folder, str) and folder else ""


def _key_digest(key: str) -> str:
    if re.fullmatch(r"[0-9a-f]{64}", key):
        return key[:12]
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]


def submit_name(key: str, label: str = "") -> str:
    """Return the unique, deterministic ``name`` a submit of this item carries.

    Readable in Symbl's conversation list: the input's name and 12 hex digits of its key
    (``call-0142-3f2a9c1b7e4d``), so two inputs with one file name still differ.

    Args:
        key: the item's key (:func:`item_key`).
        label: the input's label (:func:`describe_source`), for the readable part.

    Returns:
        ``<stem>-<12 hex>``: the key's own digits when it is a sha256 hex, else those of
        the key's sha256 (a caller's key may hold any characters).
    """
    return f"{readable_stem(label)}-{_key_digest(key)}"


def merge_options(base: ProcessingOptions | None, own: object) -> ProcessingOptions:
    """Return the batch's options overridden by a source's own options.

    Args:
        base: the batch's options (None: none).
        own: the source's options: None, a :class:`ProcessingOptions`, or a mapping in the
            API's JSON form (camelCase or snake_case keys, as in a manifest's ``options``).

    Returns:
        Options with every option the source sets taken from it, the others from ``base``.

    Raises:
        ValidationError: for an unknown option or a value that breaks a rule.
    """
    if own is None:  # the common case: options are frozen, so the batch's own will do
        return base if base is not None else _NO_OPTIONS
    merged: dict[str, Any] = base.to_json() if base is not None else {}
    if isinstance(own, ProcessingOptions):
        merged.update(own.to_json())
    elif isinstance(own, Mapping):
        merged.update(ProcessingOptions.from_json(own).to_json())
    elif own is not None:
        raise ValidationError("options", "must be ProcessingOptions or a JSON object")
    return ProcessingOptions.from_json(merged)


def _label(raw: object) -> str:
    if isinstance(raw, SourceError):
        return f"{raw.origin} line {raw.line}" if raw.line is not None else raw.origin
    if isinstance(raw, (FileSource, UrlSource, TextSource)):
        return describe_source(raw)
    if isinstance(raw, (str, os.PathLike)):
        return printable(os.fspath(raw))
    text = repr(raw)
    return text if len(text) <= 200 else text[:197] + "..."


def _check_file(source: FileSource) -> tuple[float | None, list[object] | None]:
    """Check that a file can be uploaded as its kind; return its media length if known, and
    its identity for the key (:func:`file_fingerprint`; None when the source has a key of
    its own). One stat and one open: a rerun checks every file of its input, and three
    stats and two opens a file were a large part of a 100,000-file rerun's time."""
    path = source.path
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise ValidationError("file", f"{str(path)!r} does not exist") from None
    except OSError as exc:
        raise ValidationError(
            "file", f"{str(path)!r} cannot be read: {exc.strerror or exc}"
        ) from exc
    # Before opening: opening a FIFO would wait for a writer.
    if not stat.S_ISREG(st.st_mode):
        raise ValidationError("file", f"{str(path)!r} is not a regular file")
    if st.st_size == 0:
        raise ValidationError("file", f"{str(path)!r} is empty")
    try:
        with open(path, "rb", buffering=0) as f:
            size = os.fstat(f.fileno()).st_size  # the file opened (it may have changed)
            keyed = source.key is not None  # its identity is not read
            first = read_up_to(f, min(size, HEAD_LIMIT if keyed else SAMPLE_BYTES))
            content_type, duration = probe_opened(f, first, size, os.fspath(path))
            fingerprint = None if keyed else file_fingerprint(f, size, first)
    except OSError as exc:
        raise ValidationError(
            "file", f"{str(path)!r} cannot be read: {exc.strerror or exc}"
        ) from exc
    if source.kind == "video" and content_type != "video/mp4":
        raise ValidationError(
            "file", f"{str(path)!r} must be MP4 video (found {content_type or 'an unknown type'})"
        )
    if source.kind == "audio" and (content_type is None or not content_type.startswith("audio/")):
        found = content_type or "an unknown type"
        raise ValidationError(
            "file", f"{str(path)!r} is not a supported audio or video file (found {found})"
        )
    return duration, fingerprint


def prepare_item(raw: object, base_options: ProcessingOptions | None) -> PreparedItem | BatchResult:
    """Check one input and compute what submitting it needs; blocking for files.

    Args:
        raw: a source, a path, an http(s) URL string, a mapping with ``messages``, or a
            :class:`~symbl_async.batch._sources.SourceError` (passed through as a problem).
        base_options: the batch's options, overridden by the source's own.

    Returns:
        The prepared item, or its failed result (no key, no index yet) saying what is wrong.
    """
    label = _label(raw)
    if isinstance(raw, SourceError):
        return _problem(label, raw.message, None)
    try:
        source = coerce_source(raw)
        label = describe_source(source)
        if isinstance(source, FileSource) and source.kind == "text":
            source = read_text_source(source)  # the key covers what it says, not its path
        options = merge_options(base_options, source.options)
        duration: float | None = getattr(source, "duration", None)
        fingerprint = None
        if isinstance(source, FileSource):
            probed, fingerprint = _check_file(source)
            duration = duration if duration is not None else probed
        elif isinstance(source, TextSource):
            options.check_for_text()
        # The key covers the effective options (without name and webhook_url): the same
        # recording processed with other options is another item.
        key = item_key(source, options, fingerprint=fingerprint)
    except ValidationError as exc:
        return _problem(label, str(exc), exc)
    name = submit_name(key, label)
    return PreparedItem(
        source=source,
        key=key,
        name=name,
        options=options,
        duration=duration,
        label=label,
        folder=output_folder(source.relative if not isinstance(source, UrlSource) else None),
    )


def _problem(label: str, error: str, exc: BaseException | None) -> BatchResult:
    return BatchResult(key=None, index=None, source=label, status="failed", error=error,
                       exception=exc)


async def submit_item(
    client: BatchClient, item: PreparedItem, name: str, *, progress: UploadProgress | None = None
) -> Job:
    """Send one submit for a prepared item, under this attempt's ``name``.

    Args:
        client: the client.
        item: the item.
        name: the attempt's name (``LedgerItem.attempt_name``), as the
            ledger recorded it before this call.
        progress: an upload's progress, updated as its bytes go (a file source).

    Returns:
        The job the service created.

    Raises:
        ConcurrencyLimitError: every job slot of the account is busy (429).
        SubmitOutcomeUnknownError: the job may or may not exist: look it up by name.
        SymblError: any other refusal or failure (the submit created no job).
    """
    source = item.source
    options = item.options.replace(name=name)
    if options.webhook_url is None:
        # The attempt in the URL: a webhook then names the job of a submit whose answer was
        # lost (found again by name, the list gives no job id).
        webhook_url = client.webhook_url_for(name)
        if webhook_url is not None:
            options = options.replace(webhook_url=webhook_url)
    if isinstance(source, FileSource):
        return await client.submit(source.kind, file=source.path, options=options,
                                   progress=progress)
    if isinstance(source, UrlSource):
        return await client.submit(source.kind, url=source.url, options=options,
                                   media_duration=item.duration)
    return await client.submit("text", messages=source.messages, options=options)


_SPEC_JSON = json.JSONEncoder(separators=(",", ":"))  # one, not one per item (json.dumps)


def spec_of(item: PreparedItem) -> str:
    """The item's submit as JSON, for the ledger: another worker of a shared batch sends it
    from this (:func:`item_from_spec`) without the input. No secret: the options and the
    source as given (a presigned URL is as secret as the input it came from)."""
    source = item.source
    spec: dict[str, Any] = {
        "key": item.key, "name": item.name, "label": item.label, "duration": item.duration,
        "options": item.options.to_json(),
    }
    if item.folder:
        spec["folder"] = item.folder
    if isinstance(source, FileSource):
        spec.update(source="file", path=os.fspath(source.path), kind=source.kind)
    elif isinstance(source, UrlSource):
        spec.update(source="url", url=source.url, kind=source.kind)
    else:
        spec.update(source="text", messages=list(source.messages))
    # ASCII: a path that is not valid UTF-8 (surrogates) survives as \\udcXX escapes.
    return _SPEC_JSON.encode(spec)


def item_from_spec(spec: str) -> PreparedItem:
    """The prepared item a :func:`spec_of` JSON describes (files are not probed again).

    Raises:
        ValidationError: (field ``spec``) when it is not one.
    """
    try:
        data = json.loads(spec)
        options = ProcessingOptions.from_json(data["options"])
        key, duration = data["key"], data["duration"]
        source: Source
        if data["source"] == "file":
            source = FileSource(data["path"], options=options, key=key, duration=duration,
                                kind=data["kind"])
        elif data["source"] == "url":
            source = UrlSource(data["url"], data["kind"], options=options, key=key,
                               duration=duration)
        else:
            source = TextSource(data["messages"], options=options, key=key)
        return PreparedItem(source=source, key=key, name=data["name"], options=options,
                            duration=duration, label=data["label"],
                            folder=folder_of_spec(spec))
    except (ValueError, KeyError, TypeError) as exc:
        raise ValidationError("spec", f"not an item's submit: {exc}") from exc
