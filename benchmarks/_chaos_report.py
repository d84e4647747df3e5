"""What ``bench_chaos.py`` counts after a mode's batch: the emulator's records and the out folder.

Every count that proves the promise comes from the emulator's own records (``/_emulator/stats``
and ``/_emulator/jobs``) or from the files the batch left in its ``--out`` folder, never from
what the CLI says about itself:

- **fetched complete**: the item's last ``results.jsonl`` line says ``fetched`` or ``skipped``,
  its insights file exists and parses, holds as many messages as the emulator serves for that
  conversation once every job ended (so never a partial transcript), and its conversation is
  that of one of the item's emulator jobs that ended ``completed``.
- **failed (service)**: the item is ``failed`` and the emulator ended its last job ``failed``
  (the only failure the service itself can give here: the URLs are all valid). Among them,
  **unresolved**: the batch left the item open (its job was found by name, so it had no job
  id, and the API shows no end for it; the rerun checks it again and cannot tell either).
- **lost**: any other input (neither fetched complete nor failed for a service reason).
- **paid twice**: an item the emulator created more than one job for, other than jobs the
  service itself ended ``failed`` (a retry of a failed job is a new, legitimate payment).
  ``duplicate_names`` (one attempt name created twice) and ``duplicate_contents`` (one URL
  created twice, legitimate retries included) are the emulator's raw counts.
"""

from __future__ import annotations

import collections
import json
import re
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from symbl_async.batch._items import submit_name

_VARIABLE = re.compile(r"[0-9a-f]{12,}|\b\d+(\.\d+)?\b|'[^']*'|\"[^\"]*\"")


def _reason(error: str | None) -> str:
    """An error message without its item-specific parts, so that failures group."""
    text = (error or "no error given").splitlines()[0]
    return _VARIABLE.sub("#", text)[:160]


def _read_results(out: Path) -> dict[int, dict[str, Any]]:
    results: dict[int, dict[str, Any]] = {}
    path = out / "results.jsonl"
    if not path.exists():
        return results
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            if row.get("index") is not None:
                results[row["index"]] = row  # by input position (the manifest's order)
    return results


def _insights_ok(row: dict[str, Any], out: Path, finals: dict[str, int]) -> tuple[bool, str]:
    raw = row.get("output_path")
    if not raw:
        return False, "no output_path"
    path = Path(raw) if Path(raw).is_absolute() else out / raw
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return False, "insights file missing"
    except (OSError, ValueError) as exc:
        return False, f"insights file unreadable: {type(exc).__name__}"
    messages = data.get("messages") if isinstance(data, dict) else None
    if not isinstance(messages, list) or not messages:
        return False, "no messages in the insights file"
    final = finals.get(str(row.get("conversation_id")))
    if final != len(messages):
        return False, f"partial: {len(messages)} messages in the file, {final} in the end"
    return True, ""


