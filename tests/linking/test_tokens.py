"""tokens.py with SeeClickFix mocked: refresh when due, single writer, reauth exactly once."""

from __future__ import annotations

import json
from contextlib import nullcontext
from datetime import timedelta

import pytest
import responses
from django.utils import timezone

from django_seeclickfix import tokens
from django_seeclickfix.exceptions import AccountUnavailable, ReauthRequired, TransientError
from django_seeclickfix.models import SeeClickFixAccount
from django_seeclickfix.signals import reauth_required, token_refreshed

from .conftest import PROFILE_URL, TokenEndpoint, profile_body, scf_settings, token_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user("ada")


def make_account(user, *, expires_in=None, refresh="rt-old", access="at-old", **extra):
    expires_at = None if expires_in is None else timezone.now() + timedelta(seconds=expires_in)
    return SeeClickFixAccount.objects.create(
        user=user,
        environment="production",
        user_scf_id=1001,
        access_token=access,
        refresh_token=refresh,
        expires_at=expires_at,
        token_version=1,
        **extra,
    )


@pytest.fixture
def received():
    got = {"reauth": [], "refreshed": []}

    def on_reauth(**kw):
        got["reauth"].append(kw)

    def on_refreshed(**kw):
        got["refreshed"].append(kw)

    reauth_required.connect(on_reauth, dispatch_uid="t-reauth")
    token_refreshed.connect(on_refreshed, dispatch_uid="t-refreshed")
    yield got
    reauth_required.disconnect(dispatch_uid="t-reauth")
    token_refreshed.disconnect(dispatch_uid="t-refreshed")


def test_non_expiring_token_just_works(user, mocked):
    account = make_account(user, expires_in=None)
    assert tokens.get_access_token(account) == "at-old"
    assert not mocked.calls


def test_token_far_from_expiry_is_not_refreshed(user, mocked):
    account = make_account(user, expires_in=3600)
    assert tokens.get_access_token(account) == "at-old"
    assert not mocked.calls


def test_token_about_to_expire_is_refreshed_and_committed(
    user, mocked, received, django_capture_on_commit_callbacks
):
    endpoint = TokenEndpoint(mocked, token_body(access="at-new", refresh="rt-new"))
    account = make_account(user, expires_in=60)  # inside the 300 s margin
    with django_capture_on_commit_callbacks(execute=True):
        assert tokens.get_access_token(account) == "at-new"
    (form,) = endpoint.forms
    assert form["grant_type"] == "refresh_token"
    assert form["refresh_token"] == "rt-old"
    stored = SeeClickFixAccount.objects.get(pk=account.pk)
    assert stored.access_token == "at-new"
    assert stored.refresh_token == "rt-new"
    assert stored.token_version == 2
    assert stored.expires_at > timezone.now() + timedelta(seconds=7000)
    assert account.access_token == "at-new"  # the caller's instance is current too
    (sent,) = received["refreshed"]
    assert sent["rotated"] is True
    assert sent["account"].pk == account.pk


def test_refresh_without_new_refresh_token_keeps_the_old_one(user, mocked):
    TokenEndpoint(mocked, token_body(access="at-new", refresh=None))
    account = make_account(user, expires_in=10)
    assert tokens.get_access_token(account) == "at-new"
    assert SeeClickFixAccount.objects.get(pk=account.pk).refresh_token == "rt-old"


def test_invalid_grant_marks_reauth_once_and_raises(
    user, mocked, received, django_capture_on_commit_callbacks
):
    endpoint = TokenEndpoint(mocked, {"error": "invalid_grant"}, status=400)
    account = make_account(user, expires_in=10)
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(ReauthRequired):
            tokens.get_access_token(account)
        with pytest.raises(ReauthRequired):
            tokens.get_access_token(account)  # no second request: the status says it
        assert not tokens.mark_reauth_required(account, "again")
    assert len(endpoint.forms) == 1
    stored = SeeClickFixAccount.objects.get(pk=account.pk)
    assert stored.status == "reauth_required"
    assert stored.access_token == "at-old"  # nothing else changed
    (sent,) = received["reauth"]
    assert "invalid_grant" in sent["reason"]
    assert "rt-old" not in sent["reason"]


def test_expired_without_refresh_token_needs_reauth(user, mocked, received):
    account = make_account(user, expires_in=-5, refresh=None)
    with pytest.raises(ReauthRequired):
        tokens.get_access_token(account)
    assert SeeClickFixAccount.objects.get(pk=account.pk).status == "reauth_required"
    assert not mocked.calls


def test_expiring_soon_without_refresh_token_is_used_while_valid(user, mocked):
    account = make_account(user, expires_in=60, refresh=None)
    assert tokens.get_access_token(account) == "at-old"
    assert SeeClickFixAccount.objects.get(pk=account.pk).status == "active"


def test_transient_refresh_failure_keeps_a_still_valid_token(user, mocked):
    TokenEndpoint(mocked, {"error": "x"}, status=503)
    account = make_account(user, expires_in=60)
    assert tokens.get_access_token(account) == "at-old"
    stored = SeeClickFixAccount.objects.get(pk=account.pk)
    assert stored.status == "active"
    assert stored.token_version == 1


def test_transient_refresh_failure_with_an_expired_token_raises(user, mocked):
    TokenEndpoint(mocked, {"error": "x"}, status=503)
    account = make_account(user, expires_in=-1)
    with pytest.raises(TransientError):
        tokens.get_access_token(account)
    assert SeeClickFixAccount.objects.get(pk=account.pk).status == "active"


