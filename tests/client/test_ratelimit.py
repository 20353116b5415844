"""The shared budget: never more than N in any window of P, and close to N per P when busy."""

from __future__ import annotations

import random
import threading
import time

import pytest

from django_seeclickfix.client import DjangoCacheStore, MemoryStore, RateBudget
from django_seeclickfix.exceptions import RateLimited, TransientError


class FakeClock:
    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def fake_budget(requests=3, period=10.0, max_wait=30.0, store=None, **kwargs):
    clock = FakeClock()
    store = store if store is not None else MemoryStore(clock=clock)
    budget = RateBudget(
        requests,
        period,
        store=store,
        max_wait=max_wait,
        hold_timeout=5,
        clock=clock,
        sleep=clock.sleep,
        **kwargs,
    )
    return budget, clock


def use(budget, scope="global"):
    budget.reserve(scope).release()


def test_n_requests_go_at_once_then_the_next_waits_a_period_after_the_first_finished():
    budget, clock = fake_budget()
    start = clock.now
    for _ in range(3):
        use(budget)
    assert clock.now == start
    clock.now += 2  # the fourth comes 2 s later
    use(budget)
    assert clock.now == start + 10  # ten seconds after ticket 1 finished, not after it began
    assert budget.stats.acquired == 4
    assert budget.stats.longest_wait == pytest.approx(8)


def test_the_wait_counts_from_when_the_predecessor_finished():
    budget, clock = fake_budget(requests=1)
    start = clock.now
    reservation = budget.reserve()
    clock.now += 4  # a slow request: the server may have seen it as late as now
    reservation.release()
    use(budget)
    assert clock.now == start + 14


def test_a_wait_beyond_max_wait_is_refused_with_the_wait():
    budget, clock = fake_budget(max_wait=5)
    for _ in range(3):
        use(budget)
    with pytest.raises(RateLimited) as caught:
        budget.reserve()
    assert caught.value.retry_after == pytest.approx(10)
    assert clock.sleeps == []  # refused at once, no worker held for nothing
    assert budget.stats.rejected == 1


def test_a_refused_ticket_passes_its_constraint_on():
    budget, clock = fake_budget(max_wait=5)
    start = clock.now
    for _ in range(3):
        use(budget)  # tickets 1-3 at t=0
    with pytest.raises(RateLimited):
        budget.reserve()  # ticket 4 gives up
    clock.now = start + 10
    for _ in range(3):
        use(budget)  # tickets 5, 6 and 7 (7 inherits from 4, i.e. from 1)
    assert clock.now == start + 10
    clock.now += 1
    with pytest.raises(RateLimited) as caught:
        budget.reserve()  # ticket 8 waits for 5 (finished at t=10)
    assert caught.value.retry_after == pytest.approx(9)


def test_a_predecessor_still_in_flight_means_a_full_period_at_least():
    budget, _ = fake_budget(requests=1, max_wait=5)
    held = budget.reserve()
    with pytest.raises(RateLimited) as caught:
        budget.reserve()
    assert caught.value.retry_after >= 10
    held.release()


def test_a_crashed_owner_is_treated_as_finished_once_it_cannot_be_sending():
    budget, clock = fake_budget(requests=1, max_wait=30)
    start = clock.now
    budget.reserve()  # never released: the process died
    with pytest.raises(RateLimited):
        use(budget)  # waits while the owner might still be sending, then gives up
    clock.now = start + 40
    use(budget)
    # latest possible finish = claim + max_wait + hold_timeout (30 + 5), then a period
    assert clock.now == pytest.approx(start + 35 + 10)


def test_expired_history_lets_a_fresh_burst_through():
    budget, clock = fake_budget()
    for _ in range(3):
        use(budget)
    clock.now += 24 * 3600  # the records expired; the counter did not
    start = clock.now
    for _ in range(3):
        use(budget)
    assert clock.now == start


def test_a_pause_stops_everyone_until_it_ends():
    budget, _ = fake_budget(max_wait=5)
    budget.pause(20)
    with pytest.raises(RateLimited) as caught:
        budget.reserve()
    assert caught.value.retry_after == pytest.approx(20)
    counter = budget.store.get_many(["scf:budget:global:counter"])
    assert counter == {}  # no ticket was taken
    patient, clock2 = fake_budget(max_wait=60)
    start = clock2.now
    patient.pause(20)
    use(patient)
    assert clock2.now == pytest.approx(start + 20)
    assert patient.paused_for() == 0


def test_a_shorter_pause_never_shortens_a_longer_one():
    budget, _ = fake_budget()
    budget.pause(50)
    budget.pause(5)
    assert budget.paused_for() == pytest.approx(50)
    assert budget.stats.pauses == 1


def test_scopes_are_separate_budgets():
    budget, _ = fake_budget(requests=1, max_wait=1)
    use(budget, "token-a")
    use(budget, "token-b")
    with pytest.raises(RateLimited):
        budget.reserve("token-a")


def test_claim_moves_past_taken_tickets():
    class Behind(MemoryStore):
        def __init__(self, clock):
            super().__init__(clock)
            self.values = iter([1, 1, 2, 3])

        def incr(self, key):
            return next(self.values)

    clock = FakeClock()
    budget = RateBudget(5, 10, store=Behind(clock), clock=clock, sleep=clock.sleep)
    assert [budget.reserve().ticket for _ in range(3)] == [1, 2, 3]


def test_a_late_claimer_finds_its_ticket_voided_and_takes_another():
    clock = FakeClock()
    store = MemoryStore(clock=clock)
    budget = RateBudget(1, 10, store=store, clock=clock, sleep=clock.sleep, max_wait=1)
    store.set("scf:budget:global:counter", 0, None)
    # Ticket 1 was handed out by incr but its owner stalled before recording the claim; the
    # owner of ticket 2 finds it missing and voids it.
    store.incr("scf:budget:global:counter")
    second = budget.reserve()
    assert second.ticket == 2
    assert store.get_many(["scf:budget:global:t1"])["scf:budget:global:t1"] == ("v",)
    assert store.add("scf:budget:global:t1", ("c", 0), 60) is False


