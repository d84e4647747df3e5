"""What a rerun does: the rules for an input the ledger already knows, and for the batch.

Written once, for every ledger (SQLite, PostgreSQL, in memory):

* :func:`admit` decides what an input needs from its item's row: queue it, wait for it (in
  flight, in this run's hands or another worker's), report it at once (done earlier,
  failed earlier), check its insights file, or take it back (``retry_failed``).
* :func:`check_rerun` refuses a rerun that would pay for every item again by mistake: other
  processing options, or another service or account than the one the ledger was made with.
* The batch's webhook token and what the client learned of processing times are kept with
  the ledger, so a rerun hears the earlier run's webhooks and starts warm.
"""

from __future__ import annotations

import enum
import hashlib
import json
import logging
import os
import secrets
from collections.abc import Collection, Mapping
from pathlib import Path

from symbl_async.batch._inputs import canonical_options
from symbl_async.batch._ledger._sqlite import SqliteLedger
from symbl_async.batch._ledger._states import ItemState, LedgerItem
from symbl_async.batch._ledger._store import ItemStore
from symbl_async.batch._output import inside, outputs_missing
from symbl_async.core._estimate import ProcessingTimeModel
from symbl_async.errors import ValidationError

__all__ = [
    "Admit",
    "admit",
    "batch_webhook_token",
    "check_rerun",
    "keep_webhook_token",
    "load_processing_model",
    "named",
    "outputs_to_fetch",
    "read_webhook_token",
    "save_processing_model",
    "say",
    "shared_webhook_token",
]

log = logging.getLogger("symbl_async.batch")

WEBHOOK_TOKEN = "webhook_token"
"""The ledger's ``meta`` entry holding the batch's webhook receiver token (a credential)."""
BATCH_OPTIONS = "batch_options"
SERVICE = "service"
PROCESSING_MODEL = "processing_model"
_WEBHOOK_URL_DIGEST = "webhook_url_sha256"


class Admit(enum.Enum):
    """What an input needs, given its item's row."""

    QUEUE = "queue"
    """Pending: to be claimed and submitted."""
    AWAIT = "await"
    """In flight or completed, in some worker's hands: its result will come."""
    REPORT = "report"
    """Nothing to do: report the row (done or failed, in this run or earlier)."""
    CHECK_FILE = "check_file"
    """Fetched by an earlier run: report it, unless its insights file is gone or lacks
    kinds this run asks for (then fetch again, never resubmit)."""
    RETRY = "retry"
    """Failed in an earlier run, and ``retry_failed``: take it back."""


def admit(
    row: LedgerItem, *, run_started: float, retry_failed: bool, given_up: bool
) -> Admit:
    """Decide what an input needs from its item's row. Pure.

    Args:
        row: the item as the ledger has it.
        run_started: when the batch's run started (ledger time): a row settled since was
            settled in this run (by this worker or another), never "earlier".
        retry_failed: take back items that failed in an earlier run.
        given_up: the item is in this worker's hands but no task of it runs (this run gave
            up on it: a wait timeout, unknown outcomes); reported, not waited for.
    """
    state = row.state
    if state is ItemState.PENDING:
        return Admit.QUEUE
    this_run = row.updated_at >= run_started
    if state is ItemState.FETCHED:
        return Admit.REPORT if this_run else Admit.CHECK_FILE
    if state is ItemState.FAILED:
        # Failed in this run (a worker joining late, a duplicate input): retrying it here
        # would pay again for a job the service just failed.
        return Admit.RETRY if retry_failed and not this_run else Admit.REPORT
    return Admit.REPORT if given_up else Admit.AWAIT


def say(names: Mapping[str, str], parameter: str) -> str:
    """How messages name a flag to turn on: the caller's spelling (the CLI's flags), or
    ``parameter=True``."""
    return names.get(parameter, f"{parameter}=True")


def named(names: Mapping[str, str], parameter: str) -> str:
    """How messages name a parameter (or a processing option): the caller's spelling (the
    CLI's flags), or its own name."""
    return names.get(parameter, parameter)


