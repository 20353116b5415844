"""Requests per sync against the emulator: the bound the benchmarks measure (issue 8).

A cold sync of n issues costs ceil(n/100) pages plus the profile, an unchanged account one
request, k changed issues ceil(k/100): no page is spent on issues read before.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from django_seeclickfix import sync
from django_seeclickfix.models import SeeClickFixIssue

from .conftest import link_emulator_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(scf_emulator_settings, django_user_model):
    emulator = scf_emulator_settings
    scf_user = emulator.generate_users(1, prefix="requests")[0]
    newest = timezone.now() - timedelta(hours=1)
    for n in range(200):
        emulator.add_issue(scf_user, updated_at=newest - timedelta(minutes=n))
    return link_emulator_user(emulator, scf_user, django_user_model.objects.create_user("requests"))


def api_requests(emulator, action):
    since = emulator.requests()[-1].seq if emulator.requests() else 0
    action()
    return [r for r in emulator.requests() if r.seq > since and r.path.startswith("/api/")]


def change(emulator, account, count, minutes_ago):
    """``count`` issues change, each in its own second from ``minutes_ago`` on (after the
    account's cursor, and over before the sync starts)."""
    ids = SeeClickFixIssue.objects.filter(account=account).order_by("scf_updated_at")
    start = timezone.now() - timedelta(minutes=minutes_ago)
    summaries = {}
    for n, issue_id in enumerate(ids.values_list("scf_id", flat=True)[:count]):
        summaries[issue_id] = f"change {minutes_ago}-{n}"
        emulator.update_issue(
            issue_id, summary=summaries[issue_id], updated_at=start + timedelta(seconds=n)
        )
    return summaries


def test_cold_unchanged_and_changed_syncs_cost_the_bound(scf_emulator_settings, account):
    emulator = scf_emulator_settings
    cold = api_requests(emulator, lambda: sync.sync_now(account))
    assert [r.path for r in cold] == ["/api/v2/profile"] + ["/api/v2/profile/issues"] * 2
    assert SeeClickFixIssue.objects.filter(account=account).count() == 200

    for status in (200, 304):  # the cursor past the last second: nothing is read twice
        unchanged = api_requests(emulator, lambda: sync.sync_now(account))
        assert [r.status for r in unchanged] == [status]

    for count, pages, minutes_ago in ((100, 1, 30), (150, 2, 20)):
        summaries = change(emulator, account, count, minutes_ago)
        changed = api_requests(emulator, lambda: sync.sync_now(account))
        assert len(changed) == pages
        stored = SeeClickFixIssue.objects.filter(scf_id__in=summaries)
        assert dict(stored.values_list("scf_id", "summary")) == summaries
