"""The ledger's state machine on plain data: every state x every move, the fields each move
sets, the owner/fencing rule, and random sequences of moves (hypothesis)."""

from __future__ import annotations

from collections.abc import Callable

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from symbl_async.batch._ledger._states import MOVES as MOVES_BY_NAME
from symbl_async.batch._ledger._states import (
    Advanced,
    Change,
    ItemState,
    LedgerItem,
    Pending,
    Refusal,
    adopted,
    advance,
    claimed,
    completed,
    failed,
    fetched,
    job_id_learned,
    lapsed,
    new_item,
    none_created,
    released,
    reopened,
    resent,
    reserved,
    retried,
    submitted,
    unknown,
    unreserved,
)
from symbl_async.errors import IllegalTransitionError, LeaseLostError, ValidationError

S = ItemState
ME, OTHER = "me", "other"

# The rule, written here independently of the module's own table: the states each move
# may leave. Adoption is left to the stores' leases (any unfinished state, another's item).
MOVES: dict[str, tuple[Callable[[], Change], set[ItemState]]] = {
    "claim": (claimed, {S.PENDING}),
    "resend": (resent, {S.SUBMITTING, S.UNKNOWN}),
    "unknown": (lambda: unknown("lost answer", 99.0), {S.SUBMITTING}),
    "submitted": (lambda: submitted("job", "conv"), {S.SUBMITTING, S.UNKNOWN}),
    "completed": (completed, {S.SUBMITTED}),
    "fetched": (lambda: fetched("/out/x.json"), {S.COMPLETED}),
    "failed": (lambda: failed("refused"), {S.PENDING, S.SUBMITTING, S.SUBMITTED, S.COMPLETED}),
    "reopen": (reopened, {S.FETCHED}),
    "retry": (retried, {S.FAILED}),
    "none_created": (lambda: none_created(0.0, "not found"), {S.SUBMITTING, S.UNKNOWN}),
    "release": (released, {S.SUBMITTING}),
}
OWNED = {S.SUBMITTING, S.UNKNOWN, S.SUBMITTED, S.COMPLETED}


def item(state: ItemState, **fields: object) -> LedgerItem:
    """An item in ``state``, in ME's hands when that state is owned."""
    base = new_item(Pending("k", "a.wav", "a-123", 60.0, "{}"), now=1.0)
    owner: dict[str, object] = {"owner": ME, "fence": 7} if state in OWNED else {}
    values = {"attempts": 0 if state is S.PENDING else 1, **owner, **fields}
    return attrs.evolve(base, state=state, **values)  # type: ignore[arg-type]


def move(row: LedgerItem, change: Change, *, worker: str = ME) -> Advanced | Refusal:
    return advance(row, change, worker=worker, fence=row.fence, now=10.0, new_fence=8)


@pytest.mark.parametrize("name", sorted(MOVES))
@pytest.mark.parametrize("state", list(S))
def test_every_move_from_every_state(name: str, state: ItemState) -> None:
    make, sources = MOVES[name]
    row = item(state)
    done = move(row, make())
    if state not in sources:
        assert isinstance(done, Refusal) and done.lost is None
        assert isinstance(done.error(), IllegalTransitionError)
        return
    assert isinstance(done, Advanced), done
    assert done.item.updated_at == 10.0 and done.before == row
    assert {k: getattr(done.item, k) for k in done.changes} == {
        k: v for k, v in done.changes.items()}
    # What is nobody's afterwards, and what is the caller's.
    if done.item.state in (S.PENDING, S.FETCHED, S.FAILED):
        assert done.item.owner is None and done.item.fence is None
    else:
        assert done.item.owner == ME and done.item.fence in (7, 8)


def test_unknown_never_fails_and_leaves_only_by_a_lookup_or_a_new_attempt() -> None:
    row = item(S.UNKNOWN)
    assert isinstance(move(row, failed("x")), Refusal)
    assert move(row, submitted(None, "c")).item.state is S.SUBMITTED  # type: ignore[union-attr]
    again = move(row, resent())
    assert isinstance(again, Advanced) and again.item.state is S.SUBMITTING


def test_each_attempt_is_counted_named_and_stamped() -> None:
    first = move(item(S.PENDING), claimed())
    assert isinstance(first, Advanced)
    assert first.item.attempts == 1 and first.item.attempt_name == "a-123-1"
    assert first.item.attempt_at == 10.0 and first.item.name == "a-123"
    lost = move(first.item, unknown(TimeoutError("no answer"), grace_until=70.0))
    assert isinstance(lost, Advanced)
    assert lost.item.error == "TimeoutError: no answer" and lost.item.grace_until == 70.0
    second = move(lost.item, resent())
    assert isinstance(second, Advanced)
    # A new attempt: its own name (never the base name compounded), the grace cleared.
    assert second.item.attempt_name == "a-123-2" and second.item.attempts == 2
    assert second.item.grace_until is None and second.item.error is None


