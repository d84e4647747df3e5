"""What a batch leaves in its output folder, on every ledger: insights files in the subfolders
their inputs came from (and there across reruns), text conversations, transcripts beside
each insights file (fetched on a rerun without paying again), and ``results.csv``."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import errno
import json
import logging
import os
import stat
import time
from collections.abc import AsyncIterator, Collection, Iterable
from pathlib import Path
from typing import Any

import pytest
from _captions import check_srt, check_vtt
from _cli_support import write_wav
from _ledgers import Ledgers

from symbl_async.batch import _output
from symbl_async.batch._api import BatchRun, process_many
from symbl_async.batch._inputs import FileSource, UrlSource, expand_inputs
from symbl_async.batch._output import COUNTED_KINDS, CSV_COLUMNS, insights_filename
from symbl_async.batch._results import BatchEvent, BatchResult
from symbl_async.batch._slots import JobSlots
from symbl_async.client import ALL_INCLUDE, DEFAULT_INCLUDE
from symbl_async.client._client import SymblClient
from symbl_async.client._waiting import PollSchedule
from symbl_async.emulator import Emulator
from symbl_async.errors import ServerError, ValidationError
from symbl_async.models import Transcript

SCALE = 2000.0
FAILING_URL = "https://media.test/broken.mp3?emulator_duration=60"
TRANSCRIPT = "Ana: Can you send the pricing sheet tomorrow?\nBen: Sure, by noon.\n"


class Counting(SymblClient):
    """The real client, counting the insight kinds and formatted transcripts it fetches."""

    kinds: list[str]
    formatted: list[str]

    async def fetch_insights_json(
        self, conversation_id: str, include: Collection[str] = DEFAULT_INCLUDE
    ) -> dict[str, Any]:
        self.kinds.extend(include)
        return await super().fetch_insights_json(conversation_id, include)

    def reset(self) -> None:
        self.kinds, self.formatted = [], []
        transcript = self.conversations.transcript
        formatted = self.formatted

        async def counted(conversation_id: str, *, content_type: str = "text/markdown",
                          **options: Any) -> Transcript:
            formatted.append(content_type)
            return await transcript(conversation_id, content_type=content_type, **options)

        self.conversations.transcript = counted  # type: ignore[method-assign]


@contextlib.asynccontextmanager
async def emulated(limit: int = 3, **config: Any) -> AsyncIterator[tuple[Emulator, Counting]]:
    async with Emulator(time_scale=SCALE, concurrency_limit=limit, **config) as emu:
        client = Counting(app_id=emu.app_id, app_secret=emu.app_secret, base_url=emu.url,
                          poll=PollSchedule(time_scale=SCALE))
        async with client:
            client.reset()
            yield emu, client


def run(client: SymblClient, sources: Iterable[object], out: Path | None, ledgers: Ledgers,
        **kwargs: Any) -> BatchRun:
    return process_many(client, sources, out_dir=out, ledger=ledgers.arg(),
                        slots=JobSlots(3, backoff_base=0.005, backoff_cap=0.05), **kwargs)


async def collect(batch: BatchRun) -> list[BatchResult]:
    async with batch:
        return sorted([r async for r in batch], key=lambda r: r.index or 0)


def where(results: list[BatchResult], out: Path) -> list[str]:
    places = []
    for result in results:
        assert result.output_path is not None and result.output_path.is_file(), result
        places.append(result.output_path.relative_to(out).as_posix())
    return places


async def test_subfolders_are_mirrored_and_places_stay_across_reruns(
    tmp_path: Path, ledgers: Ledgers
) -> None:
    meetings = tmp_path / "meetings"
    for folder, seconds in (("mon", 30), ("tue", 20), ("tue/late", 25)):
        (meetings / folder).mkdir(parents=True)
        write_wav(meetings / folder / "standup.wav", seconds)
    write_wav(tmp_path / "standup.wav", 10)
    out = tmp_path / "out"
    async with emulated() as (emu, client):
        first = await collect(run(client, [*expand_inputs([meetings]), tmp_path / "standup.wav"],
                                  out, ledgers))
        places = where(first, out)
        hexes = [p.rsplit("-", 1)[1] for p in places]
        assert places == [f"mon/standup-{hexes[0]}", f"tue/late/standup-{hexes[1]}",
                          f"tue/standup-{hexes[2]}", f"standup-{hexes[3]}"]
        assert len(set(places)) == 4 and all(len(h) == len("0123456789ab.json") for h in hexes)

        # Named otherwise (a subfolder given as the input, a file given directly): each is
        # found where it is, not moved, not paid again.
        again = await collect(run(client, [*expand_inputs([meetings / "tue"]),
                                           meetings / "mon" / "standup.wav"], out, ledgers))
        assert [r.status for r in again] == ["skipped"] * 3
        assert where(again, out) == [places[1], places[2], places[0]]

        # A lost file comes back at its place, even through another spelling of --out.
        (out / places[1]).unlink()
        link = tmp_path / "out-link"
        os.symlink(out, link)
        back = await collect(run(client, expand_inputs([meetings / "tue" / "late"]), link,
                                 ledgers))
        assert [r.status for r in back] == ["fetched"]
        assert (out / places[1]).is_file()
        assert len(list(out.rglob("standup-*.json"))) == 4
        assert emu.stats()["jobs_submitted"] == 4


def test_inside_resolves_each_folder_once_and_agrees_with_a_full_resolve(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, out / "away")  # a subfolder that leads out of the folder
    os.symlink(out, tmp_path / "out-link")  # another spelling of the folder
    cases = [
        (out / "a.json", True), (out / "sub" / "b.json", True),
        (out / "sub" / "b2.json", True), (out / "away" / "c.json", False),
        (tmp_path / "out-link" / "sub" / "d.json", True),
        (out / "sub" / ".." / "e.json", True), (out / "sub" / "..", False),
        (tmp_path / "other.json", False), (elsewhere / "f.json", False),
    ]
    parents: dict[str, str] = {}
    for path, expected in cases:
        assert _output.inside(out, path) is expected, path
        assert _output.inside(out, path, real_parents=parents) is expected, path
    # One resolve per folder that held a path (the two in sub/ share one; "sub/.." as a
    # name is resolved whole).
    assert sorted(parents) == sorted(str(p) for p in (
        out, out / "sub", out / "away", tmp_path / "out-link" / "sub", out / "sub" / "..",
        tmp_path, elsewhere))


async def test_a_rerun_checks_each_finished_items_files_in_a_group(
    tmp_path: Path, ledgers: Ledgers
) -> None:
    # The finished items of one recorded group have their files checked together: each
    # must still get its own verdict (kept, lost, damaged), and only the new input is paid.
    sources = [UrlSource(f"https://media.test/g{i}.mp3?emulator_duration=20", "audio")
               for i in range(6)]
    out = tmp_path / "out"
    async with emulated() as (emu, client):
        first = await collect(run(client, sources, out, ledgers))
        assert [r.status for r in first] == ["fetched"] * 6
        paths = [r.output_path for r in first]
        assert all(p is not None for p in paths)
        lost, damaged = paths[1], paths[4]
        assert lost is not None and damaged is not None
        lost.unlink()
        damaged.write_text("{not json")
        new = UrlSource("https://media.test/g-new.mp3?emulator_duration=20", "audio")
        again = await collect(run(client, [*sources, new], out, ledgers))
        assert [r.status for r in again] == ["skipped", "fetched", "skipped", "skipped",
                                             "fetched", "skipped", "fetched"]
        assert [r.output_path for r in again[:6]] == paths
        assert lost.is_file() and json.loads(damaged.read_text())["conversationId"]
        assert emu.stats()["jobs_submitted"] == 7  # the six once, the new one once
        lines = (out / "results.jsonl").read_text().splitlines()
        assert sorted(json.loads(line)["source"] for line in lines) == sorted(
            r.source for r in again)


async def test_a_rerun_trusts_the_ledgers_record_of_an_unchanged_file_and_reads_a_changed_one(
    tmp_path: Path, ledgers: Ledgers
) -> None:
    # Real insights files are tens to hundreds of KB: a rerun does not read the files of
    # 100,000 finished items when the ledger says what each held and the file is unchanged.
    sources = [UrlSource(f"https://media.test/r{i}.mp3?emulator_duration=40", "audio")
               for i in range(3)]
    out = tmp_path / "out"
    async with emulated() as (emu, client):
        first = await collect(run(client, sources, out, ledgers))
        assert [r.status for r in first] == ["fetched"] * 3
        trusted, edited, kept = (r.output_path for r in first)
        assert trusted is not None and edited is not None and kept is not None
        # Unchanged for the file system (same size, same time), but no longer JSON: only
        # a rerun that reads it could tell.
        st = trusted.stat()
        trusted.write_bytes(b" " * st.st_size)
        os.utime(trusted, ns=(st.st_atime_ns, st.st_mtime_ns))
        # Edited: it lost a kind, and its size and time changed.
        data = json.loads(edited.read_text())
        del data["topics"]
        edited.write_text(json.dumps(data))
        client.reset()
        again = await collect(run(client, sources, out, ledgers))
        assert [r.status for r in again] == ["skipped", "fetched", "skipped"]
        assert again[0].counts == first[0].counts and again[0].counts  # as recorded
        assert client.kinds == ["topics"]  # only what the edited file lacks
        assert "topics" in json.loads(edited.read_text())
        # A file changed after the last run is read again: the damaged one, once touched.
        os.utime(trusted)
        client.reset()
        third = await collect(run(client, sources, out, ledgers))
        assert [r.status for r in third] == ["fetched", "skipped", "skipped"]
        assert json.loads(trusted.read_text())["conversationId"] == first[0].conversation_id
        assert third[1].counts == again[1].counts  # recorded when the kind was added
        assert emu.stats()["jobs_submitted"] == 3


def test_a_callers_key_never_takes_the_summarys_name() -> None:
    assert insights_filename("call-0142") == "call-0142.json"
    for key in ("summary", "Summary"):
        name = insights_filename(key)
        assert name.lower() != "summary.json" and name.startswith(key + "-")


async def test_text_conversations_from_folders_manifests_and_direct_inputs(
    tmp_path: Path, ledgers: Ledgers
) -> None:
    chats = tmp_path / "chats"
    (chats / "mon").mkdir(parents=True)
    (chats / "mon" / "call.txt").write_text(TRANSCRIPT)
    (chats / "tue.json").write_text(json.dumps(
        [{"speaker": "Cy", "text": "Let's meet Friday to review the budget."}]))
    (chats / "api.json").write_text(json.dumps({"messages": [
        {"payload": {"content": "Please book a room."}, "from": {"name": "Di"}}]}))
    (tmp_path / "same.txt").write_text(TRANSCRIPT)  # the same transcript as mon/call.txt
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"source": "chats/mon/call.txt", "kind": "text"}) + "\n")
    out = tmp_path / "out"
    from symbl_async.batch._inputs import read_manifest

    async with emulated() as (emu, client):
        results = await collect(run(client, [
            *expand_inputs([chats]), tmp_path / "same.txt", *read_manifest(manifest),
            {"messages": [{"speaker": "Ed", "text": "Ship it on Monday."}]},
        ], out, ledgers))
        assert emu.stats()["jobs_submitted"] == 4  # the transcript given thrice: one item
        assert [r.status for r in results] == ["fetched"] * 6
        assert [r.duplicate for r in results] == [False] * 3 + [True, True, False]
        assert len({r.key for r in results}) == 4
        assert where(results, out)[:3] == [
            f"api-{results[0].key[:12]}.json",  # type: ignore[index]
            f"mon/call-{results[1].key[:12]}.json",  # type: ignore[index]
            f"tue-{results[2].key[:12]}.json",  # type: ignore[index]
        ]
        assert results[1].source == str(chats / "mon" / "call.txt")
        said = await client.conversations.messages(results[1].conversation_id or "")
        assert [(m.from_.name if m.from_ else None) for m in said] == ["Ana", "Ben"]


async def test_transcripts_are_written_and_a_rerun_fetches_them_without_paying(
    tmp_path: Path, ledgers: Ledgers
) -> None:
    sources: list[object] = [
        UrlSource(f"https://media.test/t{i}.mp3?emulator_duration={40 + 30 * i}", "audio",
                  duration=40 + 30 * i) for i in range(2)
    ] + [{"messages": [{"speaker": "Ana", "text": "Can you send it tomorrow?"},
                       {"speaker": "Ben", "text": "Yes."}]}]
    out = tmp_path / "out"
    async with emulated() as (emu, client):
        first = await collect(run(client, sources, out, ledgers))
        assert not list(out.rglob("*.vtt"))
        client.reset()

        formats = ("srt", "vtt", "md", "txt")
        second = await collect(run(client, sources, out, ledgers, transcripts=formats))
        assert [r.status for r in second] == ["fetched"] * 3  # fetched again, not paid
        assert emu.stats()["jobs_submitted"] == 3
        # The insights file had every kind: only the formatted transcripts were asked for,
        # the others rendered from its messages.
        assert client.kinds == []
        assert sorted(client.formatted) == ["text/markdown"] * 3 + ["text/srt"] * 3
        for result in second:
            assert result.output_path is not None
            stem = result.output_path.with_suffix("")
            srt = check_srt(stem.with_suffix(".srt").read_text())
            vtt = check_vtt(stem.with_suffix(".vtt").read_text())
            messages = json.loads(result.output_path.read_text())["messages"]
            assert len(srt) == len(vtt) == len(messages)
            assert [text for *_, text in vtt] == [
                [f"<v {m['from']['name']}>{m['text']}"] for m in messages]
            assert [(s, e) for s, e, _ in vtt] == [(s, e) for s, e, _ in srt]
            md, txt = (stem.with_suffix(s).read_text() for s in (".md", ".txt"))
            assert messages[0]["text"] in md
            assert txt.splitlines()[0].endswith(f"{messages[0]['from']['name']}: "
                                                f"{messages[0]['text']}")
        assert first[2].output_path is not None
        assert "Ana: Can you send it tomorrow?" in first[2].output_path.with_suffix(
            ".txt").read_text()

        # One transcript lost: only it comes back, from what the insights file holds.
        lost = second[0].output_path.with_suffix(".vtt")  # type: ignore[union-attr]
        lost.unlink()
        client.reset()
        third = await collect(run(client, sources, out, ledgers, transcripts=formats))
        assert [r.status for r in third] == ["fetched", "skipped", "skipped"]
        assert lost.is_file() and client.kinds == [] and client.formatted == []

        # Everything there: nothing is fetched.
        client.reset()
        fourth = await collect(run(client, sources, out, ledgers, transcripts=["vtt"],
                                   include=("messages",)))
        assert [r.status for r in fourth] == ["skipped"] * 3
        assert client.kinds == [] and client.formatted == []
        assert emu.stats()["jobs_submitted"] == 3


async def test_rendered_transcripts_fetch_the_messages_they_need_once(
    tmp_path: Path, ledgers: Ledgers
) -> None:
    out = tmp_path / "out"
    source = UrlSource("https://media.test/m.mp3?emulator_duration=90", "audio", duration=90)
    async with emulated() as (_, client):
        (result,) = await collect(run(client, [source], out, ledgers, include=("topics",),
                                      transcripts=("vtt", "txt")))
        assert result.status == "fetched" and result.output_path is not None
        # topics for the file; the messages and the conversation's start for the
        # rendering, once for both, and not added to the insights file.
        assert client.kinds == ["topics", "conversation", "messages"]
        assert set(json.loads(result.output_path.read_text())) == {
            "conversationId", "jobId", "topics"}
        check_vtt(result.output_path.with_suffix(".vtt").read_text())


async def test_a_fetch_retried_after_its_insights_were_written_fetches_only_the_rest(
    tmp_path: Path, ledgers: Ledgers
) -> None:
    # The first try of a new conversation does not look for its file (none can hold it);
    # a retry does, and fetches only what the file lacks.
    out = tmp_path / "out"
    source = UrlSource("https://media.test/r.mp3?emulator_duration=90", "audio", duration=90)
    async with emulated() as (emu, client):
        transcript = client.conversations.transcript
        tries: list[str] = []

        async def flaky(conversation_id: str, **options: Any) -> Transcript:
            tries.append(conversation_id)
            if len(tries) == 1:
                raise ServerError(503, "the transcript is not ready")
            return await transcript(conversation_id, **options)

        client.conversations.transcript = flaky  # type: ignore[method-assign]
        (result,) = await collect(run(client, [source], out, ledgers, include=("topics",),
                                      transcripts=("srt",)))
        assert result.status == "fetched" and result.output_path is not None
        assert len(tries) == 2 and client.kinds == ["topics"]  # not fetched again
        assert set(json.loads(result.output_path.read_text())) == {
            "conversationId", "jobId", "topics"}
        check_srt(result.output_path.with_suffix(".srt").read_text())
        assert emu.stats()["jobs_submitted"] == 1


def rows(out: Path, name: str = "results.csv") -> list[dict[str, str]]:
    with (out / name).open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
        return list(reader)


async def test_results_csv_is_written_as_the_run_goes_and_completed_at_the_end(
    tmp_path: Path, ledgers: Ledgers
) -> None:
    out = tmp_path / "out"
    sources: list[UrlSource] = [
        UrlSource(f"https://media.test/c{i}.mp3?emulator_duration={60 * (i + 1)}", "audio",
                  duration=60 * (i + 1)) for i in range(3)
    ] + [UrlSource(FAILING_URL, "audio"),
         UrlSource("https://media.test/k.mp3?emulator_duration=30", "audio", key="=1+1")]
    seen: list[int] = []

    def count_lines() -> None:
        (partial,) = out.glob("results.csv*.partial")
        with partial.open(encoding="utf-8-sig", newline="") as f:
            seen.append(sum(1 for _ in csv.reader(f)) - 1)

    def on_event(event: BatchEvent) -> None:
        # Every result's line can be read by the end of the loop's turn that reported it
        # (lines are flushed once per turn): a callback queued now runs after that flush.
        if event.kind == "result":
            asyncio.get_running_loop().call_soon(count_lines)

    async with emulated(fail_inputs={FAILING_URL}) as (_, client):
        first = await collect(run(client, sources, out, ledgers, on_event=on_event,
                                  include=ALL_INCLUDE))
        assert len(seen) == 5 and all(n >= i + 1 for i, n in enumerate(seen)), seen
        assert not list(out.glob("*.partial"))
        table = rows(out)
        assert len(table) == 5
        by_input = {row["input"]: row for row in table}
        for result in first:
            row = by_input[result.source]
            assert row["status"] == result.status
            assert row["conversation_id"] == (result.conversation_id or "")
            if result.status == "failed":
                assert row["error"] == result.error and row["messages"] == ""
                continue
            assert result.output_path is not None
            data = json.loads(result.output_path.read_text())
            for kind in COUNTED_KINDS:  # as many as the file holds
                key = "".join(w.title() if i else w for i, w in enumerate(kind.split("_")))
                assert int(row[kind]) == len(data[key])
            assert float(row["processing_seconds"]) >= 0
            assert row["output_path"] == str(result.output_path)
        assert by_input[sources[2].url]["media_minutes"] == "3"
        assert by_input[FAILING_URL]["media_minutes"] == ""  # length unknown
        # A spreadsheet shows this key as text, not as a formula.
        assert by_input["https://media.test/k.mp3?emulator_duration=30"]["key"] == "'=1+1"

        # A rerun's rows: skipped, with the counts its files hold.
        await collect(run(client, sources, out, ledgers, include=ALL_INCLUDE))
        again = {row["input"]: row for row in rows(out)}
        for source, row in by_input.items():
            if row["status"] == "failed":
                continue
            assert again[source]["status"] == "skipped"
            assert [again[source][k] for k in COUNTED_KINDS] == [row[k] for k in COUNTED_KINDS]


async def test_a_rerun_with_an_output_folder_writes_what_a_run_without_one_did_not(
    tmp_path: Path, ledgers: Ledgers
) -> None:
    sources = [UrlSource("https://media.test/n.mp3?emulator_duration=30", "audio")]
    async with emulated() as (emu, client):
        (bare,) = await collect(run(client, sources, None, ledgers))
        assert bare.status == "fetched" and bare.output_path is None
        (filed,) = await collect(run(client, sources, tmp_path / "out", ledgers))
        assert filed.status == "fetched" and filed.output_path is not None
        assert filed.output_path.is_file()
        assert emu.stats()["jobs_submitted"] == 1


@pytest.mark.parametrize(
    ("transcripts", "out", "says"),
    [(["pdf"], "out", "unknown"), ("srt", "out", "collection"), (["srt"], None, "out_dir")],
)
async def test_transcripts_are_checked_before_anything_runs(
    tmp_path: Path, transcripts: Any, out: str | None, says: str
) -> None:
    async with emulated() as (emu, client):
        with pytest.raises(ValidationError, match=says) as info:
            process_many(client, [FileSource(tmp_path / "a.wav")], transcripts=transcripts,
                         out_dir=None if out is None else tmp_path / out)
        assert info.value.field == "transcripts"
        assert emu.stats()["submits_received"] == 0


@pytest.mark.skipif(os.name == "nt", reason="Windows files have no POSIX mode bits")
@pytest.mark.parametrize("umask", [0o022, 0o077])
async def test_files_written_atomically_get_the_umasks_mode_as_results_jsonl_does(
    tmp_path: Path, ledgers: Ledgers, umask: int
) -> None:
    # Written through a temporary file and a rename: that file's mode is the one kept.
    # tempfile.mkstemp's 0600 left them unreadable to anyone but their owner.
    previous = os.umask(umask)
    try:
        out = tmp_path / "out"
        async with emulated() as (_, client):
            [result] = await collect(run(client, [UrlSource(
                "https://media.test/m.mp3?emulator_duration=40", "audio", duration=40)],
                out, ledgers, transcripts=("srt", "txt")))
    finally:
        os.umask(previous)
    assert result.status == "fetched" and result.output_path is not None
    written = [result.output_path, result.output_path.with_suffix(".srt"),
               result.output_path.with_suffix(".txt"), out / "summary.json",
               out / "results.jsonl"]
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in written} == {
        p.name: oct(0o666 & ~umask) for p in written}
    assert not list(out.glob(".*.tmp"))  # no temporary file left behind


def _folder_fsync_fails(error: int) -> Any:
    """os.fsync, failing with ``error`` on a folder (as on a file system without folder
    fsync), as itself on files."""
    real = os.fsync

    def fsync(fd: int) -> None:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(error, os.strerror(error))
        real(fd)

    return fsync


@pytest.mark.skipif(os.name == "nt", reason="Windows cannot open a folder to fsync it")
async def test_a_file_system_that_cannot_fsync_folders_still_gets_every_file(
    tmp_path: Path, ledgers: Ledgers, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # VirtualBox shared folders, some FUSE and Ceph volumes: EINVAL. Failing the write
    # failed every fetch of a paid job, each rerun's too.
    monkeypatch.setattr(_output, "_folder_fsync_refused", False)
    monkeypatch.setattr(os, "fsync", _folder_fsync_fails(errno.EINVAL))
    out = tmp_path / "out"
    sources = [UrlSource(f"https://media.test/f{i}.mp3?emulator_duration=40", "audio",
                         duration=40) for i in range(2)]
    with caplog.at_level(logging.WARNING, logger="symbl_async.batch"):
        async with emulated() as (emu, client):
            results = await collect(run(client, sources, out, ledgers))
            assert emu.stats()["jobs_submitted"] == 2
    assert [r.status for r in results] == ["fetched", "fetched"]
    for result in results:
        assert result.output_path is not None
        assert json.loads(result.output_path.read_text())["conversationId"]
    assert (out / "summary.json").is_file()
    said = [r.getMessage() for r in caplog.records if "cannot fsync a folder" in r.getMessage()]
    assert len(said) == 1  # once, not per file


@pytest.mark.skipif(os.name == "nt", reason="Windows cannot open a folder to fsync it")
def test_a_folder_fsync_that_fails_to_write_back_still_fails_the_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # EIO is data that may be lost, not a file system without folder fsync.
    monkeypatch.setattr(os, "fsync", _folder_fsync_fails(errno.EIO))
    with pytest.raises(OSError) as raised:
        _output._write_atomically(tmp_path / "x.json", b"{}")
    assert raised.value.errno == errno.EIO


def _replace_refused(times: int) -> tuple[Any, list[str]]:
    """os.replace refusing the first ``times`` calls as Windows does while another process
    (an antivirus, the indexer) holds the target; the calls' targets are listed."""
    real, calls = os.replace, []

    def replace(src: Any, dst: Any) -> None:
        calls.append(str(dst))
        if len(calls) <= times:
            raise PermissionError(13, "The process cannot access the file because it is "
                                      "being used by another process")
        real(src, dst)

    return replace, calls


