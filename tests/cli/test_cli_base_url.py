"""``--base-url`` mistakes stop the CLI with one line, before any request."""

from __future__ import annotations

from pathlib import Path

import pytest

from symbl_async.cli._main import main


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("", "must be a non-empty http(s) URL"),
        ("http://127.0.0.1:9/v1", "looks wrong"),
        ("http://user:hunter2@127.0.0.1:9", "***@127.0.0.1:9"),
    ],
)
def test_a_bad_base_url_is_a_usage_error(
    url: str,
    expected: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SYMBL_APP_ID", "a")
    monkeypatch.setenv("SYMBL_APP_SECRET", "b")
    media = tmp_path / "a.wav"
    media.write_bytes(b"RIFF")
    code = main(["process", str(media), "--out", str(tmp_path / "out"), "--base-url", url])
    captured = capsys.readouterr()
    assert code != 0
    assert expected in captured.err
    assert "hunter2" not in captured.err + captured.out
    assert "Traceback" not in captured.err
