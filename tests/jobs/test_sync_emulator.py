"""sync.py against the emulator (real HTTP, real pagination, ETags, OAuth refresh)."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from django_seeclickfix import sync
from django_seeclickfix.exceptions import ReauthRequired, TransientError
from django_seeclickfix.models import AccountStatus, SeeClickFixIssue

from .conftest import link_emulator_user

pytestmark = pytest.mark.django_db

LISTING = "/api/v2/profile/issues"


@pytest.fixture
def linked(scf_emulator_settings, django_user_model):
    emulator = scf_emulator_settings
    scf_user = emulator.generate_users(1, prefix="sync")[0]
    for n in range(230):
        emulator.add_issue(
            scf_user,
            summary=f"Issue {n}",
            status=("open", "acknowledged", "closed", "archived")[n % 4],
            created_at=timezone.now() - timedelta(days=400, minutes=n),
            updated_at=timezone.now() - timedelta(days=300, minutes=230 - n),
        )
    account = link_emulator_user(
        emulator, scf_user, django_user_model.objects.create_user("sync-emulator")
    )
    emulator.clear_log()
    return emulator, scf_user, account


def listing_requests(emulator, since=0):
    return [r for r in emulator.requests(LISTING) if r.seq > since]


def test_cold_then_incremental_then_unchanged(linked):
    emulator, scf_user, account = linked

    cold = sync.sync_now(account)

    assert SeeClickFixIssue.objects.filter(account=account).count() == 230  # all four statuses
    assert (cold.pages, cold.requests) == (3, 4)  # /profile + 3 pages of 100
    assert {i.status for i in SeeClickFixIssue.objects.all()} == {
        "open",
        "acknowledged",
        "closed",
        "archived",
    }
    issue = emulator.state.issues_by_reporter[scf_user.id][5]
    emulator.update_issue(issue.id, status="closed", summary="Fixed, thanks")
    last = emulator.requests()[-1].seq

    incremental = sync.sync_now(account)

    assert incremental.requests == 1
    assert not incremental.unchanged
    stored = SeeClickFixIssue.objects.get(scf_id=issue.id)
    assert (stored.status, stored.summary) == ("closed", "Fixed, thanks")
    assert "updated_at_after" in listing_requests(emulator, last)[0].query

    for expected_status in (200, 304):  # the new cursor's first listing, then its ETag
        last = emulator.requests()[-1].seq
        unchanged = sync.sync_now(account)
        sent = [r for r in emulator.requests() if r.seq > last]
        assert [r.status for r in sent] == [expected_status]
        assert unchanged.unchanged
        assert unchanged.requests == 1
    assert SeeClickFixIssue.objects.count() == 230


def test_a_5xx_mid_pagination_then_the_retry_completes_without_duplicates(linked):
    emulator, _scf_user, account = linked
    real_upsert = sync.upsert_issues
    calls = []

    def upsert_then_break_the_next_page(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            emulator.faults.add(rf"^{LISTING}", "error", status=503, count=1)
        return real_upsert(*args, **kwargs)

    with (
        mock.patch.object(sync, "upsert_issues", upsert_then_break_the_next_page),
        pytest.raises(TransientError),
    ):
        sync.sync_now(account)
    assert SeeClickFixIssue.objects.count() == 100
    account.refresh_from_db()
    assert account.sync_cursor is not None

    sync.sync_now(account)

    assert SeeClickFixIssue.objects.count() == 230
    assert SeeClickFixIssue.objects.values("scf_id").distinct().count() == 230


def test_a_revoked_link_is_marked_and_stops(linked):
    emulator, scf_user, account = linked
    emulator.deauthorize(scf_user)  # the user removed the app on SeeClickFix

    with pytest.raises(ReauthRequired):
        sync.sync_now(account)

    account.refresh_from_db()
    assert account.status == AccountStatus.REAUTH_REQUIRED
    assert SeeClickFixIssue.objects.count() == 0
    assert sync.run_sync(account.pk)["outcome"] == "skipped"


def test_full_sync_of_an_unchanged_account_and_an_anonymous_own_report(linked):
    emulator, scf_user, account = linked
    quiet = emulator.add_issue(scf_user, summary="Reported anonymously", anonymous=True)
    sync.sync_now(account)
    assert sync.sync_now(account).unchanged

    full = sync.sync_now(account, full=True)

    assert (full.outcome, full.missing, full.issues) == ("unchanged", 0, 231)
    assert SeeClickFixIssue.objects.get(scf_id=quiet.id).reporter_scf_id == scf_user.id
    assert SeeClickFixIssue.objects.filter(reporter_scf_id=0).count() == 0
