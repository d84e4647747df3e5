"""Where a batch run keeps its state: the ledger, its lock, and the output folder.

Internal to :mod:`symbl_async.batch._api`. :func:`open_storage` checks the output folder, takes
an exclusive lock next to the ledger (two runs of one batch at once would both submit its
pending items, paying twice; the OS drops the lock when the process dies, even on SIGKILL),
opens the ledger and starts the results files, in that order, so that nothing is written
before the lock is held.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import tempfile
from pathlib import Path
from typing import IO

from symbl_async.batch._ledger import Ledger
from symbl_async.batch._sources import canonical_options
from symbl_async.batch._sqlite_store import SqliteStore
from symbl_async.batch._store import ItemStore
from symbl_async.batch._writer import ResultWriter, check_output_dir
from symbl_async.core._checks import is_database_url
from symbl_async.core._estimate import ProcessingTimeModel
from symbl_async.errors import ValidationError

__all__ = [
    "LEDGER_FILE",
    "WEBHOOK_TOKEN",
    "Storage",
    "batch_webhook_token",
    "check_batch_options",
    "keep_webhook_token",
    "load_processing_model",
    "open_storage",
    "save_processing_model",
]

log = logging.getLogger("symbl_async.batch._api")

WEBHOOK_TOKEN = "webhook_token"
BATCH_OPTIONS = "batch_options"
PROCESSING_MODEL = "processing_model"
"""The ledger's ``meta`` entry holding the batch's webhook receiver token (a credential)."""
_WEBHOOK_URL_DIGEST = "webhook_url_sha256"

LEDGER_FILE = "ledger.sqlite3"
"""The ledger's file name in the output folder, when no ledger is given."""


class Storage:
    """An open ledger (owned or borrowed), its lock, and the results writer if any."""

    def __init__(self) -> None:
        """Start empty; :func:`open_storage` fills it in."""
        self.ledger: ItemStore | None = None
        self.writer: ResultWriter | None = None
        self.owns_ledger = False
        self.lock: IO[bytes] | None = None
        self.tmpdir: tempfile.TemporaryDirectory[str] | None = None

    async def close_ledger(self) -> None:
        """Close the ledger if owned (idempotent); the lock stays held until :meth:`close`."""
        if self.owns_ledger and self.ledger is not None:
            self.owns_ledger = False
            await self.ledger.aclose()

    async def close(self) -> None:
        """Close the results files (without finishing them), the ledger if owned, the lock.

        With the ledger already closed (:meth:`close_ledger`) nothing here waits, so a run's
        last files and its lock are released in one step of the event loop.
        """
        if self.writer is not None:
            self.writer.close()
        await self.close_ledger()
        if self.lock is not None:
            self.lock.close()  # releases the lock
            self.lock = None
        if self.tmpdir is not None:
            self.tmpdir.cleanup()
            self.tmpdir = None


async def open_storage(
    ledger: Ledger | ItemStore | str | os.PathLike[str] | None,
    out_dir: str | os.PathLike[str] | None,
) -> Storage:
    """Check the output folder, lock and open the ledger, start the results files.

    Args:
        ledger: a ledger, a store, a path to one, or None: ``ledger.sqlite3`` in
            ``out_dir``, or a temporary one (deleted at the end: no resume) without
            ``out_dir``. A store other than SQLite, or a ``postgresql://`` URL (a batch
            shared by workers), takes no lock file.
        out_dir: the output folder, or None for no files.

    Returns:
        The storage; :meth:`Storage.close` it.

    Raises:
        ValidationError: (``out_dir`` or ``ledger_path``) when the folder or the ledger
            cannot be written, or another run of the batch holds the ledger.
    """
    storage = Storage()
    try:
        out = None if out_dir is None else check_output_dir(out_dir)
        if isinstance(ledger, ItemStore) or is_database_url(ledger):
            if isinstance(ledger, ItemStore):
                storage.ledger = ledger
            else:
                # Imported here: asyncpg is an optional extra (symbl_async[postgres]).
                from symbl_async.batch._pg_store import PostgresStore

                storage.ledger = await PostgresStore.connect(str(ledger))
                storage.owns_ledger = True
            if out is not None:
                # Workers of one shared batch each write their own results files.
                storage.lock = _lock(out / "results", what="the output folder")
                storage.writer = ResultWriter(out)
            return storage
        if isinstance(ledger, Ledger):
            path = ledger.path
        elif ledger is not None:
            path = Path(ledger)
        elif out is not None:
            path = out / LEDGER_FILE
        else:
            storage.tmpdir = tempfile.TemporaryDirectory(prefix="symbl-batch-")
            path = Path(storage.tmpdir.name) / LEDGER_FILE
        storage.lock = _lock(path)
        if isinstance(ledger, Ledger):
            storage.ledger = SqliteStore.borrow(ledger)
        else:
            storage.ledger = await SqliteStore.open(path)
            storage.owns_ledger = True
        if out is not None:
            storage.writer = ResultWriter(out)
    except BaseException:
        await storage.close()
        raise
    return storage


