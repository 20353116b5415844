"""Figures of one account's sync, in this process against the emulator (PostgreSQL, Redis):

1. **Requests per sync**, counted in the emulator's log: a cold first sync of ``n`` issues
   (goal ``ceil(n/100) + 1``: the pages and the profile), the same account unchanged (goal 1,
   twice: the first time after a cold sync and the steady state), and after ``k`` of its
   issues changed (goal ``ceil(k/100)``). The naive approach (``naive.py``) beside each.
4. **Peak memory** (``tracemalloc``, Python heap) of ``sync_account`` for an account with
   20,000 issues relative to one with 200: pages are fetched, stored and dropped one at a time.

    .venv/bin/python benchmarks/sync_figures.py [--issues 1000 --changed 250]
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from client_figures import MemoryFigure
from common import (
    api_log,
    generate_issues,
    last_seq,
    link_accounts,
    load_account,
    running_stack,
    traced_peak,
)
from naive import naive_sync


def api_requests(emulator: Any, action: Callable[[], object]) -> int:
    """How many API requests the emulator saw while ``action`` ran."""
    since = last_seq(emulator)
    action()
    return len(api_log(emulator, since))


def sync_now(account_id: int) -> Any:
    from django_seeclickfix import sync

    return sync.sync_now(load_account(account_id))


@dataclass
class SyncRequests:
    issues: int
    changed: int
    cold: int
    unchanged_first: int
    unchanged: int
    changed_sync: int
    naive_cold: int
    naive_unchanged: int
    naive_changed: int

    @property
    def goal_cold(self) -> int:
        return math.ceil(self.issues / 100) + 1

    @property
    def goal_changed(self) -> int:
        return max(1, math.ceil(self.changed / 100))


def requests_per_sync(emulator: Any, *, issues: int = 1000, changed: int = 250) -> SyncRequests:
    """One account through a cold sync, two unchanged syncs and a sync after ``changed`` of its
    issues changed; a naive sync of the same account at each step."""
    (account_id,) = link_accounts(emulator, 1, issues, prefix="sync")
    account = load_account(account_id)
    token = account.access_token
    url = emulator.url

    def naive() -> int:
        return api_requests(emulator, lambda: naive_sync(url, token))

    cold = api_requests(emulator, lambda: sync_now(account_id))
    naive_cold = naive()
    unchanged_first = api_requests(emulator, lambda: sync_now(account_id))
    unchanged = api_requests(emulator, lambda: sync_now(account_id))
    naive_unchanged = naive()
    change_issues(emulator, stored_issue_ids(account_id)[:changed])
    changed_sync = api_requests(emulator, lambda: sync_now(account_id))
    naive_changed = naive()
    return SyncRequests(
        issues=issues,
        changed=changed,
        cold=cold,
        unchanged_first=unchanged_first,
        unchanged=unchanged,
        changed_sync=changed_sync,
        naive_cold=naive_cold,
        naive_unchanged=naive_unchanged,
        naive_changed=naive_changed,
    )


def change_issues(emulator: Any, issue_ids: list[int]) -> None:
    """The issues change on SeeClickFix one second apart, the last two seconds ago.

    Changes come spread out between two syncs. One made in the very second a walk starts
    cannot be told from one made during it, and the walk reads those by update time (a page
    or so more), so the latest change here is two seconds old, like all but the latest of a
    real interval's changes."""
    start = datetime.now(UTC) - timedelta(seconds=len(issue_ids) + 2)
    for n, issue_id in enumerate(issue_ids):
        emulator.update_issue(
            issue_id, description=f"changed {n}", updated_at=start + timedelta(seconds=n)
        )


def stored_issue_ids(account_id: int) -> list[int]:
    """The SeeClickFix ids of the account's synced issues, oldest change first."""
    from django_seeclickfix.models import SeeClickFixIssue

    rows = SeeClickFixIssue.objects.filter(account_id=account_id).order_by("scf_updated_at")
    return list(rows.values_list("scf_id", flat=True))


# 4. memory --------------------------------------------------------------------------------------


def sync_peak_bytes(emulator: Any, issues: int) -> tuple[int, int]:
    """(issues stored, peak heap bytes above the start) of a cold sync of ``issues`` issues."""
    (account_id,) = link_accounts(emulator, 1, 0, prefix=f"memory{issues}")
    account = load_account(account_id)
    generate_issues(emulator, account.user_scf_id, issues)
    from django_seeclickfix import sync

    # Imports, connections and caches warm, outside the measurement.
    (warm_id,) = link_accounts(emulator, 1, 1, prefix=f"warm{issues}")
    sync_now(warm_id)

    result, peak = traced_peak(lambda: sync.sync_now(account))
    return result.issues, peak


def sync_memory(emulator: Any, *, small: int = 200, large: int = 20_000) -> MemoryFigure:
    small_seen, small_peak = sync_peak_bytes(emulator, small)
    large_seen, large_peak = sync_peak_bytes(emulator, large)
    if small_seen < small or large_seen < large:
        raise RuntimeError(f"stored {small_seen} and {large_seen} issues, not {small}/{large}")
    return MemoryFigure(small, small_peak, large, large_peak)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--issues", type=int, default=1000, help="issues of the cold sync")
    parser.add_argument("--changed", type=int, default=250, help="issues changed afterwards")
    args = parser.parse_args()
    with running_stack() as stack:
        figures = requests_per_sync(stack.emulator, issues=args.issues, changed=args.changed)
        print(figures, figures.goal_cold, figures.goal_changed)
        started = time.perf_counter()
        memory = sync_memory(stack.emulator)
        print(memory, f"{memory.ratio:.2f}", f"{time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
