"""Nothing stuck, nothing lost (issue 18): a chaos run with real PostgreSQL, Redis, a prefork
worker and a faulty emulator settles with every post at SeeClickFix exactly once or ended with
a reason, no row unfinished, every account synced and no duplicate mirror row."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.chaos import CHAOS_SEECLICKFIX, run_chaos

from .conftest import assert_no_duplicates, link_emulator_user

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ACCOUNTS = 40
ISSUES_EACH = 2


@pytest.mark.parametrize("seed", [1, 2])
def test_a_chaos_run_settles_with_nothing_stuck_and_nothing_doubled(
    seed, scf_emulator_settings, scf_worker_factory, redis_server, django_user_model
):
    emulator = scf_emulator_settings
    emulator.faults.seed(seed)
    accounts = []
    for scf_user in emulator.generate_users(ACCOUNTS, prefix=f"chaos{seed}"):
        for n in range(ISSUES_EACH):
            emulator.add_issue(scf_user, updated_at=timezone.now() - timedelta(days=1, minutes=n))
        site_user = django_user_model.objects.create_user(f"chaos-{scf_user.id}")
        accounts.append(link_emulator_user(emulator, scf_user, site_user))
    # Comments on issues of the linked users themselves (one per reporter is enough).
    issue_ids = [emulator.state.issues_by_reporter[a.user_scf_id][0].id for a in accounts[:10]]
    worker = scf_worker_factory(concurrency=2, visibility_timeout=10, seeclickfix=CHAOS_SEECLICKFIX)

    report = run_chaos(
        emulator=emulator,
        worker=worker,
        restart_redis=redis_server.restart,
        accounts=accounts,
        issue_ids=issue_ids,
        expected_issues=ACCOUNTS * ISSUES_EACH,
        seed=seed,
        posts=30,
    )

    assert report.faults_fired > 0, report  # the chaos was real
    assert report.stuck == 0, report
    assert report.duplicates == 0, report
    assert report.failed_but_posted == 0, report
    assert report.posted_but_unseen == 0, report
    assert report.succeeded + report.failed == report.posts, report
    assert report.unsynced_accounts == 0, report
    assert report.duplicate_rows == 0, report
    assert_no_duplicates()
