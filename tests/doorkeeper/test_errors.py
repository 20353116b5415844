"""Doorkeeper's own error answers, as the library meets them: at the site's callback (nothing is
linked, the user gets a page) and as the typed errors of its OAuth client."""

from __future__ import annotations

import base64
import hashlib
import secrets
from io import StringIO
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from django_seeclickfix.client.oauth import OAuthClient
from django_seeclickfix.errorcodes import E_CANCELLED, E_CONFIGURATION, message_for
from django_seeclickfix.exceptions import OAuthError, ReauthRequired
from django_seeclickfix.models import SeeClickFixAccount

from .conftest import CALLBACK_URI, follow_back, site_settings, start
from .doorkeeper import DoorkeeperApp

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


def challenge_of(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def code_for(site, verifier: str, redirect_uri: str = CALLBACK_URI) -> str:
    """An authorization code Doorkeeper issued to the site's app, PKCE-bound to ``verifier``."""
    oauth = OAuthClient(site.doorkeeper.url, site.app.uid, site.app.secret)
    url = oauth.authorization_url(redirect_uri, "a-state", code_challenge=challenge_of(verifier))
    back = site.browser.authorize(url)
    return parse_qs(urlsplit(back).query)["code"][0]


@pytest.fixture
def ada_signed_in(client, django_user_model):
    ada = django_user_model.objects.create_user("ada", password="pw")
    client.force_login(ada)
    return ada


@pytest.mark.django_db
def test_deny_at_doorkeeper_links_nothing(client, ada_signed_in, site):
    back = site.browser.authorize(start(client), approve=False)
    assert parse_qs(urlsplit(back).query)["error"] == ["access_denied"]
    follow_back(client, back)
    assert not SeeClickFixAccount.objects.exists()
    assert site.doorkeeper.token_rows(site.user) == []


@pytest.mark.django_db
def test_deny_during_a_connect_shows_the_librarys_own_message(client, ada_signed_in, site):
    back = site.browser.authorize(start(client), approve=False)
    response = follow_back(client, back)
    while response.status_code == 302:
        response = client.get(response["Location"])
    assert str(message_for(E_CANCELLED)) in response.content.decode()


@pytest.mark.django_db
def test_a_wrong_client_secret_links_nothing(client, ada_signed_in, site, caplog):
    """Issue 16, #6: the operator reads the code and the setting at ERROR, the user a message
    that promises no retry."""
    wrong = DoorkeeperApp(site.app.id, site.app.uid, "not-the-secret")
    with override_settings(**site_settings(site.doorkeeper, wrong)), caplog.at_level("INFO"):
        response = follow_back(client, site.browser.authorize(start(client)))
    assert response.status_code == 400
    page = response.content.decode().replace("&#x27;", "'")
    assert str(message_for(E_CONFIGURATION)) in page
    assert "try again" not in page.lower()
    (logged,) = [r for r in caplog.records if r.levelname == "ERROR"]
    assert "invalid_client" in logged.getMessage()
    assert 'SOCIALACCOUNT_PROVIDERS["seeclickfix"]["APPS"]' in logged.getMessage()
    for record in caplog.records:
        assert "not-the-secret" not in record.getMessage()
        assert site.app.secret not in record.getMessage()
    assert not SeeClickFixAccount.objects.exists()
    assert site.doorkeeper.token_rows(site.user) == []


def run_check() -> str:
    out = StringIO()
    call_command("seeclickfix_check", "--oauth-app", stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.mark.django_db
def test_seeclickfix_check_tells_right_from_wrong_credentials(site):
    """What Doorkeeper 5.5 answers a code nobody issued: invalid_grant once the client passed,
    invalid_client (401) before; nothing is issued either way."""
    accepted = run_check()
    assert f"accepted the client id {site.app.uid} and its secret" in accepted
    assert site.app.secret not in accepted
    wrong = DoorkeeperApp(site.app.id, site.app.uid, "not-the-secret")
    with (
        override_settings(**site_settings(site.doorkeeper, wrong)),
        pytest.raises(CommandError) as caught,
    ):
        run_check()
    assert "wrong (invalid_client)" in str(caught.value)
    assert "not-the-secret" not in str(caught.value)
    assert site.doorkeeper.token_rows(site.user) == []


@pytest.mark.django_db
def test_seeclickfix_check_of_an_app_without_a_secret(site):
    """A non-confidential app proves its id alone (code flow with PKCE); a confidential one
    without its secret is refused; an implicit-flow app has nothing to check."""
    public = site.doorkeeper.create_app(CALLBACK_URI, confidential=False)
    id_only = DoorkeeperApp(public.id, public.uid, "")
    with override_settings(**site_settings(site.doorkeeper, id_only, FLOW="code")):
        assert "as a public client" in run_check()
    with override_settings(**site_settings(site.doorkeeper, id_only)):
        assert "does not apply" in run_check()  # FLOW "auto" without a secret: implicit
    confidential = DoorkeeperApp(site.app.id, site.app.uid, "")
    with (
        override_settings(**site_settings(site.doorkeeper, confidential, FLOW="code")),
        pytest.raises(CommandError, match="invalid_client"),
    ):
        run_check()


@pytest.mark.django_db
def test_a_wrong_client_secret_is_an_oauth_error_naming_invalid_client(site):
    verifier = secrets.token_urlsafe(48)
    code = code_for(site, verifier)
    oauth = OAuthClient(site.doorkeeper.url, site.app.uid, "not-the-secret")
    with pytest.raises(OAuthError) as caught:
        oauth.exchange_code(code, CALLBACK_URI, verifier)
    assert caught.value.error == "invalid_client"
    assert "not-the-secret" not in repr(caught.value) + str(caught.value)


@pytest.mark.django_db
def test_a_reused_code_is_refused_as_a_grant_to_redo(site):
    verifier = secrets.token_urlsafe(48)
    code = code_for(site, verifier)
    oauth = OAuthClient(site.doorkeeper.url, site.app.uid, site.app.secret)
    first = oauth.exchange_code(code, CALLBACK_URI, verifier)
    with pytest.raises(ReauthRequired):
        oauth.exchange_code(code, CALLBACK_URI, verifier)
    # Doorkeeper 5.5 does not revoke the family on a reused code: the first token still works.
    assert site.doorkeeper.profile_id(first.access_token) == site.user.id


@pytest.mark.django_db
def test_an_altered_pkce_verifier_is_refused(site):
    verifier = secrets.token_urlsafe(48)
    code = code_for(site, verifier)
    oauth = OAuthClient(site.doorkeeper.url, site.app.uid, site.app.secret)
    with pytest.raises(ReauthRequired):
        oauth.exchange_code(
            code, CALLBACK_URI, verifier[:-1] + ("A" if verifier[-1] != "A" else "B")
        )
    assert site.doorkeeper.token_rows(site.user) == []


@pytest.mark.django_db
def test_a_redirect_uri_changed_between_authorize_and_exchange_is_refused(site):
    verifier = secrets.token_urlsafe(48)
    code = code_for(site, verifier)
    oauth = OAuthClient(site.doorkeeper.url, site.app.uid, site.app.secret)
    with pytest.raises(ReauthRequired):
        oauth.exchange_code(code, "http://testserver/elsewhere/", verifier)
    assert site.doorkeeper.token_rows(site.user) == []


@pytest.mark.django_db
def test_a_site_url_doorkeeper_does_not_know_stops_at_doorkeepers_error_page(
    client, ada_signed_in, site
):
    """A redirect mismatch never comes back to the site: Doorkeeper answers its own HTML page
    with status 200 (not a redirect), and nothing is issued."""
    with override_settings(
        SEECLICKFIX={
            **site_settings(site.doorkeeper, site.app)["SEECLICKFIX"],
            "SITE_URL": "http://other.example",
        }
    ):
        page = site.browser.open(start(client))
    assert not isinstance(page, str), page
    assert page.status_code == 200
    assert "doesn&#39;t match client redirect uri" in page.text.lower()
    assert site.doorkeeper.token_rows(site.user) == []