def analyse(
    out: Path,
    urls: list[str],
    stats: dict[str, Any],
    jobs: list[dict[str, Any]],
    finals: dict[str, int],
) -> dict[str, Any]:
    """Count one mode's outcome from its out folder and the emulator's records.

    Args:
        out: the batch's ``--out`` folder after its last run.
        urls: the batch's inputs, in manifest order.
        stats: ``/_emulator/stats``.
        jobs: ``/_emulator/jobs``'s ``jobs``.
        finals: conversation id -> its final number of messages, read from the emulator
            after every job ended.

    Returns:
        JSON-ready counts (see the module docstring) and per-item details of any problem.
    """
    results = _read_results(out)
    by_item: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for job in jobs:
        if not job["foreign"] and job["name"]:
            by_item[str(job["name"]).rsplit("-", 1)[0]].append(job)
    complete = 0
    failed_service: collections.Counter[str] = collections.Counter()
    lost: list[dict[str, Any]] = []
    paid_twice: list[dict[str, Any]] = []
    recovered = 0
    unresolved = 0  # failed by the service, but the batch could not tell (no job id)
    for index, url in enumerate(urls):
        row = results.get(index)
        if row is None:
            lost.append({"source": url, "why": "no results.jsonl line"})
            continue
        name = submit_name(row["key"], str(row.get("source") or "")) if row.get("key") else ""
        item_jobs = by_item.get(name, []) if name else []
        paying = [j for j in item_jobs if j["status"] != "failed"]
        if len(paying) > 1:
            paid_twice.append({"source": url, "key": row["key"], "jobs": item_jobs})
        if row["status"] in ("fetched", "skipped"):
            ok, why = _insights_ok(row, out, finals)
            done = {j["conversationId"] for j in item_jobs if j["status"] == "completed"}
            if ok and row.get("conversation_id") not in done:
                ok, why = False, "conversation is not one of the item's completed jobs"
            if ok:
                complete += 1
                recovered += bool(row.get("recovered"))
            else:
                lost.append({"source": url, "why": why, "row": row, "jobs": item_jobs})
        elif item_jobs and item_jobs[-1]["status"] == "failed":
            failed_service[_reason(row.get("error"))] += 1
            unresolved += "Unresolved" in (row.get("error") or "")
        else:
            lost.append({"source": url, "why": "failed with no failed job", "row": row,
                         "jobs": item_jobs})
    contents = stats["duplicate_contents"]
    return {
        "items": len(urls),
        "fetched_complete": complete,
        "recovered_by_name": recovered,
        "failed_service": sum(failed_service.values()),
        "failed_reasons": dict(failed_service.most_common()),
        "failed_unresolved": unresolved,
        "lost": len(lost),
        "paid_twice": len(paid_twice),
        "duplicate_names": len(stats["duplicate_names"]),
        "duplicate_contents": len(contents),
        "duplicate_contents_extra_jobs": sum(v - 1 for v in contents.values()),
        "max_concurrent_client_jobs": stats["max_concurrent_client_jobs"],
        "max_concurrent_jobs_with_foreign": stats["max_concurrent_jobs"],
        "concurrency_limit": stats["concurrency_limit"],
        "rejected_429": stats["rejected_429"],
        "jobs_created": stats["jobs_created"],
        "jobs_failed": stats["jobs_failed"],
        "submits_received": stats["submits_received"],
        "job_status_requests": stats["job_status_requests"],
        "tokens_issued": stats["tokens_issued"],
        "webhooks": {k: stats[k] for k in (
            "webhooks_sent", "webhooks_failed", "webhooks_dropped", "webhooks_duplicated",
            "webhooks_reordered")},
        "faults_applied": stats["faults"],
        "lost_items": lost[:20],
        "paid_twice_items": paid_twice[:20],
    }


def lines(mode: str, report: dict[str, Any]) -> list[str]:
    """The printed lines of one mode's outcome."""
    reasons = "; ".join(f"{n} x {r}" for r, n in report["failed_reasons"].items()) or "none"
    runs = ", ".join(f"rc={r['returncode']} {r['seconds']:.0f}s" for r in report["runs"])
    return [
        f"[{mode}] items {report['items']}, fetched complete {report['fetched_complete']}"
        f" ({report['recovered_by_name']} recovered by name), failed {report['failed_service']}"
        f" ({report['failed_unresolved']} of them left unresolved), lost {report['lost']}",
        f"[{mode}] failed reasons: {reasons}",
        f"[{mode}] submitted twice: paid twice {report['paid_twice']}, duplicate_names "
        f"{report['duplicate_names']}, duplicate_contents {report['duplicate_contents']} "
        f"(retries of service-failed jobs included)",
        f"[{mode}] max concurrent: client {report['max_concurrent_client_jobs']}, with foreign "
        f"{report['max_concurrent_jobs_with_foreign']} (limit {report['concurrency_limit']});"
        f" 429s {report['rejected_429']}",
        f"[{mode}] jobs created {report['jobs_created']} (failed {report['jobs_failed']}), "
        f"submits received {report['submits_received']}, GET /v1/job "
        f"{report['job_status_requests']}, tokens {report['tokens_issued']}",
        f"[{mode}] faults applied: "
        + ", ".join(f"{k} {v}" for k, v in report["faults_applied"].items()),
        f"[{mode}] webhooks: " + ", ".join(f"{k[9:]} {v}" for k, v in report["webhooks"].items()),
        f"[{mode}] runs: {runs}; wall {report['wall_seconds']:.0f} s",
    ]
