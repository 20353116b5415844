"""Every grant the library gives up is revoked at the host that issued it, and never one a live
link holds: after a refresh, a reconnect, a disconnect or a deletion (issue 16, defects 1-4)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import responses
from django.utils import timezone

from django_seeclickfix import revocation, tasks, tokens
from django_seeclickfix.errorcodes import E_TOKEN
from django_seeclickfix.exceptions import AccountUnavailable, LinkRefused
from django_seeclickfix.linking import link_account
from django_seeclickfix.models import SeeClickFixAccount, SeeClickFixRevocation
from django_seeclickfix.sealing import SealedTokens
from django_seeclickfix.unlinking import unlink_account
from tests.conftest import FormEndpoint

from .conftest import (
    HOST,
    PROFILE_URL,
    REVOKE_URL,
    TokenEndpoint,
    profile_body,
    scf_settings,
    token_body,
)

pytestmark = pytest.mark.django_db


def brought(access, refresh="rt-new"):
    return SealedTokens(
        access_token=access,
        refresh_token=refresh,
        token_type="Bearer",
        expires_at=timezone.now() + timedelta(hours=2),
        scope="",
        environment="production",
        host=HOST,
    )


def link(user, access, refresh="rt-new"):
    return link_account(
        user=user, social_account=None, tokens=brought(access, refresh), profile=profile_body()
    )


def owed():
    return list(SeeClickFixRevocation.objects.order_by("pk"))


def revoke_all(mocked):
    endpoint = FormEndpoint(mocked, REVOKE_URL)
    for row in owed():
        revocation.revoke(row.pk)
    return [(form["token"], form["token_type_hint"]) for form in endpoint.forms]


@pytest.fixture
def expiring(ada):
    return SeeClickFixAccount.objects.create(
        user=ada,
        environment="production",
        issuer=HOST,
        user_scf_id=1001,
        access_token="at-old",
        refresh_token="rt-old",
        expires_at=timezone.now() + timedelta(seconds=30),
        token_version=1,
    )


# after a refresh ---------------------------------------------------------------------------


def test_a_refresh_holds_the_replaced_refresh_token_until_the_new_token_is_used(expiring, mocked):
    """Doorkeeper revokes the replaced grant at the new token's first use: then the library
    forgets it, at no cost in requests."""
    TokenEndpoint(mocked, token_body(access="at-new", refresh="rt-new"))
    mock_profile = mocked.add(responses.GET, PROFILE_URL, json=profile_body())
    assert tokens.get_access_token(expiring) == "at-new"
    assert SeeClickFixAccount.objects.get().previous_refresh_token == "rt-old"
    tokens.client_for_account(expiring).get_profile()  # the new token's first use: a 200
    assert mock_profile.call_count == 1
    assert SeeClickFixAccount.objects.get().previous_refresh_token is None
    assert owed() == []


def test_a_disconnect_before_the_new_token_was_used_revokes_the_replaced_one_too(expiring, mocked):
    TokenEndpoint(mocked, token_body(access="at-new", refresh="rt-new"))
    tokens.get_access_token(expiring)
    unlink_account(expiring)
    assert sorted(revoke_all(mocked)) == [
        ("at-new", "access_token"),
        ("rt-new", "refresh_token"),
        ("rt-old", "refresh_token"),
    ]


def test_a_refresh_no_request_follows_owes_the_revocation_of_the_replaced_grant(expiring, mocked):
    TokenEndpoint(mocked, token_body(access="at-new", refresh="rt-new"))
    assert tokens.force_refresh(expiring) == "at-new"  # the admin's action: nothing uses it
    (row,) = owed()
    assert (row.reason, row.access_token, row.refresh_token) == ("refresh", None, "rt-old")
    assert revoke_all(mocked) == [("rt-old", "refresh_token")]  # ends the old pair
    row.refresh_from_db()
    assert row.status == "revoked"
    assert SeeClickFixAccount.objects.get().previous_refresh_token is None


def test_a_second_refresh_before_the_first_use_owes_the_held_token(expiring, mocked):
    """Doorkeeper revokes one generation back only: a token two refreshes old stays live."""
    endpoint = TokenEndpoint(mocked, token_body(access="at-2", refresh="rt-2", expires_in=10))
    tokens.get_access_token(expiring)
    endpoint.body = token_body(access="at-3", refresh="rt-3")
    # at-2's ten seconds pass without a request using it.
    SeeClickFixAccount.objects.filter(pk=expiring.pk).update(expires_at=timezone.now())
    tokens.get_access_token(expiring)
    (row,) = owed()
    assert (row.access_token, row.refresh_token) == (None, "rt-old")
    assert SeeClickFixAccount.objects.get().previous_refresh_token == "rt-2"


def test_a_non_rotating_refresh_no_request_follows_retires_the_replaced_access_token(
    expiring, mocked
):
    TokenEndpoint(mocked, token_body(access="at-new", refresh=None))
    tokens.force_refresh(expiring)
    (row,) = owed()
    assert (row.access_token, row.refresh_token) == ("at-old", None)


def test_retiring_replaced_tokens_at_once_can_be_turned_on(expiring, mocked):
    TokenEndpoint(mocked, token_body(access="at-new", refresh="rt-new"))
    with scf_settings(RETIRE_REPLACED_TOKENS=True):
        tokens.get_access_token(expiring)
    assert [(r.refresh_token, r.reason) for r in owed()] == [("rt-old", "refresh")]
    assert SeeClickFixAccount.objects.get().previous_refresh_token is None


def test_chained_refreshes_leave_no_grant_but_the_current_one(expiring, mocked):
    endpoint = TokenEndpoint(mocked, token_body(access="at-2", refresh="rt-2"))
    tokens.force_refresh(expiring)
    endpoint.body = token_body(access="at-3", refresh="rt-3")
    tokens.force_refresh(expiring)
    assert revoke_all(mocked) == [("rt-old", "refresh_token"), ("rt-2", "refresh_token")]


# reconnecting --------------------------------------------------------------------------------


def test_a_reconnect_owes_the_revocation_of_the_previous_grant(expiring, ada, mocked):
    link(ada, "at-new")
    (row,) = owed()
    assert (row.reason, row.access_token, row.refresh_token) == ("relink", "at-old", "rt-old")


def test_a_reconnect_that_got_the_same_tokens_back_owes_nothing(expiring, ada):
    link(ada, "at-old", "rt-old")  # Doorkeeper's reuse_access_token
    assert owed() == []


def test_a_pending_revocation_never_kills_the_token_a_reconnect_got_back(
    expiring, ada, mocked, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        unlink_account(expiring)  # revocation owed, its task not run yet
    link(ada, "at-old", "rt-old")  # reconnect before it runs: the same tokens come back
    (row,) = owed()
    assert row.status == "skipped"  # settled by the reconnect
    assert revoke_all(mocked) == []
    assert tokens.get_access_token(SeeClickFixAccount.objects.get()) == "at-old"


def test_the_revoker_skips_a_token_a_live_link_holds_when_it_runs(expiring, mocked):
    row = revocation.queue_revocation(
        expiring, access_token="at-old", refresh_token="rt-gone", reason="relink"
    )
    assert revoke_all(mocked) == [("rt-gone", "refresh_token")]  # not at-old: held
    row.refresh_from_db()
    assert row.status == "revoked"


def test_a_reconnect_handed_back_a_token_just_revoked_is_refused(expiring, ada, mocked):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        FormEndpoint(rsps, REVOKE_URL)
        unlink_account(expiring)
        revocation.revoke(owed()[0].pk)
    with pytest.raises(LinkRefused) as refused:
        link(ada, "at-old", "rt-old")
    assert refused.value.code == E_TOKEN
    assert SeeClickFixAccount.objects.get().status == "revoked"  # nothing changed


# where tokens go -----------------------------------------------------------------------------


def test_tokens_never_go_to_another_host_than_their_issuer(expiring, mocked):
    row = revocation.queue_revocation(
        expiring, access_token="at-x", refresh_token=None, reason="disconnect"
    )
    with scf_settings(BASE_URL="https://int.seeclickfix.com", ENVIRONMENT="production"):
        assert revocation.revoke(row.pk) == "failed"
        with pytest.raises(AccountUnavailable, match=r"issued by https://seeclickfix\.com"):
            tokens.get_access_token(expiring)
    assert not mocked.calls
    row.refresh_from_db()
    assert "Revoke them at https://seeclickfix.com" in row.error
    assert (row.access_token, row.refresh_token) == (None, None)


def test_deleting_the_account_owes_its_revocation_and_keeps_the_row(expiring, mocked):
    expiring.user.delete()
    (row,) = owed()
    assert (row.reason, row.account_id, row.user_scf_id) == ("deleted", None, 1001)
    endpoint = FormEndpoint(mocked, REVOKE_URL)
    assert tasks.revoke_tokens.apply(args=[row.pk]).get() == "revoked"
    assert {form["token"] for form in endpoint.forms} == {"at-old", "rt-old"}
