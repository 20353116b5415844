"""The update-time walk against its minimum (issue 15, defect 4), against the emulator:

1. **Steady churn** (``churn_walk``): a cold walk (``my_issue_pages()``, pages of 100) over an
   account with ``issues`` issues (distinct update times, a minute apart) while its issues
   keep changing: after every response of the walk, ``per_request`` of them (seeded random
   choice, read or not yet read) change on SeeClickFix. Figure: ``requests_churn_walk_vs_minimum``
   = the walk's requests / ``ceil(issues / 100)`` (a change moves an issue, it adds none, so the
   listing holds ``issues`` throughout). Every issue must come out of the walk at least once.
   The churn is bounded (``bound`` times the minimum's worth of changes), so the run ends.
2. **A burst before a sync** (``burst_sync``): an account synced before, then ``changes`` of
   its issues change within one second, the second in which ``sync_now`` starts (the
   hostile case: SeeClickFix's clock has not left that second). Figures:
   ``requests_burst_150_changes`` (goal ``ceil(changes / 100)``), and for the next sync, a
   second later with nothing changed, its requests (goal 1) and the issue rows it rewrote
   (``rows_rewritten_after_burst``, goal 0).

Requests are counted by the client (churn) and by the emulator's log (burst); rows by their
``last_synced_at``. Both run in this process against the emulator in its own process
(``common.running_stack``: PostgreSQL and Redis too, for the sync).

    .venv/bin/python benchmarks/walk_figures.py [--issues 2500 --per-request 1 --changes 150]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from common import add_issues, api_log, last_seq, link_accounts, load_account, ref, running_stack

PER_PAGE = 100


@dataclass(frozen=True)
class ChurnWalk:
    issues: int
    per_request: int
    requests: int
    minimum: int
    changes_during_walk: int
    issues_seen: int
    churn_stopped: bool

    @property
    def ratio(self) -> float:
        return self.requests / self.minimum


def churn_walk(
    stack: Any, *, issues: int = 2500, per_request: int = 1, seed: int = 15, bound: int = 20
) -> ChurnWalk:
    """One cold walk under steady churn (see the module docstring). The churn stops after
    ``bound`` times the minimum requests' worth of changes (``churn_stopped`` says so), so a
    walk that cannot get ahead of it still ends."""
    from django_seeclickfix.client import BearerAuth, MemoryEtagStore, SeeClickFixClient
    from django_seeclickfix.client.session import ApiSession

    emulator = stack.emulator
    (user,) = emulator.generate_users(1, prefix=f"churn{time.monotonic_ns()}")
    ids = add_issues(emulator, user, issues)
    token = emulator.issue_token(ref(user)).access_token
    rng = random.Random(seed)
    changes = 0
    most = bound * math.ceil(issues / PER_PAGE) * per_request

    def churn(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        # After the answer, before the next request: the changes land between two pages.
        nonlocal changes
        if changes >= most:
            return  # bounded: a walk that cannot finish under churn ends once it stops
        for issue_id in rng.sample(ids, per_request):
            emulator.update_issue(issue_id, description=f"churn {changes}")
            changes += 1

    session = requests.Session()
    session.hooks["response"].append(churn)
    client = SeeClickFixClient(
        stack.url,
        BearerAuth(token),
        session=ApiSession(requests_session=session),
        etag_store=MemoryEtagStore(),
    )
    seen: set[int] = set()
    with client:
        for page in client.my_issue_pages(None, per_page=PER_PAGE):
            seen.update(issue.id for issue in page.items)
        made = client.requests_made
    missing = set(ids) - seen
    if missing:
        raise AssertionError(f"the walk under churn skipped {len(missing)} issue(s)")
    return ChurnWalk(
        issues=issues,
        per_request=per_request,
        requests=made,
        minimum=math.ceil(issues / PER_PAGE),
        changes_during_walk=changes,
        issues_seen=len(seen),
        churn_stopped=changes >= most,
    )


@dataclass(frozen=True)
class BurstSync:
    changes: int
    requests: int  # the sync right after the burst
    next_requests: int  # the next sync, nothing changed
    rows_rewritten: int  # by that next sync

    @property
    def goal(self) -> int:
        return math.ceil(self.changes / PER_PAGE)


def _sync(emulator: Any, account_id: int) -> int:
    from django_seeclickfix import sync

    since = last_seq(emulator)
    sync.sync_now(load_account(account_id))
    return len(api_log(emulator, since))


def burst_sync(stack: Any, *, changes: int = 150, issues: int = 200) -> BurstSync:
    """``changes`` changes in the second a sync starts, that sync, and the next one."""
    from django_seeclickfix.models import SeeClickFixIssue

    emulator = stack.emulator
    (account_id,) = link_accounts(emulator, 1, issues, prefix="burst")
    _sync(emulator, account_id)  # cold
    _sync(emulator, account_id)  # settled: the cursor past every issue
    stored = list(
        SeeClickFixIssue.objects.filter(account_id=account_id)
        .order_by("scf_updated_at")
        .values_list("scf_id", flat=True)
    )
    # The burst is stamped with the next whole second, and the sync starts just inside it:
    # issuing the changes takes longer than a second would allow on a busy machine.
    second = datetime.fromtimestamp(math.floor(time.time()) + 2, UTC)
    for n, issue_id in enumerate(stored[:changes]):
        emulator.update_issue(issue_id, description=f"burst {n}", updated_at=second)
    time.sleep(max(0.0, second.timestamp() - time.time()) + 0.01)
    during = _sync(emulator, account_id)
    time.sleep(max(0.0, second.timestamp() + 1 - time.time()) + 0.05)  # the second is over
    before_next = datetime.now(UTC) - timedelta(milliseconds=1)
    following = _sync(emulator, account_id)
    rewritten = SeeClickFixIssue.objects.filter(
        account_id=account_id, last_synced_at__gte=before_next
    ).count()
    return BurstSync(changes, during, following, rewritten)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--issues", type=int, default=2500, help="issues of the churned walk")
    parser.add_argument("--per-request", type=int, default=1, help="changes after each answer")
    parser.add_argument("--changes", type=int, default=150, help="changes of the burst")
    args = parser.parse_args()
    with running_stack() as stack:
        churn = churn_walk(stack, issues=args.issues, per_request=args.per_request)
        burst = burst_sync(stack, changes=args.changes)
    figures = {
        "churn": {**asdict(churn), "ratio": round(churn.ratio, 3)},
        "burst": {**asdict(burst), "goal": burst.goal},
    }
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
