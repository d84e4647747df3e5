"""Names: what an item's submits are called in Symbl, and what its insights file is called.

Deterministic from the item's key and its input, so that a submit lost in a crash can be
looked up by name, and readable, so that a user finds ``call-0142`` in the conversation
list and in the output folder. Each attempt adds its number (:func:`attempt_name`).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import PurePath
from urllib.parse import unquote, urlsplit

from symbl_async.batch._sources import URL_RE

__all__ = ["attempt_name", "readable_stem", "submit_name"]


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
        stem = PurePath(segment).stem if parts.path.strip("/") else segment
    else:
        stem = PurePath(PurePath(label).name).stem
    cleaned = re.sub(r"[^\w.-]+", "-", stem).strip("._-")[:40].strip("._-")
    return cleaned or "item"


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


def attempt_name(name: str, attempt: int) -> str:
    """Return the ``name`` one attempt's submit carries: the item's name and the attempt number.

    Each attempt has its own, recorded in the ledger before it is sent, so a lookup by name
    finds that attempt's job and never an older attempt's (say, a failed one).

    Args:
        name: the item's :func:`submit_name`.
        attempt: 1 for the first submit, 2 for the next, ...
    """
    return f"{name}-{attempt}"
