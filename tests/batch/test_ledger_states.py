"""A hypothesis state machine over the SQLite ledger: random moves (the service's random
answers, as the engine records them, through ``SqliteLedger.claim`` and ``apply``), random
crashes (close and reopen, by the same process or a new one that adopts what was left in
flight), and the rule's invariants checked against the file after every step."""

from __future__ import annotations

import contextlib
import itertools
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import attrs
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from symbl_async.batch._ledger import (
    IN_FLIGHT,
    ItemState,
    LedgerItem,
    Pending,
    SqliteLedger,
)
from symbl_async.batch._ledger._states import (
    Change,
    completed,
    failed,
    fetched,
    job_id_learned,
    none_created,
    reopened,
    resent,
    retried,
    submitted,
    unknown,
)
from symbl_async.errors import IllegalTransitionError, LeaseLostError

S = ItemState
KEYS = st.sampled_from(["a", "b"])
NOBODYS = {S.PENDING, S.FETCHED, S.FAILED}


def _submitted(row: LedgerItem) -> Change:
    # Sent and answered: the job's id; found by name after an unknown outcome: none.
    if row.state is S.UNKNOWN:
        return submitted(None, f"conv-{row.key}")
    return submitted(f"job-{row.key}", f"conv-{row.key}")


# The rule, written independently of the state machine's own table: each move's change (as
# the engine would make it) and the states it may leave. "claim" goes through claim().
MOVES: dict[str, tuple[Callable[[LedgerItem], Change], set[ItemState]]] = {
    "claim": (lambda row: resent(), {S.PENDING}),  # the change is unused: claim() makes it
    "resend": (lambda row: resent(), {S.SUBMITTING, S.UNKNOWN}),
    "unknown": (lambda row: unknown("no answer", grace_until=0.0), {S.SUBMITTING}),
    "submitted": (_submitted, {S.SUBMITTING, S.UNKNOWN}),
    "job_id_learned": (lambda row: job_id_learned(f"late-{row.key}"), {S.SUBMITTED}),
    "completed": (lambda row: completed(), {S.SUBMITTED}),
    "fetched": (lambda row: fetched(f"/out/{row.key}.json"), {S.COMPLETED}),
    # Never from unknown: a job whose submit had no answer may exist.
    "failed": (lambda row: failed("the service said so"),
               {S.PENDING, S.SUBMITTING, S.SUBMITTED, S.COMPLETED}),
    "reopen": (lambda row: reopened(), {S.FETCHED}),
    "retry": (lambda row: retried(), {S.FAILED}),
    # Its grace period (0.0) is long over: a lookup that finds nothing means none exists.
    "none_created": (lambda row: none_created(0.0, "not found by name"),
                     {S.SUBMITTING, S.UNKNOWN}),
}


class _Undo(Exception):
    """Raised inside ``SqliteLedger.group()`` to roll a trial move back."""


FORWARD = {S.PENDING: "claim", S.SUBMITTING: "submitted", S.UNKNOWN: "submitted",
           S.SUBMITTED: "completed", S.COMPLETED: "fetched", S.FETCHED: "reopen",
           S.FAILED: "retry"}


