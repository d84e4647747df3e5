"""A hypothesis state machine over the ledger: random moves (the service's random answers, as
the engine records them), random crashes (close and reopen), and the rule's invariants."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from symbl_async.batch._ledger import IllegalTransitionError, ItemState, Ledger, LedgerItem
from symbl_async.batch._names import attempt_name

S = ItemState
KEYS = st.sampled_from(["a", "b"])
# The rule, written independently of the ledger's own table: the states each move leaves.
ALLOWED: dict[str, set[ItemState]] = {
    "mark_submitting": {S.PENDING, S.SUBMITTING, S.UNKNOWN},
    "mark_unknown": {S.SUBMITTING},
    "mark_submitted": {S.SUBMITTING, S.UNKNOWN},
    "mark_completed": {S.SUBMITTED},
    "mark_fetched": {S.COMPLETED},
    "mark_failed": {S.PENDING, S.SUBMITTING, S.SUBMITTED, S.COMPLETED},  # never from unknown
    "reopen": {S.FETCHED},
    "reset_for_retry": {S.FAILED},
}


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="ledger-sm-"))
        self.path = self.folder / "ledger.sqlite3"
        self.ledger = Ledger.open(self.path)
        self.known: dict[str, LedgerItem] = {}
        self.names: dict[str, list[str]] = {}
        self.moves: list[tuple[str, ItemState, ItemState]] = []

    def teardown(self) -> None:
        self.ledger.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    @rule(key=KEYS)
    def add(self, key: str) -> None:
        row = self.ledger.upsert_pending(key, f"src-{key}", f"base-{key}", None)
        if key in self.known:
            assert row == self.known[key]  # an existing item is left exactly as it is
        self.known[key] = row
        self.names.setdefault(key, [])

    @rule(key=KEYS, data=st.data())
    def allowed_answer(self, key: str, data: st.DataObject) -> None:
        """A move the rule allows from the item's state, so that deep paths are explored."""
        before = self.ledger.get(key)
        moves = sorted(m for m, src in ALLOWED.items() if before and before.state in src)
        if moves:
            self.answer(key, data.draw(st.sampled_from(moves)))

    @rule(key=KEYS, move=st.sampled_from(sorted(ALLOWED)))
    def any_answer(self, key: str, move: str) -> None:
        """Any move: one the rule forbids must be refused and change nothing."""
        self.answer(key, move)

    def answer(self, key: str, move: str) -> None:
        before = self.ledger.get(key)
        args = self._args(key, move, before)
        legal = before is not None and before.state in ALLOWED[move]
        try:
            after = getattr(self.ledger, move)(key, *args)
        except IllegalTransitionError:
            assert not legal, f"{move} refused from {before and before.state}"
            assert self.ledger.get(key) == before  # nothing changed
            return
        assert legal and before is not None, f"{move} allowed from {before and before.state}"
        self.moves.append((move, before.state, after.state))
        if move == "mark_submitting":
            assert after.name == args[0] and after.attempts == before.attempts + 1
            assert after.attempt_at is not None
            self.names[key].append(after.name)
        if move == "reset_for_retry":
            # A job known completed is fetched again, never submitted again.
            expected = S.COMPLETED if before.completed_at is not None else S.PENDING
            assert after.state is expected
        assert self.ledger.get(key) == after
        self.known[key] = after

    @staticmethod
    def _args(key: str, move: str, before: LedgerItem | None) -> tuple[Any, ...]:
        if move == "mark_submitting" and before is not None:
            return (attempt_name(f"base-{key}", before.attempts + 1),)
        if move == "mark_submitted":
            found_by_name = before is not None and before.state is S.UNKNOWN
            return (None, f"conv-{key}") if found_by_name else (f"job-{key}", f"conv-{key}")
        if move in ("mark_failed", "mark_unknown"):
            return ("the service said so",)
        if move == "mark_fetched":
            return (f"{key}.json",)
        return ()

    @rule()
    def crash(self) -> None:
        # Every move is its own committed transaction: a crash between two keeps them all.
        self.ledger.close()
        self.ledger = Ledger.open(self.path)
        for key, row in self.known.items():
            assert self.ledger.get(key) == row

    @invariant()
    def every_forbidden_move_is_refused(self) -> None:
        # Exhaustive in each state reached: a move the rule forbids raises and changes nothing.
        for key, row in self.known.items():
            for move, sources in ALLOWED.items():
                if row.state in sources:
                    continue
                try:
                    getattr(self.ledger, move)(key, *self._args(key, move, row))
                except IllegalTransitionError:
                    pass
                else:
                    raise AssertionError(f"{move} allowed from {row.state}")
                assert self.ledger.get(key) == row

    @invariant()
    def unknown_is_never_a_failure(self) -> None:
        assert all(not (src is S.UNKNOWN and dst is S.FAILED) for _, src, dst in self.moves)

    @invariant()
    def each_attempt_has_its_own_name(self) -> None:
        for key, names in self.names.items():
            assert len(names) == len(set(names))
            assert self.known[key].attempts == len(names)


# The number of examples comes from the profile (tests/conftest.py).
LedgerMachine.TestCase.settings = settings(stateful_step_count=40, deadline=None, database=None)
TestLedgerStates = LedgerMachine.TestCase
