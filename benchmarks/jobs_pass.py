"""Figures of the background jobs: passes over many accounts with real Celery workers.

    .venv/bin/python benchmarks/jobs_pass.py                       # 200 accounts, 2 pool procs
    .venv/bin/python benchmarks/jobs_pass.py --accounts 500 --concurrency 4 --issues 10
    .venv/bin/python benchmarks/jobs_pass.py --budget --accounts 60 --limit 20 --period 2

Starts a throwaway PostgreSQL and Redis (``tests/servers.py``), the emulator in its own process,
links ``--accounts`` emulator users with ``--issues`` issues each, and a prefork ``celery
worker`` (``tests/workers.py``). Then:

1. **Cold pass**: ``sync_all_accounts`` queues every account; wall time until every account has
   synced (profile + issues), and the requests the emulator served.
2. **Unchanged passes**: the accounts are made due again twice and the pass repeated; requests
   per account (1.0 expected: one page with nothing new after the cold pass, then one 304).
3. **Queries per page**: a sync of one page of 10, then of 100 new issues, in this process;
   all its database queries (the same for both expected: token re-read, one bulk upsert, one
   cursor update, plus the sync's fixed account reads and final update).

With ``--budget``, instead: **rate-budget use**. The emulator limits every client on
127.0.0.1 together to ``--limit`` requests per ``--period`` seconds (a sliding window, like
SeeClickFix's per-address limit), the workers share a budget of the same size in Redis, and one
cold pass runs over the accounts. Figures: the share of the limit the pass used (see
``common.utilisation``; goal >= 0.95) and the 429s (goal 0); then the naive approach
(``naive.py``: as many processes, no shared budget, retry after 429) over the same accounts.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from common import (
    Stack,
    api_log,
    last_seq,
    link_accounts,
    load_account,
    most_in_window,
    running_stack,
    utilisation,
)
from naive import naive_pass


def run_pass(expected: int, timeout: float) -> float:
    """Queue a pass; seconds until ``expected`` accounts have synced since."""
    from django.utils import timezone

    from django_seeclickfix import tasks

    started_at = timezone.now()
    started = time.perf_counter()
    tasks.sync_all_accounts.delay()
    wait_for_syncs(started_at, expected, timeout)
    return time.perf_counter() - started


def timed_pass(emulator: Any, expected: int, timeout: float) -> tuple[float, int]:
    """Queue a pass; seconds until ``expected`` accounts have synced since, and requests."""
    since = last_seq(emulator)
    elapsed = run_pass(expected, timeout)
    return elapsed, len(api_log(emulator, since))


def wait_for_syncs(started_at: Any, expected: int, timeout: float) -> None:
    """Until ``expected`` accounts have synced since ``started_at`` (or ``timeout`` s passed)."""
    from django_seeclickfix.models import SeeClickFixAccount

    deadline = time.perf_counter() + timeout
    while True:
        done = SeeClickFixAccount.objects.filter(last_synced_at__gte=started_at).count()
        if done >= expected:
            return
        if time.perf_counter() > deadline:
            raise SystemExit(f"Only {done}/{expected} accounts synced in {timeout:g} s.")
        time.sleep(0.05)


def make_due() -> None:
    from django.utils import timezone

    from django_seeclickfix.models import SeeClickFixAccount

    SeeClickFixAccount.objects.update(last_synced_at=timezone.now() - timedelta(days=1))


def queries_for_one_page(emulator: Any, size: int) -> int:
    """Database queries of a sync that reads one page of ``size`` new issues (profile fresh)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from django_seeclickfix import sync
    from django_seeclickfix.models import SeeClickFixAccount

    (account_id,) = link_accounts(emulator, 1, size, prefix=f"queries{size}")
    SeeClickFixAccount.objects.filter(pk=account_id).update(profile_synced_at=timezone.now())
    account = load_account(account_id)
    with CaptureQueriesContext(connection) as captured:
        result = sync.sync_now(account)
    assert (result.pages, result.issues) == (1, size)
    return len(captured.captured_queries)


# rate-budget use --------------------------------------------------------------------------------


@dataclass
class BudgetUse:
    """One pass at a limit of ``limit`` per ``period`` s: who sent what, and when."""

    limit: int
    period: float
    accounts: int
    processes: int
    admitted: list[float]  # arrival times of the requests the limit let through
    responses_429: int
    elapsed: float

    @property
    def utilisation(self) -> float:
        return utilisation(self.admitted, self.limit, self.period)

    @property
    def most_in_a_window(self) -> int:
        return most_in_window(self.admitted, self.period)

    @property
    def accounts_per_period(self) -> float:
        return self.accounts / self.elapsed * self.period


