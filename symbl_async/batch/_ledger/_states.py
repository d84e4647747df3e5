"""The batch ledger's state machine, pure: the one place the exactly-once rule is written.

An item moves through these states (:class:`ItemState`)::

    pending -> submitting -> submitted -> completed -> fetched
                  |  ^   |       ^   |         |   ^      |
                  |  |   v       |   |         |   +------+ reopen (its file is gone)
                  |  +- unknown -+   +---------+---> failed  (also from pending, submitting)
                  +--+ resend (429, 503, no connection: nothing was created)
    failed -> pending, or -> completed if its job had completed (retry)
    submitting/unknown -> pending: looked up after the grace period, no job (none_created)
    submitting -> pending: claimed, and the run stopped before the submit was sent (release)
    pending -> pending: reserved by a worker for its upload ahead of a slot (reserve), free
        again (unreserve; lapse: its worker is gone)

``submitting`` is the intent: it is committed, with the attempt's own name, before the submit
is sent, so an item found in ``submitting`` may exist remotely and is looked up by that name
before anything else. ``unknown``: the submit was sent and no answer says whether a job was
created; not a failure (``failed`` cannot be entered from it); it leaves only when a lookup by
name finds the job (``submitted``) or, after its grace period, shows none exists (a new
attempt, ``submitting`` again).

Ownership (fencing): an item in a worker's hands carries ``owner`` (the worker's id) and
``fence`` (a number that only grows, per ledger). A move of an owned item needs the owner's id
and the fence it was given; a worker whose item was adopted by another (its lease ran out) is
refused with :class:`~symbl_async.errors.LeaseLostError`, never allowed to overwrite newer
state. Items that reach ``fetched`` or ``failed``, or go back to ``pending``, are nobody's.
A pending item has an owner only while reserved: a shared batch's worker uploads its file
ahead of a slot (every byte but the last, which waits for the claim), and the other
workers' claims leave it; the owner's claim takes it (``submitting``, the same fence). A
reservation creates nothing remotely, so losing it costs an upload, never a job.

Every store (SQLite, PostgreSQL, in memory) loads an item, calls :func:`advance` and writes
what it returns: the moves, the fields each sets and the owner rule exist only here. The
module does no I/O: time and new fence numbers come in as arguments.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

import attrs

from symbl_async.errors import IllegalTransitionError, LeaseLostError, LedgerError, ValidationError

__all__ = [
    "COLUMNS",
    "IN_FLIGHT",
    "RELEASED",
    "UNFINISHED",
    "Advanced",
    "Change",
    "ItemState",
    "LedgerItem",
    "Move",
    "Pending",
    "Refusal",
    "adopted",
    "advance",
    "attempt_name",
    "claimed",
    "completed",
    "failed",
    "fetched",
    "held_fence",
    "job_id_learned",
    "lapsed",
    "new_item",
    "none_created",
    "released",
    "reopened",
    "resent",
    "reserved",
    "retried",
    "submitted",
    "timings",
    "unknown",
    "unreserved",
]


class ItemState(str, enum.Enum):
    """Where an item of the batch stands."""

    PENDING = "pending"
    SUBMITTING = "submitting"
    UNKNOWN = "unknown"
    SUBMITTED = "submitted"
    COMPLETED = "completed"
    FETCHED = "fetched"
    FAILED = "failed"


_S = ItemState
IN_FLIGHT = frozenset({_S.SUBMITTING, _S.UNKNOWN, _S.SUBMITTED})
"""The states whose item holds one of the account's job slots: its job may be running."""
UNFINISHED = IN_FLIGHT | {_S.COMPLETED}
"""The states of an item some worker must finish (adopted when its worker is gone)."""
RELEASED = frozenset({_S.FETCHED, _S.FAILED})
"""The states of an item done for this run: nobody's, so a later run may reopen or retry it."""

COLUMNS = (
    "key", "source", "name", "state", "job_id", "conversation_id", "error", "attempts",
    "duration", "created_at", "updated_at", "submitted_at", "completed_at", "fetched_at",
    "output_path", "attempt_at", "attempt_name", "grace_until", "spec", "owner", "fence",
    "outputs",
)
"""Every field of a :class:`LedgerItem`, in the stores' column order."""


