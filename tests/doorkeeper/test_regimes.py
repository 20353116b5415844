"""Doorkeeper's configuration choices SeeClickFix's are unknown for: reconnects with and without
``reuse_access_token``, PKCE columns absent, no default scopes, a confidential app the site knows
only by its id."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest
from django.test import override_settings
from django.urls import reverse

from django_seeclickfix import tokens
from django_seeclickfix.models import SeeClickFixAccount, SeeClickFixRevocation
from django_seeclickfix.signals import revocation_finished

from .conftest import CALLBACK_URI, Site, connect, follow_back, site_settings, start
from .doorkeeper import Browser, DoorkeeperApp

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

RELAY_URI = "http://testserver/accounts/seeclickfix/login/relay/"


@pytest.fixture
def ada(client, django_user_model):
    ada = django_user_model.objects.create_user("ada", password="pw")
    client.force_login(ada)
    return ada


def reconnect(client, site, django_capture_on_commit_callbacks):
    """Connect again while linked (the revocations the relink owes run at once)."""
    with django_capture_on_commit_callbacks(execute=True):
        assert connect(client, site).status_code == 302


@pytest.mark.django_db
def test_a_reconnect_leaves_the_previous_grant_dead(
    client, ada, site, django_capture_on_commit_callbacks, eager_tasks
):
    assert connect(client, site).status_code == 302
    before = SeeClickFixAccount.objects.get(user=ada)
    reconnect(client, site, django_capture_on_commit_callbacks)
    after = SeeClickFixAccount.objects.get(user=ada)
    assert after.access_token != before.access_token
    assert site.doorkeeper.profile_id(before.access_token) is None
    assert site.doorkeeper.refresh(site.app, before.refresh_token).status_code == 400
    assert tokens.client_for_account(after).get_profile().id == site.user.id


@pytest.mark.django_db
@pytest.mark.regime(REUSE_ACCESS_TOKEN="on")
def test_a_reconnect_handed_back_the_same_token_keeps_working(
    client, ada, site, django_capture_on_commit_callbacks, eager_tasks
):
    """With ``reuse_access_token`` Doorkeeper answers the reconnect with the token the link
    already holds: revoking "the previous grant" must not kill the live link."""
    assert connect(client, site).status_code == 302
    before = SeeClickFixAccount.objects.get(user=ada)
    reconnect(client, site, django_capture_on_commit_callbacks)
    after = SeeClickFixAccount.objects.get(user=ada)
    assert after.access_token == before.access_token  # Doorkeeper's reuse
    assert after.status == "active"
    assert site.doorkeeper.profile_id(after.access_token) == site.user.id
    assert tokens.client_for_account(after).get_profile().id == site.user.id


@pytest.mark.django_db
@pytest.mark.regime(PKCE="off")
def test_a_doorkeeper_without_pkce_columns_still_links(client, ada, site):
    authorize_url = start(client)
    assert "code_challenge=" in authorize_url  # sent anyway; Doorkeeper ignores it
    assert follow_back(client, site.browser.authorize(authorize_url)).status_code == 302
    account = SeeClickFixAccount.objects.get(user=ada)
    assert site.doorkeeper.profile_id(account.access_token) == site.user.id


@pytest.mark.django_db
@pytest.mark.regime(DEFAULT_SCOPES="off")
def test_without_default_scopes_doorkeeper_stops_on_its_error_page(client, ada, site):
    page = site.browser.open(start(client))
    assert not isinstance(page, str)
    assert "Missing required parameter: scope." in page.text
    assert not SeeClickFixAccount.objects.exists()


@pytest.mark.django_db
@pytest.mark.regime(DEFAULT_SCOPES="off")
def test_without_default_scopes_the_scope_setting_links(client, ada, site, settings):
    """allauth's provider SCOPE setting is what a site behind such a server sets (defect 7)."""
    providers = settings.SOCIALACCOUNT_PROVIDERS
    settings.SOCIALACCOUNT_PROVIDERS = {
        **providers,
        "seeclickfix": {**providers["seeclickfix"], "SCOPE": ["public"]},
    }
    assert connect(client, site).status_code == 302
    assert SeeClickFixAccount.objects.get(user=ada).user_scf_id == site.user.id


@pytest.fixture
def id_only(doorkeeper, ada):
    """A confidential app (Doorkeeper's default) whose site has only the client id: it links
    through the implicit flow, and Doorkeeper's /oauth/revoke refuses its tokens (403)."""
    app = doorkeeper.create_app(f"{CALLBACK_URI}\n{RELAY_URI}", confidential=True)
    user = doorkeeper.create_user()
    with override_settings(**site_settings(doorkeeper, DoorkeeperApp(app.id, app.uid, ""))):
        yield Site(doorkeeper, app, user, Browser(doorkeeper, user))


def relay(client, location):
    """What the relay page's script does: the fragment's fields, posted to the relay."""
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == RELAY_URI, location
    return client.post(reverse("seeclickfix_relay"), dict(parse_qsl(parts.fragment)))


@pytest.mark.django_db
def test_an_id_only_confidential_app_links_through_the_implicit_flow(client, ada, id_only):
    authorize_url = start(client)
    assert "response_type=token" in authorize_url
    assert relay(client, id_only.browser.authorize(authorize_url)).status_code == 302
    account = SeeClickFixAccount.objects.get(user=ada)
    assert id_only.doorkeeper.profile_id(account.access_token) == id_only.user.id


@pytest.mark.django_db
def test_a_disconnect_doorkeeper_refused_to_revoke_is_not_shown_as_clean(
    client, ada, id_only, django_capture_on_commit_callbacks, eager_tasks
):
    assert relay(client, id_only.browser.authorize(start(client))).status_code == 302
    finished: list[tuple[int, str]] = []

    def on_finished(sender, revocation, status, **kwargs):
        finished.append((revocation.pk, status))

    revocation_finished.connect(on_finished)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            client.post(reverse("seeclickfix:disconnect"))
    finally:
        revocation_finished.disconnect(on_finished)
    still_usable = id_only.doorkeeper.profile_id(
        id_only.doorkeeper.token_rows(id_only.user)[0]["token"]
    )
    assert still_usable == id_only.user.id  # what Doorkeeper did: nothing
    # The site does not call this a clean disconnect (defect 3): the row, the signal and the
    # user's status page say what happened and what to do.
    revocation = SeeClickFixRevocation.objects.get(account__user=ada)
    assert revocation.status == "failed"
    assert "unauthorized_client" in revocation.error
    assert "authorized applications" in revocation.error
    assert [status for _, status in finished] == ["failed"]
    page = client.get(reverse("seeclickfix:status")).content.decode()
    assert "did not confirm that it revoked" in page
