"""The store contract, on every store: in memory, SQLite, PostgreSQL.

Each test gets a ledger and makes workers on it (``Workers.new``): stores of one ledger, as
processes sharing a batch would have. What a test asserts holds for all three; where one
store differs by design, the test says which and why.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import attrs
import pytest
from _polling import eventually

from symbl_async.batch._ledger import (
    ItemState,
    ItemStore,
    LedgerItem,
    MemoryLedger,
    MemoryStore,
    Pending,
    PostgresStore,
    SqliteStore,
)
from symbl_async.batch._ledger._states import (
    completed,
    failed,
    fetched,
    reopened,
    resent,
    retried,
    submitted,
    unknown,
    unreserved,
)
from symbl_async.errors import (
    ClientClosedError,
    IllegalTransitionError,
    LeaseLostError,
    ValidationError,
)

S = ItemState


class Workers:
    """Workers on one ledger, closed at the end."""

    def __init__(self, kind: str, where: str) -> None:
        self.kind = kind
        self.where = where
        self.memory = MemoryLedger()
        self.open: list[ItemStore] = []

    async def new(self, worker_id: str | None = None) -> ItemStore:
        store: ItemStore
        if self.kind == "memory":
            store = MemoryStore(self.memory, worker_id=worker_id, shared=True)
        elif self.kind == "sqlite":
            store = await SqliteStore.open(self.where, worker_id=worker_id)
        else:
            store = await PostgresStore.connect(self.where, worker_id=worker_id)
        self.open.append(store)
        return store

    async def joined(self, limit: int = 10, lease: float = 30.0) -> ItemStore:
        store = await self.new()
        await store.join(max_limit=limit, lease=lease)
        return store

    async def close(self) -> None:
        for store in self.open:
            await store.aclose()


@pytest.fixture
async def workers(ledger_where: tuple[str, str]) -> AsyncIterator[Workers]:
    """Workers on a ledger of each kind (tests/_ledgers.py: ``ledger_where``)."""
    ledger = Workers(*ledger_where)
    try:
        yield ledger
    finally:
        await ledger.close()


def pending(key: str, duration: float | None = 60.0) -> Pending:
    return Pending(key, f"{key}.wav", f"{key}-name", duration, f'{{"key": "{key}"}}')


async def test_add_pending_records_new_items_and_leaves_existing_ones(workers: Workers) -> None:
    a = await workers.joined()
    first = await a.add_pending([pending("x"), pending("y", None)])
    assert [(r.key, r.state, r.duration, r.spec) for r in first] == [
        ("x", S.PENDING, 60.0, '{"key": "x"}'), ("y", S.PENDING, None, '{"key": "y"}')]
    (claimed_x,) = await a.claim(1, ["x"])
    again = await a.add_pending([pending("z"), pending("x", 5.0)])
    assert [r.key for r in again] == ["z", "x"]
    assert again[1] == claimed_x  # left exactly as it is, in the order given
    assert await a.add_pending([]) == []


async def test_add_pending_of_new_pending_and_taken_items_at_once(workers: Workers) -> None:
    # One group of a rerun holds all three: only the new one is written, the pending one
    # is named again (its time moves), the taken one is left exactly as it is.
    a = await workers.joined()
    await a.add_pending([pending("held"), pending("waiting")])
    (held,) = await a.claim(1, ["held"])
    (waiting,) = await a.get_many(["waiting"])
    rows = await a.add_pending([pending("held", 1.0), pending("new"), pending("waiting", 2.0)])
    assert [(r.key, r.state) for r in rows] == [
        ("held", S.SUBMITTING), ("new", S.PENDING), ("waiting", S.PENDING)]
    assert rows[0] == held == await a.get("held")
    assert rows[1] == await a.get("new") and rows[1].duration == 60.0
    assert rows[2] == await a.get("waiting")
    assert rows[2].updated_at > waiting.updated_at and rows[2].duration == waiting.duration


async def test_only_items_named_in_this_run_are_claimed(workers: Workers) -> None:
    earlier = await workers.joined()
    await earlier.add_pending([pending("x"), pending("y")])
    await earlier.leave()  # that run ended with both pending
    later = await workers.new()
    await later.join(max_limit=5, lease=30.0)  # nobody alive: a new run
    assert await later.claim(5) == [] and await later.unfinished_elsewhere() == 0
    (again,) = await later.add_pending([pending("y")])  # an input of this run names it
    left = await later.get("x")
    assert left is not None and again.state is S.PENDING and again.updated_at > left.updated_at
    assert [r.key for r in await later.claim(5)] == ["y"]
    assert await later.claim(5, ["x"]) == []


async def test_held_or_done_reads_only_what_a_shared_run_may_report(workers: Workers) -> None:
    # A shared run asks twice a second about its inputs' items: only those done for the
    # run, or its own, come back (pending ones and other workers' in flight are left).
    a = await workers.joined()
    b = await workers.new()
    await b.join(max_limit=10, lease=30.0)
    await a.add_pending([pending(k) for k in ("mine", "theirs", "done", "refused", "queued")])
    await a.claim(1, ["mine"])
    await b.claim(1, ["theirs"])
    (done,) = await a.claim(1, ["done"])
    done = await a.apply(await a.apply(done, submitted("job-1", "conv-1")), completed())
    await a.apply(done, fetched(None))
    (refused,) = await b.claim(1, ["refused"])
    await b.apply(refused, failed("refused: 400"))
    keys = ["mine", "theirs", "done", "refused", "queued", "nope"]
    assert sorted(r.key for r in await a.get_many(keys, held_or_done=True)) == [
        "done", "mine", "refused"]
    assert sorted(r.key for r in await b.get_many(keys, held_or_done=True)) == [
        "done", "refused", "theirs"]
    assert len(await a.get_many(keys)) == 5


async def test_the_life_of_an_item(workers: Workers) -> None:
    a = await workers.joined()
    await a.add_pending([pending("x")])
    (row,) = await a.claim(5)
    assert (row.state, row.owner, row.attempts, row.attempt_name) == (
        S.SUBMITTING, a.worker_id, 1, "x-name-1")
    assert row.fence is not None and row.attempt_at is not None
    row = await a.apply(row, unknown("lost", grace_until=a.clock() + 60))
    assert row.state is S.UNKNOWN and row.error == "lost" and row.grace_until is not None
    row = await a.apply(row, resent())
    assert (row.attempts, row.attempt_name, row.grace_until) == (2, "x-name-2", None)
    row = await a.apply(row, submitted("job-1", "conv-1"))
    assert (row.state, row.job_id, row.conversation_id) == (S.SUBMITTED, "job-1", "conv-1")
    row = await a.apply(row, completed())
    row = await a.apply(row, fetched("/out/x.json"))
    assert row.state is S.FETCHED and row.owner is None and row.output_path == "/out/x.json"
    assert row.submitted_at and row.completed_at and row.fetched_at
    assert await a.get("x") == row and await a.get("nope") is None
    assert await a.get_many(["x", "nope", "x"]) == [row]
    assert (await a.counts())[S.FETCHED.value] == 1
    assert [r.key async for r in a.items(S.FETCHED)] == ["x"]


async def test_refused_moves_change_nothing(workers: Workers) -> None:
    a = await workers.joined()
    (row,) = await a.add_pending([pending("x")])
    with pytest.raises(IllegalTransitionError, match="cannot go from pending to completed"):
        await a.apply(row, completed())
    with pytest.raises(IllegalTransitionError, match="no ledger item"):
        await a.apply(LedgerItem(key="ghost", source="", name="", state=S.PENDING),
                      completed())
    (row,) = await a.claim(1)
    row = await a.apply(row, unknown("lost", grace_until=0.0))
    with pytest.raises(IllegalTransitionError):  # a job that may exist never fails
        await a.apply(row, failed("no"))
    assert await a.get("x") == row


async def test_claims_keep_every_worker_within_the_account_limit(workers: Workers) -> None:
    a, b = await workers.joined(limit=3), await workers.joined(limit=3)
    await a.add_pending([pending(f"k{i}", float(i)) for i in range(8)])
    got = await a.claim(2)
    got += await b.claim(5)
    assert [r.key for r in got] == ["k7", "k6", "k5"]  # longest first, over both workers
    assert await a.in_flight() == 3 and await b.claim(5) == []
    done = await a.apply(await a.apply(got[0], submitted("j", "c")), completed())
    assert done.state is S.COMPLETED and await a.in_flight() == 2
    (next_one,) = await b.claim(5)
    assert next_one.key == "k4" and next_one.owner == b.worker_id


async def test_a_jobs_end_refills_its_slot_while_the_worker_is_within_its_share(
    workers: Workers,
) -> None:
    a, b = await workers.joined(limit=4), await workers.joined(limit=4)
    await a.add_pending([pending(f"k{i}", float(i)) for i in range(10)])
    mine, theirs = await a.claim(3), await b.claim(1)
    assert [r.key for r in mine + theirs] == ["k9", "k8", "k7", "k6"]
    # 4 slots, 2 live workers: a share of 2. a still holds 2: the slot is anyone's.
    row = await a.apply(mine[0], submitted("j9", "c9"))
    ended, taken = await a.end_and_claim(row, completed())
    assert ended.state is S.COMPLETED and ended.completed_at is not None and taken == []
    assert await a.in_flight() == 3
    assert [r.key for r in await b.claim(5)] == ["k5"]
    # b ends one and holds 1: it takes the longest pending item in the same move.
    row = await b.apply(theirs[0], submitted("j6", "c6"))
    ended, taken = await b.end_and_claim(row, completed())
    assert ended.state is S.COMPLETED and [r.key for r in taken] == ["k4"]
    (got,) = taken
    assert (got.state, got.owner, got.attempts, got.attempt_name) == (
        S.SUBMITTING, b.worker_id, 1, "k4-name-1")
    assert await b.get("k4") == got and await b.in_flight() == 4
    # A failed job frees its slot too; a refill never passes the account's limit.
    ended, taken = await a.end_and_claim(mine[1], failed("the job failed"))
    assert ended.state is S.FAILED and [r.key for r in taken] == ["k3"]
    assert await a.in_flight() == 4 and await a.claim(5) == []
    # A refused move claims nothing.
    k2 = await a.get("k2")
    assert k2 is not None
    with pytest.raises(IllegalTransitionError):
        await a.end_and_claim(k2, completed())
    assert await a.get("k2") == k2 and await a.in_flight() == 4


async def test_a_claim_within_the_share_leaves_the_slot_to_the_others(
    workers: Workers,
) -> None:
    a, b = await workers.joined(limit=4), await workers.joined(limit=4)
    await a.add_pending([pending(f"k{i}", float(i)) for i in range(6)])
    assert a.share is None  # not counted yet
    assert len(await a.claim(2, within_share=True)) == 2 and not a.over_share
    assert a.share == 2  # 4 slots, 2 live workers
    # a holds its share (4 slots, 2 live workers): it takes nothing, and says why.
    assert await a.claim(2, within_share=True) == [] and a.over_share
    assert [r.key for r in await b.claim(1, within_share=True)] == ["k3"]
    assert not b.over_share
    # Without the share, as ever; and a full account is not "over the share".
    assert [r.key for r in await a.claim(1)] == ["k2"] and not a.over_share
    assert await b.claim(1, within_share=True) == [] and not b.over_share


async def test_claims_take_the_candidates_in_their_order(workers: Workers) -> None:
    a = await workers.joined(limit=10)
    await a.add_pending([pending(f"k{i}", float(i)) for i in range(5)])
    (first,) = await a.claim(1, ["k1"])
    got = await a.claim(3, ["k0", "k1", "nope", "k3", "k4"])
    assert first.key == "k1" and [r.key for r in got] == ["k0", "k3", "k4"]
    assert await a.claim(3, []) == [] and await a.claim(0) == []


async def test_a_reserved_item_is_left_by_every_claim_but_its_workers(
    workers: Workers,
) -> None:
    # A shared worker uploads the next item ahead of its slot: it reserves the item, the
    # other workers' claims leave it, and its own claim takes it first.
    a, b = await workers.joined(limit=10), await workers.joined(limit=10)
    await a.add_pending([pending(f"k{i}", float(i)) for i in range(5)])
    head = await a.next_pending()
    assert head is not None and head.key == "k4" and head.state is S.PENDING
    kept = await a.reserve("k4")
    assert kept is not None
    assert (kept.state, kept.owner, kept.attempts) == (S.PENDING, a.worker_id, 0)
    assert kept.fence is not None
    assert await a.reserve("k4") is None and await b.reserve("k4") is None
    assert await b.reserve("nope") is None
    nxt = await b.next_pending()
    assert nxt is not None and nxt.key == "k3"
    assert await b.unfinished_elsewhere() == 5  # reserved: still work of the run
    assert await b.claim(1, ["k4"]) == [] and await b.claim(1, [], reserved=["k4"]) == []
    assert await a.claim(1, ["k4"]) == []  # its own too: a reservation goes by reserved=
    assert [r.key for r in await b.claim(2)] == ["k3", "k2"]
    got = await a.claim(2, reserved=["k4", "k3", "nope"])  # k3 is b's now: skipped
    assert [r.key for r in got] == ["k4", "k1"]  # the reservation, then the backlog
    assert (got[0].state, got[0].owner, got[0].attempts, got[0].attempt_name) == (
        S.SUBMITTING, a.worker_id, 1, "k4-name-1")
    assert got[0].fence is not None and got[0].fence != kept.fence
    assert await a.get("k4") == got[0]
    assert await a.next_pending() is not None and await a.reserve("k4") is None


async def test_a_jobs_end_refills_its_slot_with_the_workers_reservation(
    workers: Workers,
) -> None:
    a, b = await workers.joined(limit=2), await workers.joined(limit=2)
    await a.add_pending([pending(f"k{i}", float(i)) for i in range(6)])
    (mine,), (_,) = await a.claim(1), await b.claim(1)
    assert await a.reserve("k1") is not None  # not the longest: its own choice
    row = await a.apply(mine, submitted("j5", "c5"))
    ended, taken = await a.end_and_claim(row, completed(), reserved=["k1"])
    assert ended.state is S.COMPLETED and [r.key for r in taken] == ["k1"]
    assert (taken[0].state, taken[0].owner) == (S.SUBMITTING, a.worker_id)
    # Without a reservation of its own, the longest that nobody reserved.
    assert await b.reserve("k3") is not None
    row = await a.apply(taken[0], submitted("j1", "c1"))
    ended, taken = await a.end_and_claim(row, completed(), reserved=["k3"])
    assert [r.key for r in taken] == ["k2"]


async def test_a_worker_over_its_share_reserves_nothing(workers: Workers) -> None:
    # Its jobs' ends would not refill their slots: an upload ahead would wait in vain.
    a = await workers.joined(limit=4)
    await workers.joined(limit=4)  # another worker alive: a share of 2 slots each
    await a.add_pending([pending(f"k{i}", float(i)) for i in range(6)])
    mine = await a.claim(3)
    assert await a.reserve("k0") is None and a.share == 2  # 3 jobs; a share of 2
    left = await a.get("k0")
    assert left is not None and left.owner is None
    await a.apply(await a.apply(mine[0], submitted("j", "c")), completed())
    kept = await a.reserve("k0")  # 2 jobs: its next end refills its slot
    assert kept is not None and kept.owner == a.worker_id


async def test_a_reservation_is_given_up_or_lapses_with_its_worker(workers: Workers) -> None:
    a = await workers.joined(lease=30.0)
    dying = await workers.joined(lease=1.0)  # renewed before it reserves (a loaded machine)
    await a.add_pending([pending("k0", 1.0), pending("k1", 2.0), pending("k2", 3.0)])
    kept = await a.reserve("k2")
    assert kept is not None
    with pytest.raises(LeaseLostError):
        await dying.apply(kept, unreserved())  # not its reservation
    freed = await a.apply(kept, unreserved())
    assert (freed.state, freed.owner, freed.fence) == (S.PENDING, None, None)
    with pytest.raises(LeaseLostError):
        await a.apply(kept, unreserved())  # given up already: no longer in its hands
    with pytest.raises(IllegalTransitionError):
        await a.apply(freed, unreserved())  # nobody's: nothing to give up
    assert await dying.heartbeat()
    assert await dying.reserve("k2") is not None and await dying.reserve("k1") is not None
    assert [r.key for r in await a.claim(5)] == ["k0"]
    # Its worker's lease runs out: the adoption pass frees its reservations (it adopts
    # nothing: they are pending), and claims take them again.
    taken: list[LedgerItem] = []

    async def lapsed() -> bool:
        assert await a.adopt() == []
        taken.extend(await a.claim(5))
        return len(taken) == 2

    await eventually(lapsed, timeout=10.0)
    assert [(r.key, r.state, r.owner) for r in taken] == [
        ("k2", S.SUBMITTING, a.worker_id), ("k1", S.SUBMITTING, a.worker_id)]


async def test_leaving_gives_back_the_workers_reservations(workers: Workers) -> None:
    # A stop that cancelled a reservation's call may have let it be made without the run
    # knowing: leaving gives back whatever this worker reserved, and only that.
    a, b = await workers.joined(limit=10), await workers.joined(limit=10)
    await a.add_pending([pending(f"k{i}", float(i)) for i in range(4)])
    assert await a.reserve("k3") is not None and await a.reserve("k2") is not None
    assert await b.reserve("k1") is not None
    (held,) = await a.claim(1, reserved=["k3"])
    await a.leave()
    after = {k: await a.get(k) for k in ("k3", "k2", "k1")}
    assert [(r.state, r.owner) for r in after.values() if r is not None] == [
        (S.SUBMITTING, a.worker_id),  # in flight: for the adoption pass, as before
        (S.PENDING, None),  # its reservation, given back
        (S.PENDING, b.worker_id),  # the other worker's, kept
    ]
    assert [r.key for r in await b.claim(5)] == ["k2", "k0"]  # b's own goes by reserved=
    assert held.key == "k3"


async def test_claims_need_a_join(workers: Workers) -> None:
    a = await workers.new()
    await a.add_pending([pending("x")])
    with pytest.raises(ValidationError, match="join"):
        await a.claim(1)
    with pytest.raises(ValidationError, match="max_limit"):
        await a.join(max_limit=0, lease=1.0)


async def test_a_429_lowers_the_limit_once_per_burst_and_holds_every_claim(
    workers: Workers,
) -> None:
    a, b = await workers.joined(limit=8), await workers.joined(limit=8)
    await a.add_pending([pending(f"k{i}") for i in range(12)])
    burst = await a.claim(8)
    assert len(burst) == 8
    await a.on_rejected(cooldown=0.3)
    await b.on_rejected(cooldown=0.3)  # the same burst: one decrease
    assert await b.claim(1) == []  # the cooldown holds everyone
    for row in burst[:6]:
        await a.apply(await a.apply(row, submitted("j", "c")), completed())
    # 2 in flight; the limit is 4: 2 more once the cooldown is over.
    await eventually(lambda: _claims(b, 5, want=2), timeout=10.0)
    for _ in range(4):
        await a.on_accepted()  # every second success raises the limit by one
    assert len(await a.claim(5)) == 2


async def _claims(store: ItemStore, most: int, want: int) -> bool:
    got = await store.claim(most)
    assert len(got) in (0, want)
    return len(got) == want


async def test_an_owned_item_moves_only_in_its_owners_hands(workers: Workers) -> None:
    a, b = await workers.joined(), await workers.joined()
    await a.add_pending([pending("x")])
    (row,) = await a.claim(1)
    with pytest.raises(LeaseLostError, match="hands"):
        await b.apply(attrs.evolve(row, fence=None), submitted("j", "c"))
    with pytest.raises(LeaseLostError):
        await b.apply(row, submitted("j", "c"))  # the fence, but not its owner
    assert (await a.apply(row, submitted("j", "c"))).state is S.SUBMITTED


async def test_a_worker_past_its_lease_loses_its_items_to_an_adopter(workers: Workers) -> None:
    adopter = await workers.joined(lease=30.0)
    # A lease of 1 s, renewed just before the check that it is alive: the moves before it
    # took over 0.3 s (its lease before) on a loaded machine, and it was adopted early.
    dying = await workers.joined(lease=1.0)
    await dying.add_pending([pending(f"k{i}") for i in range(4)])
    rows = await dying.claim(4)
    second = await dying.apply(rows[1], submitted("j1", "c1"))
    third = await dying.apply(await dying.apply(rows[2], submitted("j2", "c2")), completed())
    fourth = await dying.apply(await dying.apply(rows[3], submitted("j3", "c3")), completed())
    await dying.apply(fourth, fetched(None))
    assert await dying.heartbeat()
    assert await adopter.adopt() == []  # alive: nothing to take
    taken: list[LedgerItem] = []

    async def adopt() -> bool:
        taken.extend(await adopter.adopt())
        return bool(taken)

    await eventually(adopt, timeout=10.0)
    assert sorted((r.key, r.state) for r in taken) == [
        ("k0", S.SUBMITTING), ("k1", S.SUBMITTED), ("k2", S.COMPLETED)]
    assert all(r.owner == adopter.worker_id for r in taken)
    assert not await dying.heartbeat()  # declared dead: it must stop
    with pytest.raises(LeaseLostError, match="taken over"):
        await dying.apply(second, completed())
    with pytest.raises(LeaseLostError):
        await dying.apply(third, fetched(None))


async def test_leave_hands_items_over_at_once_and_adopters_take_each_once(
    workers: Workers,
) -> None:
    leaver = await workers.joined()
    adopters = [await workers.joined() for _ in range(3)]
    await leaver.add_pending([pending(f"k{i}") for i in range(6)])
    await leaver.claim(6)
    assert await adopters[0].unfinished_elsewhere() == 6
    await leaver.leave()  # at once: a worker that says it is gone is not waited for
    batches = await asyncio.gather(*(a.adopt() for a in adopters))
    keys = [r.key for batch in batches for r in batch]
    assert sorted(keys) == [f"k{i}" for i in range(6)]  # each taken exactly once
    assert await leaver.in_flight() == 6


async def test_released_items_are_anyones_to_reopen_or_retry(workers: Workers) -> None:
    a, b = await workers.joined(), await workers.joined()
    await a.add_pending([pending("x"), pending("y"), pending("z")])
    x, y, z = await a.claim(3, ["x", "y", "z"])
    x = await a.apply(await a.apply(await a.apply(x, submitted("j", "c")), completed()),
                      fetched("/o/x.json"))
    y = await a.apply(await a.apply(await a.apply(y, submitted("j2", "c2")), completed()),
                      failed("fetching failed"))
    z = await a.apply(z, failed("refused: 400"))
    again = await b.apply(x, reopened())
    assert (again.state, again.owner, again.output_path) == (S.COMPLETED, b.worker_id, None)
    assert (await b.apply(y, retried())).state is S.COMPLETED  # fetch again, never resubmit
    z2 = await b.apply(z, retried())
    assert (z2.state, z2.owner, z2.attempts) == (S.PENDING, None, 1)
    (z3,) = await b.claim(1, ["z"])
    assert z3.attempt_name == "z-name-2"


async def test_a_worker_joining_a_live_batch_is_part_of_its_run(workers: Workers) -> None:
    first = await workers.new()
    started = await first.join(max_limit=5, lease=30.0)
    late = await workers.new()
    assert await late.join(max_limit=5, lease=30.0) == started
    await first.leave()
    await late.leave()
    again = await workers.new()
    assert await again.join(max_limit=5, lease=30.0) > started  # a new run


async def test_wait_changed_wakes_on_a_freed_slot(workers: Workers) -> None:
    a, b = await workers.joined(), await workers.joined()
    await a.add_pending([pending("x")])
    (row,) = await a.claim(1)
    row = await a.apply(row, submitted("j", "c"))
    await b.wait_changed(0.01)  # drop what came before
    waiter = asyncio.create_task(b.wait_changed(30.0))
    await asyncio.sleep(0.05)
    assert not waiter.done()
    # SQLite cannot hear another process's writes (one process at a time writes a batch,
    # under its lock file): there, the worker's own write wakes it.
    writer = b if workers.kind == "sqlite" else a
    await writer.apply(row, completed()) if writer is a else await b.on_accepted()
    await asyncio.wait_for(waiter, 10.0)


async def test_meta_and_pages(workers: Workers) -> None:
    a = await workers.joined()
    assert await a.get_meta("token") is None
    await a.set_meta("token", "t1")
    await a.set_meta("token", "t2")
    assert await a.get_meta("token") == "t2"
    with pytest.raises(ValidationError, match="schema_version"):
        await a.set_meta("schema_version", "9")
    await a.add_pending([pending(f"k{i:04d}") for i in range(1203)])
    keys = [r.key async for r in a.items()]
    assert keys == sorted(keys) and len(keys) == 1203
    assert [r.key async for r in a.items(S.FETCHED)] == []
    assert (await a.counts()) == {**{s.value: 0 for s in S}, "pending": 1203}


async def test_a_default_is_stored_once_whoever_asks_first(workers: Workers) -> None:
    stores = [await workers.new() for _ in range(3)]
    got = await asyncio.gather(*(s.meta_default("token", f"t{i}")
                                 for i, s in enumerate(stores)))
    assert len(set(got)) == 1 and got[0] in ("t0", "t1", "t2")
    assert await stores[0].get_meta("token") == got[0]
    with pytest.raises(ValidationError, match="schema_version"):
        await stores[0].meta_default("schema_version", "9")


async def test_a_closed_store_refuses_calls(workers: Workers) -> None:
    a = await workers.joined()
    await a.aclose()
    await a.aclose()
    with pytest.raises(ClientClosedError):
        await a.get("x")
    with pytest.raises(ClientClosedError):
        await a.wait_changed(0.01)