@pytest.mark.parametrize("windows", [True, False], ids=["windows", "posix"])
def test_a_rename_refused_while_another_process_holds_the_file_is_tried_again_on_windows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, windows: bool
) -> None:
    replace, calls = _replace_refused(2)
    monkeypatch.setattr(_output, "_RETRY_REPLACE", windows)
    monkeypatch.setattr(_output, "_REPLACE_PAUSES", (0.0,) * 5)
    monkeypatch.setattr(os, "replace", replace)
    target = tmp_path / "x.json"
    if windows:
        _output._write_atomically(target, b'{"a": 1}')
        assert target.read_bytes() == b'{"a": 1}' and len(calls) == 3
    else:  # elsewhere a refused rename is a real error, said at once
        with pytest.raises(PermissionError):
            _output._write_atomically(target, b'{"a": 1}')
        assert len(calls) == 1
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_rename_refused_for_good_fails_the_write_and_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    replace, calls = _replace_refused(100)
    monkeypatch.setattr(_output, "_RETRY_REPLACE", True)
    monkeypatch.setattr(_output, "_REPLACE_PAUSES", (0.0,) * 5)
    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(PermissionError):
        _output._write_atomically(tmp_path / "x.json", b"{}")
    assert len(calls) == 6 and not list(tmp_path.iterdir())


