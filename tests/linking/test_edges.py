"""Edges: missing keys and apps, unreadable tokens, admin failures, command warnings."""

from __future__ import annotations

from io import StringIO

import pytest
import responses
from cryptography.fernet import Fernet
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.test import Client, override_settings
from django.urls import reverse

from django_seeclickfix import revocation, task_base, tasks, unlinking
from django_seeclickfix.exceptions import RateLimited, TransientError
from django_seeclickfix.fields import EncryptedTextField, decrypt, encrypt
from django_seeclickfix.models import SeeClickFixAccount, SeeClickFixRevocation
from django_seeclickfix.signals import revocation_finished

from .conftest import KEY, REVOKE_URL, TokenEndpoint, scf_settings

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(django_user_model):
    user = django_user_model.objects.create_user("ada", password="pw")
    return SeeClickFixAccount.objects.create(
        user=user,
        environment="production",
        user_scf_id=1,
        access_token="at",
        refresh_token="rt",
        token_version=1,
    )


def test_no_token_keys_is_a_configuration_error():
    with (
        override_settings(SEECLICKFIX={"TOKEN_KEYS": []}),
        pytest.raises(ImproperlyConfigured, match="TOKEN_KEYS"),
    ):
        encrypt("x")


def test_a_malformed_key_is_a_configuration_error_that_hides_the_key():
    with (
        override_settings(SEECLICKFIX={"TOKEN_KEYS": ["not-a-fernet-key"]}),
        pytest.raises(ImproperlyConfigured) as excinfo,
    ):
        encrypt("x")
    assert "not-a-fernet-key" not in str(excinfo.value)


def test_field_details():
    field = SeeClickFixAccount._meta.get_field("access_token")
    assert isinstance(field, EncryptedTextField)
    assert field.formfield() is None
    assert field.get_transform("lower") is None
    assert SeeClickFixAccount.access_token.field is field  # class access gives the descriptor
    assert field.to_python("plain") == "plain"
    unsaved = SeeClickFixAccount(access_token="fresh")
    stored = field.value_from_object(unsaved)
    assert "fresh" not in stored
    assert decrypt(stored) == "fresh"
    assert field.value_to_string(SeeClickFixAccount()) == ""
    assert SeeClickFixAccount.objects.filter(access_token__isnull=True).count() == 0


def test_admin_shows_no_tokens_stored(account, django_user_model):
    SeeClickFixAccount.objects.filter(pk=account.pk).update(access_token=None, refresh_token=None)
    boss = django_user_model.objects.create_superuser("boss", "b@example.org", "pw")
    admin = Client()
    admin.force_login(boss)
    page = admin.get(reverse("admin:seeclickfix_seeclickfixaccount_change", args=[account.pk]))
    assert "none stored" in page.content.decode()


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [(400, {"error": "invalid_grant"}, "reauth_required"), (503, {}, "active")],
    ids=["invalid_grant", "5xx"],
)
def test_admin_refresh_failures_are_reported(
    account, django_user_model, mocked, status, body, expected
):
    TokenEndpoint(mocked, body, status=status)
    boss = django_user_model.objects.create_superuser("boss", "b@example.org", "pw")
    admin = Client()
    admin.force_login(boss)
    url = reverse("admin:seeclickfix_seeclickfixaccount_changelist")
    response = admin.post(
        url, {"action": "refresh_tokens", "_selected_action": [account.pk]}, follow=True
    )
    text = response.content.decode()
    assert "Failed: 1" in text
    assert "rt" not in [m.message for m in response.context["messages"]]
    assert SeeClickFixAccount.objects.get().status == expected


def test_unreadable_tokens_are_deleted_on_disconnect_but_not_revoked(
    account, mocked, django_capture_on_commit_callbacks, published
):
    mocked.add(responses.POST, REVOKE_URL, json={})
    lost_key = override_settings(SEECLICKFIX={"TOKEN_KEYS": [Fernet.generate_key().decode()]})
    with lost_key, django_capture_on_commit_callbacks(execute=True):
        result = unlinking.unlink_account(SeeClickFixAccount.objects.get())
    assert not published  # no revoke_tokens task: nothing readable to revoke
    assert result.unlinked
    assert not result.revocation_scheduled
    assert not mocked.calls
    assert SeeClickFixAccount.objects.get().access_token is None
    again = unlinking.unlink_account(SeeClickFixAccount.objects.get())
    assert not again.unlinked  # already disconnected: nothing to do