def test_store_failure_is_transient_and_release_failure_is_only_logged(caplog):
    class Flaky(MemoryStore):
        broken = False

        def set(self, key, value, timeout):
            if self.broken:
                raise OSError("cache down")
            super().set(key, value, timeout)

    store = Flaky()
    budget = RateBudget(2, 1, store=store)
    reservation = budget.reserve()
    store.broken = True
    reservation.release()
    assert "Could not release" in caplog.text
    with pytest.raises(TransientError):
        budget.pause(3)


def test_interrupted_wait_gives_the_ticket_up():
    budget, _ = fake_budget(requests=1)
    use(budget)

    def interrupted(seconds):
        raise KeyboardInterrupt

    budget.sleep = interrupted
    with pytest.raises(KeyboardInterrupt):
        budget.reserve()
    assert budget.store.get_many(["scf:budget:global:t2"])["scf:budget:global:t2"][0] == "x"


def test_django_cache_store_on_locmem(settings):
    budget = RateBudget(
        2, 0.2, store=DjangoCacheStore("default"), max_wait=1, key_prefix=f"test:{random.random()}"
    )
    for _ in range(3):
        use(budget)
    assert budget.stats.longest_wait > 0.1
    assert "default" in repr(budget)


def test_invalid_budgets_are_refused():
    with pytest.raises(ValueError, match="requests >= 1"):
        RateBudget(0, 10, store=MemoryStore())


# real threads and a real clock --------------------------------------------------------------


def worst_case_violation(intervals, n, period):
    """True if some N+1 requests could have arrived within one window of ``period``.

    Each request may reach the server at any moment between taking its unit (``acquired``) and
    finishing (``released``). N+1 of them fit in a window iff the latest acquire of the group
    minus the earliest release is below the period.
    """
    intervals = sorted(intervals)
    for j, (acquired_j, released_j) in enumerate(intervals):
        earlier = sorted((rel for _, rel in intervals[:j]), reverse=True)[:n]
        if len(earlier) < n:
            continue
        if acquired_j - min([*earlier, released_j]) < period:
            return True
    return False


def test_worst_case_check_catches_a_violation():
    assert worst_case_violation([(0, 0.01), (0.5, 0.51), (0.9, 0.95)], 2, 1.0)
    assert not worst_case_violation([(0, 0.01), (0.5, 0.51), (1.02, 1.03)], 2, 1.0)


def hammer(budget, threads, per_thread, hold=0.001):
    intervals = []
    lock = threading.Lock()

    def work():
        for _ in range(per_thread):
            reservation = budget.reserve()
            acquired = time.time()
            time.sleep(hold * random.random())
            released = time.time()
            reservation.release()
            with lock:
                intervals.append((acquired, released))

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return intervals


def test_threads_never_exceed_n_in_any_window_and_use_most_of_the_budget():
    n, period = 8, 0.4
    budget = RateBudget(n, period, store=MemoryStore(), max_wait=5)
    intervals = hammer(budget, threads=6, per_thread=8)  # 48 requests = 6 windows' worth
    assert len(intervals) == 48
    assert not worst_case_violation(intervals, n, period)
    starts = sorted(a for a, _ in intervals)
    # Requests 9..48 needed 5 full periods; a perfect limiter takes exactly 5 * period.
    efficiency = 5 * period / (starts[-1] - starts[0])
    assert efficiency >= 0.95, efficiency


# leases: a crashed process gives its share back within one lease ------------------------------


def test_a_crashed_owners_ticket_comes_back_when_its_lease_runs_out():
    budget, clock = fake_budget(requests=1, max_wait=30, lease=5, heartbeat=False)
    start = clock.now
    budget.reserve()  # never released, never renewed: the process was killed
    use(budget)
    # Finished at the lease's end (5 s), not after max_wait + hold_timeout (35 s); then a period.
    assert clock.now == pytest.approx(start + 5 + 10)


def test_a_live_owner_renewing_its_lease_keeps_its_ticket():
    budget, clock = fake_budget(requests=1, max_wait=6, lease=5, heartbeat=False)
    other, _ = fake_budget(requests=1, max_wait=6, lease=5, heartbeat=False, store=budget.store)
    other.clock, other.sleep = clock, clock.sleep  # two processes, one clock
    held = budget.reserve()
    clock.now += 4
    assert budget.renew() == 1
    clock.now += 4  # 8 s after the claim: past the first lease, not past the renewed one
    with pytest.raises(RateLimited):
        other.reserve()  # still held: the owner is alive
    held.release()
    assert budget.renew() == 0  # a released ticket is never renewed again


def test_the_heartbeat_renews_while_a_ticket_is_held_and_stops_after():
    store = MemoryStore()
    budget = RateBudget(2, 60, store=store, lease=0.3, max_wait=1)
    held = budget.reserve()
    key = budget._ticket_key("global", held.ticket)
    first = store.get_many([key])[key]
    deadline = time.monotonic() + 5
    while store.get_many([key])[key] == first and time.monotonic() < deadline:
        time.sleep(0.05)
    renewed = store.get_many([key])[key]
    assert renewed[0] == "c"
    assert renewed[1] > first[1]  # the lease moved forward while held
    held.release()
    assert store.get_many([key])[key][0] == "d"
    while budget._heartbeat is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert budget._heartbeat is None  # nothing held: the thread is gone
    assert store.get_many([key])[key][0] == "d"  # and never overwrote the release