def _lock(path: Path, what: str = "") -> IO[bytes] | None:
    """Lock ``<path>.lock`` for this run (``what`` the lock guards: the ledger by default).

    Raises:
        ValidationError: (field ``ledger_path``, or ``out_dir`` for another ``what``) when
            another run holds the lock.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no advisory locks
        return None
    lock_path = path.with_name(path.name + ".lock")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = lock_path.open("a+b")
    except OSError as exc:
        raise ValidationError(
            "ledger_path", f"cannot create {str(lock_path)!r}: {exc.strerror or exc}"
        ) from exc
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        if what:
            raise ValidationError(
                "out_dir", f"{what} {str(path.parent)!r} is in use by another worker: give "
                "each worker of a shared batch its own output folder"
            ) from None
        raise ValidationError(
            "ledger_path",
            f"{str(path)!r} is in use by another run of this batch: let it finish (or stop "
            "it) first",
        ) from None
    return handle


def batch_webhook_token(ledger: str | os.PathLike[str]) -> str:
    """The webhook receiver token of the batch whose ledger is at ``ledger``.

    A new random one is generated and stored on the first call; every later call (a rerun
    of the same batch, after a crash too) returns the same, so a receiver started with it
    (``WebhookReceiver(token=...)``, same port or public URL) gets the webhooks of jobs an
    earlier run submitted. It is a credential: never log it.

    Raises:
        ValidationError: the ledger cannot be opened or written.
    """
    with Ledger.open(ledger) as db:
        token = db.get_meta(WEBHOOK_TOKEN)
        if token is None:
            token = secrets.token_urlsafe(32)
            db.set_meta(WEBHOOK_TOKEN, token)
        return token


async def keep_webhook_token(ledger: ItemStore, token: str | None, url: str | None) -> bool:
    """Store the receiver's token and URL with the batch; False if an earlier run's differ.

    Jobs an earlier run submitted call the URL it gave them (address and token). When this
    run's receiver has another one, those webhooks reach nobody, and the caller waits for
    such jobs by polling. This run's token and URL are stored (its own jobs call them); the
    URL only as a digest, since it holds the token.

    Args:
        ledger: the batch's ledger.
        token: the receiver's token (None: no receiver; nothing is stored).
        url: the receiver's callback URL, if known.
    """
    if token is None:
        return True
    digest = None if url is None else hashlib.sha256(url.encode("utf-8")).hexdigest()
    stored_token = await ledger.get_meta(WEBHOOK_TOKEN)
    stored_digest = await ledger.get_meta(_WEBHOOK_URL_DIGEST)
    same = stored_token in (None, token) and (
        stored_digest is None or digest is None or stored_digest == digest
    )
    if stored_token != token:
        await ledger.set_meta(WEBHOOK_TOKEN, token)
    if digest is not None and digest != stored_digest:
        await ledger.set_meta(_WEBHOOK_URL_DIGEST, digest)
    if not same:
        log.warning(
            "the webhook receiver's URL (address or token) is not the one this batch's "
            "earlier run gave its jobs, so their webhooks reach nobody: the jobs submitted by "
            "the earlier run are waited for by polling. Start the receiver on the same port "
            "or public URL, with WebhookReceiver(token=batch_webhook_token(ledger))"
        )
    return same


async def check_batch_options(ledger: ItemStore, options: object, *, reprocess: bool) -> None:
    """Refuse options that differ from the ones this batch's ledger recorded.

    Options are part of each item's key, so a rerun with other options (a flag added by
    mistake) would treat every recording as new and pay for all of them again. The first
    run (or a ledger from before this check) records them; ``reprocess`` accepts new ones
    and records them instead.

    Raises:
        ValidationError: (field ``options``) naming each option that differs.
    """
    current = canonical_options(options, ignore=("name", "webhook_url"))
    stored = await ledger.get_meta(BATCH_OPTIONS)
    if stored == current:
        return
    if stored is not None and not reprocess and any((await ledger.counts()).values()):
        was, now = json.loads(stored), json.loads(current)
        changes = ", ".join(
            f"{name}: {was.get(name, 'unset')!r} -> {now.get(name, 'unset')!r}"
            for name in sorted(set(was) | set(now))
            if was.get(name) != now.get(name)
        )
        raise ValidationError(
            "options",
            f"differ from this batch's ({changes}); every item would be processed and paid "
            "for again. Use another output folder, or reprocess=True (symbl-async process "
            "--reprocess) to do exactly that",
        )
    await ledger.set_meta(BATCH_OPTIONS, current)


async def load_processing_model(ledger: ItemStore, model: ProcessingTimeModel) -> None:
    """Start a rerun warm: replay the processing times an earlier run learned.

    Only into a model that has learned nothing yet (a client that already waited for
    jobs knows better than the ledger); a damaged entry is ignored.
    """
    stored = await ledger.get_meta(PROCESSING_MODEL)
    if stored is None or any(model.observations(kind) for kind in model.to_json()):
        return
    try:
        model.load_json(json.loads(stored))
    except ValueError:
        log.warning("the ledger's saved processing times are unreadable; starting cold")


async def save_processing_model(ledger: ItemStore, model: ProcessingTimeModel) -> None:
    """Keep what the client learned of processing times with the batch, for a rerun."""
    await ledger.set_meta(PROCESSING_MODEL, json.dumps(model.to_json(), separators=(",", ":")))