def test_an_attempt_is_given_up_only_after_its_grace_period() -> None:
    row = item(S.UNKNOWN, grace_until=50.0)
    early = advance(row, none_created(50.0, "not found"), worker=ME, fence=7, now=49.0)
    assert isinstance(early, Refusal)  # a request may still land
    done = advance(row, none_created(50.0, "not found"), worker=ME, fence=7, now=50.0)
    assert isinstance(done, Advanced)
    assert (done.item.state, done.item.owner, done.item.error) == (S.PENDING, None, "not found")


def test_a_retry_goes_back_to_fetching_when_the_job_had_completed() -> None:
    done = move(item(S.FAILED, completed_at=5.0, job_id="j", error="fetch failed"), retried())
    assert isinstance(done, Advanced)
    assert done.item.state is S.COMPLETED and done.item.owner == ME and done.item.fence == 8
    assert done.item.job_id == "j" and done.item.error is None
    fresh = move(item(S.FAILED, job_id="j", conversation_id="c", attempts=2), retried())
    assert isinstance(fresh, Advanced)
    assert fresh.item.state is S.PENDING and fresh.item.job_id is None
    assert fresh.item.conversation_id is None and fresh.item.owner is None
    assert fresh.item.attempts == 2  # the next attempt gets a name never used before


def test_a_job_id_is_learned_once_by_an_item_found_by_name() -> None:
    found = item(S.SUBMITTED, conversation_id="c")
    done = move(found, job_id_learned("j"))
    assert isinstance(done, Advanced) and done.item.job_id == "j"
    assert isinstance(move(done.item, job_id_learned("j2")), Refusal)


def test_reopen_clears_the_file_and_takes_the_item() -> None:
    done = move(item(S.FETCHED, output_path="/o/a.json"), reopened())
    assert isinstance(done, Advanced)
    assert done.item.output_path is None and done.item.owner == ME and done.item.fence == 8


@pytest.mark.parametrize("state", sorted(OWNED))
def test_an_owned_item_moves_only_for_its_owner_with_its_fence(state: ItemState) -> None:
    name = next(n for n, (_, src) in sorted(MOVES.items()) if state in src)
    change = MOVES[name][0]()
    row = item(state)
    stale = advance(row, change, worker=ME, fence=6, now=1.0, new_fence=8)
    assert isinstance(stale, Refusal) and "taken over" in (stale.lost or "")
    assert isinstance(stale.error(), LeaseLostError)
    other = advance(row, change, worker=OTHER, fence=None, now=1.0, new_fence=8)
    assert isinstance(other, Refusal) and f"{ME!r}'s hands" in (other.lost or "")
    finished = attrs.evolve(row, state=S.FETCHED, owner=None, fence=None)
    late = advance(finished, change, worker=ME, fence=7, now=1.0, new_fence=8)
    assert isinstance(late, Refusal) and "finished by another worker" in (late.lost or "")


def test_adoption_takes_another_workers_unfinished_item_in_its_state() -> None:
    for state in S:
        row = attrs.evolve(item(state), owner=OTHER if state in OWNED else None)
        done = advance(row, adopted(), worker=ME, fence=None, now=3.0, new_fence=42)
        if state in OWNED:
            assert isinstance(done, Advanced)
            assert done.item.state is state and (done.item.owner, done.item.fence) == (ME, 42)
        else:
            assert isinstance(done, Refusal)
    mine = item(S.SUBMITTED)
    assert isinstance(advance(mine, adopted(), worker=ME, fence=None, now=3.0, new_fence=9),
                      Refusal)


