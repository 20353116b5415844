"""Figures of the planner (``django_seeclickfix.scheduling``) on a real PostgreSQL.

    .venv/bin/python benchmarks/planner_figures.py                  # 1,000 / 10,000 / 50,000
    .venv/bin/python benchmarks/planner_figures.py --sizes 1000 5000

For each number of linked accounts (all due, their due times spread over a day, a third of them
with a few changes last time so their syncs cost 2 requests): the time ``plan_pass`` takes (the
claim query and the update marking what it planned; median of several passes, each rolled
back), its database queries, and the share of the pass's capacity it planned. Time is reported
as a ratio to the smallest size, since this machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import timedelta
from typing import Any

from common import Stack, running_stack

REAL_BUDGET = {"RATE_LIMIT_REQUESTS": 20, "RATE_LIMIT_PERIOD": 60}


def grow_accounts(total: int, have: int) -> None:
    """Add site users and linked accounts until there are ``total``."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from django_seeclickfix.models import SeeClickFixAccount

    user_model = get_user_model()
    now = timezone.now()
    for start in range(have, total, 5000):
        stop = min(total, start + 5000)
        users = user_model.objects.bulk_create(
            [user_model(username=f"planner-{n}") for n in range(start, stop)]
        )
        SeeClickFixAccount.objects.bulk_create(
            [
                SeeClickFixAccount(
                    user=user,
                    environment="emulator",
                    user_scf_id=100_000 + n,
                    access_token=f"planner-token-{n}",
                    expires_at=now + timedelta(days=30),
                    last_synced_at=now - timedelta(days=1),
                    profile_synced_at=now,
                    last_sync_changes=150 if n % 3 == 0 else 0,
                    next_sync_at=now - timedelta(seconds=(n * 7919) % 86400),
                )
                for n, user in zip(range(start, stop), users, strict=True)
            ]
        )


def one_pass() -> tuple[float, int, float]:
    """Seconds, queries and planned share of one pass, rolled back."""
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from django_seeclickfix import scheduling

    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        plan = scheduling.plan_pass()
        seconds = time.perf_counter() - started
        transaction.set_rollback(True)
    return seconds, len(queries), plan.requests / plan.capacity


def claim_figures(stack: Stack, sizes: list[int], repeats: int = 7) -> dict[str, Any]:
    from django.db import connection

    stack.configure(**REAL_BUDGET)
    rows: dict[int, dict[str, float]] = {}
    have = 0
    for size in sorted(sizes):
        grow_accounts(size, have)
        have = size
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        one_pass()  # warm the caches
        runs = [one_pass() for _ in range(repeats)]
        rows[size] = {
            "ms": round(statistics.median(r[0] for r in runs) * 1000, 2),
            "queries": max(r[1] for r in runs),
            "planned_share": round(min(r[2] for r in runs), 3),
        }
    smallest, largest = min(rows), max(rows)
    return {
        "plan_pass": rows,
        "claim_cost_ratio": round(rows[largest]["ms"] / rows[smallest]["ms"], 2),
        "queries_per_pass": sorted({int(r["queries"]) for r in rows.values()}),
        "planned_share": min(r["planned_share"] for r in rows.values()),
    }


def describe(figures: dict[str, Any]) -> list[str]:
    return [
        f"  {size:>6} accounts: plan_pass {row['ms']} ms, {row['queries']} queries, "
        f"{row['planned_share']:.3f} of the capacity planned"
        for size, row in figures["plan_pass"].items()
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 50000])
    args = parser.parse_args(argv)
    with running_stack() as stack:
        figures = claim_figures(stack, args.sizes)
    print("\n".join(describe(figures)))
    print(json.dumps({k: v for k, v in figures.items() if k != "plan_pass"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
