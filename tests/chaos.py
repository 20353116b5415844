"""A bounded chaos run: accounts syncing and comments queued while SeeClickFix fails a fifth of
its requests (some after storing the post), pool processes are killed, the whole worker is
killed, and Redis (broker, cache, budget and locks) restarts without persistence. Then the
faults stop and beat's periodic tasks tick until everything settles, or a deadline passes.

Used by ``tests/jobs/test_chaos.py`` (which asserts the report) and
``benchmarks/chaos_figures.py`` (which prints it). Only 127.0.0.1 is involved; counts and time
are bounded by the arguments.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from kombu.exceptions import OperationalError

from django_seeclickfix import actions, tasks
from django_seeclickfix.client import SeeClickFixClient
from django_seeclickfix.conf import app_settings
from django_seeclickfix.models import (
    ActionStatus,
    SeeClickFixAccount,
    SeeClickFixAction,
    SeeClickFixIssue,
)
from tests.workers import CeleryWorker, WaitTimeout, wait_for

# What the worker runs with: short waits so that recovery plays out within the test.
CHAOS_SEECLICKFIX = {
    "SYNC_QUEUE_TIMEOUT": 5,
    "OUTBOX_REQUEUE_AFTER": 3,
    "TASK_MAX_RETRIES": 5,
    "TASK_RETRY_BACKOFF_MAX": 2,
}


@dataclass(frozen=True)
class ChaosReport:
    posts: int
    succeeded: int
    failed: int
    stuck: int  # not final once settled (or when the deadline passed)
    duplicates: int  # posts found more than once at SeeClickFix
    failed_but_posted: int  # "failed" on the site, yet at SeeClickFix
    posted_but_unseen: int  # "succeeded" on the site, yet not at SeeClickFix
    unsynced_accounts: int
    duplicate_rows: int  # mirror rows sharing one SeeClickFix id
    settle_seconds: float
    faults_fired: int

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def add_faults(emulator: Any, share: float) -> list[Any]:
    """About ``share`` of all API requests fail: a third of them as a 502 after SeeClickFix
    stored the post (the case idempotency is for), the rest as 502s and connection resets."""
    third = share / 3
    return [
        emulator.faults.add(
            r"^/api/v2/issues/\d+/comments$",
            "error",
            method="POST",
            status=502,
            after_processing=True,
            probability=third,
        ),
        emulator.faults.add(r"^/api/v2/", "error", status=502, probability=third),
        emulator.faults.add(r"^/api/v2/", "reset", probability=third),
    ]


def _fired(fault: Any) -> int:
    """How often a fault fired: the emulator's own ``Fault``, or a remote one's description."""
    return int(fault["fired"] if isinstance(fault, dict) else fault.fired)


def _tick() -> None:
    """What beat does every few minutes (here every second); a tick that meets a broker still
    reconnecting is skipped, as beat's would be."""
    with contextlib.suppress(OperationalError):
        tasks.sync_all_accounts.delay()
    with contextlib.suppress(OperationalError):
        tasks.sweep_outbox.delay()


def _times_at_scf(texts: Sequence[tuple[int, str]]) -> dict[str, int]:
    """How often each (issue, text) appears among SeeClickFix's comments."""
    found: dict[str, int] = {}
    with SeeClickFixClient(app_settings.base_url, None) as client:
        for issue_id in sorted({issue for issue, _text in texts}):
            for comment in client.list_comments(issue_id):
                if comment.text:
                    found[comment.text] = found.get(comment.text, 0) + 1
    return found


def run_chaos(
    *,
    emulator: Any,
    worker: CeleryWorker,
    restart_redis: Callable[[], None],
    accounts: Sequence[SeeClickFixAccount],
    issue_ids: Sequence[int],
    expected_issues: int,
    seed: int,
    posts: int = 30,
    fault_share: float = 0.2,
    faulty_seconds: float = 8.0,
    settle_timeout: float = 90.0,
) -> ChaosReport:
    rng = random.Random(seed)
    add_faults(emulator, fault_share)
    queued: list[tuple[SeeClickFixAction, int, str]] = []
    for n in range(posts):
        account = rng.choice(accounts)
        issue_id = rng.choice(issue_ids)
        text = f"chaos {seed}-{n}"
        queued.append((actions.queue_comment(account, issue_id, text), issue_id, text))
    tasks.sync_all_accounts.delay()

    # The chaos: pool processes killed twice, the whole worker once, Redis restarted once.
    for _ in range(2):
        time.sleep(rng.uniform(0.5, 1.5))
        children = worker.child_pids()
        if children:
            with contextlib.suppress(ProcessLookupError):
                worker.kill_child(rng.choice(children))
    time.sleep(rng.uniform(0.5, 1.5))
    worker.kill()
    restart_redis()
    worker.start()
    # The work goes on in a faulty world for a while (beat ticking), then the faults stop.
    deadline = time.monotonic() + faulty_seconds
    while time.monotonic() < deadline:
        _tick()
        time.sleep(1.0)
    fired = sum(_fired(fault) for fault in emulator.faults.list())
    emulator.faults.clear()

    pks = [action.pk for action, _issue, _text in queued]
    started = time.monotonic()

    def settled() -> bool:
        _tick()
        unfinished = SeeClickFixAction.objects.filter(pk__in=pks).exclude(
            status__in=list(SeeClickFixAction.FINAL)
        )
        return (
            not unfinished.exists()
            and not SeeClickFixAccount.objects.filter(last_synced_at__isnull=True).exists()
            and SeeClickFixIssue.objects.count() >= expected_issues
        )

    with contextlib.suppress(WaitTimeout):
        wait_for(settled, timeout=settle_timeout, interval=1.0, worker=worker, what="settling")
    settle_seconds = time.monotonic() - started

    rows = {a.pk: a for a in SeeClickFixAction.objects.filter(pk__in=pks)}
    at_scf = _times_at_scf([(issue, text) for _a, issue, text in queued])
    succeeded = [a for a in rows.values() if a.status == ActionStatus.SUCCEEDED]
    failed = [a for a in rows.values() if a.status == ActionStatus.FAILED]
    by_text = {action.pk: text for action, _issue, text in queued}
    issues = SeeClickFixIssue.objects.values_list("environment", "scf_id")
    return ChaosReport(
        posts=posts,
        succeeded=len(succeeded),
        failed=len(failed),
        stuck=sum(1 for a in rows.values() if not a.is_final),
        duplicates=sum(1 for count in at_scf.values() if count > 1),
        failed_but_posted=sum(1 for a in failed if at_scf.get(by_text[a.pk], 0)),
        posted_but_unseen=sum(1 for a in succeeded if not at_scf.get(by_text[a.pk], 0)),
        unsynced_accounts=SeeClickFixAccount.objects.filter(last_synced_at__isnull=True).count(),
        duplicate_rows=issues.count() - issues.distinct().count(),
        settle_seconds=round(settle_seconds, 1),
        faults_fired=fired,
    )