@attrs.frozen(kw_only=True)
class LedgerItem:
    """One item of the ledger. Times are Unix seconds on the ledger's clock (a shared
    ledger's database clock, so that workers on machines whose clocks differ agree)."""

    key: str
    source: str
    """A human label of the input (path, URL, ``text: N message(s)``)."""
    name: str
    """The item's submit name; each attempt adds its number (``attempt_name``)."""
    state: ItemState = attrs.field(converter=ItemState)
    job_id: str | None = None
    conversation_id: str | None = None
    error: str | None = None
    attempts: int = 0
    duration: float | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    submitted_at: float | None = None
    completed_at: float | None = None
    fetched_at: float | None = None
    output_path: str | None = None
    attempt_at: float | None = None
    """When the current attempt's intent was committed (just before its first send)."""
    attempt_name: str | None = None
    """The name the current attempt's submit carries (the one a lookup searches)."""
    grace_until: float | None = None
    """For ``unknown``: before this time a lookup that finds nothing proves nothing (a
    request may still land); after it, "not found" means no job was created."""
    spec: str | None = None
    """The item's submit as JSON, so that any worker (or a later run) can send it."""
    owner: str | None = None
    """The worker whose hands the item is in."""
    fence: int | None = None
    """The owner's fencing token for this item."""
    outputs: str | None = None
    """What the insights file at ``output_path`` held when it was written, as JSON (its
    size and modification time, the kinds it holds and their counts): a rerun that finds
    the file unchanged trusts this instead of reading every finished item's file."""


@attrs.frozen
class Pending:
    """A new item to record ``pending``."""

    key: str
    source: str
    name: str
    duration: float | None
    spec: str | None


@attrs.frozen
class Move:
    """One kind of transition: where it may start, where it goes, what it does."""

    name: str
    sources: frozenset[ItemState]
    target: ItemState | None
    """None: decided by the item (a retry goes back to ``completed`` if its job completed)."""
    fields: frozenset[str] = frozenset()
    """The fields the caller gives with it."""
    stamp: str | None = None
    """A ``*_at`` field set to the move's time."""
    new_attempt: bool = False
    """Counts one more attempt, names it, stamps ``attempt_at``."""
    takes_ownership: bool = False
    """The caller becomes the owner, with a new fence."""
    durable: bool = True
    """Its commit must reach the disk before the move is answered. False for the moves a
    power cut may lose with the commits after them (the newest first) without breaking
    exactly-once: a rerun finds the state before them and redoes only free work (a lookup
    by name, a status GET, a fetch). A move to ``submitting`` (an intent: lost, a sent
    submit would be sent again) and every move that releases or fails an item stay
    durable; a durable commit makes every commit before it durable too."""


def _move(name: str, sources: set[ItemState], target: ItemState | None, **kw: Any) -> Move:
    return Move(name, frozenset(sources), target, **kw)


CLAIM = _move("claim", {_S.PENDING}, _S.SUBMITTING, new_attempt=True, takes_ownership=True)
# From submitting: another attempt after a 429 (or 503, or no connection); from unknown: a
# lookup by name showed, after the grace period, that the attempt created no job.
RESEND = _move("resend", {_S.SUBMITTING, _S.UNKNOWN}, _S.SUBMITTING, new_attempt=True)
UNKNOWN = _move("unknown", {_S.SUBMITTING}, _S.UNKNOWN, fields=frozenset({"error",
                                                                          "grace_until"}))
# Not durable (lost: the item is submitting again, and a rerun looks the attempt up by name).
SUBMITTED = _move("submitted", {_S.SUBMITTING, _S.UNKNOWN}, _S.SUBMITTED,
                  fields=frozenset({"job_id", "conversation_id"}), stamp="submitted_at",
                  durable=False)
JOB_ID_LEARNED = _move("job_id_learned", {_S.SUBMITTED}, _S.SUBMITTED,
                       fields=frozenset({"job_id"}), durable=False)