def outputs_to_fetch(
    row: LedgerItem, out_dir: Path | None, include: Collection[str],
    transcripts: Collection[str] = (), *, real_out_dir: str | None = None,
    real_parents: dict[str, str] | None = None,
) -> tuple[str | None, dict[str, int]]:
    """What an item fetched by an earlier run needs fetched again, and its insight counts:
    what its files lack (``"file missing"``, ``"lacks topics"``, ``"no .vtt transcript"``:
    :func:`~symbl_async.batch._output.outputs_missing`), or None (it is done). Only files
    in ``out_dir``, this run's folder, are checked (subfolders included, however the
    folder is spelled; a shared batch's other workers keep theirs elsewhere). An item
    fetched by a run that wrote no files has none here yet. Blocking: it reads the file.
    ``real_out_dir``: ``os.path.realpath(out_dir)``, if known (one per group of items);
    ``real_parents``: the folders resolved so far in this group (:func:`inside`).
    """
    if out_dir is None:
        return None, {}
    if row.output_path is None:
        return "no insights file", {}
    path = Path(row.output_path)
    if not inside(out_dir, path, real_folder=real_out_dir, real_parents=real_parents):
        return None, {}
    return outputs_missing(path, include, transcripts, row.outputs)


async def check_rerun(
    store: ItemStore,
    *,
    options: object,
    base_url: str,
    app_id: str | None,
    reprocess: bool,
    names: Mapping[str, str],
    record: bool = True,
) -> None:
    """Refuse a rerun that would process (and pay for) every item again by mistake.

    Options are part of each item's key, so a rerun with other options (a flag added by
    mistake) would treat every recording as new. A rerun against another service or
    account would find none of the ledger's jobs there (each fetch a 404, each item failed).
    The first run (or a ledger from before this check) records both; ``reprocess`` accepts
    new ones and records them instead. ``record=False`` only checks (a dry run).

    Raises:
        ValidationError: (field ``options`` or ``base_url``) naming what differs.
    """
    current = canonical_options(options, ignore=("name", "webhook_url"))
    service = json.dumps({"base_url": base_url.rstrip("/"), "app_id": app_id},
                         sort_keys=True)
    stored_options = await store.get_meta(BATCH_OPTIONS)
    stored_service = await store.get_meta(SERVICE)
    used = any((await store.counts()).values())
    if used and not reprocess:
        again = (f"Use another ledger (another output folder), or {say(names, 'reprocess')} "
                 "to do exactly that")
        if stored_service is not None and stored_service != service:
            was = json.loads(stored_service)
            raise ValidationError(
                "base_url",
                f"this batch was made with {_service_text(was)}; this run uses "
                f"{_service_text(json.loads(service))}: none of its jobs are there, and every "
                f"item would be processed and paid for again. {again}",
            )
        if stored_options is not None and stored_options != current:
            was, now = json.loads(stored_options), json.loads(current)
            changes = ", ".join(
                f"{named(names, name)}: {_value(was, name)} -> {_value(now, name)}"
                for name in sorted(set(was) | set(now))
                if was.get(name) != now.get(name)
            )
            raise ValidationError(
                "options",
                f"differ from this batch's ({changes}); every item would be processed and "
                f"paid for again. {again}",
            )
    if not record:
        return
    if stored_options != current:
        await store.set_meta(BATCH_OPTIONS, current)
    if stored_service != service:
        await store.set_meta(SERVICE, service)


def _value(options: Mapping[str, object], name: str) -> str:
    return repr(options[name]) if name in options else "unset"


def _service_text(service: Mapping[str, object]) -> str:
    app = service.get("app_id")
    return f"{service.get('base_url')}" + (f" (app id {app})" if app else "")


