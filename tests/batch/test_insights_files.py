"""The insights files a batch writes without building models: the same JSON as the models'.

With an output folder the engine fetches ``fetch_insights_json`` and writes it; each file
must hold what ``attrs.evolve(fetch_insights(...), job_id=..., conversation_id=...)
.to_json()`` held when the files were written from models. Without a folder the results
carry the models, as before.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from pathlib import Path
from typing import Any

import attrs
import pytest

from symbl_async.batch._api import process_many
from symbl_async.batch._inputs import TextSource, UrlSource
from symbl_async.batch._results import BatchResult
from symbl_async.batch._slots import JobSlots
from symbl_async.client import ALL_INCLUDE
from symbl_async.client._client import SymblClient
from symbl_async.client._waiting import PollSchedule
from symbl_async.emulator import Emulator
from symbl_async.errors import ResponseDecodeError
from symbl_async.models import ConversationInsights

SCALE = 2000.0


def _sources() -> list[Any]:
    return [
        UrlSource(f"https://media.test/f{i}.mp3?emulator_duration={30 + 40 * i}", "audio",
                  duration=30 + 40 * i)
        for i in range(3)
    ] + [TextSource([{"payload": {"content": "Can you send the pricing sheet tomorrow?"},
                      "from": {"name": "Ana"}}])]


def _client(emu: Emulator) -> SymblClient:
    return SymblClient(app_id=emu.app_id, app_secret=emu.app_secret, base_url=emu.url,
                       poll=PollSchedule(time_scale=SCALE))


async def _run(client: Any, tmp_path: Path | None, include: Collection[str]) -> list[BatchResult]:
    # A bad answer is retried until the fetch deadline (a paid job's insights): short here.
    run = process_many(client, _sources(), slots=JobSlots(4, backoff_base=0.005),
                       out_dir=tmp_path, include=include, fetch_timeout=0.5)
    async with run:
        return [result async for result in run]


async def _models_json(client: SymblClient, result: BatchResult, include: Any) -> str:
    assert result.conversation_id is not None
    insights = await client.fetch_insights(result.conversation_id, include=include)
    evolved = attrs.evolve(insights, job_id=result.job_id, conversation_id=result.conversation_id)
    return json.dumps(evolved.to_json(), ensure_ascii=False, separators=(",", ":"))


async def test_files_hold_the_models_json_and_reruns_merge(tmp_path: Path) -> None:
    async with Emulator(time_scale=SCALE) as emu, _client(emu) as client:
        first = await _run(client, tmp_path, ("messages", "topics"))
        assert {r.status for r in first} == {"fetched"}
        assert all(r.insights is None and r.job_id for r in first)  # on disk only
        texts = {}
        for result in first:
            assert result.output_path is not None
            texts[result.key] = result.output_path.read_text(encoding="utf-8")
            # Byte for byte what the models' JSON gives (same keys, order, numbers).
            assert texts[result.key] == await _models_json(client, result, ("messages", "topics"))

        more = await _run(client, tmp_path, ALL_INCLUDE)
        assert {r.status for r in more} == {"fetched"}
        assert emu.stats()["jobs_submitted"] == len(first)  # fetched again, never paid again
        for result in more:
            assert result.output_path is not None
            data = json.loads(result.output_path.read_text(encoding="utf-8"))
            # The rerun fetched everything: the models' JSON, merged into the first file
            # (whose keys keep their place, as they always did).
            models = json.loads(await _models_json(client, result, ALL_INCLUDE))
            assert data == {**json.loads(texts[result.key]), **models} == models


async def test_without_a_folder_results_carry_the_models() -> None:
    async with Emulator(time_scale=SCALE) as emu, _client(emu) as client:
        results = await _run(client, None, ("messages", "summary"))
    assert {r.status for r in results} == {"fetched"}
    for result in results:
        assert isinstance(result.insights, ConversationInsights)
        assert result.insights.job_id == result.job_id
        assert result.insights.conversation_id == result.conversation_id
        assert result.insights.messages and result.insights.summary is not None


class BadAnswers(SymblClient):
    """A client whose JSON fetch meets an answer of the wrong shape."""

    async def fetch_insights_json(
        self, conversation_id: str, include: Collection[str] = ALL_INCLUDE
    ) -> dict[str, Any]:
        raise ResponseDecodeError("the answer does not have the shape of list[Message]")


@pytest.mark.parametrize("folder", [True, False])
async def test_a_bad_answer_fails_the_item_only_when_it_is_written(
    tmp_path: Path, folder: bool
) -> None:
    async with Emulator(time_scale=SCALE) as emu, BadAnswers(
        app_id=emu.app_id, app_secret=emu.app_secret, base_url=emu.url,
        poll=PollSchedule(time_scale=SCALE),
    ) as client:
        results = await _run(client, tmp_path if folder else None, ("messages",))
    if folder:
        assert {r.status for r in results} == {"failed"}
        assert all("fetching insights failed" in (r.error or "") for r in results)
        assert not list(tmp_path.glob("*-*.json"))
    else:  # the models' path does not use fetch_insights_json
        assert {r.status for r in results} == {"fetched"}