# Not durable (lost: a rerun asks the job's status, or fetches the insights again).
COMPLETED = _move("completed", {_S.SUBMITTED}, _S.COMPLETED, stamp="completed_at",
                  durable=False)
FETCHED = _move("fetched", {_S.COMPLETED}, _S.FETCHED,
                fields=frozenset({"output_path", "outputs"}),
                stamp="fetched_at", durable=False)
# Claimed, and the run stopped before the submit was sent: nothing exists, the item is free
# again (the next attempt gets a new name all the same).
RELEASE = _move("release", {_S.SUBMITTING}, _S.PENDING)
# An attempt that may have created a job, looked up by name after its grace period and not
# found: nothing exists, the item is free again (to be claimed and sent again).
NONE_CREATED = _move("none_created", {_S.SUBMITTING, _S.UNKNOWN}, _S.PENDING,
                     fields=frozenset({"error", "grace_until"}))
# Never from unknown: a job whose submit had no answer may exist; it is looked up first.
FAILED = _move("failed", {_S.PENDING, _S.SUBMITTING, _S.SUBMITTED, _S.COMPLETED}, _S.FAILED,
               fields=frozenset({"error"}))
# Only here may completed be entered from fetched: the insights file is gone, fetch again.
REOPEN = _move("reopen", {_S.FETCHED}, _S.COMPLETED, takes_ownership=True)
RETRY = _move("retry", {_S.FAILED}, None, takes_ownership=True)
ADOPT = _move("adopt", set(UNFINISHED), None, takes_ownership=True)
# A pending item kept for its worker's upload ahead of a slot: nothing is sent that could
# create a job before the claim (the upload's last bytes wait for it).
RESERVE = _move("reserve", {_S.PENDING}, _S.PENDING, takes_ownership=True)
# The reservation given up (the upload ahead was cut off, or the run stops): free again.
UNRESERVE = _move("unreserve", {_S.PENDING}, _S.PENDING)
# The reservation of a worker that is gone (the store knows the leases): free again.
LAPSE = _move("lapse", {_S.PENDING}, _S.PENDING)

MOVES: Mapping[str, Move] = {m.name: m for m in (
    CLAIM, RESEND, UNKNOWN, SUBMITTED, JOB_ID_LEARNED, COMPLETED, FETCHED, RELEASE,
    NONE_CREATED, FAILED, REOPEN, RETRY, ADOPT, RESERVE, UNRESERVE, LAPSE,
)}
"""Every move, by name."""


@attrs.frozen
class Change:
    """A move with the fields its caller gives; made by the functions below."""

    move: Move
    fields: Mapping[str, Any] = attrs.field(factory=dict)


def claimed() -> Change:
    """pending -> submitting: a worker takes the item and records its first attempt's intent."""
    return Change(CLAIM)


def resent() -> Change:
    """submitting/unknown -> submitting: the intent of a new attempt, under a new name."""
    return Change(RESEND)


def unknown(reason: str | BaseException, grace_until: float) -> Change:
    """submitting -> unknown: sent, no answer says whether a job was created.

    Args:
        reason: why the outcome is unknown (kept in ``error``; it is not a failure).
        grace_until: ledger time after which a lookup that finds nothing means "none".
    """
    return Change(UNKNOWN, {"error": _text(reason), "grace_until": grace_until})


def submitted(job_id: str | None, conversation_id: str | None) -> Change:
    """-> submitted: the service took the submit (or a lookup by name found it, no job id)."""
    if job_id is None and conversation_id is None:
        raise ValidationError("job_id", "job_id or conversation_id is needed")
    return Change(SUBMITTED, {"job_id": job_id, "conversation_id": conversation_id})


def job_id_learned(job_id: str) -> Change:
    """submitted (no job id: found by name) -> submitted with the id a webhook named."""
    return Change(JOB_ID_LEARNED, {"job_id": job_id})


def released() -> Change:
    """submitting -> pending: the caller claimed the item and sent nothing (the run stops
    before the submit); only the worker that holds it, before any send, may say so."""
    return Change(RELEASE)


