"""What is left of a user's grant at the real Doorkeeper after refreshes, disconnect and
de-authorisation: nothing a thief could use once the link is gone, under each regime."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from django_seeclickfix import revocation, tokens
from django_seeclickfix.exceptions import ReauthRequired
from django_seeclickfix.models import SeeClickFixAccount, SeeClickFixRevocation

from .conftest import CALLBACK_URI, connect, site_settings
from .doorkeeper import Doorkeeper

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

FIRST_USE = {"REVOKE_PREVIOUS": "first_use"}  # Doorkeeper's default migration
AT_REFRESH = {"REVOKE_PREVIOUS": "refresh"}
BOTH_REVOCATION_REGIMES = pytest.mark.parametrize(
    "regime",
    [
        pytest.param("first_use", marks=pytest.mark.regime(**FIRST_USE), id="first-use"),
        pytest.param("refresh", marks=pytest.mark.regime(**AT_REFRESH), id="at-refresh"),
    ],
)


@pytest.fixture
def linked(client, django_user_model, site):
    ada = django_user_model.objects.create_user("ada", password="pw")
    client.force_login(ada)
    assert connect(client, site).status_code == 302
    return SeeClickFixAccount.objects.get(user=ada)


def disconnect(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("seeclickfix:disconnect"))
    assert response.status_code == 302


def refresh(account, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return tokens.force_refresh(account)


def use(account, django_capture_on_commit_callbacks):
    """One API call through the library, as a sync would make."""
    with django_capture_on_commit_callbacks(execute=True):
        return tokens.client_for_account(account).get_profile()


@pytest.mark.django_db
@BOTH_REVOCATION_REGIMES
def test_disconnect_leaves_nothing_usable_at_doorkeeper(
    client, linked, site, django_capture_on_commit_callbacks, eager_tasks, regime
):
    assert site.doorkeeper.regime["revoke_previous"] == regime
    disconnect(client, django_capture_on_commit_callbacks)
    assert site.doorkeeper.usable_credentials(site.user, site.app) == []
    assert site.browser.authorized_applications() == []


@pytest.mark.django_db
@BOTH_REVOCATION_REGIMES
def test_disconnect_after_a_refresh_no_request_followed_leaves_nothing_usable(
    client, linked, site, django_capture_on_commit_callbacks, eager_tasks, regime
):
    assert site.doorkeeper.regime["revoke_previous"] == regime
    refresh(linked, django_capture_on_commit_callbacks)
    disconnect(client, django_capture_on_commit_callbacks)
    assert site.doorkeeper.usable_credentials(site.user, site.app) == []
    assert site.browser.authorized_applications() == []


@pytest.mark.django_db
@pytest.mark.regime(**FIRST_USE)
def test_chained_refreshes_leave_only_the_current_grant_live(
    linked, site, django_capture_on_commit_callbacks, eager_tasks
):
    for _ in range(3):
        refresh(linked, django_capture_on_commit_callbacks)
    use(linked, django_capture_on_commit_callbacks)
    linked.refresh_from_db()
    usable = site.doorkeeper.usable_credentials(site.user, site.app)
    rows = site.doorkeeper.token_rows(site.user)
    current = next(row for row in rows if row["token"] == linked.access_token)
    # Trying the current refresh token mints one more pair; what counts is that nothing older
    # than the current row still works.
    assert usable[:2] == [
        f"access token of row {current['id']}",
        f"refresh token of row {current['id']}",
    ], usable


@pytest.mark.django_db
@pytest.mark.regime(**AT_REFRESH)
def test_a_refresh_where_doorkeeper_revokes_at_once_keeps_the_link_working(
    linked, site, django_capture_on_commit_callbacks, eager_tasks
):
    old = linked.access_token
    new = refresh(linked, django_capture_on_commit_callbacks)
    assert new != old
    assert site.doorkeeper.profile_id(old) is None
    assert use(linked, django_capture_on_commit_callbacks).id == site.user.id


@pytest.mark.django_db(transaction=True)
def test_concurrent_refreshes_make_one_refresh_at_doorkeeper(linked, site):
    """Eight workers find the token about to expire at once: Doorkeeper sees one refresh (its
    rotation would refuse the old refresh token the second time) and every worker gets the
    new token."""
    now = timezone.now()
    SeeClickFixAccount.objects.filter(pk=linked.pk).update(  # a 7200 s token, 60 s left
        token_issued_at=now - timedelta(seconds=7140), expires_at=now + timedelta(seconds=60)
    )
    barrier = threading.Barrier(8)
    results: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            mine = SeeClickFixAccount.objects.select_related("user").get(pk=linked.pk)
            barrier.wait(timeout=10)
            results.append(tokens.get_access_token(mine))
        except BaseException as err:
            errors.append(err)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    assert len(set(results)) == 1
    assert results[0] != linked.access_token
    assert len(site.doorkeeper.token_rows(site.user)) == 2  # the first pair and one refresh
    assert site.doorkeeper.profile_id(results[0]) == site.user.id


@pytest.mark.django_db
@pytest.mark.regime(REFRESH="off")
def test_an_expired_token_without_refresh_needs_the_user_to_reconnect(
    linked, site, django_capture_on_commit_callbacks
):
    assert not linked.refresh_token
    site.doorkeeper.age_tokens(site.user, 7200)
    SeeClickFixAccount.objects.filter(pk=linked.pk).update(expires_at=timezone.now())
    linked.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ReauthRequired):
        tokens.client_for_account(linked).get_profile()
    assert SeeClickFixAccount.objects.get(pk=linked.pk).status == "reauth_required"


@pytest.mark.django_db
@pytest.mark.regime(REFRESH="off")
def test_a_token_doorkeeper_expired_early_needs_the_user_to_reconnect(
    linked, site, django_capture_on_commit_callbacks
):
    """Doorkeeper's clock, not the stored expiry, decides: a token it holds expired is refused
    even while the site still thinks it is valid."""
    site.doorkeeper.age_tokens(site.user, 7200)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ReauthRequired):
        list(tokens.client_for_account(linked).iter_my_issues())
    assert SeeClickFixAccount.objects.get(pk=linked.pk).status == "reauth_required"


@pytest.mark.django_db
@pytest.mark.regime(TOKEN_LIFETIME="never", REFRESH="off")
def test_a_token_that_never_expires_is_stored_without_expiry(linked, site):
    assert linked.expires_at is None
    assert linked.refresh_token is None or linked.refresh_token == ""
    assert tokens.client_for_account(linked).get_profile().id == site.user.id


@pytest.mark.django_db
def test_deauthorisation_on_doorkeepers_page_needs_the_user_to_reconnect(
    linked, site, django_capture_on_commit_callbacks
):
    site.browser.revoke_all_applications()
    assert site.browser.authorized_applications() == []
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ReauthRequired):
        list(tokens.client_for_account(linked).iter_my_issues())
    assert SeeClickFixAccount.objects.get(pk=linked.pk).status == "reauth_required"


@pytest.mark.django_db
@pytest.mark.regime(TOKEN_LIFETIME="120")
def test_a_token_shorter_lived_than_the_refresh_margin_is_not_refreshed_on_every_call(
    linked, site, django_capture_on_commit_callbacks, eager_tasks
):
    for _ in range(3):
        assert use(linked, django_capture_on_commit_callbacks).id == site.user.id
    assert len(site.doorkeeper.token_rows(site.user)) == 1


@pytest.mark.django_db
def test_a_revocation_run_after_the_site_moved_to_another_server_sends_no_token_there(
    client, linked, site, doorkeeper_servers, django_capture_on_commit_callbacks
):
    """Disconnected against one SeeClickFix, revoked (the queued task) after the settings point
    at another: the tokens go only to the host that issued them, and the row says so."""
    disconnect(client, django_capture_on_commit_callbacks)  # the revocation is only queued
    (row,) = SeeClickFixRevocation.objects.all()
    other = Doorkeeper(doorkeeper_servers(NAME="other"))
    other_app = other.create_app(CALLBACK_URI)
    with override_settings(**site_settings(other, other_app, environment="doorkeeper-other")):
        assert revocation.revoke(row.pk) == "failed"
    assert other.requests_seen("POST", "/oauth/revoke") == 0
    row.refresh_from_db()
    assert site.doorkeeper.url in row.error