def test_stale_instance_uses_the_newer_token_without_refreshing_again(user, mocked):
    endpoint = TokenEndpoint(mocked, token_body(access="at-new", refresh="rt-new"))
    account = make_account(user, expires_in=30)
    stale = SeeClickFixAccount.objects.get(pk=account.pk)
    assert tokens.get_access_token(account) == "at-new"
    assert tokens.get_access_token(stale) == "at-new"
    assert len(endpoint.forms) == 1


def test_stale_writer_cannot_overwrite_a_newer_token(user):
    from django_seeclickfix.client import TokenResponse

    account = make_account(user)
    newer = TokenResponse("at-2", "Bearer", None, "rt-2", None, None)
    older = TokenResponse("at-stale", "Bearer", None, "rt-stale", None, None)
    assert tokens.write_tokens(account, newer, expected_version=1)
    assert not tokens.write_tokens(account, older, expected_version=1)
    stored = SeeClickFixAccount.objects.get(pk=account.pk)
    assert stored.access_token == "at-2"
    assert stored.token_version == 2


@pytest.mark.parametrize("change", ["revoked", "inactive", "environment"])
def test_unusable_accounts_send_nothing(user, mocked, change):
    account = make_account(user, expires_in=10)
    if change == "revoked":
        SeeClickFixAccount.objects.filter(pk=account.pk).update(status="revoked")
    elif change == "inactive":
        user.is_active = False
        user.save()
        account.user.refresh_from_db()
    with scf_settings(ENVIRONMENT="test") if change == "environment" else nullcontext():
        with pytest.raises(AccountUnavailable):
            tokens.get_access_token(account)
        with pytest.raises(AccountUnavailable):
            tokens.client_for_account(account)
        assert account.pk not in SeeClickFixAccount.objects.usable().values_list("pk", flat=True)
    assert not mocked.calls
    assert SeeClickFixAccount.objects.get(pk=account.pk).status == (
        "revoked" if change == "revoked" else "active"
    )


def test_usable_queryset_lists_active_accounts_of_active_users(user, django_user_model):
    account = make_account(user)
    other = django_user_model.objects.create_user("off", is_active=False)
    SeeClickFixAccount.objects.create(user=other, environment="production", user_scf_id=2)
    assert list(SeeClickFixAccount.objects.usable()) == [account]


def test_client_for_user_without_a_link(user):
    with pytest.raises(AccountUnavailable, match="not connected"):
        tokens.client_for_user(user)


def test_client_for_user_acts_as_the_user(user, mocked):
    make_account(user)
    seen = []

    def answer(request):
        seen.append(request.headers["Authorization"])
        return 200, {"Content-Type": "application/json"}, json.dumps(profile_body())

    mocked.add_callback(responses.GET, PROFILE_URL, callback=answer)
    profile = tokens.client_for_user(user).get_profile()
    assert profile.id == 1001
    assert seen == ["Bearer at-old"]


def test_rejected_token_is_refreshed_and_retried_once(user, mocked):
    TokenEndpoint(mocked, token_body(access="at-new", refresh="rt-new"))
    seen = []

    def answer(request):
        seen.append(request.headers["Authorization"])
        if request.headers["Authorization"] == "Bearer at-old":
            return 401, {"WWW-Authenticate": 'Bearer error="invalid_token"'}, "{}"
        return 200, {"Content-Type": "application/json"}, json.dumps(profile_body())

    mocked.add_callback(responses.GET, PROFILE_URL, callback=answer)
    account = make_account(user)  # does not expire: only the 401 makes it refresh
    assert tokens.client_for_account(account).get_profile().id == 1001
    assert seen == ["Bearer at-old", "Bearer at-new"]
    assert SeeClickFixAccount.objects.get(pk=account.pk).access_token == "at-new"


def test_second_refusal_after_refresh_needs_reauth_once(
    user, mocked, received, django_capture_on_commit_callbacks
):
    TokenEndpoint(mocked, token_body(access="at-new", refresh="rt-new"))
    mocked.add(responses.GET, PROFILE_URL, status=401, json={"error": "invalid_token"})
    account = make_account(user)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ReauthRequired):
        tokens.client_for_account(account).get_profile()
    assert SeeClickFixAccount.objects.get(pk=account.pk).status == "reauth_required"
    assert len(received["reauth"]) == 1


def test_refusal_without_refresh_token_needs_reauth(user, mocked, received):
    mocked.add(responses.GET, PROFILE_URL, status=401, json={"error": "invalid_token"})
    account = make_account(user, refresh=None)
    with pytest.raises(ReauthRequired):
        tokens.client_for_account(account).get_profile()
    assert SeeClickFixAccount.objects.get(pk=account.pk).status == "reauth_required"
    assert len([c for c in mocked.calls if c.request.url.startswith(PROFILE_URL)]) == 1


def test_refusal_after_someone_else_refreshed_retries_with_their_token(user, mocked):
    account = make_account(user)
    source = tokens.AccountTokenSource(account)
    SeeClickFixAccount.objects.filter(pk=account.pk).update(
        access_token="at-theirs", token_version=2
    )
    assert source.token_rejected("at-old", final=False) == "at-theirs"
    assert not mocked.calls
    assert repr(source) == f"AccountTokenSource(account={account.pk})"


def test_force_refresh(user, mocked):
    TokenEndpoint(mocked, token_body(access="at-forced", refresh=None))
    account = make_account(user, expires_in=None)
    assert tokens.force_refresh(account) == "at-forced"
    assert SeeClickFixAccount.objects.get(pk=account.pk).refresh_token == "rt-old"


def test_force_refresh_without_refresh_token_changes_nothing(user, mocked):
    account = make_account(user, expires_in=None, refresh=None)
    assert tokens.force_refresh(account) == "at-old"
    assert SeeClickFixAccount.objects.get(pk=account.pk).status == "active"
    assert not mocked.calls