def none_created(grace_until: float, reason: str) -> Change:
    """submitting/unknown -> pending: looked up by name after its grace period (which must
    be over), the attempt created no job; the item is nobody's again.

    Args:
        grace_until: the ledger time from which "not found" means "none"; the move is
            refused before it.
        reason: why the item goes back (kept in ``error``).
    """
    return Change(NONE_CREATED, {"error": reason, "grace_until": grace_until})


def completed() -> Change:
    """submitted -> completed: the job is done; its insights can be fetched."""
    return Change(COMPLETED)


def fetched(output_path: str | None, outputs: str | None = None) -> Change:
    """completed -> fetched: the insights were fetched (and written to ``output_path``,
    holding what ``outputs`` says)."""
    return Change(FETCHED, {"output_path": output_path, "outputs": outputs})


def failed(error: str | BaseException) -> Change:
    """-> failed: only when no job exists or the job ended ``failed``; never from unknown."""
    return Change(FAILED, {"error": _text(error)})


def reopened() -> Change:
    """fetched -> completed: its insights file is gone (or lacks kinds): fetch again."""
    return Change(REOPEN)


def retried() -> Change:
    """failed -> completed (its job had completed: fetch again) or pending (submit again)."""
    return Change(RETRY)


def adopted() -> Change:
    """An unfinished item of a worker that is gone: the caller takes it, in its state."""
    return Change(ADOPT)


def reserved() -> Change:
    """pending -> pending in the caller's hands: kept for its upload ahead of a slot; only
    the caller's claim takes it (with the fence this gives)."""
    return Change(RESERVE)


def unreserved() -> Change:
    """pending (reserved by the caller) -> pending, nobody's: the upload ahead was given up."""
    return Change(UNRESERVE)


def lapsed() -> Change:
    """pending (reserved by a worker that is gone) -> pending, nobody's."""
    return Change(LAPSE)


def held_fence(item: LedgerItem, worker: str) -> int | None:
    """The fence ``worker`` holds for a pending ``item`` it reserved (None: not its own),
    as its claim of the item gives it."""
    return item.fence if item.owner == worker else None


def _text(reason: str | BaseException) -> str:
    if isinstance(reason, BaseException):
        return f"{type(reason).__name__}: {reason}"
    return reason


def attempt_name(name: str, attempt: int) -> str:
    """The name one attempt's submit carries: the item's name and the attempt's number.

    Each attempt has its own, recorded before it is sent, so a lookup by name finds that
    attempt's job and never an older attempt's (say, a failed one).
    """
    return f"{name}-{attempt}"


def new_item(pending: Pending, now: float) -> LedgerItem:
    """The record of a new item."""
    return LedgerItem(key=pending.key, source=pending.source, name=pending.name,
                      state=_S.PENDING, duration=pending.duration, created_at=now,
                      updated_at=now, spec=pending.spec)


@attrs.frozen
class Refusal:
    """Why a move was refused: the item's state forbids it, or it is in other hands."""

    key: str
    current: ItemState | None
    wanted: ItemState | None
    lost: str | None = None
    """Set when the caller does not hold the item (a fence mismatch): the message."""

    def error(self) -> LedgerError:
        """The exception the store raises."""
        if self.lost is not None:
            return LeaseLostError(self.key, self.lost)
        return IllegalTransitionError(self.key, self.current, self.wanted or _S.PENDING)


@attrs.frozen
class Advanced:
    """A move made: the item after it and the fields that changed (what a store writes)."""

    before: LedgerItem
    item: LedgerItem
    changes: Mapping[str, Any]

    @property
    def wakes(self) -> bool:
        """Whether other workers should look again: a job slot freed, an item to take, or
        an item done (inputs waiting for it get their result)."""
        was, now = self.before.state, self.item.state
        return ((was in IN_FLIGHT and now not in IN_FLIGHT)
                or (now is _S.PENDING and self.item.owner is None) or now in RELEASED)