async def test_a_rerun_removes_the_temporary_files_a_crash_left_and_nothing_else(
    tmp_path: Path, ledgers: Ledgers, caplog: pytest.LogCaptureFixture
) -> None:
    # A SIGKILL or a power cut in the middle of a write leaves its temporary file; reruns
    # left them there for good (each as large as the file it was to become).
    out = tmp_path / "out"
    source = UrlSource("https://media.test/t.mp3?emulator_duration=40", "audio", duration=40)
    async with emulated() as (emu, client):
        [first] = await collect(run(client, [source], out, ledgers))
        assert first.output_path is not None
        hours_ago = time.time() - 2 * _output.STALE_TEMPORARY_AGE
        left = [first.output_path.with_name(f".{first.output_path.name}.0123abcd.tmp"),
                out / "deep" / "er" / ".call.srt.deadbeef.tmp"]
        live = out / ".summary.json.89abcdef.tmp"  # young: maybe a peer's write under way
        others = [out / ".notes.tmp", out / "call.json.0123abcd.tmp",
                  out / ".call.json.0123ABCD.tmp", out / ".call.json.0123abcd.tmp.bak"]
        fd, made = _output._create_beside(first.output_path)  # as a write names its own
        os.close(fd)
        left.append(Path(made))
        for path in [*left, live, *others]:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b'{"partial')
            if path is not live:
                os.utime(path, (hours_ago, hours_ago))
        with caplog.at_level(logging.INFO, logger="symbl_async.batch"):
            [again] = await collect(run(client, [source], out, ledgers))
        assert emu.stats()["jobs_submitted"] == 1  # the rerun paid nothing
    assert again.status == "skipped" and again.output_path == first.output_path  # done earlier
    assert [p for p in left if p.exists()] == []
    assert live.exists() and all(p.exists() for p in others)
    assert any("removed 3 temporary file(s)" in r.getMessage() for r in caplog.records)


async def test_a_sweep_that_fails_is_logged_and_the_batch_goes_on(
    tmp_path: Path, ledgers: Ledgers, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def fails(folder: Path, **_: Any) -> int:
        raise PermissionError(errno.EACCES, "Permission denied", str(folder))

    monkeypatch.setattr(_output, "remove_stale_temporaries", fails)
    out = tmp_path / "out"
    with caplog.at_level(logging.WARNING, logger="symbl_async.batch"):
        async with emulated() as (_, client):
            [result] = await collect(run(client, [UrlSource(
                "https://media.test/s.mp3?emulator_duration=40", "audio", duration=40)],
                out, ledgers))
    assert result.status == "fetched" and (out / "summary.json").is_file()
    assert any("could not look for leftover temporary files" in r.getMessage()
               for r in caplog.records)
