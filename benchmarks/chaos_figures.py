"""The outbox under chaos (issue 18): what is left stuck or doubled, and how fast a lost
message is recovered.

    .venv/bin/python benchmarks/chaos_figures.py

1. ``chaos_stuck_after_settle`` and ``chaos_duplicates`` (goal 0 each): the chaos run of
   ``tests/chaos.py`` (a fifth of the emulator's requests faulted, a third of those after
   storing the post; pool processes killed twice, the worker once, Redis restarted) on 40
   accounts and 30 queued comments, then beat ticking until everything settles.
2. ``recovery_after_lost_message_s`` against its bound, ``OUTBOX_REQUEUE_AFTER +
   OUTBOX_SWEEP_INTERVAL``: a comment whose broker message the broker took and then lost,
   until it is posted, with the sweeper run every ``OUTBOX_SWEEP_INTERVAL`` seconds as beat
   would (both scaled down to seconds here).
"""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

from common import Stack, add_issues, link_accounts, load_account, running_stack

ACCOUNTS = 40
POSTS = 30
REQUEUE_AFTER = 3
SWEEP_INTERVAL = 1


def chaos_run(stack: Stack, seed: int = 1) -> dict[str, Any]:
    from tests.chaos import CHAOS_SEECLICKFIX, run_chaos

    stack.configure(**CHAOS_SEECLICKFIX)
    ids = link_accounts(stack.emulator, ACCOUNTS, issues=2, prefix=f"chaos{seed}")
    accounts = [load_account(pk) for pk in ids]
    issue_ids = []
    for account in accounts[:10]:
        issue_ids += add_issues(stack.emulator, {"id": account.user_scf_id}, 1)
    with stack.worker(2) as worker:
        report = run_chaos(
            emulator=stack.emulator,
            worker=worker,
            restart_redis=stack.redis.restart,
            accounts=accounts,
            issue_ids=issue_ids,
            expected_issues=ACCOUNTS * 2 + len(issue_ids),
            seed=seed,
            posts=POSTS,
        )
    return report.as_dict()


def lost_message_recovery(stack: Stack) -> dict[str, float]:
    from unittest import mock

    from django.utils import timezone
    from kombu.exceptions import OperationalError

    from django_seeclickfix import actions, outbox, tasks
    from django_seeclickfix.models import SeeClickFixAction

    stack.configure(OUTBOX_REQUEUE_AFTER=REQUEUE_AFTER, OUTBOX_SWEEP_INTERVAL=SWEEP_INTERVAL)
    (account_id,) = link_accounts(stack.emulator, 1, prefix="lost")
    account = load_account(account_id)
    (issue_id,) = add_issues(stack.emulator, {"id": account.user_scf_id}, 1)

    def lose(row: Any) -> bool:
        # The broker took the message and then lost it (a restart without persistence).
        outbox.mark_due(type(row), row.pk, timezone.now())
        return True

    with stack.worker(1):
        with mock.patch.object(outbox, "wake", lose):
            started = time.monotonic()
            action = actions.queue_comment(account, issue_id, "Lost and found")
        while not SeeClickFixAction.objects.get(pk=action.pk).is_final:
            with contextlib.suppress(OperationalError):
                tasks.sweep_outbox.delay()  # what beat does every OUTBOX_SWEEP_INTERVAL
            time.sleep(SWEEP_INTERVAL)
            if time.monotonic() - started > 60:
                break
        recovered = time.monotonic() - started
    return {
        "recovery_after_lost_message_s": round(recovered, 1),
        "recovery_bound_s": float(REQUEUE_AFTER + SWEEP_INTERVAL),
    }


def main() -> None:
    with running_stack() as stack:
        figures = {**chaos_run(stack), **lost_message_recovery(stack)}
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
