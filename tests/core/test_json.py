"""The hot paths' JSON codec: orjson (the speedups extra) and the standard library give the
same results, and orjson's refusals fall back to json."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import pytest

from symbl_async.core import _json
from symbl_async.core._http import decode_body


@pytest.fixture(params=["orjson", "json"])
def codec(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Each test runs with orjson doing the work, then with the standard library alone."""
    if request.param == "json":
        monkeypatch.setattr(_json, "_orjson", None)
    assert _json.uses_orjson() is (request.param == "orjson")
    yield request.param


INSIGHTS: dict[str, Any] = {
    "conversationId": "5e8c5f3d",
    "messages": [
        {"id": "m1", "text": "Grüße aus Köln, ça va? 你好 👋", "from": {"name": "Zoë"},
         "startTime": "2020-07-10T11:16:21.024Z", "timeOffset": 5.12, "duration": 1.5,
         "sentiment": {"polarity": {"score": -0.25}, "suggested": "neutral"},
         "words": [], "phrases": [{"type": "verb_phrase", "text": "go"}]},
    ],
    "topics": [{"id": "t1", "text": "pricing", "score": 0.75, "messageIds": ["m1"],
                "parentRefs": None}],
    "analytics": {"metrics": [{"type": "total_silence", "percent": 29.63, "seconds": 8}]},
    "count": 12345678901,
    "flags": [True, False, None],
}


def test_insights_encode_to_the_standard_compact_bytes_and_back(codec: str) -> None:
    encoded = _json.dumps(INSIGHTS)
    assert encoded == json.dumps(INSIGHTS, ensure_ascii=False,
                                 separators=(",", ":")).encode("utf-8")
    assert "Grüße".encode() in encoded  # UTF-8 as is, not \\u escapes
    assert _json.loads(encoded) == INSIGHTS
    assert _json.loads(encoded.decode("utf-8")) == INSIGHTS


def test_what_only_json_reads_is_read_as_json_reads_it(codec: str) -> None:
    # Not JSON, but json (and so a service written in Python) produces it.
    data = _json.loads(b'{"score": NaN, "top": Infinity, "low": -Infinity, '
                       b'"huge": 123456789012345678901234567890}')
    assert math.isnan(data["score"])
    assert data["top"] == math.inf and data["low"] == -math.inf
    assert data["huge"] == 123456789012345678901234567890


@pytest.mark.parametrize("raw", [b"{", b"not json", b"\xff\xfe{}", b"[1,]"])
def test_what_is_not_json_is_a_value_error(codec: str, raw: bytes) -> None:
    with pytest.raises(ValueError):
        _json.loads(raw)


def test_what_only_json_writes_is_written_as_json_writes_it(codec: str) -> None:
    data = {1: "one", "big": 2**70, "nested": {2.5: [2**65]}}
    assert _json.loads(_json.dumps(data)) == json.loads(json.dumps(data))
    assert _json.dumps(data) == json.dumps(data, separators=(",", ":")).encode()


def test_what_has_no_json_form_is_refused(codec: str) -> None:
    with pytest.raises(TypeError):
        _json.dumps({"when": object()})
    looped: dict[str, Any] = {}
    looped["self"] = looped
    with pytest.raises(ValueError):
        _json.dumps(looped)


def test_answer_bodies_decode_through_the_codec(codec: str) -> None:
    assert decode_body(b'{"jobId": "j1", "status": "completed"}') == {
        "jobId": "j1", "status": "completed"}
    assert decode_body(b"  ") is None
    assert decode_body(b"<html>Bad Gateway</html>") == "<html>Bad Gateway</html>"
    assert decode_body("é".encode("latin-1")) == "\ufffd"