def allowed(move: str, row: LedgerItem, run_started: float) -> bool:
    if move == "job_id_learned" and row.job_id is not None:
        return False  # learned once, never replaced
    if move == "claim" and row.updated_at < run_started:
        return False  # left pending by an earlier run: waits for an input to name it
    return row.state in MOVES[move][1]


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="ledger-sm-"))
        self.path = self.folder / "ledger.sqlite3"
        self.workers = itertools.count()
        self.ledger = self._open(new_process=True)
        self.known: dict[str, LedgerItem] = {}
        self.names: dict[str, list[str]] = {}
        self.moves: list[tuple[str, ItemState, ItemState]] = []
        self.fences: list[int] = []

    def _open(self, *, new_process: bool) -> SqliteLedger:
        if new_process:
            self.worker = f"w{next(self.workers)}"
        # The batch's lock file is held: no other process is alive, adopt at once.
        ledger = SqliteLedger.open(self.path, self.worker, exclusive=True)
        # A crash here is a close, never a power cut: the commits need not reach the disk,
        # and without an fsync each, the machine explores many more paths per second.
        assert ledger._conn is not None
        ledger._conn.execute("PRAGMA synchronous=OFF")
        self.run_started = ledger.join(max_limit=10, lease=30.0)  # each open: a new run
        return ledger

    def teardown(self) -> None:
        self.ledger.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    @initialize()
    def start(self) -> None:
        for key in ("a", "b"):
            self.add(key)

    @rule(key=KEYS)
    def add(self, key: str) -> None:
        (row,) = self.ledger.add_pending([Pending(key, f"{key}.wav", f"base-{key}", None,
                                                  f'{{"key": "{key}"}}')])
        old = self.known.get(key)
        if old is not None and old.state is S.PENDING:
            # Named again: wanted in this run, its time refreshed, nothing else changed.
            assert row == attrs.evolve(old, updated_at=row.updated_at)
            assert row.updated_at >= max(old.updated_at, self.run_started)
        elif old is not None:
            assert row == old  # an existing item is left exactly as it is
        self.known[key] = row
        self.names.setdefault(key, [])

    @rule(key=KEYS, data=st.data(), steps=st.integers(1, 6))
    def allowed_answers(self, key: str, data: st.DataObject, steps: int) -> None:
        """A few moves the rule allows, one after another, mostly forward (to the next state
        of a job that goes well), so that deep paths are explored."""
        for _ in range(steps):
            row = self.known[key]
            forward = FORWARD[row.state]
            if data.draw(st.booleans()) and self.allowed(forward, row):
                self.answer(key, forward)
            elif row.state is S.PENDING and not self.allowed("claim", row):
                self.add(key)  # an earlier run's: an input of this run names it again
            else:
                moves = sorted(m for m in MOVES if self.allowed(m, row))
                self.answer(key, data.draw(st.sampled_from(moves)))

    @rule(key=KEYS, move=st.sampled_from(sorted(MOVES)))
    def any_answer(self, key: str, move: str) -> None:
        """Any move: one the rule forbids must be refused and change nothing."""
        self.answer(key, move)

    def answer(self, key: str, move: str) -> None:
        before = self.known.get(key)
        if before is None:
            return
        legal = self.allowed(move, before)
        after = self._try(before, move)
        if after is None:
            assert not legal, f"{move} refused from {before.state}"
            assert self.ledger.get(key) == before  # nothing changed
            return
        assert legal, f"{move} allowed from {before.state}"
        self.moves.append((move, before.state, after.state))
        if move in ("claim", "resend"):
            assert after.attempts == before.attempts + 1 and after.attempt_at is not None
            assert after.attempt_name is not None
            self.names[key].append(after.attempt_name)
        else:
            assert (after.attempts, after.attempt_name) == (before.attempts,
                                                           before.attempt_name)
        if move == "retry":
            # A job known completed is fetched again, never submitted again.
            expected = S.COMPLETED if before.completed_at is not None else S.PENDING
            assert after.state is expected
        if after.fence is not None and after.fence != before.fence:
            self.fences.append(after.fence)
        assert self.ledger.get(key) == after
        self.known[key] = after

    def allowed(self, move: str, row: LedgerItem) -> bool:
        return allowed(move, row, self.run_started)

    def _try(self, row: LedgerItem, move: str) -> LedgerItem | None:
        """The move made (the item after it), or None when the ledger refused it."""
        if move == "claim":
            got = self.ledger.claim(1, [row.key])
            assert len(got) <= 1
            return got[0] if got else None
        try:
            return self.ledger.apply(row, MOVES[move][0](row))
        except IllegalTransitionError:
            return None

    @rule(key=KEYS, data=st.data())
    def stale_hands(self, key: str, data: st.DataObject) -> None:
        """A move with a fence the worker no longer holds is refused, whatever the move."""
        row = self.known.get(key)
        if row is None or row.fence is None:
            return
        move = data.draw(st.sampled_from(sorted(m for m in MOVES if m != "claim")))
        stale = attrs.evolve(row, fence=row.fence - data.draw(st.integers(1, 3)))
        try:
            self.ledger.apply(stale, MOVES[move][0](row))
        except LeaseLostError:
            pass
        else:
            raise AssertionError(f"{move} with a stale fence was allowed")
        assert self.ledger.get(key) == row

    @rule(new_process=st.booleans())
    def crash(self, new_process: bool) -> None:
        # Every move is its own committed transaction: a crash between two keeps them all.
        self.ledger.close()
        self.ledger = self._open(new_process=new_process)
        for key, row in self.known.items():
            assert self.ledger.get(key) == row
        if not new_process:
            assert self.ledger.adopt() == []  # its own items stay its own
            return
        # A new process under the batch's lock file takes every unfinished item at once,
        # in its state, with a new fence; the others are nobody's and stay as they are.
        taken = {r.key: r for r in self.ledger.adopt()}
        for key, row in self.known.items():
            if row.state in NOBODYS:
                assert key not in taken
                continue
            new = taken[key]
            assert (new.state, new.owner) == (row.state, self.worker)
            assert new.fence is not None and row.fence is not None and new.fence > row.fence
            assert attrs.evolve(new, owner=row.owner, fence=row.fence,
                                updated_at=row.updated_at) == row
            self.fences.append(new.fence)
            self.known[key] = new

    @invariant()
    def the_file_holds_what_the_moves_returned(self) -> None:
        for key, row in self.known.items():
            assert self.ledger.get(key) == row

    @invariant()
    def every_move_is_judged_by_the_rule(self) -> None:
        # Exhaustive in each state reached: a move the rule forbids is refused and changes
        # nothing; one it allows is made (then undone: the transaction is rolled back).
        for key, row in self.known.items():
            for move in MOVES:
                if not self.allowed(move, row):
                    assert self._try(row, move) is None, f"{move} allowed from {row.state}"
                    continue
                with contextlib.suppress(_Undo), self.ledger.group():
                    assert self._try(row, move) is not None, f"{move} refused from {row.state}"
                    raise _Undo
                assert self.ledger.get(key) == row

    @invariant()
    def unknown_is_never_a_failure(self) -> None:
        assert all(not (src is S.UNKNOWN and dst is S.FAILED) for _, src, dst in self.moves)

    @invariant()
    def each_attempt_has_its_own_name(self) -> None:
        for key, names in self.names.items():
            row = self.known[key]
            assert len(names) == len(set(names)) == row.attempts
            assert row.name == f"base-{key}"  # the item's own name, never compounded
            assert row.attempt_name == (names[-1] if names else None)

    @invariant()
    def an_item_is_in_the_hands_of_the_live_worker_or_nobodys(self) -> None:
        for row in self.known.values():
            if row.state in NOBODYS:
                assert (row.owner, row.fence) == (None, None)
            else:
                assert row.owner == self.worker and row.fence is not None

    @invariant()
    def fences_only_grow(self) -> None:
        assert self.fences == sorted(set(self.fences))

    @invariant()
    def the_slots_count_the_jobs_in_flight(self) -> None:
        in_flight = sum(row.state in IN_FLIGHT for row in self.known.values())
        assert self.ledger.in_flight() == in_flight


# The number of examples comes from the profile (tests/conftest.py).
LedgerMachine.TestCase.settings = settings(stateful_step_count=30, deadline=None, database=None)
TestLedgerStates = LedgerMachine.TestCase
