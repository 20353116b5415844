"""seeclickfix_rotate_keys: every row ends under the first key; idempotent; resumable; honest."""

from io import StringIO

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import override_settings

from django_seeclickfix.models import SeeClickFixAccount

pytestmark = pytest.mark.django_db

OLD = Fernet.generate_key().decode()
NEW = Fernet.generate_key().decode()


def raw(pk):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT access_token, refresh_token FROM seeclickfix_seeclickfixaccount WHERE id = %s",
            [pk],
        )
        return cursor.fetchone()


def run(*args):
    out = StringIO()
    call_command("seeclickfix_rotate_keys", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def accounts(django_user_model):
    made = []
    with override_settings(SEECLICKFIX={"TOKEN_KEYS": [OLD]}):
        for n in range(5):
            user = django_user_model.objects.create_user(f"u{n}")
            made.append(
                SeeClickFixAccount.objects.create(
                    user=user,
                    environment="production",
                    user_scf_id=n + 1,
                    access_token=f"access-{n}",
                    refresh_token=f"refresh-{n}" if n % 2 else None,
                )
            )
        user = django_user_model.objects.create_user("empty")
        made.append(
            SeeClickFixAccount.objects.create(user=user, environment="production", user_scf_id=99)
        )
    return made


def test_rotation_moves_every_token_to_the_new_key_and_is_idempotent(accounts):
    with override_settings(SEECLICKFIX={"TOKEN_KEYS": [NEW, OLD]}):
        out = run("--batch-size", "2")
        assert "re-encrypted 5 account(s)" in out
        assert "1 without tokens" in out
        for acc in accounts[:5]:
            access, refresh = raw(acc.pk)
            assert Fernet(NEW).decrypt(access.encode()).decode() == acc.access_token
            with pytest.raises(InvalidToken):
                Fernet(OLD).decrypt(access.encode())
            if refresh:
                assert Fernet(NEW).decrypt(refresh.encode()).decode() == acc.refresh_token
        before = [raw(a.pk) for a in accounts]
        again = run()
        assert "re-encrypted 0 account(s); 5 already under the first key" in again
        assert [raw(a.pk) for a in accounts] == before
    # The old key can now go.
    with override_settings(SEECLICKFIX={"TOKEN_KEYS": [NEW]}):
        assert SeeClickFixAccount.objects.get(pk=accounts[1].pk).refresh_token == "refresh-1"


def test_dry_run_writes_nothing(accounts):
    before = [raw(a.pk) for a in accounts]
    with override_settings(SEECLICKFIX={"TOKEN_KEYS": [NEW, OLD]}):
        assert "would re-encrypt 5" in run("--dry-run")
    assert [raw(a.pk) for a in accounts] == before


def test_interrupted_run_resumes(accounts, monkeypatch):
    from django_seeclickfix.management.commands import seeclickfix_rotate_keys as mod

    real = mod.Command._rotate_row
    calls = {"n": 0}

    def dying(self, row, *, dry_run):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return real(self, row, dry_run=dry_run)

    with override_settings(SEECLICKFIX={"TOKEN_KEYS": [NEW, OLD]}):
        monkeypatch.setattr(mod.Command, "_rotate_row", dying)
        with pytest.raises(KeyboardInterrupt):
            run("--batch-size", "2")
        monkeypatch.setattr(mod.Command, "_rotate_row", real)
        out = run("--batch-size", "2")
        # The first batch (2 rows) committed before the interruption.
        assert "re-encrypted 3 account(s); 2 already under the first key" in out


def test_a_refresh_in_between_is_never_overwritten(accounts, monkeypatch):
    from django_seeclickfix.management.commands import seeclickfix_rotate_keys as mod

    real = mod.Command._rotate_row
    target = accounts[0]

    def racing(self, row, *, dry_run):
        if row["pk"] == target.pk:
            SeeClickFixAccount.objects.filter(pk=target.pk).update(
                access_token="refreshed-meanwhile", token_version=row["token_version"] + 1
            )
        return real(self, row, dry_run=dry_run)

    monkeypatch.setattr(mod.Command, "_rotate_row", racing)
    with override_settings(SEECLICKFIX={"TOKEN_KEYS": [NEW, OLD]}):
        out = run()
        assert "1 changed meanwhile" in out
        assert SeeClickFixAccount.objects.get(pk=target.pk).access_token == "refreshed-meanwhile"


def test_unreadable_rows_are_reported_by_id_and_fail_the_command(accounts):
    other = Fernet.generate_key().decode()
    with override_settings(SEECLICKFIX={"TOKEN_KEYS": [NEW, other]}):
        with pytest.raises(CommandError, match="no key in TOKEN_KEYS decrypts") as excinfo:
            run()
        assert str(accounts[0].pk) in str(excinfo.value)
        assert "access-0" not in str(excinfo.value)


def test_batch_size_must_be_positive():
    with pytest.raises(CommandError):
        run("--batch-size", "0")


def test_a_long_run_reports_progress_by_count(accounts):
    count_only = ("--batch-size", "2", "--progress-seconds", "3600")
    with override_settings(SEECLICKFIX={"TOKEN_KEYS": [NEW, OLD]}):
        lines = run(*count_only, "--progress-every", "2", "--dry-run").splitlines()
        assert lines[:2] == [
            "checked 2 / 6 accounts (would re-encrypt so far: 2)",
            "checked 4 / 6 accounts (would re-encrypt so far: 4)",
        ]
        assert lines[2].startswith("would re-encrypt 5 account(s)")  # no "6 / 6": the summary
        lines = run(*count_only, "--progress-every", "3").splitlines()
        assert lines[0] == "checked 4 / 6 accounts (re-encrypted so far: 4)"
        assert len(lines) == 2


def test_verbosity_0_prints_nothing_but_still_rotates(accounts):
    with override_settings(SEECLICKFIX={"TOKEN_KEYS": [NEW, OLD]}):
        out = run("--batch-size", "1", "--progress-every", "1", "--verbosity", "0")
        assert out == ""
        assert "re-encrypted 0 account(s); 5 already under the first key" in run()


def test_progress_every_must_be_positive():
    with pytest.raises(CommandError, match="--progress-every"):
        run("--progress-every", "0")