def hands(item: LedgerItem, worker: str, fence: int | None) -> str | None:
    """Why ``worker`` (holding ``fence`` for the item, or None) may not move ``item``: the
    owner/fencing rule. None when it may."""
    if item.owner is None and fence is None:
        return None
    if item.owner == worker and fence is not None and item.fence == fence:
        return None
    if fence is None:
        return (f"item {item.key!r} is in worker {item.owner!r}'s hands; this worker "
                f"({worker!r}) does not hold it")
    if item.owner is None:
        return (f"item {item.key!r} was finished by another worker ({item.state.value}) "
                f"while this worker ({worker!r}) held it: its lease ran out")
    return (f"item {item.key!r} was taken over by another worker ({item.owner!r}): this "
            f"worker's ({worker!r}) lease ran out")


def advance(
    item: LedgerItem,
    change: Change,
    *,
    worker: str,
    fence: int | None,
    now: float,
    new_fence: int | None = None,
) -> Advanced | Refusal:
    """Apply one move to an item, or say why it may not be made. Pure.

    Args:
        item: the item as stored now.
        change: the move and its fields.
        worker: the id of the worker making it.
        fence: the fence the worker holds for the item (None: it holds none, as for an item
            that is nobody's: pending, fetched, failed).
        now: the ledger's time.
        new_fence: the next fence number, for a move that takes ownership.

    Returns:
        The item after the move and the changed fields, or the refusal.
    """
    move = change.move
    if move is ADOPT or move is LAPSE:
        # Adoption takes the item from a worker that is gone, a lapse frees its
        # reservation: the store decided that (it knows the leases); the item must be in
        # the move's states and held by another worker (or none, for an adoption).
        if (item.state not in move.sources or item.owner == worker
                or (move is LAPSE and item.owner is None)):
            return Refusal(item.key, item.state, item.state)
    else:
        lost = hands(item, worker, fence)
        if lost is not None:
            return Refusal(item.key, item.state, move.target, lost)
        if item.state not in move.sources or _guarded(item, change, now):
            return Refusal(item.key, item.state, move.target)
    unexpected = set(change.fields) - move.fields
    if unexpected:
        raise ValidationError("fields", f"{move.name} does not set {sorted(unexpected)}")
    target = move.target or item.state
    changes: dict[str, Any] = dict(change.fields)
    if move is RETRY:
        target = _S.COMPLETED if item.completed_at is not None else _S.PENDING
        changes["error"] = None
        if target is _S.PENDING:
            changes.update(job_id=None, conversation_id=None, submitted_at=None)
    changes["state"] = target
    changes["updated_at"] = now
    if move.stamp is not None:
        changes[move.stamp] = now
    if move.new_attempt:
        attempts = item.attempts + 1
        changes.update(attempts=attempts, attempt_at=now, error=None, grace_until=None,
                       attempt_name=attempt_name(item.name, attempts))
    if move is SUBMITTED:
        changes["error"] = None
    if move is REOPEN:
        changes.update(output_path=None, outputs=None)
    if move.takes_ownership and target not in RELEASED and (
            target is not _S.PENDING or move is RESERVE):
        if new_fence is None:
            raise ValidationError("new_fence", f"{move.name} needs a new fence number")
        changes.update(owner=worker, fence=new_fence)
    elif target in RELEASED or target is _S.PENDING:
        changes.update(owner=None, fence=None)
    return Advanced(item, attrs.evolve(item, **changes), changes)


def _guarded(item: LedgerItem, change: Change, now: float) -> bool:
    """Whether a move's own guard refuses it (beyond the states it leaves)."""
    if change.move is JOB_ID_LEARNED:
        return item.job_id is not None  # learned once, from the first delivery
    if change.move is NONE_CREATED:
        return bool(now < change.fields["grace_until"])  # a request may still land before
    if change.move is UNRESERVE:
        return item.owner is None  # nobody's already: not the caller's reservation
    if change.move is RESERVE:
        return item.owner is not None  # reserved already (its own: once is enough)
    return False


def timings(row: LedgerItem | None) -> dict[str, float]:
    """The times a ledger row recorded: created, submitted, completed, fetched."""
    out: dict[str, float] = {}
    if row is not None:
        for name in ("created", "submitted", "completed", "fetched"):
            value = getattr(row, f"{name}_at")
            if value is not None:
                out[name] = value
    return out
