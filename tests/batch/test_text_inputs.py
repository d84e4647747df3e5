"""Text conversations as inputs: .txt transcripts and JSON messages, in folders, manifests
and as direct inputs; their keys cover what they say, not where they are."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from symbl_async.batch._inputs import (
    SKIP_NO_MESSAGES,
    SKIP_OUTPUT_FOLDER,
    FileSource,
    SourceError,
    TextSource,
    coerce_source,
    expand_inputs,
    item_key,
    read_conversation,
    read_manifest,
)
from symbl_async.batch._items import PreparedItem, item_from_spec, prepare_item, spec_of
from symbl_async.batch._results import BatchResult
from symbl_async.errors import ValidationError

TRANSCRIPT = "Ana: Can you send the pricing sheet?\nBen: Sure.\nBy noon.\n"
SIMPLE = [{"speaker": "Ana", "text": "Can you send the pricing sheet?"},
          {"speaker": "Ben", "text": "Sure."}, {"speaker": "Ben", "text": "By noon."}]
API = [{"payload": {"content": m["text"], "contentType": "text/plain"},
        "from": {"name": m["speaker"]}} for m in SIMPLE]


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def prepared(raw: object) -> PreparedItem:
    item = prepare_item(raw, None)
    assert isinstance(item, PreparedItem), item
    return item


def test_each_form_reads_as_the_apis_messages(tmp_path: Path) -> None:
    txt = write(tmp_path / "a.txt", b"\xef\xbb\xbf" + TRANSCRIPT.encode())  # with a BOM
    simple = write(tmp_path / "b.json", json.dumps(SIMPLE))
    body = write(tmp_path / "c.json", json.dumps({"messages": API, "confidenceThreshold": 0.7}))
    assert read_conversation(txt) == (API, None)
    assert read_conversation(simple) == (API, None)
    assert read_conversation(body) == (API, {"confidenceThreshold": 0.7})


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("empty.txt", "", "no text"),
        ("latin1.txt", "caf\xe9".encode("latin-1"), "not UTF-8"),
        ("broken.json", "[{", "not valid JSON"),
        ("object.json", json.dumps({"speaker": "Ana"}), "a list of messages or an object"),
        ("bad.json", json.dumps([{"speaker": "Ana"}]), "needs text or payload.content"),
        ("extra.json", json.dumps([{"text": "hi", "at": 3}]), "unknown key"),
    ],
)
def test_what_is_not_a_conversation_fails_alone_saying_why(
    tmp_path: Path, name: str, content: str | bytes, says: str
) -> None:
    path = write(tmp_path / name, content)
    with pytest.raises(ValidationError, match=says):
        read_conversation(path)
    result = prepare_item(path, None)  # given directly: that item fails, not the batch
    assert isinstance(result, BatchResult) and result.status == "failed"
    assert says in (result.error or "")


def test_the_same_conversation_is_one_item_whatever_its_form_or_place(tmp_path: Path) -> None:
    txt = write(tmp_path / "mon" / "chat.txt", TRANSCRIPT)
    copy = write(tmp_path / "tue" / "copy.txt", TRANSCRIPT)
    simple = write(tmp_path / "chat.json", json.dumps(SIMPLE))
    keys = {prepared(p).key for p in (txt, copy, simple)}
    keys |= {prepared(TextSource(API)).key, prepared({"messages": SIMPLE}).key}
    assert len(keys) == 1
    assert keys == {item_key(FileSource(txt))} == {item_key(TextSource(SIMPLE))}
    other = write(tmp_path / "other.txt", TRANSCRIPT + "Ana: Thanks.\n")
    assert prepared(other).key not in keys


def test_a_text_file_is_labelled_and_named_after_its_path(tmp_path: Path) -> None:
    txt = write(tmp_path / "mon" / "standup notes.txt", TRANSCRIPT)
    item = prepared(FileSource(txt, relative="mon/standup notes.txt"))
    assert isinstance(item.source, TextSource) and list(item.source.messages) == API
    assert item.label == str(txt)
    assert item.name == f"standup-notes-{item.key[:12]}"
    assert item.folder == "mon"
    # What another worker sends from the ledger: the messages, not the file.
    again = item_from_spec(spec_of(item))
    assert isinstance(again.source, TextSource) and list(again.source.messages) == API
    assert (again.key, again.folder, again.label) == (item.key, "mon", item.label)


def test_direct_inputs_and_coercion(tmp_path: Path) -> None:
    txt = write(tmp_path / "notes.txt", TRANSCRIPT)
    js = write(tmp_path / "chat.JSON", json.dumps(SIMPLE))
    assert coerce_source(str(txt)).kind == "text"  # type: ignore[union-attr]
    assert list(expand_inputs([txt, js])) == [FileSource(txt, kind="text"),
                                              FileSource(js, kind="text")]
    assert coerce_source({"messages": SIMPLE}) == TextSource(API)


def test_folders_take_text_and_json_with_messages_only(tmp_path: Path) -> None:
    root = tmp_path / "in"
    write(root / "mon" / "chat.txt", TRANSCRIPT)
    write(root / "mon" / "list.json", json.dumps(SIMPLE))
    write(root / "body.json", json.dumps({"messages": SIMPLE, "languageCode": "en-US"}))
    write(root / "broken.json", "{")  # taken: it fails, saying why, rather than vanish
    write(root / "config.json", json.dumps({"retries": 3}))
    write(root / "numbers.json", json.dumps([1, 2]))
    write(root / "insights.json", json.dumps({"conversationId": "1", "messages": []}))
    skipped: list[tuple[str, str]] = []
    got = list(expand_inputs([root], on_skip=lambda p, r: skipped.append((p, r))))
    assert [(s.relative, s.kind) for s in got] == [  # type: ignore[union-attr]
        ("body.json", "text"), ("broken.json", "text"), ("mon/chat.txt", "text"),
        ("mon/list.json", "text")]
    assert sorted((Path(p).name, r) for p, r in skipped) == [
        ("config.json", SKIP_NO_MESSAGES), ("insights.json", SKIP_NO_MESSAGES),
        ("numbers.json", SKIP_NO_MESSAGES)]
    body = prepared(got[0])
    assert body.options.language_code == "en-US"  # the body's options are the item's


@pytest.mark.parametrize("mark", ["ledger.sqlite3", "results.jsonl",
                                  "results.jsonl.worker-1.partial"])
def test_a_batchs_output_folder_is_never_read_back(tmp_path: Path, mark: str) -> None:
    # Its insights (.json) and transcripts (.txt) are not conversations to pay for again.
    root = tmp_path / "meetings"
    write(root / "a.txt", TRANSCRIPT)
    write(root / "out" / mark, "")
    write(root / "out" / "a-0123456789ab.txt", "[00:00:01] Ana: Can you send it?\n")
    skipped: list[tuple[str, str]] = []
    got = list(expand_inputs([root], on_skip=lambda p, r: skipped.append((p, r))))
    assert [s.relative for s in got] == ["a.txt"]  # type: ignore[union-attr]
    assert skipped == [(str(root / "out"), SKIP_OUTPUT_FOLDER)]


def test_manifests_take_text_files_and_messages(tmp_path: Path) -> None:
    write(tmp_path / "chats" / "a.txt", TRANSCRIPT)
    write(tmp_path / "chats" / "b.json", json.dumps(SIMPLE))
    outside = write(tmp_path.parent / f"{tmp_path.name}-x.txt", TRANSCRIPT)
    rows: list[dict[str, Any]] = [
        {"source": "chats/a.txt", "kind": "text"},
        {"source": "chats/b.json"},  # text by its extension
        {"source": SIMPLE, "key": "t1"},
        {"source": json.dumps(SIMPLE), "kind": "text"},
        {"source": str(outside)},
        {"source": f"../{outside.name}"},
        {"source": "chats/a.txt", "duration": 3},
        {"source": "https://x.example/chat.txt", "kind": "text"},
        {"source": "chats/missing.txt", "kind": "text"},
        {"source": [{"speaker": "Ana"}], "kind": "text"},
    ]
    manifest = write(tmp_path / "m.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n")
    got = list(read_manifest(manifest))
    a, b, t1, inline, absolute, climbing = got[:6]
    assert a == FileSource(tmp_path / "chats" / "a.txt", kind="text")
    assert isinstance(a, FileSource) and a.relative == "chats/a.txt"  # mirrored under --out
    assert isinstance(b, FileSource) and (b.kind, b.relative) == ("text", "chats/b.json")
    assert t1 == TextSource(API, key="t1") and inline == TextSource(API)
    assert isinstance(absolute, FileSource) and absolute.relative is None
    assert isinstance(climbing, FileSource) and climbing.relative is None
    errors = [(g.line, g.message.split(":")[0]) for g in got if isinstance(g, SourceError)]
    assert errors == [(7, "duration"), (8, "kind"), (9, "source"), (10, "messages[0]")]
    # A CSV row with a text file, as a spreadsheet writes it.
    csv_manifest = write(tmp_path / "m.csv", "source,kind\nchats/a.txt,text\nchats/a.txt,\n")
    assert [s.kind for s in read_manifest(csv_manifest)] == [  # type: ignore[union-attr]
        "text", "text"]
