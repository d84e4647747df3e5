"""JSON in and out on the hot paths: orjson when it is installed (the ``speedups`` extra),
else the standard library, with the same results.

Every answer body is decoded here and every insights file encoded here: about 0.7 ms of a
job's client CPU with :mod:`json` (54 kB of insights decoded, then written), a fifth of
that with orjson. Where orjson refuses what :mod:`json` takes, :mod:`json` does the work,
so installing the extra changes how fast, not what:

* decoding: ``NaN``, ``Infinity`` and integers beyond 64 bits are not JSON, but
  :mod:`json` reads them (and a service may send them);
* encoding: keys that are not strings, integers beyond 64 bits. One difference stays:
  orjson writes a float NaN or infinity as ``null`` (valid JSON), :mod:`json` as ``NaN``.
"""

from __future__ import annotations

import json
from typing import Any

try:  # the optional extra: pip install 'symbl_async[speedups]'
    import orjson as _orjson
except ImportError:  # pragma: no cover - the test extra installs it
    _orjson = None  # type: ignore[assignment]

__all__ = ["dumps", "loads", "uses_orjson"]


def uses_orjson() -> bool:
    """Whether orjson does the work (the ``speedups`` extra is installed)."""
    return _orjson is not None


def loads(raw: bytes | str) -> Any:
    """Decode JSON text (UTF-8 bytes or a string).

    Raises:
        ValueError: the text is not JSON (:class:`json.JSONDecodeError`), or the bytes are
            not UTF-8 (:class:`UnicodeDecodeError`).
    """
    if _orjson is not None:
        try:
            return _orjson.loads(raw)
        except _orjson.JSONDecodeError:
            pass  # NaN, Infinity, huge integers, or not JSON: json decides
    return json.loads(raw)


def dumps(data: Any) -> bytes:
    """Encode as compact UTF-8 JSON (no spaces, non-ASCII characters as they are).

    Raises:
        TypeError: something in ``data`` has no JSON form.
        ValueError: a circular reference.
    """
    if _orjson is not None:
        try:
            return _orjson.dumps(data)
        except _orjson.JSONEncodeError:
            pass  # a non-string key, a huge integer: json takes them (or says why not)
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
