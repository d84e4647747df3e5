"""How the batch library names its parameters in messages (``process_many(option_names=)``).

By default in Python spelling (``retry_failed=True``, the option's own name), as a library
user writes them; the CLI gives its flags, and every message that names a parameter says it
the caller's way. A rerun refused before it began leaves the folder's earlier results as
they were.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import pytest
from _fake_client import InstantClient

from symbl_async.batch._api import process_many
from symbl_async.batch._ledger import MemoryStore, Pending
from symbl_async.batch._rerun import check_rerun
from symbl_async.batch._results import BatchResult
from symbl_async.batch._slots import JobSlots
from symbl_async.core._options import ProcessingOptions
from symbl_async.errors import ServerError, ValidationError

URL = "https://media.test/n.mp3"


class InsightsDown(InstantClient):
    """Every job completes; its insights cannot be fetched."""

    async def fetch_insights_json(
        self, conversation_id: str, include: Collection[str] = ()
    ) -> dict[str, Any]:
        raise ServerError(500, "insights are down")


async def _results(client: InstantClient, tmp_path: Path, **kwargs: Any) -> list[BatchResult]:
    run = process_many(client, [URL], slots=JobSlots(2, backoff_base=0.001),
                       out_dir=tmp_path, fetch_timeout=0.05, **kwargs)
    async with run:
        return [result async for result in run]


@pytest.mark.parametrize(
    ("names", "said"),
    [({}, "retry_failed=True"), ({"retry_failed": "--retry-failed"}, "--retry-failed")],
)
async def test_a_failed_fetch_names_the_retry_the_callers_way(
    tmp_path: Path, names: Mapping[str, str], said: str
) -> None:
    [result] = await _results(InsightsDown(), tmp_path, option_names=names)
    assert result.status == "failed" and result.error is not None
    assert result.error.endswith(f"insights are down ({said} fetches it again without "
                                 "submitting)"), result.error


@pytest.mark.parametrize(
    ("names", "option", "again"),
    [({}, "enable_summary", "reprocess=True"),
     ({"enable_summary": "--enable-summary", "reprocess": "--reprocess"}, "--enable-summary",
      "--reprocess")],
)
async def test_a_refused_rerun_names_options_and_reprocess_the_callers_way(
    names: Mapping[str, str], option: str, again: str
) -> None:
    store = MemoryStore()
    await check_rerun(store, options=None, base_url="http://a", app_id="x", reprocess=False,
                      names=names)
    await store.add_pending([Pending("k", "s", "n", None, None)])
    with pytest.raises(ValidationError) as info:
        await check_rerun(store, options=ProcessingOptions(enable_summary=True),
                          base_url="http://a", app_id="x", reprocess=False, names=names)
    assert info.value.field == "options"
    assert info.value.rule.startswith(f"differ from this batch's ({option}: unset -> True)")
    assert info.value.rule.endswith(f"or {again} to do exactly that")


async def test_a_dry_check_records_nothing() -> None:
    store = MemoryStore()
    await check_rerun(store, options=None, base_url="http://a", app_id="x", reprocess=False,
                      names={}, record=False)
    assert await store.get_meta("batch_options") is None
    assert await store.get_meta("service") is None


async def test_a_rerun_refused_before_it_began_leaves_the_earlier_results(
    tmp_path: Path
) -> None:
    client = InstantClient()
    first = await _results(client, tmp_path)
    assert [r.status for r in first] == ["fetched"]
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()
              if not p.name.startswith("ledger.sqlite3")}
    run = process_many(client, [URL], out_dir=tmp_path,
                       options=ProcessingOptions(enable_summary=True))
    with pytest.raises(ValidationError, match="differ from this batch's"):
        async with run:
            [result async for result in run]
    assert run.summary is None  # it never ran
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir()
             if not p.name.startswith("ledger.sqlite3")}
    assert after == before  # results.jsonl and summary.json of the first run, no partial
    assert client.submits == 1