def _use(emulator: Any, since: int, limit: int, period: float, **counts: Any) -> BudgetUse:
    log = [entry for entry in api_log(emulator, since) if entry["path"].startswith("/api/")]
    return BudgetUse(
        limit=limit,
        period=period,
        admitted=[entry["timestamp"] for entry in log if entry["status"] != 429],
        responses_429=sum(1 for entry in log if entry["status"] == 429),
        **counts,
    )


def budget_pass(
    stack: Stack, *, accounts: int, issues: int, workers: int, limit: int, period: float
) -> tuple[BudgetUse, BudgetUse]:
    """A cold pass over ``accounts`` new accounts by ``workers`` pool processes sharing a Redis
    budget of ``limit`` per ``period`` against an emulator limiting 127.0.0.1 to the same; then
    the naive approach over the same accounts with as many processes. Returns both."""
    emulator = stack.emulator
    timeout = 10 * period * (2 * accounts / limit + 2)
    stack.configure(
        RATE_LIMIT_REQUESTS=limit,
        RATE_LIMIT_PERIOD=period,
        RATE_LIMIT_MAX_WAIT=3 * period,  # a task waits for its turn instead of retrying
        SYNC_BATCH_SIZE=accounts,
        TASK_TIME_LIMIT=int(timeout) + 60,
        TASK_SOFT_TIME_LIMIT=int(timeout) + 30,
    )
    stack.flush_redis()
    ids = link_accounts(emulator, accounts, issues, prefix="budget")
    try:
        with stack.worker(workers):
            emulator.set_rate_limit(limit, period)
            since = last_seq(emulator)
            elapsed = run_pass(accounts, timeout)
            project = _use(
                emulator,
                since,
                limit,
                period,
                accounts=accounts,
                processes=workers,
                elapsed=elapsed,
            )
        time.sleep(period)  # the naive run starts with an empty window too
        tokens = [load_account(pk).access_token for pk in ids]
        since = last_seq(emulator)
        result, elapsed = naive_pass(emulator.url, tokens, workers)
        naive = _use(
            emulator,
            since,
            limit,
            period,
            accounts=result.accounts,
            processes=workers,
            elapsed=elapsed,
        )
    finally:
        emulator.set_rate_limit(None)
        stack.configure()
    return project, naive


def describe_use(name: str, use: BudgetUse) -> str:
    return (
        f"{name}: {len(use.admitted)} requests in {use.elapsed:.1f} s, {use.utilisation:.1%} of "
        f"the limit, {use.responses_429} x 429, at most {use.most_in_a_window} in one window, "
        f"{use.accounts_per_period:.1f} accounts per period"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--issues", type=int, default=5, help="issues per account")
    parser.add_argument("--concurrency", type=int, default=2, help="worker pool processes")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--budget", action="store_true", help="the rate-budget figure instead")
    parser.add_argument("--limit", type=int, default=20, help="requests per period (--budget)")
    parser.add_argument("--period", type=float, default=2.0, help="seconds (--budget)")
    args = parser.parse_args()

    with running_stack() as stack:
        if args.budget:
            project, naive = budget_pass(
                stack,
                accounts=args.accounts,
                issues=args.issues,
                workers=args.concurrency,
                limit=args.limit,
                period=args.period,
            )
            print(f"{args.accounts} accounts, limit {args.limit} per {args.period:g} s")
            print(describe_use("library", project))
            print(describe_use("naive  ", naive))
            return
        ids = link_accounts(stack.emulator, args.accounts, args.issues)
        with stack.worker(args.concurrency):
            print(
                f"{len(ids)} accounts x {args.issues} issues, {args.concurrency} prefork pool "
                "processes, emulator limit off"
            )
            cold, cold_requests = timed_pass(stack.emulator, len(ids), args.timeout)
            print(
                f"cold pass:       {cold:7.2f} s  {cold_requests} requests "
                f"({cold_requests / len(ids):.2f}/account, {len(ids) / cold:.1f} accounts/s)"
            )
            for _ in range(2):
                make_due()
                took, requests = timed_pass(stack.emulator, len(ids), args.timeout)
                print(
                    f"unchanged pass:  {took:7.2f} s  {requests} requests "
                    f"({requests / len(ids):.2f}/account)"
                )
        for size in (10, 100):
            queries = queries_for_one_page(stack.emulator, size)
            print(f"one-page sync of {size:3} issues: {queries} database queries")


if __name__ == "__main__":
    sys.exit(main())