def test_a_reservation_keeps_a_pending_item_for_its_worker_alone() -> None:
    free = item(S.PENDING)
    done = advance(free, reserved(), worker=ME, fence=None, now=2.0, new_fence=8)
    assert isinstance(done, Advanced) and not done.wakes  # nothing for the others
    kept = done.item
    assert (kept.state, kept.owner, kept.fence, kept.attempts) == (S.PENDING, ME, 8, 0)
    # Only its worker's claim takes it, with the reservation's fence.
    other = advance(kept, claimed(), worker=OTHER, fence=None, now=3.0, new_fence=9)
    assert isinstance(other, Refusal) and f"{ME!r}'s hands" in (other.lost or "")
    blind = advance(kept, claimed(), worker=ME, fence=None, now=3.0, new_fence=9)
    assert isinstance(blind, Refusal) and blind.lost is not None
    mine = advance(kept, claimed(), worker=ME, fence=8, now=3.0, new_fence=9)
    assert isinstance(mine, Advanced)
    assert (mine.item.state, mine.item.owner, mine.item.fence, mine.item.attempt_name) == (
        S.SUBMITTING, ME, 9, "a-123-1")
    for who, fence in ((ME, None), (ME, 8), (OTHER, None)):
        again = advance(kept, reserved(), worker=who, fence=fence, now=3.0, new_fence=9)
        assert isinstance(again, Refusal)
    # Given up by its worker, or lapsed (its worker gone, as the store decides): free
    # again, and the others are woken for it.
    for change, worker, fence in ((unreserved(), ME, 8), (lapsed(), OTHER, None)):
        back = advance(kept, change, worker=worker, fence=fence, now=4.0)
        assert isinstance(back, Advanced) and back.wakes
        assert (back.item.state, back.item.owner, back.item.fence) == (S.PENDING, None, None)
    assert isinstance(advance(kept, unreserved(), worker=OTHER, fence=None, now=4.0), Refusal)
    assert isinstance(advance(kept, lapsed(), worker=ME, fence=None, now=4.0), Refusal)
    # Nothing to give up or lapse on an item nobody reserved, or one past pending.
    nobody = advance(free, unreserved(), worker=ME, fence=None, now=4.0)
    assert isinstance(nobody, Refusal) and nobody.lost is None
    assert isinstance(advance(free, lapsed(), worker=OTHER, fence=None, now=4.0), Refusal)
    owned = item(S.SUBMITTING)
    assert isinstance(advance(owned, lapsed(), worker=OTHER, fence=None, now=4.0), Refusal)
    assert isinstance(advance(owned, reserved(), worker=ME, fence=7, now=4.0, new_fence=9),
                      Refusal)


def test_bad_changes_are_refused_before_any_write() -> None:
    with pytest.raises(ValidationError, match="job_id"):
        submitted(None, None)
    bogus = Change(claimed().move, {"job_id": "x"})
    with pytest.raises(ValidationError, match="does not set"):
        move(item(S.PENDING), bogus)
    with pytest.raises(ValidationError, match="new fence"):
        advance(item(S.PENDING), claimed(), worker=ME, fence=None, now=1.0)


def test_wakes_when_a_slot_frees_an_item_is_ready_or_done() -> None:
    def wakes(state: ItemState, change: Change) -> bool:
        done = move(item(state), change)
        assert isinstance(done, Advanced)
        return done.wakes

    assert wakes(S.SUBMITTED, completed())  # a slot freed
    assert wakes(S.COMPLETED, fetched(None))  # done: waiting inputs get their result
    assert wakes(S.FAILED, retried())  # pending again
    assert not wakes(S.PENDING, claimed()) and not wakes(S.SUBMITTING, submitted("j", "c"))


ANY_MOVE = st.sampled_from(sorted(MOVES))


@given(st.lists(ANY_MOVE, max_size=40))
def test_random_moves_keep_the_rule(names: list[str]) -> None:
    row, fence, names_used = item(S.PENDING), 100, set()
    for now, name in enumerate(names):
        make, sources = MOVES[name]
        done = advance(row, make(), worker=ME, fence=row.fence, now=float(now), new_fence=fence)
        fence += 1
        if row.state not in sources:
            assert isinstance(done, Refusal)
            continue
        assert isinstance(done, Advanced)
        new = done.item
        if name in ("claim", "resend"):
            assert new.attempts == row.attempts + 1
            assert new.attempt_name not in names_used  # never a name used before
            names_used.add(new.attempt_name)
        else:
            assert new.attempts == row.attempts and new.attempt_name == row.attempt_name
        assert not (row.state is S.UNKNOWN and new.state is S.FAILED)
        assert (new.owner is None) == (new.state in (S.PENDING, S.FETCHED, S.FAILED))
        assert new.name == row.name == "a-123"
        row = new


def test_only_moves_a_rerun_redoes_for_free_may_be_lost_in_a_power_cut() -> None:
    # Move.durable=False lets a store answer before the commit is on disk. Never for an
    # intent (a move to submitting: lost, a sent submit is sent again), nor for a move
    # that frees or fails an item (its slot, its attempt, its outcome).
    relaxed = {m.name for m in MOVES_BY_NAME.values() if not m.durable}
    assert relaxed == {"submitted", "job_id_learned", "completed", "fetched"}
    for move in MOVES_BY_NAME.values():
        if move.target in (None, ItemState.SUBMITTING, ItemState.PENDING, ItemState.FAILED,
                           ItemState.UNKNOWN) or move.takes_ownership or move.new_attempt:
            assert move.durable, move.name