def batch_webhook_token(ledger: str | os.PathLike[str]) -> str:
    """The webhook receiver token of the batch whose SQLite ledger is at ``ledger``.

    A new random one is generated and stored on the first call; every later call (a rerun
    of the same batch, after a crash too) returns the same, so a receiver started with it
    (``WebhookReceiver(token=...)``, same port or public URL) gets the webhooks of jobs an
    earlier run submitted. It is a credential: never log it.

    Raises:
        ValidationError: the ledger cannot be opened or written.
    """
    with SqliteLedger.open(ledger) as db:
        token = db.get_meta(WEBHOOK_TOKEN)
        if token is None:
            token = secrets.token_urlsafe(32)
            db.set_meta(WEBHOOK_TOKEN, token)
        return token


async def shared_webhook_token(url: str) -> str:
    """The webhook receiver token of the batch whose shared ledger is at ``url``: made once
    (the first worker to ask), the same for every worker, so that a delivery reaching any
    of them is accepted (and relayed to the one that waits). A credential: never log it.

    Raises:
        ValidationError: the ledger cannot be reached.
    """
    from symbl_async.batch._ledger._postgres import PostgresStore

    store = await PostgresStore.connect(url)
    try:
        return await store.meta_default(WEBHOOK_TOKEN, secrets.token_urlsafe(32))
    finally:
        await store.aclose()


def read_webhook_token(ledger: str | os.PathLike[str]) -> str | None:
    """The webhook token :func:`batch_webhook_token` stored with the SQLite ledger at
    ``ledger``, read without creating or changing anything (None: no ledger there, or no
    token yet; a run then stores its receiver's with :func:`keep_webhook_token`).

    Raises:
        ValidationError: a file is there that is not a ledger this version reads.
    """
    if not os.path.exists(ledger):
        return None
    with SqliteLedger.open_read_only(ledger) as db:
        return db.get_meta(WEBHOOK_TOKEN)


async def keep_webhook_token(store: ItemStore, token: str | None, url: str | None) -> bool:
    """Store the receiver's token and URL with the batch; False if an earlier run's differ.

    Jobs an earlier run submitted call the URL it gave them (address and token). When this
    run's receiver has another one, those webhooks reach nobody, and the caller waits for
    such jobs by polling. This run's token and URL are stored (its own jobs call them); the
    URL only as a digest, since it holds the token.

    Args:
        store: the batch's ledger.
        token: the receiver's token (None: no receiver; nothing is stored).
        url: the receiver's callback URL, if known.
    """
    if token is None:
        return True
    digest = None if url is None else hashlib.sha256(url.encode("utf-8")).hexdigest()
    stored_token = await store.get_meta(WEBHOOK_TOKEN)
    stored_digest = await store.get_meta(_WEBHOOK_URL_DIGEST)
    same = stored_token in (None, token) and (
        stored_digest is None or digest is None or stored_digest == digest
    )
    if stored_token != token:
        await store.set_meta(WEBHOOK_TOKEN, token)
    if digest is not None and digest != stored_digest:
        await store.set_meta(_WEBHOOK_URL_DIGEST, digest)
    if not same:
        log.warning(
            "the webhook receiver's URL (address or token) is not the one this batch's "
            "earlier run gave its jobs, so their webhooks reach nobody: the jobs submitted by "
            "the earlier run are waited for by polling. Start the receiver on the same port "
            "or public URL, with WebhookReceiver(token=batch_webhook_token(ledger))"
        )
    return same


async def load_processing_model(store: ItemStore, model: ProcessingTimeModel) -> None:
    """Start a rerun warm: replay the processing times an earlier run learned.

    Only into a model that has learned nothing yet (a client that already waited for jobs
    knows better than the ledger); a damaged entry is ignored.
    """
    stored = await store.get_meta(PROCESSING_MODEL)
    if stored is None or any(model.observations(kind) for kind in model.to_json()):
        return
    try:
        model.load_json(json.loads(stored))
    except ValueError:
        log.warning("the ledger's saved processing times are unreadable; starting cold")


async def save_processing_model(store: ItemStore, model: ProcessingTimeModel) -> None:
    """Keep what the client learned of processing times with the batch, for a rerun."""
    await store.set_meta(PROCESSING_MODEL, json.dumps(model.to_json(), separators=(",", ":")))