def owed(account):
    """A revocation of tokens the live link no longer holds (a relink replaced them)."""
    return revocation.queue_revocation(
        account,
        access_token="old-at",
        refresh_token="old-rt",
        reason=SeeClickFixRevocation.Reason.RELINK,
    )


def test_refused_revocation_is_not_retried_and_says_what_to_do(
    account, mocked, django_capture_on_commit_callbacks
):
    mocked.add(responses.POST, REVOKE_URL, json={"error": "unauthorized_client"}, status=403)
    row = owed(account)
    finished = []
    revocation_finished.connect(
        lambda **kw: finished.append(kw["status"]), weak=False, dispatch_uid="t-finished"
    )
    try:
        with django_capture_on_commit_callbacks(execute=True):
            result = tasks.revoke_tokens.apply(args=[row.pk])
    finally:
        revocation_finished.disconnect(dispatch_uid="t-finished")
    assert result.successful()
    assert result.result == "failed"
    assert len(mocked.calls) == 1
    row.refresh_from_db()
    assert row.status == "failed"
    assert "unauthorized_client" in row.error
    assert "authorized applications" in row.error  # what the site owner can do
    assert (row.access_token, row.refresh_token) == (None, None)  # nothing kept
    assert finished == ["failed"]


@pytest.mark.parametrize(
    ("status", "headers", "error"),
    [(503, {}, TransientError), (429, {"Retry-After": "1"}, RateLimited)],
    ids=["5xx", "429"],
)
def test_revocation_worth_retrying_is_retried_by_the_tasks_policy(
    account, mocked, monkeypatch, status, headers, error
):
    answers = [(status, headers), (status, headers), (200, {}), (200, {})]
    mocked.add_callback(
        responses.POST, REVOKE_URL, callback=lambda request: (*answers.pop(0), "{}")
    )
    row = owed(account)
    with pytest.raises(error):  # what the task's retry policy acts on
        revocation.revoke(row.pk)
    cache.clear()  # the pause a 429 sets for the shared budget
    countdowns = []

    def countdown(exc, retries, **kwargs):
        countdowns.append((type(exc), retries))
        return 1.0

    monkeypatch.setattr(task_base, "retry_countdown", countdown)
    result = tasks.revoke_tokens.apply(args=[row.pk])
    assert result.successful()
    assert countdowns == [(error, 0)]  # one retry, paced by the task's policy
    assert len(mocked.calls) == 4  # two refused attempts, then both tokens revoked
    row.refresh_from_db()
    assert row.status == "revoked"
    assert row.message_due_at is not None  # the retry's time: not a lost message


def test_revocation_without_a_configured_app_sends_nothing(
    account, mocked, django_capture_on_commit_callbacks, eager_tasks
):
    no_app = override_settings(SOCIALACCOUNT_PROVIDERS={})
    with no_app, django_capture_on_commit_callbacks(execute=True):
        unlinking.unlink_account(account)
    assert not mocked.calls


def test_registration_info_without_site_url_or_sites():
    with (
        scf_settings(SITE_URL=None),
        override_settings(
            INSTALLED_APPS=[
                "django.contrib.admin",
                "django.contrib.auth",
                "django.contrib.contenttypes",
                "django.contrib.sessions",
                "django.contrib.messages",
                "allauth",
                "allauth.account",
                "allauth.socialaccount",
                "django_seeclickfix",
            ]
        ),
        pytest.raises(CommandError, match="SITE_URL"),
    ):
        call_command("seeclickfix_registration_info", stdout=StringIO())


def test_registration_info_with_sites_framework_and_warnings():
    out = StringIO()
    with (
        scf_settings(SITE_URL=None, ENVIRONMENT="test", BASE_URL="http://127.0.0.1:9"),
        override_settings(SOCIALACCOUNT_PROVIDERS={}, SOCIALACCOUNT_LOGIN_ON_GET=True),
    ):
        call_command("seeclickfix_registration_info", stdout=out)
    text = out.getvalue()
    assert "http://example.com/accounts/seeclickfix/login/callback/" in text  # sites framework
    assert "BASE_URL overrides" in text
    assert "No SeeClickFix app configured yet" in text
    assert "SOCIALACCOUNT_LOGIN_ON_GET is on" in text


def test_owed_tokens_are_encrypted_with_the_first_key(account):
    row = owed(account)
    stored = SeeClickFixRevocation.objects.filter(pk=row.pk).values_list("access_token", flat=True)[
        0
    ]
    assert Fernet(KEY).decrypt(str(stored).encode()) == b"old-at"
