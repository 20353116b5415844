"""seeclickfix_sync: what an operator sees."""

from __future__ import annotations

from io import StringIO
from unittest import mock

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from django_seeclickfix import sync, tasks
from django_seeclickfix.exceptions import RateLimited
from django_seeclickfix.models import AccountStatus, SeeClickFixAccount

pytestmark = pytest.mark.django_db


class Tty(StringIO):
    def isatty(self) -> bool:
        return True


def run(*args, stderr=None):
    out, err = StringIO(), stderr or StringIO()
    call_command("seeclickfix_sync", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def accounts(make_account, fake_scf):
    fresh = timezone.now()
    fake_scf.add_many(3)
    made = [make_account(profile_synced_at=fresh) for _ in range(2)]
    make_account(profile_synced_at=fresh, status=AccountStatus.REAUTH_REQUIRED)
    return made


def test_all_inline_then_unchanged(accounts, fake_scf):
    out, _ = run("--all")
    assert out.strip() == "synced: 2, unchanged: 0, failed: 0, reauth required: 0"
    out, _ = run("--all")
    assert out.strip() == "synced: 0, unchanged: 2, failed: 0, reauth required: 0"


def test_one_user_or_one_account(accounts, fake_scf):
    out, _ = run("--user", accounts[0].user.username)
    assert "synced: 1" in out
    out, _ = run("--user", str(accounts[1].user.pk))
    assert "synced: 1" in out
    out, _ = run("--account", str(accounts[1].pk))
    assert "unchanged: 1" in out
    with pytest.raises(CommandError, match="No user"):
        run("--user", "nobody")
    with pytest.raises(CommandError, match="No SeeClickFixAccount"):
        run("--account", "999999")


def test_a_user_without_a_link_is_an_error(accounts, django_user_model):
    django_user_model.objects.create_user("unlinked")
    with pytest.raises(CommandError, match="no SeeClickFix account"):
        run("--user", "unlinked")


def test_failures_and_reauth_are_counted_and_fail_the_command(accounts, fake_scf):
    fake_scf.fail_issue_requests = {1}
    err = StringIO()
    with pytest.raises(CommandError, match="1 account"):
        run("--all", stderr=err)
    assert "TransientError" in err.getvalue()

    fake_scf.token_valid = False
    out, _ = run("--account", str(accounts[0].pk))
    assert "reauth required: 1" in out
    assert SeeClickFixAccount.objects.get(pk=accounts[0].pk).status == "reauth_required"


def test_queue_hands_accounts_to_the_workers(accounts, published):
    out, _ = run("--all", "--queue")
    assert out.strip() == "Queued 2 account(s) for the workers."
    assert sorted(args[0] for name, args in published if name == tasks.sync_account.name) == [
        a.pk for a in accounts
    ]
    assert SeeClickFixAccount.objects.filter(sync_queued_at__isnull=False).count() == 2
    with pytest.raises(CommandError, match="inline only"):
        run("--all", "--queue", "--full")


def test_progress_bar_on_a_terminal_only(accounts, fake_scf):
    _, err = run("--all", stderr=Tty())
    assert "[" + "#" * 30 + "] 2/2" in err
    _, err = run("--all")
    assert "#" not in err
    _, err = run("--all", "--no-progress", stderr=Tty())
    assert "#" not in err


def test_the_command_waits_for_the_rate_budget(accounts):
    answers = iter([RateLimited("budget", retry_after=0.01), {"outcome": "synced"}])

    def fake_run(account_id, **kwargs):
        answer = next(answers, {"outcome": "unchanged"})
        if isinstance(answer, Exception):
            raise answer
        return answer

    with mock.patch.object(sync, "run_sync", fake_run), mock.patch("time.sleep") as slept:
        out, _ = run("--all")
    assert "synced: 1, unchanged: 1" in out
    slept.assert_called_once_with(0.5)


def test_full_sync_reports_issues_gone_from_seeclickfix(make_account, fake_scf):
    account = make_account(user_scf_id=fake_scf.user_id)
    fake_scf.add_many(4)
    run("--account", str(account.pk))
    del fake_scf.issues[1]

    out, _ = run("--account", str(account.pk), "--full")

    assert "1 stored issue(s) are no longer listed by SeeClickFix" in out


def test_full_sync_of_an_unchanged_account_reports_nothing_gone(make_account, fake_scf):
    account = make_account(user_scf_id=fake_scf.user_id)
    fake_scf.add_many(4)
    run("--account", str(account.pk))
    run("--account", str(account.pk))  # the listing's ETag is now stored

    out, _ = run("--account", str(account.pk), "--full")

    assert "synced: 0, unchanged: 1" in out
    assert "no longer listed" not in out


def test_nothing_to_sync(db):
    out, _ = run("--all")
    assert out.strip() == "No account to sync."
